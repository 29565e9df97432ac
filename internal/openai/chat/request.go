package chat

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

// Request is an OpenAI chat completion request. Decode it with DecodeRequest,
// which validates it; fields not listed here are ignored.
type Request struct {
	Model         string         `json:"model"`
	Messages      []Message      `json:"messages"`
	Stream        bool           `json:"stream"`
	StreamOptions *StreamOptions `json:"stream_options"`
	Tools         []Tool         `json:"tools"`
	// ToolChoice is "none", "auto", "required", {"type":"function","function":{"name"}}
	// or {"type":"allowed_tools","allowed_tools":{"mode","tools"}}.
	ToolChoice json.RawMessage `json:"tool_choice"`
	// ParallelToolCalls is accepted and ignored: Gemini has no such switch.
	ParallelToolCalls   *bool    `json:"parallel_tool_calls"`
	Temperature         *float64 `json:"temperature"`
	TopP                *float64 `json:"top_p"`
	TopK                *int     `json:"top_k"` // not OpenAI's; gemini-balance accepted it
	MaxTokens           *int     `json:"max_tokens"`
	MaxCompletionTokens *int     `json:"max_completion_tokens"`
	N                   *int     `json:"n"`
	Seed                *int     `json:"seed"`
	// Stop is a string or an array of strings.
	Stop             json.RawMessage `json:"stop"`
	PresencePenalty  *float64        `json:"presence_penalty"`
	FrequencyPenalty *float64        `json:"frequency_penalty"`
	ResponseFormat   *ResponseFormat `json:"response_format"`
	// ReasoningEffort is none, minimal, low, medium, high or xhigh.
	ReasoningEffort string `json:"reasoning_effort"`
	// ExtraBody carries Google's OpenAI-compatibility extension,
	// {"extra_body":{"google":{"thinking_config":{...}}}}. A top-level
	// "google" object is read the same way.
	ExtraBody *ExtraBody `json:"extra_body"`

	// Filled by validation.
	stops      []string
	toolMode   string   // NONE, AUTO, ANY or "" (not set)
	toolNames  []string // allowedFunctionNames for ANY
	toolFilter []string // allowed_tools in auto mode: only these are declared
	toolNameOf map[string]string
	thinking   *ThinkingConfig
	validated  bool
}

// StreamOptions is stream_options.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Message is one chat message. Content is a string or an array of parts.
type Message struct {
	Role       string     `json:"role"`
	Content    Content    `json:"content"`
	Name       string     `json:"name,omitempty"`
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	// ExtraContent on an assistant message carries the thought signature of
	// its text (Google's convention), returned on the last text part.
	ExtraContent *ExtraContent `json:"extra_content,omitempty"`
}

// Content is a message's content: Text when it was a JSON string, Parts when
// it was an array (Parts is non-nil then, possibly empty). Both are empty for
// null or a missing content.
type Content struct {
	Text  string
	Parts []ContentPart
}

// UnmarshalJSON accepts a string, an array of parts or null.
func (c *Content) UnmarshalJSON(b []byte) error {
	if err := c.decode(b); err != nil {
		return err
	}
	return nil
}

// MarshalJSON writes Text as a string, or Parts as an array when set.
func (c Content) MarshalJSON() ([]byte, error) {
	if c.Parts != nil {
		return json.Marshal(c.Parts)
	}
	return json.Marshal(c.Text)
}

// ContentPart is one element of an array content.
type ContentPart struct {
	Type       string       `json:"type"`
	Text       string       `json:"text,omitempty"`
	ImageURL   *ImageURL    `json:"image_url,omitempty"`
	InputAudio *MediaData   `json:"input_audio,omitempty"`
	InputVideo *MediaData   `json:"input_video,omitempty"` // gemini-balance's extension
	File       *File        `json:"file,omitempty"`
	Refusal    string       `json:"refusal,omitempty"`
	media      *mediaSource // validated source of image_url, input_audio, input_video, file
}

// ImageURL is image_url; a bare string is read as its url.
type ImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

// MediaData is input_audio (and input_video): base64 data and a format.
type MediaData struct {
	Data   string `json:"data"`
	Format string `json:"format"`
}

// File is a file part. Only file_data (a data: URL, or base64 with a filename
// whose extension tells the type) is supported.
type File struct {
	FileData string `json:"file_data,omitempty"`
	FileID   string `json:"file_id,omitempty"`
	Filename string `json:"filename,omitempty"`
}

// ToolCall is an assistant tool call.
type ToolCall struct {
	ID       string       `json:"id"`
	Type     string       `json:"type"`
	Function FunctionCall `json:"function"`
	// ExtraContent carries the Gemini thought signature of the call,
	// {"google":{"thought_signature":"..."}}, as Google's own OpenAI endpoint
	// returns it.
	ExtraContent *ExtraContent `json:"extra_content,omitempty"`
	args         json.RawMessage
}

// FunctionCall is a tool call's function: Arguments is a JSON text.
type FunctionCall struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// ExtraContent is Google's extension object on messages and tool calls.
type ExtraContent struct {
	Google *GoogleExtra `json:"google,omitempty"`
}

// GoogleExtra holds the Gemini thought signature (base64).
type GoogleExtra struct {
	ThoughtSignature string `json:"thought_signature,omitempty"`
}

func (e *ExtraContent) signature() string {
	if e == nil || e.Google == nil {
		return ""
	}
	return e.Google.ThoughtSignature
}

func extraWith(sig string) *ExtraContent {
	if sig == "" {
		return nil
	}
	return &ExtraContent{Google: &GoogleExtra{ThoughtSignature: sig}}
}

// Tool is a tools[] entry; only function tools exist in Chat Completions.
type Tool struct {
	Type     string             `json:"type"`
	Function FunctionDefinition `json:"function"`
}

// FunctionDefinition is a function tool. Parameters is a JSON Schema object,
// forwarded to Gemini as parametersJsonSchema unchanged.
type FunctionDefinition struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ResponseFormat is response_format: text, json_object or json_schema.
type ResponseFormat struct {
	Type       string      `json:"type"`
	JSONSchema *JSONSchema `json:"json_schema,omitempty"`
}

// JSONSchema is response_format.json_schema; Schema goes to Gemini's
// responseJsonSchema unchanged.
type JSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

// ExtraBody is Google's extra_body extension.
type ExtraBody struct {
	Google *GoogleOptions `json:"google"`
}

// GoogleOptions is extra_body.google.
type GoogleOptions struct {
	ThinkingConfig *ThinkingConfig `json:"thinking_config"`
}

// ThinkingConfig is extra_body.google.thinking_config.
type ThinkingConfig struct {
	ThinkingBudget  *int   `json:"thinking_budget"`
	ThinkingLevel   string `json:"thinking_level"`
	IncludeThoughts *bool  `json:"include_thoughts"`
}

// WantsThoughts reports whether the client asked for thought summaries
// (extra_body.google.thinking_config.include_thoughts). The caller may show
// them even when its show_thinking setting is off.
func (r *Request) WantsThoughts() bool {
	t := r.thinkingConfig()
	return t != nil && t.IncludeThoughts != nil && *t.IncludeThoughts
}

func (r *Request) thinkingConfig() *ThinkingConfig {
	if r.thinking != nil {
		return r.thinking
	}
	if r.ExtraBody != nil && r.ExtraBody.Google != nil {
		return r.ExtraBody.Google.ThinkingConfig
	}
	return nil
}

// IncludeUsage reports stream_options.include_usage.
func (r *Request) IncludeUsage() bool {
	return r.StreamOptions != nil && r.StreamOptions.IncludeUsage
}

// wire* shadow the arrays of Request so each element decodes on its own and an
// error can name its index.
type wireRequest struct {
	Request
	Messages  []json.RawMessage `json:"messages"`
	Tools     []json.RawMessage `json:"tools"`
	Functions []json.RawMessage `json:"functions"`
	Google    *GoogleOptions    `json:"google"`
}

type wireMessage struct {
	Role         string            `json:"role"`
	Content      json.RawMessage   `json:"content"`
	Name         string            `json:"name"`
	ToolCalls    []json.RawMessage `json:"tool_calls"`
	ToolCallID   string            `json:"tool_call_id"`
	ExtraContent *ExtraContent     `json:"extra_content"`
	FunctionCall json.RawMessage   `json:"function_call"`
}

type wirePart struct {
	Type       string          `json:"type"`
	Text       string          `json:"text"`
	ImageURL   json.RawMessage `json:"image_url"`
	InputAudio *MediaData      `json:"input_audio"`
	InputVideo *MediaData      `json:"input_video"`
	File       *File           `json:"file"`
	Refusal    string          `json:"refusal"`
}

type wireToolCall struct {
	ID       string `json:"id"`
	Type     string `json:"type"`
	Function *struct {
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
	ExtraContent *ExtraContent `json:"extra_content"`
}

type wireTool struct {
	Type     string              `json:"type"`
	Function *FunctionDefinition `json:"function"`
}

// DecodeRequest parses and validates a chat completion body. Every error is a
// *RequestError naming the field.
func DecodeRequest(body []byte) (*Request, error) {
	var w wireRequest
	if err := gemini.Unmarshal(body, &w); err != nil {
		e := jsonErr(err)
		// The embedded Request shows up in encoding/json's field path.
		e.Param = strings.TrimPrefix(e.Param, "Request.")
		return nil, e
	}
	r := &w.Request
	if w.Google != nil && (r.ExtraBody == nil || r.ExtraBody.Google == nil) {
		r.ExtraBody = &ExtraBody{Google: w.Google}
	}
	if len(w.Functions) > 0 {
		return nil, reqErr("functions", "the deprecated functions parameter is not supported; use tools")
	}
	r.Messages = make([]Message, len(w.Messages))
	for i, raw := range w.Messages {
		if err := decodeMessage(raw, &r.Messages[i]); err != nil {
			return nil, err.under("messages[" + strconv.Itoa(i) + "]")
		}
	}
	if w.Tools != nil {
		r.Tools = make([]Tool, len(w.Tools))
	}
	for i, raw := range w.Tools {
		if err := decodeTool(raw, &r.Tools[i]); err != nil {
			return nil, err.under("tools[" + strconv.Itoa(i) + "]")
		}
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	return r, nil
}

// isObject reports a valid JSON object.
func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{' && json.Valid(raw)
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

func decodeMessage(raw json.RawMessage, m *Message) *RequestError {
	if isNull(raw) || bytes.TrimSpace(raw)[0] != '{' {
		return reqErr("", "must be a message object")
	}
	var w wireMessage
	if err := gemini.Unmarshal(raw, &w); err != nil {
		return jsonErr(err)
	}
	if !isNull(w.FunctionCall) {
		return reqErr("function_call", "the deprecated function_call is not supported; use tool_calls")
	}
	m.Role, m.Name, m.ToolCallID, m.ExtraContent = w.Role, w.Name, w.ToolCallID, w.ExtraContent
	if err := m.Content.decode(w.Content); err != nil {
		return err.under("content")
	}
	if w.ToolCalls != nil {
		m.ToolCalls = make([]ToolCall, len(w.ToolCalls))
	}
	for i, raw := range w.ToolCalls {
		if err := decodeToolCall(raw, &m.ToolCalls[i]); err != nil {
			return err.under("tool_calls[" + strconv.Itoa(i) + "]")
		}
	}
	return nil
}

func (c *Content) decode(raw json.RawMessage) *RequestError {
	*c = Content{}
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return nil
	}
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &c.Text); err != nil {
			return jsonErr(err)
		}
		return nil
	case '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return jsonErr(err)
		}
		c.Parts = make([]ContentPart, len(elems))
		for i, e := range elems {
			if err := decodePart(e, &c.Parts[i]); err != nil {
				return err.under("[" + strconv.Itoa(i) + "]")
			}
		}
		return nil
	}
	return reqErr("", "must be a string or an array of content parts")
}

func decodePart(raw json.RawMessage, p *ContentPart) *RequestError {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		// A bare string in the array: read it as a text part.
		p.Type = "text"
		if err := json.Unmarshal(raw, &p.Text); err != nil {
			return jsonErr(err)
		}
		return nil
	}
	if isNull(raw) || raw[0] != '{' {
		return reqErr("", "must be a content part object")
	}
	var w wirePart
	if err := json.Unmarshal(raw, &w); err != nil {
		return jsonErr(err)
	}
	*p = ContentPart{Type: w.Type, Text: w.Text, InputAudio: w.InputAudio, InputVideo: w.InputVideo, File: w.File, Refusal: w.Refusal}
	if !isNull(w.ImageURL) {
		iu := bytes.TrimSpace(w.ImageURL)
		p.ImageURL = new(ImageURL)
		var err error
		if iu[0] == '"' {
			err = json.Unmarshal(iu, &p.ImageURL.URL)
		} else {
			err = json.Unmarshal(iu, p.ImageURL)
		}
		if err != nil {
			return jsonErr(err).under("image_url")
		}
	}
	switch p.Type {
	case "text":
	case "refusal":
	case "image_url":
		if p.ImageURL == nil || p.ImageURL.URL == "" {
			return reqErr("image_url.url", "required")
		}
		src, err := imageSource(p.ImageURL.URL)
		if err != nil {
			return err.under("image_url.url")
		}
		p.media = src
	case "input_audio":
		src, err := mediaFromData(p.InputAudio, audioFormats, audioFormatList, "input_audio")
		if err != nil {
			return err
		}
		p.media = src
	case "input_video":
		src, err := mediaFromData(p.InputVideo, videoFormats, videoFormatList, "input_video")
		if err != nil {
			return err
		}
		p.media = src
	case "file":
		src, err := fileSource(p.File)
		if err != nil {
			return err.under("file")
		}
		p.media = src
	case "":
		return reqErr("type", "required")
	default:
		return reqErr("type", "unsupported content part type %q (expected text, image_url, input_audio or file)", p.Type)
	}
	return nil
}

func decodeToolCall(raw json.RawMessage, tc *ToolCall) *RequestError {
	if isNull(raw) || bytes.TrimSpace(raw)[0] != '{' {
		return reqErr("", "must be a tool call object")
	}
	var w wireToolCall
	if err := json.Unmarshal(raw, &w); err != nil {
		return jsonErr(err)
	}
	if w.Type != "" && w.Type != "function" {
		return reqErr("type", "unsupported tool call type %q (expected function)", w.Type)
	}
	if w.ID == "" {
		return reqErr("id", "required")
	}
	if w.Function == nil {
		return reqErr("function", "required")
	}
	if w.Function.Name == "" {
		return reqErr("function.name", "required")
	}
	tc.ID, tc.Type, tc.ExtraContent = w.ID, "function", w.ExtraContent
	tc.Function.Name = w.Function.Name
	args := bytes.TrimSpace(w.Function.Arguments)
	if len(args) > 0 && args[0] == '"' {
		// The standard form: a string holding JSON.
		var s string
		if err := json.Unmarshal(args, &s); err != nil {
			return jsonErr(err).under("function.arguments")
		}
		tc.Function.Arguments = s
		args = bytes.TrimSpace([]byte(s))
	} else {
		// Some clients send the object itself.
		tc.Function.Arguments = string(args)
	}
	switch {
	case len(args) == 0 || string(args) == "null":
		tc.args = json.RawMessage("{}")
	case args[0] == '{' && json.Valid(args):
		tc.args = json.RawMessage(args)
	case json.Valid(args):
		return reqErr("function.arguments", "must be a JSON object")
	default:
		return reqErr("function.arguments", "is not valid JSON")
	}
	return nil
}

func decodeTool(raw json.RawMessage, t *Tool) *RequestError {
	if isNull(raw) || bytes.TrimSpace(raw)[0] != '{' {
		return reqErr("", "must be a tool object")
	}
	var w wireTool
	if err := json.Unmarshal(raw, &w); err != nil {
		return jsonErr(err)
	}
	if w.Type != "" && w.Type != "function" {
		return reqErr("type", "unsupported tool type %q (only function tools are supported)", w.Type)
	}
	if w.Function == nil {
		return reqErr("function", "required")
	}
	if w.Function.Name == "" {
		return reqErr("function.name", "required")
	}
	if !isNull(w.Function.Parameters) {
		p := bytes.TrimSpace(w.Function.Parameters)
		if p[0] != '{' {
			return reqErr("function.parameters", "must be a JSON Schema object")
		}
		w.Function.Parameters = p
	} else {
		w.Function.Parameters = nil
	}
	t.Type, t.Function = "function", *w.Function
	return nil
}

var reasoningEfforts = map[string]bool{"none": true, "minimal": true, "low": true, "medium": true, "high": true, "xhigh": true}

func (r *Request) validate() *RequestError {
	if r.validated {
		return nil
	}
	if len(r.Messages) == 0 {
		return reqErr("messages", "must be a non-empty array")
	}
	r.toolNameOf = make(map[string]string)
	for i := range r.Messages {
		if err := r.validateMessage(i); err != nil {
			return err.under("messages[" + strconv.Itoa(i) + "]")
		}
	}
	for i := range r.Tools {
		t := &r.Tools[i]
		if t.Function.Name == "" {
			return reqErr("tools["+strconv.Itoa(i)+"].function.name", "required")
		}
		if t.Type != "" && t.Type != "function" {
			return reqErr("tools["+strconv.Itoa(i)+"].type", "unsupported tool type %q (only function tools are supported)", t.Type)
		}
		if !isNull(t.Function.Parameters) && !isObject(t.Function.Parameters) {
			return reqErr("tools["+strconv.Itoa(i)+"].function.parameters", "must be a JSON Schema object")
		}
	}
	if err := r.parseToolChoice(); err != nil {
		return err
	}
	if err := r.parseStop(); err != nil {
		return err
	}
	if err := checkRange("temperature", r.Temperature, 0, 2); err != nil {
		return err
	}
	if err := checkRange("top_p", r.TopP, 0, 1); err != nil {
		return err
	}
	if err := checkRange("presence_penalty", r.PresencePenalty, -2, 2); err != nil {
		return err
	}
	if err := checkRange("frequency_penalty", r.FrequencyPenalty, -2, 2); err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		v    *int
		min  int
	}{{"max_tokens", r.MaxTokens, 0}, {"max_completion_tokens", r.MaxCompletionTokens, 0}, {"n", r.N, 1}, {"top_k", r.TopK, 0}} {
		if f.v != nil && *f.v < f.min {
			return reqErr(f.name, "must be at least %d", f.min)
		}
	}
	if r.N != nil && *r.N > 8 {
		return reqErr("n", "must be at most 8 (Gemini's candidateCount limit)")
	}
	if rf := r.ResponseFormat; rf != nil {
		switch rf.Type {
		case "text", "json_object":
		case "json_schema":
			if rf.JSONSchema == nil {
				return reqErr("response_format.json_schema", "required when type is json_schema")
			}
			if !isNull(rf.JSONSchema.Schema) && !isObject(rf.JSONSchema.Schema) {
				return reqErr("response_format.json_schema.schema", "must be a JSON Schema object")
			}
		case "":
			return reqErr("response_format.type", "required")
		default:
			return reqErr("response_format.type", "must be text, json_object or json_schema, not %q", rf.Type)
		}
	}
	if r.ReasoningEffort != "" && !reasoningEfforts[r.ReasoningEffort] {
		return reqErr("reasoning_effort", "must be none, minimal, low, medium, high or xhigh, not %q", r.ReasoningEffort)
	}
	if tc := r.thinkingConfig(); tc != nil {
		p := "extra_body.google.thinking_config"
		switch strings.ToLower(tc.ThinkingLevel) {
		case "", "minimal", "low", "medium", "high":
		default:
			return reqErr(p+".thinking_level", "must be minimal, low, medium or high, not %q", tc.ThinkingLevel)
		}
		if tc.ThinkingBudget != nil && *tc.ThinkingBudget < -1 {
			return reqErr(p+".thinking_budget", "must be -1 (dynamic), 0 (off) or a token count")
		}
		if tc.ThinkingBudget != nil && tc.ThinkingLevel != "" {
			return reqErr(p, "thinking_budget and thinking_level cannot both be set")
		}
		if r.ReasoningEffort != "" && (tc.ThinkingBudget != nil || tc.ThinkingLevel != "") {
			return reqErr("reasoning_effort", "cannot be combined with extra_body.google.thinking_config.thinking_budget or thinking_level")
		}
		r.thinking = tc
	}
	r.validated = true
	return nil
}

func checkRange(name string, v *float64, lo, hi float64) *RequestError {
	if v != nil && (*v < lo || *v > hi) {
		return reqErr(name, "must be between %g and %g", lo, hi)
	}
	return nil
}

func (r *Request) validateMessage(i int) *RequestError {
	m := &r.Messages[i]
	switch m.Role {
	case "system", "developer":
		for j, p := range m.Content.Parts {
			if p.Type != "text" {
				return reqErr("content["+strconv.Itoa(j)+"].type", "%s messages take only text parts, not %q", m.Role, p.Type)
			}
		}
	case "user":
	case "assistant":
		for j := range m.ToolCalls {
			tc := &m.ToolCalls[j]
			if tc.ID == "" {
				return reqErr("tool_calls["+strconv.Itoa(j)+"].id", "required")
			}
			if tc.Function.Name == "" {
				return reqErr("tool_calls["+strconv.Itoa(j)+"].function.name", "required")
			}
			if tc.args == nil {
				// Built by hand rather than by DecodeRequest.
				d := decodeToolCall(mustMarshal(tc), tc)
				if d != nil {
					return d.under("tool_calls[" + strconv.Itoa(j) + "]")
				}
			}
			r.toolNameOf[tc.ID] = tc.Function.Name
		}
	case "tool":
		if m.ToolCallID == "" {
			return reqErr("tool_call_id", "required for tool messages")
		}
		if _, ok := r.toolNameOf[m.ToolCallID]; !ok {
			return reqErr("tool_call_id", "no earlier assistant message has a tool call with id %q", m.ToolCallID)
		}
		for j, p := range m.Content.Parts {
			if p.Type != "text" {
				return reqErr("content["+strconv.Itoa(j)+"].type", "tool messages take only text parts, not %q", p.Type)
			}
		}
	case "function":
		return reqErr("role", "the deprecated function role is not supported; use tool")
	case "":
		return reqErr("role", "required")
	default:
		return reqErr("role", "unknown role %q (expected system, developer, user, assistant or tool)", m.Role)
	}
	if m.Role != "tool" {
		for j := range m.Content.Parts {
			p := &m.Content.Parts[j]
			if p.media == nil && p.Type != "text" && p.Type != "refusal" {
				// Built by hand rather than by DecodeRequest: validate now.
				if err := decodePart(mustMarshal(p), p); err != nil {
					return err.under("content[" + strconv.Itoa(j) + "]")
				}
			}
		}
	}
	return nil
}

func mustMarshal(v any) json.RawMessage {
	b, _ := json.Marshal(v)
	return b
}

func (r *Request) parseStop() *RequestError {
	raw := bytes.TrimSpace(r.Stop)
	if isNull(raw) {
		return nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return jsonErr(err).under("stop")
		}
		if s != "" {
			r.stops = []string{s}
		}
	case '[':
		var ss []string
		if err := json.Unmarshal(raw, &ss); err != nil {
			return reqErr("stop", "must be a string or an array of strings")
		}
		for _, s := range ss {
			if s != "" {
				r.stops = append(r.stops, s)
			}
		}
	default:
		return reqErr("stop", "must be a string or an array of strings")
	}
	return nil
}

func (r *Request) parseToolChoice() *RequestError {
	raw := bytes.TrimSpace(r.ToolChoice)
	if isNull(raw) {
		return nil
	}
	declared := make(map[string]bool, len(r.Tools))
	for _, t := range r.Tools {
		declared[t.Function.Name] = true
	}
	needTools := func() *RequestError {
		if len(r.Tools) == 0 {
			return reqErr("tool_choice", "requires tools")
		}
		return nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return jsonErr(err).under("tool_choice")
		}
		switch s {
		case "none":
			r.toolMode = "NONE"
		case "auto":
			r.toolMode = "AUTO"
		case "required":
			r.toolMode = "ANY"
			return needTools()
		default:
			return reqErr("tool_choice", `must be "none", "auto", "required" or an object, not %q`, s)
		}
		return nil
	case '{':
	default:
		return reqErr("tool_choice", `must be "none", "auto", "required" or an object`)
	}
	type named struct {
		Type     string `json:"type"`
		Function *struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	var c struct {
		named
		AllowedTools *struct {
			Mode  string  `json:"mode"`
			Tools []named `json:"tools"`
		} `json:"allowed_tools"`
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return jsonErr(err).under("tool_choice")
	}
	if err := needTools(); err != nil {
		return err
	}
	switch c.Type {
	case "function":
		if c.Function == nil || c.Function.Name == "" {
			return reqErr("tool_choice.function.name", "required")
		}
		if !declared[c.Function.Name] {
			return reqErr("tool_choice.function.name", "no tool is named %q", c.Function.Name)
		}
		r.toolMode, r.toolNames = "ANY", []string{c.Function.Name}
	case "allowed_tools":
		at := c.AllowedTools
		if at == nil {
			return reqErr("tool_choice.allowed_tools", "required")
		}
		var names []string
		for i, t := range at.Tools {
			p := "tool_choice.allowed_tools.tools[" + strconv.Itoa(i) + "]"
			if t.Type != "" && t.Type != "function" {
				return reqErr(p+".type", "only function tools are supported, not %q", t.Type)
			}
			if t.Function == nil || t.Function.Name == "" {
				return reqErr(p+".function.name", "required")
			}
			if !declared[t.Function.Name] {
				return reqErr(p+".function.name", "no tool is named %q", t.Function.Name)
			}
			names = append(names, t.Function.Name)
		}
		if len(names) == 0 {
			return reqErr("tool_choice.allowed_tools.tools", "must name at least one tool")
		}
		switch at.Mode {
		case "auto", "":
			r.toolMode, r.toolFilter = "AUTO", names
		case "required":
			r.toolMode, r.toolNames = "ANY", names
		default:
			return reqErr("tool_choice.allowed_tools.mode", "must be auto or required, not %q", at.Mode)
		}
	case "":
		return reqErr("tool_choice.type", "required")
	default:
		return reqErr("tool_choice.type", "unsupported tool choice type %q", c.Type)
	}
	return nil
}
