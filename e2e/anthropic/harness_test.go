// Package anthropic drives the proxy's Messages API (/v1/messages) with
// Anthropic's own clients, pinned in package.json and package-lock.json: the
// @anthropic-ai/sdk npm package (sdk.mjs) and Claude Code headless (the
// native claude binary of @anthropic-ai/claude-code), against the real Caddy
// with gemini_balance (booted by caddytest) and the in-process stand-in
// upstream internal/fakegemini.
//
// sdk.mjs prints a JSON report of every call: what it returned or raised,
// and what the SDK sent. The tests check the report, what Claude Code
// printed, and what the upstream received.
//
// Without node on PATH or without node_modules (npm ci --prefix
// e2e/anthropic) the tests are skipped, unless GEMINI_BALANCE_REQUIRE_NODE=1
// (CI) makes that a failure.
package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/gemini-balance/gemini_balance/caddymodule"
	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/nodetest"
	"github.com/gemini-balance/gemini_balance/internal/testcaddy"
)

// This package's own ports, so it never shares a Caddy with another package.
const (
	adminPort = 2998
	httpPort  = 9198
	httpsPort = 9498
)

const (
	poolName    = "anthropic"
	clientToken = "sk-client-token-anthropic-0001"
	// opusModel is what claude_model maps claude-opus to in the test's
	// Caddyfile: a Gemini 3 model, whose function calls carry thought
	// signatures that must come back on the next turn.
	opusModel = "gemini-3-pro-preview"
)

var ports = testcaddy.Ports{Admin: adminPort, HTTP: httpPort, HTTPS: httpsPort}

var rootURL = fmt.Sprintf("http://localhost:%d", httpPort)

// poolKey is the pool's only key, of the real shape.
var poolKey = func() string {
	s := "AIzaSyanthropic"
	for len(s) < 35 {
		s += "x"
	}
	h := fnv.New32a()
	h.Write([]byte("anthropic"))
	return s[:35] + fmt.Sprintf("%04x", h.Sum32()&0xffff)
}()

// server is the Caddy with one pool over the stand-in upstream.
type server struct {
	up   *fakegemini.Server
	logs string
	// access is Caddy's access log of the site: every request a client
	// made, whether the proxy served it or not.
	access string
}

// startServer boots Caddy with one pool over a new stand-in, claude-opus
// mapped to opusModel.
func startServer(t *testing.T) *server {
	t.Helper()
	up := fakegemini.New()
	t.Cleanup(up.Close)
	up.SetDefault(fakegemini.OK)
	dir := t.TempDir()
	s := &server{up: up, logs: filepath.Join(dir, "caddy.log"), access: filepath.Join(dir, "access.log")}
	tester := ports.Tester(t)
	tester.InitServer(ports.Global(s.logs, "INFO", "")+fmt.Sprintf(`
http://localhost:%d {
	log {
		output file %s
	}
	route {
		gemini_balance %s {
			api_keys %s
			allowed_tokens %s
			database %s
			base_url %s
			check_interval 0
			claude_model claude-opus %s
		}
	}
}
`, httpPort, s.access, poolName, poolKey, clientToken,
		filepath.Join(dir, "pool.db"), up.URL, opusModel), "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	// Runs before t.TempDir's removal: stop the pool so its database is
	// closed before the folder goes.
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop loads an empty config and waits for the pool to stop.
func (s *server) stop(t *testing.T) {
	ports.Unload(t, func() bool { return caddymodule.LookupPool(poolName) == nil })
	if t.Failed() {
		t.Logf("last lines of Caddy's log:\n%s", testcaddy.LastLines(s.logs, 30))
	}
}

// served is one request of Caddy's access log.
type served struct {
	Method, URI string
	Status      int
	// Auth is the header that carried a credential: x-api-key,
	// authorization or none.
	Auth string
}

// accessLog reads the requests Caddy's access log recorded.
func (s *server) accessLog(t *testing.T) []served {
	t.Helper()
	b, err := os.ReadFile(s.access)
	if err != nil {
		t.Fatalf("access log: %v", err)
	}
	var out []served
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var e struct {
			Request struct {
				Method  string              `json:"method"`
				URI     string              `json:"uri"`
				Headers map[string][]string `json:"headers"`
			} `json:"request"`
			Status int `json:"status"`
		}
		if len(line) == 0 || json.Unmarshal(line, &e) != nil {
			continue
		}
		auth := "none"
		for name := range e.Request.Headers {
			switch strings.ToLower(name) {
			case "x-api-key":
				auth = "x-api-key"
			case "authorization":
				if auth == "none" {
					auth = "authorization"
				}
			}
		}
		out = append(out, served{Method: e.Request.Method, URI: e.Request.URI, Status: e.Status, Auth: auth})
	}
	return out
}

// runScript runs node script with the proxy's base URL and the client token
// and returns its report.
func runScript(t *testing.T, node, script string, env ...string) *nodetest.Report {
	t.Helper()
	return nodetest.Run(t, node, script, append(cleanEnv(), append([]string{"GB_BASE_URL=" + rootURL, "GB_TOKEN=" + clientToken}, env...)...))
}

// cleanEnv is the test's environment without what would redirect or
// authenticate the clients by themselves.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "ANTHROPIC_"), strings.HasPrefix(name, "CLAUDE"),
			strings.HasPrefix(name, "NODE_OPTIONS"), name == "HOME",
			strings.HasSuffix(strings.ToUpper(name), "_PROXY"):
			continue
		}
		out = append(out, kv)
	}
	return out
}

// genRequest is what the tests read of a generateContent body.
type genRequest struct {
	Contents []struct {
		Role  string `json:"role"`
		Parts []part `json:"parts"`
	} `json:"contents"`
	SystemInstruction *struct {
		Parts []part `json:"parts"`
	} `json:"systemInstruction"`
	Tools []struct {
		FunctionDeclarations []struct {
			Name string `json:"name"`
		} `json:"functionDeclarations"`
	} `json:"tools"`
	GenerationConfig struct {
		MaxOutputTokens int `json:"maxOutputTokens"`
		ThinkingConfig  *struct {
			IncludeThoughts bool   `json:"includeThoughts"`
			ThinkingBudget  *int   `json:"thinkingBudget"`
			ThinkingLevel   string `json:"thinkingLevel"`
		} `json:"thinkingConfig"`
	} `json:"generationConfig"`
}

type part struct {
	Text             string `json:"text"`
	Thought          bool   `json:"thought"`
	ThoughtSignature string `json:"thoughtSignature"`
	InlineData       *struct {
		MimeType string `json:"mimeType"`
		Data     string `json:"data"`
	} `json:"inlineData"`
	FunctionCall *struct {
		ID   string          `json:"id"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	} `json:"functionCall"`
	FunctionResponse *struct {
		ID       string          `json:"id"`
		Name     string          `json:"name"`
		Response json.RawMessage `json:"response"`
	} `json:"functionResponse"`
}

// upstreamGen is one generation the upstream received.
type upstreamGen struct {
	Path, Key string
	Body      string
	Req       genRequest
}

// generations are the generateContent and streamGenerateContent requests
// the upstream received, in order. Every upstream request must carry the
// pool key and never the client token.
func generations(t *testing.T, up *fakegemini.Server) []upstreamGen {
	t.Helper()
	var out []upstreamGen
	for _, r := range up.Requests() {
		if r.Key != poolKey {
			t.Errorf("upstream %s %s used key %q, want the pool key", r.Method, r.Path, r.Key)
		}
		if bytes.Contains(r.Body, []byte(clientToken)) || strings.Contains(r.RawQuery, clientToken) {
			t.Errorf("client token forwarded upstream in %s", r.Path)
		}
		for name, vals := range r.Header {
			for _, v := range vals {
				if strings.Contains(v, clientToken) {
					t.Errorf("client token forwarded upstream in header %s of %s", name, r.Path)
				}
			}
		}
		if !strings.HasSuffix(r.Path, ":generateContent") && !strings.HasSuffix(r.Path, ":streamGenerateContent") {
			continue
		}
		g := upstreamGen{Path: r.Path, Key: r.Key, Body: string(r.Body)}
		if err := json.Unmarshal(r.Body, &g.Req); err != nil {
			t.Errorf("upstream %s body: %v", r.Path, err)
		}
		out = append(out, g)
	}
	return out
}
