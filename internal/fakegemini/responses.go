package fakegemini

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

const (
	jsonType = "application/json; charset=UTF-8"
	// arraySep and arrayClose frame streamGenerateContent without alt=sse:
	// "[{...}\n,\r\n{...}\n]".
	arraySep   = "\n,\r\n"
	arrayClose = "\n]"
	// DefaultEmbeddingSize is the length of embeddings when the client asks
	// for no outputDimensionality (or dimensions).
	DefaultEmbeddingSize = 8
	// DefaultSampleCount is the number of Imagen predictions when the client
	// sends no parameters.sampleCount (Imagen's own default).
	DefaultSampleCount = 4
	// TinyPNG is the base64 of the 1x1 PNG every :predict answer carries.
	TinyPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)

// Model is a model as GET /v1beta/models describes it.
type Model struct {
	Name                       string   `json:"name"`
	Version                    string   `json:"version"`
	DisplayName                string   `json:"displayName"`
	Description                string   `json:"description"`
	InputTokenLimit            int      `json:"inputTokenLimit"`
	OutputTokenLimit           int      `json:"outputTokenLimit"`
	SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
	Temperature                float64  `json:"temperature,omitempty"`
	TopP                       float64  `json:"topP,omitempty"`
	TopK                       int      `json:"topK,omitempty"`
	MaxTemperature             float64  `json:"maxTemperature,omitempty"`
	Thinking                   bool     `json:"thinking,omitempty"`
}

var (
	chatMethods = []string{"generateContent", "countTokens", "createCachedContent", "batchGenerateContent"}
	catalogue   = []Model{
		{"models/gemini-2.5-flash", "001", "Gemini 2.5 Flash", "Stable version of Gemini 2.5 Flash, our mid-size multimodal model that supports up to 1 million tokens, released in June of 2025.", 1048576, 65536, chatMethods, 1, 0.95, 64, 2, true},
		{"models/gemini-2.5-pro", "2.5", "Gemini 2.5 Pro", "Stable release (June 17th, 2025) of Gemini 2.5 Pro", 1048576, 65536, chatMethods, 1, 0.95, 64, 2, true},
		{"models/gemini-2.5-flash-lite", "001", "Gemini 2.5 Flash-Lite", "Stable version of Gemini 2.5 Flash-Lite, released in July of 2025", 1048576, 65536, chatMethods, 1, 0.95, 64, 2, true},
		{"models/gemini-2.0-flash", "2.0", "Gemini 2.0 Flash", "Gemini 2.0 Flash", 1048576, 8192, chatMethods, 1, 0.95, 40, 2, false},
		{"models/gemini-2.5-flash-image", "2.0", "Nano Banana", "Gemini 2.5 Flash Preview Image", 32768, 32768, []string{"generateContent", "countTokens", "batchGenerateContent"}, 1, 0.95, 64, 2, false},
		{"models/text-embedding-004", "004", "Text Embedding 004", "Obtain a distributed representation of a text.", 2048, 1, []string{"embedContent"}, 0, 0, 0, 0, false},
		{"models/gemini-embedding-001", "001", "Gemini Embedding 001", "Obtain a distributed representation of a text.", 2048, 1, []string{"embedContent", "countTextTokens", "countTokens", "asyncBatchEmbedContent"}, 0, 0, 0, 0, false},
		{"models/imagen-3.0-generate-002", "002", "Imagen 3.0", "Vertex served Imagen 3.0 002 model", 480, 8192, []string{"predict"}, 0, 0, 0, 0, false},
	}
	// unlisted are models the stand-in serves but does not list, so that the
	// listing (and tests that page through it) stays as it was: Gemini 3
	// models (thought signatures), a speech model, Imagen 4 and Veo.
	unlisted = []Model{
		{"models/gemini-3-pro-preview", "3-pro-preview-11-2025", "Gemini 3 Pro Preview", "Gemini 3 Pro Preview", 1048576, 65536, chatMethods, 1, 0.95, 64, 2, true},
		{"models/gemini-3-flash-preview", "3-flash-preview-12-2025", "Gemini 3 Flash Preview", "Gemini 3 Flash Preview", 1048576, 65536, chatMethods, 1, 0.95, 64, 2, true},
		{"models/gemini-2.5-flash-preview-tts", "gemini-2.5-flash-exp-tts-2025-05-19", "Gemini 2.5 Flash Preview TTS", "Gemini 2.5 Flash Preview TTS", 8192, 16384, []string{"countTokens", "generateContent"}, 1, 0.95, 64, 2, false},
		{"models/imagen-4.0-generate-001", "001", "Imagen 4", "Vertex served Imagen 4.0 model", 480, 8192, []string{"predict"}, 0, 0, 0, 0, false},
		{"models/veo-2.0-generate-001", "2.0", "Veo 2", "Vertex served Veo 2 model", 480, 8192, []string{"predictLongRunning"}, 0, 0, 0, 0, false},
		{"models/veo-3.0-generate-001", "3.0", "Veo 3", "Veo 3", 480, 8192, []string{"predictLongRunning"}, 0, 0, 0, 0, false},
		{"models/veo-3.0-fast-generate-001", "3.0", "Veo 3 fast", "Veo 3 fast", 480, 8192, []string{"predictLongRunning"}, 0, 0, 0, 0, false},
		{"models/veo-3.1-generate-preview", "3.1", "Veo 3.1", "Veo 3.1", 1024, 8192, []string{"predictLongRunning"}, 0, 0, 0, 0, false},
	}
	// methodOf is the supportedGenerationMethods entry each route needs.
	methodOf = map[string]string{
		"generateContent": "generateContent", "streamGenerateContent": "generateContent",
		"countTokens": "countTokens", "embedContent": "embedContent",
		"batchEmbedContents": "embedContent", "predict": "predict",
		"chat": "generateContent", "embeddings": "embedContent",
		"batchGenerateContent": "batchGenerateContent", "predictLongRunning": "predictLongRunning",
	}
)

// Models returns the models every stand-in lists, in list order;
// Server.AddModel lists more on one server, after these.
func Models() []Model {
	out := make([]Model, len(catalogue))
	for i, m := range catalogue {
		m.SupportedGenerationMethods = append([]string(nil), m.SupportedGenerationMethods...)
		out[i] = m
	}
	return out
}

// UnlistedModels returns the models the stand-in serves without listing them
// in GET /v1beta/models: gemini-3-pro-preview, gemini-3-flash-preview,
// gemini-2.5-flash-preview-tts, imagen-4.0-generate-001 and the Veo models
// (predictLongRunning only).
func UnlistedModels() []Model {
	out := make([]Model, len(unlisted))
	for i, m := range unlisted {
		m.SupportedGenerationMethods = append([]string(nil), m.SupportedGenerationMethods...)
		out[i] = m
	}
	return out
}

// lookupModel finds a model the stand-in serves, listed (in listed, the
// server's listing) or not.
func lookupModel(listed []Model, id string) (Model, bool) {
	if m, _, ok := findModel(listed, id); ok {
		return m, true
	}
	for _, m := range unlisted {
		if m.Name == "models/"+id {
			return m, true
		}
	}
	return Model{}, false
}

// findModel finds a listed model and its index in the listing.
func findModel(listed []Model, id string) (Model, int, bool) {
	for i, m := range listed {
		if m.Name == "models/"+id {
			return m, i, true
		}
	}
	return Model{}, -1, false
}

// ReplyText is the text a generation answers with for model; a streamed
// answer's parts concatenate to a text that begins with it.
func ReplyText(model string) string { return "Hello from " + model }

// streamPieces splits the reply into n stream parts.
func streamPieces(model string, n int) []string {
	switch n {
	case 1:
		return []string{ReplyText(model)}
	case 2:
		return []string{"Hello", " from " + model}
	}
	p := []string{"Hello", " from", " " + model}
	for i := 3; i < n; i++ {
		p = append(p, " #"+strconv.Itoa(i+1))
	}
	return p
}

// tokens is the deterministic token count of a payload.
func tokens(b []byte) int { return max(1, (len(b)+3)/4) }

// embedding is a deterministic vector for text.
func embedding(text string, dim int) []float64 {
	if dim <= 0 {
		dim = DefaultEmbeddingSize
	}
	v := make([]float64, dim)
	for i := range v {
		h := fnv.New64a()
		fmt.Fprintf(h, "%s#%d", text, i)
		v[i] = math.Round((float64(h.Sum64()%2000000)/1e6-1)*1e6) / 1e6
	}
	return v
}

func responseID(seq uint64) string {
	h := fnv.New128a()
	_ = binary.Write(h, binary.BigEndian, seq)
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil))
}

func itoa(i int) string { return strconv.Itoa(i) }

// JSON encodings.

func marshal(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic("fakegemini: " + err.Error())
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// compactJSON is the OpenAI-compatible endpoint's encoding.
func compactJSON(v any) []byte { return marshal(v) }

// prettyJSON is Google's encoding of whole bodies: two-space indentation,
// "key": value, a final newline.
func prettyJSON(v any) []byte {
	var b bytes.Buffer
	_ = json.Indent(&b, marshal(v), "", "  ")
	b.WriteByte('\n')
	return b.Bytes()
}

// sseJSON is Google's encoding of SSE events: one line, a space after each
// colon and none after commas, e.g. {"candidates": [{"content": {...},"index": 0}]}.
func sseJSON(v any) []byte {
	var b bytes.Buffer
	_ = json.Indent(&b, marshal(v), "", "")
	return bytes.ReplaceAll(b.Bytes(), []byte("\n"), nil)
}

// arrayOpen is the first element of a JSON array stream: "[" and the
// pretty-printed element without its final newline.
func arrayOpen(v any) []byte {
	return append([]byte("["), bytes.TrimSuffix(prettyJSON(v), []byte("\n"))...)
}

// arrayNext is a further element of a JSON array stream.
func arrayNext(v any) []byte {
	return append([]byte(arraySep), bytes.TrimSuffix(prettyJSON(v), []byte("\n"))...)
}

// Request decoding.

// decode parses the body into v, answering 400 when it is not valid JSON.
// An empty body counts as {}.
func (x *exchange) decode(v any) bool {
	body := x.body
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	err := json.Unmarshal(body, v)
	if err == nil {
		return true
	}
	offset := int64(len(body))
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		offset = syn.Offset
	case errors.As(err, &typ):
		offset = typ.Offset
	}
	x.fail(invalidJSON(body, offset))
	return false
}

// model finds the route's model and checks it supports the route's method,
// answering 404 otherwise.
func (x *exchange) model() (string, bool) {
	id := x.rt.model
	m, ok := lookupModel(x.cfg.models, id)
	method := methodOf[x.rt.op]
	if ok && method != "" && !contains(m.SupportedGenerationMethods, method) {
		ok = false
	}
	if !ok {
		// The message names the method called; GET answers like
		// generateContent, the OpenAI endpoint speaks of v1main.
		called, version := x.rt.op, "v1beta"
		switch x.rt.op {
		case "getModel", "model":
			called = "generateContent"
		case "streamGenerateContent":
			called = "StreamGenerateContent"
		case "chat", "embeddings":
			called = method
		}
		if x.rt.openai {
			version = "v1main"
		}
		x.fail(notFoundModel(id, called, version))
	}
	return id, ok
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func contentsMissing() *rpcError {
	return invalidArgument("* GenerateContentRequest.contents: contents is not specified\n")
}

// Native API.

type modelList struct {
	Models        []Model `json:"models,omitempty"`
	NextPageToken string  `json:"nextPageToken,omitempty"`
}

// pageToken encodes the last model of a page the way Google's tokens look: a
// base64 protobuf holding the model name.
func pageToken(name string) string {
	return base64.StdEncoding.EncodeToString(append([]byte{0x0a, byte(len(name))}, name...))
}

// pageStart decodes a page token into the index of the next model.
func pageStart(listed []Model, tok string) (int, bool) {
	b, err := base64.StdEncoding.DecodeString(tok)
	if err != nil || len(b) < 2 || b[0] != 0x0a || int(b[1]) != len(b)-2 {
		return 0, false
	}
	_, i, ok := findModel(listed, strings.TrimPrefix(string(b[2:]), "models/"))
	return i + 1, ok
}

func (x *exchange) listModels() {
	q := x.r.URL.Query()
	size := x.cfg.pageSize
	for _, name := range []string{"pageSize", "page_size"} {
		v := q.Get(name)
		if v == "" {
			continue
		}
		n, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			msg := fmt.Sprintf("Invalid value at 'page_size' (TYPE_INT32), %q", v)
			x.fail(invalidArgument(msg, fieldViolation{Field: "page_size", Description: msg}))
			return
		}
		if n > 0 {
			size = int(min(n, int64(x.cfg.maxPageSize)))
		}
	}
	start := 0
	for _, name := range []string{"pageToken", "page_token"} {
		if tok := q.Get(name); tok != "" {
			var ok bool
			if start, ok = pageStart(x.cfg.models, tok); !ok {
				x.fail(invalidArgument("Invalid page token."))
				return
			}
		}
	}
	listed := x.cfg.models
	end := min(start+size, len(listed))
	resp := modelList{Models: listed[start:end]}
	if end < len(listed) {
		resp.NextPageToken = pageToken(listed[end-1].Name)
	}
	x.ok(resp)
}

func (x *exchange) getModel() {
	if _, ok := x.model(); ok {
		m, _ := lookupModel(x.cfg.models, x.rt.model)
		x.ok(m)
	}
}

// The answer types are package gemini's (the one declaration of Google's
// GenerateContentResponse, fields in Google's order).
type (
	part              = gemini.Part
	blob              = gemini.Blob
	functionCall      = gemini.FunctionCall
	content           = gemini.Content
	candidate         = gemini.Candidate
	tokenDetail       = gemini.ModalityTokenCount
	usageMetadata     = gemini.UsageMetadata
	generateResponse  = gemini.Response
	groundingMetadata = gemini.GroundingMetadata
	groundingChunk    = gemini.GroundingChunk
	webChunk          = gemini.WebChunk
	promptFeedback    = gemini.PromptFeedback
	safetyRating      = gemini.SafetyRating
)

// generation parses a generation request, answering 404 or 400 on failure.
func (x *exchange) generation() (string, *genRequest, bool) {
	model, ok := x.model()
	if !ok {
		return "", nil, false
	}
	var req struct {
		Contents []json.RawMessage `json:"contents"`
	}
	if !x.decode(&req) {
		return "", nil, false
	}
	if len(req.Contents) == 0 {
		x.fail(contentsMissing())
		return "", nil, false
	}
	if e := x.foreignResource(); e != nil {
		x.fail(e)
		return "", nil, false
	}
	gr := parseGenRequest(x.body)
	if strings.HasPrefix(model, "gemini-3") {
		if name, pos, missing := missingSignature(gr.Contents); missing {
			x.fail(missingThoughtSignature(name, pos))
			return "", nil, false
		}
	}
	return model, gr, true
}

func (x *exchange) generateContent() {
	model, gr, ok := x.generation()
	if !ok {
		return
	}
	id, prompt := x.nextResponseID(), tokens(x.body)
	if x.behavior == PromptBlocked {
		x.ok(blockedResponse(model, id, prompt))
		return
	}
	a := x.answerFor(model, gr)
	x.ok(a.response(model, id, prompt, a.parts(), true))
}

func (x *exchange) streamGenerateContent() {
	model, gr, ok := x.generation()
	if !ok {
		return
	}
	id, prompt := x.nextResponseID(), tokens(x.body)
	var events []generateResponse
	cut := x.behavior == CutStream
	if x.behavior == PromptBlocked {
		events = []generateResponse{blockedResponse(model, id, prompt)}
	} else {
		a := x.answerFor(model, gr)
		n := x.cfg.streamEvents
		if cut {
			n = max(n, 2)
		}
		plan := a.streamParts(model, n)
		if cut {
			plan = plan[:min(2, len(plan))]
		}
		for i, parts := range plan {
			events = append(events, a.response(model, id, prompt, parts, !cut && i == len(plan)-1))
		}
	}
	h := x.w.Header()
	h.Set("Vary", "Origin, X-Origin, Referer")
	if x.rt.sse {
		h.Set("Content-Type", "text/event-stream")
		h.Set("Content-Disposition", "attachment")
	} else {
		h.Set("Content-Type", jsonType)
	}
	x.w.WriteHeader(http.StatusOK)
	for i, ev := range events {
		if i > 0 && !x.pause() {
			return
		}
		switch {
		case x.rt.sse:
			_, _ = fmt.Fprintf(x.w, "data: %s\r\n\r\n", sseJSON(ev))
		case i == 0:
			_, _ = x.w.Write(arrayOpen(ev))
		default:
			_, _ = x.w.Write(arrayNext(ev))
		}
		x.flush()
	}
	if cut {
		panic(http.ErrAbortHandler)
	}
	if !x.rt.sse {
		_, _ = x.w.Write([]byte(arrayClose))
		x.flush()
	}
}

func (x *exchange) countTokens() {
	if _, ok := x.model(); !ok {
		return
	}
	var req map[string]json.RawMessage
	if !x.decode(&req) {
		return
	}
	if e := x.foreignResource(); e != nil {
		x.fail(e)
		return
	}
	n := tokens(x.body)
	x.ok(struct {
		TotalTokens         int           `json:"totalTokens"`
		PromptTokensDetails []tokenDetail `json:"promptTokensDetails"`
	}{n, []tokenDetail{{Modality: "TEXT", TokenCount: n}}})
}

type embedRequest struct {
	Model   string `json:"model"`
	Content *struct {
		Parts []part `json:"parts"`
	} `json:"content"`
	OutputDimensionality int `json:"outputDimensionality"`
}

type embeddingValues struct {
	Values []float64 `json:"values"`
}

func (r embedRequest) values() embeddingValues {
	var text strings.Builder
	for _, p := range r.Content.Parts {
		text.WriteString(p.Text)
	}
	return embeddingValues{embedding(text.String(), r.OutputDimensionality)}
}

func (x *exchange) embedContent() {
	if _, ok := x.model(); !ok {
		return
	}
	var req embedRequest
	if !x.decode(&req) {
		return
	}
	if req.Content == nil {
		x.fail(invalidArgument("* EmbedContentRequest.content: content is not specified\n"))
		return
	}
	x.ok(struct {
		Embedding embeddingValues `json:"embedding"`
	}{req.values()})
}

func (x *exchange) batchEmbedContents() {
	if _, ok := x.model(); !ok {
		return
	}
	var req struct {
		Requests []embedRequest `json:"requests"`
	}
	if !x.decode(&req) {
		return
	}
	if len(req.Requests) == 0 {
		x.fail(invalidArgument("* BatchEmbedContentsRequest.requests: requests is not specified\n"))
		return
	}
	out := make([]embeddingValues, len(req.Requests))
	for i, r := range req.Requests {
		if r.Content == nil {
			x.fail(invalidArgument(fmt.Sprintf("* BatchEmbedContentsRequest.requests[%d].content: content is not specified\n", i)))
			return
		}
		out[i] = r.values()
	}
	x.ok(struct {
		Embeddings []embeddingValues `json:"embeddings"`
	}{out})
}

func (x *exchange) predict() {
	if _, ok := x.model(); !ok {
		return
	}
	var req struct {
		Instances  []json.RawMessage `json:"instances"`
		Parameters struct {
			SampleCount int `json:"sampleCount"`
		} `json:"parameters"`
	}
	if !x.decode(&req) {
		return
	}
	if len(req.Instances) == 0 {
		x.fail(invalidArgument("* PredictRequest.instances: instances is not specified\n"))
		return
	}
	// Instances are free-form (google.protobuf.Value), so a missing prompt is
	// not caught by the request's schema: Imagen itself refuses it, with
	// Google's generic wording.
	var first struct {
		Prompt string `json:"prompt"`
	}
	if json.Unmarshal(req.Instances[0], &first) != nil || first.Prompt == "" {
		x.fail(invalidArgument("Request contains an invalid argument."))
		return
	}
	n := req.Parameters.SampleCount
	if n <= 0 {
		n = DefaultSampleCount
	}
	type prediction struct {
		BytesBase64Encoded string `json:"bytesBase64Encoded"`
		MimeType           string `json:"mimeType"`
	}
	preds := make([]prediction, n)
	for i := range preds {
		preds[i] = prediction{TinyPNG, "image/png"}
	}
	x.ok(struct {
		Predictions []prediction `json:"predictions"`
	}{preds})
}

// OpenAI-compatible endpoint. Its bodies are compact JSON with the keys in
// alphabetical order, hence the maps.

type object = map[string]any

func openaiModelField(body []byte) string {
	var req struct {
		Model string `json:"model"`
	}
	_ = json.Unmarshal(body, &req)
	return strings.TrimPrefix(req.Model, "models/")
}

func openaiModelEntry(m Model) object {
	return object{"id": m.Name, "object": "model", "owned_by": "google"}
}

func (x *exchange) openaiModels() {
	data := make([]object, len(x.cfg.models))
	for i, m := range x.cfg.models {
		data[i] = openaiModelEntry(m)
	}
	x.ok(object{"object": "list", "data": data})
}

func (x *exchange) openaiModel() {
	x.rt.model = strings.TrimPrefix(x.rt.model, "models/")
	if _, ok := x.model(); ok {
		m, _ := lookupModel(x.cfg.models, x.rt.model)
		x.ok(openaiModelEntry(m))
	}
}

func (x *exchange) openaiChat() {
	var req struct {
		Model    string            `json:"model"`
		Messages []json.RawMessage `json:"messages"`
		Stream   bool              `json:"stream"`
	}
	if !x.decode(&req) {
		return
	}
	x.rt.model = strings.TrimPrefix(req.Model, "models/")
	model, ok := x.model()
	if !ok {
		return
	}
	if len(req.Messages) == 0 {
		x.fail(contentsMissing())
		return
	}
	id, created, prompt := x.nextResponseID(), time.Now().Unix(), tokens(x.body)
	probe, hasProbe := echoProbe(x.body)
	base := func(kind string, choice object) object {
		o := object{"choices": []object{choice}, "created": created, "id": id, "model": model, "object": kind}
		if hasProbe {
			o[EchoField] = probe
		}
		return o
	}
	usage := func(text string) object {
		c := 0
		if text != "" {
			c = tokens([]byte(text))
		}
		return object{"completion_tokens": c, "prompt_tokens": prompt, "total_tokens": prompt + c}
	}
	if !req.Stream {
		text := ReplyText(model)
		msg := object{"content": text, "role": "assistant"}
		if x.behavior == EmptyAnswer {
			text, msg = "", object{"role": "assistant"}
		}
		resp := base("chat.completion", object{"finish_reason": "stop", "index": 0, "message": msg})
		resp["usage"] = usage(text)
		x.ok(resp)
		return
	}
	n, cut := x.events()
	pieces := streamPieces(model, max(n, x.cfg.streamEvents))
	if x.behavior == EmptyAnswer {
		pieces = []string{""}
	}
	x.w.Header().Set("Content-Type", "text/event-stream")
	x.w.WriteHeader(http.StatusOK)
	for i := range n {
		if i > 0 && !x.pause() {
			return
		}
		delta := object{"role": "assistant"}
		if pieces[i] != "" {
			delta["content"] = pieces[i]
		}
		choice := object{"delta": delta, "index": 0}
		final := !cut && i == n-1
		if final {
			choice["finish_reason"] = "stop"
		}
		ev := base("chat.completion.chunk", choice)
		if final {
			ev["usage"] = usage(strings.Join(pieces, ""))
		}
		_, _ = fmt.Fprintf(x.w, "data: %s\n\n", compactJSON(ev))
		x.flush()
	}
	if cut {
		panic(http.ErrAbortHandler)
	}
	_, _ = fmt.Fprint(x.w, "data: [DONE]\n\n")
	x.flush()
}

func (x *exchange) openaiEmbeddings() {
	var req struct {
		Input      json.RawMessage `json:"input"`
		Model      string          `json:"model"`
		Dimensions int             `json:"dimensions"`
	}
	if !x.decode(&req) {
		return
	}
	x.rt.model = strings.TrimPrefix(req.Model, "models/")
	model, ok := x.model()
	if !ok {
		return
	}
	var inputs []string
	var one string
	if json.Unmarshal(req.Input, &one) == nil {
		inputs = []string{one}
	} else if json.Unmarshal(req.Input, &inputs) != nil || len(inputs) == 0 {
		x.fail(invalidArgument("* BatchEmbedContentsRequest.requests: requests is not specified\n"))
		return
	}
	data := make([]object, len(inputs))
	for i, in := range inputs {
		data[i] = object{"embedding": embedding(in, req.Dimensions), "index": i, "object": "embedding"}
	}
	p := tokens(x.body)
	x.ok(object{"data": data, "model": model, "object": "list",
		"usage": object{"prompt_tokens": p, "total_tokens": p}})
}
