package chat

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

// Fetcher loads an http(s) image URL (the caller implements it with a size
// cap and a timeout). mimeType may be empty: the type is then sniffed.
type Fetcher func(ctx context.Context, url string) (mimeType string, data []byte, err error)

// skipSignature is the value Google documents for a functionCall part whose
// thought signature was lost (history from another model or from a client
// that drops extra_content): Gemini 3 then skips its signature check instead
// of answering 400.
const skipSignature = "skip_thought_signature_validator"

// ToGemini builds the Gemini generateContent request body (JSON) for model
// (already resolved, no "models/" prefix). req is validated first if it did
// not come from DecodeRequest; client errors are *RequestError, also when an
// image URL cannot be fetched.
//
// f is what the caller's model aliases and settings ask for, the same
// gemini.Features the native routes apply. OpenAI has no safety settings, so
// f.SafetySettings is always used when set; DisableThinking turns thinking off
// (budget 0 on 2.5, the lowest allowed level on models that cannot turn it
// off); IncludeThoughts asks for thoughts (setting show_thinking).
func ToGemini(ctx context.Context, req *Request, model string, f gemini.Features, fetch Fetcher) ([]byte, error) {
	return ToGeminiWith(ctx, req, model, f, fetch, nil)
}

// ToGeminiWith is ToGemini that also sends markdown images of user and
// assistant text (a data: URL, or an image stored reads) as images (see
// markdown.go).
func ToGeminiWith(ctx context.Context, req *Request, model string, f gemini.Features, fetch Fetcher, stored StoredImage) ([]byte, error) {
	if err := req.validate(); err != nil {
		return nil, err
	}
	b := converter{req: req, model: model, ctx: ctx, fetch: fetch, stored: stored, level: models.ThinksByLevel(model)}
	for i := range req.Messages {
		if err := b.message(i); err != nil {
			return nil, err
		}
	}
	var out gemini.Request
	switch {
	case len(b.contents) == 0:
		// Only system text: send it as the prompt rather than an empty conversation.
		b.add("user", b.system)
	case len(b.system) > 0 && f.ImageOutput && !versionAtLeast(model, 2, 5):
		// The 2.0 image-generation models refuse system instructions: fold them
		// into the first user turn.
		b.prependToFirstUser(b.system)
	case len(b.system) > 0:
		out.SystemInstruction = &gemini.RequestContent{Parts: b.system}
	}
	out.Contents = b.contents
	if len(out.Contents) == 0 {
		return nil, reqErr("messages", "has no content to send")
	}

	gc := &gemini.GenConfig{
		StopSequences:    req.stops,
		Temperature:      req.Temperature,
		TopP:             req.TopP,
		TopK:             req.TopK,
		PresencePenalty:  req.PresencePenalty,
		FrequencyPenalty: req.FrequencyPenalty,
	}
	switch {
	case req.MaxCompletionTokens != nil && *req.MaxCompletionTokens > 0:
		gc.MaxOutputTokens = *req.MaxCompletionTokens
	case req.MaxTokens != nil && *req.MaxTokens > 0:
		gc.MaxOutputTokens = *req.MaxTokens
	}
	if req.N != nil && *req.N > 1 {
		gc.CandidateCount = *req.N
	}
	if req.Seed != nil {
		// Gemini's seed is 32 bits; fold larger ones deterministically.
		s := int32(uint32(*req.Seed))
		gc.Seed = &s
	}
	jsonOut := false
	if rf := req.ResponseFormat; rf != nil && rf.Type != "text" {
		jsonOut = true
		gc.ResponseMimeType = "application/json"
		if rf.JSONSchema != nil && !isNull(rf.JSONSchema.Schema) {
			gc.ResponseJSONSchema = rf.JSONSchema.Schema
		}
	}
	if f.ImageOutput {
		gc.ResponseModalities = []string{"TEXT", "IMAGE"}
	}
	gc.ThinkingConfig = thinking(req, model, f)
	if !gc.IsZero() {
		out.GenerationConfig = gc
	}

	out.Tools, out.ToolConfig = b.tools(f, jsonOut)
	if len(f.SafetySettings) > 0 {
		out.SafetySettings = f.SafetySettings
	}
	body, err := gemini.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("chat: encoding Gemini request: %w", err)
	}
	return body, nil
}

func versionAtLeast(model string, major, minor int) bool {
	ma, mi, ok := models.Version(model)
	return !ok || ma > major || ma == major && mi >= minor
}

// thinking resolves thinkingConfig. The client's own fields win
// (reasoning_effort, extra_body.google.thinking_config), then the
// -non-thinking alias, then the settings' default budget. reasoning_effort
// and the settings apply only to models that can think (see thinkingModel):
// generic OpenAI clients send reasoning_effort to any model, and
// thinkingConfig on a model without thinking is refused. Google's own
// thinking_config is sent as the client wrote it.
func thinking(req *Request, model string, f gemini.Features) *gemini.ThinkingConfig {
	tc := req.thinkingConfig()
	capable := models.CanThink(model)
	var t *gemini.ThinkingConfig
	explicit := false
	switch {
	case req.ReasoningEffort != "" && capable:
		t = effortThinking(req.ReasoningEffort, model)
	case tc != nil && tc.ThinkingBudget != nil:
		t, explicit = &gemini.ThinkingConfig{Budget: intPtr(*tc.ThinkingBudget)}, true
	case tc != nil && tc.ThinkingLevel != "":
		t, explicit = &gemini.ThinkingConfig{Level: strings.ToLower(tc.ThinkingLevel)}, true
	}
	if t == nil && capable {
		switch {
		case f.DisableThinking:
			t = lowestThinking(model)
		case f.ThinkingBudget != nil:
			budget := *f.ThinkingBudget
			if budget == 0 && models.IsPro(model) {
				budget = 128
			}
			t = &gemini.ThinkingConfig{Budget: &budget}
		}
	}
	include := f.IncludeThoughts && capable
	if tc != nil && tc.IncludeThoughts != nil {
		include = *tc.IncludeThoughts
		explicit = true
	}
	if !capable && !explicit {
		return nil
	}
	if include && !(t != nil && t.Budget != nil && *t.Budget == 0) {
		if t == nil {
			t = &gemini.ThinkingConfig{}
		}
		t.IncludeThoughts = true
	}
	return t
}

// converter builds contents from messages.
type converter struct {
	req      *Request
	model    string
	ctx      context.Context
	fetch    Fetcher
	stored   StoredImage
	level    bool
	contents []gemini.RequestContent
	system   []gemini.RequestPart
}

// add appends parts as a turn of role, merged into the previous turn when it
// has the same role.
func (b *converter) add(role string, parts []gemini.RequestPart) {
	if len(parts) == 0 {
		return
	}
	if n := len(b.contents); n > 0 && b.contents[n-1].Role == role {
		b.contents[n-1].Parts = append(b.contents[n-1].Parts, parts...)
		return
	}
	b.contents = append(b.contents, gemini.RequestContent{Role: role, Parts: parts})
}

func (b *converter) prependToFirstUser(parts []gemini.RequestPart) {
	for i := range b.contents {
		if b.contents[i].Role == "user" {
			b.contents[i].Parts = append(append([]gemini.RequestPart(nil), parts...), b.contents[i].Parts...)
			return
		}
	}
	b.contents = append([]gemini.RequestContent{{Role: "user", Parts: parts}}, b.contents...)
}

func (b *converter) message(i int) error {
	m := &b.req.Messages[i]
	at := "messages[" + strconv.Itoa(i) + "]"
	switch m.Role {
	case "system", "developer":
		b.system = append(b.system, textParts(m.Content)...)
	case "user":
		parts, err := b.parts(m.Content, at)
		if err != nil {
			return err
		}
		b.add("user", parts)
	case "assistant":
		parts, err := b.parts(m.Content, at)
		if err != nil {
			return err
		}
		if sig := m.ExtraContent.signature(); sig != "" {
			for j := len(parts) - 1; j >= 0; j-- {
				if parts[j].Text != "" {
					parts[j].ThoughtSignature = sig
					break
				}
			}
		}
		for j := range m.ToolCalls {
			tc := &m.ToolCalls[j]
			p := gemini.RequestPart{
				FunctionCall:     &gemini.RequestFunctionCall{ID: upstreamCallID(tc.ID), Name: tc.Function.Name, Args: tc.args},
				ThoughtSignature: tc.ExtraContent.signature(),
			}
			if j == 0 && p.ThoughtSignature == "" && b.level {
				p.ThoughtSignature = skipSignature
			}
			parts = append(parts, p)
		}
		b.add("model", parts)
	case "tool":
		b.add("user", []gemini.RequestPart{{FunctionResponse: &gemini.RequestFunctionResponse{
			ID:       upstreamCallID(m.ToolCallID),
			Name:     b.req.toolNameOf[m.ToolCallID],
			Response: toolResult(joinText(m.Content)),
		}}})
	}
	return nil
}

// upstreamCallID is the functionCall / functionResponse id sent to Gemini:
// ids this package generated (call_ + 24 hex) are not Gemini's and stay out;
// any other id (one Gemini returned, or another provider's) goes along.
func upstreamCallID(id string) string {
	if generatedCallID(id) {
		return ""
	}
	return id
}

func generatedCallID(id string) bool {
	if len(id) != 29 || !strings.HasPrefix(id, "call_") {
		return false
	}
	for i := 5; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// toolResult wraps a tool message's text as a functionResponse.response: a
// JSON object as is, any other JSON value or plain text as {"result": ...}.
func toolResult(s string) json.RawMessage {
	t := bytes.TrimSpace([]byte(s))
	if len(t) > 0 && json.Valid(t) {
		if t[0] == '{' {
			return t
		}
		return append(append([]byte(`{"result":`), t...), '}')
	}
	v, _ := gemini.Marshal(map[string]string{"result": s})
	return v
}

func joinText(c Content) string {
	if c.Parts == nil {
		return c.Text
	}
	var sb strings.Builder
	for _, p := range c.Parts {
		sb.WriteString(p.Text)
	}
	return sb.String()
}

func textParts(c Content) []gemini.RequestPart {
	if c.Parts == nil {
		if c.Text == "" {
			return nil
		}
		return []gemini.RequestPart{{Text: c.Text}}
	}
	var out []gemini.RequestPart
	for _, p := range c.Parts {
		if p.Text != "" {
			out = append(out, gemini.RequestPart{Text: p.Text})
		}
	}
	return out
}

func (b *converter) parts(c Content, at string) ([]gemini.RequestPart, error) {
	if c.Parts == nil {
		if c.Text == "" {
			return nil, nil
		}
		if parts, ok, err := b.textWithImages(c.Text, at); ok || err != nil {
			return parts, err
		}
		return []gemini.RequestPart{{Text: c.Text}}, nil
	}
	out := make([]gemini.RequestPart, 0, len(c.Parts))
	for j := range c.Parts {
		p := &c.Parts[j]
		switch p.Type {
		case "text":
			if parts, ok, err := b.textWithImages(p.Text, at+".content["+strconv.Itoa(j)+"]"); err != nil {
				return nil, err
			} else if ok {
				out = append(out, parts...)
			} else if p.Text != "" {
				out = append(out, gemini.RequestPart{Text: p.Text})
			}
		case "refusal":
			// An earlier refusal is not something to send back as the model's words.
		default:
			gp, err := b.media(p, at+".content["+strconv.Itoa(j)+"]")
			if err != nil {
				return nil, err
			}
			out = append(out, gp)
		}
	}
	return out, nil
}

func (b *converter) media(p *ContentPart, at string) (gemini.RequestPart, error) {
	src := p.media
	if src == nil {
		return gemini.RequestPart{}, reqErr(at, "invalid %s part", p.Type)
	}
	switch {
	case src.fileURI != "":
		return gemini.RequestPart{FileData: &gemini.FileData{FileURI: src.fileURI}}, nil
	case src.url != "":
		param := at + ".image_url.url"
		if b.fetch == nil {
			return gemini.RequestPart{}, reqErr(param, "image URLs cannot be fetched here; send a data: URL")
		}
		if err := b.ctx.Err(); err != nil {
			return gemini.RequestPart{}, err
		}
		mime, data, err := b.fetch(b.ctx, src.url)
		if err != nil {
			if b.ctx.Err() != nil {
				return gemini.RequestPart{}, b.ctx.Err()
			}
			return gemini.RequestPart{}, reqErr(param, "could not fetch the image: %v", err)
		}
		if len(data) == 0 {
			return gemini.RequestPart{}, reqErr(param, "the image URL returned no data")
		}
		mime = gemini.NormMIME(mime)
		if !strings.HasPrefix(mime, "image/") && mime != "application/pdf" {
			// Missing, generic or sniffed as text: look at the bytes.
			sniffed := gemini.SniffType(data)
			if sniffed == "" {
				if mime == "" || strings.HasSuffix(mime, "octet-stream") {
					return gemini.RequestPart{}, reqErr(param, "could not tell the image type")
				}
				return gemini.RequestPart{}, reqErr(param, "the URL did not return an image (%s)", mime)
			}
			mime = sniffed
		}
		return gemini.RequestPart{InlineData: &gemini.RequestBlob{MimeType: mime, Data: base64.StdEncoding.EncodeToString(data)}}, nil
	}
	return gemini.RequestPart{InlineData: &gemini.RequestBlob{MimeType: src.mime, Data: src.data}}, nil
}

// tools builds tools and toolConfig. Client functions become one
// functionDeclarations tool with the schema as parametersJsonSchema. The
// built-in tools the settings add (search, code execution, URL context) are
// left out when the client declares functions (Gemini answers "Tool use with
// function calling is unsupported"), and, before Gemini 3, with a JSON
// response format ("Tool use with a response mime type ... is unsupported");
// code execution is also left out for image output and, before Gemini 3,
// for requests carrying media.
func (b *converter) tools(f gemini.Features, jsonOut bool) ([]gemini.RequestTool, *gemini.ToolConfig) {
	req := b.req
	var decls []gemini.FunctionDeclaration
	seen := make(map[string]bool, len(req.Tools))
	var allowed map[string]bool
	if req.toolFilter != nil {
		allowed = make(map[string]bool, len(req.toolFilter))
		for _, n := range req.toolFilter {
			allowed[n] = true
		}
	}
	for _, t := range req.Tools {
		name := t.Function.Name
		if seen[name] || allowed != nil && !allowed[name] {
			continue
		}
		seen[name] = true
		d := gemini.FunctionDeclaration{Name: name, Description: t.Function.Description}
		if !isNull(t.Function.Parameters) {
			d.ParametersJSONSchema = t.Function.Parameters
		}
		decls = append(decls, d)
	}
	var tools []gemini.RequestTool
	var cfg *gemini.ToolConfig
	if len(decls) > 0 {
		tools = append(tools, gemini.RequestTool{FunctionDeclarations: decls})
		if req.toolMode != "" {
			cfg = &gemini.ToolConfig{FunctionCallingConfig: gemini.FunctionCallingConfig{Mode: req.toolMode, AllowedFunctionNames: req.toolNames}}
		}
		return tools, cfg
	}
	if jsonOut && !b.level {
		return nil, nil
	}
	if f.Search {
		tools = append(tools, gemini.RequestTool{GoogleSearch: &struct{}{}})
	}
	if f.CodeExecution && !f.ImageOutput && (b.level || !b.hasMedia()) {
		tools = append(tools, gemini.RequestTool{CodeExecution: &struct{}{}})
	}
	if f.URLContext && !f.ImageOutput {
		tools = append(tools, gemini.RequestTool{URLContext: &struct{}{}})
	}
	return tools, nil
}

func (b *converter) hasMedia() bool {
	for _, c := range b.contents {
		for _, p := range c.Parts {
			if p.InlineData != nil || p.FileData != nil {
				return true
			}
		}
	}
	return false
}
