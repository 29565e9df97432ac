package fakeopenai

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"net/http"
	"strings"
	"time"
)

// chatRequest is the part of a chat completion request the stand-in reads.
type chatRequest struct {
	Model         string        `json:"model"`
	Messages      []chatMessage `json:"messages"`
	Stream        bool          `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Tools []struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
}

type chatMessage struct {
	Role       string          `json:"role"`
	Content    json.RawMessage `json:"content"`
	ToolCallID string          `json:"tool_call_id"`
}

// text is a message's content: a string, or the text parts of an array.
func (m chatMessage) text() string {
	var s string
	if json.Unmarshal(m.Content, &s) == nil {
		return s
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if json.Unmarshal(m.Content, &parts) == nil {
		var b strings.Builder
		for _, p := range parts {
			b.WriteString(p.Text)
		}
		return b.String()
	}
	return ""
}

// answer is what a chat completion says: a text or one tool call.
type answer struct {
	text     string
	toolName string
	toolID   string
	toolArgs string
}

func (a answer) finishReason() string {
	if a.toolName != "" {
		return "tool_calls"
	}
	return "stop"
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// tokens is a stable stand-in for a token count: one per four bytes.
func tokens(s string) int { return (len(s) + 3) / 4 }

func (x *exchange) chat() {
	var req chatRequest
	if err := json.Unmarshal(x.body, &req); err != nil {
		x.fail(http.StatusBadRequest, apiError{
			Message: "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)",
			Type:    "invalid_request_error",
		})
		return
	}
	if !x.checkModel(req.Model) {
		return
	}
	if len(req.Messages) == 0 {
		x.fail(http.StatusBadRequest, apiError{Message: "[] is too short - 'messages'", Type: "invalid_request_error", Param: ptr("messages"), Code: "empty_array"})
		return
	}
	a := x.plan(req)
	prompt := 0
	for _, m := range req.Messages {
		prompt += tokens(m.text()) + 1
	}
	u := usage{PromptTokens: prompt, CompletionTokens: tokens(a.text + a.toolArgs)}
	u.TotalTokens = u.PromptTokens + u.CompletionTokens
	id := "chatcmpl-fake" + itoa(x.s.seq.Add(1))
	if req.Stream {
		x.stream(id, req, a, u)
		return
	}
	msg := map[string]any{"role": "assistant", "content": a.text, "refusal": nil}
	if a.toolName != "" {
		msg["content"] = nil
		msg["tool_calls"] = []any{map[string]any{
			"id": a.toolID, "type": "function",
			"function": map[string]any{"name": a.toolName, "arguments": a.toolArgs},
		}}
	}
	x.ok(map[string]any{
		"id": id, "object": "chat.completion", "created": time.Now().Unix(), "model": req.Model,
		"choices": []any{map[string]any{"index": 0, "message": msg, "logprobs": nil, "finish_reason": a.finishReason()}},
		"usage":   u, "system_fingerprint": "fp_fake",
	})
}

func ptr(s string) *string { return &s }

// plan decides the answer: a tool call when tools are offered and the user
// spoke last; after a tool's result, a text quoting it; else a text quoting
// the user.
func (x *exchange) plan(req chatRequest) answer {
	last := req.Messages[len(req.Messages)-1]
	if len(req.Tools) > 0 && last.Role == "user" {
		return answer{
			toolName: req.Tools[0].Function.Name,
			toolID:   "call_fake" + itoa(x.s.seq.Add(1)),
			toolArgs: or(x.s.ToolArguments, `{"location":"Paris","unit":"celsius"}`),
		}
	}
	if x.s.Reply != "" {
		return answer{text: x.s.Reply}
	}
	if last.Role == "tool" {
		return answer{text: "The tool said: " + last.text()}
	}
	var said string
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			said = req.Messages[i].text()
			break
		}
	}
	return answer{text: "Hello from " + req.Model + ". You said: " + said}
}

// checkModel answers 400 for a missing model and 404 for an unknown one, as
// OpenAI does; true when the model is known.
func (x *exchange) checkModel(model string) bool {
	if model == "" {
		x.fail(http.StatusBadRequest, apiError{Message: "you must provide a model parameter", Type: "invalid_request_error"})
		return false
	}
	if !x.s.knows(model) {
		x.fail(http.StatusNotFound, apiError{
			Message: "The model `" + model + "` does not exist or you do not have access to it.",
			Type:    "invalid_request_error", Code: "model_not_found",
		})
		return false
	}
	return true
}

// split cuts s into n pieces of about equal length (at byte boundaries that
// keep UTF-8 whole); fewer when s is short.
func split(s string, n int) []string {
	if n <= 0 {
		n = 3
	}
	var out []string
	for n > 0 && s != "" {
		size := (len(s) + n - 1) / n
		for size < len(s) && s[size]&0xC0 == 0x80 {
			size++
		}
		out = append(out, s[:size])
		s = s[size:]
		n--
	}
	return out
}

// stream sends the answer as OpenAI's chat.completion.chunk events: the
// role, the content (or the tool call, its arguments in fragments), the
// finish reason, with include_usage a last chunk with no choices and the
// usage, then "data: [DONE]". CutStream aborts after two chunks.
func (x *exchange) stream(id string, req chatRequest, a answer, u usage) {
	h := x.w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Request-Id", "req_"+itoa(x.s.seq.Add(1)))
	x.w.WriteHeader(http.StatusOK)
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	created := time.Now().Unix()
	sent := 0
	send := func(choices []any, withUsage bool) bool {
		if sent > 0 && !x.pause() {
			return false
		}
		if x.behavior == CutStream && sent == 2 {
			panic(http.ErrAbortHandler)
		}
		chunk := map[string]any{
			"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"system_fingerprint": "fp_fake", "choices": choices,
		}
		if includeUsage {
			chunk["usage"] = nil
			if withUsage {
				chunk["usage"] = u
			}
		}
		b, _ := json.Marshal(chunk)
		if _, err := fmt.Fprintf(x.w, "data: %s\n\n", b); err != nil {
			return false
		}
		_ = http.NewResponseController(x.w).Flush()
		sent++
		return true
	}
	delta := func(d map[string]any, finish any) []any {
		return []any{map[string]any{"index": 0, "delta": d, "logprobs": nil, "finish_reason": finish}}
	}

	if a.toolName != "" {
		first := map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{
			"index": 0, "id": a.toolID, "type": "function",
			"function": map[string]any{"name": a.toolName, "arguments": ""},
		}}}
		if !send(delta(first, nil), false) {
			return
		}
		for _, frag := range split(a.toolArgs, x.s.StreamChunks) {
			d := map[string]any{"tool_calls": []any{map[string]any{"index": 0, "function": map[string]any{"arguments": frag}}}}
			if !send(delta(d, nil), false) {
				return
			}
		}
	} else {
		if !send(delta(map[string]any{"role": "assistant", "content": "", "refusal": nil}, nil), false) {
			return
		}
		for _, piece := range split(a.text, x.s.StreamChunks) {
			if !send(delta(map[string]any{"content": piece}, nil), false) {
				return
			}
		}
	}
	if !send(delta(map[string]any{}, a.finishReason()), false) {
		return
	}
	if includeUsage && !send([]any{}, true) {
		return
	}
	_, _ = fmt.Fprint(x.w, "data: [DONE]\n\n")
	_ = http.NewResponseController(x.w).Flush()
}

func (x *exchange) listModels() {
	data := []any{}
	for _, m := range x.s.Models() {
		data = append(data, modelObject(m))
	}
	x.ok(map[string]any{"object": "list", "data": data})
}

func modelObject(id string) map[string]any {
	return map[string]any{"id": id, "object": "model", "created": 1700000000, "owned_by": "system"}
}

func (x *exchange) getModel(id string) {
	if !x.s.knows(id) {
		x.fail(http.StatusNotFound, apiError{
			Message: "The model '" + id + "' does not exist", Type: "invalid_request_error", Param: ptr("model"), Code: "model_not_found",
		})
		return
	}
	x.ok(modelObject(id))
}

// embeddings answers with a stable vector per input (8 dimensions unless
// "dimensions" says otherwise), as floats or, with encoding_format base64,
// as little-endian float32s in base64, as OpenAI does.
func (x *exchange) embeddings() {
	var req struct {
		Model          string          `json:"model"`
		Input          json.RawMessage `json:"input"`
		Dimensions     int             `json:"dimensions"`
		EncodingFormat string          `json:"encoding_format"`
	}
	if err := json.Unmarshal(x.body, &req); err != nil {
		x.fail(http.StatusBadRequest, apiError{Message: "We could not parse the JSON body of your request.", Type: "invalid_request_error"})
		return
	}
	if !x.checkModel(req.Model) {
		return
	}
	var inputs []string
	var one string
	if json.Unmarshal(req.Input, &one) == nil {
		inputs = []string{one}
	} else if json.Unmarshal(req.Input, &inputs) != nil {
		// Token arrays: embed their JSON text.
		var raw []json.RawMessage
		if json.Unmarshal(req.Input, &raw) != nil || len(raw) == 0 {
			x.fail(http.StatusBadRequest, apiError{Message: "'input' is a required property", Type: "invalid_request_error", Param: ptr("input")})
			return
		}
		inputs = inputs[:0]
		for _, r := range raw {
			inputs = append(inputs, string(r))
		}
	}
	dims := req.Dimensions
	if dims <= 0 || dims > 4096 {
		dims = 8
	}
	data := make([]any, len(inputs))
	prompt := 0
	for i, in := range inputs {
		vec := Embedding(in, dims)
		prompt += tokens(in)
		var emb any = vec
		if req.EncodingFormat == "base64" {
			buf := make([]byte, 4*len(vec))
			for j, f := range vec {
				binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(float32(f)))
			}
			emb = base64.StdEncoding.EncodeToString(buf)
		}
		data[i] = map[string]any{"object": "embedding", "index": i, "embedding": emb}
	}
	x.ok(map[string]any{
		"object": "list", "data": data, "model": req.Model,
		"usage": map[string]int{"prompt_tokens": prompt, "total_tokens": prompt},
	})
}

// Embedding is the vector the stand-in returns for text: dims values in
// [-1, 1], the same for the same text, of unit length.
func Embedding(text string, dims int) []float64 {
	vec := make([]float64, dims)
	var norm float64
	for i := range vec {
		h := fnv.New64a()
		_, _ = h.Write([]byte{byte(i), byte(i >> 8)})
		_, _ = h.Write([]byte(text))
		v := float64(int64(h.Sum64()>>11))/float64(1<<52) - 1
		vec[i] = v
		norm += v * v
	}
	if norm > 0 {
		n := math.Sqrt(norm)
		for i := range vec {
			vec[i] = float64(float32(vec[i] / n))
		}
	}
	return vec
}
