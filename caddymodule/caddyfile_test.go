package caddymodule

import (
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/gemini-balance/gemini_balance/internal/settings"
)

func TestUnmarshalCaddyfileAllOptions(t *testing.T) {
	d := caddyfile.NewTestDispenser(`gemini_balance team {
		api_keys k1 "k2,k3"
		api_keys ["k4","k5"]
		api_keys_file /etc/keys.txt
		allowed_tokens sk-a sk-b
		auth_token admin-secret
		database /var/lib/gb/team.db
		base_url https://relay.example.com/abc/v1beta
		max_failures 5
		max_retries 2
		timeout 90s
		referer https://my.site/
		proxies http://p1:8080 socks5://p2:1080
		header X-Extra one
		header X-Extra two
		test_model gemini-2.0-flash
		check_interval 30m
		console /panel
		max_body_size 1048576
		max_upload_size 4194304
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	five, two := 5, 2
	to, ci := caddy.Duration(90*time.Second), caddy.Duration(30*time.Minute)
	want := Handler{
		Pool: "team", APIKeys: []string{"k1", "k2,k3", `["k4","k5"]`}, APIKeysFile: "/etc/keys.txt",
		AllowedTokens: []string{"sk-a", "sk-b"}, AuthToken: "admin-secret", Database: "/var/lib/gb/team.db",
		BaseURL: "https://relay.example.com/abc/v1beta", MaxFailures: &five, MaxRetries: &two, Timeout: &to,
		Referer: "https://my.site/", Proxies: []string{"http://p1:8080", "socks5://p2:1080"},
		Headers: http.Header{"X-Extra": {"one", "two"}}, TestModel: "gemini-2.0-flash", CheckInterval: &ci,
		Console: "/panel", MaxBodyBytes: 1048576, MaxUploadBytes: 4194304,
	}
	if !reflect.DeepEqual(h, want) {
		t.Errorf("got  %+v\nwant %+v", h, want)
	}
}

func TestUnmarshalCaddyfileErrors(t *testing.T) {
	cases := []struct{ name, input, want string }{
		{"unknown option", "gemini_balance {\n  api_keys k\n  bogus 1\n}", `unknown gemini_balance option "bogus", at Testfile:3`},
		{"missing argument", "gemini_balance {\n  base_url\n}", "base_url needs a value, at Testfile:2"},
		{"missing keys", "gemini_balance {\n  api_keys\n}", "api_keys needs at least one value, at Testfile:2"},
		{"bad duration", "gemini_balance {\n  timeout 5 minutes\n}", "timeout takes one value"},
		{"bad duration word", "gemini_balance {\n\n  timeout soon\n}", `timeout: "soon" is not a duration such as 30s, 5m or 1h, at Testfile:3`},
		{"negative duration", "gemini_balance {\n  check_interval -5s\n}", "check_interval must not be negative, at Testfile:2"},
		{"negative number", "gemini_balance {\n  max_retries -1\n}", "max_retries must be at least 0, got -1, at Testfile:2"},
		{"zero failures", "gemini_balance {\n  max_failures 0\n}", "max_failures must be at least 1"},
		{"not a number", "gemini_balance {\n  max_failures three\n}", `max_failures: "three" is not a whole number, at Testfile:2`},
		{"two pool names", "gemini_balance a b", "wrong argument count"},
		{"header without value", "gemini_balance {\n  header X-A\n}", "wrong argument count"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(c.input))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestProvisionRejectsBadValues(t *testing.T) {
	neg := -1
	cases := []struct {
		name string
		h    Handler
		want string
	}{
		{"bad base_url", Handler{BaseURL: "ftp://x"}, "must be an http:// or https:// URL"},
		{"relative base_url", Handler{BaseURL: "/v1beta"}, "must be an http:// or https:// URL"},
		{"bad proxy", Handler{Proxies: []string{"gopher://p:1"}}, "scheme must be http, https, socks5"},
		{"negative retries", Handler{MaxRetries: &neg}, "max_retries must not be negative"},
		// The inter-option rule of the settings schema, the same the admin API and console obey.
		{"auth token is a client token", Handler{AllowedTokens: []string{"t0", "t1"}, AuthToken: "t1"},
			"gemini_balance: allowed_tokens, auth_token: " + settings.AuthTokenRule},
		{"bad proxy with credentials", Handler{Proxies: []string{"gopher://u:pr0xy-pass@p:1"}}, `proxy "gopher://***@p:1": scheme must be`},
		{"bad base_url with credentials", Handler{BaseURL: "https://u:base-pass@relay/v1?x=1"}, `base_url "https://***@relay/v1?x=1": must not have a query`},
		{"masked token in the Caddyfile", Handler{AllowedTokens: []string{"…abcd"}}, `allowed_tokens: "…abcd" is a masked token that matches no current token`},
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

func TestLoadKeysFromAllForms(t *testing.T) {
	file := filepath.Join(t.TempDir(), "keys.txt")
	if err := os.WriteFile(file, []byte("# pool keys\nk4\n  k5 \nk1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h := Handler{APIKeys: []string{" k1 ", "k2,k3", `["k3","k6"]`}, APIKeysFile: file}
	got, err := h.loadKeys()
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
