// Package safefetch fetches untrusted http(s) URLs (image URLs in chat
// requests) without letting the caller reach the network behind the proxy.
//
// The guard is in the dialer: every connection, redirects included, is
// checked against the IP address actually dialed, after DNS resolution, so a
// name that resolves (or re-resolves: DNS rebinding) to an internal address
// is refused. Only globally routable unicast addresses pass (see Allowed).
// The client never uses a proxy from the environment (HTTP_PROXY and the
// like): a proxy would dial on our behalf, past the check.
package safefetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

const (
	// Timeout bounds one fetch, redirects and body included.
	Timeout = 20 * time.Second
	// MaxRedirects is the number of redirects a fetch follows.
	MaxRedirects = 3
	dialTimeout  = 10 * time.Second
)

// ErrForbiddenAddress is wrapped by the error of a fetch whose host (or a
// redirect's host) resolves to an address that is not global unicast.
var ErrForbiddenAddress = errors.New("the URL points to an address that is not public")

// ErrTooLarge is wrapped by Get's error when the body is longer than the limit.
var ErrTooLarge = errors.New("the response is larger than the limit")

// refused4 and refused6 are the address blocks that are not globally
// routable unicast: special-purpose blocks of the IANA registries (RFC 6890
// and successors), multicast and reserved space.
var refused4 = prefixes(
	"0.0.0.0/8",          // "this network", unspecified
	"10.0.0.0/8",         // RFC 1918 private
	"100.64.0.0/10",      // shared address space (CGNAT)
	"127.0.0.0/8",        // loopback
	"169.254.0.0/16",     // link-local (cloud metadata services live here)
	"172.16.0.0/12",      // RFC 1918 private
	"192.0.0.0/24",       // IETF protocol assignments
	"192.0.2.0/24",       // documentation (TEST-NET-1)
	"192.88.99.0/24",     // deprecated 6to4 relay anycast
	"192.168.0.0/16",     // RFC 1918 private
	"198.18.0.0/15",      // benchmarking
	"198.51.100.0/24",    // documentation (TEST-NET-2)
	"203.0.113.0/24",     // documentation (TEST-NET-3)
	"224.0.0.0/4",        // multicast
	"240.0.0.0/4",        // reserved
	"255.255.255.255/32", // limited broadcast (inside 240/4; named for clarity)
)

// IPv6 is allowed only inside 2000::/3, the global unicast space, and then
// not in these blocks. The blocks outside 2000::/3 are listed too, although
// the allow-list already excludes them, so the table reads as the rule.
var refused6 = prefixes(
	"::/128",         // unspecified
	"::1/128",        // loopback
	"::/96",          // IPv4-compatible (deprecated), whatever the IPv4 address
	"::ffff:0:0/96",  // IPv4-mapped: not reached, Allowed unmaps them and judges the IPv4 address
	"64:ff9b::/96",   // NAT64 well-known prefix: embeds IPv4, a translator dials it
	"64:ff9b:1::/48", // NAT64 local-use
	"100::/64",       // discard-only
	"2001::/32",      // Teredo: embeds IPv4
	"2001:2::/48",    // benchmarking
	"2001:10::/28",   // ORCHID (deprecated)
	"2001:20::/28",   // ORCHIDv2
	"2001:db8::/32",  // documentation
	"2002::/16",      // 6to4: embeds IPv4; refused whole rather than judged by the embedded address
	"3fff::/20",      // documentation (RFC 9637)
	"5f00::/16",      // SRv6 SIDs
	"fc00::/7",       // unique-local
	"fe80::/10",      // link-local
	"fec0::/10",      // site-local (deprecated)
	"ff00::/8",       // multicast
)

var global6 = netip.MustParsePrefix("2000::/3")

func prefixes(ss ...string) []netip.Prefix {
	out := make([]netip.Prefix, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParsePrefix(s)
	}
	return out
}

// Allowed reports whether ip is a globally routable unicast address, the
// only kind a fetch may connect to. IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d) are judged by their IPv4 address; IPv4-compatible ones
// (::a.b.c.d), NAT64, 6to4 and Teredo addresses are refused outright, as
// are addresses with a zone.
func Allowed(ip netip.Addr) bool {
	if !ip.IsValid() || ip.Zone() != "" {
		return false
	}
	ip = ip.Unmap()
	if ip.Is4() {
		for _, p := range refused4 {
			if p.Contains(ip) {
				return false
			}
		}
		return true
	}
	if !global6.Contains(ip) {
		return false
	}
	for _, p := range refused6 {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

// Control is a net.Dialer Control function that refuses any address Allowed
// refuses. It sees the address actually dialed, after name resolution.
func Control(network, address string, c syscall.RawConn) error {
	return controlFor(func(ap netip.AddrPort) bool { return Allowed(ap.Addr()) })(network, address, c)
}

func controlFor(allow func(netip.AddrPort) bool) func(string, string, syscall.RawConn) error {
	return func(_, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("%w (%s)", ErrForbiddenAddress, address)
		}
		if !allow(ap) {
			return fmt.Errorf("%w (%s)", ErrForbiddenAddress, ap.Addr())
		}
		return nil
	}
}

// NewClient builds the guarded client: dial-time address check, no proxy,
// Timeout per fetch, at most MaxRedirects redirects, to http(s) only. Build
// it once and share it; it keeps a connection pool.
func NewClient() *http.Client {
	return newClient(guardedDialer(func(ap netip.AddrPort) bool { return Allowed(ap.Addr()) }).DialContext)
}

func guardedDialer(allow func(netip.AddrPort) bool) *net.Dialer {
	return &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second, Control: controlFor(allow)}
}

func newClient(dial func(ctx context.Context, network, address string) (net.Conn, error)) *http.Client {
	return &http.Client{
		Timeout: Timeout,
		Transport: &http.Transport{
			Proxy:                  nil, // never HTTP_PROXY & co: a proxy would dial past the address check
			DialContext:            dial,
			ForceAttemptHTTP2:      true,
			TLSHandshakeTimeout:    10 * time.Second,
			MaxIdleConns:           32,
			MaxIdleConnsPerHost:    4,
			IdleConnTimeout:        60 * time.Second,
			MaxResponseHeaderBytes: 64 << 10,
		},
		CheckRedirect: checkRedirect,
	}
}

func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) > MaxRedirects {
		return fmt.Errorf("stopped after %d redirects", MaxRedirects)
	}
	if s := req.URL.Scheme; s != "http" && s != "https" {
		return fmt.Errorf("refused a redirect to a %q URL", s)
	}
	return nil
}

// Get fetches rawURL, an http(s) URL, with client and returns the body's
// media type (Content-Type, else sniffed) and at most limit bytes of body; a
// longer body gives an error wrapping ErrTooLarge. Only 200 is a success.
func Get(ctx context.Context, client *http.Client, rawURL string, limit int64) (string, []byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", nil, err
	}
	if s := strings.ToLower(u.Scheme); (s != "http" && s != "https") || u.Host == "" {
		return "", nil, errors.New("only http(s) URLs can be fetched")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("fetching the URL answered %s", resp.Status)
	}
	if resp.ContentLength > limit {
		return "", nil, ErrTooLarge
	}
	var buf bytes.Buffer
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength) + bytes.MinRead) // room to see EOF without growing
	}
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, limit+1)); err != nil {
		return "", nil, err
	}
	if int64(buf.Len()) > limit {
		return "", nil, ErrTooLarge
	}
	mt := resp.Header.Get("Content-Type")
	if mt == "" {
		mt = http.DetectContentType(buf.Bytes())
	}
	return mt, buf.Bytes(), nil
}
