// Package caddymodule is the Caddy glue of gemini_balance: it registers the
// http.handlers.gemini_balance handler and its Caddyfile directive, keeps
// each pool alive across config reloads, and hands requests to internal/httpapi.
package caddymodule

import (
	"encoding/json"
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

// DefaultPool is the pool name when none is given.
const DefaultPool = "default"

// DefaultConsole is the web console's path prefix when none is given.
const DefaultConsole = "/admin"

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
	// MaxUploadBytes bounds one Files API upload leg, streamed (default 2 GiB).
	MaxUploadBytes int64 `json:"max_upload_bytes,omitempty"`

	// SearchModels get a "<model>-search" alias that adds Google Search.
	SearchModels *[]string `json:"search_models,omitempty"`
	// ImageModels get a "<model>-image" alias with text and image output.
	ImageModels *[]string `json:"image_models,omitempty"`
	// ThinkingModels get a "<model>-non-thinking" alias with thinking off.
	ThinkingModels *[]string `json:"thinking_models,omitempty"`
	// ThinkingBudgets are default thinking budgets per model.
	ThinkingBudgets map[string]int `json:"thinking_budgets,omitempty"`
	// FilteredModels are hidden from model lists and refused.
	FilteredModels *[]string `json:"filtered_models,omitempty"`
	// URLContextModels accept the urlContext tool that url_context adds.
	URLContextModels *[]string `json:"url_context_models,omitempty"`
	// SafetySettings are sent when a client sends none; an empty list sends none.
	SafetySettings *[]settings.SafetySetting `json:"safety_settings,omitempty"`
	// CodeExecution adds the codeExecution tool.
	CodeExecution *bool `json:"code_execution,omitempty"`
	// URLContext adds the urlContext tool.
	URLContext *bool `json:"url_context,omitempty"`
	// ShowSearchLink appends grounding sources to translated answers.
	ShowSearchLink *bool `json:"show_search_link,omitempty"`
	// ShowThinking returns thoughts as reasoning_content.
	ShowThinking *bool `json:"show_thinking,omitempty"`
	// FakeStream answers OpenAI streams from one non-streamed upstream call.
	FakeStream *bool `json:"fake_stream,omitempty"`
	// FakeStreamInterval is the keep-alive interval of a fake stream.
	FakeStreamInterval *caddy.Duration `json:"fake_stream_interval,omitempty"`
	// RetryEmpty retries an empty answer on another key.
	RetryEmpty *bool `json:"retry_empty,omitempty"`
	// PaidKey is used for Imagen instead of the pool.
	PaidKey string `json:"paid_key,omitempty"`
	// ImageModel is the Imagen model of /v1/images/generations.
	ImageModel string `json:"image_model,omitempty"`
	// TTSModel is the model of /v1/audio/speech.
	TTSModel string `json:"tts_model,omitempty"`
	// TTSVoice is the default Gemini voice of /v1/audio/speech.
	TTSVoice string `json:"tts_voice,omitempty"`
	// LogLevel is the detail of the module's own log lines: debug, info, warn, error.
	LogLevel string `json:"log_level,omitempty"`
	// ErrorLogDays is how long error logs are kept (default 7; 0 keeps them).
	ErrorLogDays *int `json:"error_log_days,omitempty"`
	// RequestLogDays is how long request logs are kept (default 30; 0 keeps them).
	RequestLogDays *int `json:"request_log_days,omitempty"`
	// RecordRequestBody stores the request body with error logs.
	RecordRequestBody *bool `json:"record_request_body,omitempty"`

	api     *httpapi.Handler
	console *console.Console
	logger  *zap.Logger
	keyed   string // the UsagePool key this instance holds
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
	values := h.settingValues()
	set, err := settings.Apply(settings.Defaults(), values)
	if err != nil {
		return fmt.Errorf("gemini_balance: %v", err)
	}
	locked := make(map[string]bool, len(values))
	for name := range values {
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
		prefix := h.Console
		if prefix == "" {
			prefix = DefaultConsole
		}
		own := adminapi.New(func(*http.Request) []*balancer.Balancer { return []*balancer.Balancer{b} })
		h.console = console.New(prefix, b, own, h.logger)
	}
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
// The settings schema checks the rest (settings.Apply in Provision, also
// before the pool is touched): base_url and proxies, with their credentials
// masked in the message, and the inter-option rules such as auth_token
// differing from every allowed token, which every source of settings obeys.
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
	if h.FakeStreamInterval != nil && *h.FakeStreamInterval <= 0 {
		return fmt.Errorf("fake_stream_interval must be positive")
	}
	for model, n := range h.ThinkingBudgets {
		if n < -1 || n > 32768 {
			return fmt.Errorf("thinking_budget %s: %d is outside -1 (dynamic) to 32768", model, n)
		}
	}
	if h.Console != "" && h.Console != "off" && (h.Console[0] != '/' || len(h.Console) < 2) {
		return fmt.Errorf("console must be a path such as /admin, or off; got %q", h.Console)
	}
	return nil
}

// settingValues are the settings this configuration writes, by option
// name, as JSON; the settings schema validates them like any other change.
func (h *Handler) settingValues() map[string]json.RawMessage {
	v := map[string]json.RawMessage{}
	put := func(name string, val any) {
		b, _ := json.Marshal(val)
		v[name] = b
	}
	ints := map[string]*int{"max_failures": h.MaxFailures, "max_retries": h.MaxRetries,
		"error_log_days": h.ErrorLogDays, "request_log_days": h.RequestLogDays}
	durations := map[string]*caddy.Duration{"timeout": h.Timeout, "check_interval": h.CheckInterval, "fake_stream_interval": h.FakeStreamInterval}
	strs := map[string]string{"base_url": h.BaseURL, "referer": h.Referer, "test_model": h.TestModel, "auth_token": h.AuthToken,
		"paid_key": h.PaidKey, "image_model": h.ImageModel, "tts_model": h.TTSModel, "tts_voice": h.TTSVoice, "log_level": h.LogLevel}
	lists := map[string]*[]string{"search_models": h.SearchModels, "image_models": h.ImageModels,
		"thinking_models": h.ThinkingModels, "filtered_models": h.FilteredModels, "url_context_models": h.URLContextModels}
	bools := map[string]*bool{"code_execution": h.CodeExecution, "url_context": h.URLContext, "show_search_link": h.ShowSearchLink,
		"show_thinking": h.ShowThinking, "fake_stream": h.FakeStream, "retry_empty": h.RetryEmpty, "record_request_body": h.RecordRequestBody}
	for name, p := range ints {
		if p != nil {
			put(name, *p)
		}
	}
	for name, p := range durations {
		if p != nil {
			put(name, time.Duration(*p).String())
		}
	}
	for name, val := range strs {
		if val != "" {
			put(name, val)
		}
	}
	for name, p := range lists {
		if p != nil {
			put(name, *p)
		}
	}
	for name, p := range bools {
		if p != nil {
			put(name, *p)
		}
	}
	if h.Proxies != nil {
		put("proxies", h.Proxies)
	}
	if h.AllowedTokens != nil {
		put("allowed_tokens", h.AllowedTokens)
	}
	if h.Headers != nil {
		m := map[string]string{}
		for name := range h.Headers {
			m[name] = h.Headers.Get(name)
		}
		put("headers", m)
	}
	if h.ThinkingBudgets != nil {
		put("thinking_budgets", h.ThinkingBudgets)
	}
	if h.SafetySettings != nil {
		put("safety_settings", *h.SafetySettings)
	}
	return v
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
