package proxied

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

const lockedOut = "Too many failed logins"

// failLogins makes loginMaxFailures (5) wrong logins, the i-th with the
// header pairs header(i), and checks each is refused as wrong.
func (s *server) failLogins(header func(i int) []string) {
	s.t.Helper()
	for i := 1; i <= 5; i++ {
		resp, body := s.login("guess-"+strconv.Itoa(i), header(i)...)
		if resp.StatusCode != http.StatusUnauthorized {
			s.t.Fatalf("wrong login %d: %d %s", i, resp.StatusCode, body)
		}
	}
}

// assertLockedOut checks that the right token is refused with the lockout answer.
func (s *server) assertLockedOut(what string, header ...string) {
	s.t.Helper()
	resp, body := s.login(authToken, header...)
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, lockedOut) || resp.Header.Get("Retry-After") == "" {
		s.t.Fatalf("%s: %d (Retry-After %q), want the lockout answer 429", what, resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if sessionCookie(resp) != nil {
		s.t.Fatalf("%s: a locked-out login set a session cookie", what)
	}
}

// assertLogsIn checks that the right token logs in.
func (s *server) assertLogsIn(what string, header ...string) *http.Response {
	s.t.Helper()
	resp, body := s.login(authToken, header...)
	if resp.StatusCode != http.StatusSeeOther || sessionCookie(resp) == nil {
		s.t.Fatalf("%s: %d %s, want a login (303 with a session cookie)", what, resp.StatusCode, body)
	}
	return resp
}

// loginRemotes counts the remote fields of the console's login log lines of
// this test's pool.
func (s *server) loginRemotes() map[string]int {
	s.t.Helper()
	out := map[string]int{}
	for _, line := range strings.Split(s.lastLogLines(1<<20), "\n") {
		var entry struct {
			Msg    string `json:"msg"`
			Pool   string `json:"pool"`
			Remote string `json:"remote"`
		}
		if json.Unmarshal([]byte(line), &entry) != nil || entry.Pool != s.pool || !strings.HasPrefix(entry.Msg, "console login") {
			continue
		}
		out[entry.Remote]++
	}
	return out
}

func TestTrustedProxyLocksOutPerForwardedClient(t *testing.T) {
	s := startServer(t, "proxied-trusted-lockout", trusted)
	s.failLogins(func(int) []string { return []string{"X-Forwarded-For", "203.0.113.7"} })
	s.assertLockedOut("203.0.113.7 with the right token", "X-Forwarded-For", "203.0.113.7")

	// Another client behind the same proxy is not locked out, nor is the
	// proxy's own address.
	s.assertLogsIn("203.0.113.8 behind the same proxy", "X-Forwarded-For", "203.0.113.8")
	s.assertLogsIn("the proxy itself, without X-Forwarded-For")

	// The log lines name the client, not the proxy.
	remotes := s.loginRemotes()
	if remotes["203.0.113.7"] != 6 || remotes["203.0.113.8"] != 1 || remotes["127.0.0.1"] != 1 {
		t.Fatalf("remote fields of the console's login log lines: %v", remotes)
	}
}

func TestUntrustedForwardedForDoesNotEscapeLockout(t *testing.T) {
	s := startServer(t, "proxied-untrusted-lockout", untrusted)
	// Rotating X-Forwarded-For: every failure still counts against the
	// connection's address, 127.0.0.1.
	s.failLogins(func(i int) []string { return []string{"X-Forwarded-For", "203.0.113." + strconv.Itoa(i)} })
	s.assertLockedOut("a new X-Forwarded-For with the right token", "X-Forwarded-For", "203.0.113.6")
	s.assertLockedOut("no X-Forwarded-For with the right token")

	remotes := s.loginRemotes()
	if len(remotes) != 1 || remotes["127.0.0.1"] != 7 {
		t.Fatalf("remote fields of the console's login log lines: %v (want only 127.0.0.1)", remotes)
	}
}

func TestStrictTrustedProxyIgnoresPrependedAddresses(t *testing.T) {
	s := startServer(t, "proxied-strict-lockout", trustedStrict)
	// A client prepends a new address each time; the proxy appends the one
	// it saw. With trusted_proxies_strict, Caddy takes the rightmost address
	// that is not a trusted proxy, so all failures count against 203.0.113.9.
	s.failLogins(func(i int) []string {
		return []string{"X-Forwarded-For", "198.51.100." + strconv.Itoa(i) + ", 203.0.113.9"}
	})
	s.assertLockedOut("203.0.113.9 with yet another prepended address", "X-Forwarded-For", "198.51.100.99, 203.0.113.9")
	s.assertLogsIn("203.0.113.10 behind the same proxy", "X-Forwarded-For", "198.51.100.1, 203.0.113.10")
}

func TestSecureCookieFromForwardedProto(t *testing.T) {
	cases := []struct {
		name    string
		pool    string
		servers string
		header  []string
		secure  bool
	}{
		{"trusted proxy, X-Forwarded-Proto https", "proxied-cookie-trusted-https", trusted, []string{"X-Forwarded-Proto", "https"}, true},
		{"trusted proxy, plain http", "proxied-cookie-trusted-http", trusted, nil, false},
		{"untrusted peer, X-Forwarded-Proto https", "proxied-cookie-untrusted-https", untrusted, []string{"X-Forwarded-Proto", "https"}, false},
		{"untrusted peer, plain http", "proxied-cookie-untrusted-http", untrusted, nil, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := startServer(t, c.pool, c.servers)
			resp := s.assertLogsIn("login", c.header...)
			setCookie := resp.Header.Get("Set-Cookie")
			if got := strings.Contains(setCookie, "; Secure"); got != c.secure {
				t.Fatalf("Set-Cookie %q: Secure %v, want %v", setCookie, got, c.secure)
			}
			for _, want := range []string{"HttpOnly", "SameSite=Strict", "Path=" + consolePath} {
				if !strings.Contains(setCookie, want) {
					t.Fatalf("Set-Cookie %q lacks %q", setCookie, want)
				}
			}
		})
	}
}
