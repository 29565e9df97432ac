// Package clientinfo tells who sent a request and over which scheme, the same
// way everywhere: through Caddy's trusted_proxies server option.
//
// Behind a CDN or load balancer the direct peer is the proxy, not the client.
// Caddy decides per request whether that peer is trusted (its address is in
// the server's trusted_proxies) and, if so, takes the client address from the
// client_ip_headers (X-Forwarded-For by default); it stores the outcome in the
// request's vars. This package reads those vars and applies the same trust to
// X-Forwarded-Proto: a header from an untrusted peer is ignored, so a client
// talking to Caddy directly cannot claim another address or scheme.
//
// It is the only package besides caddymodule that needs Caddy, and only to
// read the vars; without them (a request that did not come through Caddy, as
// in unit tests) it falls back to the connection itself.
package clientinfo

import (
	"net"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// ClientIP is the address of the client that sent r: Caddy's client_ip var,
// which is the direct peer's address, or, when the peer is a trusted proxy,
// the address it forwarded. Without the var it is the host of r.RemoteAddr
// (or r.RemoteAddr itself when that has no port).
func ClientIP(r *http.Request) string {
	if ip, ok := caddyhttp.GetVar(r.Context(), caddyhttp.ClientIPVarKey).(string); ok && ip != "" {
		return ip
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// FromTrustedProxy reports whether r's direct peer is one of the server's
// trusted_proxies, so that its forwarding headers may be believed.
func FromTrustedProxy(r *http.Request) bool {
	trusted, _ := caddyhttp.GetVar(r.Context(), caddyhttp.TrustedProxyVarKey).(bool)
	return trusted
}

// Scheme is the scheme the client used, "https" or "http": "https" when r came
// over TLS, or when a trusted proxy sent X-Forwarded-Proto: https (the first
// value, in any case). An untrusted peer's X-Forwarded-Proto is ignored.
func Scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	if FromTrustedProxy(r) && strings.EqualFold(forwardedProto(r), "https") {
		return "https"
	}
	return "http"
}

// IsHTTPS reports whether Scheme(r) is "https".
func IsHTTPS(r *http.Request) bool { return Scheme(r) == "https" }

// forwardedProto is the first value of X-Forwarded-Proto: the first
// comma-separated element of its first field, trimmed.
func forwardedProto(r *http.Request) string {
	v := r.Header.Get("X-Forwarded-Proto")
	first, _, _ := strings.Cut(v, ",")
	return strings.TrimSpace(first)
}

// Origin is the scheme and host the client used, "https://example.com",
// for URLs the proxy gives back to it.
func Origin(r *http.Request) string { return Scheme(r) + "://" + Host(r) }

// Host is the host (with its port, if any) the client addressed: r.Host, or,
// when a trusted proxy sent X-Forwarded-Host, its first value. An untrusted
// peer's X-Forwarded-Host is ignored, and a value that is not a plain host
// name or address (with an optional port) is not believed.
func Host(r *http.Request) string {
	if FromTrustedProxy(r) {
		first, _, _ := strings.Cut(r.Header.Get("X-Forwarded-Host"), ",")
		if h := strings.TrimSpace(first); validHost(h) {
			return h
		}
	}
	return r.Host
}

// validHost accepts a DNS name, IPv4 or bracketed IPv6 address with an
// optional port: nothing that could carry a path, a user or a query.
func validHost(h string) bool {
	if h == "" || len(h) > 261 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == ':' || c == '[' || c == ']') {
			return false
		}
	}
	return true
}
