package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/gemini"
	"github.com/gemini-balance/gemini_balance/internal/gemini/fromopenai"
	"github.com/gemini-balance/gemini_balance/internal/provider"
	"github.com/gemini-balance/gemini_balance/internal/readall"
	"github.com/gemini-balance/gemini_balance/internal/upstream"
)

// A request goes to its pool and, when that pool cannot serve it (see
// balancer.Failure.FallsBack), to each pool of the pool's fallback chain in
// turn, each with its own keys and retries. The call is built once, in
// Gemini's shape (or, from OpenAI clients, also as the OpenAI request
// itself), and adapted to each pool's provider:
//
//   - gemini: as it is, the model renamed by the pool's model_map;
//   - vertex_express: model methods Vertex AI serves (generateContent,
//     streamGenerateContent, countTokens) under /publishers/google/models;
//   - openai: an OpenAI client's request passes through with the model
//     renamed; a Gemini generateContent or streamGenerateContent is
//     translated (fromopenai) and its answer translated back, so the
//     caller reads Gemini's answer whatever served it.
//
// A pool that cannot take the request in any form is skipped. Calls bound
// to one key (a paid key, a file's owner), streamed uploads, and calls that
// create or list files, caches, batches and operations never fall back.

// openaiForm is an OpenAI client's request as an OpenAI-compatible pool
// takes it: the client's body, whose "model" each pool renames.
type openaiForm struct {
	method string // "" is POST
	path   string // below the base URL: "/chat/completions", "/embeddings", "/models"
	body   []byte
	model  string // as the client named it, before any alias or map
	stream bool
	// geminiErr says why the request has no Gemini form (a pool of another
	// provider is then skipped).
	geminiErr error
}

// served says which pool answered and in what shape.
type served struct {
	pool   *balancer.Balancer
	openai bool // the provider's own OpenAI answer (passed through), not Gemini's
}

// notServed is a pool's reason for not taking a request: status and
// message are the client's answer when the pool is the request's own.
type notServed struct {
	status int
	msg    string
}

func (e *notServed) Error() string { return e.msg }

// do sends call (and, for an OpenAI client, oa) over the chain of the
// handler's pool and returns the first answer, or the failure to give the
// client: the last pool's, its message naming what the earlier pools
// answered.
func (h *Handler) do(w http.ResponseWriter, r *http.Request, call *balancer.Call, oa *openaiForm) (*balancer.Outcome, served, *balancer.Failure) {
	chain := h.Balancer.Chain()
	if call.FixedKey != nil || call.OwnerKey != nil || call.Request.BodyReader != nil || bindsResource(call) {
		chain = chain[:1]
	}
	// last is the failure of the last pool that tried; refused is the
	// answer of the handler's own pool when it could not take the request.
	var last, refused *balancer.Failure
	var lastPool *balancer.Balancer
	var notes []string
	attempts := 0
	for i, p := range chain {
		c, openai, ns := adapt(call, oa, p)
		if ns != nil {
			if i == 0 {
				if refused = ownFailure(p, ns.status, ns.msg); len(chain) == 1 {
					return nil, served{}, refused
				}
			}
			notes = append(notes, fmt.Sprintf("pool %s (%s) skipped: %s", p.Name(), p.Provider(), ns.msg))
			continue
		}
		out, fail := p.Do(r.Context(), c)
		if fail == nil {
			h.observe(w, r, Served{Pool: p.Name(), Provider: string(p.Provider()), Key: out.Key.Masked(), Model: c.Model,
				Attempts: attempts + out.Attempt, UpstreamStatus: out.Resp.StatusCode})
			if i > 0 && h.Logger != nil {
				h.Logger.Info("request served by a fallback pool", zap.String("pool", h.Balancer.Name()),
					zap.String("served_by", p.Name()), zap.String("provider", string(p.Provider())), zap.String("route", call.Route))
			}
			return out, served{pool: p, openai: openai}, nil
		}
		attempts += fail.Attempts
		if fail.ClientGone || !fail.FallsBack {
			fail.Attempts = attempts
			h.observeFailure(w, r, fail, c.Model)
			return nil, served{}, fail
		}
		if last != nil {
			notes = append(notes, fmt.Sprintf("pool %s (%s): HTTP %d %s", lastPool.Name(), lastPool.Provider(), last.Status, shortenTo(last.Message(), 200)))
		}
		last, lastPool = fail, p
	}
	if last == nil {
		// No pool tried: the handler's pool refused and every fallback was
		// skipped.
		last, notes = refused, notes[1:]
	}
	if len(notes) > 0 {
		last.Note = "earlier: " + strings.Join(notes, "; ")
	}
	last.Attempts = attempts
	h.observeFailure(w, r, last, call.Model)
	return nil, served{}, last
}

// observeFailure tells Observe about a request no pool answered.
func (h *Handler) observeFailure(w http.ResponseWriter, r *http.Request, f *balancer.Failure, model string) {
	if !f.ClientGone {
		h.observe(w, r, Served{Pool: f.Pool, Model: model, Attempts: f.Attempts, UpstreamStatus: f.Status})
	}
}

func ownFailure(p *balancer.Balancer, status int, msg string) *balancer.Failure {
	return &balancer.Failure{Status: status, Kind: "not_served", Pool: p.Name(),
		Header: http.Header{"Content-Type": {"application/json; charset=UTF-8"}}, Body: gemini.ErrorBody(status, msg)}
}

// adapt builds the call pool p takes for the request, and says whether its
// answer is an OpenAI one passed through.
func adapt(call *balancer.Call, oa *openaiForm, p *balancer.Balancer) (*balancer.Call, bool, *notServed) {
	kind := p.Provider()
	if kind == provider.OpenAI && oa != nil {
		return passThrough(call, oa, p)
	}
	if oa != nil && oa.geminiErr != nil {
		return nil, false, &notServed{http.StatusBadRequest, oa.geminiErr.Error()}
	}
	model, action, isMethod := modelMethod(call.Request.Path)
	if !isMethod {
		if kind == provider.Gemini {
			return call, false, nil
		}
		return nil, false, &notServed{http.StatusNotFound, fmt.Sprintf("a %s pool serves model methods only, not %s", kind, call.Request.Path)}
	}
	mapped := p.MapModel(model)
	if kind == provider.Gemini && mapped == model {
		return call, false, nil // as it is: no copy on the hot path
	}
	c := *call
	c.Model = mapped
	switch kind {
	case provider.Gemini, provider.VertexExpress:
		path, ok := kind.ModelPath(mapped, action)
		if !ok {
			return nil, false, &notServed{http.StatusNotFound, fmt.Sprintf("Vertex AI express mode does not serve %s", action)}
		}
		c.Request.Path = path
		return &c, false, nil
	}
	// A Gemini call to an OpenAI-compatible provider.
	if action != "generateContent" && action != "streamGenerateContent" {
		return nil, false, &notServed{http.StatusNotFound, fmt.Sprintf("an OpenAI-compatible pool serves generateContent and streamGenerateContent, not %s", action)}
	}
	stream := action == "streamGenerateContent"
	body, err := fromopenai.Request(call.Request.Body, mapped, stream)
	if err != nil {
		return nil, false, &notServed{http.StatusBadRequest, err.Error()}
	}
	array := stream && call.Request.Query.Get("alt") != "sse"
	c.Request = upstream.Request{Method: http.MethodPost, Path: "/chat/completions", Body: body, Bearer: true,
		Header: http.Header{"Content-Type": {"application/json"}}}
	c.Convert = func(resp *http.Response) error { return fromOpenAIAnswer(resp, model, stream, array) }
	return &c, false, nil
}

// resourceActions are model methods whose answer names a batch or an
// operation that stays with the key that created it.
var resourceActions = map[string]bool{"batchGenerateContent": true, "asyncBatchEmbedContent": true, "predictLongRunning": true}

// bindsResource reports whether call creates, lists or names a file,
// cached content, batch or operation (or a model list): such a call stays
// with its pool, whose keys own what it names. Model methods and Google's
// OpenAI-compatible endpoint may fall back.
func bindsResource(call *balancer.Call) bool {
	if strings.HasPrefix(call.Request.Path, "/openai/") {
		return false
	}
	_, action, ok := modelMethod(call.Request.Path)
	return !ok || resourceActions[action]
}

// modelMethod reads a Gemini model method's path, /models/{m}:{action}.
func modelMethod(path string) (model, action string, ok bool) {
	rest, ok := strings.CutPrefix(path, "/models/")
	if !ok || !strings.Contains(rest, ":") {
		return "", "", false
	}
	model, action = gemini.SplitModelAction(rest)
	return model, action, true
}

// passThrough sends an OpenAI client's request to an OpenAI-compatible pool
// with the model renamed.
func passThrough(call *balancer.Call, oa *openaiForm, p *balancer.Balancer) (*balancer.Call, bool, *notServed) {
	if oa.method == http.MethodGet {
		return &balancer.Call{Route: call.Route, ClientToken: call.ClientToken,
			Request: upstream.Request{Method: http.MethodGet, Path: oa.path, Bearer: true}}, true, nil
	}
	mapped := p.MapModel(oa.model)
	body := oa.body
	if mapped != oa.model {
		var err error
		if body, err = setModel(body, mapped); err != nil {
			return nil, false, &notServed{http.StatusBadRequest, err.Error()}
		}
	}
	c := &balancer.Call{Route: call.Route, Model: mapped, Stream: oa.stream, ClientToken: call.ClientToken,
		Request: upstream.Request{Method: http.MethodPost, Path: oa.path, Body: body, Bearer: true,
			Header: http.Header{"Content-Type": {"application/json"}}}}
	return c, true, nil
}

// setModel replaces the "model" of a JSON object, keeping every other field.
func setModel(body []byte, model string) ([]byte, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(body, &obj); err != nil {
		return nil, fmt.Errorf("request body is not a JSON object: %v", err)
	}
	obj["model"], _ = json.Marshal(model)
	return json.Marshal(obj)
}

// maxProviderAnswer bounds a provider's plain answer read for translation.
const maxProviderAnswer = 64 << 20

// fromOpenAIAnswer turns an OpenAI-compatible provider's 2xx answer into
// Gemini's: a chat completion into a GenerateContentResponse, a stream
// into Gemini's SSE events (or its JSON array when the client did not ask
// for alt=sse). model is the name the client asked for.
func fromOpenAIAnswer(resp *http.Response, model string, stream, array bool) error {
	resp.Header.Del("Content-Length")
	if stream {
		resp.Body = fromopenai.NewReader(resp.Body, model, array)
		resp.ContentLength = -1
		ct := "text/event-stream"
		if array {
			ct = "application/json; charset=UTF-8"
		}
		resp.Header.Set("Content-Type", ct)
		return nil
	}
	raw, err := readall.Sized(io.LimitReader(resp.Body, maxProviderAnswer), resp.ContentLength, maxProviderAnswer)
	resp.Body.Close()
	if err != nil {
		return err
	}
	out, err := fromopenai.Response(raw, model)
	if err != nil {
		return err
	}
	resp.Body = io.NopCloser(bytes.NewReader(out))
	resp.ContentLength = int64(len(out))
	resp.Header.Set("Content-Type", "application/json; charset=UTF-8")
	return nil
}
