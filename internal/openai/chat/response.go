package chat

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

// ResponseOptions shape the OpenAI answer. ID ("chatcmpl-<random>") and
// Created (unix seconds) are the caller's; Model is the model as the client
// named it.
type ResponseOptions struct {
	ID               string
	Created          int64
	Model            string
	ShowThinking     bool // thought parts become reasoning_content; otherwise they are dropped
	ShowSearchLinks  bool // grounding sources are appended as a short "Sources" list
	ImagesAsMarkdown bool // inline images become ![image](data:...) in content; otherwise they are dropped
	// ImageURL, when set, stores an inline image (MIME type, base64 data)
	// and returns the URL the markdown links to; "" keeps the data: URL.
	ImageURL func(mime, b64 string) string
}

// Gemini response wire types: the one declaration is in package gemini;
// geminiResponse adds the error object Gemini may send in a 200 answer or a
// stream event.
type geminiResponse struct {
	gemini.Response
	Error *UpstreamError `json:"error"`
}

// OpenAI response wire types.
type (
	completion struct {
		ID      string   `json:"id"`
		Object  string   `json:"object"`
		Created int64    `json:"created"`
		Model   string   `json:"model"`
		Choices []choice `json:"choices"`
		Usage   usage    `json:"usage"`
	}
	choice struct {
		Index        int             `json:"index"`
		Message      responseMessage `json:"message"`
		Logprobs     *struct{}       `json:"logprobs"`
		FinishReason string          `json:"finish_reason"`
	}
	responseMessage struct {
		Role             string        `json:"role"`
		Content          *string       `json:"content"`
		ReasoningContent string        `json:"reasoning_content,omitempty"`
		Refusal          *string       `json:"refusal,omitempty"`
		ToolCalls        []toolCallOut `json:"tool_calls,omitempty"`
		ExtraContent     *ExtraContent `json:"extra_content,omitempty"`
	}
	toolCallOut struct {
		Index    *int   `json:"index,omitempty"`
		ID       string `json:"id"`
		Type     string `json:"type"`
		Function struct {
			Name      string `json:"name"`
			Arguments string `json:"arguments"`
		} `json:"function"`
		ExtraContent *ExtraContent `json:"extra_content,omitempty"`
	}
	usage struct {
		PromptTokens        int `json:"prompt_tokens"`
		CompletionTokens    int `json:"completion_tokens"`
		TotalTokens         int `json:"total_tokens"`
		PromptTokensDetails struct {
			CachedTokens int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
		CompletionTokensDetails struct {
			ReasoningTokens int `json:"reasoning_tokens"`
		} `json:"completion_tokens_details"`
	}
)

// decodeGemini reads one Gemini answer or stream event. An SSE "data:" prefix
// is tolerated. An {"error":...} object comes back as *UpstreamError.
func decodeGemini(b []byte) (*geminiResponse, error) {
	r, err := decodeGeminiParts(b)
	if err != nil {
		return nil, err
	}
	if r.Error != nil {
		return nil, r.Error
	}
	return r, nil
}

// decodeGeminiParts decodes b, an error object included.
func decodeGeminiParts(b []byte) (*geminiResponse, error) {
	b = bytes.TrimSpace(b)
	if rest, ok := bytes.CutPrefix(b, []byte("data:")); ok {
		b = bytes.TrimSpace(rest)
	}
	var r geminiResponse
	if err := gemini.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("chat: decoding Gemini response: %w", err)
	}
	return &r, nil
}

// FromGemini translates a Gemini generateContent answer into a
// chat.completion. Candidates become choices by their index. Tool call ids are
// Gemini's functionCall.id when it sent a usable one, else "call_" and 24 hex
// digits derived from responseId (or o.ID), the choice and the call's position:
// the same answer always gets the same ids.
func FromGemini(body []byte, o ResponseOptions) ([]byte, error) {
	return DecodeAnswer(body).Translate(o)
}

// Answer is a decoded Gemini generateContent answer: a route that first
// judges an answer (HasContent, to retry an empty one on another key) and
// then translates it decodes the JSON once.
type Answer struct {
	r   *geminiResponse
	err error
}

// DecodeAnswer decodes body; a decoding error or a Google error object is
// kept and returned by Translate.
func DecodeAnswer(body []byte) *Answer {
	r, err := decodeGeminiParts(body)
	if err == nil && r.Error != nil {
		err = r.Error
	}
	return &Answer{r: r, err: err}
}

// HasContent follows gemini.HasContent: an answer carries something when it
// has a part, a block reason, or a finish reason other than STOP; one that
// does not decode is not ours to judge and counts as having content.
func (a *Answer) HasContent() bool {
	if a.r == nil {
		return true
	}
	if pf := a.r.PromptFeedback; pf != nil && pf.BlockReason != "" {
		return true
	}
	for i := range a.r.Candidates {
		c := &a.r.Candidates[i]
		if (c.Content != nil && len(c.Content.Parts) > 0) || (c.FinishReason != "" && c.FinishReason != "STOP") {
			return true
		}
	}
	return false
}

// Translate is FromGemini on the decoded answer.
func (a *Answer) Translate(o ResponseOptions) ([]byte, error) {
	if a.err != nil {
		return nil, a.err
	}
	r := a.r
	out := completion{
		ID: o.ID, Object: "chat.completion", Created: o.Created, Model: o.Model,
		Usage: toUsage(r.UsageMetadata),
	}
	base := r.ResponseID
	if base == "" {
		base = o.ID
	}
	cands := candidateOrder(r.Candidates)
	for _, ci := range cands {
		c := &r.Candidates[ci.pos]
		out.Choices = append(out.Choices, buildChoice(c, ci.index, base, o))
	}
	if len(out.Choices) == 0 {
		ch := choice{Index: 0, FinishReason: "stop", Message: responseMessage{Role: "assistant", Content: new(string)}}
		if msg := r.BlockMessage(); msg != "" {
			ch.FinishReason = "content_filter"
			ch.Message.Refusal = &msg
		}
		out.Choices = append(out.Choices, ch)
	}
	return gemini.Marshal(out)
}

type candidateIndex struct{ pos, index int }

// candidateOrder gives each candidate its choice index: Gemini's index when
// the indexes are distinct (it omits index 0), else the position.
func candidateOrder(cs []gemini.Candidate) []candidateIndex {
	out := make([]candidateIndex, len(cs))
	seen := make(map[int]bool, len(cs))
	distinct := true
	for i, c := range cs {
		out[i] = candidateIndex{i, c.Index}
		if seen[c.Index] {
			distinct = false
		}
		seen[c.Index] = true
	}
	if !distinct {
		for i := range out {
			out[i].index = i
		}
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].index < out[b].index })
	return out
}

// rendered is what one candidate's parts say, as OpenAI fields.
type rendered struct {
	content   strings.Builder
	reasoning strings.Builder
	calls     []toolCallOut
	signature string // thought signature of a non-call part
	visible   bool   // text, tool call, image or code: something for the user
	// prior and afterBlock carry a stream choice's state across events: some
	// content was emitted before; the last thing emitted was a markdown block.
	prior, afterBlock bool
}

// render adds parts to r; base, choiceIndex and firstCall number the tool calls.
func (r *rendered) render(parts []gemini.Part, o ResponseOptions, base string, choiceIndex, firstCall int) {
	for i := range parts {
		p := &parts[i]
		switch {
		case p.FunctionCall != nil:
			r.visible = true
			var tc toolCallOut
			tc.ID = callID(p.FunctionCall.ID, base, choiceIndex, firstCall+len(r.calls))
			tc.Type = "function"
			tc.Function.Name = p.FunctionCall.Name
			tc.Function.Arguments = compactArgs(p.FunctionCall.Args)
			tc.ExtraContent = extraWith(p.ThoughtSignature)
			r.calls = append(r.calls, tc)
			continue
		case p.Thought:
			if o.ShowThinking && p.Text != "" {
				r.reasoning.WriteString(p.Text)
			}
		case p.InlineData != nil:
			r.visible = true
			if o.ImagesAsMarkdown && strings.HasPrefix(p.InlineData.MimeType, "image/") {
				url := ""
				if o.ImageURL != nil {
					url = o.ImageURL(p.InlineData.MimeType, p.InlineData.Data)
				}
				if url == "" {
					url = "data:" + p.InlineData.MimeType + ";base64," + p.InlineData.Data
				}
				r.block("![image](" + url + ")")
			}
		case p.ExecutableCode != nil:
			r.visible = true
			r.block("```" + strings.ToLower(p.ExecutableCode.Language) + "\n" + p.ExecutableCode.Code + "\n```")
		case p.CodeExecutionResult != nil:
			r.visible = true
			r.block("```\n" + p.CodeExecutionResult.Output + "\n```")
		case p.Text != "":
			r.visible = true
			if r.afterBlock {
				r.content.WriteString("\n\n")
				r.afterBlock = false
			}
			r.content.WriteString(p.Text)
		}
		if p.ThoughtSignature != "" && !p.Thought {
			r.signature = p.ThoughtSignature
		}
	}
}

// block appends a markdown block as its own paragraph.
func (r *rendered) block(s string) {
	if r.content.Len() > 0 || r.prior {
		r.content.WriteString("\n\n")
	}
	r.content.WriteString(s)
	r.afterBlock = true
}

func buildChoice(c *gemini.Candidate, index int, base string, o ResponseOptions) choice {
	var r rendered
	if c.Content != nil {
		r.render(c.Content.Parts, o, base, index, 0)
	}
	if o.ShowSearchLinks {
		var s sources
		s.add(c)
		if txt := s.take(); txt != "" {
			r.content.WriteString(txt)
		}
	}
	content := r.content.String()
	msg := responseMessage{
		Role:             "assistant",
		ReasoningContent: r.reasoning.String(),
		ToolCalls:        r.calls,
		ExtraContent:     extraWith(r.signature),
	}
	if content != "" || len(r.calls) == 0 {
		msg.Content = &content
	}
	fr := finishReason(c.FinishReason, len(r.calls) > 0)
	if fr == "content_filter" && !r.visible {
		refusal := "The response was blocked by Gemini (" + c.FinishReason + ")"
		if c.FinishMessage != "" {
			refusal += ": " + c.FinishMessage
		}
		msg.Refusal = &refusal
	}
	return choice{Index: index, Message: msg, FinishReason: fr}
}

// finishReason maps Gemini's finishReason to OpenAI's.
func finishReason(gemini string, toolCalls bool) string {
	switch gemini {
	case "MAX_TOKENS":
		return "length"
	case "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII",
		"IMAGE_SAFETY", "IMAGE_PROHIBITED_CONTENT", "IMAGE_RECITATION":
		return "content_filter"
	}
	if toolCalls {
		return "tool_calls"
	}
	return "stop"
}

// toUsage maps usageMetadata: completion tokens include thoughts, prompt tokens
// include tool-use prompt tokens (search results), so the total adds up.
func toUsage(u *gemini.UsageMetadata) usage {
	var out usage
	if u == nil {
		return out
	}
	out.PromptTokens = u.PromptTokenCount + u.ToolUsePromptTokenCount
	out.CompletionTokens = u.CandidatesTokenCount + u.ThoughtsTokenCount
	out.TotalTokens = u.TotalTokenCount
	if out.TotalTokens == 0 {
		out.TotalTokens = out.PromptTokens + out.CompletionTokens
	}
	out.PromptTokensDetails.CachedTokens = u.CachedContentTokenCount
	out.CompletionTokensDetails.ReasoningTokens = u.ThoughtsTokenCount
	return out
}

// callID is the OpenAI id of a tool call: Gemini's own id when it is a short
// printable token, else "call_" + 24 hex digits of sha256(base|choice|n).
func callID(geminiID, base string, choiceIndex, n int) string {
	if usableID(geminiID) {
		return geminiID
	}
	h := sha256.Sum256([]byte(base + "|" + strconv.Itoa(choiceIndex) + "|" + strconv.Itoa(n)))
	return "call_" + hex.EncodeToString(h[:12])
}

func usableID(id string) bool {
	if id == "" || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' || id[i] == '"' || id[i] == '\\' {
			return false
		}
	}
	return true
}

// compactArgs is args as a compact JSON text; missing args are "{}".
func compactArgs(args json.RawMessage) string {
	if isNull(args) {
		return "{}"
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, args); err != nil {
		return "{}"
	}
	return buf.String()
}

// sources collects grounding links, deduplicated by URI.
type sources struct {
	seen    map[string]bool
	pending []string
	header  bool
}

func (s *sources) add(c *gemini.Candidate) {
	if c.GroundingMetadata == nil {
		return
	}
	for _, gc := range c.GroundingMetadata.GroundingChunks {
		if gc.Web == nil || gc.Web.URI == "" {
			continue
		}
		if s.seen == nil {
			s.seen = make(map[string]bool)
		}
		if s.seen[gc.Web.URI] {
			continue
		}
		s.seen[gc.Web.URI] = true
		title := gc.Web.Title
		if title == "" {
			title = gc.Web.URI
		}
		title = strings.NewReplacer("[", "\\[", "]", "\\]", "\n", " ").Replace(title)
		uri := strings.NewReplacer("(", "%28", ")", "%29", " ", "%20", "\n", "").Replace(gc.Web.URI)
		s.pending = append(s.pending, "- ["+title+"]("+uri+")")
	}
}

// take returns the markdown for links not yet returned: a "Sources" header the
// first time, then one line per link.
func (s *sources) take() string {
	if len(s.pending) == 0 {
		return ""
	}
	var sb strings.Builder
	if !s.header {
		sb.WriteString("\n\n**Sources**\n")
		s.header = true
	} else {
		sb.WriteString("\n")
	}
	sb.WriteString(strings.Join(s.pending, "\n"))
	s.pending = s.pending[:0]
	return sb.String()
}

// EmptyResponse reports whether a Gemini generateContent answer carries
// nothing for the user (no text, tool call, image or code in any candidate) and
// was not blocked (no promptFeedback.blockReason, no safety finish): the
// caller may retry it on another key. Thoughts alone count as empty. A body
// that does not decode is not empty (it is an error).
func EmptyResponse(body []byte) bool {
	r, err := decodeGemini(body)
	if err != nil {
		return false
	}
	if r.BlockMessage() != "" {
		return false
	}
	for i := range r.Candidates {
		c := &r.Candidates[i]
		if finishReason(c.FinishReason, false) == "content_filter" {
			return false
		}
		if c.Content != nil {
			var rd rendered
			rd.render(c.Content.Parts, ResponseOptions{}, "", 0, 0)
			if rd.visible {
				return false
			}
		}
	}
	return true
}
