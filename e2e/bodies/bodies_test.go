// Package bodies boots the real Caddy with gemini_balance and checks that a
// client body costs memory as it arrives, not as it is announced.
package bodies

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/gemini-balance/gemini_balance/caddymodule"
	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/testcaddy"
)

// This package's own ports, so it never shares a Caddy with another package.
const (
	adminPort = 2996
	httpPort  = 9196
	httpsPort = 9496
)

const (
	clientToken = "sk-client-token-bodies-0001"
	upstreamKey = "AIzaSy" + "bodiesbodiesbodiesbodiesbodies01" // 32 characters after the prefix
	path        = "/v1beta/models/gemini-2.5-flash:generateContent"
)

var ports = testcaddy.Ports{Admin: adminPort, HTTP: httpPort, HTTPS: httpsPort}

var siteAddr = fmt.Sprintf("localhost:%d", httpPort)

// start boots Caddy with a gemini_balance pool in front of the stand-in;
// extra are more lines of the gemini_balance block.
func start(t *testing.T, extra string) *caddytest.Tester {
	t.Helper()
	up := fakegemini.New()
	t.Cleanup(up.Close)
	up.SetKey(upstreamKey, fakegemini.OK)
	dir := t.TempDir()
	tester := ports.Tester(t)
	tester.InitServer(ports.Global(filepath.Join(dir, "caddy.log"), "INFO", "")+fmt.Sprintf(`
http://localhost:%d {
	gemini_balance bodies {
		api_keys %s
		allowed_tokens %s
		database %s
		base_url %s
		check_interval 0
		%s
	}
}
`, httpPort, upstreamKey, clientToken,
		filepath.Join(dir, "pool.db"), up.URL, extra), "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	return tester
}

// generate sends a whole request and returns its status.
func generate(t *testing.T, tester *caddytest.Tester, body string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+siteAddr+path, strings.NewReader(body))
	req.Header.Set("x-goog-api-key", clientToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := tester.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Logf("answer %d: %.300s", resp.StatusCode, b)
	}
	return resp.StatusCode
}

// stacks is inSized's buffer, made once so polling allocates nothing.
var stacks = make([]byte, 4<<20)

// inSized counts the goroutines reading a body in readall.Sized.
func inSized() int {
	n := runtime.Stack(stacks, true)
	for n == len(stacks) {
		stacks = make([]byte, 2*len(stacks))
		n = runtime.Stack(stacks, true)
	}
	return strings.Count(string(stacks[:n]), "internal/readall.Sized(")
}

// memory is what the process holds after a collection.
type memory struct {
	heapInuse, stackInuse, sys uint64
	rss                        uint64 // VmRSS, bytes; 0 when unknown
}

func measure() memory {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memory{heapInuse: ms.HeapInuse, stackInuse: ms.StackInuse, sys: ms.Sys, rss: vmRSS()}
}

func vmRSS() uint64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func mib(before, after uint64) string {
	return fmt.Sprintf("%+.2f MiB", (float64(after)-float64(before))/(1<<20))
}

// TestAnnouncedBodiesCostNothing opens 40 connections that each announce a
// 60 MB body (under the 64 MiB limit) and send none of it: the server must
// not reserve the announced sizes (2.4 GB) but hold only a small first chunk
// per connection.
func TestAnnouncedBodiesCostNothing(t *testing.T) {
	const (
		conns     = 40
		announced = 60_000_000
		maxGrowth = 16 << 20
	)
	tester := start(t, "")
	// Warm up: the pool, its store and the connection machinery are in place
	// before the baseline.
	if st := generate(t, tester, `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`); st != http.StatusOK {
		t.Fatalf("warm-up request: status %d", st)
	}
	if tr, ok := tester.Client.Transport.(interface{ CloseIdleConnections() }); ok {
		tr.CloseIdleConnections()
	}
	time.Sleep(100 * time.Millisecond)
	goroutines := runtime.NumGoroutine()
	before := measure()

	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for i := range conns {
		c, err := net.Dial("tcp", siteAddr)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		open = append(open, c)
		_, err = fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nx-goog-api-key: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
			path, siteAddr, clientToken, announced)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	// Wait until every handler has read its headers, passed authentication
	// and waits for the body inside readall.Sized.
	deadline := time.Now().Add(20 * time.Second)
	for inSized() < conns {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d connections reached the body read", inSized(), conns)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // let any allocation after the first Read happen
	during := measure()
	grown := int64(during.heapInuse) - int64(before.heapInuse)
	t.Logf("%d connections announcing %d bytes each, none sent: heap in use %s (%d bytes, %d per connection), stacks %s, Sys %s, VmRSS %s",
		conns, announced, mib(before.heapInuse, during.heapInuse), grown, grown/conns,
		mib(before.stackInuse, during.stackInuse), mib(before.sys, during.sys), mib(before.rss, during.rss))
	if grown > maxGrowth {
		t.Errorf("heap in use grew by %d bytes for %d connections that sent no body, want under %d", grown, conns, maxGrowth)
	}

	// The server answers none of them until they send or go away.
	for _, c := range open {
		c.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
		if n, err := c.Read(make([]byte, 1)); n > 0 || !isTimeout(err) {
			t.Errorf("a connection got an answer before sending its body: %d bytes, %v", n, err)
		}
	}
	for _, c := range open {
		c.Close()
	}
	open = nil

	// Every handler ends once its client is gone.
	deadline = time.Now().Add(20 * time.Second)
	for {
		n, stuck := runtime.NumGoroutine(), inSized()
		if n <= goroutines+5 && stuck == 0 {
			t.Logf("goroutines: %d before the connections, %d after they closed", goroutines, n)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines: %d before the connections, %d after they closed (%d still in readall.Sized)", goroutines, n, stuck)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// And the server still serves.
	if st := generate(t, tester, `{"contents":[{"role":"user","parts":[{"text":"after"}]}]}`); st != http.StatusOK {
		t.Errorf("request after the connections closed: status %d", st)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// TestHonestBodies sends bodies whose Content-Length is right, large and
// small, whole and in slow pieces: they are read in full and answered.
func TestHonestBodies(t *testing.T) {
	tester := start(t, "")
	for _, size := range []int{100, 70 << 10, 3 << 20} {
		text := strings.Repeat("a", size)
		body := `{"contents":[{"role":"user","parts":[{"text":"` + text + `"}]}]}`
		if st := generate(t, tester, body); st != http.StatusOK {
			t.Errorf("%d-byte text: status %d", size, st)
		}
		// The same by hand, in pieces with pauses, as a slow client sends it.
		c, err := net.Dial("tcp", siteAddr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nx-goog-api-key: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n",
			path, siteAddr, clientToken, len(body))
		for rest := body; rest != ""; {
			n := min(len(rest), 256<<10)
			if _, err := io.WriteString(c, rest[:n]); err != nil {
				t.Fatal(err)
			}
			rest = rest[n:]
			time.Sleep(5 * time.Millisecond)
		}
		c.SetReadDeadline(time.Now().Add(30 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("%d-byte text in pieces: %v", size, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		c.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%d-byte text in pieces: status %d: %.300s", size, resp.StatusCode, b)
		}
	}
}

// TestLyingBodies: a body shorter than announced is a 400 once the client
// stops; one longer than the limit is a 413, announced or not; and the
// server goes on serving.
func TestLyingBodies(t *testing.T) {
	tester := start(t, "")
	// Announced 60 MB, sends 10 bytes and half-closes.
	c, err := net.Dial("tcp", siteAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST %s HTTP/1.1\r\nHost: %s\r\nx-goog-api-key: %s\r\nContent-Type: application/json\r\nContent-Length: 60000000\r\n\r\n{\"contents",
		path, siteAddr, clientToken)
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("10 bytes of 60 MB announced: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("10 bytes of 60 MB announced: status %d, want 400", resp.StatusCode)
	}

	// Past the limit (1 MiB here, to keep the test quick): announced
	// honestly, or sent chunked with no length.
	const limit = 1 << 20
	tester = start(t, fmt.Sprintf("max_body_size %d", limit))
	for _, chunked := range []bool{false, true} {
		req, _ := http.NewRequest(http.MethodPost, "http://"+siteAddr+path, io.LimitReader(zeros{}, limit+100))
		req.ContentLength = limit + 100
		if chunked {
			req.ContentLength = -1 // unknown: sent chunked
		}
		req.Header.Set("x-goog-api-key", clientToken)
		resp, err := tester.Client.Do(req)
		if err != nil {
			t.Fatalf("%d bytes over a limit of %d (chunked %v): %v", limit+100, limit, chunked, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("%d bytes over a limit of %d (chunked %v): status %d, want 413", limit+100, limit, chunked, resp.StatusCode)
		}
	}

	if st := generate(t, tester, `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`); st != http.StatusOK {
		t.Errorf("request after the lying ones: status %d", st)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
