package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/fakeopenai"
	"github.com/gemini-balance/gemini_balance/internal/gemini"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/provider"
	"github.com/gemini-balance/gemini_balance/internal/settings"
	"github.com/gemini-balance/gemini_balance/internal/upstream"
)

const (
	chainToken = "sk-chain-client-token"
	chainGKey  = "AIzaSyCHAINGEMINI0000000000000000000001"
	chainOAKey = "sk-proj-CHAINopenaiKEY000000000000000000001"
	chainModel = "gemini-2.5-flash"
	chainBody  = `{"contents":[{"role":"user","parts":[{"text":"hello there"}]}]}`
)

// chainPool opens an in-memory pool of kind on base.
func chainPool(t *testing.T, name string, kind provider.Kind, base string, keys []string, mutate func(*settings.Settings)) *balancer.Balancer {
	t.Helper()
	s := settings.DefaultsFor(kind)
	s.BaseURL = base
	s.CheckInterval = 0
	s.MaxRetries = 1
	s.Timeout = 5 * time.Second
	s.AllowedTokens = []string{chainToken}
	if mutate != nil {
		mutate(&s)
	}
	b, err := balancer.Open(balancer.Config{Name: name, Keys: keys, Settings: s, Provider: kind}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func mapTo(to string) func(*settings.Settings) {
	return func(s *settings.Settings) { s.ModelMap = map[string]string{chainModel: to} }
}

// scripted is a Gemini-shaped upstream that answers every request alike
// and records the paths it was asked for.
type scripted struct {
	URL   string
	mu    sync.Mutex
	paths []string
}

func newScripted(t *testing.T, status int, body string) *scripted {
	t.Helper()
	s := &scripted{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		s.mu.Lock()
		s.paths = append(s.paths, r.URL.Path)
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/v1beta"
	return s
}

func (s *scripted) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.paths)
}

func geminiCall(action string) *balancer.Call {
	return &balancer.Call{Route: "gemini." + action, Model: chainModel,
		Request: upstream.Request{Method: http.MethodPost, Path: "/models/" + chainModel + ":" + action,
			Header: http.Header{"Content-Type": {"application/json"}}, Body: []byte(chainBody)}}
}

func TestAdaptGeminiAndVertex(t *testing.T) {
	g := chainPool(t, "g", provider.Gemini, "http://127.0.0.1:1/v1beta", []string{chainGKey}, mapTo("gemini-2.0-flash"))
	v := chainPool(t, "v", provider.VertexExpress, "http://127.0.0.1:1/v1", []string{chainGKey}, mapTo("gemini-2.5-pro"))

	c, openai, ns := adapt(geminiCall("generateContent"), nil, g)
	if ns != nil || openai || c.Request.Path != "/models/gemini-2.0-flash:generateContent" || c.Model != "gemini-2.0-flash" {
		t.Errorf("gemini pool: %+v %v %v", c, openai, ns)
	}
	c, _, ns = adapt(geminiCall("streamGenerateContent"), nil, v)
	if ns != nil || c.Request.Path != "/publishers/google/models/gemini-2.5-pro:streamGenerateContent" || c.Model != "gemini-2.5-pro" {
		t.Errorf("vertex pool: %+v %v", c, ns)
	}
	orig := geminiCall("countTokens")
	c, _, ns = adapt(orig, nil, v)
	if ns != nil || c.Request.Path != "/publishers/google/models/gemini-2.5-pro:countTokens" {
		t.Errorf("vertex countTokens: %+v %v", c, ns)
	}
	if orig.Request.Path != "/models/"+chainModel+":countTokens" || orig.Model != chainModel {
		t.Errorf("adapt changed the caller's call: %+v", orig)
	}
	if _, _, ns = adapt(geminiCall("embedContent"), nil, v); ns == nil || ns.status != http.StatusNotFound {
		t.Errorf("vertex embedContent: %v", ns)
	}
	// A path that is not a model method goes only to Gemini pools.
	files := &balancer.Call{Request: upstream.Request{Method: http.MethodGet, Path: "/files"}}
	if c, _, ns = adapt(files, nil, g); ns != nil || c != files {
		t.Errorf("files to gemini: %v", ns)
	}
	if _, _, ns = adapt(files, nil, v); ns == nil {
		t.Error("files to vertex served")
	}
}

func TestAdaptGeminiToOpenAI(t *testing.T) {
	o := chainPool(t, "o", provider.OpenAI, "http://127.0.0.1:1/v1", []string{chainOAKey}, mapTo("deepseek-chat"))
	c, openai, ns := adapt(geminiCall("generateContent"), nil, o)
	if ns != nil || openai {
		t.Fatalf("%v %v", ns, openai)
	}
	var body struct {
		Model  string `json:"model"`
		Stream bool   `json:"stream"`
	}
	if c.Request.Path != "/chat/completions" || !c.Request.Bearer || c.Request.Method != http.MethodPost || c.Convert == nil ||
		json.Unmarshal(c.Request.Body, &body) != nil || body.Model != "deepseek-chat" || body.Stream || c.Model != "deepseek-chat" {
		t.Errorf("translated call: %+v body %s", c.Request, c.Request.Body)
	}
	c, _, ns = adapt(geminiCall("streamGenerateContent"), nil, o)
	if ns != nil || json.Unmarshal(c.Request.Body, &body) != nil || !body.Stream {
		t.Errorf("stream: %v %s", ns, c.Request.Body)
	}
	if _, _, ns = adapt(geminiCall("countTokens"), nil, o); ns == nil || ns.status != http.StatusNotFound {
		t.Errorf("countTokens to an openai pool: %v", ns)
	}
	// An OpenAI client's request passes through with the model renamed,
	// every other field kept.
	oa := &openaiForm{path: "/chat/completions", body: []byte(`{"model":"gemini-2.5-flash","messages":[],"temperature":0.5}`), model: chainModel}
	c, openai, ns = adapt(geminiCall("generateContent"), oa, o)
	if ns != nil || !openai || c.Request.Path != "/chat/completions" || !c.Request.Bearer ||
		!strings.Contains(string(c.Request.Body), `"model":"deepseek-chat"`) || !strings.Contains(string(c.Request.Body), `"temperature":0.5`) {
		t.Errorf("pass-through: %+v %s", c, c.Request.Body)
	}
}

// serveChain sends a request through h as a client would.
func serveChain(t *testing.T, h *Handler, method, target, body string, openai bool) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if openai {
		r.Header.Set("Authorization", "Bearer "+chainToken)
	} else {
		r.Header.Set("X-Goog-Api-Key", chainToken)
	}
	w := httptest.NewRecorder()
	if !h.Serve(w, r) {
		t.Fatalf("%s not served", target)
	}
	return w
}

// A Gemini call whose Gemini pool cannot serve it goes to the OpenAI pool,
// translated, and comes back in Gemini's shape.
func TestDoGeminiFallsBackToOpenAI(t *testing.T) {
	oaUp := fakeopenai.New()
	t.Cleanup(oaUp.Close)
	oaUp.SetDefault(fakeopenai.OK)
	oaUp.Reply = "from the fallback"
	cases := []struct {
		name  string
		pool  func(t *testing.T) *balancer.Balancer
		tried func() int
	}{}
	gUp := fakegemini.New()
	t.Cleanup(gUp.Close)
	for _, b := range []struct {
		name string
		beh  fakegemini.Behavior
	}{{"429 all cooling", fakegemini.RateLimited}, {"5xx", fakegemini.ServerError}, {"invalid keys", fakegemini.Invalid}} {
		cases = append(cases, struct {
			name  string
			pool  func(t *testing.T) *balancer.Balancer
			tried func() int
		}{b.name, func(t *testing.T) *balancer.Balancer {
			gUp.Reset()
			gUp.SetDefault(b.beh)
			return chainPool(t, "g", provider.Gemini, gUp.URL, []string{chainGKey}, nil)
		}, func() int { return len(gUp.Requests()) }})
	}
	cases = append(cases, struct {
		name  string
		pool  func(t *testing.T) *balancer.Balancer
		tried func() int
	}{"no key", func(t *testing.T) *balancer.Balancer {
		return chainPool(t, "g", provider.Gemini, "http://127.0.0.1:1/v1beta", nil, nil)
	}, func() int { return 1 }})

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			oaUp.Reset()
			g := c.pool(t)
			o := chainPool(t, "o", provider.OpenAI, oaUp.URL, []string{chainOAKey}, mapTo("deepseek-chat"))
			g.SetFallbacks([]*balancer.Balancer{o})
			h := &Handler{Balancer: g}
			w := serveChain(t, h, http.MethodPost, "/v1beta/models/"+chainModel+":generateContent", chainBody, false)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			var resp gemini.Response
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || len(resp.Candidates) != 1 ||
				resp.Candidates[0].Content.Parts[0].Text != "from the fallback" || resp.ModelVersion != chainModel {
				t.Errorf("answer %s (%v)", w.Body, err)
			}
			if c.tried() == 0 {
				t.Error("the first pool was not tried")
			}
			reqs := oaUp.Requests()
			if len(reqs) != 1 || reqs[0].Path != "/v1/chat/completions" || reqs[0].Model != "deepseek-chat" ||
				reqs[0].Header.Get("Authorization") != "Bearer "+chainOAKey || reqs[0].Header.Get("X-Goog-Api-Key") != "" {
				t.Errorf("openai pool received %+v", reqs)
			}
		})
	}
}

// A Gemini stream served by an OpenAI pool is Gemini's stream: SSE with
// alt=sse, else Google's JSON array.
func TestDoGeminiStreamFromOpenAI(t *testing.T) {
	oaUp := fakeopenai.New()
	t.Cleanup(oaUp.Close)
	oaUp.SetDefault(fakeopenai.OK)
	oaUp.Reply = "streamed words here"
	o := chainPool(t, "o", provider.OpenAI, oaUp.URL, []string{chainOAKey}, mapTo("gpt-4o-mini"))
	h := &Handler{Balancer: o}
	w := serveChain(t, h, http.MethodPost, "/v1beta/models/"+chainModel+":streamGenerateContent?alt=sse", chainBody, false)
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Body.String(), "data: ") || !strings.Contains(w.Header().Get("Content-Type"), "text/event-stream") {
		t.Fatalf("SSE: %d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	w = serveChain(t, h, http.MethodPost, "/v1beta/models/"+chainModel+":streamGenerateContent", chainBody, false)
	var rs []gemini.Response
	if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &rs) != nil {
		t.Fatalf("array: %d %s", w.Code, w.Body)
	}
	var text strings.Builder
	for _, r := range rs {
		for _, c := range r.Candidates {
			if c.Content != nil {
				for _, p := range c.Content.Parts {
					text.WriteString(p.Text)
				}
			}
		}
	}
	if text.String() != "streamed words here" {
		t.Errorf("text %q from %s", text.String(), w.Body)
	}
}

// A client error is the client's answer: the chain stops.
func TestDoNoFallbackOnClientError(t *testing.T) {
	bad := newScripted(t, http.StatusBadRequest, `{"error":{"code":400,"message":"Invalid JSON payload received. Unknown name \"contentz\": Cannot find field.","status":"INVALID_ARGUMENT"}}`)
	second := newScripted(t, http.StatusOK, `{"candidates":[{"content":{"parts":[{"text":"no"}],"role":"model"}}]}`)
	a := chainPool(t, "a", provider.Gemini, bad.URL, []string{chainGKey}, nil)
	b := chainPool(t, "b", provider.Gemini, second.URL, []string{chainGKey}, nil)
	a.SetFallbacks([]*balancer.Balancer{b})
	h := &Handler{Balancer: a}
	w := serveChain(t, h, http.MethodPost, "/v1beta/models/"+chainModel+":generateContent", chainBody, false)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "contentz") || second.count() != 0 {
		t.Errorf("status %d, body %s, fallback asked %d times", w.Code, w.Body, second.count())
	}
}

// A call bound to one key (a paid key, a file's owner) never falls back.
func TestDoFixedKeyNeverFallsBack(t *testing.T) {
	down := newScripted(t, http.StatusServiceUnavailable, `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`)
	second := newScripted(t, http.StatusOK, `{"candidates":[{"content":{"parts":[{"text":"no"}],"role":"model"}}]}`)
	a := chainPool(t, "a", provider.Gemini, down.URL, []string{chainGKey}, nil)
	b := chainPool(t, "b", provider.Gemini, second.URL, []string{chainGKey}, nil)
	a.SetFallbacks([]*balancer.Balancer{b})
	h := &Handler{Balancer: a}
	for name, call := range map[string]*balancer.Call{
		"fixed": func() *balancer.Call {
			c := geminiCall("generateContent")
			c.FixedKey = keypool.NewKey("AIzaSyPAID00000000000000000000000000001", "paid_key")
			return c
		}(),
		"owner": func() *balancer.Call { c := geminiCall("generateContent"); c.OwnerKey = a.Ring().Keys()[0]; return c }(),
	} {
		out, _, fail := h.do(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil), call, nil)
		if out != nil {
			out.Finish(nil, nil, gemini.Usage{})
			t.Fatalf("%s: served", name)
		}
		if fail == nil || fail.Status != http.StatusServiceUnavailable || fail.Pool != "a" || second.count() != 0 {
			t.Errorf("%s: %+v, fallback asked %d times", name, fail, second.count())
		}
	}
}

// When every pool fails the client gets the last pool's status and body,
// its message naming what the earlier pools answered.
func TestDoAllPoolsFail(t *testing.T) {
	down := newScripted(t, http.StatusServiceUnavailable, `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`)
	oaUp := fakeopenai.New()
	t.Cleanup(oaUp.Close)
	oaUp.SetDefault(fakeopenai.ServerError)
	a := chainPool(t, "first", provider.Gemini, down.URL, []string{chainGKey}, nil)
	o := chainPool(t, "second", provider.OpenAI, oaUp.URL, []string{chainOAKey}, mapTo("deepseek-chat"))
	a.SetFallbacks([]*balancer.Balancer{o})
	h := &Handler{Balancer: a}

	out, _, fail := h.do(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil), geminiCall("generateContent"), nil)
	if out != nil {
		out.Finish(nil, nil, gemini.Usage{})
		t.Fatal("served")
	}
	if fail.Status != http.StatusInternalServerError || fail.Pool != "second" || fail.Dialect != balancer.DialectOpenAI ||
		!strings.Contains(fail.Note, "pool first (gemini): HTTP 503") {
		t.Errorf("failure %+v note %q", fail, fail.Note)
	}

	// To a native client: Gemini's shape, the note in the message.
	w := serveChain(t, h, http.MethodPost, "/v1beta/models/"+chainModel+":generateContent", chainBody, false)
	var ge struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if w.Code != http.StatusInternalServerError || json.Unmarshal(w.Body.Bytes(), &ge) != nil || ge.Error.Code != 500 ||
		ge.Error.Status != "INTERNAL" || !strings.Contains(ge.Error.Message, "The server had an error") ||
		!strings.Contains(ge.Error.Message, "pool first (gemini)") {
		t.Errorf("native client got %d %s", w.Code, w.Body)
	}
	// To an OpenAI client: the provider's own body, the note in its message.
	w = serveChain(t, h, http.MethodPost, "/v1/chat/completions",
		`{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}`, true)
	var oe struct {
		Error struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
	}
	if w.Code != http.StatusInternalServerError || json.Unmarshal(w.Body.Bytes(), &oe) != nil || oe.Error.Type != "server_error" ||
		!strings.Contains(oe.Error.Message, "The server had an error") || !strings.Contains(oe.Error.Message, "pool first (gemini)") {
		t.Errorf("openai client got %d %s", w.Code, w.Body)
	}
	for _, k := range []string{chainGKey, chainOAKey} {
		if strings.Contains(w.Body.String(), k) {
			t.Errorf("the answer shows a key")
		}
	}
}

// countTokens has no OpenAI form: an OpenAI fallback pool is skipped and
// the Gemini pool's failure is the answer, the skip named.
func TestDoCountTokensSkipsOpenAIPool(t *testing.T) {
	down := newScripted(t, http.StatusServiceUnavailable, `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`)
	oaUp := fakeopenai.New()
	t.Cleanup(oaUp.Close)
	oaUp.SetDefault(fakeopenai.OK)
	a := chainPool(t, "a", provider.Gemini, down.URL, []string{chainGKey}, nil)
	o := chainPool(t, "o", provider.OpenAI, oaUp.URL, []string{chainOAKey}, nil)
	a.SetFallbacks([]*balancer.Balancer{o})
	h := &Handler{Balancer: a}
	out, _, fail := h.do(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil), geminiCall("countTokens"), nil)
	if out != nil {
		out.Finish(nil, nil, gemini.Usage{})
		t.Fatal("served")
	}
	if fail.Status != http.StatusServiceUnavailable || fail.Pool != "a" || len(oaUp.Requests()) != 0 ||
		!strings.Contains(fail.Note, "pool o (openai) skipped") {
		t.Errorf("failure %+v note %q, openai asked %d", fail, fail.Note, len(oaUp.Requests()))
	}
	// Its own pool being OpenAI: the client is told, nothing is sent.
	h = &Handler{Balancer: o}
	w := serveChain(t, h, http.MethodPost, "/v1beta/models/"+chainModel+":countTokens", chainBody, false)
	if w.Code != http.StatusNotFound || len(oaUp.Requests()) != 0 {
		t.Errorf("countTokens on an openai pool: %d %s", w.Code, w.Body)
	}
}

// An OpenAI client's chat to a Gemini pool that cannot serve falls back to
// the OpenAI pool, which gets the client's request as it is, model mapped.
func TestDoOpenAIClientPassThrough(t *testing.T) {
	down := newScripted(t, http.StatusTooManyRequests, `{"error":{"code":429,"message":"You exceeded your current quota.","status":"RESOURCE_EXHAUSTED"}}`)
	oaUp := fakeopenai.New()
	t.Cleanup(oaUp.Close)
	oaUp.SetDefault(fakeopenai.OK)
	oaUp.Reply = "passed through"
	a := chainPool(t, "a", provider.Gemini, down.URL, []string{chainGKey}, nil)
	o := chainPool(t, "o", provider.OpenAI, oaUp.URL, []string{chainOAKey}, mapTo("gpt-4o-mini"))
	a.SetFallbacks([]*balancer.Balancer{o})
	h := &Handler{Balancer: a}
	w := serveChain(t, h, http.MethodPost, "/v1/chat/completions",
		`{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}],"seed":7}`, true)
	if w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "passed through") || !strings.Contains(w.Body.String(), `"chat.completion"`) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	reqs := oaUp.Requests()
	if len(reqs) != 1 || reqs[0].Model != "gpt-4o-mini" || !strings.Contains(string(reqs[0].Body), `"seed":7`) {
		t.Errorf("openai pool received %+v", reqs)
	}
}

// A Gemini call falls back to a Vertex AI express pool under its path, the
// model renamed by that pool's model_map.
func TestDoGeminiFallsBackToVertex(t *testing.T) {
	down := newScripted(t, http.StatusInternalServerError, `{"error":{"code":500,"message":"An internal error has occurred.","status":"INTERNAL"}}`)
	vx := fakegemini.New()
	t.Cleanup(vx.Close)
	vx.SetDefault(fakegemini.OK)
	a := chainPool(t, "a", provider.Gemini, down.URL, []string{chainGKey}, nil)
	v := chainPool(t, "v", provider.VertexExpress, vx.VertexURL(), []string{chainGKey}, mapTo("gemini-2.5-pro"))
	a.SetFallbacks([]*balancer.Balancer{v})
	h := &Handler{Balancer: a}
	w := serveChain(t, h, http.MethodPost, "/v1beta/models/"+chainModel+":generateContent", chainBody, false)
	if w.Code != http.StatusOK || down.count() == 0 {
		t.Fatalf("%d %s (first pool asked %d)", w.Code, w.Body, down.count())
	}
	reqs := vx.Requests()
	if len(reqs) != 1 || reqs[0].Path != "/v1/publishers/google/models/gemini-2.5-pro:generateContent" || reqs[0].Key != chainGKey {
		t.Errorf("vertex received %+v", reqs)
	}
}

// Calls that create, list or name files, caches, batches and operations
// stay with their pool: the keys of another pool do not own what they name.
func TestBindsResource(t *testing.T) {
	for path, want := range map[string]bool{
		"/models/gemini-2.5-flash:generateContent":          false,
		"/models/gemini-2.5-flash:streamGenerateContent":    false,
		"/openai/chat/completions":                          false,
		"/models/gemini-2.5-flash:batchGenerateContent":     true,
		"/models/veo-3:predictLongRunning":                  true,
		"/models/text-embedding-004:asyncBatchEmbedContent": true,
		"/files":           true,
		"/cachedContents":  true,
		"/batches/abc":     true,
		"/models":          true,
		"/models/gemini-x": true,
	} {
		if got := bindsResource(&balancer.Call{Request: upstream.Request{Path: path}}); got != want {
			t.Errorf("%s: binds a resource %v, want %v", path, got, want)
		}
	}
}

// A handler pool that cannot take the request is named once in the note,
// as skipped, when a later pool fails; when every pool is skipped the client
// gets the handler pool's own refusal.
func TestDoSkippedPoolNamedOnce(t *testing.T) {
	oaUp := fakeopenai.New()
	t.Cleanup(oaUp.Close)
	down := newScripted(t, http.StatusServiceUnavailable, `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`)
	o := chainPool(t, "oa-first", provider.OpenAI, oaUp.URL, []string{chainOAKey}, nil)
	g := chainPool(t, "gemini-second", provider.Gemini, down.URL, []string{chainGKey}, nil)
	o.SetFallbacks([]*balancer.Balancer{g})
	h := &Handler{Balancer: o}
	// countTokens has no OpenAI form: the OpenAI pool is skipped.
	_, _, fail := h.do(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil), geminiCall("countTokens"), nil)
	if fail == nil || fail.Pool != "gemini-second" || strings.Count(fail.Note, "oa-first") != 1 || !strings.Contains(fail.Note, "pool oa-first (openai) skipped") {
		t.Fatalf("failure %+v note %q", fail, fail.Note)
	}

	v := chainPool(t, "vertex-second", provider.VertexExpress, down.URL, []string{chainGKey}, nil)
	o.SetFallbacks([]*balancer.Balancer{v})
	// embedContent: neither an OpenAI nor a Vertex express pool takes it.
	_, _, fail = h.do(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil), geminiCall("embedContent"), nil)
	if fail == nil || fail.Pool != "oa-first" || fail.Status != http.StatusNotFound || strings.Contains(fail.Note, "oa-first") ||
		!strings.Contains(fail.Note, "pool vertex-second (vertex_express) skipped") {
		t.Fatalf("every pool skipped: %+v note %q", fail, fail.Note)
	}
}
