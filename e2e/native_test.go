package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"

	"google.golang.org/genai"

	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
)

func TestGenAIGenerateContentRotatesAndDropsInvalidKeys(t *testing.T) {
	e := newEnv(t)
	good1, good2, bad := k("good1"), k("good2"), k("bad")
	e.up.SetKey(good1, fakegemini.OK)
	e.up.SetKey(good2, fakegemini.OK)
	e.up.SetKey(bad, fakegemini.Invalid)
	e.start(poolOpts{keys: []string{good1, bad, good2}})
	c := e.genai()
	for i := 0; i < 6; i++ {
		resp, err := c.Models.GenerateContent(context.Background(), "gemini-2.5-flash", genai.Text("hi"), nil)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if got := resp.Text(); got != fakegemini.ReplyText("gemini-2.5-flash") {
			t.Fatalf("call %d: text %q", i, got)
		}
	}
	used := e.up.KeysUsed()
	if n := count(used, bad); n != 1 {
		t.Errorf("invalid key used %d times, want once (then dropped): %v", n, used)
	}
	if count(used, good1) < 2 || count(used, good2) < 2 {
		t.Errorf("good keys not rotated: %v", used)
	}
	if e.key(bad).Status() != keypool.Invalid {
		t.Error("key answering API_KEY_INVALID is not invalid")
	}
	if s := e.key(bad).Snapshot(now()); !strings.Contains(s.Reason, "invalid") {
		t.Errorf("reason %q", s.Reason)
	}
	e.assertNoClientToken()
	for _, r := range e.up.Requests() {
		if r.Header.Get("X-Goog-Api-Key") != r.Key || r.Key == "" {
			t.Errorf("upstream key not in x-goog-api-key: %+v", r.Header)
		}
		if strings.Contains(r.RawQuery, "key=") {
			t.Errorf("key in the upstream query: %s", r.RawQuery)
		}
	}
}

func TestGenAIStreamAndJSONArrayStream(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: []string{k("s1"), k("s2")}})
	var text strings.Builder
	chunks := 0
	for resp, err := range e.genai().Models.GenerateContentStream(context.Background(), "gemini-2.5-flash", genai.Text("hi"), nil) {
		if err != nil {
			t.Fatal(err)
		}
		chunks++
		text.WriteString(resp.Text())
	}
	if chunks != 3 || text.String() != fakegemini.ReplyText("gemini-2.5-flash") {
		t.Fatalf("stream: %d chunks, text %q", chunks, text.String())
	}
	if r := e.up.Requests()[0]; r.RawQuery != "alt=sse" {
		t.Errorf("upstream query %q, want alt=sse", r.RawQuery)
	}

	// Without alt=sse the answer is a JSON array, relayed element by element.
	status, h, body := e.do("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", helloBody, authed...)
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
		t.Fatalf("array stream: %d %s", status, h.Get("Content-Type"))
	}
	var arr []map[string]any
	if err := json.Unmarshal([]byte(body), &arr); err != nil || len(arr) != 3 {
		t.Fatalf("array stream is not a 3-element JSON array (%v): %s", err, body)
	}
}

func TestCountTokensEmbeddingsAndModelPager(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.up.MaxPageSize = 3 // force the proxy to follow several pages
	e.start(poolOpts{keys: []string{k("c1")}})
	c := e.genai()
	ctx := context.Background()
	ct, err := c.Models.CountTokens(ctx, "gemini-2.5-flash", genai.Text("count these tokens"), nil)
	if err != nil || ct.TotalTokens <= 0 {
		t.Fatalf("countTokens: %v %+v", err, ct)
	}
	emb, err := c.Models.EmbedContent(ctx, "text-embedding-004", genai.Text("a"), nil)
	if err != nil || len(emb.Embeddings) != 1 || len(emb.Embeddings[0].Values) != fakegemini.DefaultEmbeddingSize {
		t.Fatalf("embed: %v %+v", err, emb)
	}
	status, _, body := e.do("POST", "/v1beta/models/text-embedding-004:embedContent",
		`{"content":{"parts":[{"text":"a"}]},"outputDimensionality":4}`, authed...)
	if status != 200 || !strings.Contains(body, `"values"`) {
		t.Fatalf("embedContent: %d %s", status, body)
	}

	// The SDK's pager: its first page (no paging parameters) is answered
	// with every model, the proxy having followed Google's pages.
	e.up.Reset()
	var names []string
	for m, err := range c.Models.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, m.Name)
	}
	// Every upstream model, and the -search aliases of the two default
	// search_models as models of their own.
	wantModels := len(fakegemini.Models()) + 2
	if len(names) != wantModels || !slices.Contains(names, "models/gemini-2.5-pro-search") {
		t.Fatalf("pager saw %d models, want %d with the aliases: %v", len(names), wantModels, names)
	}
	// A plain GET without paging parameters gets every model in one answer,
	// from the briefly cached list.
	status, _, body = e.do("GET", "/v1beta/models", "", authed...)
	var list struct {
		Models []struct {
			Name string `json:"name"`
		} `json:"models"`
		NextPageToken string `json:"nextPageToken"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil || status != 200 {
		t.Fatalf("list: %d %v %s", status, err, body)
	}
	if len(list.Models) != wantModels || list.NextPageToken != "" {
		t.Fatalf("list has %d models (token %q), want all %d", len(list.Models), list.NextPageToken, wantModels)
	}
	if n := len(e.up.Requests()); n != 3 {
		t.Errorf("proxy made %d upstream page requests, want 3 (8 models, 3 per page, then cached)", n)
	}
	// With paging parameters the request is forwarded as is.
	status, _, body = e.do("GET", "/v1beta/models?pageSize=2", "", authed...)
	if status != 200 || !strings.Contains(body, "nextPageToken") {
		t.Errorf("paged list: %d %s", status, body)
	}
	// One model.
	status, _, body = e.do("GET", "/gemini/v1beta/models/gemini-2.5-pro", "", authed...)
	if status != 200 || !strings.Contains(body, `"models/gemini-2.5-pro"`) {
		t.Fatalf("get model: %d %s", status, body)
	}
}

func TestNativeBodyAndQueryPassThroughUnchanged(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: []string{k("p1")}, extra: "safety_settings off"})
	body := `{"contents":[{"role":"user","parts":[{"text":"hi","thoughtSignature":"c2lnbmF0dXJl"}]}],` +
		`"toolConfig":{"functionCallingConfig":{"mode":"ANY"}},"cachedContent":"cachedContents/abc",` +
		`"generationConfig":{"temperature":0.2,"someFutureField":{"x":[1,2]}},"futureTopLevel":true}`
	status, _, resp := e.do("POST", "/v1beta/models/gemini-2.5-flash:generateContent?key="+clientToken+"&foo=bar&%24httpMethod=DELETE&access_token=x&prettyPrint=false", body)
	if status != 200 {
		t.Fatalf("%d %s", status, resp)
	}
	got := e.up.Requests()[0]
	if string(got.Body) != body {
		t.Errorf("upstream body changed:\n got %s\nwant %s", got.Body, body)
	}
	q, _ := url.ParseQuery(got.RawQuery)
	// Only the parameters the served methods read go on: no key, no
	// method override, no other credential.
	if q.Get("prettyPrint") != "false" || len(q) != 1 {
		t.Errorf("upstream query %q: want only prettyPrint=false", got.RawQuery)
	}
	e.assertNoClientToken()

	// With the default safety settings, the only change is the added field:
	// every byte the client sent follows it unchanged.
	e.start(poolOpts{keys: []string{k("p1")}})
	e.up.Reset()
	if status, _, resp := e.do("POST", genPath, body, authed...); status != 200 {
		t.Fatalf("%d %s", status, resp)
	}
	got = e.up.Requests()[0]
	if !strings.HasPrefix(string(got.Body), `{"safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"OFF"}`) ||
		!strings.HasSuffix(string(got.Body), ","+body[1:]) {
		t.Errorf("default safety settings: upstream got %s", got.Body)
	}
	// A client that sends its own safety settings keeps them.
	own := `{"contents":[{"parts":[{"text":"hi"}]}],"safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_LOW_AND_ABOVE"}]}`
	e.up.Reset()
	e.do("POST", genPath, own, authed...)
	if string(e.up.Requests()[0].Body) != own {
		t.Errorf("client safety settings replaced: %s", e.up.Requests()[0].Body)
	}
}

func TestNativeModelAliasesAndFilter(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: []string{k("al1")}, extra: "thinking_models gemini-2.5-flash\n\t\timage_models gemini-2.5-flash\n\t\tfiltered_models gemini-2.0-flash"})
	status, _, body := e.do("POST", "/v1beta/models/gemini-2.5-flash-search:generateContent", helloBody, authed...)
	if status != 200 || !strings.Contains(body, "gemini-2.5-flash") {
		t.Fatalf("search alias: %d %s", status, body)
	}
	r := e.up.Requests()[len(e.up.Requests())-1]
	if r.Path != "/v1beta/models/gemini-2.5-flash:generateContent" || !strings.Contains(string(r.Body), `"googleSearch":{}`) {
		t.Errorf("search alias reached upstream as %s %s", r.Path, r.Body)
	}
	e.up.Reset()
	e.do("POST", "/v1beta/models/gemini-2.5-flash-non-thinking:streamGenerateContent?alt=sse", helloBody, authed...)
	if r := e.up.Requests()[0]; !strings.Contains(string(r.Body), `"thinkingBudget":0`) || !strings.Contains(r.Path, "/gemini-2.5-flash:") {
		t.Errorf("non-thinking alias reached upstream as %s %s", r.Path, r.Body)
	}
	// gemini-2.5-flash-image is a real model: it is never read as an alias
	// (the model list was fetched for the first alias above).
	e.up.Reset()
	e.do("POST", "/v1beta/models/gemini-2.5-flash-image:generateContent", helloBody, authed...)
	if r := e.up.Requests()[0]; r.Path != "/v1beta/models/gemini-2.5-flash-image:generateContent" {
		t.Errorf("real model read as an alias: %s (requests %v)", r.Path, e.up.KeysUsed())
	}
	status, _, body = e.do("POST", "/v1beta/models/gemini-2.0-flash:generateContent", helloBody, authed...)
	if status != 404 || !strings.Contains(body, "filtered_models") {
		t.Errorf("filtered model: %d %s", status, body)
	}
}

func TestClientAuthCarriersAndErrors(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: []string{k("a1")}, extra: "max_body_size 2048"})
	path := "/v1beta/models/gemini-2.5-flash:generateContent"
	for name, hdr := range map[string][]string{
		"query":  nil,
		"header": {"x-goog-api-key", clientToken},
		"bearer": {"Authorization", "Bearer " + clientToken},
	} {
		p := path
		if hdr == nil {
			p += "?key=" + clientToken
		}
		if status, _, body := e.do("POST", p, helloBody, hdr...); status != 200 {
			t.Errorf("%s carrier: %d %s", name, status, body)
		}
	}
	e.assertNoClientToken()

	cases := []struct {
		name, method, path, body string
		hdr                      []string
		status                   int
		want                     string
	}{
		{"no token", "POST", path, helloBody, nil, 401, `"status":"UNAUTHENTICATED"`},
		{"wrong token", "POST", path, helloBody, []string{"x-goog-api-key", "nope"}, 401, "invalid client token"},
		{"malformed JSON", "POST", path, `{"contents":[`, authed, 400, "not valid JSON"},
		{"empty body", "POST", path, "", authed, 400, "request body is empty"},
		{"oversized body", "POST", path, `{"x":"` + strings.Repeat("a", 4096) + `"}`, authed, 413, "larger than the limit of 2048 bytes"},
		{"wrong method", "GET", path, "", authed, 405, "use POST"},
		{"unknown model", "POST", "/v1beta/models/gemini-9-ultra:generateContent", helloBody, authed, 404, "NOT_FOUND"},
	}
	for _, c := range cases {
		e.up.Reset()
		status, h, body := e.do(c.method, c.path, c.body, c.hdr...)
		if status != c.status || !strings.Contains(body, c.want) {
			t.Errorf("%s: got %d %s, want %d containing %q", c.name, status, body, c.status, c.want)
		}
		if !strings.HasPrefix(h.Get("Content-Type"), "application/json") {
			t.Errorf("%s: content type %q", c.name, h.Get("Content-Type"))
		}
		upstreamCalls := len(e.up.Requests())
		if c.name == "unknown model" && upstreamCalls != 1 {
			t.Errorf("unknown model: %d upstream calls, want 1 (a client error is not retried)", upstreamCalls)
		}
		if c.name != "unknown model" && upstreamCalls != 0 {
			t.Errorf("%s: reached the upstream", c.name)
		}
	}
	// An unknown model does not hurt the key.
	if s := e.key(k("a1")).Snapshot(now()); s.ConsecutiveFailures != 0 || s.Status != keypool.Active {
		t.Errorf("client error changed the key: %+v", s)
	}

	// Other paths fall through to the next handler; /health needs no token.
	if status, _, body := e.do("GET", "/somewhere/else", ""); status != 200 || body != "next handler" {
		t.Errorf("fall-through: %d %q", status, body)
	}
	if status, _, body := e.do("GET", "/v1beta/tunedModels", "", authed...); status != 200 || body != "next handler" {
		t.Errorf("unserved /v1beta path: %d %q", status, body)
	}
	status, _, body := e.do("GET", "/health", "")
	var health map[string]any
	if err := json.Unmarshal([]byte(body), &health); err != nil || status != 200 || health["status"] != "ok" {
		t.Fatalf("health: %d %s", status, body)
	}
	if strings.Contains(body, k("a1")) || strings.Contains(body, clientToken) {
		t.Errorf("health leaks a secret: %s", body)
	}
}

func TestRelayBaseURLWithPathPrefix(t *testing.T) {
	e := newEnv(t)
	relay := fakegemini.NewWithPrefix("/relay/abc123")
	t.Cleanup(relay.Close)
	relay.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: []string{k("r1")}, baseURL: relay.URL, extra: "header X-Relay-Auth relay-secret"})
	resp, err := e.genai().Models.GenerateContent(context.Background(), "gemini-2.5-flash", genai.Text("hi"), nil)
	if err != nil || resp.Text() == "" {
		t.Fatalf("through relay: %v", err)
	}
	r := relay.Requests()[0]
	if r.Path != "/relay/abc123/v1beta/models/gemini-2.5-flash:generateContent" {
		t.Errorf("relay got path %q", r.Path)
	}
	if r.Header.Get("X-Relay-Auth") != "relay-secret" {
		t.Errorf("extra header missing: %v", r.Header)
	}
}

func TestAPIErrorKeepsUpstreamStatus(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: []string{k("x1")}})
	_, err := e.genai().Models.GenerateContent(context.Background(), "no-such-model", genai.Text("hi"), nil)
	var apiErr genai.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 404 || apiErr.Status != "NOT_FOUND" {
		t.Fatalf("err = %#v, want the upstream 404 NOT_FOUND", err)
	}
}

func count(list []string, v string) int {
	n := 0
	for _, x := range list {
		if x == v {
			n++
		}
	}
	return n
}
