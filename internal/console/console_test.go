package console

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/adminapi"
	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/provider"
	"github.com/gemini-balance/gemini_balance/internal/secret"
	"github.com/gemini-balance/gemini_balance/internal/settings"
)

const (
	prefix      = "/admin"
	adminToken  = "admin-secret"
	clientToken = "client-tok"
)

// testKeys look like Google API keys: AIza + 35 characters.
var testKeys = []string{
	"AIzaSyA0000000000000000000000000000000a",
	"AIzaSyB1111111111111111111111111111111b",
	"AIzaSyC2222222222222222222222222222222c",
}

type env struct {
	t   *testing.T
	b   *balancer.Balancer
	c   *Console
	srv *httptest.Server
}

// poolName gives every test its own pool, so the package-level sessions and
// login failures of one test never meet another's.
func poolName(t *testing.T) string {
	return "t-" + regexp.MustCompile(`[^a-zA-Z0-9]+`).ReplaceAllString(t.Name(), "-")
}

type options struct {
	authToken  string
	lockedAuth bool
	tls        bool
	settings   func(*settings.Settings) // changes the pool's settings before it opens
	imageDir   string                   // the pool's image store; "" leaves it off
}

func setup(t *testing.T, o options) *env {
	t.Helper()
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"name": "models/gemini-2.5-flash-lite"}`)
	}))
	t.Cleanup(upstream.Close)
	s := settings.Defaults()
	s.AuthToken = o.authToken
	s.AllowedTokens = []string{clientToken}
	s.BaseURL = upstream.URL + "/v1beta"
	if o.settings != nil {
		o.settings(&s)
	}
	locked := map[string]bool{}
	if o.lockedAuth {
		locked["auth_token"] = true
	}
	b, err := balancer.Open(balancer.Config{Name: poolName(t), DatabasePath: t.TempDir() + "/db", Keys: testKeys,
		Settings: s, Locked: locked, ImageDir: o.imageDir}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	// As caddymodule mounts it: the console manages its pool's chain.
	api := adminapi.New(func(*http.Request) []*balancer.Balancer { return b.Chain() })
	c := New(prefix, b, api, nil)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !c.Serve(w, r) {
			http.Error(w, "fell through", http.StatusTeapot)
		}
	})
	var srv *httptest.Server
	if o.tls {
		srv = httptest.NewTLSServer(h)
	} else {
		srv = httptest.NewServer(h)
	}
	t.Cleanup(srv.Close)
	return &env{t: t, b: b, c: c, srv: srv}
}

func defaultSetup(t *testing.T) *env {
	return setup(t, options{authToken: adminToken, lockedAuth: true})
}

func (e *env) client() *http.Client {
	c := e.srv.Client()
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return c
}

type req struct {
	method, path, body string
	header             http.Header
	cookies            []*http.Cookie
}

func (e *env) do(r req) (*http.Response, string) {
	e.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr, err := http.NewRequest(r.method, e.srv.URL+r.path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range r.header {
		hr.Header[k] = v
	}
	if r.body != "" && hr.Header.Get("Content-Type") == "" {
		hr.Header.Set("Content-Type", "application/json")
	}
	for _, c := range r.cookies {
		hr.AddCookie(c)
	}
	resp, err := e.client().Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func (e *env) postForm(path string, form url.Values, header http.Header) (*http.Response, string) {
	if header == nil {
		header = http.Header{}
	}
	header.Set("Content-Type", "application/x-www-form-urlencoded")
	return e.do(req{method: "POST", path: path, body: form.Encode(), header: header})
}

// login logs in and returns the session cookie and the page's CSRF token.
func (e *env) login(token string) (*http.Cookie, string) {
	e.t.Helper()
	resp, body := e.postForm(prefix+"/login", url.Values{"auth_token": {token}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		e.t.Fatalf("login: %d %s", resp.StatusCode, body)
	}
	var ck *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			ck = c
		}
	}
	if ck == nil || ck.Value == "" {
		e.t.Fatal("login set no session cookie")
	}
	return ck, e.csrf(ck)
}

var csrfMeta = regexp.MustCompile(`<meta name="csrf-token" content="([0-9a-f]+)">`)

func (e *env) csrf(ck *http.Cookie) string {
	e.t.Helper()
	resp, body := e.do(req{method: "GET", path: prefix + "/", cookies: []*http.Cookie{ck}})
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("dashboard: %d", resp.StatusCode)
	}
	m := csrfMeta.FindStringSubmatch(body)
	if m == nil {
		e.t.Fatal("no csrf-token meta in the dashboard")
	}
	return m[1]
}

func (e *env) api(path string) string { return prefix + "/api/pools/" + e.b.Name() + path }

type route struct {
	method, path, body string
	page               bool // an HTML page: a redirect to the login page is a refusal too
}

// routes lists every console route with every method it answers.
func (e *env) routes() []route {
	rs := []route{
		{method: "GET", path: prefix, page: true},
		{method: "GET", path: prefix + "/", page: true},
		{method: "GET", path: prefix + "/keys", page: true},
		{method: "GET", path: prefix + "/settings", page: true},
		{method: "GET", path: prefix + "/logs", page: true},
		{method: "GET", path: prefix + "/providers", page: true},
		{method: "GET", path: prefix + "/images", page: true},
		{method: "HEAD", path: prefix + "/logs", page: true},
		{method: "GET", path: prefix + "/no-such-page", page: true},
		{method: "POST", path: prefix + "/keys"},
		{method: "POST", path: prefix + "/logout"},
		{method: "GET", path: prefix + "/api/pools"},
		{method: "GET", path: prefix + "/api/pools/other/keys"},
	}
	api := []route{
		{method: "GET", path: "/keys"},
		{method: "GET", path: "/keys?status=invalid&q=AIza&page=1&limit=10"},
		{method: "POST", path: "/keys", body: `{"text": "AIzaSyD3333333333333333333333333333333d"}`},
		{method: "DELETE", path: "/keys", body: `{"keys": ["` + testKeys[0] + `"]}`},
		{method: "POST", path: "/keys/check", body: `{}`},
		{method: "POST", path: "/keys/reset", body: `{}`},
		{method: "GET", path: "/keys/export"},
		{method: "GET", path: "/keys/export?format=text"},
		{method: "GET", path: "/settings"},
		{method: "PATCH", path: "/settings", body: `{"max_retries": 1}`},
		{method: "GET", path: "/stats"},
		{method: "GET", path: "/logs/errors"},
		{method: "GET", path: "/logs/requests?sort=-time&page=1&limit=20"},
		{method: "GET", path: "/logs/errors/1"},
		{method: "DELETE", path: "/logs/errors", body: `{"all": true}`},
		{method: "DELETE", path: "/logs/requests", body: `{"ids": [1]}`},
		{method: "GET", path: "/health"},
		{method: "POST", path: "/test", body: `{}`},
		{method: "GET", path: "/images?offset=0&limit=10"},
		{method: "DELETE", path: "/images", body: `{"ids": ["00000000000000000000000000000000"]}`},
	}
	for _, r := range api {
		r.path = e.api(r.path)
		rs = append(rs, r)
	}
	return rs
}

func TestEveryRouteRefusesWithoutASession(t *testing.T) {
	e := defaultSetup(t)
	liveCookie, _ := e.login(adminToken)
	expiredID, _ := e.c.state.create(hashString(adminToken), time.Now().Add(-sessionTTL-time.Minute))
	otherTokenID, _ := e.c.state.create(hashString("an-older-token"), time.Now())

	type creds struct {
		name    string
		header  http.Header
		cookies []*http.Cookie
		query   string
		changes bool // only for state-changing methods
	}
	variants := []creds{
		{name: "nothing"},
		{name: "client token as cookie", cookies: []*http.Cookie{{Name: cookieName, Value: clientToken}}},
		{name: "client token as Bearer", header: http.Header{"Authorization": {"Bearer " + clientToken}}},
		{name: "client token as ?key=", query: "key=" + clientToken},
		{name: "client token as x-goog-api-key", header: http.Header{"X-Goog-Api-Key": {clientToken}}},
		{name: "auth_token as Bearer (the console wants a session)", header: http.Header{"Authorization": {"Bearer " + adminToken}}},
		{name: "auth_token as cookie", cookies: []*http.Cookie{{Name: cookieName, Value: adminToken}}},
		{name: "wrong session", cookies: []*http.Cookie{{Name: cookieName, Value: randomHex(32)}}},
		{name: "expired session", cookies: []*http.Cookie{{Name: cookieName, Value: expiredID}}},
		{name: "session of an older auth_token", cookies: []*http.Cookie{{Name: cookieName, Value: otherTokenID}}},
		{name: "session without CSRF token", cookies: []*http.Cookie{liveCookie}, changes: true},
		{name: "session with a wrong CSRF token", cookies: []*http.Cookie{liveCookie}, changes: true,
			header: http.Header{csrfHeader: {randomHex(32)}}},
		{name: "session, CSRF token of another session", cookies: []*http.Cookie{liveCookie}, changes: true,
			header: http.Header{csrfHeader: {"0"}}},
	}
	keysBefore := e.b.Ring().Len()
	for _, v := range variants {
		for _, r := range e.routes() {
			if v.changes && (r.method == "GET" || r.method == "HEAD") {
				continue
			}
			t.Run(v.name+"/"+r.method+" "+r.path, func(t *testing.T) {
				path := r.path
				if v.query != "" {
					if strings.Contains(path, "?") {
						path += "&" + v.query
					} else {
						path += "?" + v.query
					}
				}
				header := http.Header{}
				for k, vals := range v.header {
					header[k] = vals
				}
				resp, body := e.do(req{method: r.method, path: path, body: r.body, header: header, cookies: v.cookies})
				switch {
				case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
				case r.page && (resp.StatusCode == http.StatusSeeOther || resp.StatusCode == http.StatusFound):
					loc := resp.Header.Get("Location")
					if loc != prefix+"/" && !strings.HasPrefix(loc, prefix+"/login") {
						t.Fatalf("redirect to %q, want the login page", loc)
					}
				default:
					t.Fatalf("answered %d, want a refusal: %s", resp.StatusCode, body)
				}
				if strings.Contains(body, "csrf-token") {
					t.Fatal("a refused request got a page with a CSRF token")
				}
				for _, k := range testKeys {
					if strings.Contains(body, k) || strings.Contains(body, secret.Mask(k)) {
						t.Fatal("a refused request saw a key")
					}
				}
				if strings.HasPrefix(r.path, prefix+"/api/") && resp.StatusCode != http.StatusFound {
					var v struct{ Error string }
					if err := json.Unmarshal([]byte(body), &v); err != nil || v.Error == "" {
						t.Fatalf("API refusal is not {\"error\": ...}: %s", body)
					}
				}
			})
		}
	}
	if n := e.b.Ring().Len(); n != keysBefore {
		t.Fatalf("refused requests changed the pool: %d keys, had %d", n, keysBefore)
	}
	if e.b.Settings().MaxRetries != settings.Defaults().MaxRetries {
		t.Fatal("a refused PATCH changed a setting")
	}
}

func TestCrossOriginChangesAreRefused(t *testing.T) {
	e := defaultSetup(t)
	ck, tok := e.login(adminToken)
	patch := func(h http.Header) int {
		h.Set(csrfHeader, tok)
		resp, _ := e.do(req{method: "PATCH", path: e.api("/settings"), body: `{"max_retries": 2}`, header: h, cookies: []*http.Cookie{ck}})
		return resp.StatusCode
	}
	if s := patch(http.Header{"Origin": {"https://evil.example"}}); s != http.StatusForbidden {
		t.Fatalf("foreign Origin: %d, want 403", s)
	}
	if s := patch(http.Header{"Origin": {"null"}}); s != http.StatusForbidden {
		t.Fatalf("Origin null: %d, want 403", s)
	}
	if s := patch(http.Header{"Sec-Fetch-Site": {"cross-site"}}); s != http.StatusForbidden {
		t.Fatalf("Sec-Fetch-Site cross-site: %d, want 403", s)
	}
	if e.b.Settings().MaxRetries == 2 {
		t.Fatal("a cross-origin PATCH changed a setting")
	}
	if s := patch(http.Header{"Origin": {e.srv.URL}, "Sec-Fetch-Site": {"same-origin"}}); s != http.StatusOK {
		t.Fatalf("same origin with CSRF token: %d, want 200", s)
	}
	if e.b.Settings().MaxRetries != 2 {
		t.Fatal("the PATCH did not apply")
	}
}

func TestLoginLogout(t *testing.T) {
	e := defaultSetup(t)

	resp, body := e.do(req{method: "GET", path: prefix + "/login"})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `name="auth_token"`) {
		t.Fatalf("login page: %d %s", resp.StatusCode, body)
	}
	if strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors") || resp.Header.Get("X-Frame-Options") != "" {
		t.Fatal("the login page must be frameable, so it can say it is framed")
	}
	if !strings.Contains(body, "inside another site") || !strings.Contains(body, `target="_blank"`) || !strings.Contains(body, `id="framed"`) {
		t.Fatal("the login page lacks the framed-login message and its own-tab link")
	}
	js := string(embedded.byName[strings.TrimPrefix(embedded.url("", "login.js"), "/assets/")].body)
	if !strings.Contains(js, "window.top !== window.self") {
		t.Fatal("login.js does not detect a frame")
	}
	checkHTMLHeaders(t, resp, true)

	resp, body = e.postForm(prefix+"/login", url.Values{"auth_token": {"wrong"}}, nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Wrong auth_token") || !strings.Contains(body, `name="auth_token"`) {
		t.Fatalf("wrong token: %d %s", resp.StatusCode, body)
	}
	resp, _ = e.postForm(prefix+"/login", url.Values{"auth_token": {clientToken}}, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("a client token logged in: %d", resp.StatusCode)
	}

	resp, _ = e.postForm(prefix+"/login", url.Values{"auth_token": {adminToken}, "next": {"/keys?status=invalid"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != prefix+"/keys?status=invalid" {
		t.Fatalf("login: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	setCookie := resp.Header.Get("Set-Cookie")
	for _, want := range []string{cookieName + "=", "Path=" + prefix, "Max-Age=43200", "HttpOnly", "SameSite=Strict"} {
		if !strings.Contains(setCookie, want) {
			t.Fatalf("cookie %q lacks %q", setCookie, want)
		}
	}
	if strings.Contains(setCookie, "Secure") {
		t.Fatal("Secure cookie over plain HTTP")
	}
	ck := resp.Cookies()[0]
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(ck.Value) {
		t.Fatalf("session id %q is not 32 random bytes in hex", ck.Value)
	}

	for _, p := range []string{"/", "/keys", "/settings", "/logs"} {
		resp, body = e.do(req{method: "GET", path: prefix + p, cookies: []*http.Cookie{ck}})
		if resp.StatusCode != http.StatusOK || !csrfMeta.MatchString(body) {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
		checkHTMLHeaders(t, resp, false)
		for _, a := range []string{"app.css", "i18n.js", "core.js"} {
			if !strings.Contains(body, embedded.url(prefix, a)) {
				t.Fatalf("%s does not refer to the fingerprinted %s", p, a)
			}
		}
	}
	// the login page of a logged-in browser goes on to the console
	resp, _ = e.do(req{method: "GET", path: prefix + "/login?next=//evil.example/x", cookies: []*http.Cookie{ck}})
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != prefix+"/" {
		t.Fatalf("logged-in login page: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	tok := e.csrf(ck)
	resp, body = e.do(req{method: "GET", path: e.api("/keys"), cookies: []*http.Cookie{ck}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"total":3`) {
		t.Fatalf("keys with a session: %d %s", resp.StatusCode, body)
	}
	resp, body = e.do(req{method: "PATCH", path: e.api("/settings"), body: `{"timeout": "90s"}`,
		header: http.Header{csrfHeader: {tok}}, cookies: []*http.Cookie{ck}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"changed":["timeout"]`) {
		t.Fatalf("PATCH with session and CSRF: %d %s", resp.StatusCode, body)
	}

	// logout needs the CSRF token
	resp, _ = e.do(req{method: "POST", path: prefix + "/logout", cookies: []*http.Cookie{ck}})
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("logout without CSRF: %d", resp.StatusCode)
	}
	resp, _ = e.do(req{method: "POST", path: prefix + "/logout", header: http.Header{csrfHeader: {tok}}, cookies: []*http.Cookie{ck}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(resp.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Fatalf("logout: %d, Set-Cookie %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
	resp, _ = e.do(req{method: "GET", path: e.api("/keys"), cookies: []*http.Cookie{ck}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("API after logout: %d", resp.StatusCode)
	}
	resp, _ = e.do(req{method: "GET", path: prefix + "/keys", cookies: []*http.Cookie{ck}})
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), prefix+"/login") {
		t.Fatalf("page after logout: %d", resp.StatusCode)
	}
}

func checkHTMLHeaders(t *testing.T, resp *http.Response, login bool) {
	t.Helper()
	h := resp.Header
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self' 'nonce-", "style-src 'self'", "object-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Fatalf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Fatalf("CSP %q allows inline code", csp)
	}
	if !login && (!strings.Contains(csp, "frame-ancestors 'none'") || h.Get("X-Frame-Options") != "DENY") {
		t.Fatalf("page may be framed: CSP %q, X-Frame-Options %q", csp, h.Get("X-Frame-Options"))
	}
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "Cache-Control": "no-store"} {
		if h.Get(k) != v {
			t.Fatalf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
	if !strings.HasPrefix(h.Get("Content-Type"), "text/html") {
		t.Fatalf("Content-Type %q", h.Get("Content-Type"))
	}
}

func TestSecureCookieUnderTLS(t *testing.T) {
	e := setup(t, options{authToken: adminToken, lockedAuth: true, tls: true})
	resp, _ := e.postForm(prefix+"/login", url.Values{"auth_token": {adminToken}}, nil)
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(resp.Header.Get("Set-Cookie"), "; Secure") {
		t.Fatalf("login under TLS: %d, Set-Cookie %q", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
}

func TestLoginRateLimit(t *testing.T) {
	e := defaultSetup(t)
	for i := 1; i <= loginMaxFailures; i++ {
		resp, _ := e.postForm(prefix+"/login", url.Values{"auth_token": {"guess-" + strconv.Itoa(i)}}, nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, resp.StatusCode)
		}
	}
	resp, body := e.postForm(prefix+"/login", url.Values{"auth_token": {"guess-6"}}, nil)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed logins") {
		t.Fatalf("6th failure: %d %s", resp.StatusCode, body)
	}
	ra, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || ra < 1 || ra > int(loginWindow/time.Second) {
		t.Fatalf("Retry-After %q", resp.Header.Get("Retry-After"))
	}
	// while locked out, even the right token is refused (it would tell a guesser it found it)
	resp, _ = e.postForm(prefix+"/login", url.Values{"auth_token": {adminToken}}, nil)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("right token while locked out: %d", resp.StatusCode)
	}
	// another address is not locked out
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("POST", prefix+"/login", strings.NewReader("auth_token="+adminToken))
	r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	r.RemoteAddr = "192.0.2.7:4321"
	e.c.Serve(rec, r)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("another address: %d", rec.Code)
	}
	// the lock ends when the failures leave the window
	e.c.now = func() time.Time { return time.Now().Add(loginWindow + time.Second) }
	resp, _ = e.postForm(prefix+"/login", url.Values{"auth_token": {adminToken}}, nil)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after the window: %d", resp.StatusCode)
	}
}

func TestNoAuthTokenClosesTheConsole(t *testing.T) {
	e := setup(t, options{})
	for _, p := range []string{"/", "/keys", "/login"} {
		resp, body := e.do(req{method: "GET", path: prefix + p})
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "auth_token") || strings.Contains(body, `name="auth_token"`) {
			t.Fatalf("%s: %d %s", p, resp.StatusCode, body)
		}
	}
	resp, _ := e.postForm(prefix+"/login", url.Values{"auth_token": {""}}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("login without auth_token: %d", resp.StatusCode)
	}
	resp, body := e.do(req{method: "GET", path: e.api("/keys")})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `"error"`) {
		t.Fatalf("API: %d %s", resp.StatusCode, body)
	}
}

func TestSessionDiesWhenAuthTokenChanges(t *testing.T) {
	e := setup(t, options{authToken: adminToken})
	ck, _ := e.login(adminToken)
	resp, _ := e.do(req{method: "GET", path: e.api("/keys"), cookies: []*http.Cookie{ck}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("before the change: %d", resp.StatusCode)
	}
	if _, err := e.b.PatchSettings(context.Background(), map[string]json.RawMessage{"auth_token": json.RawMessage(`"a-new-token"`)}); err != nil {
		t.Fatal(err)
	}
	resp, _ = e.do(req{method: "GET", path: e.api("/keys"), cookies: []*http.Cookie{ck}})
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("after the change: %d", resp.StatusCode)
	}
	resp, _ = e.postForm(prefix+"/login", url.Values{"auth_token": {adminToken}}, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("old token: %d", resp.StatusCode)
	}
	ck, _ = e.login("a-new-token")
	resp, _ = e.do(req{method: "GET", path: e.api("/keys"), cookies: []*http.Cookie{ck}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("new session: %d", resp.StatusCode)
	}
}

func TestSessionsSurviveAReload(t *testing.T) {
	e := defaultSetup(t)
	ck, _ := e.login(adminToken)
	// a config reload builds a new Console for the same pool
	e.c = New(prefix+"/", e.b, adminapi.New(func(*http.Request) []*balancer.Balancer { return []*balancer.Balancer{e.b} }), nil)
	rec := httptest.NewRecorder()
	r := httptest.NewRequest("GET", e.api("/keys"), nil)
	r.AddCookie(ck)
	if !e.c.Serve(rec, r) || rec.Code != http.StatusOK {
		t.Fatalf("after a reload: %d", rec.Code)
	}
}

// TestConsoleServesOnlyItsChain: the console lists and manages its own pool
// and the pools it falls back to, and no other pool.
func TestConsoleServesOnlyItsChain(t *testing.T) {
	e := defaultSetup(t)
	fb, err := balancer.Open(balancer.Config{Name: poolName(t) + "-fb", Keys: []string{"sk-fallback-0000000000000000000001"},
		Settings: settings.DefaultsFor(provider.OpenAI), Provider: provider.OpenAI}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fb.Close() })
	ck, _ := e.login(adminToken)
	get := func(p string) (int, string) {
		resp, body := e.do(req{method: "GET", path: p, cookies: []*http.Cookie{ck}})
		return resp.StatusCode, body
	}
	for _, p := range []string{prefix + "/api/pools/" + fb.Name() + "/keys", prefix + "/api/pools/other/keys", prefix + "/api/", prefix + "/api"} {
		if status, body := get(p); status != http.StatusNotFound || !strings.Contains(body, `"error"`) {
			t.Fatalf("before the fallback is set, %s: %d %s", p, status, body)
		}
	}
	e.b.SetFallbacks([]*balancer.Balancer{fb})

	status, body := get(prefix + "/api/pools")
	var list []adminapi.PoolSummary
	if status != http.StatusOK || json.Unmarshal([]byte(body), &list) != nil || len(list) != 2 {
		t.Fatalf("pool list: %d %s", status, body)
	}
	for _, p := range list {
		if p.Name == e.b.Name() && (p.Provider != "gemini" || !slices.Equal(p.Chain, []string{e.b.Name(), fb.Name()})) {
			t.Errorf("own pool: %+v", p)
		}
		if p.Name == fb.Name() && p.Provider != "openai" {
			t.Errorf("fallback pool: %+v", p)
		}
	}
	if status, body := get(prefix + "/api/pools/" + fb.Name() + "/keys"); status != http.StatusOK || !strings.Contains(body, `"total":1`) {
		t.Errorf("the fallback's keys: %d %s", status, body)
	}
	for _, p := range []string{prefix + "/api/pools/other/keys", prefix + "/api/pools/other", prefix + "/api/", prefix + "/api"} {
		if status, body := get(p); status != http.StatusNotFound || !strings.Contains(body, `"error"`) {
			t.Errorf("%s: %d %s", p, status, body)
		}
	}

	// A page names the pool it manages; the nav keeps it.
	status, body = get(prefix + "/keys?pool=" + fb.Name())
	if status != http.StatusOK || !strings.Contains(body, `<meta name="gb-pool" content="`+fb.Name()+`">`) ||
		!strings.Contains(body, `<meta name="gb-provider" content="openai">`) ||
		!strings.Contains(body, `href="/admin/settings?pool=`+fb.Name()+`"`) {
		t.Errorf("keys page of the fallback: %d\n%s", status, body)
	}
	status, body = get(prefix + "/keys?pool=other")
	if status != http.StatusOK || !strings.Contains(body, `<meta name="gb-pool" content="`+e.b.Name()+`">`) ||
		!strings.Contains(body, `<meta name="gb-provider" content="gemini">`) {
		t.Errorf("keys page of an unknown pool shows the console's own: %d\n%s", status, body)
	}
	status, body = get(prefix + "/providers")
	if status != http.StatusOK || !strings.Contains(body, `aria-current="page" data-i18n="nav.providers"`) || !strings.Contains(body, "providers.") {
		t.Errorf("providers page: %d\n%s", status, body)
	}
}

func TestServeLeavesOtherPaths(t *testing.T) {
	e := defaultSetup(t)
	for _, p := range []string{"/", "/administrator", "/v1beta/models", "/health", "/adminx/keys"} {
		rec := httptest.NewRecorder()
		if e.c.Serve(rec, httptest.NewRequest("GET", p, nil)) {
			t.Fatalf("%s was served by the console", p)
		}
	}
	resp, _ := e.do(req{method: "GET", path: prefix})
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != prefix+"/" {
		t.Fatalf("%s: %d to %q", prefix, resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestFingerprint(t *testing.T) {
	a := fingerprint("app.css", []byte("body{color:red}"))
	b := fingerprint("app.css", []byte("body{color:blue}"))
	if a == b {
		t.Fatal("a changed file kept its name")
	}
	if a != fingerprint("app.css", []byte("body{color:red}")) {
		t.Fatal("the same content got another name")
	}
	if !regexp.MustCompile(`^app\.[0-9a-f]{10}\.css$`).MatchString(a) {
		t.Fatalf("name %q is not app.<10 hex>.css", a)
	}
	if n := fingerprint("i18n.js", nil); !regexp.MustCompile(`^i18n\.[0-9a-f]{10}\.js$`).MatchString(n) {
		t.Fatalf("name %q", n)
	}
}

func TestAssetsAreImmutable(t *testing.T) {
	e := defaultSetup(t)
	if len(embedded.hashed) < 8 {
		t.Fatalf("only %d assets", len(embedded.hashed))
	}
	for name := range embedded.hashed {
		resp, body := e.do(req{method: "GET", path: embedded.url(prefix, name)})
		if resp.StatusCode != http.StatusOK || body == "" {
			t.Fatalf("%s: %d", name, resp.StatusCode)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Fatalf("%s: Cache-Control %q", name, cc)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Content-Type") == "" {
			t.Fatalf("%s: headers %v", name, resp.Header)
		}
	}
	for _, p := range []string{"/assets/app.css", "/assets/app.0000000000.css", "/assets/", "/assets/../console.go"} {
		resp, _ := e.do(req{method: "GET", path: prefix + p})
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("%s: %d, want 404", p, resp.StatusCode)
		}
		if strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
			t.Fatalf("%s: a 404 is cached for ever", p)
		}
	}
}

// TestNoFullKeyOutsideExport uses every route with a session and scans every
// answer for the pool's keys: only the export may hold them.
func TestNoFullKeyOutsideExport(t *testing.T) {
	e := defaultSetup(t)
	ck, tok := e.login(adminToken)
	added := "AIzaSyE4444444444444444444444444444444e"
	keys := append([]string{added}, testKeys...)
	var bodies []string
	check := func(name, body string) {
		t.Helper()
		for _, k := range keys {
			if strings.Contains(body, k) {
				t.Fatalf("%s shows the full key %s", name, k)
			}
		}
		bodies = append(bodies, body)
	}
	resp, body := e.do(req{method: "POST", path: e.api("/keys"), body: `{"text": "here: ` + added + ` and ` + testKeys[0] + `"}`,
		header: http.Header{csrfHeader: {tok}}, cookies: []*http.Cookie{ck}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"added":1`) || !strings.Contains(body, `"duplicates":1`) {
		t.Fatalf("add: %d %s", resp.StatusCode, body)
	}
	check("add", body)
	for _, r := range e.routes() {
		if strings.HasSuffix(r.path, "/export") || strings.Contains(r.path, "/export?") || strings.HasSuffix(r.path, "/logout") ||
			(r.method == "DELETE" && strings.HasSuffix(r.path, "/keys")) {
			continue
		}
		resp, body := e.do(req{method: r.method, path: r.path, body: r.body, header: http.Header{csrfHeader: {tok}}, cookies: []*http.Cookie{ck}})
		if resp.StatusCode >= 500 {
			t.Fatalf("%s %s: %d %s", r.method, r.path, resp.StatusCode, body)
		}
		check(r.method+" "+r.path, body)
	}
	for _, p := range []string{"/login", "/nope"} {
		_, body := e.do(req{method: "GET", path: prefix + p})
		check(p, body)
	}
	for name := range embedded.hashed {
		_, body := e.do(req{method: "GET", path: embedded.url(prefix, name)})
		check(name, body)
	}
	resp, body = e.do(req{method: "GET", path: e.api("/keys/export?format=text"), cookies: []*http.Cookie{ck}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("export: %d", resp.StatusCode)
	}
	for _, k := range keys {
		if !strings.Contains(body, k) {
			t.Fatalf("export lacks %s", k)
		}
	}
	// export is a GET: a plain download link works without a CSRF token
	if !strings.Contains(resp.Header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export is not a download: %q", resp.Header.Get("Content-Disposition"))
	}
}

var dictEntry = regexp.MustCompile(`(?m)^\s*'([^']+)':\s*\[\s*'((?:[^'\\]|\\.)*)',\s*'((?:[^'\\]|\\.)*)'\s*\],?\s*$`)

// TestEveryStringInBothLanguages reads the one dictionary and checks that
// every key the templates name is there in English and Chinese, and that the
// English the server renders before the script runs is the dictionary's.
func TestEveryStringInBothLanguages(t *testing.T) {
	js, err := files.ReadFile("assets/i18n.js")
	if err != nil {
		t.Fatal(err)
	}
	dict := map[string][2]string{}
	for _, m := range dictEntry.FindAllStringSubmatch(string(js), -1) {
		if m[2] == "" || m[3] == "" {
			t.Fatalf("%s lacks a language", m[1])
		}
		dict[m[1]] = [2]string{strings.ReplaceAll(m[2], `\'`, "'"), m[3]}
	}
	entries := regexp.MustCompile(`(?m)^\s*'[^']+':\s*\[`).FindAllString(string(js), -1)
	if len(dict) != len(entries) || len(dict) < 100 {
		t.Fatalf("read %d of %d dictionary entries", len(dict), len(entries))
	}
	attr := regexp.MustCompile(`data-i18n(?:-[a-z-]+)?="([^"{]+)"`)
	for _, name := range templateFiles() {
		b, _ := files.ReadFile(name)
		for _, m := range attr.FindAllStringSubmatch(string(b), -1) {
			if _, ok := dict[m[1]]; !ok {
				t.Errorf("%s: %q is not in the dictionary", name, m[1])
			}
		}
	}
	// the scripts' keys
	call := regexp.MustCompile(`\b(?:t|GB\.t)\('([a-zA-Z0-9_.]+)'`)
	for name := range embedded.hashed {
		if !strings.HasSuffix(name, ".js") || name == "i18n.js" {
			continue
		}
		b, _ := files.ReadFile("assets/" + name)
		for _, m := range call.FindAllStringSubmatch(string(b), -1) {
			if strings.HasSuffix(m[1], ".") {
				continue // a prefix completed at run time, e.g. 'status.' + status
			}
			if _, ok := dict[m[1]]; !ok {
				t.Errorf("%s: %q is not in the dictionary", name, m[1])
			}
		}
	}
	for k, en := range serverText {
		if dict[k][0] != en {
			t.Errorf("server text %s = %q, dictionary says %q", k, en, dict[k][0])
		}
	}
	if testing.Verbose() {
		_, _ = os.Stdout.WriteString("dictionary entries: " + strconv.Itoa(len(dict)) + "\n")
	}
}

// TestSettingsPageRoundTripsMaskedSecrets does what the settings page does:
// it shows the values the API gives (secrets masked) in its editors and,
// on Save, sends every line of the edited one back. Lines left as shown
// keep their secrets; the page never receives a whole secret.
func TestSettingsPageRoundTripsMaskedSecrets(t *testing.T) {
	tokens := []string{"sk-console-alpha-000000aaaa", "sk-console-bravo-000000bbbb", "sk-console-charlie-0000cccc"}
	e := setup(t, options{authToken: adminToken, lockedAuth: true, settings: func(s *settings.Settings) {
		s.AllowedTokens = tokens
		s.Headers = map[string]string{"X-Relay-Auth": "relay-header-secret-4242"}
		s.Proxies = []string{"http://puser:proxy-secret-77@127.0.0.1:3128"}
	}})
	ck, tok := e.login(adminToken)
	get := func() map[string]balancer.SettingView {
		resp, body := e.do(req{method: "GET", path: e.api("/settings"), cookies: []*http.Cookie{ck}})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET settings: %d %s", resp.StatusCode, body)
		}
		for _, secret := range append(slices.Clone(tokens), "relay-header-secret", "proxy-secret-77", "puser", adminToken) {
			if strings.Contains(body, secret) {
				t.Errorf("the settings page receives %q", secret)
			}
		}
		var v map[string]balancer.SettingView
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	save := func(name string, value any) (int, string) {
		b, _ := json.Marshal(map[string]any{name: value})
		resp, body := e.do(req{method: "PATCH", path: e.api("/settings"), body: string(b),
			header: http.Header{csrfHeader: {tok}}, cookies: []*http.Cookie{ck}})
		return resp.StatusCode, body
	}
	view := get()
	// The list editor: one line per token, the second line replaced.
	var lines []string
	for _, v := range view["allowed_tokens"].Value.([]any) {
		lines = append(lines, v.(string))
	}
	if len(lines) != 3 || lines[0] != "…aaaa" || !view["allowed_tokens"].Masked {
		t.Fatalf("allowed_tokens shown as %q", lines)
	}
	lines[1] = "sk-console-new-token-0001"
	if status, body := save("allowed_tokens", lines); status != http.StatusOK || !strings.Contains(body, `"changed":["allowed_tokens"]`) {
		t.Fatalf("save: %d %s", status, body)
	}
	if got := e.b.Settings().AllowedTokens; !slices.Equal(got, []string{tokens[0], "sk-console-new-token-0001", tokens[2]}) {
		t.Fatalf("tokens after editing one line: %q", got)
	}
	if !e.b.Tokens().Contains(tokens[2]) || e.b.Tokens().Contains(tokens[1]) {
		t.Fatal("client tokens in force do not follow the edit")
	}
	// The map editor (name=value lines) and the proxy list, saved unchanged.
	view = get()
	if status, body := save("headers", view["headers"].Value); status != http.StatusOK || !strings.Contains(body, `"changed":[]`) {
		t.Fatalf("headers saved as shown: %d %s", status, body)
	}
	if status, body := save("proxies", view["proxies"].Value); status != http.StatusOK || !strings.Contains(body, `"changed":[]`) {
		t.Fatalf("proxies saved as shown: %d %s", status, body)
	}
	if s := e.b.Settings(); s.Headers["X-Relay-Auth"] != "relay-header-secret-4242" || s.Proxies[0] != "http://puser:proxy-secret-77@127.0.0.1:3128" {
		t.Fatalf("secrets changed by saving them as shown: %q %q", s.Headers, s.Proxies)
	}
	// A masked line that stands for nothing is refused with the field's message.
	status, body := save("allowed_tokens", []string{"…zzzz"})
	if status != http.StatusBadRequest || !strings.Contains(body, "matches no current token") {
		t.Fatalf("unknown masked token: %d %s", status, body)
	}
	// The console's auth_token may not become a client token.
	status, body = save("allowed_tokens", []string{"…aaaa", adminToken})
	if status != http.StatusBadRequest || !strings.Contains(body, settings.AuthTokenRule) || strings.Contains(body, adminToken) {
		t.Fatalf("auth_token as a client token: %d %s", status, body)
	}
}
