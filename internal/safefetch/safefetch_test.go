package safefetch

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

func TestAllowedAddresses(t *testing.T) {
	for _, tc := range []struct {
		addr string
		want bool
	}{
		// Public IPv4, including the addresses just outside refused blocks.
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"142.250.74.78", true},
		{"1.0.0.0", true},
		{"9.255.255.255", true},
		{"11.0.0.0", true},
		{"100.63.255.255", true},
		{"100.128.0.0", true},
		{"126.255.255.255", true},
		{"128.0.0.0", true},
		{"169.253.255.255", true},
		{"169.255.0.0", true},
		{"172.15.255.255", true},
		{"172.32.0.0", true},
		{"192.0.1.1", true},
		{"192.0.3.0", true},
		{"192.167.255.255", true},
		{"192.169.0.0", true},
		{"198.17.255.255", true},
		{"198.20.0.0", true},
		{"198.51.99.255", true},
		{"198.51.101.0", true},
		{"203.0.112.255", true},
		{"203.0.114.0", true},
		{"223.255.255.255", true},
		// Public IPv6, and IPv4-mapped public IPv4.
		{"2001:4860:4860::8888", true},
		{"2606:4700:4700::1111", true},
		{"2a00:1450:4001:80b::200e", true},
		{"2001:200::1", true},
		{"2001:30::1", true},
		{"2001:db9::1", true},
		{"2003::1", true},
		{"::ffff:8.8.8.8", true},

		// IPv4 special-purpose blocks.
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"10.0.0.1", false},
		{"10.255.255.255", false},
		{"100.64.0.1", false},
		{"100.127.255.255", false},
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"169.254.169.254", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.0.0.1", false},
		{"192.0.0.255", false},
		{"192.0.2.1", false},
		{"192.88.99.1", false},
		{"192.168.0.1", false},
		{"192.168.255.255", false},
		{"198.18.0.1", false},
		{"198.19.255.255", false},
		{"198.51.100.1", false},
		{"203.0.113.1", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"240.0.0.1", false},
		{"254.1.2.3", false},
		{"255.255.255.255", false},
		// IPv6 special-purpose blocks.
		{"::", false},
		{"::1", false},
		{"fc00::1", false},
		{"fd12:3456:789a::1", false},
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"febf:ffff::1", false},
		{"fec0::1", false},
		{"feff::1", false},
		{"ff02::1", false},
		{"ff0e::101", false},
		{"2001:db8::1", false},
		{"2001:db8:ffff:ffff::1", false},
		{"3fff::1", false},
		{"64:ff9b::7f00:1", false},
		{"64:ff9b::808:808", false}, // NAT64 of a public address: refused too
		{"64:ff9b:1::1", false},
		{"2002:7f00:1::1", false},  // 6to4 of 127.0.0.1
		{"2002:808:808::1", false}, // 6to4 of a public address: 6to4 is refused whole
		{"2001::1", false},         // Teredo
		{"2001:0:4136:e378:8000:63bf:3fff:fdd2", false},
		{"2001:0:ffff:ffff::1", false},
		{"2001:2::1", false},
		{"2001:10::1", false},
		{"2001:20::1", false},
		{"2001:2f:ffff::1", false},
		{"100::1", false},
		{"100::ffff:ffff:ffff:ffff", false},
		{"5f00::1", false},
		{"4000::1", false}, // outside 2000::/3: not allocated as global unicast
		{"e000::1", false},
		// IPv4-mapped and IPv4-compatible forms of refused IPv4 addresses.
		{"::ffff:127.0.0.1", false},
		{"::ffff:7f00:1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::ffff:192.168.1.1", false},
		{"::ffff:100.64.0.1", false},
		{"::ffff:0.0.0.0", false},
		{"::ffff:255.255.255.255", false},
		{"::127.0.0.1", false},
		{"::10.0.0.1", false},
		{"::8.8.8.8", false}, // IPv4-compatible form is refused whatever it embeds
	} {
		ip, err := netip.ParseAddr(tc.addr)
		if err != nil {
			t.Fatalf("%s: %v", tc.addr, err)
		}
		if got := Allowed(ip); got != tc.want {
			t.Errorf("Allowed(%s) = %v, want %v", tc.addr, got, tc.want)
		}
	}
	if Allowed(netip.Addr{}) {
		t.Error("the zero Addr is allowed")
	}
}

func TestControlChecksTheDialedAddress(t *testing.T) {
	for _, tc := range []struct {
		network, address string
		ok               bool
	}{
		{"tcp4", "8.8.8.8:443", true},
		{"tcp6", "[2001:4860:4860::8888]:443", true},
		{"tcp6", "[::ffff:8.8.8.8]:80", true},
		{"tcp4", "127.0.0.1:80", false},
		{"tcp4", "169.254.169.254:80", false},
		{"tcp6", "[::1]:80", false},
		{"tcp6", "[::ffff:127.0.0.1]:80", false},
		{"tcp6", "[fe80::1%eth0]:80", false},
		{"tcp4", "localhost:80", false}, // not an address: refused
		{"tcp4", "garbage", false},
	} {
		err := Control(tc.network, tc.address, nil)
		if tc.ok && err != nil {
			t.Errorf("%s: %v", tc.address, err)
		}
		if !tc.ok && !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: got %v, want ErrForbiddenAddress", tc.address, err)
		}
	}
}

// hitServer counts the requests it answers.
type hitServer struct {
	*httptest.Server
	hits atomic.Int32
}

func newHitServer(t *testing.T, h http.HandlerFunc) *hitServer {
	t.Helper()
	s := &hitServer{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		h(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *hitServer) addrPort() netip.AddrPort {
	return netip.MustParseAddrPort(s.Listener.Addr().String())
}

var png = append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 100)...)

func servePNG(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(png) }

// The real client refuses a loopback server, whether the URL names the
// address or a name that resolves to it (the check runs at dial time, on
// the address dialed).
func TestLoopbackRefusedAtDialTime(t *testing.T) {
	srv := newHitServer(t, servePNG)
	port := srv.addrPort().Port()
	client := NewClient()
	for _, u := range []string{
		srv.URL + "/cat.png",
		fmt.Sprintf("http://localhost:%d/cat.png", port),
		fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/cat.png", port),
	} {
		_, _, err := Get(context.Background(), client, u, 1<<20)
		if !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("%s: got %v, want ErrForbiddenAddress", u, err)
		}
	}
	if n := srv.hits.Load(); n != 0 {
		t.Errorf("the loopback server was reached %d times", n)
	}
}

// testClient is the guarded client with one loopback server taken for a
// public one: everything else the dialer sees is judged by the real rule.
func testClient(public *hitServer) *http.Client {
	want := public.addrPort()
	return newClient(guardedDialer(func(ap netip.AddrPort) bool {
		return ap == want || Allowed(ap.Addr())
	}).DialContext)
}

func TestRedirectToInternalAddressRefused(t *testing.T) {
	internal := newHitServer(t, servePNG)
	public := newHitServer(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, internal.URL+"/secret", http.StatusFound)
	})
	_, _, err := Get(context.Background(), testClient(public), public.URL+"/cat.png", 1<<20)
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("got %v, want ErrForbiddenAddress", err)
	}
	if public.hits.Load() != 1 || internal.hits.Load() != 0 {
		t.Fatalf("public %d hits, internal %d hits", public.hits.Load(), internal.hits.Load())
	}
}

func TestRedirectLimit(t *testing.T) {
	// /hop/N redirects N more times before the image.
	var public *hitServer
	public = newHitServer(t, func(w http.ResponseWriter, r *http.Request) {
		var n int
		if _, err := fmt.Sscanf(r.URL.Path, "/hop/%d", &n); err == nil && n > 0 {
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusFound)
			return
		}
		servePNG(w, r)
	})
	client := testClient(public)
	for hops := 0; hops <= MaxRedirects; hops++ {
		if _, data, err := Get(context.Background(), client, fmt.Sprintf("%s/hop/%d", public.URL, hops), 1<<20); err != nil || !bytes.Equal(data, png) {
			t.Errorf("%d redirects: %v", hops, err)
		}
	}
	_, _, err := Get(context.Background(), client, fmt.Sprintf("%s/hop/%d", public.URL, MaxRedirects+1), 1<<20)
	if err == nil || !strings.Contains(err.Error(), "stopped after 3 redirects") {
		t.Errorf("%d redirects: got %v", MaxRedirects+1, err)
	}
}

func TestRedirectToOtherSchemesRefused(t *testing.T) {
	for _, target := range []string{"file:///etc/passwd", "ftp://ftp.example.com/x.png", "gopher://127.0.0.1:70/", "data:image/png;base64,AAAA"} {
		public := newHitServer(t, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Location", target)
			w.WriteHeader(http.StatusFound)
		})
		_, _, err := Get(context.Background(), testClient(public), public.URL+"/x", 1<<20)
		if err == nil || !strings.Contains(err.Error(), "refused a redirect") {
			t.Errorf("redirect to %s: got %v", target, err)
		}
	}
}

func TestOnlyHTTPURLs(t *testing.T) {
	for _, u := range []string{"file:///etc/passwd", "ftp://example.com/a.png", "gopher://example.com/", "http:///nohost", "//example.com/a.png", "%zz"} {
		if _, _, err := Get(context.Background(), NewClient(), u, 1<<20); err == nil {
			t.Errorf("%s was fetched", u)
		}
	}
}

// HTTP_PROXY and the like are not used: the transport has no Proxy, and a
// fetch with the proxy variables set dials the URL's host itself.
func TestEnvironmentProxyNotUsed(t *testing.T) {
	proxy := newHitServer(t, servePNG)
	target := newHitServer(t, servePNG)
	for _, name := range []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"} {
		t.Setenv(name, proxy.URL)
	}
	t.Setenv("NO_PROXY", "")
	t.Setenv("no_proxy", "")

	if p := NewClient().Transport.(*http.Transport).Proxy; p != nil {
		t.Fatal("the client's transport has a Proxy function")
	}
	// A dialer that records what it is asked to dial and connects to the
	// target, standing in for DNS.
	var mu sync.Mutex
	var dialed []string
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		mu.Lock()
		dialed = append(dialed, address)
		mu.Unlock()
		var d net.Dialer
		return d.DialContext(ctx, network, target.Listener.Addr().String())
	}
	client := newClient(dial)
	_, data, err := Get(context.Background(), client, "http://images.example.com/cat.png", 1<<20)
	if err != nil || !bytes.Equal(data, png) {
		t.Fatalf("fetch: %v", err)
	}
	if proxy.hits.Load() != 0 || target.hits.Load() != 1 {
		t.Fatalf("proxy %d hits, target %d hits", proxy.hits.Load(), target.hits.Load())
	}
	if len(dialed) != 1 || dialed[0] != "images.example.com:80" {
		t.Fatalf("dialed %v, want the URL's host", dialed)
	}

	// Control: the same harness does notice a transport that uses a proxy.
	withProxy := newClient(dial)
	tr := withProxy.Transport.(*http.Transport)
	tr.Proxy = func(*http.Request) (*url.URL, error) { return url.Parse(proxy.URL) }
	dialed = nil
	if _, _, err := Get(context.Background(), withProxy, "http://images.example.com/cat.png", 1<<20); err != nil {
		t.Fatal(err)
	}
	if len(dialed) != 1 || dialed[0] != proxy.Listener.Addr().String() {
		t.Fatalf("control: dialed %v, want the proxy", dialed)
	}
}

func TestGetSizeLimit(t *testing.T) {
	body := append(append([]byte(nil), png...), bytes.Repeat([]byte{1}, 1000)...)
	public := newHitServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Has("chunked") {
			w.(http.Flusher).Flush() // no Content-Length
		}
		_, _ = w.Write(body)
	})
	client := testClient(public)
	n := int64(len(body))
	for _, q := range []string{"", "?chunked"} {
		if _, data, err := Get(context.Background(), client, public.URL+"/x"+q, n); err != nil || len(data) != len(body) {
			t.Errorf("%q at the limit: %d bytes, %v", q, len(data), err)
		}
		if _, _, err := Get(context.Background(), client, public.URL+"/x"+q, n-1); !errors.Is(err, ErrTooLarge) {
			t.Errorf("%q over the limit: got %v", q, err)
		}
	}
}

func TestGetStatusAndType(t *testing.T) {
	public := newHitServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/missing":
			http.NotFound(w, r)
		case "/typed":
			w.Header().Set("Content-Type", "image/webp")
			_, _ = w.Write([]byte("RIFF"))
		default:
			w.Header()["Content-Type"] = nil // no type: sniffed
			_, _ = w.Write(png)
		}
	})
	client := testClient(public)
	if _, _, err := Get(context.Background(), client, public.URL+"/missing", 1<<20); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("404: got %v", err)
	}
	if mt, _, err := Get(context.Background(), client, public.URL+"/typed", 1<<20); err != nil || mt != "image/webp" {
		t.Errorf("typed: %q %v", mt, err)
	}
	if mt, _, err := Get(context.Background(), client, public.URL+"/sniffed", 1<<20); err != nil || mt != "image/png" {
		t.Errorf("sniffed: %q %v", mt, err)
	}
}
