package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/clientinfo"
	"github.com/gemini-balance/gemini_balance/internal/gemini"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/models"
	"github.com/gemini-balance/gemini_balance/internal/openai"
	"github.com/gemini-balance/gemini_balance/internal/pathguard"
	"github.com/gemini-balance/gemini_balance/internal/provider"
	"github.com/gemini-balance/gemini_balance/internal/readall"
	"github.com/gemini-balance/gemini_balance/internal/secret"
	"github.com/gemini-balance/gemini_balance/internal/upstream"
)

// maxTranslatedAnswer bounds an upstream answer read whole for translation.
const maxTranslatedAnswer = 64 << 20

// serveOpenAI handles the translated OpenAI family below /v1 or /hf/v1.
func (h *Handler) serveOpenAI(w http.ResponseWriter, r *http.Request, rest string) bool {
	method := http.MethodPost
	var serve func(http.ResponseWriter, *http.Request, string)
	switch {
	case rest == "/models":
		method, serve = http.MethodGet, h.openaiModels
	case strings.HasPrefix(rest, "/models/"):
		method, serve = http.MethodGet, h.openaiModel
	case rest == "/chat/completions":
		serve = h.chatCompletions
	case rest == "/embeddings":
		serve = h.embeddings
	case rest == "/images/generations":
		serve = h.imageGenerations
	case rest == "/audio/speech":
		serve = h.speech
	default:
		h.serveMisdirected(w, r)
		return true
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		openaiDialect.writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s is not supported; use %s", r.Method, r.URL.Path, method), "")
		return true
	}
	token, ok := h.authenticate(w, r, openaiDialect)
	if !ok {
		return true
	}
	serve(w, r, secret.MaskToken(token))
	return true
}

// isMisdirected spots the usual base-URL mistakes: an OpenAI path without
// /v1, or a doubled version segment.
func isMisdirected(p string) bool {
	switch p {
	case "/chat/completions", "/completions", "/embeddings", "/models", "/images/generations", "/audio/speech":
		return true
	}
	return strings.HasPrefix(p, "/v1/v1/") || strings.HasPrefix(p, "/v1beta/v1beta/") || strings.HasPrefix(p, "/openai/v1/v1/")
}

// serveMisdirected answers a wrong path with the base URL each kind of client needs.
func (h *Handler) serveMisdirected(w http.ResponseWriter, r *http.Request) {
	base := clientinfo.Origin(r)
	openaiDialect.writeError(w, http.StatusNotFound, fmt.Sprintf("no route for %s %s. Base URLs: OpenAI SDKs and OpenAI-style clients "+
		"(Cline, LangChain, n8n) use %s/v1 (translated to Gemini) or %s/openai/v1 (Google's own OpenAI-compatible API); "+
		"Gemini clients (Google GenAI SDK, Gemini CLI, Cherry Studio) use %s (API version v1 or v1beta)",
		r.Method, r.URL.Path, base, base, base), "")
}

// openaiModels lists the upstream models with alias variants, filtered ones left out.
func (h *Handler) openaiModels(w http.ResponseWriter, r *http.Request, token string) {
	if h.Balancer.Provider() == provider.OpenAI {
		h.forwardOpenAI(w, r, &balancer.Call{Route: "openai.models", ClientToken: token}, &openaiForm{method: http.MethodGet, path: "/models"})
		return
	}
	cat, fail := h.Balancer.Catalogue(r.Context())
	if fail != nil {
		openaiDialect.writeFailure(w, fail)
		return
	}
	writeJSON(w, http.StatusOK, openai.ModelListWithIDs(h.Balancer.Aliases().Visible(cat.IDs), cat.Fetched.Unix()))
}

func (h *Handler) openaiModel(w http.ResponseWriter, r *http.Request, token string) {
	id := strings.TrimPrefix(r.URL.Path[strings.Index(r.URL.Path, "/models/")+len("/models/"):], "models/")
	if !pathguard.ValidModel(id) {
		openaiDialect.writeError(w, http.StatusBadRequest, pathguard.ModelError(id), "model")
		return
	}
	if h.Balancer.Provider() == provider.OpenAI {
		h.forwardOpenAI(w, r, &balancer.Call{Route: "openai.model", ClientToken: token},
			&openaiForm{method: http.MethodGet, path: "/models/" + h.Balancer.MapModel(id)})
		return
	}
	cat, fail := h.Balancer.Catalogue(r.Context())
	if fail != nil {
		openaiDialect.writeFailure(w, fail)
		return
	}
	for _, v := range h.Balancer.Aliases().Visible(cat.IDs) {
		if v == id {
			writeJSON(w, http.StatusOK, openai.ModelObject(id, cat.Fetched.Unix()))
			return
		}
	}
	writeJSON(w, http.StatusNotFound, openai.ErrorBodyCode(http.StatusNotFound, fmt.Sprintf("The model '%s' does not exist", id), "model", "model_not_found"))
}

// resolveModel reads the model a translated request names; a filtered model
// is refused (answered here, ok false).
func (h *Handler) resolveModel(w http.ResponseWriter, r *http.Request, model string) (models.Resolved, bool) {
	if m := models.Bare(model); !pathguard.ValidModel(m) {
		openaiDialect.writeError(w, http.StatusBadRequest, pathguard.ModelError(m), "model")
		return models.Resolved{}, false
	}
	res := h.Balancer.Resolve(r.Context(), model)
	return res, h.allowModel(w, res.Upstream, model)
}

// allowModel refuses, in OpenAI's shape, a model that may not go upstream:
// an invalid name (400) or one in filtered_models (404). requested is the
// name the client wrote, for the message.
func (h *Handler) allowModel(w http.ResponseWriter, upstreamModel, requested string) bool {
	if !pathguard.ValidModel(upstreamModel) {
		openaiDialect.writeError(w, http.StatusBadRequest, pathguard.ModelError(upstreamModel), "model")
		return false
	}
	if h.Balancer.Aliases().Filtered(upstreamModel) {
		writeJSON(w, http.StatusNotFound, openai.ErrorBodyCode(http.StatusNotFound,
			fmt.Sprintf("The model '%s' does not exist or is not available on this server", shorten(requested)), "model", "model_not_found"))
		return false
	}
	return true
}

// generate sends a translated generateContent body over the pool.
func generateCall(route, model, token string, body []byte, stream bool) *balancer.Call {
	action := ":generateContent"
	var q url.Values
	if stream {
		action = ":streamGenerateContent"
		q = url.Values{"alt": {"sse"}}
	}
	return &balancer.Call{
		Route: route, Model: model, Stream: stream, ClientToken: token,
		Request: upstream.Request{
			Method: http.MethodPost, Path: "/models/" + url.PathEscape(model) + action, Query: q, Body: body,
			Header: http.Header{"Content-Type": {"application/json"}},
		},
	}
}

// readAnswer reads a whole upstream answer for translation.
func readAnswer(r *http.Request, out *balancer.Outcome) ([]byte, error) {
	raw, err := out.Whole, error(nil)
	if raw == nil {
		raw, err = readall.Sized(io.LimitReader(out.Body, maxTranslatedAnswer), out.Resp.ContentLength, maxTranslatedAnswer)
	}
	usage, _ := gemini.FindUsage(raw)
	out.Finish(err, r.Context().Err(), usage)
	return raw, err
}

// forwardOpenAI sends an OpenAI client's request over the pool's chain:
// OpenAI-compatible pools answer it as it is; a Gemini pool takes call
// (nil: the request has no Gemini form). The answer is relayed.
func (h *Handler) forwardOpenAI(w http.ResponseWriter, r *http.Request, call *balancer.Call, oa *openaiForm) {
	if call.Request.Path == "" {
		oa.geminiErr = errNoGeminiForm
	}
	out, _, fail := h.do(w, r, call, oa)
	if fail != nil {
		openaiDialect.writeFailure(w, fail)
		return
	}
	relay(w, r, out)
}

var errNoGeminiForm = errors.New("this request is served by OpenAI-compatible pools only")

// doTranslated runs call and returns the whole answer; on failure the client
// has its answer already and ok is false.
func (h *Handler) doTranslated(w http.ResponseWriter, r *http.Request, call *balancer.Call) ([]byte, bool) {
	_, raw, ok := h.doWhole(w, r, call, openaiDialect)
	return raw, ok
}

// doWhole runs call and reads its answer whole (answers read this way are
// small: lists, resources, translations); on failure the client has its
// answer in dialect d and ok is false.
func (h *Handler) doWhole(w http.ResponseWriter, r *http.Request, call *balancer.Call, d dialect) (*balancer.Outcome, []byte, bool) {
	out, _, fail := h.do(w, r, call, nil)
	if fail != nil {
		d.writeFailure(w, fail)
		return nil, nil, false
	}
	raw, ok := readWhole(w, r, out, d)
	return out, raw, ok
}

// readWhole reads a successful answer whole; when it is cut short the
// client gets a 502 in dialect d and ok is false.
func readWhole(w http.ResponseWriter, r *http.Request, out *balancer.Outcome, d dialect) ([]byte, bool) {
	raw, err := readAnswer(r, out)
	if err != nil {
		d.writeError(w, http.StatusBadGateway, "upstream answer interrupted: "+redactRelayErr(out, err), "")
		return nil, false
	}
	return raw, true
}

// doForOpenAI runs call (and oa) over the chain for an OpenAI client. A
// failure is written; an OpenAI-compatible pool's answer is relayed as it
// is. Otherwise the Gemini answer is returned, to be translated; nil when
// the client has its answer already.
func (h *Handler) doForOpenAI(w http.ResponseWriter, r *http.Request, call *balancer.Call, oa *openaiForm) *balancer.Outcome {
	out, via, fail := h.do(w, r, call, oa)
	switch {
	case fail != nil:
		openaiDialect.writeFailure(w, fail)
		return nil
	case via.openai:
		relay(w, r, out)
		return nil
	}
	return out
}

// writeTranslated writes a translation's result or its error.
func writeTranslated(w http.ResponseWriter, body []byte, err error) {
	if err != nil {
		status, msg := openai.ErrorResponse(err)
		writeJSON(w, status, msg)
		return
	}
	writeJSON(w, http.StatusOK, body)
}

func (h *Handler) embeddings(w http.ResponseWriter, r *http.Request, token string) {
	body, ok := h.readBody(w, r, openaiDialect)
	if !ok {
		return
	}
	req, inputs, err := openai.DecodeEmbeddings(body)
	if err != nil {
		writeTranslated(w, nil, err)
		return
	}
	res, ok := h.resolveModel(w, r, openai.EmbeddingsModel(req.Model, "text-embedding-004"))
	if !ok {
		return
	}
	oa := &openaiForm{path: "/embeddings", body: body, model: req.Model}
	var vectors [][]float64
	for _, chunk := range openai.ChunkInputs(inputs, openai.MaxBatchEmbed) {
		call := &balancer.Call{Route: "openai.embeddings", Model: res.Upstream, ClientToken: token, Request: upstream.Request{
			Method: http.MethodPost, Path: "/models/" + url.PathEscape(res.Upstream) + ":batchEmbedContents",
			Body: openai.EmbeddingsToGemini(res.Upstream, chunk, req.Dimensions), Header: http.Header{"Content-Type": {"application/json"}},
		}}
		// An OpenAI-compatible pool embeds every input at once.
		out := h.doForOpenAI(w, r, call, oa)
		if out == nil {
			return
		}
		raw, ok := readWhole(w, r, out, openaiDialect)
		if !ok {
			return
		}
		v, err := openai.ParseGeminiEmbeddings(raw)
		if err != nil {
			writeTranslated(w, nil, err)
			return
		}
		vectors = append(vectors, v...)
	}
	out, err := openai.EmbeddingsResponse(vectors, res.Requested, req.EncodingFormat, openai.EstimateTokens(inputs))
	writeTranslated(w, out, err)
}

func (h *Handler) imageGenerations(w http.ResponseWriter, r *http.Request, token string) {
	body, ok := h.readBody(w, r, openaiDialect)
	if !ok {
		return
	}
	req, err := openai.DecodeImages(body)
	if err != nil {
		writeTranslated(w, nil, err)
		return
	}
	set := h.Balancer.Settings().Models
	model := openai.ImagesModel(req.Model, set.ImageModel)
	if !h.allowModel(w, model, req.Model) {
		return
	}
	call := &balancer.Call{Route: "openai.images", Model: model, ClientToken: token, Request: upstream.Request{
		Method: http.MethodPost, Path: "/models/" + url.PathEscape(model) + ":predict",
		Body: openai.ImagesToGemini(req), Header: http.Header{"Content-Type": {"application/json"}},
	}}
	if set.PaidKey != "" {
		call.FixedKey = keypool.NewKey(set.PaidKey, "paid_key")
	}
	raw, ok := h.doTranslated(w, r, call)
	if !ok {
		return
	}
	out, err := openai.ImagesFromGeminiWith(raw, time.Now().Unix(), req.ResponseFormat, h.imageURL(r, model, token))
	writeTranslated(w, out, err)
}

func (h *Handler) speech(w http.ResponseWriter, r *http.Request, token string) {
	body, ok := h.readBody(w, r, openaiDialect)
	if !ok {
		return
	}
	req, err := openai.DecodeSpeech(body)
	if err != nil {
		writeTranslated(w, nil, err)
		return
	}
	set := h.Balancer.Settings().Models
	model := openai.SpeechModel(req.Model, set.TTSModel)
	if !h.allowModel(w, model, req.Model) {
		return
	}
	voice := set.TTSVoice
	if req.Voice != "" {
		voice = openai.MapVoice(req.Voice)
	}
	raw, ok := h.doTranslated(w, r, generateCall("openai.speech", model, token, openai.SpeechToGemini(req, voice), false))
	if !ok {
		return
	}
	audio, contentType, err := openai.SpeechFromGemini(raw, req.ResponseFormat)
	if err != nil {
		writeTranslated(w, nil, err)
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(audio)
}

// servePassthrough forwards /openai/v1/... to Google's own OpenAI-compatible
// endpoint: the body goes as it is, the pool key as a Bearer token. Only
// the documented endpoints are forwarded, with validated model names.
func (h *Handler) servePassthrough(w http.ResponseWriter, r *http.Request, rest string) bool {
	method, route := http.MethodPost, "openai.passthrough"+strings.ReplaceAll(rest, "/", ".")
	var model string // of GET /models/{m}
	switch {
	case rest == "/models":
		method = http.MethodGet
	case strings.HasPrefix(rest, "/models/"):
		method, route, model = http.MethodGet, "openai.passthrough.model", models.Bare(strings.TrimPrefix(rest, "/models/"))
	case rest == "/chat/completions" || rest == "/embeddings" || rest == "/images/generations":
	default:
		h.serveMisdirected(w, r)
		return true
	}
	if r.Method != method {
		w.Header().Set("Allow", method)
		openaiDialect.writeError(w, http.StatusMethodNotAllowed, "use "+method, "")
		return true
	}
	token, ok := h.authenticate(w, r, openaiDialect)
	if !ok {
		return true
	}
	var oa *openaiForm
	call := &balancer.Call{Route: route, ClientToken: secret.MaskToken(token),
		Request: upstream.Request{Method: r.Method, Path: "/openai" + rest, Query: upstreamQuery(r.URL.Query()),
			Header: forwardedHeader(r), Bearer: true}}
	switch {
	case r.Method == http.MethodPost:
		body, ok := h.readBody(w, r, openaiDialect)
		if !ok {
			return true
		}
		// Only the model and stream flag are read; the body goes on untouched.
		var head struct {
			Model  string `json:"model"`
			Stream bool   `json:"stream"`
		}
		if err := json.Unmarshal(body, &head); err != nil {
			openaiDialect.writeError(w, http.StatusBadRequest, "request body is not valid JSON: "+err.Error(), "")
			return true
		}
		m := models.Bare(head.Model)
		if !h.allowModel(w, m, head.Model) {
			return true
		}
		call.Model, call.Stream, call.Request.Body = m, head.Stream, body
		oa = &openaiForm{path: rest, body: body, model: head.Model, stream: head.Stream}
	case model != "":
		if !h.allowModel(w, model, model) {
			return true
		}
		call.Model, call.Request.Path = model, "/openai/models/"+model
		oa = &openaiForm{method: http.MethodGet, path: "/models/" + h.Balancer.MapModel(model)}
	case h.Balancer.Provider() == provider.OpenAI:
		oa = &openaiForm{method: http.MethodGet, path: "/models"}
	default:
		h.forwardModelList(w, r, call)
		return true
	}
	// OpenAI-compatible pools of the chain take the request as it is.
	h.forwardOpenAI(w, r, call, oa)
	return true
}

// forwardModelList relays Google's OpenAI model list without the filtered models.
func (h *Handler) forwardModelList(w http.ResponseWriter, r *http.Request, call *balancer.Call) {
	hide := h.Balancer.Aliases().Filtered
	h.forwardTransformed(w, r, call, openaiDialect, func(raw []byte) []byte { return gemini.DropModels(raw, "data", "id", hide) })
}
