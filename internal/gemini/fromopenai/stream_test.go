package fromopenai

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

// feed runs payloads through a Stream and returns the events after each.
func feed(t *testing.T, s *Stream, payloads []string) (perChunk [][]string, all []string) {
	t.Helper()
	for _, p := range payloads {
		out, err := s.Append(nil, []byte(p))
		if err != nil {
			t.Fatalf("Append(%s): %v", p, err)
		}
		evs := events(t, out)
		perChunk = append(perChunk, evs)
		all = append(all, evs...)
	}
	return perChunk, all
}

// An OpenAI stream with text, two tool calls whose fragments interleave,
// the finish chunk, then the include_usage chunk with empty choices.
var openAIToolStream = []string{
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Checking both."},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_A","type":"function","function":{"name":"get_weather","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_B","type":"function","function":{"name":"get_time","arguments":""}}]},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"{\"tz\":\"Europe/"}}]},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"function":{"arguments":"Paris\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null}`,
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null}`,
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":80,"completion_tokens":40,"total_tokens":120,"prompt_tokens_details":{"cached_tokens":64},"completion_tokens_details":{"reasoning_tokens":0}}}`,
	`[DONE]`,
}

func TestStreamInterleavedToolCallsAndTrailingUsage(t *testing.T) {
	s := NewStream("gemini-2.5-flash")
	if !s.Empty() {
		t.Fatal("a new stream is not empty")
	}
	per, all := feed(t, s, openAIToolStream)
	for i, n := range []int{0, 1, 0, 0, 0, 0, 0, 0, 1, 1, 0} {
		if len(per[i]) != n {
			t.Errorf("chunk %d gave %d events, want %d: %q", i, len(per[i]), n, per[i])
		}
	}
	want := []string{
		`{"candidates":[{"content":{"parts":[{"text":"Checking both."}],"role":"model"},"index":0}],"modelVersion":"gemini-2.5-flash","responseId":"chatcmpl-1"}`,
		`{"candidates":[{"content":{"parts":[{"functionCall":{"id":"call_A","name":"get_weather","args":{"city":"Paris"}}},{"functionCall":{"id":"call_B","name":"get_time","args":{"tz":"Europe/Paris"}}}],"role":"model"},"index":0}],"modelVersion":"gemini-2.5-flash","responseId":"chatcmpl-1"}`,
		`{"candidates":[{"content":{"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":80,"candidatesTokenCount":40,"totalTokenCount":120,"cachedContentTokenCount":64},"modelVersion":"gemini-2.5-flash","responseId":"chatcmpl-1"}`,
	}
	if len(all) != len(want) {
		t.Fatalf("got %d events, want %d:\n%s", len(all), len(want), strings.Join(all, "\n"))
	}
	for i := range want {
		jsonEqual(t, []byte(all[i]), want[i])
	}
	if s.Empty() {
		t.Error("Empty after text and calls")
	}
	if out, err := s.Append(nil, []byte(`{"choices":[{"index":0,"delta":{"content":"late"}}]}`)); err != nil || len(out) != 0 {
		t.Errorf("after the end: %q, %v", out, err)
	}
}

// Sequential calls (OpenAI's usual order) go out as soon as the next index
// starts; the last at finish.
func TestStreamSequentialToolCallsGoEarly(t *testing.T) {
	s := NewStream("m")
	per, _ := feed(t, s, []string{
		`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{\"x\""}}]}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":":1}"}}]}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"g","arguments":"{}"}}]}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
	})
	if len(per[2]) != 1 || !strings.Contains(per[2][0], `"functionCall":{"id":"a","name":"f","args":{"x":1}}`) || strings.Contains(per[2][0], `"g"`) {
		t.Fatalf("first call not sent when the second started: %q", per[2])
	}
	if len(per[3]) != 1 || !strings.Contains(per[3][0], `"functionCall":{"id":"b","name":"g","args":{}}`) || strings.Contains(per[3][0], "finishReason") {
		t.Fatalf("second call at finish: %q", per[3])
	}
	out, err := s.Append(nil, []byte("[DONE]"))
	if err != nil {
		t.Fatal(err)
	}
	evs := events(t, out)
	if len(evs) != 1 {
		t.Fatalf("[DONE] gave %q", evs)
	}
	jsonEqual(t, []byte(evs[0]), `{"candidates":[{"content":{"role":"model"},"finishReason":"STOP","index":0}],"modelVersion":"m","responseId":"c"}`)
}

// DeepSeek sends reasoning_content deltas, then content, and usage with the
// finish chunk.
func TestStreamDeepSeekReasoningUsageWithFinish(t *testing.T) {
	s := NewStream("gemini-2.5-pro")
	per, all := feed(t, s, []string{
		`data: {"id":"d1","object":"chat.completion.chunk","created":1,"model":"deepseek-reasoner","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":null,"reasoning_content":""},"logprobs":null,"finish_reason":null}]}`,
		`{"id":"d1","object":"chat.completion.chunk","created":1,"model":"deepseek-reasoner","choices":[{"index":0,"delta":{"content":null,"reasoning_content":"Compare tenths."},"logprobs":null,"finish_reason":null}]}`,
		`: keep-alive`,
		``,
		`{"id":"d1","object":"chat.completion.chunk","created":1,"model":"deepseek-reasoner","choices":[{"index":0,"delta":{"content":"9.8","reasoning_content":null},"logprobs":null,"finish_reason":null}]}`,
		`{"id":"d1","object":"chat.completion.chunk","created":1,"model":"deepseek-reasoner","choices":[{"index":0,"delta":{"content":" is larger.","reasoning_content":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":16,"completion_tokens":30,"total_tokens":46,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":25},"prompt_cache_hit_tokens":0,"prompt_cache_miss_tokens":16}}`,
		`[DONE]`,
	})
	if len(per[0]) != 0 || len(per[1]) != 1 || len(per[2]) != 0 || len(per[3]) != 0 {
		t.Fatalf("events: %q", per)
	}
	want := []string{
		`{"candidates":[{"content":{"parts":[{"text":"Compare tenths.","thought":true}],"role":"model"},"index":0}],"modelVersion":"gemini-2.5-pro","responseId":"d1"}`,
		`{"candidates":[{"content":{"parts":[{"text":"9.8"}],"role":"model"},"index":0}],"modelVersion":"gemini-2.5-pro","responseId":"d1"}`,
		`{"candidates":[{"content":{"parts":[{"text":" is larger."}],"role":"model"},"index":0}],"modelVersion":"gemini-2.5-pro","responseId":"d1"}`,
		`{"candidates":[{"content":{"role":"model"},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":16,"candidatesTokenCount":5,"thoughtsTokenCount":25,"totalTokenCount":46},"modelVersion":"gemini-2.5-pro","responseId":"d1"}`,
	}
	if len(all) != len(want) {
		t.Fatalf("got %d events:\n%s", len(all), strings.Join(all, "\n"))
	}
	for i := range want {
		jsonEqual(t, []byte(all[i]), want[i])
	}
	if len(per[len(per)-1]) != 0 {
		t.Error("[DONE] after the last event added one")
	}
}

func TestStreamEmptyUntilVisible(t *testing.T) {
	s := NewStream("m")
	feed(t, s, []string{`{"id":"e","choices":[{"index":0,"delta":{"reasoning_content":"hmm"}}]}`})
	if !s.Empty() {
		t.Error("thoughts made the stream non-empty")
	}
	feed(t, s, []string{`{"id":"e","choices":[{"index":0,"delta":{"content":"x"}}]}`})
	if s.Empty() {
		t.Error("text left the stream empty")
	}
}

func TestStreamCloseWithoutDone(t *testing.T) {
	s := NewStream("m")
	feed(t, s, []string{
		`{"id":"e","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{\"k\":"}}]}}]}`,
		`{"id":"e","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"2}"}}]}}]}`,
	})
	out, err := s.Close(nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := events(t, out)
	if len(evs) != 2 {
		t.Fatalf("Close gave %q", evs)
	}
	jsonEqual(t, []byte(evs[0]), `{"candidates":[{"content":{"parts":[{"functionCall":{"id":"a","name":"f","args":{"k":2}}}],"role":"model"},"index":0}],"modelVersion":"m","responseId":"e"}`)
	jsonEqual(t, []byte(evs[1]), `{"candidates":[{"content":{"role":"model"},"finishReason":"STOP","index":0}],"modelVersion":"m","responseId":"e"}`)
	if out, _ := s.Close(nil); len(out) != 0 {
		t.Error("second Close appended")
	}
}

func TestStreamNothingThenDone(t *testing.T) {
	s := NewStream("m")
	out, err := s.Append(nil, []byte("[DONE]"))
	if err != nil {
		t.Fatal(err)
	}
	evs := events(t, out)
	if len(evs) != 1 || !s.Empty() {
		t.Fatalf("%q", evs)
	}
	jsonEqual(t, []byte(evs[0]), `{"candidates":[{"content":{"role":"model"},"finishReason":"STOP","index":0}],"modelVersion":"m","responseId":""}`)
}

func TestStreamTwoChoices(t *testing.T) {
	s := NewStream("m")
	_, all := feed(t, s, []string{
		`{"id":"n","choices":[{"index":0,"delta":{"content":"A"}},{"index":1,"delta":{"content":"B"}}]}`,
		`{"id":"n","choices":[{"index":1,"delta":{},"finish_reason":"length"}]}`,
		`{"id":"n","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}`,
		`{"id":"n","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
	})
	want := []string{
		`{"candidates":[{"content":{"parts":[{"text":"A"}],"role":"model"},"index":0},{"content":{"parts":[{"text":"B"}],"role":"model"},"index":1}],"modelVersion":"m","responseId":"n"}`,
		`{"candidates":[{"content":{"role":"model"},"finishReason":"STOP","index":0},{"content":{"role":"model"},"finishReason":"MAX_TOKENS","index":1}],"usageMetadata":{"promptTokenCount":1,"candidatesTokenCount":2,"totalTokenCount":3},"modelVersion":"m","responseId":"n"}`,
	}
	if len(all) != len(want) {
		t.Fatalf("got %q", all)
	}
	for i := range want {
		jsonEqual(t, []byte(all[i]), want[i])
	}
}

func TestStreamErrors(t *testing.T) {
	for _, tc := range []struct {
		chunks   []string
		code     string
		provider bool
	}{
		{[]string{`{"error":{"message":"Rate limit reached for gpt-4o","type":"requests","code":"rate_limit_exceeded"}}`}, `"code":500`, true},
		{[]string{`{"error":{"message":"overloaded","code":503}}`}, `"code":503`, true},
		{[]string{`not json`}, `"code":502`, false},
		{[]string{`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{oops"}}]},"finish_reason":"tool_calls"}]}`}, `"code":502`, false},
		{[]string{
			`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"a","function":{"name":"f","arguments":"{}"}}]}}]}`,
			`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"b","function":{"name":"g","arguments":"{}"}}]}}]}`,
			`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"more"}}]}}]}`,
		}, `"code":502`, false},
	} {
		s := NewStream("m")
		var out []byte
		var err error
		for _, c := range tc.chunks {
			if out, err = s.Append(nil, []byte(c)); err != nil {
				break
			}
		}
		if err == nil {
			t.Errorf("%q: no error", tc.chunks)
			continue
		}
		var se *StreamError
		if errors.As(err, &se) != tc.provider || !tc.provider && !errors.Is(err, ErrBadAnswer) {
			t.Errorf("%q: error %T %v", tc.chunks, err, err)
		}
		evs := events(t, out)
		if n := len(evs); n == 0 || !strings.HasPrefix(evs[n-1], `{"error":{`) || !strings.Contains(evs[n-1], tc.code) {
			t.Errorf("%q: events %q", tc.chunks, evs)
		}
		if more, err := s.Append(nil, []byte("[DONE]")); len(more) != 0 || err != nil {
			t.Errorf("after an error: %q %v", more, err)
		}
	}
}

// The project's own SSE reader (the native relay's) reads the events back
// one by one.
func TestStreamEventsReadByGeminiReader(t *testing.T) {
	s := NewStream("m")
	var out []byte
	for _, c := range openAIToolStream {
		out, _ = s.Append(out, []byte(c))
	}
	r := bufio.NewReader(bytes.NewReader(out))
	n := 0
	for {
		ev, err := gemini.ReadEvent(r)
		if len(bytes.TrimSpace(ev)) > 0 {
			if !json.Valid(gemini.EventData(ev)) {
				t.Fatalf("event %d: %q", n, ev)
			}
			n++
		}
		if err != nil {
			break
		}
	}
	if n != 3 {
		t.Fatalf("read %d events", n)
	}
	if u, ok := gemini.FindUsage(out); !ok || u.TotalTokenCount != 120 || u.PromptTokenCount != 80 {
		t.Errorf("FindUsage = %+v, %v", u, ok)
	}
}
