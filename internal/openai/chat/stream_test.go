package chat

import (
	"errors"
	"strings"
	"testing"
)

const chunkHead = `"id":"chatcmpl-test","object":"chat.completion.chunk","created":1700000000,"model":"gemini-2.5-flash-search"`

func chunkWant(choice string) string {
	return `{` + chunkHead + `,"choices":[` + choice + `]}`
}

// runStream feeds events and Finish, returning every chunk.
func runStream(t *testing.T, s *Stream, events ...string) [][]byte {
	t.Helper()
	var out [][]byte
	for _, ev := range events {
		cs, err := s.Event([]byte(ev))
		if err != nil {
			t.Fatalf("Event(%s): %v", ev, err)
		}
		out = append(out, cs...)
	}
	return append(out, s.Finish()...)
}

func checkChunks(t *testing.T, got [][]byte, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		var b strings.Builder
		for _, g := range got {
			b.WriteString("\n  ")
			b.Write(g)
		}
		t.Fatalf("%d chunks, want %d:%s", len(got), len(want), b.String())
	}
	for i := range got {
		jsonEqual(t, got[i], want[i])
	}
}

func TestStreamText(t *testing.T) {
	s := NewStream(opts, true)
	got := runStream(t, s,
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]},"index":0}],"usageMetadata":{"promptTokenCount":4,"totalTokenCount":4},"responseId":"r"}`,
		`{"usageMetadata":{"promptTokenCount":4,"totalTokenCount":4},"responseId":"r"}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"text":""}]}}],"responseId":"r"}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"lo"}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,"thoughtsTokenCount":3,"totalTokenCount":9},"responseId":"r"}`,
	)
	checkChunks(t, got,
		chunkWant(`{"index":0,"delta":{"role":"assistant","content":"Hel"},"logprobs":null,"finish_reason":null}`),
		chunkWant(`{"index":0,"delta":{"content":"lo"},"logprobs":null,"finish_reason":"stop"}`),
		`{`+chunkHead+`,"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":5,"total_tokens":9,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":3}}}`,
	)
	if s.Empty() {
		t.Error("Empty after text")
	}
}

func TestStreamNoUsageChunkUnlessAsked(t *testing.T) {
	got := runStream(t, NewStream(opts, false), `{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}],"usageMetadata":{"totalTokenCount":9}}`)
	checkChunks(t, got, chunkWant(`{"index":0,"delta":{"role":"assistant","content":"x"},"logprobs":null,"finish_reason":"stop"}`))
}

func TestStreamThoughts(t *testing.T) {
	events := []string{
		`{"candidates":[{"content":{"parts":[{"text":"pondering","thought":true}]}}]}`,
		`{"candidates":[{"content":{"parts":[{"text":"answer"}]},"finishReason":"STOP"}]}`,
	}
	hidden := NewStream(opts, false)
	got := runStream(t, hidden, events[0])
	// A thought alone, hidden, yields nothing until the end.
	checkChunks(t, got, chunkWant(`{"index":0,"delta":{"role":"assistant"},"logprobs":null,"finish_reason":"stop"}`))
	if !hidden.Empty() {
		t.Error("thoughts alone are not empty")
	}

	o := opts
	o.ShowThinking = true
	shown := NewStream(o, false)
	got = runStream(t, shown, events...)
	checkChunks(t, got,
		chunkWant(`{"index":0,"delta":{"role":"assistant","reasoning_content":"pondering"},"logprobs":null,"finish_reason":null}`),
		chunkWant(`{"index":0,"delta":{"content":"answer"},"logprobs":null,"finish_reason":"stop"}`),
	)
}

func TestStreamToolCalls(t *testing.T) {
	s := NewStream(opts, false)
	got := runStream(t, s,
		`{"candidates":[{"content":{"parts":[{"text":"Checking both."}]}}],"responseId":"resp-9"}`,
		`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"a","args":{"x":1}},"thoughtSignature":"U0lH"}]}}],"responseId":"resp-9"}`,
		`{"candidates":[{"content":{"parts":[{"functionCall":{"id":"g2","name":"b","args":{}}}]}}],"responseId":"resp-9"}`,
		`{"candidates":[{"content":{"parts":[{"text":""}]},"finishReason":"STOP"}],"responseId":"resp-9"}`,
	)
	checkChunks(t, got,
		chunkWant(`{"index":0,"delta":{"role":"assistant","content":"Checking both."},"logprobs":null,"finish_reason":null}`),
		chunkWant(`{"index":0,"delta":{"tool_calls":[{"index":0,"id":"`+callID("", "resp-9", 0, 0)+`","type":"function","function":{"name":"a","arguments":"{\"x\":1}"},"extra_content":{"google":{"thought_signature":"U0lH"}}}]},"logprobs":null,"finish_reason":null}`),
		chunkWant(`{"index":0,"delta":{"tool_calls":[{"index":1,"id":"g2","type":"function","function":{"name":"b","arguments":"{}"}}]},"logprobs":null,"finish_reason":null}`),
		chunkWant(`{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}`),
	)
}

// The stream gives a call the same id as the non-stream answer would.
func TestStreamToolCallIDsMatchNonStream(t *testing.T) {
	g := `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"a","args":{}}},{"functionCall":{"name":"b","args":{}}}]},"finishReason":"STOP"}],"responseId":"rid"}`
	full, _ := FromGemini([]byte(g), opts)
	s := NewStream(opts, false)
	cs, _ := s.Event([]byte(g))
	for i := 0; i < 2; i++ {
		if a, b := field(t, full, "choices", 0, "message", "tool_calls", i, "id"), field(t, cs[0], "choices", 0, "delta", "tool_calls", i, "id"); a != b {
			t.Errorf("call %d: %v vs %v", i, a, b)
		}
	}
	if fr := field(t, cs[0], "choices", 0, "finish_reason"); fr != "tool_calls" {
		t.Errorf("finish_reason %v", fr)
	}
}

func TestStreamFinishWithoutReason(t *testing.T) {
	got := runStream(t, NewStream(opts, true), `{"candidates":[{"content":{"parts":[{"text":"cut"}]}}]}`)
	checkChunks(t, got,
		chunkWant(`{"index":0,"delta":{"role":"assistant","content":"cut"},"logprobs":null,"finish_reason":null}`),
		chunkWant(`{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}`),
		`{`+chunkHead+`,"choices":[],`+zeroUsage+`}`,
	)
}

func TestStreamNothingAtAll(t *testing.T) {
	s := NewStream(opts, false)
	got := runStream(t, s)
	checkChunks(t, got, chunkWant(`{"index":0,"delta":{"role":"assistant"},"logprobs":null,"finish_reason":"stop"}`))
	if !s.Empty() {
		t.Error("not Empty")
	}
	if again := s.Finish(); again != nil {
		t.Errorf("second Finish: %q", again)
	}
	if cs, err := s.Event([]byte(`{"candidates":[{"content":{"parts":[{"text":"late"}]}}]}`)); cs != nil || err != nil {
		t.Errorf("Event after Finish: %q %v", cs, err)
	}
}

func TestStreamBlockedPrompt(t *testing.T) {
	s := NewStream(opts, true)
	got := runStream(t, s, `{"promptFeedback":{"blockReason":"SAFETY","blockReasonMessage":"unsafe"},"usageMetadata":{"promptTokenCount":6,"totalTokenCount":6}}`)
	checkChunks(t, got,
		chunkWant(`{"index":0,"delta":{"role":"assistant","refusal":"The prompt was blocked by Gemini (SAFETY): unsafe"},"logprobs":null,"finish_reason":"content_filter"}`),
		`{`+chunkHead+`,"choices":[],"usage":{"prompt_tokens":6,"completion_tokens":0,"total_tokens":6,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
	)
	if s.Empty() {
		t.Error("a blocked prompt is not Empty (no retry)")
	}
}

func TestStreamSafetyStop(t *testing.T) {
	s := NewStream(opts, false)
	got := runStream(t, s, `{"candidates":[{"content":{"parts":[{"text":"Part"}]}}]}`, `{"candidates":[{"finishReason":"RECITATION"}]}`)
	checkChunks(t, got,
		chunkWant(`{"index":0,"delta":{"role":"assistant","content":"Part"},"logprobs":null,"finish_reason":null}`),
		chunkWant(`{"index":0,"delta":{},"logprobs":null,"finish_reason":"content_filter"}`),
	)
	s2 := NewStream(opts, false)
	got = runStream(t, s2, `{"candidates":[{"finishReason":"SAFETY"}]}`)
	checkChunks(t, got, chunkWant(`{"index":0,"delta":{"role":"assistant","refusal":"The response was blocked by Gemini (SAFETY)"},"logprobs":null,"finish_reason":"content_filter"}`))
	if s2.Empty() {
		t.Error("safety stop is not Empty")
	}
}

func TestStreamSearchLinksAndImages(t *testing.T) {
	o := opts
	o.ShowSearchLinks, o.ImagesAsMarkdown = true, true
	got := runStream(t, NewStream(o, false),
		`{"candidates":[{"content":{"parts":[{"text":"Look"}]}}]}`,
		`{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"iVBO"}}]}}]}`,
		`{"candidates":[{"content":{"parts":[{"text":"Done"}]},"finishReason":"STOP","groundingMetadata":{"groundingChunks":[{"web":{"uri":"https://a.test","title":"A"}}]}}]}`,
		`{"candidates":[{"groundingMetadata":{"groundingChunks":[{"web":{"uri":"https://a.test","title":"A"}},{"web":{"uri":"https://b.test","title":"B"}}]}}]}`,
	)
	checkChunks(t, got,
		chunkWant(`{"index":0,"delta":{"role":"assistant","content":"Look"},"logprobs":null,"finish_reason":null}`),
		chunkWant(`{"index":0,"delta":{"content":"\n\n![image](data:image/png;base64,iVBO)"},"logprobs":null,"finish_reason":null}`),
		chunkWant(`{"index":0,"delta":{"content":"\n\nDone\n\n**Sources**\n- [A](https://a.test)"},"logprobs":null,"finish_reason":"stop"}`),
		chunkWant(`{"index":0,"delta":{"content":"\n- [B](https://b.test)"},"logprobs":null,"finish_reason":null}`),
	)
}

func TestStreamCandidates(t *testing.T) {
	got := runStream(t, NewStream(opts, false),
		`{"candidates":[{"content":{"parts":[{"text":"A"}]},"index":0},{"content":{"parts":[{"text":"B"}]},"index":1}]}`,
		`{"candidates":[{"content":{"parts":[{"text":"b"}]},"index":1,"finishReason":"STOP"}]}`,
	)
	checkChunks(t, got,
		chunkWant(`{"index":0,"delta":{"role":"assistant","content":"A"},"logprobs":null,"finish_reason":null}`),
		chunkWant(`{"index":1,"delta":{"role":"assistant","content":"B"},"logprobs":null,"finish_reason":null}`),
		chunkWant(`{"index":1,"delta":{"content":"b"},"logprobs":null,"finish_reason":"stop"}`),
		chunkWant(`{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}`),
	)
}

func TestStreamSignatureOnly(t *testing.T) {
	got := runStream(t, NewStream(opts, false),
		`data: {"candidates":[{"content":{"parts":[{"text":"Hi"}]}}]}`,
		`{"candidates":[{"content":{"parts":[{"text":"","thoughtSignature":"U0lH"}]},"finishReason":"STOP"}]}`,
	)
	checkChunks(t, got,
		chunkWant(`{"index":0,"delta":{"role":"assistant","content":"Hi"},"logprobs":null,"finish_reason":null}`),
		chunkWant(`{"index":0,"delta":{"extra_content":{"google":{"thought_signature":"U0lH"}}},"logprobs":null,"finish_reason":"stop"}`),
	)
}

func TestStreamErrors(t *testing.T) {
	s := NewStream(opts, false)
	_, err := s.Event([]byte(`{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}`))
	var ue *UpstreamError
	if !errors.As(err, &ue) || ue.Code != 503 {
		t.Errorf("err = %v", err)
	}
	if _, err := s.Event([]byte(`{"candidates":[`)); err == nil {
		t.Error("truncated event decoded")
	}
	if !s.Empty() {
		t.Error("errors made the stream non-empty")
	}
}
