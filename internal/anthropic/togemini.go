package anthropic

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
	"github.com/gemini-balance/gemini_balance/internal/models"
)

// Fetcher loads an http(s) URL of an image or a document (the caller
// implements it with a size cap, a timeout and its address guard). mimeType
// may be empty: the type is then sniffed.
type Fetcher func(ctx context.Context, url string) (mimeType string, data []byte, err error)

// skipSignature is the value Google documents for a functionCall part whose
// thought signature was lost (history from Claude or another model): Gemini 3
// then skips its signature check instead of answering 400.
const skipSignature = "skip_thought_signature_validator"

// sigPrefix marks the thinking signatures this package hands out (a Gemini
// thoughtSignature behind it). Only those go back to Gemini: a signature
// Claude wrote, in a conversation that changed provider, would be refused.
const sigPrefix = "gemini:"

// geminiCountRequest is countTokens' generateContentRequest: the request's
// contents, system instruction and tools, with the model named.
type geminiCountRequest struct {
	Model             string                  `json:"model"`
	Contents          []gemini.RequestContent `json:"contents"`
	SystemInstruction *gemini.RequestContent  `json:"systemInstruction,omitempty"`
	Tools             []gemini.RequestTool    `json:"tools,omitempty"`
}

// ToGemini builds the Gemini generateContent body for model (already
// resolved, see MapModel; no "models/" prefix). Client errors are
// *RequestError, also when an image or document URL cannot be fetched; a
// cancelled ctx returns its error. Settings-driven options (safety settings,
// default thinking) are the caller's: gemini.ApplyFeatures adds them.
func ToGemini(ctx context.Context, req *Request, model string, fetch Fetcher) ([]byte, error) {
	out, err := build(ctx, req, model, fetch)
	if err != nil {
		return nil, err
	}
	gc := &gemini.GenConfig{
		MaxOutputTokens: req.MaxTokens,
		Temperature:     req.Temperature,
		TopP:            req.TopP,
		TopK:            req.TopK,
		StopSequences:   req.StopSequences,
		ThinkingConfig:  thinkingConfig(req.Thinking, model),
	}
	if gc.MaxOutputTokens != 0 || gc.Temperature != nil || gc.TopP != nil || gc.TopK != nil ||
		len(gc.StopSequences) > 0 || gc.ThinkingConfig != nil {
		out.GenerationConfig = gc
	}
	body, err := gemini.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("anthropic: encoding Gemini request: %w", err)
	}
	return body, nil
}

// CountTokensRequest builds the Gemini countTokens body for
// /v1/messages/count_tokens: the conversation, system prompt and tools as a
// generateContentRequest for model, so that all three are counted.
func CountTokensRequest(ctx context.Context, req *Request, model string, fetch Fetcher) ([]byte, error) {
	out, err := build(ctx, req, model, fetch)
	if err != nil {
		return nil, err
	}
	body, err := gemini.Marshal(struct {
		GenerateContentRequest geminiCountRequest `json:"generateContentRequest"`
	}{geminiCountRequest{
		Model: "models/" + model, Contents: out.Contents,
		SystemInstruction: out.SystemInstruction, Tools: out.Tools,
	}})
	if err != nil {
		return nil, fmt.Errorf("anthropic: encoding Gemini request: %w", err)
	}
	return body, nil
}

// build translates everything but generationConfig.
func build(ctx context.Context, req *Request, model string, fetch Fetcher) (*gemini.Request, error) {
	c := converter{ctx: ctx, fetch: fetch, level: models.ThinksByLevel(model), names: req.toolNames}
	if c.names == nil {
		c.names = map[string]string{}
		for _, m := range req.Messages {
			for _, b := range m.Content {
				if b.Type == "tool_use" {
					c.names[b.ID] = b.Name
				}
			}
		}
	}
	for i := range req.Messages {
		if err := c.message(&req.Messages[i], "messages."+strconv.Itoa(i)); err != nil {
			return nil, err
		}
	}
	out := &gemini.Request{Contents: c.contents}
	if len(out.Contents) == 0 {
		return nil, reqErr("messages", "there is no content to send")
	}
	if len(req.System) > 0 {
		sys := &gemini.RequestContent{}
		for _, s := range req.System {
			sys.Parts = append(sys.Parts, gemini.RequestPart{Text: s})
		}
		out.SystemInstruction = sys
	}
	out.Tools, out.ToolConfig = tools(req)
	return out, nil
}

// thinkingConfig maps thinking. enabled asks for thoughts with the budget,
// clamped to what the model takes (2.5 Pro 128-32768, Flash up to 24576,
// Flash-Lite from 512); Gemini 3 thinks by level, low up to a 4096 budget and
// high above. disabled thinks least: budget 0, or the minimum where the model
// cannot turn thinking off (2.5 Pro 128, Gemini 3 Pro low, Gemini 3 Flash
// minimal). adaptive asks for thoughts and leaves the amount to the model.
// Models that cannot think get no thinkingConfig: they would refuse it.
func thinkingConfig(t *Thinking, model string) *gemini.ThinkingConfig {
	if t == nil || !models.CanThink(model) {
		return nil
	}
	switch t.Type {
	case "enabled":
		if models.ThinksByLevel(model) {
			level := "high"
			if t.BudgetTokens <= 4096 {
				level = "low"
			}
			return &gemini.ThinkingConfig{Level: level, IncludeThoughts: true}
		}
		lo, hi := 1, 24576
		switch {
		case models.IsPro(model):
			lo, hi = 128, 32768
		case liteModel(model):
			lo = 512
		}
		b := min(max(t.BudgetTokens, lo), hi)
		return &gemini.ThinkingConfig{Budget: &b, IncludeThoughts: true}
	case "disabled":
		switch {
		case models.ThinksByLevel(model) && models.IsPro(model):
			return &gemini.ThinkingConfig{Level: "low"}
		case models.ThinksByLevel(model):
			return &gemini.ThinkingConfig{Level: "minimal"}
		case models.IsPro(model):
			b := 128
			return &gemini.ThinkingConfig{Budget: &b}
		}
		b := 0
		return &gemini.ThinkingConfig{Budget: &b}
	case "adaptive":
		if models.ThinksByLevel(model) {
			return &gemini.ThinkingConfig{IncludeThoughts: true}
		}
		b := -1
		return &gemini.ThinkingConfig{Budget: &b, IncludeThoughts: true}
	}
	return nil
}

// tools builds one functionDeclarations tool and the toolConfig.
func tools(req *Request) ([]gemini.RequestTool, *gemini.ToolConfig) {
	if len(req.Tools) == 0 {
		return nil, nil
	}
	decls := make([]gemini.FunctionDeclaration, 0, len(req.Tools))
	for _, t := range req.Tools {
		decls = append(decls, gemini.FunctionDeclaration{Name: t.Name, Description: t.Description, ParametersJSONSchema: schema(t.InputSchema)})
	}
	var cfg *gemini.ToolConfig
	if tc := req.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto":
			cfg = &gemini.ToolConfig{FunctionCallingConfig: gemini.FunctionCallingConfig{Mode: "AUTO"}}
		case "any":
			cfg = &gemini.ToolConfig{FunctionCallingConfig: gemini.FunctionCallingConfig{Mode: "ANY"}}
		case "tool":
			cfg = &gemini.ToolConfig{FunctionCallingConfig: gemini.FunctionCallingConfig{Mode: "ANY", AllowedFunctionNames: []string{tc.Name}}}
		case "none":
			cfg = &gemini.ToolConfig{FunctionCallingConfig: gemini.FunctionCallingConfig{Mode: "NONE"}}
		}
	}
	return []gemini.RequestTool{{FunctionDeclarations: decls}}, cfg
}

// schema is input_schema for parametersJsonSchema, without a top-level
// "$schema" (a draft URI clients such as Claude Code add; it says nothing to
// Gemini and is not among the keywords it documents).
func schema(s json.RawMessage) json.RawMessage {
	if !bytes.Contains(s, []byte(`"$schema"`)) {
		return s
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(s, &m) != nil {
		return s
	}
	if _, ok := m["$schema"]; !ok {
		return s
	}
	delete(m, "$schema")
	b, err := gemini.Marshal(m)
	if err != nil {
		return s
	}
	return b
}

// converter builds contents from messages.
type converter struct {
	ctx      context.Context
	fetch    Fetcher
	level    bool
	names    map[string]string
	contents []gemini.RequestContent
}

// add appends parts as a turn of role, merged into the previous turn when it
// has the same role (Gemini wants the roles to alternate).
func (c *converter) add(role string, parts []gemini.RequestPart) {
	if len(parts) == 0 {
		return
	}
	if n := len(c.contents); n > 0 && c.contents[n-1].Role == role {
		c.contents[n-1].Parts = append(c.contents[n-1].Parts, parts...)
		return
	}
	c.contents = append(c.contents, gemini.RequestContent{Role: role, Parts: parts})
}

func (c *converter) message(m *Message, at string) error {
	var parts []gemini.RequestPart
	pending := "" // a thinking block's signature, for the next part
	for j := range m.Content {
		b := &m.Content[j]
		bat := at + ".content." + strconv.Itoa(j)
		n := len(parts)
		switch b.Type {
		case "text":
			if b.Text != "" {
				parts = append(parts, gemini.RequestPart{Text: b.Text})
			}
		case "image", "document":
			p, err := c.media(b.Source, b.Type, bat+".source")
			if err != nil {
				return err
			}
			parts = append(parts, p)
		case "tool_use":
			parts = append(parts, gemini.RequestPart{FunctionCall: &gemini.RequestFunctionCall{
				ID: upstreamID(b.ID), Name: b.Name, Args: b.Input,
			}})
		case "tool_result":
			ps, err := c.toolResult(b, bat)
			if err != nil {
				return err
			}
			parts = append(parts, ps...)
		case "thinking", "redacted_thinking":
			// Thought text is not sent back; its signature goes on the part the
			// thought came before, where Gemini put it.
			if sig, ok := strings.CutPrefix(b.Signature, sigPrefix); ok && sig != "" && m.Role == "assistant" {
				pending = sig
			}
		}
		if pending != "" && len(parts) > n && parts[n].ThoughtSignature == "" {
			parts[n].ThoughtSignature = pending
			pending = ""
		}
	}
	if pending != "" && len(parts) > 0 && parts[len(parts)-1].ThoughtSignature == "" {
		parts[len(parts)-1].ThoughtSignature = pending
	}
	role := "user"
	if m.Role == "assistant" {
		role = "model"
		if c.level {
			// Gemini 3 checks the signature of each step's first call.
			for k := range parts {
				if parts[k].FunctionCall != nil {
					if parts[k].ThoughtSignature == "" {
						parts[k].ThoughtSignature = skipSignature
					}
					break
				}
			}
		}
	}
	c.add(role, parts)
	return nil
}

// toolResult is a tool_result as a functionResponse named after its call:
// the result text as {"result": text}, or the JSON object the text is;
// is_error gives {"error": text}. Images and documents in the result
// (Claude Code's Read tool returns them) follow as parts of their own.
func (c *converter) toolResult(b *Block, at string) ([]gemini.RequestPart, error) {
	var sb strings.Builder
	var images []gemini.RequestPart
	for k := range b.Content {
		cb := &b.Content[k]
		switch cb.Type {
		case "text":
			if sb.Len() > 0 && cb.Text != "" {
				sb.WriteString("\n")
			}
			sb.WriteString(cb.Text)
		case "image", "document":
			p, err := c.media(cb.Source, cb.Type, at+".content."+strconv.Itoa(k)+".source")
			if err != nil {
				return nil, err
			}
			images = append(images, p)
		}
	}
	text := sb.String()
	var resp json.RawMessage
	switch {
	case b.IsError:
		resp, _ = gemini.Marshal(map[string]string{"error": text})
	case isObject(json.RawMessage(text)):
		resp = compactJSON(json.RawMessage(text))
	default:
		resp, _ = gemini.Marshal(map[string]string{"result": text})
	}
	parts := []gemini.RequestPart{{FunctionResponse: &gemini.RequestFunctionResponse{
		ID: upstreamID(b.ToolUseID), Name: c.names[b.ToolUseID], Response: resp,
	}}}
	return append(parts, images...), nil
}

// media is an image or document source as a part: base64 inline, a URL
// through the Fetcher, a text document as text.
func (c *converter) media(src *Source, kind, at string) (gemini.RequestPart, error) {
	if src == nil {
		return gemini.RequestPart{}, reqErr(at, "Field required")
	}
	switch src.Type {
	case "base64":
		return gemini.RequestPart{InlineData: &gemini.RequestBlob{MimeType: src.MediaType, Data: src.Data}}, nil
	case "text":
		if src.Data == "" {
			return gemini.RequestPart{}, reqErr(at+".data", "the document is empty")
		}
		return gemini.RequestPart{Text: src.Data}, nil
	case "url":
	default:
		return gemini.RequestPart{}, reqErr(at+".type", "unsupported source type %q", src.Type)
	}
	if c.fetch == nil {
		return gemini.RequestPart{}, reqErr(at+".url", "URLs cannot be fetched here; send the %s as base64", kind)
	}
	if err := c.ctx.Err(); err != nil {
		return gemini.RequestPart{}, err
	}
	mime, data, err := c.fetch(c.ctx, src.URL)
	if err != nil {
		if c.ctx.Err() != nil {
			return gemini.RequestPart{}, c.ctx.Err()
		}
		return gemini.RequestPart{}, reqErr(at+".url", "could not fetch the %s: %v", kind, err)
	}
	if len(data) == 0 {
		return gemini.RequestPart{}, reqErr(at+".url", "the URL returned no data")
	}
	mime = gemini.NormMIME(mime)
	want := func(m string) bool { return imageTypes[m] || strings.HasPrefix(m, "image/") }
	if kind == "document" {
		want = func(m string) bool { return m == "application/pdf" }
	}
	if !want(mime) {
		// Missing, generic or wrong: look at the bytes.
		sniffed := gemini.SniffType(data)
		if !want(sniffed) {
			return gemini.RequestPart{}, reqErr(at+".url", "the URL did not return a supported %s (%s)", kind, orUnknown(mime))
		}
		mime = sniffed
	}
	return gemini.RequestPart{InlineData: &gemini.RequestBlob{MimeType: mime, Data: base64.StdEncoding.EncodeToString(data)}}, nil
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown type"
	}
	return s
}

// upstreamID is the functionCall / functionResponse id sent to Gemini for a
// tool_use id: the id Gemini gave (see toolID), none for an id this package
// made up, the client's id otherwise.
func upstreamID(id string) string {
	if generatedID(id) {
		return ""
	}
	return strings.TrimPrefix(id, "toolu_")
}
