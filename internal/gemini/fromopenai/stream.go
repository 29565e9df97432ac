package fromopenai

import (
	"bytes"
	"encoding/json"
	"net/http"
	"sort"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

// Stream translates an OpenAI chat completion stream into Gemini SSE events
// (streamGenerateContent?alt=sse), one provider chunk at a time:
//
//   - text and reasoning deltas become an event with a text part (a thought
//     part for reasoning) as soon as they arrive;
//   - tool call deltas are gathered by choice and index (arguments come in
//     fragments) and sent as one functionCall part each when complete: when
//     a later index starts and the earlier arguments already form a JSON
//     object, else at the choice's finish_reason;
//   - the last event carries every candidate's finishReason and the
//     usageMetadata. It goes out as soon as both are known: usage may come
//     with the finish chunk (DeepSeek) or after it with empty choices
//     (OpenAI with stream_options.include_usage); without usage it goes at
//     [DONE] or Close.
//
// Events are framed "data: <json>\r\n\r\n", as Google writes them. A Stream
// is not safe for concurrent use.
type Stream struct {
	model   string
	id      string
	choices []*streamChoice
	usage   *gemini.UsageMetadata
	content bool // something the user sees was sent
	done    bool // the last event (or an error event) was sent
}

type streamChoice struct {
	index    int
	calls    []*streamCall // by arrival; each call's index is unique
	finish   string        // Gemini finishReason, once finish_reason came
	reported bool
}

type streamCall struct {
	index int
	id    string
	name  string
	args  []byte
	sent  bool
}

// NewStream starts a translation; model is the model the client asked for
// (modelVersion of every event).
func NewStream(model string) *Stream { return &Stream{model: model} }

// Append translates one SSE data payload of the provider's stream (a
// chat.completion.chunk, or [DONE]; a leading "data:" is tolerated, blank
// payloads and comments are skipped) and appends the Gemini events it gives
// to dst. When the provider sent an error, or something that cannot be
// translated, Append appends a Gemini error event, returns an error (the
// provider's error wraps nothing; a bad chunk wraps ErrBadAnswer) and the
// stream is over: the caller writes dst and ends the response. After the
// last event Append appends nothing.
func (s *Stream) Append(dst, data []byte) ([]byte, error) {
	if s.done {
		return dst, nil
	}
	data = bytes.TrimSpace(data)
	if rest, ok := bytes.CutPrefix(data, []byte("data:")); ok {
		data = bytes.TrimSpace(rest)
	}
	if len(data) == 0 || data[0] == ':' {
		return dst, nil
	}
	if string(data) == "[DONE]" {
		return s.Close(dst)
	}
	var c oaCompletion
	if err := gemini.Unmarshal(data, &c); err != nil {
		return s.fail(dst, badAnswer("stream chunk: %v", err))
	}
	if !isNull(c.Error) {
		s.done = true
		body := Error(0, data)
		return errorEvent(dst, body), &StreamError{Body: body}
	}
	if s.id == "" {
		s.id = c.ID
	}
	var cands []gemini.Candidate
	for i := range c.Choices {
		oc := &c.Choices[i]
		ch := s.choice(oc.Index)
		if ch.finish != "" {
			continue // nothing more for a finished choice
		}
		parts, err := answerParts(nil, &oc.Delta)
		if err != nil {
			return s.fail(dst, err)
		}
		for k := range oc.Delta.ToolCalls {
			if parts, err = ch.addCall(parts, &oc.Delta.ToolCalls[k]); err != nil {
				return s.fail(dst, err)
			}
		}
		if fr := finishReason(oc.FinishReason); fr != "" {
			if parts, err = ch.flushCalls(parts, -1); err != nil {
				return s.fail(dst, err)
			}
			ch.finish = fr
		}
		if len(parts) > 0 {
			cands = append(cands, gemini.Candidate{Content: &gemini.Content{Parts: parts, Role: "model"}, Index: ch.index})
		}
	}
	if len(cands) > 0 {
		dst = s.event(dst, gemini.Response{Candidates: cands})
	}
	if c.Usage != nil {
		s.usage = usageOf(c.Usage)
	}
	if s.usage != nil && s.allFinished() {
		return s.last(dst)
	}
	return dst, nil
}

// Close ends the stream as [DONE] does: pending tool calls and the last
// event (finishReason STOP for a choice the provider did not finish) are
// appended. Call it when the provider's stream ended without [DONE] but
// cleanly; it is a no-op once the stream is over.
func (s *Stream) Close(dst []byte) ([]byte, error) {
	if s.done {
		return dst, nil
	}
	var cands []gemini.Candidate
	for _, ch := range s.choices {
		if ch.finish != "" {
			continue
		}
		parts, err := ch.flushCalls(nil, -1)
		if err != nil {
			return s.fail(dst, err)
		}
		if len(parts) > 0 {
			cands = append(cands, gemini.Candidate{Content: &gemini.Content{Parts: parts, Role: "model"}, Index: ch.index})
		}
		ch.finish = "STOP"
	}
	if len(cands) > 0 {
		dst = s.event(dst, gemini.Response{Candidates: cands})
	}
	return s.last(dst)
}

// Empty reports that nothing the user sees was sent yet (no text, no
// function call; thoughts do not count): until then the caller may still
// try another key or pool instead of writing the events.
func (s *Stream) Empty() bool { return !s.content }

// StreamError is an error the provider sent inside its stream. Body is the
// same error in Gemini's shape (what the error event carries).
type StreamError struct{ Body []byte }

func (e *StreamError) Error() string {
	return "fromopenai: the provider's stream ended with an error: " + string(e.Body)
}

func (s *Stream) fail(dst []byte, err error) ([]byte, error) {
	s.done = true
	return errorEvent(dst, gemini.ErrorBody(http.StatusBadGateway, err.Error())), err
}

func (s *Stream) choice(index int) *streamChoice {
	for _, c := range s.choices {
		if c.index == index {
			return c
		}
	}
	c := &streamChoice{index: index}
	s.choices = append(s.choices, c)
	return c
}

func (s *Stream) allFinished() bool {
	for _, c := range s.choices {
		if c.finish == "" {
			return false
		}
	}
	return len(s.choices) > 0
}

// last appends the final event: the finish reason of every choice not yet
// reported, and usage.
func (s *Stream) last(dst []byte) ([]byte, error) {
	s.done = true
	if len(s.choices) == 0 {
		s.choices = append(s.choices, &streamChoice{finish: "STOP"})
	}
	sort.Slice(s.choices, func(a, b int) bool { return s.choices[a].index < s.choices[b].index })
	r := gemini.Response{UsageMetadata: s.usage}
	for _, ch := range s.choices {
		if !ch.reported {
			ch.reported = true
			r.Candidates = append(r.Candidates, gemini.Candidate{Content: &gemini.Content{Role: "model"}, FinishReason: ch.finish, Index: ch.index})
		}
	}
	return s.event(dst, r), nil
}

func (s *Stream) event(dst []byte, r gemini.Response) []byte {
	r.ModelVersion, r.ResponseID = s.model, s.id
	for _, c := range r.Candidates {
		if c.Content != nil {
			for _, p := range c.Content.Parts {
				if !p.Thought {
					s.content = true
				}
			}
		}
	}
	b, err := gemini.Marshal(r)
	if err != nil { // cannot happen: every Args was checked to be a JSON object
		return errorEvent(dst, gemini.ErrorBody(http.StatusBadGateway, err.Error()))
	}
	dst = append(dst, "data: "...)
	dst = append(dst, b...)
	return append(dst, "\r\n\r\n"...)
}

// addCall adds one tool call delta. A delta without an index continues the
// last call, or starts one when it has an id. When a new index starts, the
// complete calls before it are appended to parts.
func (ch *streamChoice) addCall(parts []gemini.Part, d *oaToolCallResp) ([]gemini.Part, error) {
	var call *streamCall
	idx := -1
	if d.Index != nil {
		idx = *d.Index
		for _, c := range ch.calls {
			if c.index == idx {
				call = c
				break
			}
		}
	} else if n := len(ch.calls); n > 0 && (d.ID == "" || d.ID == ch.calls[n-1].id) {
		call = ch.calls[n-1]
	}
	if call == nil {
		if idx < 0 {
			idx = len(ch.calls)
			for _, c := range ch.calls {
				idx = max(idx, c.index+1)
			}
		}
		var err error
		if parts, err = ch.flushCalls(parts, idx); err != nil {
			return nil, err
		}
		call = &streamCall{index: idx}
		ch.calls = append(ch.calls, call)
	}
	frag := d.Function.Arguments
	var text string
	if len(frag) > 0 && frag[0] == '"' {
		if err := json.Unmarshal(frag, &text); err != nil {
			return nil, badAnswer("tool call arguments: %v", err)
		}
	} else if !isNull(frag) {
		text = string(frag) // a lax server sent the object itself
	}
	if call.sent {
		if len(bytes.TrimSpace([]byte(text))) > 0 {
			return nil, badAnswer("tool call %d got arguments after they were complete", call.index)
		}
		return parts, nil
	}
	if call.id == "" {
		call.id = d.ID
	}
	if call.name == "" {
		call.name = d.Function.Name
	}
	call.args = append(call.args, text...)
	return parts, nil
}

// flushCalls appends the unsent calls as functionCall parts, in index
// order. With before >= 0 (a call of that index is starting) only the calls
// of lower index go, and only up to the first whose arguments are not yet a
// complete JSON object (fragments of two calls may interleave); with -1 (the
// choice is over) all of them go, and arguments that are not a JSON object
// are an error.
func (ch *streamChoice) flushCalls(parts []gemini.Part, before int) ([]gemini.Part, error) {
	sort.SliceStable(ch.calls, func(a, b int) bool { return ch.calls[a].index < ch.calls[b].index })
	for _, c := range ch.calls {
		if c.sent {
			continue
		}
		if before >= 0 {
			if c.index >= before {
				break
			}
			if t := bytes.TrimSpace(c.args); len(t) == 0 || t[0] != '{' || !json.Valid(t) {
				break
			}
		}
		fc, err := functionCall(c.id, c.name, c.args)
		if err != nil {
			return nil, err
		}
		c.sent = true
		parts = append(parts, gemini.Part{FunctionCall: fc})
	}
	return parts, nil
}
