package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// peer describes how a request reached Caddy: the direct peer's address, and
// the vars Caddy derived from it with its trusted_proxies option (none when
// vars is false: the request did not come through Caddy).
type peer struct {
	remote   string
	vars     bool
	trusted  bool
	clientIP string
}

// serveAs sends a request to the console as if Caddy had received it from p.
func (e *env) serveAs(p peer, method, path, body string, header http.Header, cookies ...*http.Cookie) *httptest.ResponseRecorder {
	e.t.Helper()
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	r.RemoteAddr = p.remote
	for k, vs := range header {
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	if body != "" && r.Header.Get("Content-Type") == "" {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for _, c := range cookies {
		r.AddCookie(c)
	}
	if p.vars {
		r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{
			caddyhttp.TrustedProxyVarKey: p.trusted,
			caddyhttp.ClientIPVarKey:     p.clientIP,
		}))
	}
	rec := httptest.NewRecorder()
	if !e.c.Serve(rec, r) {
		e.t.Fatalf("%s %s fell through", method, path)
	}
	return rec
}

func loginForm(token string) string { return url.Values{"auth_token": {token}}.Encode() }

// observe replaces the console's logger by one that records its entries.
func (e *env) observe() *observer.ObservedLogs {
	core, logs := observer.New(zap.InfoLevel)
	e.c.logger = zap.New(core)
	return logs
}

func TestLockoutPerForwardedClient(t *testing.T) {
	e := defaultSetup(t)
	logs := e.observe()
	cdn := func(client string) peer {
		return peer{remote: "127.0.0.1:40000", vars: true, trusted: true, clientIP: client}
	}
	xff := func(client string) http.Header { return http.Header{"X-Forwarded-For": {client}} }
	for i := 1; i <= loginMaxFailures; i++ {
		rec := e.serveAs(cdn("203.0.113.7"), "POST", prefix+"/login", loginForm("guess-"+strconv.Itoa(i)), xff("203.0.113.7"))
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, rec.Code)
		}
	}
	rec := e.serveAs(cdn("203.0.113.7"), "POST", prefix+"/login", loginForm(adminToken), xff("203.0.113.7"))
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("the locked-out client with the right token: %d", rec.Code)
	}
	// another client behind the same proxy is not locked out
	rec = e.serveAs(cdn("203.0.113.8"), "POST", prefix+"/login", loginForm(adminToken), xff("203.0.113.8"))
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("another client behind the proxy: %d", rec.Code)
	}
	// nor is the proxy's own address
	rec = e.serveAs(peer{remote: "127.0.0.1:40001"}, "POST", prefix+"/login", loginForm(adminToken), nil)
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("the proxy's own address: %d", rec.Code)
	}

	// the log lines name the client, not the proxy
	remotes := map[string]int{}
	for _, entry := range logs.All() {
		remotes[entry.ContextMap()["remote"].(string)]++
	}
	if remotes["203.0.113.7"] != loginMaxFailures+1 || remotes["203.0.113.8"] != 1 || remotes["127.0.0.1"] != 1 {
		t.Fatalf("remote fields of the log lines: %v", remotes)
	}
}

func TestForwardedForOfAnUntrustedPeerIsIgnored(t *testing.T) {
	e := defaultSetup(t)
	// Caddy without trusted_proxies: client_ip is the peer, whatever it claims.
	direct := peer{remote: "198.51.100.9:40000", vars: true, trusted: false, clientIP: "198.51.100.9"}
	for i := 1; i <= loginMaxFailures; i++ {
		spoof := http.Header{"X-Forwarded-For": {"203.0.113." + strconv.Itoa(i)}}
		rec := e.serveAs(direct, "POST", prefix+"/login", loginForm("guess-"+strconv.Itoa(i)), spoof)
		if rec.Code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d", i, rec.Code)
		}
	}
	rec := e.serveAs(direct, "POST", prefix+"/login", loginForm(adminToken), http.Header{"X-Forwarded-For": {"203.0.113.99"}})
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("a new X-Forwarded-For escaped the lockout: %d", rec.Code)
	}
	// without Caddy's vars the header is ignored too
	rec = e.serveAs(peer{remote: "198.51.100.9:40001"}, "POST", prefix+"/login", loginForm(adminToken),
		http.Header{"X-Forwarded-For": {"203.0.113.100"}})
	if rec.Code != http.StatusTooManyRequests {
		t.Fatalf("without vars, a new X-Forwarded-For escaped the lockout: %d", rec.Code)
	}
}

func TestSecureCookieBehindTrustedProxy(t *testing.T) {
	e := defaultSetup(t)
	https := http.Header{"X-Forwarded-Proto": {"https"}}
	cdn := peer{remote: "127.0.0.1:40000", vars: true, trusted: true, clientIP: "203.0.113.7"}

	cases := []struct {
		name   string
		p      peer
		header http.Header
		secure bool
	}{
		{"trusted proxy, X-Forwarded-Proto https", cdn, https, true},
		{"trusted proxy, X-Forwarded-Proto HTTPS", cdn, http.Header{"X-Forwarded-Proto": {"HTTPS"}}, true},
		{"trusted proxy, X-Forwarded-Proto http", cdn, http.Header{"X-Forwarded-Proto": {"http"}}, false},
		{"trusted proxy, no X-Forwarded-Proto", cdn, nil, false},
		{"untrusted peer, X-Forwarded-Proto https",
			peer{remote: "198.51.100.9:40000", vars: true, clientIP: "198.51.100.9"}, https, false},
		{"no vars, X-Forwarded-Proto https", peer{remote: "198.51.100.10:40000"}, https, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rec := e.serveAs(c.p, "POST", prefix+"/login", loginForm(adminToken), c.header)
			if rec.Code != http.StatusSeeOther {
				t.Fatalf("login: %d %s", rec.Code, rec.Body)
			}
			login := rec.Header().Get("Set-Cookie")
			if strings.Contains(login, "; Secure") != c.secure {
				t.Fatalf("login Set-Cookie %q, want Secure %v", login, c.secure)
			}
			ck := rec.Result().Cookies()[0]
			h := http.Header{csrfHeader: {e.csrf(ck)}}
			for k, v := range c.header {
				h[k] = v
			}
			rec = e.serveAs(c.p, "POST", prefix+"/logout", "", h, ck)
			if rec.Code != http.StatusOK {
				t.Fatalf("logout: %d %s", rec.Code, rec.Body)
			}
			logout := rec.Header().Get("Set-Cookie")
			if !strings.Contains(logout, "Max-Age=0") || strings.Contains(logout, "; Secure") != c.secure {
				t.Fatalf("logout Set-Cookie %q, want Secure %v", logout, c.secure)
			}
		})
	}
}

func TestLockoutKeyGroupsIPv6By64(t *testing.T) {
	for ip, want := range map[string]string{
		"203.0.113.7":          "203.0.113.7",
		"2001:db8:1:2:aaaa::1": "2001:db8:1:2::/64",
		"2001:db8:1:2:bbbb::9": "2001:db8:1:2::/64",
		"::ffff:203.0.113.7":   "::ffff:203.0.113.7",
		"not an address":       "not an address",
	} {
		if got := lockoutKey(ip); got != want {
			t.Errorf("lockoutKey(%q) = %q, want %q", ip, got, want)
		}
	}
}

// The sessions and failures of a pool go when the pool stops (Forget), and
// a pool of the same name started later starts clean.
func TestForgetEndsThePoolsState(t *testing.T) {
	st := stateFor("forget-me")
	st.fail("203.0.113.9", time.Now())
	if stateFor("forget-me") != st {
		t.Fatal("the state is not kept across lookups (reloads)")
	}
	Forget("forget-me")
	if again := stateFor("forget-me"); again == st || len(again.failures) != 0 {
		t.Error("a forgotten pool's state came back")
	}
}
