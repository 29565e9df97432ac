package chat

import (
	"sort"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

// Stream translates a Gemini streamGenerateContent?alt=sse answer into
// chat.completion.chunk objects, one event at a time. It is not safe for
// concurrent use.
type Stream struct {
	o            ResponseOptions
	includeUsage bool
	base         string // responseId, for tool call ids
	choices      []*streamChoice
	usage        *gemini.UsageMetadata
	content      bool
	blocked      bool
	done         bool
}

type streamChoice struct {
	index      int
	started    bool // role sent
	finished   bool // finish_reason sent
	calls      int  // tool calls sent
	prior      bool // content sent
	afterBlock bool
	visible    bool
	src        sources
}

// Stream chunk wire types.
type (
	chunk struct {
		ID      string        `json:"id"`
		Object  string        `json:"object"`
		Created int64         `json:"created"`
		Model   string        `json:"model"`
		Choices []chunkChoice `json:"choices"`
		Usage   *usage        `json:"usage,omitempty"`
	}
	chunkChoice struct {
		Index        int       `json:"index"`
		Delta        delta     `json:"delta"`
		Logprobs     *struct{} `json:"logprobs"`
		FinishReason *string   `json:"finish_reason"`
	}
	delta struct {
		Role             string        `json:"role,omitempty"`
		Content          string        `json:"content,omitempty"`
		ReasoningContent string        `json:"reasoning_content,omitempty"`
		Refusal          string        `json:"refusal,omitempty"`
		ToolCalls        []toolCallOut `json:"tool_calls,omitempty"`
		ExtraContent     *ExtraContent `json:"extra_content,omitempty"`
	}
)

func (d *delta) empty() bool {
	return d.Content == "" && d.ReasoningContent == "" && d.Refusal == "" && len(d.ToolCalls) == 0 && d.ExtraContent == nil
}

// NewStream starts a stream translation. includeUsage is
// stream_options.include_usage.
func NewStream(o ResponseOptions, includeUsage bool) *Stream {
	return &Stream{o: o, includeUsage: includeUsage}
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

// Event translates one Gemini SSE event's JSON (a leading "data:" is
// tolerated) into zero or more chat.completion.chunk objects: one per
// candidate that says something, none for an event with nothing in it. The
// first chunk of each choice carries role "assistant"; the chunk that
// carries Gemini's finishReason carries finish_reason ("tool_calls" when the
// choice sent any tool call). Tool calls arrive whole (Gemini does not split
// them), each with its index, id, name and full arguments. An {"error":...}
// event returns *UpstreamError; a body that does not decode returns an error.
// Either way the caller ends the stream with ErrorEvent.
func (s *Stream) Event(geminiJSON []byte) ([][]byte, error) {
	if s.done {
		return nil, nil
	}
	r, err := decodeGemini(geminiJSON)
	if err != nil {
		return nil, err
	}
	if s.base == "" {
		s.base = r.ResponseID
		if s.base == "" {
			s.base = s.o.ID
		}
	}
	if r.UsageMetadata != nil {
		s.usage = r.UsageMetadata
	}
	var out [][]byte
	if len(r.Candidates) == 0 {
		if msg := r.BlockMessage(); msg != "" {
			s.blocked = true
			if ch := s.choice(0); !ch.finished {
				out = append(out, s.chunk(ch, delta{Refusal: msg}, "content_filter"))
			}
		}
		return out, nil
	}
	for _, ci := range candidateOrder(r.Candidates) {
		c := &r.Candidates[ci.pos]
		ch := s.choice(ci.index)
		rd := rendered{prior: ch.prior, afterBlock: ch.afterBlock}
		if c.Content != nil {
			rd.render(c.Content.Parts, s.o, s.base, ci.index, ch.calls)
		}
		for i := range rd.calls {
			n := ch.calls + i
			rd.calls[i].Index = &n
		}
		ch.calls += len(rd.calls)
		if rd.visible {
			s.content, ch.visible = true, true
		}
		ch.afterBlock = rd.afterBlock
		if s.o.ShowSearchLinks {
			ch.src.add(c)
		}
		d := delta{
			Content:          rd.content.String(),
			ReasoningContent: rd.reasoning.String(),
			ToolCalls:        rd.calls,
			ExtraContent:     extraWith(rd.signature),
		}
		fr := ""
		if c.FinishReason != "" && !ch.finished {
			fr = finishReason(c.FinishReason, ch.calls > 0)
			if fr == "content_filter" {
				s.blocked = true
				if !ch.visible {
					d.Refusal = "The response was blocked by Gemini (" + c.FinishReason + ")"
					if c.FinishMessage != "" {
						d.Refusal += ": " + c.FinishMessage
					}
				}
			}
		}
		if fr != "" || ch.finished {
			// Sources go out with the finish (or late, if they come later).
			d.Content += ch.src.take()
		}
		if d.empty() && fr == "" {
			continue
		}
		if d.Content != "" {
			ch.prior = true
		}
		out = append(out, s.chunk(ch, d, fr))
	}
	return out, nil
}

func (s *Stream) chunk(ch *streamChoice, d delta, finish string) []byte {
	if !ch.started {
		d.Role = "assistant"
		ch.started = true
	}
	cc := chunkChoice{Index: ch.index, Delta: d}
	if finish != "" {
		ch.finished = true
		cc.FinishReason = &finish
	}
	b, _ := gemini.Marshal(chunk{
		ID: s.o.ID, Object: "chat.completion.chunk", Created: s.o.Created, Model: s.o.Model,
		Choices: []chunkChoice{cc},
	})
	return b
}

// Finish ends the stream: a finish_reason chunk for every choice that has
// not sent one (one for choice 0 if nothing was sent at all), then, when
// includeUsage, the usage chunk ("choices": []). The caller writes
// "data: [DONE]" after these. Finish is meant to run once, after the last
// event; a second call returns nothing.
func (s *Stream) Finish() [][]byte {
	if s.done {
		return nil
	}
	s.done = true
	var out [][]byte
	if len(s.choices) == 0 {
		s.choice(0)
	}
	sort.Slice(s.choices, func(a, b int) bool { return s.choices[a].index < s.choices[b].index })
	for _, ch := range s.choices {
		if ch.finished {
			continue
		}
		out = append(out, s.chunk(ch, delta{Content: ch.src.take()}, finishReason("", ch.calls > 0)))
	}
	if s.includeUsage {
		u := toUsage(s.usage)
		b, _ := gemini.Marshal(chunk{
			ID: s.o.ID, Object: "chat.completion.chunk", Created: s.o.Created, Model: s.o.Model,
			Choices: []chunkChoice{}, Usage: &u,
		})
		out = append(out, b)
	}
	return out
}

// Empty reports that the stream so far produced nothing for the user (no
// text, tool call, image or code; thoughts do not count) and was not blocked
// (no promptFeedback.blockReason, no safety finish): the caller may retry on
// another key, provided nothing was written to the client yet.
func (s *Stream) Empty() bool {
	return !s.content && !s.blocked
}
