// Package upstream sends requests to the Gemini API (or a relay in front of
// it) with a pool key. It owns the shared transports: one per proxy, built
// once and reused by every request.
package upstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
)

// DefaultBaseURL is Google's Gemini API.
const DefaultBaseURL = "https://generativelanguage.googleapis.com/v1beta"

// Options configure a Client.
type Options struct {
	BaseURL string        // ends with the API version, e.g. .../v1beta; a relay's path prefix is kept
	Referer string        // sent as Referer, for keys restricted to HTTP referrers
	Headers http.Header   // extra headers on every upstream request
	Timeout time.Duration // per attempt: whole answer for plain calls, time to first byte and between reads for streams
	Proxies []string      // http, https, socks5 proxy URLs; each key is pinned to one
}

// Client sends upstream requests. It is safe for concurrent use.
type Client struct {
	base       *url.URL
	referer    string
	headers    http.Header
	timeout    time.Duration
	proxies    []*url.URL
	transports []*http.Transport // one per proxy, or one direct
	dialer     *net.Dialer
}

// New validates opts and builds the transports.
func New(opts Options) (*Client, error) {
	raw := opts.BaseURL
	if raw == "" {
		raw = DefaultBaseURL
	}
	base, err := ParseBaseURL(raw)
	if err != nil {
		return nil, err
	}
	c := &Client{base: base, referer: opts.Referer, headers: opts.Headers.Clone(), timeout: opts.Timeout, dialer: newDialer()}
	for _, p := range opts.Proxies {
		u, err := ParseProxyURL(p)
		if err != nil {
			return nil, err
		}
		c.proxies = append(c.proxies, u)
		c.transports = append(c.transports, newTransport(http.ProxyURL(u), c.dialer))
	}
	if len(c.transports) == 0 {
		c.transports = []*http.Transport{newTransport(nil, c.dialer)}
	}
	return c, nil
}

// ParseBaseURL checks an upstream base URL: http or https with a host.
func ParseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimRight(raw, "/"))
	if err != nil {
		return nil, fmt.Errorf("base_url %q: %v", raw, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("base_url %q: must be an http:// or https:// URL with a host", raw)
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("base_url %q: must not have a query or fragment", raw)
	}
	return u, nil
}

// ParseProxyURL checks a proxy URL: http, https, socks5 or socks5h with a host.
func ParseProxyURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("proxy %q: %v", raw, err)
	}
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
	default:
		return nil, fmt.Errorf("proxy %q: scheme must be http, https, socks5 or socks5h", raw)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("proxy %q: missing host", raw)
	}
	return u, nil
}

func newDialer() *net.Dialer {
	return &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
}

func newTransport(proxy func(*http.Request) (*url.URL, error), dialer *net.Dialer) *http.Transport {
	return &http.Transport{
		Proxy:                 proxy,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		// Each HTTP/1.1 connection keeps its buffers for its whole life, and a
		// stream holds one connection: 1 KiB instead of 4 KiB each saves 6 KiB
		// per open stream (5,000 streams: 30 MB). Bodies and large reads and
		// writes bypass these buffers; longer header lines are read in pieces
		// (TestLargeHeadersAndBodiesPassTheSmallBuffers). HTTP/2 does not use them.
		ReadBufferSize:  1 << 10,
		WriteBufferSize: 1 << 10,
	}
}

// Close drops idle connections.
func (c *Client) Close() {
	for _, t := range c.transports {
		t.CloseIdleConnections()
	}
}

// Timeout is the per-attempt limit.
func (c *Client) Timeout() time.Duration { return c.timeout }

// BaseURL is the configured upstream base.
func (c *Client) BaseURL() string { return c.base.String() }

// ProxyIndex is the proxy a key is pinned to: a hash of the key, so the
// choice is the same across restarts and instances (-1 without proxies).
func (c *Client) ProxyIndex(key string) int {
	if len(c.proxies) == 0 {
		return -1
	}
	return ProxyIndexFor(key, len(c.proxies))
}

// ProxyIndexFor hashes key onto n proxies.
func ProxyIndexFor(key string, n int) int {
	sum := sha256.Sum256([]byte(key))
	return int(binary.BigEndian.Uint64(sum[:8]) % uint64(n))
}

func (c *Client) transportFor(key string) *http.Transport {
	if i := c.ProxyIndex(key); i >= 0 {
		return c.transports[i]
	}
	return c.transports[0]
}

// Request is one upstream call.
type Request struct {
	Method string
	// Path below the base URL, e.g. "/models/gemini-2.5-flash:generateContent".
	Path string
	// Query without any client credential.
	Query url.Values
	// Header holds the client headers to forward (already filtered).
	Header http.Header
	Body   []byte
	// BodyReader, when set, is sent instead of Body as a stream (the Files
	// API's upload legs): it is read once, so a call with it is never
	// retried. ContentLength is its length, -1 when unknown.
	BodyReader    io.Reader
	ContentLength int64
	// Upload sends the call to the upload endpoint: "/upload" goes before the
	// base URL's version segment (…/v1beta → …/upload/v1beta), as Google's
	// media uploads are served there.
	Upload bool
	// Bearer sends the key as "Authorization: Bearer" (Google's OpenAI
	// endpoint) instead of x-goog-api-key.
	Bearer bool
}

// URL is where r goes.
func (c *Client) URL(r *Request) string {
	u := *c.base
	u.Path = c.base.Path + r.Path
	if r.Upload {
		dir, version := path.Split(c.base.Path)
		u.Path = dir + "upload/" + version + r.Path
	}
	u.RawPath = ""
	if len(r.Query) > 0 {
		u.RawQuery = r.Query.Encode()
	}
	return u.String()
}

// Do sends r with key. The key travels in a header, never in the URL, so it
// cannot surface in a transport error. ctx should carry the attempt deadline.
func (c *Client) Do(ctx context.Context, r *Request, key string) (*http.Response, error) {
	var body io.Reader
	if r.Body != nil {
		body = bytes.NewReader(r.Body)
	}
	if r.BodyReader != nil {
		// Wrapped so that NewRequest does not buffer or inspect it.
		body = io.NopCloser(r.BodyReader)
	}
	req, err := http.NewRequestWithContext(ctx, r.Method, c.URL(r), body)
	if err != nil {
		return nil, err
	}
	if r.BodyReader != nil {
		req.ContentLength = r.ContentLength
		if r.ContentLength == 0 {
			req.Body, req.ContentLength = http.NoBody, 0
		}
	}
	for name, vals := range r.Header {
		req.Header[name] = vals
	}
	for name, vals := range c.headers {
		req.Header[name] = vals
	}
	if c.referer != "" {
		req.Header.Set("Referer", c.referer)
	}
	if r.Bearer {
		req.Header.Set("Authorization", "Bearer "+key)
	} else {
		req.Header.Set("X-Goog-Api-Key", key)
	}
	if c.directStream(r) {
		return c.streamHTTP1(req)
	}
	return c.transportFor(key).RoundTrip(req)
}
