package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
)

const adminToken = "admin-token-e2e"

// admin calls Caddy's admin endpoint.
func (e *env) admin(method, path, token, body string) (int, string) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, fmt.Sprintf("http://localhost:%d/gemini_balance%s", adminPort, path), rd)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *env) adminJSON(method, path, body string, wantStatus int, out any) string {
	e.t.Helper()
	status, resp := e.admin(method, path, adminToken, body)
	if status != wantStatus {
		e.t.Fatalf("%s %s: %d %s, want %d", method, path, status, resp, wantStatus)
	}
	if out != nil {
		if err := json.Unmarshal([]byte(resp), out); err != nil {
			e.t.Fatalf("%s %s: %v in %s", method, path, err, resp)
		}
	}
	return resp
}

func TestAdminRoutesRefuseWithoutTheAdminToken(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: []string{k("adm1")}})
	p := "/pools/" + e.pool
	routes := [][2]string{
		{"GET", "/pools"}, {"GET", p + "/keys"}, {"POST", p + "/keys"}, {"DELETE", p + "/keys"}, {"POST", p + "/keys/check"},
		{"POST", p + "/keys/reset"}, {"GET", p + "/keys/export"}, {"GET", p + "/settings"}, {"PATCH", p + "/settings"},
		{"GET", p + "/stats"}, {"GET", p + "/logs/errors"}, {"GET", p + "/logs/requests"}, {"GET", p + "/logs/errors/1"},
		{"DELETE", p + "/logs/errors"}, {"GET", "/nonexistent"},
	}
	for _, rt := range routes {
		for name, tok := range map[string]string{"no token": "", "client token": clientToken, "wrong token": "nope"} {
			status, body := e.admin(rt[0], rt[1], tok, `{"keys":["x"],"all":true}`)
			if status != http.StatusUnauthorized {
				t.Errorf("%s %s with %s: %d %s", rt[0], rt[1], name, status, body)
			}
			if strings.Contains(body, k("adm1")) {
				t.Errorf("%s %s leaked a key", rt[0], rt[1])
			}
		}
	}
	// The right token lists this pool.
	var pools []struct {
		Name string         `json:"name"`
		Keys keypool.Counts `json:"keys"`
	}
	e.adminJSON("GET", "/pools", "", 200, &pools)
	if len(pools) != 1 || pools[0].Name != e.pool || pools[0].Keys.Active != 1 {
		t.Errorf("pools %+v", pools)
	}
}

func TestAdminKeysLifecycle(t *testing.T) {
	e := newEnv(t)
	old, bad, added := k("lifeold"), k("lifebad"), k("lifeadded")
	e.up.SetKey(old, fakegemini.OK)
	e.up.SetKey(bad, fakegemini.Invalid)
	e.up.SetKey(added, fakegemini.OK)
	e.start(poolOpts{keys: []string{old, bad}})
	p := "/pools/" + e.pool
	e.do("POST", genPath, helloBody, authed...) // old
	e.do("POST", genPath, helloBody, authed...) // bad → invalid, retried on old

	var page struct {
		Keys []struct {
			ID, Key, Status, Reason, Source string
		} `json:"keys"`
		Total  int            `json:"total"`
		Counts keypool.Counts `json:"counts"`
	}
	body := e.adminJSON("GET", p+"/keys?status=invalid", "", 200, &page)
	if page.Total != 1 || page.Keys[0].Status != "invalid" || page.Keys[0].Key != bad[:6]+"…"+bad[len(bad)-4:] {
		t.Fatalf("invalid keys page %s", body)
	}
	if strings.Contains(body, bad) || strings.Contains(body, old) {
		t.Fatal("key list shows a whole key")
	}

	var res struct {
		Added, Duplicates int
		Rejected          []string
		Persisted         bool
	}
	e.adminJSON("POST", p+"/keys", fmt.Sprintf(`{"keys":[%q,%q,"not a key"]}`, added, old), 200, &res)
	if res.Added != 1 || res.Duplicates != 1 || len(res.Rejected) != 1 || !res.Persisted {
		t.Fatalf("add result %+v", res)
	}
	// Pasted text: keys are found by pattern.
	e.adminJSON("POST", p+"/keys", fmt.Sprintf(`{"text":"my keys: %s, %s and junk"}`, added, old), 200, &res)
	if res.Added != 0 || res.Duplicates != 2 {
		t.Fatalf("paste result %+v", res)
	}
	e.up.Reset()
	for i := 0; i < 4; i++ {
		e.do("POST", genPath, helloBody, authed...)
	}
	if count(e.up.KeysUsed(), added) == 0 {
		t.Errorf("added key not used: %v", e.up.KeysUsed())
	}

	// Export is the one place whole keys appear.
	var exp struct{ Keys []string }
	e.adminJSON("GET", p+"/keys/export", "", 200, &exp)
	if len(exp.Keys) != 3 {
		t.Errorf("export %v", exp.Keys)
	}

	// The invalid key is fixed upstream; a check brings it back.
	e.up.SetKey(bad, fakegemini.OK)
	var check struct {
		Checked, Valid int
	}
	e.adminJSON("POST", p+"/keys/check", "", 200, &check)
	if check.Checked != 1 || check.Valid != 1 || e.key(bad).Status() != keypool.Active {
		t.Errorf("check %+v, key %s", check, e.key(bad).Status())
	}

	// Delete by masked form.
	var del struct {
		Deleted       int
		FromCaddyfile int `json:"from_caddyfile"`
	}
	e.adminJSON("DELETE", p+"/keys", fmt.Sprintf(`{"keys":[%q]}`, added[:6]+"…"+added[len(added)-4:]), 200, &del)
	if del.Deleted != 1 || e.balancer().Ring().Len() != 2 {
		t.Errorf("delete %+v, %d keys left", del, e.balancer().Ring().Len())
	}
	// An admin key survives a reload; a deleted one stays deleted.
	e.adminJSON("POST", p+"/keys", fmt.Sprintf(`{"keys":[%q]}`, added), 200, &res)
	e.start(poolOpts{keys: []string{old, bad}, extra: "max_retries 2"})
	if e.balancer().Ring().Len() != 3 {
		t.Errorf("admin key lost on reload: %d keys", e.balancer().Ring().Len())
	}
}

func TestAdminSettingsPrecedenceAndLiveChanges(t *testing.T) {
	e := newEnv(t)
	key := k("setkey")
	e.up.SetKey(key, fakegemini.ServiceDisabled)
	e.start(poolOpts{keys: []string{key}, extra: "max_retries 1"})
	p := "/pools/" + e.pool
	var view map[string]struct {
		Value   any    `json:"value"`
		Default any    `json:"default"`
		Source  string `json:"source"`
	}
	e.adminJSON("GET", p+"/settings", "", 200, &view)
	if view["max_retries"].Source != "caddyfile" || view["max_failures"].Source != "default" || view["max_failures"].Value != 3.0 ||
		view["auth_token"].Value != true {
		t.Fatalf("settings view: %+v %+v %+v", view["max_retries"], view["max_failures"], view["auth_token"])
	}
	// The Caddyfile wins: 409.
	e.adminJSON("PATCH", p+"/settings", `{"max_retries": 5}`, 409, nil)
	// All valid or none applied: 400 with a message per field.
	var bad struct {
		Fields map[string]string
	}
	e.adminJSON("PATCH", p+"/settings", `{"max_failures": 1, "timeout": "soon", "nonsense": 1}`, 400, &bad)
	if bad.Fields["timeout"] == "" || bad.Fields["nonsense"] == "" || e.balancer().Settings().MaxFailures != 3 {
		t.Fatalf("partial apply or missing messages: %+v, max_failures %d", bad, e.balancer().Settings().MaxFailures)
	}
	// A valid change applies to the next request: one 403 now invalidates the key.
	e.adminJSON("PATCH", p+"/settings", `{"max_failures": 1}`, 200, nil)
	e.do("POST", genPath, helloBody, authed...)
	if e.key(key).Status() != keypool.Invalid {
		t.Fatal("max_failures 1 did not apply to the next request")
	}
	// It is stored: it survives a restart of the pool.
	other := newEnv(t)
	other.pool += "-other"
	other.start(poolOpts{keys: []string{k("otherset")}})
	eventually(t, 5*time.Second, "the pool to stop", func() bool { return e.balancer0() == nil })
	e.start(poolOpts{keys: []string{key}, extra: "max_retries 1"})
	e.adminJSON("GET", p+"/settings", "", 200, &view)
	if view["max_failures"].Source != "database" || view["max_failures"].Value != 1.0 {
		t.Errorf("after restart: %+v", view["max_failures"])
	}
	// caddy reload re-pins: an option removed from the Caddyfile becomes
	// editable, and one written again wins over the stored value.
	e.start(poolOpts{keys: []string{key}})
	e.adminJSON("GET", p+"/settings", "", 200, &view)
	if view["max_retries"].Source != "default" || view["max_retries"].Value != 3.0 {
		t.Errorf("after removing max_retries from the Caddyfile: %+v", view["max_retries"])
	}
	e.adminJSON("PATCH", p+"/settings", `{"max_retries": 2}`, 200, nil)
	e.start(poolOpts{keys: []string{key}, extra: "max_retries 1"})
	e.adminJSON("GET", p+"/settings", "", 200, &view)
	if view["max_retries"].Source != "caddyfile" || view["max_retries"].Value != 1.0 || e.balancer().Settings().MaxRetries != 1 {
		t.Errorf("after writing max_retries again: %+v", view["max_retries"])
	}
	// Options the Caddyfile does not set change live: the module's log level.
	e.adminJSON("PATCH", p+"/settings", `{"log_level": "debug"}`, 200, nil)
	if e.balancer().Settings().LogLevel != "debug" {
		t.Error("log_level not applied")
	}
}

// TestAdminSettingsMaskSecrets: the settings view shows no secret (tokens
// masked to "…" and at most 4 characters, proxy credentials as ***, header
// values masked, auth_token as set); a PATCH that sends masked forms back
// keeps the secrets they stand for; one that stands for nothing is refused.
func TestAdminSettingsMaskSecrets(t *testing.T) {
	e := newEnv(t)
	e.start(poolOpts{keys: []string{k("maskkey")}, extra: "header X-Relay-Auth relay-header-secret-e2e"})
	p := "/pools/" + e.pool
	body := e.adminJSON("GET", p+"/settings", "", 200, nil)
	for _, secret := range []string{clientToken, adminToken, "relay-header-secret-e2e"} {
		if strings.Contains(body, secret) {
			t.Fatalf("GET settings shows %q: %s", secret, body)
		}
	}
	var view map[string]struct {
		Value  any    `json:"value"`
		Source string `json:"source"`
		Masked bool   `json:"masked"`
	}
	if err := json.Unmarshal([]byte(body), &view); err != nil {
		t.Fatal(err)
	}
	if tokens := view["allowed_tokens"].Value.([]any); len(tokens) != 1 || tokens[0] != "…0001" || !view["allowed_tokens"].Masked {
		t.Errorf("allowed_tokens shown as %v", tokens)
	}
	if h := view["headers"].Value.(map[string]any); h["X-Relay-Auth"] != "…-e2e" || view["headers"].Source != "caddyfile" {
		t.Errorf("headers shown as %v (%s)", h, view["headers"].Source)
	}
	// Proxies with credentials, set through the API, come back masked; the
	// masked form sent back keeps the credentials.
	const proxy = "http://puser:proxy-pass-e2e@127.0.0.1:9"
	e.adminJSON("PATCH", p+"/settings", `{"proxies": ["`+proxy+`"]}`, 200, nil)
	body = e.adminJSON("PATCH", p+"/settings", `{"proxies": ["http://***@127.0.0.1:9", "socks5://127.0.0.1:8"]}`, 200, nil)
	if strings.Contains(body, "proxy-pass-e2e") || strings.Contains(body, "puser") || !strings.Contains(body, `"http://***@127.0.0.1:9"`) {
		t.Errorf("PATCH answer: %s", body)
	}
	if got := e.balancer().Settings().Proxies; len(got) != 2 || got[0] != proxy {
		t.Errorf("proxies in force: %q", got)
	}
	e.adminJSON("PATCH", p+"/settings", `{"proxies": ["http://***@10.1.1.1:9"]}`, 400, nil)
	e.adminJSON("PATCH", p+"/settings", `{"proxies": []}`, 200, nil)
	// This Caddyfile pins allowed_tokens and auth_token, so a PATCH of either
	// answers 409 before any rule is asked (the rule's 400 is tested in
	// internal/adminapi and internal/balancer).
	body = e.adminJSON("PATCH", p+"/settings", `{"allowed_tokens": ["…0001", "`+adminToken+`"]}`, 409, nil)
	if strings.Contains(body, adminToken) {
		t.Errorf("409 answer shows the auth_token: %s", body)
	}
}

func TestAdminStatsAndLogs(t *testing.T) {
	e := newEnv(t)
	good, bad := k("statgood"), k("statbad")
	e.up.SetKey(good, fakegemini.OK)
	e.up.SetKey(bad, fakegemini.Suspended)
	e.start(poolOpts{keys: []string{good, bad}, extra: "record_request_body on"})
	p := "/pools/" + e.pool
	for i := 0; i < 4; i++ {
		e.do("POST", genPath, helloBody, authed...)
	}
	if err := e.balancer().Store().Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var stats struct {
		Minute struct{ Total, Success, Failure int64 }
		Keys   keypool.Counts `json:"keys"`
	}
	body := e.adminJSON("GET", p+"/stats", "", 200, &stats)
	if stats.Minute.Total != 5 || stats.Minute.Failure != 1 || stats.Keys.Invalid != 1 {
		t.Errorf("stats %s", body)
	}
	var logs struct {
		Logs []struct {
			ID          int64
			Status      int
			Body        string
			RequestBody string `json:"request_body"`
		}
		Total int64
	}
	body = e.adminJSON("GET", p+"/logs/errors?status=403", "", 200, &logs)
	if logs.Total != 1 || !strings.Contains(logs.Logs[0].Body, "suspended") || strings.Contains(body, bad) {
		t.Fatalf("error logs %s", body)
	}
	// The recorded body is what went upstream (here with the default safety settings added).
	if !strings.HasSuffix(logs.Logs[0].RequestBody, helloBody[1:]) {
		t.Errorf("request body not recorded: %q", logs.Logs[0].RequestBody)
	}
	e.adminJSON("GET", fmt.Sprintf("%s/logs/errors/%d", p, logs.Logs[0].ID), "", 200, nil)
	e.adminJSON("GET", p+"/logs/errors/999999", "", 404, nil)
	var reqs struct{ Total int64 }
	e.adminJSON("GET", p+"/logs/requests?limit=2", "", 200, &reqs)
	if reqs.Total != 5 {
		t.Errorf("request logs total %d", reqs.Total)
	}
	e.adminJSON("DELETE", p+"/logs/errors", `{"all": true}`, 200, nil)
	e.adminJSON("GET", p+"/logs/errors", "", 200, &logs)
	if logs.Total != 0 {
		t.Errorf("errors left after delete all: %d", logs.Total)
	}
}

func TestRecheckBringsKeysBack(t *testing.T) {
	e := newEnv(t)
	key := k("recheck")
	e.up.SetKey(key, fakegemini.Invalid)
	e.start(poolOpts{keys: []string{key}, check: "-"}) // check_interval from the database
	e.do("POST", genPath, helloBody, authed...)
	if e.key(key).Status() != keypool.Invalid {
		t.Fatal("setup: key not invalid")
	}
	e.up.SetKey(key, fakegemini.OK)
	e.adminJSON("PATCH", "/pools/"+e.pool+"/settings", `{"check_interval": "200ms"}`, 200, nil)
	eventually(t, 5*time.Second, "the re-check to bring the key back", func() bool { return e.key(key).Status() == keypool.Active })
	probe := e.up.Requests()[len(e.up.Requests())-1]
	if probe.Method != "GET" || !strings.HasSuffix(probe.Path, "/models/gemini-2.5-flash-lite") {
		t.Errorf("re-check probe was %s %s, want a GET of the test model", probe.Method, probe.Path)
	}
}
