package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"google.golang.org/genai"

	"github.com/gemini-balance/gemini_balance/caddymodule"
	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/fakeopenai"
)

// dsKey is an OpenAI-compatible provider's key as DeepSeek shapes them.
func dsKey(label string) string {
	s := "sk-" + label
	for len(s) < 35 {
		s += "0"
	}
	return s
}

// chainEnv is a site pool backed by the Gemini stand-in that falls back to
// pools declared in the global options.
type chainEnv struct {
	*env
	oa *fakeopenai.Server
}

func newChainEnv(t *testing.T) *chainEnv {
	e := &chainEnv{env: newEnv(t), oa: fakeopenai.New()}
	t.Cleanup(e.oa.Close)
	return e
}

// globalPool is one pool of the global options; name is suffixed with the
// test's pool name so tests never share pool state.
type globalPool struct {
	name  string
	lines string
}

// startChain loads a config whose global options declare pools and whose
// site pool (keys, extra lines) names fallbacks.
func (e *chainEnv) startChain(siteKeys []string, siteExtra string, global ...globalPool) {
	e.t.Helper()
	var g strings.Builder
	for _, p := range global {
		fmt.Fprintf(&g, "\tgemini_balance %s {\n\t\tdatabase %s\n%s\n\t}\n", e.name(p.name),
			filepath.Join(e.dir, p.name+".db"), p.lines)
	}
	cfg := ports.Global(e.logs, "DEBUG", g.String()) + fmt.Sprintf(`
http://localhost:%d {
	route {
	gemini_balance %s {
		%s
		allowed_tokens %s
		auth_token admin-token-e2e
		database %s
		base_url %s
		%s
	}
	respond "next handler" 200
	}
}
`, httpPort, e.pool, keysLine(siteKeys), clientToken, filepath.Join(e.dir, "pool.db"), e.up.URL, siteExtra)
	e.load(cfg)
}

// name is a global pool's name in this test.
func (e *chainEnv) name(short string) string { return e.pool + "-" + short }

// deepseek is an openai pool on the OpenAI stand-in.
func (e *chainEnv) deepseek(keys ...string) globalPool {
	return globalPool{"ds", fmt.Sprintf("\t\tprovider openai\n\t\tbase_url %s\n\t\tapi_keys %s\n\t\tmodel_map gemini-2.5-flash deepseek-chat\n\t\tmax_retries 1",
		e.oa.URL, strings.Join(keys, " "))}
}

// oaChats are the chat completions the OpenAI stand-in received.
func (e *chainEnv) oaChats() []fakeopenai.Request {
	var out []fakeopenai.Request
	for _, r := range e.oa.Requests() {
		if r.Path == "/v1/chat/completions" {
			out = append(out, r)
		}
	}
	return out
}

// The OpenAI SDK on /v1 is served by a DeepSeek-like pool when every Gemini
// key is rate-limited: the request passes through with the model mapped,
// plain and streamed, and the Gemini keys only cool down.
func TestFallbackOpenAISDKPassesThroughToOpenAIPool(t *testing.T) {
	e := newChainEnv(t)
	e.up.SetDefault(fakegemini.RateLimited)
	e.oa.Reply = "answered by the fallback"
	e.startChain([]string{k("fa1"), k("fa2")}, "fallback "+e.name("ds"), e.deepseek(dsKey("good1")))
	e.oa.SetKey(dsKey("good1"), fakeopenai.OK)
	c := e.openai("/v1")
	ctx := context.Background()
	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "gemini-2.5-flash",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; got != "answered by the fallback" {
		t.Errorf("answer %q", got)
	}
	chats := e.oaChats()
	if len(chats) != 1 || chats[0].Model != "deepseek-chat" || chats[0].Key != dsKey("good1") {
		t.Fatalf("OpenAI stand-in got %+v", chats)
	}
	var sent map[string]any
	_ = json.Unmarshal(chats[0].Body, &sent)
	if msgs, _ := sent["messages"].([]any); len(msgs) != 1 {
		t.Errorf("the client's messages did not pass through as they were: %s", chats[0].Body)
	}
	if n := len(e.up.Requests()); n != 2 {
		t.Errorf("Gemini stand-in got %d requests, want one per key", n)
	}
	// The metrics say which pool served.
	m, _ := scrape(t)
	if v := m[`gemini_balance_requests_total{code="200",pool="`+e.pool+`",route="openai",served_by="`+e.name("ds")+`"}`]; v != 1 {
		t.Errorf("requests served by the fallback pool: %v", v)
	}
	for _, key := range []string{k("fa1"), k("fa2")} {
		if st := e.key(key).Status().String(); st != "active" {
			t.Errorf("gemini key %s is %s after a 429", key, st)
		}
	}

	// Streamed: every key is cooling now, so the pool has no usable key
	// and the stream goes to the fallback before its first byte.
	stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:    "gemini-2.5-flash",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi again")},
	})
	var text strings.Builder
	chunks := 0
	for stream.Next() {
		for _, ch := range stream.Current().Choices {
			text.WriteString(ch.Delta.Content)
		}
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if text.String() != "answered by the fallback" || chunks < 3 {
		t.Errorf("stream %q in %d chunks", text.String(), chunks)
	}
	if n := len(e.up.Requests()); n != 2 {
		t.Errorf("cooling keys were tried again: %d Gemini requests", n)
	}
}

// Gemini-native clients (the Go GenAI SDK) get Gemini answers built from an
// OpenAI-compatible provider's: text, a stream event by event, and a tool
// loop (functionCall, then functionResponse answered).
func TestFallbackGenAISDKTranslatedFromOpenAIPool(t *testing.T) {
	e := newChainEnv(t)
	e.up.SetDefault(fakegemini.Unavailable)
	e.startChain([]string{k("fg1")}, "fallback "+e.name("ds"), e.deepseek(dsKey("good2")))
	e.oa.SetKey(dsKey("good2"), fakeopenai.OK)
	e.oa.StreamChunks = 4
	c := e.genai()
	ctx := context.Background()
	resp, err := c.Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("tell me"), &genai.GenerateContentConfig{
		SystemInstruction: genai.NewContentFromText("be brief", genai.RoleUser),
		Temperature:       genai.Ptr[float32](0.2),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "Hello from deepseek-chat. You said: tell me"
	if resp.Text() != want || resp.Candidates[0].FinishReason != genai.FinishReasonStop {
		t.Errorf("answer %q finish %s", resp.Text(), resp.Candidates[0].FinishReason)
	}
	if resp.UsageMetadata == nil || resp.UsageMetadata.TotalTokenCount == 0 || resp.ModelVersion != "gemini-2.5-flash" {
		t.Errorf("usage %+v model %q", resp.UsageMetadata, resp.ModelVersion)
	}
	chats := e.oaChats()
	var sent struct {
		Model       string           `json:"model"`
		Messages    []map[string]any `json:"messages"`
		Temperature float64          `json:"temperature"`
	}
	_ = json.Unmarshal(chats[0].Body, &sent)
	if sent.Model != "deepseek-chat" || len(sent.Messages) != 2 || sent.Messages[0]["role"] != "system" || sent.Temperature != 0.2 {
		t.Errorf("translated request %s", chats[0].Body)
	}
	if chats[0].Header.Get("Authorization") != "Bearer "+dsKey("good2") {
		t.Errorf("provider key not sent as Bearer")
	}

	// A stream built from the provider's OpenAI stream, event by event.
	var parts []string
	var last *genai.GenerateContentResponse
	for r, err := range c.Models.GenerateContentStream(ctx, "gemini-2.5-flash", genai.Text("stream it"), nil) {
		if err != nil {
			t.Fatal(err)
		}
		if t := r.Text(); t != "" {
			parts = append(parts, t)
		}
		last = r
	}
	if got := strings.Join(parts, ""); got != "Hello from deepseek-chat. You said: stream it" || len(parts) < 3 {
		t.Errorf("stream text %q in %d events", got, len(parts))
	}
	if last == nil || last.UsageMetadata == nil || last.UsageMetadata.TotalTokenCount == 0 || last.Candidates[0].FinishReason != genai.FinishReasonStop {
		t.Errorf("last event %+v", last)
	}

	// A tool loop.
	tools := []*genai.Tool{{FunctionDeclarations: []*genai.FunctionDeclaration{{
		Name: "get_weather", Description: "weather of a city",
		Parameters: &genai.Schema{Type: genai.TypeObject, Properties: map[string]*genai.Schema{"location": {Type: genai.TypeString}}},
	}}}}
	history := []*genai.Content{genai.NewContentFromText("weather in Paris?", genai.RoleUser)}
	resp, err = c.Models.GenerateContent(ctx, "gemini-2.5-flash", history, &genai.GenerateContentConfig{Tools: tools})
	if err != nil {
		t.Fatal(err)
	}
	calls := resp.FunctionCalls()
	if len(calls) != 1 || calls[0].Name != "get_weather" || calls[0].Args["location"] != "Paris" {
		t.Fatalf("function calls %+v", calls)
	}
	history = append(history, resp.Candidates[0].Content,
		genai.NewContentFromFunctionResponse("get_weather", map[string]any{"result": "sunny, 21C"}, genai.RoleUser))
	history[len(history)-1].Parts[0].FunctionResponse.ID = calls[0].ID
	resp, err = c.Models.GenerateContent(ctx, "gemini-2.5-flash", history, &genai.GenerateContentConfig{Tools: tools})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text() != "The tool said: sunny, 21C" {
		t.Errorf("answer after the tool %q", resp.Text())
	}
	chats = e.oaChats()
	if body := string(chats[len(chats)-1].Body); !strings.Contains(body, `"role":"tool"`) || !strings.Contains(body, calls[0].ID) {
		t.Errorf("tool result not sent as a tool message: %s", body)
	}
}

// Three pools: Gemini keys that are invalid, a Vertex AI express pool that
// is overloaded, an OpenAI-compatible pool that answers. Each pool is tried
// in order with its own keys.
func TestFallbackChainOfThreePools(t *testing.T) {
	e := newChainEnv(t)
	e.up.SetKey(k("c1"), fakegemini.Invalid)
	e.up.SetKey(k("vx1"), fakegemini.Unavailable)
	e.up.SetKey(k("vx2"), fakegemini.Unavailable)
	vertex := globalPool{"vx", fmt.Sprintf("\t\tprovider vertex_express\n\t\tbase_url %s\n\t\tapi_keys %s %s\n\t\tfallback %s",
		e.up.VertexURL(), k("vx1"), k("vx2"), e.name("ds"))}
	e.startChain([]string{k("c1")}, "fallback "+e.name("vx"), vertex, e.deepseek(dsKey("good3")))
	e.oa.SetKey(dsKey("good3"), fakeopenai.OK)
	resp, err := e.genai().Models.GenerateContent(context.Background(), "gemini-2.5-flash", genai.Text("hi"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text() != "Hello from deepseek-chat. You said: hi" {
		t.Errorf("answer %q", resp.Text())
	}
	var paths []string
	for _, r := range e.up.Requests() {
		paths = append(paths, r.Key[len(r.Key)-4:]+" "+r.Path)
	}
	want := []string{
		k("c1")[len(k("c1"))-4:] + " /v1beta/models/gemini-2.5-flash:generateContent",
		k("vx1")[len(k("vx1"))-4:] + " /v1/publishers/google/models/gemini-2.5-flash:generateContent",
		k("vx2")[len(k("vx2"))-4:] + " /v1/publishers/google/models/gemini-2.5-flash:generateContent",
	}
	if len(paths) != 3 || paths[0] != want[0] || !sameSet(paths[1:], want[1:]) {
		t.Errorf("Gemini stand-in saw %v, want %v", paths, want)
	}
	if n := len(e.oaChats()); n != 1 {
		t.Errorf("OpenAI stand-in got %d chats", n)
	}
	if st := e.key(k("c1")).Status().String(); st != "invalid" {
		t.Errorf("invalid gemini key is %s", st)
	}

	// When every pool fails, the client gets the last pool's answer, and
	// the message says what the earlier ones answered.
	e.oa.SetKey(dsKey("good3"), fakeopenai.ServerError)
	status, _, body := e.do("POST", "/v1beta/models/gemini-2.5-flash:generateContent", helloBody, authed...)
	if status != http.StatusInternalServerError && status != http.StatusBadGateway {
		t.Errorf("all pools failing: status %d %s", status, body)
	}
	var ge struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(body), &ge); err != nil || ge.Error.Code != status {
		t.Fatalf("not a Gemini error: %s", body)
	}
	for _, name := range []string{e.pool, e.name("vx")} {
		if !strings.Contains(ge.Error.Message, "pool "+name) {
			t.Errorf("message does not name pool %s: %s", name, ge.Error.Message)
		}
	}
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	seen := map[string]int{}
	for _, s := range a {
		seen[s]++
	}
	for _, s := range b {
		seen[s]--
	}
	for _, n := range seen {
		if n != 0 {
			return false
		}
	}
	return true
}

// A client error is the client's: it never falls back. A stream that fails
// after its first byte ends with an error event and does not fall back.
func TestFallbackNeverOnClientErrorsOrMidStream(t *testing.T) {
	e := newChainEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.startChain([]string{k("n1")}, "fallback "+e.name("ds"), e.deepseek(dsKey("good4")))
	e.oa.SetKey(dsKey("good4"), fakeopenai.OK)
	status, _, body := e.do("POST", "/v1beta/models/no-such-model:generateContent", helloBody, authed...)
	if status != http.StatusNotFound {
		t.Errorf("unknown model: %d %s", status, body)
	}
	e.up.SetDefault(fakegemini.CutStream)
	status, _, body = e.do("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", helloBody, authed...)
	if status != http.StatusOK || !strings.Contains(body, `"error"`) {
		t.Errorf("cut stream: %d %s", status, body)
	}
	if n := len(e.oa.Requests()); n != 0 {
		t.Errorf("the fallback pool got %d requests", n)
	}
}

// A site block may name a pool of the global options and serve it: here an
// OpenAI-compatible pool answers Gemini clients natively, lists its models
// the Gemini way, and its /v1 answers pass through.
func TestSiteServesGlobalOpenAIPool(t *testing.T) {
	e := newChainEnv(t)
	e.oa.SetKey(dsKey("good5"), fakeopenai.OK)
	name := e.name("ds")
	cfg := ports.Global(e.logs, "DEBUG", fmt.Sprintf("\tgemini_balance %s {\n\t\tprovider openai\n\t\tbase_url %s\n\t\tapi_keys %s\n\t\tallowed_tokens %s\n\t\tdatabase %s\n\t}\n",
		name, e.oa.URL, dsKey("good5"), clientToken, filepath.Join(e.dir, "ds.db"))) + fmt.Sprintf(`
http://localhost:%d {
	gemini_balance %s {
		console off
	}
}
`, httpPort, name)
	e.tester.InitServer(cfg, "caddyfile")
	c := e.genai()
	ctx := context.Background()
	resp, err := c.Models.GenerateContent(ctx, "deepseek-chat", genai.Text("native"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text() != "Hello from deepseek-chat. You said: native" {
		t.Errorf("answer %q", resp.Text())
	}
	var ids []string
	for m, err := range c.Models.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, strings.TrimPrefix(m.Name, "models/"))
	}
	if !sameSet(ids, fakeopenai.DefaultModels) {
		t.Errorf("models %v", ids)
	}
	oc := e.openai("/v1")
	page, err := oc.Models.List(ctx)
	if err != nil || len(page.Data) != len(fakeopenai.DefaultModels) {
		t.Fatalf("OpenAI model list %v %v", page, err)
	}
	emb, err := oc.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "text-embedding-3-small",
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}}})
	if err != nil || len(emb.Data) != 2 {
		t.Fatalf("embeddings %v %v", emb, err)
	}
	// A key the provider refuses (401) is invalid at once.
	b := caddymodule.LookupPool(name)
	if _, err := b.AddKeys(ctx, []string{dsKey("bad5")}, "test"); err != nil {
		t.Fatal(err)
	}
	e.oa.SetKey(dsKey("bad5"), fakeopenai.Invalid)
	for i := 0; i < 4; i++ {
		if _, err := c.Models.GenerateContent(ctx, "deepseek-chat", genai.Text("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	for _, key := range b.Ring().Keys() {
		if key.Secret() == dsKey("bad5") && key.Status().String() != "invalid" {
			t.Errorf("key refused with 401 is %s", key.Status())
		}
	}
}

// POST /gemini_balance/pools/{pool}/test checks each key of a fallback pool
// with the provider's cheapest call and shows the exact upstream answer,
// keys redacted; the site pool's auth_token manages its fallbacks.
func TestPoolConnectionTest(t *testing.T) {
	e := newChainEnv(t)
	e.startChain([]string{k("t1")}, "fallback "+e.name("ds"), e.deepseek(dsKey("good6"), dsKey("bad6")))
	e.oa.SetKey(dsKey("good6"), fakeopenai.OK)
	e.oa.SetKey(dsKey("bad6"), fakeopenai.Invalid)
	req, _ := http.NewRequest("POST", fmt.Sprintf("http://localhost:%d/gemini_balance/pools/%s/test", adminPort, e.name("ds")), strings.NewReader(`{}`))
	req.Header.Set("Authorization", "Bearer admin-token-e2e")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Provider string `json:"provider"`
		Tested   int    `json:"tested"`
		OK       int    `json:"ok"`
		Results  []struct {
			Key       string `json:"key"`
			Status    int    `json:"status"`
			Body      string `json:"body"`
			Verdict   string `json:"verdict"`
			LatencyMs int64  `json:"latency_ms"`
		} `json:"results"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("test answered %d: %v", resp.StatusCode, err)
	}
	if out.Provider != "openai" || out.Tested != 2 || out.OK != 1 {
		t.Fatalf("test %+v", out)
	}
	for _, r := range out.Results {
		if strings.Contains(r.Body, dsKey("bad6")) || strings.Contains(r.Body, dsKey("good6")) {
			t.Errorf("a key in the body: %s", r.Body)
		}
		switch r.Status {
		case 200:
			if r.Verdict != "success" || !strings.Contains(r.Body, "deepseek-chat") {
				t.Errorf("good key %+v", r)
			}
		case 401:
			if r.Verdict != "invalid" || !strings.Contains(r.Body, "Incorrect API key provided") {
				t.Errorf("bad key %+v", r)
			}
		default:
			t.Errorf("result %+v", r)
		}
	}
}

// A pool of the global options keeps its key state across a reload, like a
// site's; a fallback naming no pool of the configuration fails the load and
// leaves the running configuration serving.
func TestGlobalPoolReloadAndUnknownFallback(t *testing.T) {
	e := newChainEnv(t)
	e.up.SetDefault(fakegemini.RateLimited)
	e.startChain([]string{k("r1")}, "fallback "+e.name("ds"), e.deepseek(dsKey("good7"), dsKey("bad7")))
	e.oa.SetKey(dsKey("good7"), fakeopenai.OK)
	e.oa.SetKey(dsKey("bad7"), fakeopenai.Invalid)
	for i := 0; i < 3; i++ {
		if status, _, body := e.do("POST", "/v1beta/models/gemini-2.5-flash:generateContent", helloBody, authed...); status != 200 {
			t.Fatalf("request %d: %d %s", i, status, body)
		}
	}
	ds := caddymodule.LookupPool(e.name("ds"))
	bad := func() string {
		for _, key := range ds.Ring().Keys() {
			if key.Secret() == dsKey("bad7") {
				return key.Status().String()
			}
		}
		return "gone"
	}
	if bad() != "invalid" {
		t.Fatalf("the 401 key is %s", bad())
	}
	e.startChain([]string{k("r1")}, "fallback "+e.name("ds")+"\n\t\ttimeout 61s", e.deepseek(dsKey("good7"), dsKey("bad7")))
	if caddymodule.LookupPool(e.name("ds")) != ds || bad() != "invalid" {
		t.Errorf("after a reload the global pool is new or its key state is lost (%s)", bad())
	}

	cfg := ports.Global(e.logs, "DEBUG", "") + fmt.Sprintf(`
http://localhost:%d {
	gemini_balance %s {
		api_keys %s
		allowed_tokens %s
		fallback no-such-pool
	}
}
`, httpPort, e.pool, k("r1"), clientToken)
	req, _ := http.NewRequest("POST", fmt.Sprintf("http://localhost:%d/load", adminPort), strings.NewReader(cfg))
	req.Header.Set("Content-Type", "text/caddyfile")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var msg strings.Builder
	_, _ = fmt.Fprint(&msg, resp.Status)
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	resp.Body.Close()
	msg.Write(buf[:n])
	if resp.StatusCode == 200 || !strings.Contains(msg.String(), `fallback \"no-such-pool\" is not a pool of this configuration`) {
		t.Errorf("load with an unknown fallback: %s", msg.String())
	}
	if status, _, _ := e.do("POST", "/v1beta/models/gemini-2.5-flash:generateContent", helloBody, authed...); status != 200 {
		t.Errorf("the running configuration stopped serving: %d", status)
	}
}
