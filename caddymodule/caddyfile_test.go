package caddymodule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/gemini-balance/gemini_balance/internal/keylist"
	"github.com/gemini-balance/gemini_balance/internal/settings"
)

func TestUnmarshalCaddyfileAllOptions(t *testing.T) {
	d := caddyfile.NewTestDispenser(`gemini_balance team {
		api_keys k1 "k2,k3"
		api_keys ["k4","k5"]
		api_keys_file /etc/keys.txt
		allowed_tokens sk-a sk-b
		allowed_tokens sk-c
		auth_token admin-secret
		database /var/lib/gb/team.db
		base_url https://relay.example.com/abc/v1beta
		max_failures 5
		max_retries 2
		timeout 90s
		referer https://my.site/
		proxies http://p1:8080 socks5://p2:1080
		header X-Extra one
		header x-extra two
		test_model gemini-2.0-flash
		check_interval off
		console /panel
		max_body_size 1048576
		max_upload_size 4194304
		search_models off
		thinking_budget gemini-2.5-pro 1024
		thinking_budget gemini-2.5-flash -1
		safety_settings HARM_CATEGORY_HARASSMENT BLOCK_NONE
		safety_settings HARM_CATEGORY_HATE_SPEECH OFF
		code_execution on
		fake_stream_interval 2s
		log_level debug
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	want := Handler{
		Pool: "team", APIKeys: []string{"k1", "k2,k3", `["k4","k5"]`}, APIKeysFile: "/etc/keys.txt",
		Database: "/var/lib/gb/team.db", Console: "/panel", MaxBodyBytes: 1048576, MaxUploadBytes: 4194304,
		Options: map[string]json.RawMessage{
			"allowed_tokens": raw(`["sk-a","sk-b","sk-c"]`), "auth_token": raw(`"admin-secret"`),
			"base_url": raw(`"https://relay.example.com/abc/v1beta"`), "max_failures": raw(`5`), "max_retries": raw(`2`),
			"timeout": raw(`90000000000`), "referer": raw(`"https://my.site/"`),
			"proxies": raw(`["http://p1:8080","socks5://p2:1080"]`), "headers": raw(`{"X-Extra":["one","two"]}`),
			"test_model": raw(`"gemini-2.0-flash"`), "check_interval": raw(`0`), "search_models": raw(`[]`),
			"thinking_budgets": raw(`{"gemini-2.5-flash":-1,"gemini-2.5-pro":1024}`),
			"safety_settings":  raw(`[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"},{"category":"HARM_CATEGORY_HATE_SPEECH","threshold":"OFF"}]`),
			"code_execution":   raw(`true`), "fake_stream_interval": raw(`2000000000`), "log_level": raw(`"debug"`),
		},
	}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("got  %+v\nwant %+v", h, want)
	}
	// The run-time options reach the settings as the admin API would write them.
	set, err := settings.ApplyConfig(settings.Defaults(), h.Options)
	if err != nil {
		t.Fatal(err)
	}
	if set.Timeout != 90*time.Second || set.CheckInterval != 0 || set.Headers["X-Extra"] != "one, two" ||
		len(set.Models.SearchModels) != 0 || set.Models.ThinkingBudgets["gemini-2.5-flash"] != -1 || set.MaxRetries != 2 {
		t.Errorf("settings = %+v", set)
	}
}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	cases := []struct{ name, input, want string }{
		{"unknown option", "gemini_balance {\n  api_keys k\n  bogus 1\n}", `unknown gemini_balance option "bogus", at Testfile:3`},
		{"JSON name in the Caddyfile", "gemini_balance {\n  headers X-A b\n}", `unknown gemini_balance option "headers" (write header)`},
		{"missing argument", "gemini_balance {\n  base_url\n}", "base_url needs a value, at Testfile:2"},
		{"missing keys", "gemini_balance {\n  api_keys\n}", "api_keys needs at least one value, at Testfile:2"},
		{"bad duration", "gemini_balance {\n  timeout 5 minutes\n}", "timeout takes one value"},
		{"bad duration word", "gemini_balance {\n\n  timeout soon\n}", `timeout: must be a duration such as "30s", "5m" or "1h", at Testfile:3`},
		{"negative duration", "gemini_balance {\n  check_interval -5s\n}", "check_interval: must be at least 0s, at Testfile:2"},
		{"timeout off", "gemini_balance {\n  timeout off\n}", "timeout: cannot be off: must be at least 1ms, at Testfile:2"},
		{"timeout 0", "gemini_balance {\n  timeout 0\n}", "timeout: must be at least 1ms, at Testfile:2"},
		{"negative number", "gemini_balance {\n  max_retries -1\n}", "max_retries: must be between 0 and 50, at Testfile:2"},
		{"too many retries", "gemini_balance {\n  max_retries 51\n}", "max_retries: must be between 0 and 50"},
		{"zero failures", "gemini_balance {\n  max_failures 0\n}", "max_failures: must be between 1 and 1000"},
		{"not a number", "gemini_balance {\n  max_failures three\n}", `max_failures: must be a whole number, at Testfile:2`},
		{"two pool names", "gemini_balance a b", "wrong argument count"},
		{"header without value", "gemini_balance {\n  header X-A\n}", "header takes a name and one value"},
		{"repeated option", "gemini_balance {\n  timeout 10s\n  api_keys k\n  timeout 20s\n}", "timeout already specified at line 2, at Testfile:4"},
		{"repeated structural option", "gemini_balance {\n  database a.db\n  database b.db\n}", "database already specified at line 2, at Testfile:3"},
		{"repeated budget", "gemini_balance {\n  thinking_budget m 1\n  thinking_budget m 2\n}", "thinking_budget m already specified, at Testfile:3"},
		{"list off and entries", "gemini_balance {\n  search_models a\n  search_models off\n}", "search_models off cannot be combined with other search_models lines, at Testfile:3"},
		{"entries after off", "gemini_balance {\n  safety_settings off\n  safety_settings HARM_CATEGORY_HARASSMENT OFF\n}", "safety_settings off cannot be combined"},
		{"bad bool", "gemini_balance {\n  fake_stream maybe\n}", "fake_stream: must be true or false, at Testfile:2"},
		// The inter-option rule of the settings schema, the same the admin API and console obey.
		{"auth token is a client token", "gemini_balance {\n  allowed_tokens t0 t1\n  auth_token t1\n}",
			"allowed_tokens, auth_token: " + settings.AuthTokenRule},
		{"bad proxy with credentials", "gemini_balance {\n  proxies gopher://u:pr0xy-pass@p:1\n}", `proxy "gopher://***@p:1": scheme must be`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(c.input))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			if strings.Contains(err.Error(), "pr0xy-pass") {
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
}

func TestProvisionRejectsBadValues(t *testing.T) {
	cases := []struct {
		name string
		h    Handler
		want string
	}{
		{"bad base_url", Handler{Options: map[string]json.RawMessage{"base_url": raw(`"ftp://x"`)}}, "must be an http:// or https:// URL"},
		{"relative base_url", Handler{Options: map[string]json.RawMessage{"base_url": raw(`"/v1beta"`)}}, "must be an http:// or https:// URL"},
		{"bad proxy", Handler{Options: map[string]json.RawMessage{"proxies": raw(`["gopher://p:1"]`)}}, "scheme must be http, https, socks5"},
		{"negative retries", Handler{Options: map[string]json.RawMessage{"max_retries": raw(`-1`)}}, "max_retries: must be between 0 and 50"},
		{"bad JSON duration", Handler{Options: map[string]json.RawMessage{"timeout": raw(`1.5`)}}, "timeout: must be a duration in nanoseconds"},
		{"auth token is a client token", Handler{Options: map[string]json.RawMessage{"allowed_tokens": raw(`["t0","t1"]`), "auth_token": raw(`"t1"`)}},
			"gemini_balance: allowed_tokens, auth_token: " + settings.AuthTokenRule},
		{"bad proxy with credentials", Handler{Options: map[string]json.RawMessage{"proxies": raw(`["gopher://u:pr0xy-pass@p:1"]`)}}, `proxy "gopher://***@p:1": scheme must be`},
		{"bad base_url with credentials", Handler{Options: map[string]json.RawMessage{"base_url": raw(`"https://u:base-pass@relay/v1?x=1"`)}}, `base_url "https://***@relay/v1?x=1": must not have a query`},
		{"masked token", Handler{Options: map[string]json.RawMessage{"allowed_tokens": raw(`["…abcd"]`)}}, `allowed_tokens: "…abcd" is a masked token that matches no current token`},
		{"bad pool name", Handler{Pool: "a/b"}, "pool name"},
		{"bad console", Handler{Console: "admin"}, "console must be a path"},
		{"missing keys file", Handler{APIKeysFile: "/nonexistent/keys.txt"}, "api_keys_file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
			defer cancel()
			c.h.Database = filepath.Join(t.TempDir(), "x.db")
			err := c.h.Provision(ctx)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			for _, secret := range []string{"pr0xy-pass", "base-pass"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows a secret: %v", err)
				}
			}
		})
	}
}

func TestJSONRefusesUnknownFields(t *testing.T) {
	var h Handler
	err := json.Unmarshal([]byte(`{"pool":"p","timeout":"2m","bogus":1}`), &h)
	if err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Fatalf("err = %v", err)
	}
	if err := json.Unmarshal([]byte(`{"pool":"p","timeout":"2m","headers":{"X-A":["b"]}}`), &h); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(h)
	if string(b) != `{"headers":{"X-A":["b"]},"pool":"p","timeout":"2m"}` {
		t.Errorf("round trip = %s", b)
	}
}

func TestLoadKeysFromAllForms(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.txt")
	if err := os.WriteFile(file, []byte("# pool keys\nk4\n  k5 \nk1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := Handler{APIKeys: []string{" k1 ", "k2,k3", `["k3","k6"]`}, APIKeysFile: file}
	got, err := keylist.Load(h.APIKeys, h.APIKeysFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"k1", "k2", "k3", "k6", "k4", "k5"}; !reflect.DeepEqual(got, want) {
		t.Errorf("keys = %q, want %q", got, want)
	}
}

// TestCaddyfileAdapt compares `caddy adapt` output with the golden files in
// testdata/caddyfile_adapt: the Caddyfile, a line of dashes, the JSON.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/caddyfile_adapt/*.caddytest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		parts := strings.SplitN(string(data), "----------", 2)
		if len(parts) != 2 {
			t.Fatalf("%s: no ---------- separator", f)
		}
		if !caddytest.CompareAdapt(t, f, parts[0], "caddyfile", strings.TrimSpace(parts[1])) {
			t.Errorf("%s: adapted JSON differs", f)
		}
	}
}
