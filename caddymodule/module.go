// Package caddymodule is the Caddy glue of gemini_balance: it registers the
// http.handlers.gemini_balance handler and its Caddyfile directive, keeps
// each pool alive across config reloads, and hands requests to internal/httpapi.
package caddymodule

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/httpapi"
	"github.com/gemini-balance/gemini_balance/internal/keylist"
	"github.com/gemini-balance/gemini_balance/internal/secret"
	"github.com/gemini-balance/gemini_balance/internal/upstream"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// DefaultPool is the pool name when none is given.
const DefaultPool = "default"

// Handler turns a pool of Gemini API keys into one endpoint.
type Handler struct {
	// Pool names the key pool. Blocks with the same name share one pool.
	Pool string `json:"pool,omitempty"`
	// APIKeys are Gemini API keys; an entry may also be "k1,k2" or a JSON list.
	APIKeys []string `json:"api_keys,omitempty"`
	// APIKeysFile is a file with one key per line (# comments allowed).
	APIKeysFile string `json:"api_keys_file,omitempty"`
	// AllowedTokens are the client tokens accepted on the API routes.
	AllowedTokens []string `json:"allowed_tokens,omitempty"`
	// AuthToken is the console and admin token; it is never a client token.
	AuthToken string `json:"auth_token,omitempty"`
	// Database is the SQLite file. Default: Caddy's data dir /gemini_balance/<pool>.db.
	Database string `json:"database,omitempty"`
	// BaseURL is the upstream, default https://generativelanguage.googleapis.com/v1beta.
	BaseURL string `json:"base_url,omitempty"`
	// MaxFailures is how many consecutive failures make a key invalid (default 3).
	MaxFailures *int `json:"max_failures,omitempty"`
	// MaxRetries is how many other keys a request may try after the first (default 3).
	MaxRetries *int `json:"max_retries,omitempty"`
	// Timeout limits each upstream attempt (default 300s).
	Timeout *caddy.Duration `json:"timeout,omitempty"`
	// Referer is sent upstream, for keys restricted to HTTP referrers.
	Referer string `json:"referer,omitempty"`
	// Proxies are http, https or socks5 proxy URLs; each key is pinned to one.
	Proxies []string `json:"proxies,omitempty"`
	// Headers are extra headers on every upstream request.
	Headers http.Header `json:"headers,omitempty"`
	// TestModel is the model used to check keys (default gemini-2.5-flash-lite).
	TestModel string `json:"test_model,omitempty"`
	// CheckInterval is how often invalid keys are re-checked; 0 disables (default 1h).
	CheckInterval *caddy.Duration `json:"check_interval,omitempty"`
	// Console is the web console's path prefix, or "off" (default /admin).
	Console string `json:"console,omitempty"`
	// MaxBodyBytes bounds a client request body (default 64 MiB).
	MaxBodyBytes int64 `json:"max_body_bytes,omitempty"`

	api    *httpapi.Handler
	logger *zap.Logger
	keyed  string // the UsagePool key this instance holds
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
	if !poolNamePattern.MatchString(h.Pool) {
		return fmt.Errorf("pool name %q: use letters, digits, '.', '_' or '-' (at most 64)", h.Pool)
	}
	if err := h.checkValues(); err != nil {
		return err
	}
	keys, err := h.loadKeys()
	if err != nil {
		return err
	}
	cfg := balancer.Config{
		Name:         h.Pool,
		DatabasePath: h.databasePath(),
		Keys:         keys,
		Upstream: upstream.Options{
			BaseURL: h.BaseURL, Referer: h.Referer, Headers: h.Headers, Proxies: h.Proxies,
			Timeout: balancer.DefaultTimeout,
		},
		Settings: balancer.DefaultSettings(),
	}
	if h.Timeout != nil {
		cfg.Upstream.Timeout = time.Duration(*h.Timeout)
	}
	if h.MaxFailures != nil {
		cfg.Settings.MaxFailures = *h.MaxFailures
	}
	if h.MaxRetries != nil {
		cfg.Settings.MaxRetries = *h.MaxRetries
	}
	if h.TestModel != "" {
		cfg.Settings.TestModel = h.TestModel
	}
	if h.CheckInterval != nil {
		cfg.Settings.CheckInterval = time.Duration(*h.CheckInterval)
	}
	b, err := acquirePool(cfg, h.logger)
	if err != nil {
		return err
	}
	h.keyed = h.Pool
	h.api = &httpapi.Handler{Balancer: b, Tokens: secret.NewTokenSet(h.AllowedTokens), MaxBodyBytes: h.MaxBodyBytes, Logger: h.logger}
	return nil
}

func (h *Handler) databasePath() string {
	if h.Database != "" {
		return h.Database
	}
	return filepath.Join(caddy.AppDataDir(), "gemini_balance", h.Pool+".db")
}

func (h *Handler) loadKeys() ([]string, error) {
	var keys []string
	for _, v := range h.APIKeys {
		k, err := keylist.Parse(v)
		if err != nil {
			return nil, fmt.Errorf("api_keys: %v", err)
		}
		keys = append(keys, k...)
	}
	if h.APIKeysFile != "" {
		f, err := os.Open(h.APIKeysFile)
		if err != nil {
			return nil, fmt.Errorf("api_keys_file: %v", err)
		}
		defer f.Close()
		k, err := keylist.ParseFile(f)
		if err != nil {
			return nil, fmt.Errorf("api_keys_file %s: %v", h.APIKeysFile, err)
		}
		keys = append(keys, k...)
	}
	return keylist.Dedupe(keys), nil
}

// checkValues rejects values no pool can run with. It runs in Provision,
// before the pool is touched, so a bad reload leaves the running pool as it is.
func (h *Handler) checkValues() error {
	if h.MaxFailures != nil && *h.MaxFailures < 1 {
		return fmt.Errorf("max_failures must be at least 1, got %d", *h.MaxFailures)
	}
	if h.MaxRetries != nil && *h.MaxRetries < 0 {
		return fmt.Errorf("max_retries must not be negative, got %d", *h.MaxRetries)
	}
	if h.MaxRetries != nil && *h.MaxRetries > 7 {
		return fmt.Errorf("max_retries must be at most 7, got %d", *h.MaxRetries)
	}
	if h.Timeout != nil && *h.Timeout < 0 {
		return fmt.Errorf("timeout must not be negative")
	}
	if h.CheckInterval != nil && *h.CheckInterval < 0 {
		return fmt.Errorf("check_interval must not be negative")
	}
	if h.BaseURL != "" {
		if _, err := upstream.ParseBaseURL(h.BaseURL); err != nil {
			return err
		}
	}
	for _, p := range h.Proxies {
		if _, err := upstream.ParseProxyURL(p); err != nil {
			return err
		}
	}
	if h.AuthToken != "" {
		for _, t := range h.AllowedTokens {
			if t == h.AuthToken {
				return fmt.Errorf("auth_token must differ from every allowed token: a client token is never an admin token")
			}
		}
	}
	if h.Console != "" && h.Console != "off" && (h.Console[0] != '/' || len(h.Console) < 2) {
		return fmt.Errorf("console must be a path such as /admin, or off; got %q", h.Console)
	}
	return nil
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
