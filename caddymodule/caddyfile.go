package caddymodule

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/gemini-balance/gemini_balance/internal/settings"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("gemini_balance", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("gemini_balance", httpcaddyfile.Before, "reverse_proxy")
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	gemini_balance [<pool name>] {
//	    api_keys        <key> ...
//	    api_keys_file   <path>
//	    allowed_tokens  <token> ...
//	    auth_token      <token>
//	    database        <path>
//	    base_url        <url>
//	    max_failures    <n>
//	    max_retries     <n>
//	    timeout         <duration>
//	    referer         <url>
//	    proxies         <url> ...
//	    header          <name> <value>
//	    test_model      <model>
//	    check_interval  <duration>
//	    console         <path> | off
//	    max_body_size   <bytes>
//	    max_upload_size <bytes>
//	    search_models   <model> ... | off
//	    image_models    <model> ... | off
//	    thinking_models <model> ... | off
//	    thinking_budget <model> <n>
//	    filtered_models <model> ... | off
//	    safety_settings <category> <threshold> | off
//	    code_execution  on|off
//	    url_context     on|off
//	    url_context_models <model> ... | off
//	    show_search_link on|off
//	    show_thinking   on|off
//	    fake_stream     on|off
//	    fake_stream_interval <duration>
//	    retry_empty     on|off
//	    paid_key        <key>
//	    image_model     <model>
//	    tts_model       <model>
//	    tts_voice       <voice>
//	    log_level       debug|info|warn|error
//	    error_log_days  <days>
//	    request_log_days <days>
//	    record_request_body on|off
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		h.Pool = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	lists := map[string]*[]string{"api_keys": &h.APIKeys, "allowed_tokens": &h.AllowedTokens, "proxies": &h.Proxies}
	values := map[string]*string{
		"api_keys_file": &h.APIKeysFile, "auth_token": &h.AuthToken, "database": &h.Database, "base_url": &h.BaseURL,
		"referer": &h.Referer, "test_model": &h.TestModel, "console": &h.Console,
		"paid_key": &h.PaidKey, "image_model": &h.ImageModel, "tts_model": &h.TTSModel, "tts_voice": &h.TTSVoice,
		"log_level": &h.LogLevel,
	}
	modelLists := map[string]**[]string{
		"search_models": &h.SearchModels, "image_models": &h.ImageModels, "thinking_models": &h.ThinkingModels, "url_context_models": &h.URLContextModels,
		"filtered_models": &h.FilteredModels,
	}
	flags := map[string]**bool{
		"code_execution": &h.CodeExecution, "url_context": &h.URLContext, "show_search_link": &h.ShowSearchLink,
		"show_thinking": &h.ShowThinking, "fake_stream": &h.FakeStream, "retry_empty": &h.RetryEmpty,
		"record_request_body": &h.RecordRequestBody,
	}
	for d.NextBlock(0) {
		opt := d.Val()
		if dst, ok := lists[opt]; ok {
			args, err := atLeastOne(d)
			if err != nil {
				return err
			}
			*dst = append(*dst, args...)
			continue
		}
		if dst, ok := values[opt]; ok {
			if err := oneString(d, dst); err != nil {
				return err
			}
			continue
		}
		if dst, ok := modelLists[opt]; ok {
			args, err := atLeastOne(d)
			if err != nil {
				return err
			}
			if *dst == nil || (len(args) == 1 && args[0] == "off") {
				*dst = new([]string)
			}
			if !(len(args) == 1 && args[0] == "off") {
				**dst = append(**dst, args...)
			}
			continue
		}
		if dst, ok := flags[opt]; ok {
			v, err := oneBool(d)
			if err != nil {
				return err
			}
			*dst = &v
			continue
		}
		switch opt {
		case "thinking_budget":
			var model, n string
			if !d.Args(&model, &n) || d.NextArg() {
				return d.Errf("thinking_budget takes a model and a number of tokens")
			}
			v, err := strconv.Atoi(n)
			if err != nil {
				return d.Errf("thinking_budget: %q is not a whole number", n)
			}
			if h.ThinkingBudgets == nil {
				h.ThinkingBudgets = map[string]int{}
			}
			h.ThinkingBudgets[model] = v
		case "safety_settings":
			args := d.RemainingArgs()
			if h.SafetySettings == nil {
				h.SafetySettings = new([]settings.SafetySetting)
			}
			switch {
			case len(args) == 1 && args[0] == "off":
				*h.SafetySettings = []settings.SafetySetting{}
			case len(args) == 2:
				*h.SafetySettings = append(*h.SafetySettings, settings.SafetySetting{Category: args[0], Threshold: args[1]})
			default:
				return d.Errf("safety_settings takes a category and a threshold (e.g. HARM_CATEGORY_HARASSMENT OFF), or off")
			}
		case "fake_stream_interval":
			dur, err := oneDuration(d)
			if err != nil {
				return err
			}
			h.FakeStreamInterval = &dur
		case "max_failures":
			n, err := oneInt(d, 1)
			if err != nil {
				return err
			}
			h.MaxFailures = &n
		case "max_retries":
			n, err := oneInt(d, 0)
			if err != nil {
				return err
			}
			h.MaxRetries = &n
		case "error_log_days", "request_log_days":
			n, err := oneInt(d, 0)
			if err != nil {
				return err
			}
			if opt == "error_log_days" {
				h.ErrorLogDays = &n
			} else {
				h.RequestLogDays = &n
			}
		case "max_body_size", "max_upload_size":
			n, err := oneInt(d, 1)
			if err != nil {
				return err
			}
			if opt == "max_body_size" {
				h.MaxBodyBytes = int64(n)
			} else {
				h.MaxUploadBytes = int64(n)
			}
		case "timeout":
			dur, err := oneDuration(d)
			if err != nil {
				return err
			}
			h.Timeout = &dur
		case "check_interval":
			dur, err := oneDuration(d)
			if err != nil {
				return err
			}
			h.CheckInterval = &dur
		case "header":
			var name, value string
			if !d.Args(&name, &value) {
				return d.ArgErr()
			}
			if d.NextArg() {
				return d.Errf("header takes a name and one value; quote a value with spaces")
			}
			if h.Headers == nil {
				h.Headers = http.Header{}
			}
			h.Headers.Add(name, value)
		default:
			return d.Errf("unknown gemini_balance option %q", opt)
		}
	}
	return nil
}

func atLeastOne(d *caddyfile.Dispenser) ([]string, error) {
	opt := d.Val()
	args := d.RemainingArgs()
	if len(args) == 0 {
		return nil, d.Errf("%s needs at least one value", opt)
	}
	return args, nil
}

func oneString(d *caddyfile.Dispenser, dst *string) error {
	opt := d.Val()
	if !d.NextArg() {
		return d.Errf("%s needs a value", opt)
	}
	*dst = d.Val()
	if d.NextArg() {
		return d.Errf("%s takes one value, got more", opt)
	}
	return nil
}

func oneInt(d *caddyfile.Dispenser, min int) (int, error) {
	opt := d.Val()
	var s string
	if err := oneString(d, &s); err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, d.Errf("%s: %q is not a whole number", opt, s)
	}
	if n < min {
		return 0, d.Errf("%s must be at least %d, got %d", opt, min, n)
	}
	return n, nil
}

func oneDuration(d *caddyfile.Dispenser) (caddy.Duration, error) {
	opt := d.Val()
	var s string
	if err := oneString(d, &s); err != nil {
		return 0, err
	}
	if s == "0" || strings.EqualFold(s, "off") {
		return 0, nil
	}
	dur, err := caddy.ParseDuration(s)
	if err != nil {
		return 0, d.Errf("%s: %q is not a duration such as 30s, 5m or 1h", opt, s)
	}
	if dur < 0 {
		return 0, d.Errf("%s must not be negative", opt)
	}
	return caddy.Duration(dur), nil
}

func oneBool(d *caddyfile.Dispenser) (bool, error) {
	opt := d.Val()
	var s string
	if err := oneString(d, &s); err != nil {
		return false, err
	}
	switch strings.ToLower(s) {
	case "on", "true", "yes", "1":
		return true, nil
	case "off", "false", "no", "0":
		return false, nil
	}
	return false, d.Errf("%s takes on or off, got %q", opt, s)
}
