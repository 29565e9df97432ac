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
	// SafetySettings are sent when a client sends none; an empty list sends none.
	SafetySettings *[]balancer.SafetySetting `json:"safety_settings,omitempty"`
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
	h.applyModelSettings(&cfg.Settings.Models)
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

// applyModelSettings lays the options written in the configuration over the defaults.
func (h *Handler) applyModelSettings(m *balancer.ModelSettings) {
	setList := func(dst *[]string, src *[]string) {
		if src != nil {
			*dst = *src
		}
	}
	setList(&m.SearchModels, h.SearchModels)
	setList(&m.ImageModels, h.ImageModels)
	setList(&m.ThinkingModels, h.ThinkingModels)
	setList(&m.FilteredModels, h.FilteredModels)
	if h.ThinkingBudgets != nil {
		m.ThinkingBudgets = h.ThinkingBudgets
	}
	if h.SafetySettings != nil {
		m.SafetySettings = *h.SafetySettings
	}
	for _, b := range []struct {
		dst *bool
		src *bool
	}{
		{&m.CodeExecution, h.CodeExecution}, {&m.URLContext, h.URLContext}, {&m.ShowSearchLink, h.ShowSearchLink},
		{&m.ShowThinking, h.ShowThinking}, {&m.FakeStream, h.FakeStream}, {&m.RetryEmpty, h.RetryEmpty},
	} {
		if b.src != nil {
			*b.dst = *b.src
		}
	}
	if h.FakeStreamInterval != nil {
		m.FakeStreamInterval = time.Duration(*h.FakeStreamInterval)
	}
	for _, s := range []struct {
		dst *string
		src string
	}{{&m.PaidKey, h.PaidKey}, {&m.ImageModel, h.ImageModel}, {&m.TTSModel, h.TTSModel}, {&m.TTSVoice, h.TTSVoice}} {
		if s.src != "" {
			*s.dst = s.src
		}
	}
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
