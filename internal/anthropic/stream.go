package anthropic

import (
	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

// Stream translates a Gemini streamGenerateContent?alt=sse answer into the
// Messages API's event stream, one Gemini event at a time. Its output is
// framed SSE events ("event: X\ndata: {...}\n\n") in Anthropic's order:
// message_start; per content block content_block_start, its deltas
// (text_delta, thinking_delta, signature_delta, input_json_delta) and
// content_block_stop; then message_delta (stop_reason, usage) and
// message_stop from Finish. message_start waits for the first block, so an
// answer that is empty from the start writes nothing (see Empty; thinking
// blocks do come out before it is known whether text follows). It is not
// safe for concurrent use.
type Stream struct {
	o         ResponseOptions
	a         assembler
	usage     *gemini.UsageMetadata
	finish    string
	finishMsg string
	blockMsg  string
	started   bool
	done      bool
}

// NewStream starts a stream translation.
func NewStream(opts ResponseOptions) *Stream {
	return &Stream{o: opts, a: assembler{stream: true}}
}

// Event translates one Gemini SSE event's JSON (a leading "data:" is
// tolerated) into zero or more framed events. An {"error":...} event
// returns *UpstreamError and a body that does not decode an error; either
// way the caller ends the stream with ErrorEvent.
func (s *Stream) Event(geminiEventJSON []byte) ([][]byte, error) {
	if s.done {
		return nil, nil
	}
	r, err := decodeGemini(geminiEventJSON)
	if err != nil {
		return nil, err
	}
	if s.a.base == "" {
		s.a.base = baseID(r.ResponseID, s.o.ID)
	}
	if r.UsageMetadata != nil {
		s.usage = r.UsageMetadata
	}
	if msg := r.BlockMessage(); msg != "" {
		s.blockMsg = msg
	}
	if c := candidate(r); c != nil {
		if c.Content != nil {
			for i := range c.Content.Parts {
				s.a.part(&c.Content.Parts[i])
			}
		}
		if c.FinishReason != "" {
			s.finish, s.finishMsg = c.FinishReason, c.FinishMessage
		}
	}
	return s.take(), nil
}

// take returns the events made so far, message_start first.
func (s *Stream) take() [][]byte {
	out := s.a.frames
	s.a.frames = nil
	if len(out) == 0 || s.started {
		return out
	}
	s.started = true
	return append([][]byte{s.messageStart()}, out...)
}

func (s *Stream) messageStart() []byte {
	u := toUsage(s.usage)
	return frame("message_start", struct {
		Type    string  `json:"type"`
		Message message `json:"message"`
	}{"message_start", message{
		ID: s.o.ID, Type: "message", Role: "assistant", Model: s.o.Model,
		Content: []contentBlock{}, Usage: u,
	}})
}

// Finish ends the stream: the last content_block_stop, message_delta with
// the stop reason (as FromGemini decides it) and the usage, and
// message_stop; message_start too if nothing came before. It is meant to run
// once, after the last event; a second call returns nothing.
func (s *Stream) Finish() [][]byte {
	if s.done {
		return nil
	}
	s.done = true
	stop := s.a.end(s.finish, s.finishMsg, s.blockMsg)
	out := s.take()
	if !s.started {
		s.started = true
		out = append(out, s.messageStart())
	}
	type deltaBody struct {
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	}
	out = append(out, frame("message_delta", struct {
		Type  string    `json:"type"`
		Delta deltaBody `json:"delta"`
		Usage usage     `json:"usage"`
	}{"message_delta", deltaBody{StopReason: stop}, toUsage(s.usage)}))
	return append(out, frame("message_stop", struct {
		Type string `json:"type"`
	}{"message_stop"}))
}

// Empty reports that the stream so far produced nothing for the user (no
// text, no tool call; thinking does not count) and was not blocked: the
// caller may retry on another key, provided it wrote nothing yet.
func (s *Stream) Empty() bool {
	return !s.a.visible && s.blockMsg == "" && !refusalReasons[s.finish]
}

// Ping is a ping event, written while waiting for the upstream.
func Ping() []byte { return []byte("event: ping\ndata: {\"type\":\"ping\"}\n\n") }

// ErrorEvent is an error event ending a stream that failed after its first
// byte; its data is ErrorBody(status, message).
func ErrorEvent(status int, message string) []byte {
	data := ErrorBody(status, message)
	out := make([]byte, 0, len(data)+24)
	out = append(out, "event: error\ndata: "...)
	out = append(out, data...)
	return append(out, "\n\n"...)
}
