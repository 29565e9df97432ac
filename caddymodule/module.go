// Package caddymodule is the Caddy glue of gemini_balance: it registers the
// http.handlers.gemini_balance handler and its Caddyfile directive, keeps
// each pool alive across config reloads, and hands requests to internal/httpapi.
package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/gemini-balance/gemini_balance/internal/adminapi"
	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/console"
	"github.com/gemini-balance/gemini_balance/internal/httpapi"
	"github.com/gemini-balance/gemini_balance/internal/keylist"
	"github.com/gemini-balance/gemini_balance/internal/settings"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// The pool name and the console's path prefix when none is given.
const (
	DefaultPool    = "default"
	DefaultConsole = "/admin"
)

// Handler turns a pool of Gemini API keys into one endpoint. Its JSON is
// flat: the structural fields below beside the run-time options of the
// settings schema, each under its schema name ({"pool":"team",
// "timeout":"2m","headers":{...}}), in the option's configuration form
// (internal/settings/config.go).
type Handler struct {
	// Pool names the key pool. Blocks with the same name share one pool.
	Pool string `json:"pool,omitempty"`
	// APIKeys are Gemini API keys; an entry may also be "k1,k2" or a JSON list.
	APIKeys []string `json:"api_keys,omitempty"`
	// APIKeysFile is a file with one key per line (# comments allowed).
	APIKeysFile string `json:"api_keys_file,omitempty"`
	// Database is the SQLite file. Default: Caddy's data dir /gemini_balance/<pool>.db.
	Database string `json:"database,omitempty"`
	// Console is the web console's path prefix, or "off" (default /admin).
	Console string `json:"console,omitempty"`
	// MaxBodyBytes bounds a client request body (default 64 MiB).
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// MaxUploadBytes bounds one Files API upload leg, streamed (default 2 GiB).
	MaxUploadBytes int64 `json:"max_upload_bytes,omitempty"`

	// Options are the run-time options this configuration sets, by schema
	// name (settings.Schema), in their JSON config form.
	Options map[string]json.RawMessage `json:"-"`

	api     *httpapi.Handler
	console *console.Console
	logger  *zap.Logger
	keyed   string // the UsagePool key this instance holds
}

// MarshalJSON writes the structural fields and the options side by side.
func (h Handler) MarshalJSON() ([]byte, error) {
	type plain Handler
	b, err := json.Marshal(plain(h))
	if err != nil {
		return nil, err
	}
	return settings.JoinFlat(b, h.Options)
}

// UnmarshalJSON reads the structural fields and, into Options, every key
// that names a schema option; any other key is refused.
func (h *Handler) UnmarshalJSON(b []byte) error {
	type plain Handler
	var p plain
	opts, err := settings.DecodeFlat(b, &p)
	if err != nil {
		return fmt.Errorf("gemini_balance: %v", err)
	}
	*h = Handler(p)
	h.Options = opts
	return nil
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.gemini_balance",
		New: func() caddy.Module { return new(Handler) },
	}
}

var poolNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)

// Provision reads the keys, then opens the pool or, on a reload, reuses the
// running one and applies the new configuration to it.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.Pool == "" {
		h.Pool = DefaultPool
	}
	if h.Console == "" {
		h.Console = DefaultConsole
	}
	if !poolNamePattern.MatchString(h.Pool) {
		return fmt.Errorf("pool name %q: use letters, digits, '.', '_' or '-' (at most 64)", h.Pool)
	}
	if h.Console != "off" && (h.Console[0] != '/' || len(h.Console) < 2) {
		return fmt.Errorf("console must be a path such as /admin, or off; got %q", h.Console)
	}
	keys, err := keylist.Load(h.APIKeys, h.APIKeysFile)
	if err != nil {
		return err
	}
	// The schema validates every option, as it does for the admin API, before
	// the pool is touched: a bad reload leaves the running pool as it is.
	set, err := settings.ApplyConfig(settings.Defaults(), h.Options)
	if err != nil {
		return fmt.Errorf("gemini_balance: %v", err)
	}
	locked := map[string]bool{} // what the configuration sets, the admin API may not change
	for name := range h.Options {
		locked[name] = true
	}
	cfg := balancer.Config{Name: h.Pool, DatabasePath: h.databasePath(), Keys: keys, Settings: set, Locked: locked}
	b, err := acquirePool(cfg, h.logger)
	if err != nil {
		return err
	}
	h.keyed = h.Pool
	h.api = &httpapi.Handler{Balancer: b, MaxBodyBytes: h.MaxBodyBytes, MaxUploadBytes: h.MaxUploadBytes, Logger: h.logger}
	if h.Console != "off" {
		own := adminapi.New(func(*http.Request) []*balancer.Balancer { return []*balancer.Balancer{b} })
		h.console = console.New(h.Console, b, own, h.logger)
	}
	return nil
}

func (h *Handler) databasePath() string {
	if h.Database != "" {
		return h.Database
	}
	return filepath.Join(caddy.AppDataDir(), "gemini_balance", h.Pool+".db")
}

// Validate checks the provisioned handler.
func (h *Handler) Validate() error {
	if h.api == nil {
		return fmt.Errorf("gemini_balance: not provisioned")
	}
	return nil
}

// Cleanup releases this instance's hold on its pool; the pool closes when no
// configuration uses it any more.
func (h *Handler) Cleanup() error {
	if h.keyed == "" {
		return nil
	}
	_, err := pools.Delete(h.keyed)
	h.keyed = ""
	return err
}

// ServeHTTP answers the module's routes and passes every other path on.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if h.console != nil && h.console.Serve(w, r) {
		return nil
	}
	if h.api.Serve(w, r) {
		return nil
	}
	return next.ServeHTTP(w, r)
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
