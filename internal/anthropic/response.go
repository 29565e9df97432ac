package anthropic

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

// ResponseOptions shape the answer. ID is the message id ("msg_" and
// something random, the caller's); Model is the model as the client named it.
type ResponseOptions struct {
	ID    string
	Model string
}

// geminiResponse adds the error object Gemini may send in a 200 answer or a
// stream event.
type geminiResponse struct {
	gemini.Response
	Error *UpstreamError `json:"error"`
}

// Messages API answer wire types.
type (
	message struct {
		ID           string         `json:"id"`
		Type         string         `json:"type"`
		Role         string         `json:"role"`
		Model        string         `json:"model"`
		Content      []contentBlock `json:"content"`
		StopReason   *string        `json:"stop_reason"`
		StopSequence *string        `json:"stop_sequence"`
		Usage        usage          `json:"usage"`
	}
	contentBlock struct {
		Type      string          `json:"type"`
		Text      *string         `json:"text,omitempty"`
		Thinking  *string         `json:"thinking,omitempty"`
		Signature *string         `json:"signature,omitempty"`
		ID        string          `json:"id,omitempty"`
		Name      string          `json:"name,omitempty"`
		Input     json.RawMessage `json:"input,omitempty"`
	}
	usage struct {
		InputTokens              int `json:"input_tokens"`
		CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
		CacheReadInputTokens     int `json:"cache_read_input_tokens"`
		OutputTokens             int `json:"output_tokens"`
	}
)

// decodeGemini reads one Gemini answer or stream event; an SSE "data:" prefix
// is tolerated and an {"error":...} object comes back as *UpstreamError.
func decodeGemini(b []byte) (*geminiResponse, error) {
	b = bytes.TrimSpace(b)
	if rest, ok := bytes.CutPrefix(b, []byte("data:")); ok {
		b = bytes.TrimSpace(rest)
	}
	var r geminiResponse
	if err := gemini.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("anthropic: decoding Gemini response: %w", err)
	}
	if r.Error != nil {
		return nil, r.Error
	}
	return &r, nil
}

// candidate is the answer's first candidate (index 0): Anthropic has one.
func candidate(r *geminiResponse) *gemini.Candidate {
	for i := range r.Candidates {
		if r.Candidates[i].Index == 0 {
			return &r.Candidates[i]
		}
	}
	return nil
}

// FromGemini translates a Gemini generateContent answer into a Messages API
// message. Thoughts become thinking blocks; a thought signature becomes the
// signature of the thinking block just before the part that carried it (an
// empty thinking block when the thoughts were not shown), so it goes back on
// that part next turn. Function calls become tool_use blocks with stable ids
// (see toolID). stop_reason: a safety finish or a blocked prompt is refusal
// (with a text block saying so when nothing else came), MAX_TOKENS
// max_tokens, an answer with tool calls tool_use, anything else end_turn:
// Gemini does not say whether a stop sequence ended the text, so
// stop_sequence is never reported. usage: input_tokens leaves out the cached
// tokens, which are cache_read_input_tokens; output_tokens counts thoughts.
func FromGemini(geminiJSON []byte, opts ResponseOptions) ([]byte, error) {
	r, err := decodeGemini(geminiJSON)
	if err != nil {
		return nil, err
	}
	a := assembler{base: baseID(r.ResponseID, opts.ID)}
	finish, finishMsg := "", ""
	if c := candidate(r); c != nil {
		if c.Content != nil {
			for i := range c.Content.Parts {
				a.part(&c.Content.Parts[i])
			}
		}
		finish, finishMsg = c.FinishReason, c.FinishMessage
	}
	stop := a.end(finish, finishMsg, r.BlockMessage())
	content := a.blocks
	if content == nil {
		content = []contentBlock{}
	}
	return gemini.Marshal(message{
		ID: opts.ID, Type: "message", Role: "assistant", Model: opts.Model,
		Content: content, StopReason: &stop, Usage: toUsage(r.UsageMetadata),
	})
}

func baseID(responseID, id string) string {
	if responseID != "" {
		return responseID
	}
	return id
}

// refusalReasons are Gemini's finish reasons for content it would not
// produce.
var refusalReasons = map[string]bool{
	"SAFETY": true, "RECITATION": true, "BLOCKLIST": true, "PROHIBITED_CONTENT": true, "SPII": true,
	"IMAGE_SAFETY": true, "IMAGE_PROHIBITED_CONTENT": true, "IMAGE_RECITATION": true,
}

func toUsage(u *gemini.UsageMetadata) usage {
	if u == nil {
		return usage{}
	}
	in := u.PromptTokenCount + u.ToolUsePromptTokenCount - u.CachedContentTokenCount
	return usage{
		InputTokens:          max(in, 0),
		CacheReadInputTokens: u.CachedContentTokenCount,
		OutputTokens:         u.CandidatesTokenCount + u.ThoughtsTokenCount,
	}
}

// toolID is the tool_use id of a function call: "toolu_" and Gemini's own id
// when it sent a usable one (it goes back upstream, see upstreamID), else
// "toolu_gb_" and 24 hex digits of sha256(base|n), the same for the same
// answer.
func toolID(geminiID, base string, n int) string {
	if usableID(geminiID) {
		return "toolu_" + geminiID
	}
	h := sha256.Sum256([]byte(base + "|" + strconv.Itoa(n)))
	return generatedPrefix + hex.EncodeToString(h[:12])
}

const generatedPrefix = "toolu_gb_"

func generatedID(id string) bool {
	rest, ok := strings.CutPrefix(id, generatedPrefix)
	if !ok || len(rest) != 24 {
		return false
	}
	for i := 0; i < len(rest); i++ {
		if c := rest[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// usableID: Anthropic ids are word characters and dashes.
func usableID(id string) bool {
	if id == "" || len(id) > 64 || generatedID("toolu_"+id) {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// argsObject is a call's args as compact JSON; anything but an object is {}.
func argsObject(args json.RawMessage) json.RawMessage {
	if !isObject(args) {
		return json.RawMessage(`{}`)
	}
	return compactJSON(args)
}

// assembler turns Gemini parts into content blocks, either collected
// (FromGemini) or as stream events (Stream). One block is open at a time;
// consecutive text (or thought) parts extend it.
type assembler struct {
	stream  bool
	base    string // for tool ids
	calls   int
	open    string // type of the open block, "" for none
	signed  bool   // the open thinking block has its signature
	index   int    // blocks started
	blocks  []contentBlock
	frames  [][]byte
	visible bool // text or a tool call: something for the user
	toolUse bool
}

func strPtr(s string) *string { return &s }

func (a *assembler) start(b contentBlock) {
	a.close()
	a.open, a.signed = b.Type, false
	if a.stream {
		a.frames = append(a.frames, frame("content_block_start", struct {
			Type         string       `json:"type"`
			Index        int          `json:"index"`
			ContentBlock contentBlock `json:"content_block"`
		}{"content_block_start", a.index, b}))
	} else {
		a.blocks = append(a.blocks, b)
	}
	a.index++
}

type blockDelta struct {
	Type        string `json:"type"`
	Text        string `json:"text,omitempty"`
	Thinking    string `json:"thinking,omitempty"`
	Signature   string `json:"signature,omitempty"`
	PartialJSON string `json:"partial_json,omitempty"`
}

func (a *assembler) delta(d blockDelta) {
	if a.stream {
		a.frames = append(a.frames, frame("content_block_delta", struct {
			Type  string     `json:"type"`
			Index int        `json:"index"`
			Delta blockDelta `json:"delta"`
		}{"content_block_delta", a.index - 1, d}))
		return
	}
	b := &a.blocks[len(a.blocks)-1]
	switch d.Type {
	case "text_delta":
		*b.Text += d.Text
	case "thinking_delta":
		*b.Thinking += d.Thinking
	case "signature_delta":
		*b.Signature = d.Signature
	}
}

func (a *assembler) close() {
	if a.open == "" {
		return
	}
	a.open = ""
	if a.stream {
		a.frames = append(a.frames, frame("content_block_stop", struct {
			Type  string `json:"type"`
			Index int    `json:"index"`
		}{"content_block_stop", a.index - 1}))
	}
}

func (a *assembler) part(p *gemini.Part) {
	switch {
	case p.FunctionCall != nil:
		a.sign(p.ThoughtSignature)
		a.visible, a.toolUse = true, true
		id := toolID(p.FunctionCall.ID, a.base, a.calls)
		a.calls++
		args := argsObject(p.FunctionCall.Args)
		if a.stream {
			// The input streams as partial JSON after an empty object, as
			// Anthropic's own streams do; Gemini sends a call whole.
			a.start(contentBlock{Type: "tool_use", ID: id, Name: p.FunctionCall.Name, Input: json.RawMessage(`{}`)})
			a.delta(blockDelta{Type: "input_json_delta", PartialJSON: string(args)})
		} else {
			a.start(contentBlock{Type: "tool_use", ID: id, Name: p.FunctionCall.Name, Input: args})
		}
		a.close()
	case p.Thought:
		if p.Text != "" {
			if a.open != "thinking" || a.signed {
				a.start(contentBlock{Type: "thinking", Thinking: strPtr(""), Signature: strPtr("")})
			}
			a.delta(blockDelta{Type: "thinking_delta", Thinking: p.Text})
		}
		a.sign(p.ThoughtSignature)
	case p.ExecutableCode != nil:
		a.sign(p.ThoughtSignature)
		a.text("\n```" + strings.ToLower(p.ExecutableCode.Language) + "\n" + p.ExecutableCode.Code + "\n```\n")
	case p.CodeExecutionResult != nil:
		a.sign(p.ThoughtSignature)
		a.text("\n```\n" + p.CodeExecutionResult.Output + "\n```\n")
	default:
		a.sign(p.ThoughtSignature)
		if p.Text != "" {
			a.text(p.Text)
		}
	}
}

func (a *assembler) text(s string) {
	a.visible = true
	if a.open != "text" {
		a.start(contentBlock{Type: "text", Text: strPtr("")})
	}
	a.delta(blockDelta{Type: "text_delta", Text: s})
}

// sign gives a thought signature to the open thinking block, or to an empty
// thinking block of its own: either way it comes right before the block of
// the part that carried it.
func (a *assembler) sign(sig string) {
	if sig == "" {
		return
	}
	if a.open != "thinking" || a.signed {
		a.start(contentBlock{Type: "thinking", Thinking: strPtr(""), Signature: strPtr("")})
	}
	a.delta(blockDelta{Type: "signature_delta", Signature: sigPrefix + sig})
	a.signed = true
}

// end closes the last block and returns the stop reason; a refusal with
// nothing shown gets a text block saying why.
func (a *assembler) end(finish, finishMsg, blockMsg string) string {
	a.close()
	reason := "end_turn"
	switch {
	case blockMsg != "" || refusalReasons[finish]:
		reason = "refusal"
		if !a.visible {
			msg := blockMsg
			if msg == "" {
				msg = "The response was blocked by Gemini (" + finish + ")"
				if finishMsg != "" {
					msg += ": " + finishMsg
				}
			}
			a.text(msg)
			a.close()
		}
	case finish == "MAX_TOKENS":
		reason = "max_tokens"
	case a.toolUse:
		reason = "tool_use"
	}
	return reason
}

// frame is one SSE event: "event: <name>\ndata: <json>\n\n".
func frame(name string, v any) []byte {
	data, err := gemini.Marshal(v)
	if err != nil {
		data = ErrorBody(500, "anthropic: encoding an event: "+err.Error())
		name = "error"
	}
	out := make([]byte, 0, len(name)+len(data)+16)
	out = append(out, "event: "...)
	out = append(out, name...)
	out = append(out, "\ndata: "...)
	out = append(out, data...)
	return append(out, "\n\n"...)
}

// CountTokensAnswer translates Gemini's countTokens answer to the
// count_tokens one, {"input_tokens": n}.
func CountTokensAnswer(geminiJSON []byte) ([]byte, error) {
	var r struct {
		TotalTokens *int           `json:"totalTokens"`
		Error       *UpstreamError `json:"error"`
	}
	if err := gemini.Unmarshal(bytes.TrimSpace(geminiJSON), &r); err != nil {
		return nil, fmt.Errorf("anthropic: decoding Gemini countTokens answer: %w", err)
	}
	if r.Error != nil {
		return nil, r.Error
	}
	n := 0
	if r.TotalTokens != nil {
		n = max(*r.TotalTokens, 0)
	}
	return []byte(`{"input_tokens":` + strconv.Itoa(n) + `}`), nil
}
