package fromopenai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

// ErrBadAnswer wraps every error of Response and Stream about what the
// provider sent (not JSON, no choices, tool arguments that are not a JSON
// object). The caller answers 502.
var ErrBadAnswer = errors.New("fromopenai: the provider's answer cannot be translated")

func badAnswer(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadAnswer, fmt.Sprintf(format, args...))
}

// OpenAI answer wire types, for whole answers and stream chunks.
type (
	oaCompletion struct {
		ID      string          `json:"id"`
		Choices []oaChoice      `json:"choices"`
		Usage   *oaUsage        `json:"usage"`
		Error   json.RawMessage `json:"error"`
	}
	oaChoice struct {
		Index        int      `json:"index"`
		Message      oaAnswer `json:"message"`
		Delta        oaAnswer `json:"delta"`
		FinishReason string   `json:"finish_reason"`
	}
	oaAnswer struct {
		Content          json.RawMessage  `json:"content"` // a string, null, or (some servers) an array of text parts
		ReasoningContent string           `json:"reasoning_content"`
		Reasoning        string           `json:"reasoning"`
		Refusal          string           `json:"refusal"`
		ToolCalls        []oaToolCallResp `json:"tool_calls"`
	}
	oaToolCallResp struct {
		Index    *int   `json:"index"`
		ID       string `json:"id"`
		Function struct {
			Name      string          `json:"name"`
			Arguments json.RawMessage `json:"arguments"` // a JSON string; an object from lax servers
		} `json:"function"`
	}
	oaUsage struct {
		PromptTokens        int `json:"prompt_tokens"`
		CompletionTokens    int `json:"completion_tokens"`
		TotalTokens         int `json:"total_tokens"`
		PromptTokensDetails *struct {
			CachedTokens int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
		CompletionTokensDetails *struct {
			ReasoningTokens int `json:"reasoning_tokens"`
		} `json:"completion_tokens_details"`
		PromptCacheHitTokens int `json:"prompt_cache_hit_tokens"` // DeepSeek
	}
)

// Response translates an OpenAI chat completion into a Gemini
// generateContent answer. model is the model the client asked for, written
// as modelVersion. Errors wrap ErrBadAnswer; a 200 answer that carries an
// {"error":...} object is such an error too (turn it into the client's
// answer with Error).
func Response(body []byte, model string) ([]byte, error) {
	var c oaCompletion
	if err := gemini.Unmarshal(body, &c); err != nil {
		return nil, badAnswer("%v", err)
	}
	if !isNull(c.Error) {
		return nil, badAnswer("the answer is an error: %s", truncate(string(c.Error), 300))
	}
	if len(c.Choices) == 0 {
		return nil, badAnswer("the answer has no choices")
	}
	out := gemini.Response{ModelVersion: model, ResponseID: c.ID, UsageMetadata: usageOf(c.Usage)}
	out.Candidates = make([]gemini.Candidate, 0, len(c.Choices))
	for i := range c.Choices {
		ch := &c.Choices[i]
		parts, err := answerParts(nil, &ch.Message)
		if err != nil {
			return nil, err
		}
		for _, tc := range ch.Message.ToolCalls {
			fc, err := functionCall(tc.ID, tc.Function.Name, tc.Function.Arguments)
			if err != nil {
				return nil, err
			}
			parts = append(parts, gemini.Part{FunctionCall: fc})
		}
		fr := finishReason(ch.FinishReason)
		if fr == "" {
			fr = "STOP" // a whole answer is finished
		}
		out.Candidates = append(out.Candidates, gemini.Candidate{
			Content:      &gemini.Content{Parts: parts, Role: "model"},
			FinishReason: fr,
			Index:        ch.Index,
		})
	}
	return gemini.Marshal(out)
}

// answerParts appends the thought and text parts of a message or delta.
func answerParts(parts []gemini.Part, m *oaAnswer) ([]gemini.Part, error) {
	if r := either(m.ReasoningContent, m.Reasoning); r != "" {
		parts = append(parts, gemini.Part{Text: r, Thought: true})
	}
	text, err := contentText(m.Content)
	if err != nil {
		return nil, err
	}
	if text != "" {
		parts = append(parts, gemini.Part{Text: text})
	}
	if m.Refusal != "" {
		parts = append(parts, gemini.Part{Text: m.Refusal})
	}
	return parts, nil
}

// contentText reads content: a string, null, or an array of parts whose
// text parts are joined.
func contentText(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return "", nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", badAnswer("content: %v", err)
		}
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(raw, &parts); err != nil {
		return "", badAnswer("content must be a string or a list of parts")
	}
	var sb strings.Builder
	for _, p := range parts {
		if p.Type == "text" || p.Type == "" {
			sb.WriteString(p.Text)
		}
	}
	return sb.String(), nil
}

// functionCall builds a functionCall part from a tool call: arguments are
// a JSON text holding an object (an empty text is no arguments).
func functionCall(id, name string, arguments json.RawMessage) (*gemini.FunctionCall, error) {
	args := bytes.TrimSpace(arguments)
	if len(args) > 0 && args[0] == '"' {
		var s string
		if err := json.Unmarshal(args, &s); err != nil {
			return nil, badAnswer("tool call %q: arguments: %v", name, err)
		}
		args = bytes.TrimSpace([]byte(s))
	}
	obj, err := argsObject(args)
	if err != nil {
		return nil, badAnswer("tool call %q: arguments %s", name, err)
	}
	return &gemini.FunctionCall{ID: id, Name: name, Args: obj}, nil
}

// argsObject checks that args is one JSON object (empty and null are {})
// and compacts it.
func argsObject(args []byte) (json.RawMessage, error) {
	if len(args) == 0 || string(args) == "null" {
		return json.RawMessage("{}"), nil
	}
	if args[0] != '{' || !json.Valid(args) {
		return nil, errors.New("are not a JSON object")
	}
	var b bytes.Buffer
	_ = json.Compact(&b, args)
	return b.Bytes(), nil
}

// finishReason maps finish_reason; "" stays "" (not finished yet).
// tool_calls is STOP: Gemini ends a turn of function calls with STOP.
func finishReason(r string) string {
	switch r {
	case "":
		return ""
	case "stop", "tool_calls", "function_call":
		return "STOP"
	case "length":
		return "MAX_TOKENS"
	case "content_filter":
		return "SAFETY"
	}
	return "OTHER" // e.g. DeepSeek's insufficient_system_resource
}

// usageOf maps usage. OpenAI counts reasoning inside completion_tokens;
// Gemini counts thoughts apart from candidates.
func usageOf(u *oaUsage) *gemini.UsageMetadata {
	if u == nil {
		return nil
	}
	out := &gemini.UsageMetadata{PromptTokenCount: u.PromptTokens, TotalTokenCount: u.TotalTokens}
	if u.CompletionTokensDetails != nil {
		out.ThoughtsTokenCount = u.CompletionTokensDetails.ReasoningTokens
	}
	out.CandidatesTokenCount = max(u.CompletionTokens-out.ThoughtsTokenCount, 0)
	if out.TotalTokenCount == 0 {
		out.TotalTokenCount = u.PromptTokens + u.CompletionTokens
	}
	if u.PromptTokensDetails != nil {
		out.CachedContentTokenCount = u.PromptTokensDetails.CachedTokens
	}
	if out.CachedContentTokenCount == 0 {
		out.CachedContentTokenCount = u.PromptCacheHitTokens
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
