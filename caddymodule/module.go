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
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/gemini-balance/gemini_balance/internal/adminapi"
	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/console"
	"github.com/gemini-balance/gemini_balance/internal/httpapi"
	"github.com/gemini-balance/gemini_balance/internal/keylist"
	"github.com/gemini-balance/gemini_balance/internal/metrics"
	"github.com/gemini-balance/gemini_balance/internal/provider"
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
	// Provider is the kind of upstream the keys are for: gemini (default),
	// vertex_express or openai (any OpenAI-compatible API).
	Provider string `json:"provider,omitempty"`
	// Fallback names the pools a request goes to, in order, when this pool
	// cannot serve it (no usable key; attempts ended in 429, 5xx, timeouts
	// or connection errors). Pools are declared in the global options or
	// in sites of the same configuration.
	Fallback []string `json:"fallback,omitempty"`
	// APIKeys are the pool's API keys; an entry may also be "k1,k2" or a JSON list.
	APIKeys []string `json:"api_keys,omitempty"`
	// APIKeysFile is a file with one key per line (# comments allowed).
	APIKeysFile string `json:"api_keys_file,omitempty"`
	// Database is the SQLite file. Default: Caddy's data dir /gemini_balance/<pool>.db.
	Database string `json:"database,omitempty"`
	// Console is the web console's path prefix, or "off" (default /admin).
	Console string `json:"console,omitempty"`
	// ImageStore is the directory generated images are kept in, or "off"
	// (answers then inline them as data: URLs). Default: Caddy's data dir
	// /gemini_balance/<pool>/images.
	ImageStore string `json:"image_store,omitempty"`
	// ImagePath is where a site serves its pool's images (default /gb-images/).
	ImagePath string `json:"image_path,omitempty"`
	// MaxBodyBytes bounds a client request body (default 64 MiB).
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`
	// MaxUploadBytes bounds one Files API upload leg, streamed (default 2 GiB).
	MaxUploadBytes int64 `json:"max_upload_bytes,omitempty"`

	// Options are the run-time options this configuration sets, by schema
	// name (settings.Schema), in their JSON config form.
	Options map[string]json.RawMessage `json:"-"`

	api     *httpapi.Handler
	metrics *metrics.Pool
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
// running one and applies the new configuration to it. A block naming a pool
// of the global options serves that pool.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if h.Pool == "" {
		h.Pool = DefaultPool
	}
	if h.Console == "" {
		h.Console = DefaultConsole
	}
	if h.Console != "off" && (h.Console[0] != '/' || len(h.Console) < 2) {
		return fmt.Errorf("console must be a path such as /admin, or off; got %q", h.Console)
	}
	if h.ImagePath == "" {
		h.ImagePath = httpapi.DefaultImagePath
	}
	if err := checkImagePath(h.ImagePath, h.Console); err != nil {
		return err
	}
	app, err := appOf(ctx)
	if err != nil {
		return err
	}
	var b *balancer.Balancer
	if app != nil {
		b = app.declaredPool(h.Pool)
	}
	switch {
	case b != nil && h.declaresPool():
		return fmt.Errorf("pool %q is declared in the global options; a site's gemini_balance %s block may set only console, image_path, max_body_size and max_upload_size", h.Pool, h.Pool)
	case b == nil:
		cfg, err := h.balancerConfig()
		if err != nil {
			return err
		}
		if b, err = acquirePool(cfg, h.logger); err != nil {
			return err
		}
		h.keyed = h.Pool
		if app != nil {
			app.adopt(b)
		}
	}
	if err := metrics.Register(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	h.metrics = metrics.ForPool(b.Name())
	h.api = &httpapi.Handler{Balancer: b, MaxBodyBytes: h.MaxBodyBytes, MaxUploadBytes: h.MaxUploadBytes, Logger: h.logger,
		Observe: observe, ImagePath: h.ImagePath}
	if h.Console != "off" {
		// The console manages its pool and the pools it falls back to.
		own := adminapi.New(func(*http.Request) []*balancer.Balancer { return b.Chain() })
		h.console = console.New(h.Console, b, own, h.logger)
		// The images page shows thumbnails from where this site serves them.
		h.console.SetImagePath(h.ImagePath)
	}
	return nil
}

// declaresPool reports whether the block configures a pool (rather than
// only naming one).
func (h *Handler) declaresPool() bool {
	return len(h.APIKeys) > 0 || h.APIKeysFile != "" || h.Database != "" || h.Provider != "" || len(h.Fallback) > 0 ||
		len(h.Options) > 0 || h.ImageStore != ""
}

// checkImagePath refuses an image path that is not "/…/" or that would
// shadow the API routes or the console.
func checkImagePath(p, console string) error {
	if len(p) < 3 || p[0] != '/' || p[len(p)-1] != '/' || strings.Contains(p, "..") || strings.ContainsAny(p, "?#%\\ ") {
		return fmt.Errorf("image_path must be a path that starts and ends with /, such as /gb-images/; got %q", p)
	}
	for _, taken := range []string{"/v1/", "/v1beta/", "/gemini/", "/hf/", "/openai/", "/upload/", "/health/"} {
		if strings.HasPrefix(p, taken) || strings.HasPrefix(taken, p) {
			return fmt.Errorf("image_path %q would shadow the API routes under %s", p, taken)
		}
	}
	if console != "off" && (strings.HasPrefix(p, strings.TrimSuffix(console, "/")+"/") || strings.HasPrefix(console+"/", p)) {
		return fmt.Errorf("image_path %q and the console %q overlap", p, console)
	}
	return nil
}

// imageDir is the image store's directory, "" when it is off.
func (h *Handler) imageDir() string {
	switch h.ImageStore {
	case "off":
		return ""
	case "":
		return filepath.Join(caddy.AppDataDir(), "gemini_balance", h.Pool, "images")
	}
	return h.ImageStore
}

// balancerConfig checks the pool's fields and reads its keys. The schema
// validates every option, as it does for the admin API, before the pool is
// touched: a bad reload leaves the running pool as it is.
func (h *Handler) balancerConfig() (balancer.Config, error) {
	if !poolNamePattern.MatchString(h.Pool) {
		return balancer.Config{}, fmt.Errorf("pool name %q: use letters, digits, '.', '_' or '-' (at most 64)", h.Pool)
	}
	kind, err := provider.Parse(h.Provider)
	if err != nil {
		return balancer.Config{}, err
	}
	for _, fb := range h.Fallback {
		if !poolNamePattern.MatchString(fb) {
			return balancer.Config{}, fmt.Errorf("fallback %q is not a pool name", fb)
		}
	}
	keys, err := keylist.Load(h.APIKeys, h.APIKeysFile)
	if err != nil {
		return balancer.Config{}, err
	}
	set, err := settings.ApplyConfig(settings.DefaultsFor(kind), h.Options)
	if err != nil {
		return balancer.Config{}, fmt.Errorf("gemini_balance: %v", err)
	}
	locked := map[string]bool{} // what the configuration sets, the admin API may not change
	for name := range h.Options {
		locked[name] = true
	}
	return balancer.Config{Name: h.Pool, DatabasePath: h.databasePath(), Keys: keys, Settings: set, Locked: locked,
		Provider: kind, Fallback: h.Fallback, ImageDir: h.imageDir()}, nil
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
	sw := statusWriters.Get().(*statusWriter)
	*sw = statusWriter{ResponseWriter: w, r: r}
	defer func() {
		*sw = statusWriter{}
		statusWriters.Put(sw)
	}()
	var route string
	switch {
	case h.console != nil && h.console.Serve(sw, r):
		route = metrics.RouteAdmin
	case h.api.Serve(sw, r):
		route = h.api.RouteOf(r)
	default:
		return next.ServeHTTP(w, r)
	}
	sw.logServed()
	servedBy, _ := caddyhttp.GetVar(r.Context(), varServedBy).(string)
	h.metrics.Request(route, sw.status(), servedBy)
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
