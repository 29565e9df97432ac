// Package proxied boots the real Caddy with gemini_balance behind a stand-in
// CDN or load balancer: the test client connects from 127.0.0.1 and sends the
// forwarding headers a proxy would (X-Forwarded-For, X-Forwarded-Proto). With
// 127.0.0.1 in Caddy's trusted_proxies the console must count login failures
// per forwarded client and mark its cookie Secure for a forwarded https;
// without it those headers must change nothing.
package proxied

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/gemini-balance/gemini_balance/caddymodule"
	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/testcaddy"
)

// This package's own ports, so it never shares a Caddy with another package.
const (
	adminPort = 2995
	httpPort  = 9195
	httpsPort = 9495
)

const (
	clientToken = "sk-client-token-proxied"
	authToken   = "admin-token-proxied"
	consolePath = "/admin"
	testKey     = "AIzaSyProxiedTestKeyxxxxxxxxxxxxxxx0001"
)

var ports = testcaddy.Ports{Admin: adminPort, HTTP: httpPort, HTTPS: httpsPort}

var siteURL = fmt.Sprintf("http://localhost:%d", httpPort)

// How Caddy treats the client's connection (always from 127.0.0.1: caddytest's
// transport dials 127.0.0.1 whatever the host).
const (
	// untrusted: no trusted_proxies, so the peer is the client and its
	// forwarding headers are ignored.
	untrusted = ""
	// trusted: the peer is a trusted proxy, and Caddy takes the client from
	// the leftmost X-Forwarded-For address.
	trusted = `	servers {
		trusted_proxies static 127.0.0.1/8 ::1
		client_ip_headers X-Forwarded-For
	}`
	// trustedStrict: as trusted, but Caddy takes the rightmost address that
	// is not a trusted proxy, so a client cannot choose it by prepending.
	trustedStrict = `	servers {
		trusted_proxies static 127.0.0.1/8 ::1
		trusted_proxies_strict
		client_ip_headers X-Forwarded-For
	}`
)

// server is the Caddy of one test: one pool with the stand-in upstream. The
// console's login failures live in a process-wide registry keyed by pool
// name, so every test (and subtest) uses a pool name of its own.
type server struct {
	t      *testing.T
	pool   string
	logs   string
	client *http.Client // follows no redirects, keeps no cookies
}

// startServer loads a Caddyfile with the pool and the given servers options
// (one of the constants above) into the in-process Caddy.
func startServer(t *testing.T, pool, serversOptions string) *server {
	t.Helper()
	up := fakegemini.New()
	t.Cleanup(up.Close)
	up.SetKey(testKey, fakegemini.OK)
	dir := t.TempDir()
	s := &server{
		t:    t,
		pool: pool,
		logs: filepath.Join(dir, "caddy.log"),
	}
	tester := ports.Tester(t)
	config := ports.Global(s.logs, "INFO", serversOptions) + fmt.Sprintf(`
http://localhost:%d {
	route {
		gemini_balance %s {
			api_keys %s
			allowed_tokens %s
			auth_token %s
			database %s
			base_url %s
			check_interval 0
			console %s
		}
	}
}
`, httpPort, s.pool, testKey, clientToken, authToken,
		filepath.Join(dir, "pool.db"), up.URL, consolePath)
	tester.InitServer(config, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	s.client = &http.Client{
		Transport: tester.Client.Transport,
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	// Runs before t.TempDir's removal (cleanups run last first): stop the
	// pool so its database is closed before its folder is removed.
	t.Cleanup(s.stop)
	return s
}

// stop replaces the config by an empty one and waits for the pool to stop.
func (s *server) stop() {
	if tr, ok := s.client.Transport.(interface{ CloseIdleConnections() }); ok {
		tr.CloseIdleConnections()
	}
	ports.Unload(s.t, func() bool { return caddymodule.LookupPool(s.pool) == nil })
	if s.t.Failed() {
		s.t.Logf("last lines of Caddy's log:\n%s", s.lastLogLines(40))
	}
}

// lastLogLines is the end of Caddy's log.
func (s *server) lastLogLines(n int) string { return testcaddy.LastLines(s.logs, n) }

// login posts the login form with token and the given header pairs and
// returns the answer (its body read and closed).
func (s *server) login(token string, header ...string) (*http.Response, string) {
	s.t.Helper()
	form := url.Values{"auth_token": {token}}.Encode()
	req, err := http.NewRequest("POST", siteURL+consolePath+"/login", strings.NewReader(form))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatalf("login: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatalf("login: reading the body: %v", err)
	}
	return resp, string(b)
}

// sessionCookie is the session cookie a login answer sets, or nil.
func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == "gb_session" {
			return c
		}
	}
	return nil
}
