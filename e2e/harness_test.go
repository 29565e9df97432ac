// Package e2e boots the real Caddy with gemini_balance from a Caddyfile
// against the in-process stand-in Gemini upstream and drives it with the
// official Google GenAI SDK and plain HTTP.
package e2e

import (
	"context"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
	"google.golang.org/genai"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/gemini-balance/gemini_balance/caddymodule"
	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/testcaddy"
)

// This package's own ports, so it never shares a Caddy with another package.
const (
	adminPort = 2991
	httpPort  = 9181
	httpsPort = 9481
)

var ports = testcaddy.Ports{Admin: adminPort, HTTP: httpPort, HTTPS: httpsPort}

var baseURL = fmt.Sprintf("http://localhost:%d", httpPort)

// clientToken is the token clients present; it must never reach the upstream.
const clientToken = "sk-client-token-e2e-0001"

// env is one test's Caddy config and stand-in upstream.
type env struct {
	t      *testing.T
	up     *fakegemini.Server
	tester *caddytest.Tester
	dir    string
	pool   string
	logs   string
}

// poolOpts are the lines of the gemini_balance block besides the defaults.
type poolOpts struct {
	check   string // check_interval; default 0 (off)
	keys    []string
	extra   string // more option lines
	baseURL string // default: the stand-in upstream
	site    string // more site lines after the handler
}

func newEnv(t *testing.T) *env {
	t.Helper()
	up := fakegemini.New()
	t.Cleanup(up.Close)
	dir := t.TempDir()
	name := strings.NewReplacer("/", "-", "_", "-").Replace(t.Name())
	if len(name) > 60 {
		name = name[:60]
	}
	return &env{t: t, up: up, dir: dir, pool: name, logs: filepath.Join(dir, "caddy.log"),
		tester: ports.Tester(t)}
}

// config renders a Caddyfile for opts.
func (e *env) config(o poolOpts) string {
	base := o.baseURL
	if base == "" {
		base = e.up.URL
	}
	return ports.Global(e.logs, "DEBUG", "") + fmt.Sprintf(`
http://localhost:%d {
	route {
	gemini_balance %s {
		%s
		allowed_tokens %s
		auth_token admin-token-e2e
		database %s
		base_url %s
		%s
		%s
	}
	%s
	respond "next handler" 200
	}
}
`, httpPort, e.pool, keysLine(o.keys), clientToken,
		filepath.Join(e.dir, "pool.db"), base, checkLine(o), o.extra, o.site)
}

// start loads a config for opts into the shared Caddy.
func (e *env) start(o poolOpts) {
	e.t.Helper()
	e.load(e.config(o))
}

// load loads a Caddyfile into the shared Caddy.
func (e *env) load(caddyfile string) {
	e.t.Helper()
	e.tester.InitServer(caddyfile, "caddyfile")
	if e.t.Failed() {
		e.t.FailNow()
	}
	// Connections to the previous config's server close with it.
	if tr, ok := e.tester.Client.Transport.(interface{ CloseIdleConnections() }); ok {
		tr.CloseIdleConnections()
	}
}

// balancer is the running pool of this test.
func (e *env) balancer() *balancer.Balancer {
	e.t.Helper()
	b := caddymodule.LookupPool(e.pool)
	if b == nil {
		e.t.Fatalf("pool %q is not running", e.pool)
	}
	return b
}

// key finds a pool key by its secret.
func (e *env) key(secret string) *keypool.Key {
	e.t.Helper()
	for _, k := range e.balancer().Ring().Keys() {
		if k.Secret() == secret {
			return k
		}
	}
	e.t.Fatalf("key %s not in the pool", secret)
	return nil
}

func (e *env) genai() *genai.Client {
	e.t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      clientToken,
		Backend:     genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: baseURL + "/"},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// do sends a raw request and returns the status, headers and body.
func (e *env) do(method, path string, body string, header ...string) (int, http.Header, string) {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, baseURL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	if body != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := e.tester.Client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("%s %s: reading body: %v", method, path, err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// authed are the headers of a client with the right token.
var authed = []string{"x-goog-api-key", clientToken}

const helloBody = `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`

// assertNoClientToken checks the upstream never saw the client's token.
func (e *env) assertNoClientToken() {
	e.t.Helper()
	for _, r := range e.up.Requests() {
		if strings.Contains(r.RawQuery, clientToken) || strings.Contains(string(r.Body), clientToken) {
			e.t.Errorf("client token forwarded upstream in %s %s?%s", r.Method, r.Path, r.RawQuery)
		}
		for name, vals := range r.Header {
			for _, v := range vals {
				if strings.Contains(v, clientToken) {
					e.t.Errorf("client token forwarded upstream in header %s", name)
				}
			}
		}
	}
}

// readLogs returns Caddy's log file so far.
func (e *env) readLogs() string {
	b, _ := os.ReadFile(e.logs)
	return string(b)
}

// eventually retries cond for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// k makes a realistic-looking key from a label; the last four characters
// differ between labels, so masked forms do too.
func k(label string) string {
	s := "AIzaSy" + label
	for len(s) < 35 {
		s += "x"
	}
	h := fnv.New32a()
	h.Write([]byte(label))
	return s[:35] + fmt.Sprintf("%04x", h.Sum32()&0xffff)
}

func now() time.Time { return time.Now() }

func keysLine(keys []string) string {
	if len(keys) == 0 {
		return ""
	}
	return "api_keys " + strings.Join(keys, " ")
}

func newBenchTester(b *testing.B) *caddytest.Tester {
	return ports.Tester(b)
}

func checkLine(o poolOpts) string {
	if o.check == "-" {
		return ""
	}
	if o.check == "" {
		return "check_interval 0"
	}
	return "check_interval " + o.check
}

// balancer0 is the running pool of this test, or nil.
func (e *env) balancer0() *balancer.Balancer { return caddymodule.LookupPool(e.pool) }
