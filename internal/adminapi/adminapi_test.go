package adminapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/settings"
)

const (
	clientA    = "sk-client-alpha-00000000aaaa"
	clientB    = "sk-client-bravo-00000000bbbb"
	adminToken = "admin-token-api-test-0000"
	proxyPass  = "pr0xy-Pa55-word"
	relayValue = "relay-secret-header-7777"
	paidKey    = "AIzaSyPAID00000000000000000000000000000"
)

var secrets = []string{clientA, clientB, adminToken, proxyPass, "proxyuser", relayValue, paidKey}

func testAPI(t *testing.T, locked map[string]bool) (*balancer.Balancer, *httptest.Server) {
	t.Helper()
	s := settings.Defaults()
	s.BaseURL = "http://127.0.0.1:1/v1beta"
	s.CheckInterval = 0
	s.AllowedTokens = []string{clientA, clientB}
	s.AuthToken = adminToken
	s.Proxies = []string{"http://proxyuser:" + proxyPass + "@127.0.0.1:3128"}
	s.Headers = map[string]string{"X-Relay-Auth": relayValue}
	s.Models.PaidKey = paidKey
	b, err := balancer.Open(balancer.Config{Name: "api", DatabasePath: filepath.Join(t.TempDir(), "api.db"),
		Keys: []string{"AIzaSyAPI0000000000000000000000000000000"}, Settings: s, Locked: locked}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	srv := httptest.NewServer(New(func(*http.Request) []*balancer.Balancer { return []*balancer.Balancer{b} }))
	t.Cleanup(srv.Close)
	return b, srv
}

func call(t *testing.T, srv *httptest.Server, method, path, body string) (int, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, srv.URL+path, rd)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func noSecrets(t *testing.T, what, body string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(body, s) {
			t.Errorf("%s shows %q: %s", what, s, body)
		}
	}
}

func TestGetSettingsShowsNoSecret(t *testing.T) {
	_, srv := testAPI(t, nil)
	status, body := call(t, srv, "GET", "/pools/api/settings", "")
	if status != http.StatusOK {
		t.Fatalf("%d %s", status, body)
	}
	noSecrets(t, "GET settings", body)
	var view map[string]balancer.SettingView
	if err := json.Unmarshal([]byte(body), &view); err != nil {
		t.Fatal(err)
	}
	if tokens, _ := json.Marshal(view["allowed_tokens"].Value); string(tokens) != `["…aaaa","…bbbb"]` || !view["allowed_tokens"].Masked {
		t.Errorf("allowed_tokens: %s", tokens)
	}
	if proxies, _ := json.Marshal(view["proxies"].Value); string(proxies) != `["http://***@127.0.0.1:3128"]` {
		t.Errorf("proxies: %s", proxies)
	}
	if headers, _ := json.Marshal(view["headers"].Value); string(headers) != `{"X-Relay-Auth":"…7777"}` {
		t.Errorf("headers: %s", headers)
	}
	if view["auth_token"].Value != true || view["paid_key"].Value != true {
		t.Errorf("secrets: %+v %+v", view["auth_token"], view["paid_key"])
	}
}

func TestPatchSettingsKeepsSecretsSentBackMasked(t *testing.T) {
	b, srv := testAPI(t, nil)
	status, body := call(t, srv, "PATCH", "/pools/api/settings",
		`{"allowed_tokens": ["…aaaa", "sk-new-client-token-0003"], "headers": {"X-Relay-Auth": "…7777"}, "proxies": ["http://***@127.0.0.1:3128"]}`)
	if status != http.StatusOK || !strings.Contains(body, `"changed":["allowed_tokens"]`) {
		t.Fatalf("%d %s", status, body)
	}
	noSecrets(t, "PATCH answer", body)
	if strings.Contains(body, "sk-new-client-token-0003") {
		t.Errorf("the answer shows the new token: %s", body)
	}
	s := b.Settings()
	if len(s.AllowedTokens) != 2 || s.AllowedTokens[0] != clientA || s.AllowedTokens[1] != "sk-new-client-token-0003" ||
		s.Headers["X-Relay-Auth"] != relayValue || s.Proxies[0] != "http://proxyuser:"+proxyPass+"@127.0.0.1:3128" {
		t.Fatalf("in force: %q %q %q", s.AllowedTokens, s.Headers, s.Proxies)
	}
	// A masked form that stands for nothing: 400 naming the field.
	status, body = call(t, srv, "PATCH", "/pools/api/settings", `{"allowed_tokens": ["…zzzz"]}`)
	var e errorBody
	_ = json.Unmarshal([]byte(body), &e)
	if status != http.StatusBadRequest || !strings.Contains(e.Fields["allowed_tokens"], "matches no current token") {
		t.Fatalf("unknown mask: %d %s", status, body)
	}
}

func TestPatchSettingsRefusesAuthTokenAsClientToken(t *testing.T) {
	b, srv := testAPI(t, map[string]bool{"paid_key": true})
	for body, field := range map[string]string{
		`{"allowed_tokens": ["…aaaa", "` + adminToken + `"]}`: "allowed_tokens",
		`{"auth_token": "` + clientB + `"}`:                   "auth_token",
	} {
		status, answer := call(t, srv, "PATCH", "/pools/api/settings", body)
		var e errorBody
		_ = json.Unmarshal([]byte(answer), &e)
		if status != http.StatusBadRequest || e.Fields[field] != settings.AuthTokenRule || len(e.Fields) != 1 {
			t.Errorf("%s: %d %s", body, status, answer)
		}
		noSecrets(t, "refusal", answer)
	}
	if s := b.Settings(); s.AuthToken != adminToken || len(s.AllowedTokens) != 2 {
		t.Fatalf("a refused PATCH applied: %q %q", s.AuthToken, s.AllowedTokens)
	}
	// An option pinned by the Caddyfile still answers 409.
	if status, answer := call(t, srv, "PATCH", "/pools/api/settings", `{"paid_key": "AIzaSyOTHER"}`); status != http.StatusConflict {
		t.Errorf("pinned: %d %s", status, answer)
	}
}

func TestPatchSettingsRefusesAuthTokenPinnedInCaddyfile(t *testing.T) {
	_, srv := testAPI(t, map[string]bool{"auth_token": true})
	status, answer := call(t, srv, "PATCH", "/pools/api/settings", `{"allowed_tokens": ["`+adminToken+`"]}`)
	var e errorBody
	_ = json.Unmarshal([]byte(answer), &e)
	if status != http.StatusBadRequest || e.Fields["allowed_tokens"] != settings.AuthTokenRule {
		t.Errorf("client token = the Caddyfile's auth_token: %d %s", status, answer)
	}
	if status, answer := call(t, srv, "PATCH", "/pools/api/settings", `{"auth_token": "`+clientA+`"}`); status != http.StatusConflict {
		t.Errorf("pinned auth_token: %d %s", status, answer)
	}
}
