package anthropic

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

// Request is a Messages API request (POST /v1/messages, or
// /v1/messages/count_tokens). Decode it with DecodeRequest or
// DecodeCountTokensRequest, which validate it. metadata, cache_control,
// service_tier and fields not listed here are accepted and ignored.
type Request struct {
	Model         string
	MaxTokens     int
	System        []string // system text blocks (a string system is one block)
	Messages      []Message
	Tools         []Tool
	ToolChoice    *ToolChoice
	Temperature   *float64
	TopP          *float64
	TopK          *int
	StopSequences []string
	Thinking      *Thinking
	Stream        bool

	// toolNames maps each tool_use id in the conversation to its tool's
	// name: a Gemini functionResponse is named after its call.
	toolNames map[string]string
}

// Message is one conversation turn: role user or assistant, its content as
// blocks (a string content is one text block).
type Message struct {
	Role    string
	Content []Block
}

// Block is one content block. Which fields are set depends on Type:
//
//	text               Text
//	image, document    Source
//	tool_use           ID, Name, Input (a JSON object)
//	tool_result        ToolUseID, Content (text, image and document blocks), IsError
//	thinking           Text (the thinking), Signature
//	redacted_thinking  Signature (its data)
type Block struct {
	Type      string
	Text      string
	Signature string
	Source    *Source
	ID        string
	Name      string
	Input     json.RawMessage
	ToolUseID string
	Content   []Block
	IsError   bool
}

// Source is an image or document source. Type base64 has MediaType and
// Data, url has URL, text (documents only) has Data as plain text.
type Source struct {
	Type      string
	MediaType string
	Data      string
	URL       string
}

// Tool is a client tool; InputSchema is a JSON Schema object, forwarded to
// Gemini unchanged.
type Tool struct {
	Name        string
	Description string
	InputSchema json.RawMessage
}

// ToolChoice is tool_choice: Type auto, any, tool (with Name) or none.
type ToolChoice struct {
	Type string
	Name string
}

// Thinking is the thinking setting: Type enabled (with BudgetTokens),
// disabled or adaptive.
type Thinking struct {
	Type         string
	BudgetTokens int
}

// The wire types keep polymorphic fields raw so that each is decoded on its
// own and an error can name it.
type (
	wireRequest struct {
		Model         *string           `json:"model"`
		MaxTokens     *int              `json:"max_tokens"`
		System        json.RawMessage   `json:"system"`
		Messages      []json.RawMessage `json:"messages"`
		Tools         []json.RawMessage `json:"tools"`
		ToolChoice    json.RawMessage   `json:"tool_choice"`
		Temperature   *float64          `json:"temperature"`
		TopP          *float64          `json:"top_p"`
		TopK          *int              `json:"top_k"`
		StopSequences []string          `json:"stop_sequences"`
		Thinking      json.RawMessage   `json:"thinking"`
		Stream        *bool             `json:"stream"`
		Metadata      json.RawMessage   `json:"metadata"`
	}
	wireMessage struct {
		Role    string          `json:"role"`
		Content json.RawMessage `json:"content"`
	}
	wireBlock struct {
		Type      string          `json:"type"`
		Text      *string         `json:"text"`
		Thinking  *string         `json:"thinking"`
		Signature string          `json:"signature"`
		Data      string          `json:"data"`
		Source    json.RawMessage `json:"source"`
		ID        string          `json:"id"`
		Name      string          `json:"name"`
		Input     json.RawMessage `json:"input"`
		ToolUseID string          `json:"tool_use_id"`
		Content   json.RawMessage `json:"content"`
		IsError   *bool           `json:"is_error"`
	}
	wireSource struct {
		Type      string          `json:"type"`
		MediaType string          `json:"media_type"`
		Data      string          `json:"data"`
		URL       string          `json:"url"`
		FileID    string          `json:"file_id"`
		Content   json.RawMessage `json:"content"`
	}
	wireTool struct {
		Type        string          `json:"type"`
		Name        string          `json:"name"`
		Description string          `json:"description"`
		InputSchema json.RawMessage `json:"input_schema"`
	}
	wireToolChoice struct {
		Type string `json:"type"`
		Name string `json:"name"`
	}
	wireThinking struct {
		Type         string `json:"type"`
		BudgetTokens *int   `json:"budget_tokens"`
	}
)

// DecodeRequest parses and validates a Messages request body. Every error is
// a *RequestError naming the field.
func DecodeRequest(body []byte) (*Request, error) {
	r, err := decode(body, true)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// DecodeCountTokensRequest is DecodeRequest for /v1/messages/count_tokens,
// where max_tokens is not asked for.
func DecodeCountTokensRequest(body []byte) (*Request, error) {
	r, err := decode(body, false)
	if err != nil {
		return nil, err
	}
	return r, nil
}

func decode(body []byte, needMaxTokens bool) (*Request, *RequestError) {
	if t := bytes.TrimSpace(body); len(t) == 0 || t[0] != '{' {
		return nil, reqErr("", "the body must be a JSON object")
	}
	var w wireRequest
	if err := gemini.Unmarshal(body, &w); err != nil {
		return nil, jsonErr(err)
	}
	r := &Request{
		Temperature: w.Temperature, TopP: w.TopP, TopK: w.TopK,
		StopSequences: w.StopSequences, toolNames: map[string]string{},
	}
	if w.Model == nil || strings.TrimSpace(*w.Model) == "" {
		return nil, reqErr("model", "Field required")
	}
	r.Model = *w.Model
	if w.MaxTokens != nil {
		if *w.MaxTokens < 1 {
			return nil, reqErr("max_tokens", "must be at least 1")
		}
		r.MaxTokens = *w.MaxTokens
	} else if needMaxTokens {
		return nil, reqErr("max_tokens", "Field required")
	}
	if w.Stream != nil {
		r.Stream = *w.Stream
	}
	if t := w.Temperature; t != nil && (*t < 0 || *t > 1) {
		return nil, reqErr("temperature", "must be between 0 and 1")
	}
	if p := w.TopP; p != nil && (*p < 0 || *p > 1) {
		return nil, reqErr("top_p", "must be between 0 and 1")
	}
	if k := w.TopK; k != nil && *k < 0 {
		return nil, reqErr("top_k", "must not be negative")
	}
	if len(w.Metadata) > 0 && !isNull(w.Metadata) && !isObject(w.Metadata) {
		return nil, reqErr("metadata", "must be an object")
	}
	var err *RequestError
	if r.System, err = decodeSystem(w.System); err != nil {
		return nil, err.under("system")
	}
	if len(w.Messages) == 0 {
		return nil, reqErr("messages", "at least one message is required")
	}
	r.Messages = make([]Message, len(w.Messages))
	for i, raw := range w.Messages {
		if err := r.decodeMessage(raw, &r.Messages[i]); err != nil {
			return nil, err.under("messages." + strconv.Itoa(i))
		}
	}
	if err := r.checkToolResults(); err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for i, raw := range w.Tools {
		t, keep, err := decodeTool(raw)
		if err != nil {
			return nil, err.under("tools." + strconv.Itoa(i))
		}
		// Duplicate names would be refused by Gemini; keep the first.
		if keep && !seen[t.Name] {
			seen[t.Name] = true
			r.Tools = append(r.Tools, t)
		}
	}
	if r.ToolChoice, err = decodeToolChoice(w.ToolChoice, seen); err != nil {
		return nil, err.under("tool_choice")
	}
	if r.Thinking, err = decodeThinking(w.Thinking); err != nil {
		return nil, err.under("thinking")
	}
	return r, nil
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{' && json.Valid(raw)
}

func decodeSystem(raw json.RawMessage) ([]string, *RequestError) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return nil, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, jsonErr(err)
		}
		if s == "" {
			return nil, nil
		}
		return []string{s}, nil
	case '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return nil, jsonErr(err)
		}
		var out []string
		for i, e := range elems {
			var b wireBlock
			if !isObject(e) {
				return nil, reqErr(strconv.Itoa(i), "must be a text block")
			}
			if err := gemini.Unmarshal(e, &b); err != nil {
				return nil, jsonErr(err).under(strconv.Itoa(i))
			}
			if b.Type != "text" || b.Text == nil {
				return nil, reqErr(strconv.Itoa(i), "system blocks must be text blocks")
			}
			if *b.Text != "" {
				out = append(out, *b.Text)
			}
		}
		return out, nil
	}
	return nil, reqErr("", "must be a string or an array of text blocks")
}

func (r *Request) decodeMessage(raw json.RawMessage, m *Message) *RequestError {
	var w wireMessage
	if err := decodeObject(raw, "must be a message object", &w); err != nil {
		return err
	}
	if w.Role != "user" && w.Role != "assistant" {
		return reqErr("role", "must be user or assistant, not %q", w.Role)
	}
	m.Role = w.Role
	c := bytes.TrimSpace(w.Content)
	if isNull(c) {
		return reqErr("content", "Field required")
	}
	switch c[0] {
	case '"':
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			return jsonErr(err).under("content")
		}
		if s != "" {
			m.Content = []Block{{Type: "text", Text: s}}
		}
		return nil
	case '[':
	default:
		return reqErr("content", "must be a string or an array of content blocks")
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(c, &elems); err != nil {
		return jsonErr(err).under("content")
	}
	m.Content = make([]Block, 0, len(elems))
	for i, e := range elems {
		b, err := decodeBlock(e, m.Role, false)
		if err != nil {
			return err.under("content." + strconv.Itoa(i))
		}
		if b.Type == "tool_use" {
			r.toolNames[b.ID] = b.Name
		}
		m.Content = append(m.Content, b)
	}
	return nil
}

// decodeBlock reads one content block of a message of role (nested: inside a
// tool_result, where text, image and document blocks go).
func decodeBlock(raw json.RawMessage, role string, nested bool) (Block, *RequestError) {
	var b Block
	var w wireBlock
	if err := decodeObject(raw, "must be a content block object", &w); err != nil {
		return b, err
	}
	b.Type = w.Type
	if nested && w.Type != "text" && w.Type != "image" && w.Type != "document" {
		return b, reqErr("type", "tool_result content may hold text, image and document blocks, not %q", w.Type)
	}
	assistantOnly := func() *RequestError {
		if role != "assistant" {
			return reqErr("type", "%s blocks belong in assistant messages", w.Type)
		}
		return nil
	}
	switch w.Type {
	case "text":
		if w.Text == nil {
			return b, reqErr("text", "Field required")
		}
		b.Text = *w.Text
	case "image", "document":
		src, err := decodeSource(w.Source, w.Type)
		if err != nil {
			return b, err.under("source")
		}
		b.Source = src
	case "tool_use":
		if err := assistantOnly(); err != nil {
			return b, err
		}
		if w.ID == "" {
			return b, reqErr("id", "Field required")
		}
		if w.Name == "" {
			return b, reqErr("name", "Field required")
		}
		b.ID, b.Name = w.ID, w.Name
		if isNull(w.Input) {
			b.Input = json.RawMessage(`{}`)
		} else if !isObject(w.Input) {
			return b, reqErr("input", "must be an object")
		} else {
			b.Input = compactJSON(w.Input)
		}
	case "tool_result":
		if role != "user" {
			return b, reqErr("type", "tool_result blocks belong in user messages")
		}
		if w.ToolUseID == "" {
			return b, reqErr("tool_use_id", "Field required")
		}
		b.ToolUseID = w.ToolUseID
		b.IsError = w.IsError != nil && *w.IsError
		content, err := decodeResultContent(w.Content, role)
		if err != nil {
			return b, err.under("content")
		}
		b.Content = content
	case "thinking":
		if err := assistantOnly(); err != nil {
			return b, err
		}
		if w.Thinking != nil {
			b.Text = *w.Thinking
		}
		b.Signature = w.Signature
	case "redacted_thinking":
		if err := assistantOnly(); err != nil {
			return b, err
		}
		b.Signature = w.Data
	case "":
		return b, reqErr("type", "Field required")
	default:
		return b, reqErr("type", "unsupported content block type %q", w.Type)
	}
	return b, nil
}

func decodeResultContent(raw json.RawMessage, role string) ([]Block, *RequestError) {
	raw = bytes.TrimSpace(raw)
	if isNull(raw) {
		return nil, nil
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, jsonErr(err)
		}
		return []Block{{Type: "text", Text: s}}, nil
	case '[':
		var elems []json.RawMessage
		if err := json.Unmarshal(raw, &elems); err != nil {
			return nil, jsonErr(err)
		}
		out := make([]Block, 0, len(elems))
		for i, e := range elems {
			b, err := decodeBlock(e, role, true)
			if err != nil {
				return nil, err.under(strconv.Itoa(i))
			}
			out = append(out, b)
		}
		return out, nil
	}
	return nil, reqErr("", "must be a string or an array of content blocks")
}

// imageTypes are the image media types the Messages API accepts.
var imageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

func decodeSource(raw json.RawMessage, blockType string) (*Source, *RequestError) {
	var w wireSource
	if err := decodeObject(raw, "Field required", &w); err != nil {
		return nil, err
	}
	switch w.Type {
	case "base64":
		mt := strings.ToLower(strings.TrimSpace(w.MediaType))
		if blockType == "image" && !imageTypes[mt] {
			return nil, reqErr("media_type", "must be image/jpeg, image/png, image/gif or image/webp, not %q", w.MediaType)
		}
		if blockType == "document" && mt != "application/pdf" {
			return nil, reqErr("media_type", "must be application/pdf, not %q", w.MediaType)
		}
		if !gemini.ValidBase64(w.Data) {
			return nil, reqErr("data", "must be base64")
		}
		return &Source{Type: "base64", MediaType: mt, Data: w.Data}, nil
	case "url":
		u := strings.TrimSpace(w.URL)
		if !hasPrefixFold(u, "https://") && !hasPrefixFold(u, "http://") {
			return nil, reqErr("url", "must be an http(s) URL")
		}
		return &Source{Type: "url", URL: u}, nil
	case "text":
		if blockType != "document" {
			break
		}
		return &Source{Type: "text", MediaType: "text/plain", Data: w.Data}, nil
	case "content":
		if blockType != "document" {
			break
		}
		// A document made of text blocks: read as its joined text.
		blocks, err := decodeResultContent(w.Content, "user")
		if err != nil {
			return nil, err.under("content")
		}
		var sb strings.Builder
		for _, b := range blocks {
			if b.Type == "text" && b.Text != "" {
				if sb.Len() > 0 {
					sb.WriteString("\n")
				}
				sb.WriteString(b.Text)
			}
		}
		return &Source{Type: "text", MediaType: "text/plain", Data: sb.String()}, nil
	case "file":
		return nil, reqErr("type", "Files API file ids are not supported here; send the file inline (base64)")
	case "":
		return nil, reqErr("type", "Field required")
	}
	return nil, reqErr("type", "unsupported %s source type %q", blockType, w.Type)
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// checkToolResults makes sure every tool_result answers a tool_use of the
// conversation: Gemini names a functionResponse after its call.
func (r *Request) checkToolResults() *RequestError {
	for i, m := range r.Messages {
		for j, b := range m.Content {
			if b.Type == "tool_result" {
				if _, ok := r.toolNames[b.ToolUseID]; !ok {
					return reqErr("messages."+strconv.Itoa(i)+".content."+strconv.Itoa(j)+".tool_use_id",
						"no tool_use block in the conversation has the id %q", b.ToolUseID)
				}
			}
		}
	}
	return nil
}

// decodeTool reads a tools[] entry. keep is false for Anthropic's server and
// versioned built-in tools (web_search_20250305, bash_20250124, ...): Gemini
// cannot run them and has no declaration for them, so they are left out.
func decodeTool(raw json.RawMessage) (Tool, bool, *RequestError) {
	var t Tool
	var w wireTool
	if err := decodeObject(raw, "must be a tool object", &w); err != nil {
		return t, false, err
	}
	if w.Type != "" && w.Type != "custom" {
		return t, false, nil
	}
	if w.Name == "" {
		return t, false, reqErr("name", "Field required")
	}
	if len(w.Name) > 128 {
		return t, false, reqErr("name", "must be at most 128 characters")
	}
	if isNull(w.InputSchema) {
		return t, false, reqErr("input_schema", "Field required")
	}
	if !isObject(w.InputSchema) {
		return t, false, reqErr("input_schema", "must be a JSON Schema object")
	}
	return Tool{Name: w.Name, Description: w.Description, InputSchema: compactJSON(w.InputSchema)}, true, nil
}

// decodeObject decodes raw into w when it is a JSON object; notObject is the
// client's error otherwise.
func decodeObject(raw json.RawMessage, notObject string, w any) *RequestError {
	if !isObject(raw) {
		return reqErr("", "%s", notObject)
	}
	if err := gemini.Unmarshal(raw, w); err != nil {
		return jsonErr(err)
	}
	return nil
}

func decodeToolChoice(raw json.RawMessage, names map[string]bool) (*ToolChoice, *RequestError) {
	if isNull(raw) {
		return nil, nil
	}
	var w wireToolChoice
	if err := decodeObject(raw, "must be an object", &w); err != nil {
		return nil, err
	}
	switch w.Type {
	case "auto", "any", "none":
		return &ToolChoice{Type: w.Type}, nil
	case "tool":
		if w.Name == "" {
			return nil, reqErr("name", "Field required")
		}
		if !names[w.Name] {
			return nil, reqErr("name", "no tool named %q is declared", w.Name)
		}
		return &ToolChoice{Type: "tool", Name: w.Name}, nil
	case "":
		return nil, reqErr("type", "Field required")
	}
	return nil, reqErr("type", "must be auto, any, tool or none, not %q", w.Type)
}

func decodeThinking(raw json.RawMessage) (*Thinking, *RequestError) {
	if isNull(raw) {
		return nil, nil
	}
	var w wireThinking
	if err := decodeObject(raw, "must be an object", &w); err != nil {
		return nil, err
	}
	switch w.Type {
	case "enabled":
		if w.BudgetTokens == nil {
			return nil, reqErr("budget_tokens", "Field required")
		}
		if *w.BudgetTokens < 1024 {
			return nil, reqErr("budget_tokens", "must be at least 1024")
		}
		return &Thinking{Type: "enabled", BudgetTokens: *w.BudgetTokens}, nil
	case "disabled", "adaptive":
		return &Thinking{Type: w.Type}, nil
	case "":
		return nil, reqErr("type", "Field required")
	}
	return nil, reqErr("type", "must be enabled, disabled or adaptive, not %q", w.Type)
}

func compactJSON(raw json.RawMessage) json.RawMessage {
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return raw
	}
	return buf.Bytes()
}
