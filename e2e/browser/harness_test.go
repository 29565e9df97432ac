// Package browser drives the web console in a real headless Chromium
// (through chromedp) against the real Caddy with gemini_balance, booted by
// caddytest, and the in-process stand-in upstream internal/fakegemini.
//
// Without a chromium on PATH the tests are skipped, unless
// GEMINI_BALANCE_REQUIRE_BROWSER=1 (CI) makes that a failure. Screenshots of
// every page go to $GEMINI_BALANCE_SCREENSHOTS when set, else to a temporary
// folder of the test.
package browser

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"github.com/chromedp/cdproto/cdp"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/gemini-balance/gemini_balance/caddymodule"
	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/testcaddy"
)

// This package's own ports, so it never shares a Caddy with another package.
const (
	adminPort = 2994
	httpPort  = 9194
	httpsPort = 9494
)

const (
	poolName    = "browser"
	clientToken = "tok"
	authToken   = "admin-secret"
	consolePath = "/admin"
	genPath     = "/v1beta/models/gemini-2.5-flash:generateContent"
	helloBody   = `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`

	// stepTimeout bounds one wait or one group of browser actions.
	stepTimeout = 15 * time.Second
)

var ports = testcaddy.Ports{Admin: adminPort, HTTP: httpPort, HTTPS: httpsPort}

var siteURL = fmt.Sprintf("http://localhost:%d", httpPort)

// fakeKey makes a key of the real shape, "AIzaSy" and 33 characters; the
// last four differ between labels, so the masked forms do too.
func fakeKey(label string) string {
	s := "AIzaSy" + label
	for len(s) < 35 {
		s += "x"
	}
	h := fnv.New32a()
	h.Write([]byte(label))
	return s[:35] + fmt.Sprintf("%04x", h.Sum32()&0xffff)
}

// masked is the form the console shows a key in: the first six and the last
// four characters around an ellipsis.
func masked(key string) string { return key[:6] + "…" + key[len(key)-4:] }

// server is the Caddy of a test with one pool and the stand-in upstream.
type server struct {
	up     *fakegemini.Server
	tester *caddytest.Tester
	dir    string
	logs   string
}

// startServer loads a Caddyfile with one pool whose only Caddyfile key is
// key into the in-process Caddy.
func startServer(t *testing.T, key string) *server {
	t.Helper()
	up := fakegemini.New()
	t.Cleanup(up.Close)
	s := &server{up: up, dir: t.TempDir()}
	s.logs = filepath.Join(s.dir, "caddy.log")
	s.tester = ports.Tester(t)
	config := ports.Global(s.logs, "INFO", "") + fmt.Sprintf(`
http://localhost:%d {
	route {
		gemini_balance %s {
			api_keys %s
			allowed_tokens %s
			auth_token %s
			database %s
			base_url %s
			check_interval 0
		}
	}
}
`, httpPort, poolName, key, clientToken, authToken,
		filepath.Join(s.dir, "pool.db"), up.URL)
	s.tester.InitServer(config, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	// Runs before t.TempDir's removal (cleanups run last first): stop the
	// pool so its database is closed and nothing writes into the folder
	// while it is removed.
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop replaces the config by an empty one and waits for the pool to stop.
func (s *server) stop(t *testing.T) {
	ports.Unload(t, func() bool { return caddymodule.LookupPool(poolName) == nil })
	if t.Failed() {
		t.Logf("last lines of Caddy's log:\n%s", testcaddy.LastLines(s.logs, 40))
	}
}

// pool is the running pool.
func (s *server) pool(t *testing.T) *balancer.Balancer {
	t.Helper()
	b := caddymodule.LookupPool(poolName)
	if b == nil {
		t.Fatalf("pool %q is not running", poolName)
	}
	return b
}

// flush writes the pool's buffered request and error logs to the database,
// so the console's pages see them.
func (s *server) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.pool(t).Store().Flush(ctx); err != nil {
		t.Fatalf("flushing the logs: %v", err)
	}
}

// generate sends one Gemini API request as a client with the client token
// and returns the status and body of the answer, and the upstream
// generateContent attempts it caused (the stand-in's other requests, such
// as a model list fetched in the background, are left out).
func (s *server) generate(t *testing.T) (int, string, []fakegemini.Request) {
	t.Helper()
	before := len(s.up.Requests())
	req, _ := http.NewRequest("POST", siteURL+genPath, strings.NewReader(helloBody))
	req.Header.Set("x-goog-api-key", clientToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.tester.Client.Do(req)
	if err != nil {
		t.Fatalf("API request: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("API request: reading the body: %v", err)
	}
	var attempts []fakegemini.Request
	for _, r := range s.up.Requests()[before:] {
		if r.Method == http.MethodPost && strings.HasSuffix(r.Path, ":generateContent") {
			attempts = append(attempts, r)
		}
	}
	return resp.StatusCode, string(b), attempts
}

// consoleAPI calls a console JSON route of the pool with only the session
// cookie id (no cookie jar) and returns the status.
func consoleAPI(t *testing.T, path, session string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", siteURL+consolePath+"/api/pools/"+poolName+path, nil)
	req.AddCookie(&http.Cookie{Name: "gb_session", Value: session})
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("console API %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// browser is one headless Chromium with one tab.
type browser struct {
	ctx   context.Context // the tab
	shots string          // screenshot folder
	keep  bool            // shots is $GEMINI_BALANCE_SCREENSHOTS, kept after the test

	mu     sync.Mutex
	errors []string // uncaught exceptions and console.error calls of the pages
}

// chromiumPath finds Debian's chromium, or skips the test (fails it when
// GEMINI_BALANCE_REQUIRE_BROWSER=1).
func chromiumPath(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		msg := "browser tests need Debian's chromium on PATH (apt-get install chromium): " + err.Error()
		if os.Getenv("GEMINI_BALANCE_REQUIRE_BROWSER") == "1" {
			t.Fatal(msg + " (GEMINI_BALANCE_REQUIRE_BROWSER=1 makes the browser tests mandatory)")
		}
		t.Skip(msg)
	}
	return path
}

// screenshotDir is $GEMINI_BALANCE_SCREENSHOTS, else a temporary folder.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("GEMINI_BALANCE_SCREENSHOTS")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// startBrowser starts headless Chromium; canceling happens in t.Cleanup, so
// no browser outlives the test.
func startBrowser(t *testing.T, execPath string) *browser {
	t.Helper()
	dataDir := t.TempDir()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(execPath),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(dataDir),
		chromedp.WindowSize(1280, 900),
	)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		// Close the browser gracefully, then make sure it is gone.
		c, cancel := context.WithTimeout(ctx, 5*time.Second)
		_ = chromedp.Cancel(c)
		cancel()
		cancelTab()
		cancelAlloc() // waits for the browser process to end
		// A helper process (crashpad) may still write into the profile for
		// a moment; empty it before t.TempDir's own removal, which would
		// fail the test on "directory not empty".
		deadline := time.Now().Add(5 * time.Second)
		for os.RemoveAll(dataDir) != nil && time.Now().Before(deadline) {
			time.Sleep(50 * time.Millisecond)
		}
	})
	b := &browser{ctx: ctx}

	// The first action starts the browser. It must run on the tab's own
	// context (the browser lives as long as the context of its first
	// action), so it is bounded from outside: on a timeout the contexts are
	// canceled, which kills the browser.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting chromium (%s): %v", execPath, err)
		}
	case <-time.After(30 * time.Second):
		cancelTab()
		cancelAlloc()
		t.Fatalf("chromium (%s) did not start within 30s", execPath)
	}
	if err := chromedp.Listen(ctx, b.event); err != nil {
		t.Fatalf("listening to the page: %v", err)
	}
	// The Log domain reports what the browser itself refuses, such as a
	// Content-Security-Policy violation or a failed load.
	b.do(t, "enabling the log domain", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		_, err := cdp.Call(ctx, tg, cdplog.Enable, cdp.Empty{})
		return err
	}))
	return b
}

// event records what the pages report as errors.
func (b *browser) event(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		msg = "uncaught exception: " + d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			msg += " " + d.Exception.Description
		}
		if d.URL != "" {
			msg += fmt.Sprintf(" at %s:%d", d.URL, d.LineNumber+1)
		}
	case *cdplog.EventEntryAdded:
		if ev.Entry.Level != cdplog.EntryLevelError {
			return
		}
		msg = fmt.Sprintf("browser %s error: %s", ev.Entry.Source, ev.Entry.Text)
		if ev.Entry.URL != "" {
			msg += " (" + ev.Entry.URL + ")"
		}
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError {
			return
		}
		var parts []string
		for _, a := range ev.Args {
			if a.Description != "" {
				parts = append(parts, a.Description)
			} else {
				parts = append(parts, string(a.Value))
			}
		}
		msg = "console.error: " + strings.Join(parts, " ")
	default:
		return
	}
	b.mu.Lock()
	b.errors = append(b.errors, msg)
	b.mu.Unlock()
}

// pageErrors returns the errors the pages reported so far.
func (b *browser) pageErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.errors...)
}

// do runs browser actions within stepTimeout.
func (b *browser) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v\n%s", what, err, b.describe())
	}
}

// eval evaluates a JavaScript expression within a few seconds.
func eval[T any](b *browser, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

// text evaluates a JavaScript expression that gives a string.
func (b *browser) text(t *testing.T, expr string) string {
	t.Helper()
	s, err := eval[string](b, expr)
	if err != nil {
		t.Fatalf("evaluating %s: %v\n%s", expr, err, b.describe())
	}
	return s
}

// waitFor polls a JavaScript condition until it holds or stepTimeout ends.
// It survives navigations, which a chromedp.Poll does not.
func (b *browser) waitFor(t *testing.T, what, cond string) {
	t.Helper()
	deadline := time.Now().Add(stepTimeout)
	var lastErr error
	for {
		ok, err := eval[bool](b, "!!("+cond+")")
		if err == nil && ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (last error: %v)\n%s", what, lastErr, b.describe())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// describe tells where the browser is and what it shows, for failures.
func (b *browser) describe() string {
	loc, _ := eval[string](b, "location.href")
	body, _ := eval[string](b, "document.body ? document.body.innerText : ''")
	if len(body) > 3000 {
		body = body[:3000] + "…"
	}
	s := fmt.Sprintf("page %s shows:\n%s", loc, body)
	if errs := b.pageErrors(); len(errs) > 0 {
		s += "\npage errors:\n" + strings.Join(errs, "\n")
	}
	return s
}

// location is the path and query of the page.
func (b *browser) location(t *testing.T) string {
	return b.text(t, "location.pathname + location.search")
}

// visibleText is what the page shows plus the values of its form fields:
// everything a user can read.
func (b *browser) visibleText(t *testing.T) string {
	return b.text(t, `document.body.innerText + "\n" +
		Array.from(document.querySelectorAll('input, textarea, select')).map(function (e) { return e.value; }).join("\n") + "\n" +
		document.documentElement.outerHTML`)
}

// assertNoFullKey checks that no full key is anywhere on the page.
func (b *browser) assertNoFullKey(t *testing.T, keys ...string) {
	t.Helper()
	page := b.visibleText(t)
	for _, k := range keys {
		if strings.Contains(page, k) {
			t.Errorf("page %s shows the full key %s", b.location(t), masked(k))
		}
	}
}

// screenshot saves a full-page PNG of what the browser shows.
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	note := ""
	if b.keep && len(shot) > maxShotBytes {
		// A long page (the settings) in true colour is too big to keep in
		// the repository; its 256 most telling colours look the same.
		small, err := palettePNG(shot)
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		note = fmt.Sprintf(", %d KB before reducing it to 256 colours", len(shot)/1024)
		shot = small
	}
	path := filepath.Join(b.shots, name)
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s (%d KB%s)", path, len(shot)/1024, note)
}

// maxShotBytes is the size above which a screenshot kept in
// $GEMINI_BALANCE_SCREENSHOTS (the repository's docs/screenshots) is stored
// with a palette.
const maxShotBytes = 300 << 10

// palettePNG re-encodes an opaque PNG with a palette of at most 256 colours:
// the most frequent ones, spread out so that a rare but distinct colour (a red
// badge) keeps its own entry, with every other colour drawn as its nearest
// entry. UI screenshots have few colours, so this loses next to nothing and
// makes the file a third of the size. A PNG with transparency is returned as
// it is.
func palettePNG(data []byte) ([]byte, error) {
	img, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	bounds := img.Bounds()
	rgba, ok := img.(*image.RGBA)
	if !ok {
		rgba = image.NewRGBA(bounds)
		draw.Draw(rgba, bounds, img, bounds.Min, draw.Src)
	}
	// counts holds how often each 24-bit colour occurs, later its palette
	// index.
	counts := make([]int32, 1<<24)
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		row := rgba.Pix[rgba.PixOffset(bounds.Min.X, y):rgba.PixOffset(bounds.Max.X, y)]
		for i := 0; i < len(row); i += 4 {
			if row[i+3] != 0xff {
				return data, nil
			}
			counts[int(row[i])<<16|int(row[i+1])<<8|int(row[i+2])]++
		}
	}
	var colors []int32
	for c, n := range counts {
		if n > 0 {
			colors = append(colors, int32(c))
		}
	}
	sort.Slice(colors, func(i, j int) bool {
		a, b := colors[i], colors[j]
		if counts[a] != counts[b] {
			return counts[a] > counts[b]
		}
		return a < b
	})
	rgb := func(c int32) color.RGBA { return color.RGBA{uint8(c >> 16), uint8(c >> 8), uint8(c), 0xff} }
	dist := func(a, b color.RGBA) int {
		dr, dg, db := int(a.R)-int(b.R), int(a.G)-int(b.G), int(a.B)-int(b.B)
		return dr*dr + dg*dg + db*db
	}
	var pal color.Palette
	taken := map[int32]bool{}
	for _, spread := range []int{1200, 300, 75, 0} {
		for _, c := range colors {
			if len(pal) == 256 {
				break
			}
			if taken[c] {
				continue
			}
			far := true
			for _, p := range pal {
				if dist(rgb(c), p.(color.RGBA)) < spread {
					far = false
					break
				}
			}
			if far {
				pal = append(pal, rgb(c))
				taken[c] = true
			}
		}
	}
	for _, c := range colors {
		counts[c] = int32(pal.Index(rgb(c)))
	}
	out := image.NewPaletted(bounds, pal)
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		row := rgba.Pix[rgba.PixOffset(bounds.Min.X, y):rgba.PixOffset(bounds.Max.X, y)]
		dst := out.Pix[out.PixOffset(bounds.Min.X, y):]
		for i, j := 0, 0; i < len(row); i, j = i+4, j+1 {
			dst[j] = uint8(counts[int(row[i])<<16|int(row[i+1])<<8|int(row[i+2])])
		}
	}
	var buf bytes.Buffer
	if err := (&png.Encoder{CompressionLevel: png.DefaultCompression}).Encode(&buf, out); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// sessionCookie is the console's session cookie as the browser holds it.
func (b *browser) sessionCookie(t *testing.T) *network.Cookie {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	var found *network.Cookie
	err := chromedp.Do(ctx, chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		res, err := cdp.Call(ctx, t, network.GetCookies, network.GetCookiesParams{URLs: []string{siteURL + consolePath + "/"}})
		if err != nil {
			return err
		}
		for _, c := range res.Cookies {
			if c.Name == "gb_session" {
				found = c
			}
		}
		return nil
	}))
	if err != nil {
		t.Fatalf("reading cookies: %v", err)
	}
	return found
}
