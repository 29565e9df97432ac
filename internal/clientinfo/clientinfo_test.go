package clientinfo

import (
	"context"
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// withVars gives r the vars Caddy sets on every request it serves
// (caddyhttp's prepareRequest): whether the direct peer is a trusted proxy
// and the client address it derived.
func withVars(r *http.Request, trusted bool, clientIP string) *http.Request {
	ctx := context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{
		caddyhttp.TrustedProxyVarKey: trusted,
		caddyhttp.ClientIPVarKey:     clientIP,
	})
	return r.WithContext(ctx)
}

func newRequest(remote string, header ...string) *http.Request {
	r := httptest.NewRequest("GET", "http://example.com/admin/login", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	return r
}

func TestClientIP(t *testing.T) {
	cases := []struct {
		name string
		r    *http.Request
		want string
	}{
		{"no vars: RemoteAddr's host", newRequest("192.0.2.1:5555"), "192.0.2.1"},
		{"no vars: IPv6 RemoteAddr's host", newRequest("[2001:db8::1]:5555"), "2001:db8::1"},
		{"no vars: RemoteAddr without a port", newRequest("@"), "@"},
		{"no vars: X-Forwarded-For is ignored",
			newRequest("192.0.2.1:5555", "X-Forwarded-For", "203.0.113.7"), "192.0.2.1"},
		{"untrusted peer: Caddy's address, not the header",
			withVars(newRequest("192.0.2.1:5555", "X-Forwarded-For", "203.0.113.7"), false, "192.0.2.1"), "192.0.2.1"},
		{"trusted peer: the forwarded client",
			withVars(newRequest("127.0.0.1:5555", "X-Forwarded-For", "203.0.113.7"), true, "203.0.113.7"), "203.0.113.7"},
		{"empty var: RemoteAddr's host",
			withVars(newRequest("192.0.2.1:5555"), false, ""), "192.0.2.1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := ClientIP(c.r); got != c.want {
				t.Fatalf("ClientIP = %q, want %q", got, c.want)
			}
		})
	}
}

func TestVarsOfOtherTypesAreIgnored(t *testing.T) {
	r := newRequest("192.0.2.1:5555", "X-Forwarded-Proto", "https")
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{
		caddyhttp.TrustedProxyVarKey: "true",
		caddyhttp.ClientIPVarKey:     42,
	}))
	if got := ClientIP(r); got != "192.0.2.1" {
		t.Fatalf("ClientIP = %q", got)
	}
	if FromTrustedProxy(r) {
		t.Fatal("a non-bool trusted_proxy var counts as trusted")
	}
	if got := Scheme(r); got != "http" {
		t.Fatalf("Scheme = %q", got)
	}
}

func TestScheme(t *testing.T) {
	tlsReq := newRequest("192.0.2.1:5555")
	tlsReq.TLS = &tls.ConnectionState{}
	tlsBehindTrusted := withVars(newRequest("127.0.0.1:5555", "X-Forwarded-Proto", "http"), true, "203.0.113.7")
	tlsBehindTrusted.TLS = &tls.ConnectionState{}
	cases := []struct {
		name string
		r    *http.Request
		want string
	}{
		{"plain http", newRequest("192.0.2.1:5555"), "http"},
		{"TLS", tlsReq, "https"},
		{"no vars: X-Forwarded-Proto is ignored",
			newRequest("127.0.0.1:5555", "X-Forwarded-Proto", "https"), "http"},
		{"untrusted peer: X-Forwarded-Proto is ignored",
			withVars(newRequest("192.0.2.1:5555", "X-Forwarded-Proto", "https"), false, "192.0.2.1"), "http"},
		{"trusted peer: https",
			withVars(newRequest("127.0.0.1:5555", "X-Forwarded-Proto", "https"), true, "203.0.113.7"), "https"},
		{"trusted peer: any case, spaces",
			withVars(newRequest("127.0.0.1:5555", "X-Forwarded-Proto", " HTTPS "), true, "203.0.113.7"), "https"},
		{"trusted peer: the first of a list",
			withVars(newRequest("127.0.0.1:5555", "X-Forwarded-Proto", "https, http"), true, "203.0.113.7"), "https"},
		{"trusted peer: only the first value counts",
			withVars(newRequest("127.0.0.1:5555", "X-Forwarded-Proto", "http, https"), true, "203.0.113.7"), "http"},
		{"trusted peer: only the first field counts",
			withVars(newRequest("127.0.0.1:5555", "X-Forwarded-Proto", "http", "X-Forwarded-Proto", "https"), true, "203.0.113.7"), "http"},
		{"trusted peer: http",
			withVars(newRequest("127.0.0.1:5555", "X-Forwarded-Proto", "http"), true, "203.0.113.7"), "http"},
		{"trusted peer: no header",
			withVars(newRequest("127.0.0.1:5555"), true, "203.0.113.7"), "http"},
		{"trusted peer: not a scheme",
			withVars(newRequest("127.0.0.1:5555", "X-Forwarded-Proto", "httpsx"), true, "203.0.113.7"), "http"},
		{"TLS wins over a trusted http", tlsBehindTrusted, "https"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Scheme(c.r); got != c.want {
				t.Fatalf("Scheme = %q, want %q", got, c.want)
			}
			if got := IsHTTPS(c.r); got != (c.want == "https") {
				t.Fatalf("IsHTTPS = %v, want %v", got, c.want == "https")
			}
		})
	}
}

func TestHost(t *testing.T) {
	newHostRequest := func(header ...string) *http.Request {
		r := newRequest("192.0.2.1:5555", header...)
		r.Host = "proxy.internal:8000"
		return r
	}
	cases := []struct {
		name string
		r    *http.Request
		want string
	}{
		{"no header: the request's host", newHostRequest(), "proxy.internal:8000"},
		{"untrusted peer: the header is ignored",
			withVars(newHostRequest("X-Forwarded-Host", "evil.example"), false, "192.0.2.1"), "proxy.internal:8000"},
		{"no vars: the header is ignored", newHostRequest("X-Forwarded-Host", "evil.example"), "proxy.internal:8000"},
		{"trusted peer: the forwarded host",
			withVars(newHostRequest("X-Forwarded-Host", "api.example.com"), true, "203.0.113.7"), "api.example.com"},
		{"trusted peer: the first of a list, with its port",
			withVars(newHostRequest("X-Forwarded-Host", " api.example.com:8443 , cdn.example"), true, "203.0.113.7"), "api.example.com:8443"},
		{"trusted peer: an IPv6 host",
			withVars(newHostRequest("X-Forwarded-Host", "[2001:db8::1]:443"), true, "203.0.113.7"), "[2001:db8::1]:443"},
		{"trusted peer: a value with a path is not believed",
			withVars(newHostRequest("X-Forwarded-Host", "evil.example/x?y"), true, "203.0.113.7"), "proxy.internal:8000"},
		{"trusted peer: a value with a user is not believed",
			withVars(newHostRequest("X-Forwarded-Host", "user@evil.example"), true, "203.0.113.7"), "proxy.internal:8000"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := Host(c.r); got != c.want {
				t.Fatalf("Host = %q, want %q", got, c.want)
			}
		})
	}
}

func TestOrigin(t *testing.T) {
	r := httptest.NewRequest("GET", "http://proxy.example:8000/x", nil)
	if got := Origin(r); got != "http://proxy.example:8000" {
		t.Errorf("Origin = %q", got)
	}
	// An untrusted peer's forwarding headers change nothing.
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", "evil.example")
	if got := Origin(r); got != "http://proxy.example:8000" {
		t.Errorf("Origin from an untrusted peer = %q", got)
	}
}
