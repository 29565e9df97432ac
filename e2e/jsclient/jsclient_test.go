// Package jsclient drives the proxy with the newest released JavaScript SDKs,
// @google/genai and openai (pinned in package.json and package-lock.json), set
// up the way their users set them up, against the real Caddy with
// gemini_balance (booted by caddytest) and the in-process stand-in upstream
// internal/fakegemini.
//
// The scripts (genai.mjs, openai.mjs, resources.mjs) print a JSON report of
// every call: what it returned or raised, and what the SDK sent (method,
// path, headers that matter, body). The test checks the report and what the
// upstream received.
//
// Without node on PATH or without node_modules (npm ci --prefix
// e2e/jsclient) the tests are skipped, unless GEMINI_BALANCE_REQUIRE_NODE=1
// (CI) makes that a failure.
package jsclient

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/gemini-balance/gemini_balance/caddymodule"
	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/fakeopenai"
	"github.com/gemini-balance/gemini_balance/internal/nodetest"
	"github.com/gemini-balance/gemini_balance/internal/testcaddy"
)

// This package's own ports, so it never shares a Caddy with another package.
const (
	adminPort = 2997
	httpPort  = 9197
	httpsPort = 9497
)

const (
	poolName    = "jsclient"
	clientToken = "sk-client-token-jsclient-0001"
	// otherToken is a second client token of the pool, that the scripts do
	// not use.
	otherToken = "sk-client-token-jsclient-0002"
)

var ports = testcaddy.Ports{Admin: adminPort, HTTP: httpPort, HTTPS: httpsPort}

var rootURL = fmt.Sprintf("http://localhost:%d", httpPort)

// poolKey is the pool's only key, of the real shape.
var poolKey = func() string {
	s := "AIzaSyjsclient"
	for len(s) < 35 {
		s += "x"
	}
	h := fnv.New32a()
	h.Write([]byte("jsclient"))
	return s[:35] + fmt.Sprintf("%04x", h.Sum32()&0xffff)
}()

// server is the Caddy with one pool over the stand-in upstream.
type server struct {
	up   *fakegemini.Server
	logs string
	// keys are the pool's keys.
	keys []string
}

// startServer boots Caddy with one pool over a new stand-in; the pool's
// keys are keys, or poolKey alone when none are given.
func startServer(t *testing.T, keys ...string) *server {
	t.Helper()
	if len(keys) == 0 {
		keys = []string{poolKey}
	}
	up := fakegemini.New()
	t.Cleanup(up.Close)
	up.SetDefault(fakegemini.OK)
	dir := t.TempDir()
	s := &server{up: up, logs: filepath.Join(dir, "caddy.log"), keys: keys}
	tester := ports.Tester(t)
	tester.InitServer(ports.Global(s.logs, "INFO", "")+fmt.Sprintf(`
http://localhost:%d {
	route {
		gemini_balance %s {
			api_keys %s
			allowed_tokens %s
			database %s
			base_url %s
			check_interval 0
		}
	}
}
`, httpPort, poolName, strings.Join(keys, " "), clientToken+" "+otherToken,
		filepath.Join(dir, "pool.db"), up.URL), "caddyfile")
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

// runScript runs node script with the proxy's base URL and the client token
// and returns its report.
func runScript(t *testing.T, node, script, base string, env ...string) *nodetest.Report {
	t.Helper()
	return nodetest.Run(t, node, script, append(nodetest.CleanEnv(), append([]string{"GB_BASE_URL=" + base, "GB_TOKEN=" + clientToken}, env...)...))
}

// checkUpstream checks that every upstream request carried the pool key and
// never the client token, logs the paths, and returns them.
func checkUpstream(t *testing.T, up *fakegemini.Server) []string {
	t.Helper()
	var paths []string
	for _, r := range up.Requests() {
		p := r.Method + " " + r.Path
		if r.RawQuery != "" {
			p += "?" + r.RawQuery
		}
		paths = append(paths, p)
		if r.Key != poolKey {
			t.Errorf("upstream %s used key %q, want the pool key", p, r.Key)
		}
		if strings.Contains(r.RawQuery, clientToken) || bytes.Contains(r.Body, []byte(clientToken)) {
			t.Errorf("client token forwarded upstream in %s", p)
		}
		for name, vals := range r.Header {
			for _, v := range vals {
				if strings.Contains(v, clientToken) {
					t.Errorf("client token forwarded upstream in header %s of %s", name, p)
				}
			}
		}
	}
	t.Logf("upstream received:\n  %s", strings.Join(paths, "\n  "))
	return paths
}

// wantUpstream checks each of want is a prefix of some upstream path.
func wantUpstream(t *testing.T, got []string, want ...string) {
	t.Helper()
	for _, w := range want {
		found := false
		for _, g := range got {
			if strings.HasPrefix(g, w) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("upstream never received %q", w)
		}
	}
}

func TestGoogleGenAI(t *testing.T) {
	node := nodetest.Need(t, "e2e/jsclient")
	s := startServer(t)
	for _, c := range []struct {
		name, base, version string
		// wantVersion is the version segment the SDK must put in its paths.
		wantPrefix string
	}{
		{"default", rootURL, "", "/v1/"},
		{"v1beta", rootURL, "v1beta", "/v1beta/"},
		{"gemini default", rootURL + "/gemini", "", "/gemini/v1/"},
		{"gemini v1beta", rootURL + "/gemini", "v1beta", "/gemini/v1beta/"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s.up.Reset()
			var env []string
			if c.version != "" {
				env = append(env, "GB_API_VERSION="+c.version)
			}
			r := runScript(t, node, "genai.mjs", c.base, env...)
			checkGenAI(t, r, c.wantPrefix)
			up := checkUpstream(t, s.up)
			// The SDK's own headers that the proxy forwards, on the calls it
			// relays (a full model list is the pool's own, cached, request).
			for _, u := range s.up.Requests() {
				if u.Method != http.MethodPost {
					continue
				}
				if got := u.Header.Get("X-Goog-Api-Client"); !strings.Contains(got, "google-genai-sdk/"+r.Version) {
					t.Errorf("upstream %s %s got X-Goog-Api-Client %q", u.Method, u.Path, got)
					break
				}
			}
			wantUpstream(t, up,
				"POST /v1beta/models/gemini-2.5-flash:generateContent",
				"POST /v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
				"POST /v1beta/models/gemini-2.5-flash:countTokens",
				"POST /v1beta/models/gemini-embedding-001:",
				"GET /v1beta/models",
				"GET /v1beta/models/gemini-2.5-pro",
				"POST /v1beta/models/gemini-3-flash-preview:generateContent",
				"POST /v1beta/models/no-such-model-xyz:generateContent",
			)
		})
	}
}

func checkGenAI(t *testing.T, r *nodetest.Report, prefix string) {
	t.Helper()
	for _, c := range r.Calls {
		for _, s := range c.Sent {
			if !strings.HasPrefix(s.Path, prefix) {
				t.Errorf("%s sent %s %s, want a path under %s", c.Name, s.Method, s.Path, prefix)
			}
			if s.Auth != "x-goog-api-key" {
				t.Errorf("%s sent its key by %s", c.Name, s.Auth)
			}
		}
	}
	var text struct {
		Text   string `json:"text"`
		Chunks int    `json:"chunks"`
	}
	if r.Call(t, "generateContent").Decode(t, &text) && text.Text != fakegemini.ReplyText("gemini-2.5-flash") {
		t.Errorf("generateContent: %q", text.Text)
	}
	text.Text = ""
	if r.Call(t, "generateContentStream").Decode(t, &text) && (!strings.HasPrefix(text.Text, fakegemini.ReplyText("gemini-2.5-flash")) || text.Chunks < 2) {
		t.Errorf("generateContentStream: %q in %d chunks", text.Text, text.Chunks)
	}
	var count struct {
		TotalTokens int `json:"totalTokens"`
	}
	if r.Call(t, "countTokens").Decode(t, &count) && count.TotalTokens <= 0 {
		t.Errorf("countTokens: %d", count.TotalTokens)
	}
	var emb struct{ Embeddings, Dims int }
	if r.Call(t, "embedContent").Decode(t, &emb) && (emb.Embeddings != 2 || emb.Dims == 0) {
		t.Errorf("embedContent: %d embeddings of %d dims", emb.Embeddings, emb.Dims)
	}
	for _, name := range []string{"models.list", "models.list pageSize 2"} {
		var list struct {
			Names []string `json:"names"`
		}
		if !r.Call(t, name).Decode(t, &list) {
			continue
		}
		seen := map[string]int{}
		for _, n := range list.Names {
			seen[n]++
		}
		for _, want := range []string{"models/gemini-2.5-flash", "models/gemini-2.5-pro", "models/gemini-embedding-001", "models/gemini-2.5-flash-search"} {
			if seen[want] != 1 {
				t.Errorf("%s: %s listed %d times in %v", name, want, seen[want], list.Names)
			}
		}
		t.Logf("%s: %d models over %d requests", name, len(list.Names), len(r.Call(t, name).Sent))
	}
	if c := r.Call(t, "models.list pageSize 2"); c.OK && len(c.Sent) < 2 {
		t.Errorf("models.list pageSize 2: the pager made %d request(s), want several pages", len(c.Sent))
	}
	var model struct{ Name, DisplayName string }
	if r.Call(t, "models.get").Decode(t, &model) && model.Name != "models/gemini-2.5-pro" {
		t.Errorf("models.get: %+v", model)
	}
	for _, m := range []string{"gemini-2.5-flash", "gemini-3-flash-preview"} {
		var fc struct {
			Call struct {
				Name string            `json:"name"`
				Args map[string]string `json:"args"`
			} `json:"call"`
			Signed bool   `json:"signed"`
			Text   string `json:"text"`
		}
		name := "functionCalling " + m
		if r.Call(t, name).Decode(t, &fc) {
			if fc.Call.Name != "get_weather" || fc.Call.Args["city"] != fakegemini.FunctionArgValue || !strings.HasPrefix(fc.Text, fakegemini.FunctionResultPrefix) {
				t.Errorf("%s: %+v", name, fc)
			}
			if strings.HasPrefix(m, "gemini-3") && !fc.Signed {
				t.Errorf("%s: the call came back without its thought signature", name)
			}
		}
	}
	var chat struct{ Call, Text string }
	if r.Call(t, "chat functionCalling gemini-3-flash-preview").Decode(t, &chat) && !strings.HasPrefix(chat.Text, fakegemini.FunctionResultPrefix) {
		t.Errorf("chat function calling: %+v", chat)
	}
	c := r.Call(t, "unknown model")
	if c.OK || c.Error == nil || c.Error.Name != "ApiError" || c.Error.Status != 404 {
		t.Errorf("unknown model: want ApiError status 404, got ok=%v %+v\nsent:\n%s", c.OK, c.Error, c.Describe())
	}
}

func TestOpenAI(t *testing.T) {
	node := nodetest.Need(t, "e2e/jsclient")
	s := startServer(t)
	r := runScript(t, node, "openai.mjs", rootURL)
	up := checkUpstream(t, s.up)

	for _, family := range []string{"v1", "openai/v1"} {
		for _, c := range r.Calls {
			if !strings.HasPrefix(c.Name, family+" ") {
				continue
			}
			for _, sent := range c.Sent {
				if !strings.HasPrefix(sent.Path, "/"+family+"/") || sent.Auth != "authorization" {
					t.Errorf("%s sent %s %s with auth %s", c.Name, sent.Method, sent.Path, sent.Auth)
				}
			}
		}
		var chat struct{ Text, Finish string }
		if r.Call(t, family+" chat.completions.create").Decode(t, &chat) && (chat.Text == "" || chat.Finish != "stop") {
			t.Errorf("%s chat: %+v", family, chat)
		}
		var stream struct {
			Text, Finish string
			Chunks       int
		}
		if r.Call(t, family+" chat.completions.create stream").Decode(t, &stream) && (stream.Text == "" || stream.Finish != "stop" || stream.Chunks < 2) {
			t.Errorf("%s chat stream: %+v", family, stream)
		}
		var list struct {
			IDs []string `json:"ids"`
		}
		if r.Call(t, family+" models.list").Decode(t, &list) {
			sort.Strings(list.IDs)
			want := []string{"gemini-2.5-flash", "gemini-2.5-pro"}
			if family == "v1" {
				want = append(want, "gemini-2.5-flash-search")
			}
			for _, w := range want {
				if !containsID(list.IDs, w) {
					t.Errorf("%s models.list: %s missing from %v", family, w, list.IDs)
				}
			}
		}
		var emb struct{ Data, Dims int }
		if r.Call(t, family+" embeddings.create").Decode(t, &emb) && (emb.Data != 2 || emb.Dims == 0) {
			t.Errorf("%s embeddings: %+v", family, emb)
		}
		c := r.Call(t, family+" unknown model")
		if c.OK || c.Error == nil || c.Error.Class != "NotFoundError" || c.Error.Status != 404 {
			t.Errorf("%s unknown model: want a NotFoundError with status 404, got ok=%v %+v\nsent:\n%s", family, c.OK, c.Error, c.Describe())
		}
	}
	if r.Call(t, "v1 chat.completions.create").OK {
		if got := r.Call(t, "v1 chat.completions.create").Result; !bytes.Contains(got, []byte(fakegemini.ReplyText("gemini-2.5-flash"))) {
			t.Errorf("v1 chat: %s", got)
		}
	}
	wantUpstream(t, up,
		"POST /v1beta/models/gemini-2.5-flash:generateContent",
		"POST /v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse",
		"GET /v1beta/models",
		"POST /v1beta/models/text-embedding-004:batchEmbedContents",
		"POST /v1beta/openai/chat/completions",
		"GET /v1beta/openai/models",
		"POST /v1beta/openai/embeddings",
	)
}

func containsID(ids []string, id string) bool {
	for _, v := range ids {
		if v == id || v == "models/"+id {
			return true
		}
	}
	return false
}

// TestFallbackToOpenAIPool: the newest @google/genai and openai SDKs are
// served by an OpenAI-compatible pool of the global options while every
// Gemini key is rate-limited: Gemini answers (plain, stream, a function
// call round trip through a chat) are built from the provider's OpenAI
// answers; OpenAI calls pass through with the model mapped.
func TestFallbackToOpenAIPool(t *testing.T) {
	node := nodetest.Need(t, "e2e/jsclient")
	up := fakegemini.New()
	t.Cleanup(up.Close)
	up.SetDefault(fakegemini.RateLimited)
	oa := fakeopenai.New()
	t.Cleanup(oa.Close)
	oaKey := "sk-jsclient-fallback-000000000000001"
	oa.SetKey(oaKey, fakeopenai.OK)
	dir := t.TempDir()
	logs := filepath.Join(dir, "caddy.log")
	tester := ports.Tester(t)
	tester.InitServer(ports.Global(logs, "INFO", fmt.Sprintf(`
	gemini_balance jsclient-ds {
		provider openai
		base_url %s
		api_keys %s
		model_map gemini-2.5-flash deepseek-chat
		database %s
	}
`, oa.URL, oaKey, filepath.Join(dir, "ds.db")))+fmt.Sprintf(`
http://localhost:%d {
	gemini_balance %s {
		api_keys %s
		allowed_tokens %s
		database %s
		base_url %s
		fallback jsclient-ds
	}
}
`, httpPort, poolName, poolKey, clientToken, filepath.Join(dir, "pool.db"), up.URL), "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	t.Cleanup(func() {
		ports.Unload(t, func() bool {
			return caddymodule.LookupPool(poolName) == nil && caddymodule.LookupPool("jsclient-ds") == nil
		})
	})
	r := runScript(t, node, "fallback.mjs", rootURL)

	var plain struct {
		Text, Finish string
		Total        int
	}
	if r.Call(t, "genai generateContent").Decode(t, &plain) &&
		(plain.Text != "Hello from deepseek-chat. You said: plain" || plain.Finish != "STOP" || plain.Total == 0) {
		t.Errorf("genai generateContent: %+v", plain)
	}
	var stream struct {
		Text, Finish string
		Chunks       int
	}
	if r.Call(t, "genai generateContentStream").Decode(t, &stream) &&
		(stream.Text != "Hello from deepseek-chat. You said: streamed" || stream.Chunks < 3 || stream.Finish != "STOP") {
		t.Errorf("genai stream: %+v", stream)
	}
	var tool struct {
		Call string
		Args map[string]any
		Text string
	}
	if r.Call(t, "genai chat functionCalling").Decode(t, &tool) &&
		(tool.Call != "get_weather" || tool.Args["location"] != "Paris" || tool.Text != "The tool said: sunny") {
		t.Errorf("genai tool loop: %+v", tool)
	}
	var chat struct{ Text, Model string }
	if r.Call(t, "openai chat").Decode(t, &chat) && chat.Text != "Hello from deepseek-chat. You said: hi" {
		t.Errorf("openai chat: %+v", chat)
	}
	var oaStream struct {
		Text   string
		Chunks int
	}
	if r.Call(t, "openai chat stream").Decode(t, &oaStream) && (oaStream.Text != "Hello from deepseek-chat. You said: hi" || oaStream.Chunks < 3) {
		t.Errorf("openai stream: %+v", oaStream)
	}
	for _, req := range oa.Requests() {
		if req.Key != oaKey || strings.Contains(string(req.Body), clientToken) {
			t.Errorf("provider got key %q / the client token in %s", req.Key, req.Body)
		}
		if req.Path == "/v1/chat/completions" && req.Model != "deepseek-chat" {
			t.Errorf("model not mapped: %s", req.Model)
		}
	}
}
