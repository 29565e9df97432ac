// Package settings is the one schema of a pool's run-time options: name,
// type, default, validation and help text. The Caddyfile, the admin API and
// the console all read and write options through it.
package settings

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/pathguard"
	"github.com/gemini-balance/gemini_balance/internal/provider"
	"github.com/gemini-balance/gemini_balance/internal/upstream"
)

// Settings are a pool's options that may change while it runs.
type Settings struct {
	MaxFailures   int
	MaxRetries    int
	TestModel     string
	CheckInterval time.Duration

	BaseURL string
	Timeout time.Duration
	Referer string
	Proxies []string
	Headers map[string]string
	// ModelMap renames models for this pool's upstream: a request for a
	// key goes up as its value (model_map gemini-2.5-flash deepseek-chat).
	ModelMap map[string]string

	AllowedTokens []string
	AuthToken     string

	Models ModelSettings

	LogLevel          string
	ErrorLogDays      int
	RequestLogDays    int
	ErrorLogMaxRows   int
	RequestLogMaxRows int
	RecordRequestBody bool

	// The image store's limits (the store itself is the image_store
	// directory, set in the configuration).
	ImageRetention    time.Duration
	ImageStoreMaxSize int
}

// ModelSettings shape what is asked of each model.
type ModelSettings struct {
	SearchModels       []string
	ImageModels        []string
	ThinkingModels     []string
	ThinkingBudgets    map[string]int
	FilteredModels     []string
	SafetySettings     []SafetySetting
	CodeExecution      bool
	URLContext         bool
	URLContextModels   []string
	ShowSearchLink     bool
	ShowThinking       bool
	FakeStream         bool
	FakeStreamInterval time.Duration
	RetryEmpty         bool
	PaidKey            string
	ImageModel         string
	TTSModel           string
	TTSVoice           string
	// ClaudeModels maps Claude model names to Gemini models by prefix for
	// the Anthropic route (internal/anthropic.MapModel), before the
	// defaults.
	ClaudeModels map[string]string
}

// SafetySetting is one Gemini safety threshold.
type SafetySetting struct {
	Category  string `json:"category"`
	Threshold string `json:"threshold"`
}

// UpstreamOptions are the settings the upstream client is built from.
func (s *Settings) UpstreamOptions() upstream.Options {
	h := http.Header{}
	for k, v := range s.Headers {
		h.Set(k, v)
	}
	return upstream.Options{BaseURL: s.BaseURL, Referer: s.Referer, Headers: h, Timeout: s.Timeout, Proxies: s.Proxies}
}

// Defaults are gemini-balance's defaults where it has one, so its users
// find the same behaviour.
func Defaults() Settings {
	return Settings{
		MaxFailures: 3, MaxRetries: 3, TestModel: "gemini-2.5-flash-lite", CheckInterval: time.Hour,
		BaseURL: upstream.DefaultBaseURL, Timeout: 300 * time.Second,
		Models: ModelSettings{
			SearchModels:   []string{"gemini-2.5-flash", "gemini-2.5-pro"},
			ImageModels:    []string{"gemini-2.0-flash-exp", "gemini-2.5-flash-image-preview"},
			FilteredModels: []string{"gemini-1.0-pro-vision-latest", "gemini-pro-vision", "chat-bison-001", "text-bison-001", "embedding-gecko-001"},
			SafetySettings: []SafetySetting{
				{"HARM_CATEGORY_HARASSMENT", "OFF"}, {"HARM_CATEGORY_HATE_SPEECH", "OFF"},
				{"HARM_CATEGORY_SEXUALLY_EXPLICIT", "OFF"}, {"HARM_CATEGORY_DANGEROUS_CONTENT", "OFF"},
				{"HARM_CATEGORY_CIVIC_INTEGRITY", "BLOCK_NONE"},
			},
			URLContextModels: []string{"gemini-2.5-pro", "gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash", "gemini-2.0-flash-live-001"},
			ShowSearchLink:   true, ShowThinking: true, FakeStreamInterval: 5 * time.Second, RetryEmpty: true,
			ImageModel: "imagen-3.0-generate-002", TTSModel: "gemini-2.5-flash-preview-tts", TTSVoice: "Zephyr",
		},
		LogLevel: "info", ErrorLogDays: 7, RequestLogDays: 30,
		ErrorLogMaxRows: DefaultErrorLogMaxRows, RequestLogMaxRows: DefaultRequestLogMaxRows,
		ImageRetention: 168 * time.Hour, ImageStoreMaxSize: 1 << 30,
	}
}

// DefaultsFor are the defaults of a pool of that provider: the same as
// Defaults but for the upstream's base URL.
func DefaultsFor(k provider.Kind) Settings {
	s := Defaults()
	s.BaseURL = k.DefaultBaseURL()
	return s
}

// Row caps of the logs, per pool (see store.CapRequestLogs). Request logs
// took about 560 bytes a row in SQLite with their indexes (896 MB for 1.6 M
// rows, issue 13), so the default stays under 3 GB. Error rows carry a
// message and the upstream body, a few hundred bytes to a few KB (up to
// ~100 KB with record_request_body), and are rarer: a million is a few GB
// in the usual case and still weeks of errors at several a second.
const (
	DefaultRequestLogMaxRows = 5_000_000
	DefaultErrorLogMaxRows   = 1_000_000
	maxLogRows               = 1_000_000_000
)

// Option is one setting in the schema.
type Option struct {
	Name   string   `json:"name"`
	Type   string   `json:"type"` // int, bool, string, secret, duration, list, map, budgets, safety, enum
	Group  string   `json:"group"`
	Help   string   `json:"help"`
	Choice []string `json:"choices,omitempty"`
	// Masked says the value carries secrets: it is shown only in the form
	// Show gives, and a write that sends that form back keeps the current
	// secret (see Set). Every place that shows options (admin API, console,
	// log lines, error messages) goes through Show.
	Masked bool `json:"masked,omitempty"`
	// Min and Max bound an int option; Min bounds a duration (in
	// nanoseconds), and Max is 0 for one.
	Min int64 `json:"-"`
	Max int64 `json:"-"`
	// Directive is the option's Caddyfile directive when it differs from
	// Name: a map option is written one entry per line (header <name>
	// <value> builds headers, thinking_budget <model> <n> builds
	// thinking_budgets).
	Directive string `json:"-"`
	// Repeatable says the Caddyfile directive may appear on several lines,
	// each adding entries (maps, lists, safety_settings). A repeated
	// directive of any other option is refused.
	Repeatable bool `json:"-"`
	// Off is the value the Caddyfile word off stands for, as the setter
	// takes it: false for a bool, an empty list, 0 for a duration that
	// may be 0. Nil when off is refused (a duration with a positive
	// minimum, such as timeout) or is a plain value (strings).
	Off  json.RawMessage `json:"-"`
	get  func(*Settings) any
	set  func(*Settings, json.RawMessage) error
	mask func(any) any // the shown form of a value of get; nil when nothing in it is secret
}

// Get is the option's whole value in s, secrets included: for storing and
// comparing, never for showing (use Show).
func (o *Option) Get(s *Settings) any { return o.get(s) }

// Show is the option's value in s as it may be shown to anyone: secrets
// masked as the option declares.
func (o *Option) Show(s *Settings) any {
	if o.mask == nil {
		return o.get(s)
	}
	return o.mask(o.get(s))
}

// Set validates raw and stores it in s. s holds the current values: for a
// masked option, a masked form in raw (as Show gave it) stands for the
// current value it masks, and one that masks no current value is refused.
func (o *Option) Set(s *Settings, raw json.RawMessage) error { return o.set(s, raw) }

// CaddyfileName is the option's Caddyfile directive.
func (o *Option) CaddyfileName() string {
	if o.Directive != "" {
		return o.Directive
	}
	return o.Name
}

// Secret reports whether the value is shown only as set or not set.
func (o *Option) Secret() bool { return o.Type == "secret" }

var schema []*Option
var byName = map[string]*Option{}

// Schema lists every option in display order.
func Schema() []*Option { return schema }

// Lookup finds an option by name.
func Lookup(name string) (*Option, bool) { o, ok := byName[name]; return o, ok }

// ByDirective finds an option by its Caddyfile name.
func ByDirective(dir string) *Option {
	for _, o := range schema {
		if o.CaddyfileName() == dir {
			return o
		}
	}
	return nil
}

func add(o *Option) {
	schema = append(schema, o)
	byName[o.Name] = o
}

func decode[T any](raw json.RawMessage, what string) (T, error) {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("must be %s", what)
	}
	return v, nil
}

func intOpt(name, group, help string, min, max int, field func(*Settings) *int) {
	add(&Option{Name: name, Type: "int", Group: group, Help: help, Min: int64(min), Max: int64(max),
		get: func(s *Settings) any { return *field(s) },
		set: func(s *Settings, raw json.RawMessage) error {
			n, err := decode[int](raw, "a whole number")
			if err != nil {
				return err
			}
			if n < min || n > max {
				return fmt.Errorf("must be between %d and %d", min, max)
			}
			*field(s) = n
			return nil
		}})
}

// rowCapOpt is an int option where 0, or off, means no limit.
func rowCapOpt(name, group, help string, field func(*Settings) *int) {
	intOpt(name, group, help, 0, maxLogRows, field)
	byName[name].Off = json.RawMessage("0")
}

func boolOpt(name, group, help string, field func(*Settings) *bool) {
	add(&Option{Name: name, Type: "bool", Group: group, Help: help, Off: json.RawMessage("false"),
		get: func(s *Settings) any { return *field(s) },
		set: func(s *Settings, raw json.RawMessage) error {
			b, err := decode[bool](raw, "true or false")
			if err == nil {
				*field(s) = b
			}
			return err
		}})
}

func stringOpt(name, typ, group, help string, check func(string) error, field func(*Settings) *string) {
	maskedStringOpt(name, typ, group, help, check, nil, field)
}

// maskedStringOpt is a string option whose value form masks when shown.
func maskedStringOpt(name, typ, group, help string, check func(string) error, form *secretForm, field func(*Settings) *string) {
	o := &Option{Name: name, Type: typ, Group: group, Help: help,
		get: func(s *Settings) any { return *field(s) },
		set: func(s *Settings, raw json.RawMessage) error {
			v, err := decode[string](raw, "a string")
			if err != nil {
				return err
			}
			v = strings.TrimSpace(v)
			if form != nil {
				if v, err = form.unmaskOne(*field(s), v); err != nil {
					return err
				}
			}
			if check != nil {
				if err := check(v); err != nil {
					return err
				}
			}
			*field(s) = v
			return nil
		}}
	if form != nil {
		o.Masked = true
		o.mask = func(v any) any { return form.mask(v.(string)) }
	}
	add(o)
}

// durationOpt accepts "90s", "5m", "1h30m", "1d" or a number of seconds.
// Off is 0 where 0 is allowed (min 0), and refused elsewhere.
// modelMapOpt declares a map of model names to model names (both checked
// as model names), written one pair a line in the Caddyfile.
func modelMapOpt(name, directive, help, want string, field func(*Settings) *map[string]string) {
	add(&Option{Name: name, Type: "modelmap", Group: "models", Help: help, Directive: directive, Repeatable: true,
		get: func(s *Settings) any {
			if m := *field(s); m != nil {
				return m
			}
			return map[string]string{}
		},
		set: func(s *Settings, raw json.RawMessage) error {
			m, err := decode[map[string]string](raw, want)
			if err != nil {
				return err
			}
			for from, to := range m {
				for _, n := range []string{from, to} {
					if !pathguard.ValidModel(n) {
						return fmt.Errorf("%s", pathguard.ModelError(n))
					}
				}
			}
			*field(s) = m
			return nil
		}})
}

func durationOpt(name, group, help string, min time.Duration, field func(*Settings) *time.Duration) {
	var off json.RawMessage
	if min == 0 {
		off = json.RawMessage(`"0s"`)
	}
	add(&Option{Name: name, Type: "duration", Group: group, Help: help, Min: int64(min), Off: off,
		get: func(s *Settings) any { return field(s).String() },
		set: func(s *Settings, raw json.RawMessage) error {
			var d time.Duration
			var secs float64
			if err := json.Unmarshal(raw, &secs); err == nil {
				d = time.Duration(secs * float64(time.Second))
			} else {
				str, err := decode[string](raw, `a duration such as "30s", "5m" or "1h"`)
				if err != nil {
					return err
				}
				if d, err = parseDuration(str); err != nil {
					return fmt.Errorf(`must be a duration such as "30s", "5m" or "1h"`)
				}
			}
			if d < min {
				return fmt.Errorf("must be at least %s", min)
			}
			*field(s) = d
			return nil
		}})
}

func listOpt(name, group, help string, check func(string) error, field func(*Settings) *[]string) {
	maskedListOpt(name, group, help, check, nil, field)
}

// maskedListOpt is a list option whose entries mask one by one when shown.
func maskedListOpt(name, group, help string, check func(string) error, form *secretForm, field func(*Settings) *[]string) {
	o := &Option{Name: name, Type: "list", Group: group, Help: help, Repeatable: true, Off: json.RawMessage("[]"),
		get: func(s *Settings) any { return nonNil(*field(s)) },
		set: func(s *Settings, raw json.RawMessage) error {
			list, err := decode[[]string](raw, "a list of strings")
			if err != nil {
				return err
			}
			if form != nil {
				if list, err = form.unmaskList(*field(s), list); err != nil {
					return err
				}
			}
			out := make([]string, 0, len(list))
			for _, v := range list {
				if v = strings.TrimSpace(v); v == "" || slices.Contains(out, v) {
					continue
				}
				if check != nil {
					if err := check(v); err != nil {
						return err
					}
				}
				out = append(out, v)
			}
			*field(s) = out
			return nil
		}}
	if form != nil {
		o.Masked = true
		o.mask = func(v any) any {
			list := v.([]string)
			shown := make([]string, len(list))
			for i, e := range list {
				shown[i] = form.mask(e)
			}
			return shown
		}
	}
	add(o)
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func checkBaseURL(v string) error {
	_, err := upstream.ParseBaseURL(v)
	return maskURLError(v, err)
}

func checkProxy(v string) error {
	_, err := upstream.ParseProxyURL(v)
	return maskURLError(v, err)
}

func checkNonEmpty(v string) error {
	if v == "" {
		return fmt.Errorf("must not be empty")
	}
	return nil
}

func checkReferer(v string) error {
	if v != "" && !strings.HasPrefix(v, "http://") && !strings.HasPrefix(v, "https://") {
		return fmt.Errorf("must be an http:// or https:// URL, or empty")
	}
	return nil
}

// MaxRetriesCeiling is the most max_retries may be. A request never tries a
// key twice, so a pool of fewer keys stops sooner.
const MaxRetriesCeiling = 50

// maxThinkingBudget is the largest thinking budget a model takes.
const maxThinkingBudget = 32768

var logLevels = []string{"debug", "info", "warn", "error"}

func init() {
	const keys, up, access, model, logs = "keys", "upstream", "access", "models", "logs"
	intOpt("max_failures", keys, "Consecutive failures (401/403 and the like) after which a key is invalid.", 1, 1000,
		func(s *Settings) *int { return &s.MaxFailures })
	intOpt("max_retries", keys, "Extra attempts on other keys after the first fails; a request never tries a key twice, so the pool's size bounds it too.", 0, MaxRetriesCeiling,
		func(s *Settings) *int { return &s.MaxRetries })
	stringOpt("test_model", "string", keys, "Model probed by key checks (a GET of the model, which costs no quota).", checkNonEmpty,
		func(s *Settings) *string { return &s.TestModel })
	durationOpt("check_interval", keys, "How often invalid keys are re-checked; 0 disables.", 0,
		func(s *Settings) *time.Duration { return &s.CheckInterval })

	maskedStringOpt("base_url", "string", up, "The upstream, ending with the API version; a relay's path prefix is kept.", checkBaseURL, urlForm,
		func(s *Settings) *string { return &s.BaseURL })
	durationOpt("timeout", up, "Limit of each upstream attempt (for streams: first byte and each pause).", time.Millisecond,
		func(s *Settings) *time.Duration { return &s.Timeout })
	stringOpt("referer", "string", up, "Referer sent upstream, for keys restricted to HTTP referrers.", checkReferer,
		func(s *Settings) *string { return &s.Referer })
	maskedListOpt("proxies", up, "Outgoing http, https or socks5 proxies; each key is pinned to one.", checkProxy, urlForm,
		func(s *Settings) *[]string { return &s.Proxies })
	add(&Option{Name: "headers", Type: "map", Group: up, Help: "Extra headers on every upstream request.", Masked: true,
		Directive: "header", Repeatable: true,
		get: func(s *Settings) any {
			if s.Headers == nil {
				return map[string]string{}
			}
			return s.Headers
		},
		mask: func(v any) any {
			shown := map[string]string{}
			for k, val := range v.(map[string]string) {
				shown[k] = tokenForm.mask(val)
			}
			return shown
		},
		set: func(s *Settings, raw json.RawMessage) error {
			m, err := decode[map[string]string](raw, "an object of header names to values")
			if err != nil {
				return err
			}
			for k := range m {
				if k == "" || strings.ContainsAny(k, " :\r\n") {
					return fmt.Errorf("%q is not a header name", k)
				}
			}
			if m, err = unmaskHeaders(s.Headers, m); err != nil {
				return err
			}
			s.Headers = m
			return nil
		}})

	maskedListOpt("allowed_tokens", access, "Client tokens accepted on the API routes.", nil, tokenForm,
		func(s *Settings) *[]string { return &s.AllowedTokens })
	secretOpt("auth_token", access, "Console and admin token; never a client token.",
		func(s *Settings) *string { return &s.AuthToken })

	listOpt("search_models", model, "Models with a -search alias (adds Google Search).", nil,
		func(s *Settings) *[]string { return &s.Models.SearchModels })
	listOpt("image_models", model, "Models with an -image alias (text and image output).", nil,
		func(s *Settings) *[]string { return &s.Models.ImageModels })
	listOpt("thinking_models", model, "Models with a -non-thinking alias.", nil,
		func(s *Settings) *[]string { return &s.Models.ThinkingModels })
	add(&Option{Name: "thinking_budgets", Type: "budgets", Group: model, Help: "Default thinking budget per model when the client sets none (-1 dynamic).",
		Directive: "thinking_budget", Repeatable: true, Min: -1, Max: maxThinkingBudget,
		get: func(s *Settings) any {
			if s.Models.ThinkingBudgets == nil {
				return map[string]int{}
			}
			return s.Models.ThinkingBudgets
		},
		set: func(s *Settings, raw json.RawMessage) error {
			m, err := decode[map[string]int](raw, "an object of model names to token budgets")
			if err != nil {
				return err
			}
			for k, n := range m {
				if n < -1 || n > maxThinkingBudget {
					return fmt.Errorf("%s: %d is outside -1 (dynamic) to %d", k, n, maxThinkingBudget)
				}
			}
			s.Models.ThinkingBudgets = m
			return nil
		}})
	modelMapOpt("model_map", "", "Renames models for this pool's upstream, e.g. gemini-2.5-flash=deepseek-chat; an unmapped model goes as it is.",
		"an object of model names to upstream model names", func(s *Settings) *map[string]string { return &s.ModelMap })
	modelMapOpt("claude_models", "claude_model", "Claude model names to Gemini models by prefix for /v1/messages, e.g. claude-sonnet=gemini-2.5-pro; defaults: claude-opus → gemini-2.5-pro, claude-sonnet → gemini-2.5-flash, claude-haiku → gemini-2.5-flash-lite, other claude-* → gemini-2.5-flash.",
		"an object of Claude model name prefixes to Gemini models", func(s *Settings) *map[string]string { return &s.Models.ClaudeModels })
	listOpt("filtered_models", model, "Models hidden from lists and refused.", nil,
		func(s *Settings) *[]string { return &s.Models.FilteredModels })
	add(&Option{Name: "safety_settings", Type: "safety", Group: model, Help: "Safety thresholds sent when the client sends none; an empty list sends none.",
		Repeatable: true, Off: json.RawMessage("[]"),
		get: func(s *Settings) any { return nonNil(s.Models.SafetySettings) },
		set: func(s *Settings, raw json.RawMessage) error {
			list, err := decode[[]SafetySetting](raw, `a list of {"category","threshold"}`)
			if err != nil {
				return err
			}
			for _, v := range list {
				if !strings.HasPrefix(v.Category, "HARM_CATEGORY_") || v.Threshold == "" {
					return fmt.Errorf("%q/%q is not a HARM_CATEGORY_* category with a threshold", v.Category, v.Threshold)
				}
			}
			s.Models.SafetySettings = list
			return nil
		}})
	boolOpt("code_execution", model, "Add the codeExecution tool.", func(s *Settings) *bool { return &s.Models.CodeExecution })
	boolOpt("url_context", model, "Add the urlContext tool to url_context_models.", func(s *Settings) *bool { return &s.Models.URLContext })
	listOpt("url_context_models", model, "Models that accept the urlContext tool (url_context adds it to these only).", nil,
		func(s *Settings) *[]string { return &s.Models.URLContextModels })
	boolOpt("show_search_link", model, "Append grounding sources to translated answers.", func(s *Settings) *bool { return &s.Models.ShowSearchLink })
	boolOpt("show_thinking", model, "Ask for thoughts and return them as reasoning_content.", func(s *Settings) *bool { return &s.Models.ShowThinking })
	boolOpt("fake_stream", model, "Answer OpenAI streams from one plain upstream call, with keep-alives.", func(s *Settings) *bool { return &s.Models.FakeStream })
	durationOpt("fake_stream_interval", model, "Keep-alive interval of a fake stream.", 10*time.Millisecond,
		func(s *Settings) *time.Duration { return &s.Models.FakeStreamInterval })
	boolOpt("retry_empty", model, "Retry an empty translated answer on another key, at no cost to the key.", func(s *Settings) *bool { return &s.Models.RetryEmpty })
	secretOpt("paid_key", model, "Key used for Imagen instead of the pool.", func(s *Settings) *string { return &s.Models.PaidKey })
	stringOpt("image_model", "string", model, "Imagen model of /v1/images/generations.", checkNonEmpty, func(s *Settings) *string { return &s.Models.ImageModel })
	stringOpt("tts_model", "string", model, "Model of /v1/audio/speech.", checkNonEmpty, func(s *Settings) *string { return &s.Models.TTSModel })
	stringOpt("tts_voice", "string", model, "Default voice of /v1/audio/speech.", checkNonEmpty, func(s *Settings) *string { return &s.Models.TTSVoice })

	add(&Option{Name: "log_level", Type: "enum", Group: logs, Help: "Detail of the module's own log lines (Caddy's log level must let them through).",
		Choice: logLevels,
		get:    func(s *Settings) any { return s.LogLevel },
		set: func(s *Settings, raw json.RawMessage) error {
			v, err := decode[string](raw, "a string")
			if err != nil {
				return err
			}
			if v = strings.ToLower(strings.TrimSpace(v)); !slices.Contains(logLevels, v) {
				return fmt.Errorf("must be one of %s", strings.Join(logLevels, ", "))
			}
			s.LogLevel = v
			return nil
		}})
	intOpt("error_log_days", logs, "Error logs older than this are deleted; 0 keeps them.", 0, 3650,
		func(s *Settings) *int { return &s.ErrorLogDays })
	durationOpt("image_retention", model, "How long generated images stay in the image store (and their links work).", time.Minute,
		func(s *Settings) *time.Duration { return &s.ImageRetention })
	intOpt("image_store_max_size", model, "Most bytes the image store keeps; the oldest images go first.", 1<<20, 1<<40,
		func(s *Settings) *int { return &s.ImageStoreMaxSize })
	intOpt("request_log_days", logs, "Request logs older than this are deleted; 0 keeps them.", 0, 3650,
		func(s *Settings) *int { return &s.RequestLogDays })
	rowCapOpt("error_log_max_rows", logs, "Most error logs kept; the oldest beyond it are deleted (checked every minute). 0 or off keeps them all.",
		func(s *Settings) *int { return &s.ErrorLogMaxRows })
	rowCapOpt("request_log_max_rows", logs, "Most request logs kept; the oldest beyond it are deleted (checked every minute), and the dashboard's day and month figures still count them. 0 or off keeps them all.",
		func(s *Settings) *int { return &s.RequestLogMaxRows })
	boolOpt("record_request_body", logs, "Store the request body with error logs.", func(s *Settings) *bool { return &s.RecordRequestBody })
}

// FieldErrors maps option names to what is wrong with their values.
type FieldErrors map[string]string

// Error lists the options in name order; options with one message (an
// inter-option rule) share one entry: "a, b: message".
func (e FieldErrors) Error() string {
	names := make([]string, 0, len(e))
	for n := range e {
		names = append(names, n)
	}
	sort.Strings(names)
	var parts []string
	done := map[string]bool{}
	for _, n := range names {
		if done[n] {
			continue
		}
		done[n] = true
		same := []string{n}
		for _, m := range names {
			if !done[m] && e[m] == e[n] {
				same = append(same, m)
				done[m] = true
			}
		}
		parts = append(parts, strings.Join(same, ", ")+": "+e[n])
	}
	return strings.Join(parts, "; ")
}

// Apply sets every value of values on a copy of base: all valid or none
// applied. Each option's setter runs first (a masked form stands for the
// base's value it masks), then the inter-option rules.
func Apply(base Settings, values map[string]json.RawMessage) (Settings, error) {
	next := base.clone()
	errs := FieldErrors{}
	for name, raw := range values {
		o, ok := byName[name]
		if !ok {
			errs[name] = "unknown option"
			continue
		}
		if err := o.Set(&next, raw); err != nil {
			errs[name] = err.Error()
		}
	}
	if len(errs) == 0 {
		errs = checkRules(&next, values)
	}
	if len(errs) > 0 {
		return base, errs
	}
	return next, nil
}

// clone copies s deeply enough that setting options on the copy never
// changes s.
func (s Settings) clone() Settings {
	b, _ := json.Marshal(s)
	var c Settings
	_ = json.Unmarshal(b, &c)
	return c
}

// Shown is an option's value as JSON as it may be shown: secrets masked.
func Shown(s *Settings, name string) json.RawMessage {
	o, ok := byName[name]
	if !ok {
		return nil
	}
	b, _ := json.Marshal(o.Show(s))
	return b
}

// Value is an option's whole value as JSON, secrets included: for storing
// and comparing, never for showing (see Shown).
func Value(s *Settings, name string) json.RawMessage {
	o, ok := byName[name]
	if !ok {
		return nil
	}
	b, _ := json.Marshal(o.Get(s))
	return b
}
