package chat

import (
	"errors"
	"regexp"
	"strings"
	"testing"
)

var opts = ResponseOptions{ID: "chatcmpl-test", Created: 1700000000, Model: "gemini-2.5-flash-search"}

const head = `"id":"chatcmpl-test","object":"chat.completion","created":1700000000,"model":"gemini-2.5-flash-search"`

const zeroUsage = `"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}`

func TestFromGemini(t *testing.T) {
	cases := []struct {
		name   string
		o      func(*ResponseOptions)
		gemini string
		want   string
	}{
		{
			name:   "text parts join; usage",
			gemini: `{"candidates":[{"content":{"role":"model","parts":[{"text":"Hello, "},{"text":"world"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"thoughtsTokenCount":7,"cachedContentTokenCount":4,"toolUsePromptTokenCount":3,"totalTokenCount":25},"modelVersion":"gemini-2.5-flash","responseId":"r1"}`,
			want:   `{` + head + `,"choices":[{"index":0,"message":{"role":"assistant","content":"Hello, world"},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":13,"completion_tokens":12,"total_tokens":25,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":7}}}`,
		},
		{
			name:   "thoughts are dropped unless shown",
			gemini: `{"candidates":[{"content":{"parts":[{"text":"Let me think","thought":true},{"text":"42"}]},"finishReason":"STOP"}]}`,
			want:   `{` + head + `,"choices":[{"index":0,"message":{"role":"assistant","content":"42"},"logprobs":null,"finish_reason":"stop"}],` + zeroUsage + `}`,
		},
		{
			name:   "thoughts shown as reasoning_content",
			o:      func(o *ResponseOptions) { o.ShowThinking = true },
			gemini: `{"candidates":[{"content":{"parts":[{"text":"Let me ","thought":true},{"text":"think","thought":true},{"text":"42"}]},"finishReason":"STOP"}]}`,
			want:   `{` + head + `,"choices":[{"index":0,"message":{"role":"assistant","content":"42","reasoning_content":"Let me think"},"logprobs":null,"finish_reason":"stop"}],` + zeroUsage + `}`,
		},
		{
			name:   "function calls become tool_calls",
			gemini: `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris","days":[1, 2]}},"thoughtSignature":"U0lH"},{"functionCall":{"id":"fc-7","name":"get_time"}}]},"finishReason":"STOP"}],"responseId":"resp-1"}`,
			want: `{` + head + `,"choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
				{"id":"` + callID("", "resp-1", 0, 0) + `","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"days\":[1,2]}"},"extra_content":{"google":{"thought_signature":"U0lH"}}},
				{"id":"fc-7","type":"function","function":{"name":"get_time","arguments":"{}"}}]},"logprobs":null,"finish_reason":"tool_calls"}],` + zeroUsage + `}`,
		},
		{
			name:   "text with a signature and a call",
			gemini: `{"candidates":[{"content":{"parts":[{"text":"Checking."},{"text":"","thoughtSignature":"VFhU"},{"functionCall":{"id":"a","name":"f","args":{}}}]},"finishReason":"STOP"}]}`,
			want:   `{` + head + `,"choices":[{"index":0,"message":{"role":"assistant","content":"Checking.","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}],"extra_content":{"google":{"thought_signature":"VFhU"}}},"logprobs":null,"finish_reason":"tool_calls"}],` + zeroUsage + `}`,
		},
		{
			name:   "length",
			gemini: `{"candidates":[{"content":{"parts":[{"text":"Once upon"}]},"finishReason":"MAX_TOKENS"}]}`,
			want:   `{` + head + `,"choices":[{"index":0,"message":{"role":"assistant","content":"Once upon"},"logprobs":null,"finish_reason":"length"}],` + zeroUsage + `}`,
		},
		{
			name:   "safety stop without content has a refusal",
			gemini: `{"candidates":[{"finishReason":"SAFETY","finishMessage":"harassment","safetyRatings":[]}]}`,
			want:   `{` + head + `,"choices":[{"index":0,"message":{"role":"assistant","content":"","refusal":"The response was blocked by Gemini (SAFETY): harassment"},"logprobs":null,"finish_reason":"content_filter"}],` + zeroUsage + `}`,
		},
		{
			name:   "blocked prompt",
			gemini: `{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":8,"totalTokenCount":8}}`,
			want:   `{` + head + `,"choices":[{"index":0,"message":{"role":"assistant","content":"","refusal":"The prompt was blocked by Gemini (PROHIBITED_CONTENT)"},"logprobs":null,"finish_reason":"content_filter"}],"usage":{"prompt_tokens":8,"completion_tokens":0,"total_tokens":8,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
		},
		{
			name:   "no candidates at all",
			gemini: `{"usageMetadata":{"promptTokenCount":8}}`,
			want:   `{` + head + `,"choices":[{"index":0,"message":{"role":"assistant","content":""},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":8,"completion_tokens":0,"total_tokens":8,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":0}}}`,
		},
		{
			name:   "images as markdown",
			o:      func(o *ResponseOptions) { o.ImagesAsMarkdown = true },
			gemini: `{"candidates":[{"content":{"parts":[{"text":"Here:"},{"inlineData":{"mimeType":"image/png","data":"iVBO"}},{"inlineData":{"mimeType":"image/jpeg","data":"/9j/"}},{"text":"Enjoy"}]},"finishReason":"STOP"}]}`,
			want:   `{` + head + `,"choices":[{"index":0,"message":{"role":"assistant","content":"Here:\n\n![image](data:image/png;base64,iVBO)\n\n![image](data:image/jpeg;base64,/9j/)\n\nEnjoy"},"logprobs":null,"finish_reason":"stop"}],` + zeroUsage + `}`,
		},
		{
			name:   "images dropped otherwise",
			gemini: `{"candidates":[{"content":{"parts":[{"text":"Here:"},{"inlineData":{"mimeType":"image/png","data":"iVBO"}}]},"finishReason":"STOP"}]}`,
			want:   `{` + head + `,"choices":[{"index":0,"message":{"role":"assistant","content":"Here:"},"logprobs":null,"finish_reason":"stop"}],` + zeroUsage + `}`,
		},
		{
			name:   "code execution as fenced blocks",
			gemini: `{"candidates":[{"content":{"parts":[{"text":"Computing"},{"executableCode":{"language":"PYTHON","code":"print(2+2)"}},{"codeExecutionResult":{"outcome":"OUTCOME_OK","output":"4\n"}},{"text":"It is 4."}]},"finishReason":"STOP"}]}`,
			want:   `{` + head + `,"choices":[{"index":0,"message":{"role":"assistant","content":"Computing\n\n` + "```python\\nprint(2+2)\\n```" + `\n\n` + "```\\n4\\n\\n```" + `\n\nIt is 4."},"logprobs":null,"finish_reason":"stop"}],` + zeroUsage + `}`,
		},
		{
			name:   "search links",
			o:      func(o *ResponseOptions) { o.ShowSearchLinks = true },
			gemini: `{"candidates":[{"content":{"parts":[{"text":"It rains."}]},"finishReason":"STOP","groundingMetadata":{"webSearchQueries":["rain"],"groundingChunks":[{"web":{"uri":"https://a.test/x","title":"A [news]"}},{"web":{"uri":"https://b.test/(y)"}},{"web":{"uri":"https://a.test/x","title":"dup"}},{"retrievedContext":{}}]}}]}`,
			want:   `{` + head + `,"choices":[{"index":0,"message":{"role":"assistant","content":"It rains.\n\n**Sources**\n- [A \\[news\\]](https://a.test/x)\n- [https://b.test/(y)](https://b.test/%28y%29)"},"logprobs":null,"finish_reason":"stop"}],` + zeroUsage + `}`,
		},
		{
			name:   "search links off",
			gemini: `{"candidates":[{"content":{"parts":[{"text":"It rains."}]},"finishReason":"STOP","groundingMetadata":{"groundingChunks":[{"web":{"uri":"https://a.test/x","title":"A"}}]}}]}`,
			want:   `{` + head + `,"choices":[{"index":0,"message":{"role":"assistant","content":"It rains."},"logprobs":null,"finish_reason":"stop"}],` + zeroUsage + `}`,
		},
		{
			name:   "candidates become choices by index",
			gemini: `{"candidates":[{"content":{"parts":[{"text":"B"}]},"finishReason":"MAX_TOKENS","index":1},{"content":{"parts":[{"text":"A"}]},"finishReason":"STOP"}]}`,
			want:   `{` + head + `,"choices":[{"index":0,"message":{"role":"assistant","content":"A"},"logprobs":null,"finish_reason":"stop"},{"index":1,"message":{"role":"assistant","content":"B"},"logprobs":null,"finish_reason":"length"}],` + zeroUsage + `}`,
		},
		{
			name:   "candidates without indexes keep their order",
			gemini: `{"candidates":[{"content":{"parts":[{"text":"A"}]}},{"content":{"parts":[{"text":"B"}]}}]}`,
			want:   `{` + head + `,"choices":[{"index":0,"message":{"role":"assistant","content":"A"},"logprobs":null,"finish_reason":"stop"},{"index":1,"message":{"role":"assistant","content":"B"},"logprobs":null,"finish_reason":"stop"}],` + zeroUsage + `}`,
		},
		{
			name:   "html stays unescaped",
			gemini: `{"candidates":[{"content":{"parts":[{"text":"<b>a & b</b>"}]},"finishReason":"STOP"}]}`,
			want:   `{` + head + `,"choices":[{"index":0,"message":{"role":"assistant","content":"<b>a & b</b>"},"logprobs":null,"finish_reason":"stop"}],` + zeroUsage + `}`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			o := opts
			if c.o != nil {
				c.o(&o)
			}
			got, err := FromGemini([]byte(c.gemini), o)
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, got, c.want)
		})
	}
}

func TestFinishReasons(t *testing.T) {
	for gemini, want := range map[string][2]string{
		"STOP":                      {"stop", "tool_calls"},
		"":                          {"stop", "tool_calls"},
		"MAX_TOKENS":                {"length", "length"},
		"SAFETY":                    {"content_filter", "content_filter"},
		"RECITATION":                {"content_filter", "content_filter"},
		"BLOCKLIST":                 {"content_filter", "content_filter"},
		"PROHIBITED_CONTENT":        {"content_filter", "content_filter"},
		"SPII":                      {"content_filter", "content_filter"},
		"IMAGE_SAFETY":              {"content_filter", "content_filter"},
		"IMAGE_PROHIBITED_CONTENT":  {"content_filter", "content_filter"},
		"LANGUAGE":                  {"stop", "tool_calls"},
		"OTHER":                     {"stop", "tool_calls"},
		"MALFORMED_FUNCTION_CALL":   {"stop", "tool_calls"},
		"FINISH_REASON_UNSPECIFIED": {"stop", "tool_calls"},
	} {
		if got := finishReason(gemini, false); got != want[0] {
			t.Errorf("%s: %s, want %s", gemini, got, want[0])
		}
		if got := finishReason(gemini, true); got != want[1] {
			t.Errorf("%s with tool calls: %s, want %s", gemini, got, want[1])
		}
	}
}

func TestToolCallIDs(t *testing.T) {
	g := []byte(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{}}},{"functionCall":{"name":"f","args":{}}}]}}],"responseId":"same"}`)
	a, _ := FromGemini(g, opts)
	b, _ := FromGemini(g, ResponseOptions{ID: "chatcmpl-other"})
	id0, id1 := field(t, a, "choices", 0, "message", "tool_calls", 0, "id"), field(t, a, "choices", 0, "message", "tool_calls", 1, "id")
	if id0 != field(t, b, "choices", 0, "message", "tool_calls", 0, "id") {
		t.Error("ids differ for the same responseId")
	}
	re := regexp.MustCompile(`^call_[0-9a-f]{24}$`)
	for _, id := range []any{id0, id1} {
		if s, _ := id.(string); !re.MatchString(s) || !generatedCallID(s) {
			t.Errorf("id %v is not call_ + 24 hex", id)
		}
	}
	if id0 == id1 {
		t.Error("two calls share an id")
	}
	// Without a responseId the completion id seeds them.
	g2 := []byte(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f"}}]}}]}`)
	c, _ := FromGemini(g2, opts)
	d, _ := FromGemini(g2, ResponseOptions{ID: "chatcmpl-other"})
	if field(t, c, "choices", 0, "message", "tool_calls", 0, "id") == field(t, d, "choices", 0, "message", "tool_calls", 0, "id") {
		t.Error("ids without responseId do not follow the completion id")
	}
	// Odd Gemini ids are replaced.
	for _, bad := range []string{`"has space"`, `"` + strings.Repeat("x", 65) + `"`, `"quote\""`} {
		e, _ := FromGemini([]byte(`{"candidates":[{"content":{"parts":[{"functionCall":{"id":`+bad+`,"name":"f"}}]}}]}`), opts)
		if s, _ := field(t, e, "choices", 0, "message", "tool_calls", 0, "id").(string); !generatedCallID(s) {
			t.Errorf("gemini id %s kept as %q", bad, s)
		}
	}
}

func TestFromGeminiErrors(t *testing.T) {
	_, err := FromGemini([]byte(`{"error":{"code":429,"message":"quota","status":"RESOURCE_EXHAUSTED"}}`), opts)
	var ue *UpstreamError
	if !errors.As(err, &ue) || ue.Code != 429 || ue.Status != "RESOURCE_EXHAUSTED" {
		t.Errorf("err = %v", err)
	}
	if _, err := FromGemini([]byte(`{"candidates":`), opts); err == nil {
		t.Error("truncated body decoded")
	}
	if _, err := FromGemini([]byte(`{"candidates":[{"content":{"parts":[{"text":5}]}}]}`), opts); err == nil {
		t.Error("wrong types decoded")
	}
}

func TestEmptyResponse(t *testing.T) {
	for body, want := range map[string]bool{
		`{"candidates":[{"content":{"parts":[{"text":"hi"}]},"finishReason":"STOP"}]}`:                       false,
		`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f"}}]}}]}`:                             false,
		`{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AA"}}]}}]}`:       false,
		`{"promptFeedback":{"blockReason":"SAFETY"}}`:                                                        false,
		`{"candidates":[{"finishReason":"SAFETY"}]}`:                                                         false,
		`{"candidates":[{"content":{"parts":[{"text":""}]},"finishReason":"STOP"}]}`:                         true,
		`{"candidates":[{"content":{"parts":[{"text":"hmm","thought":true}]},"finishReason":"MAX_TOKENS"}]}`: true,
		`{"candidates":[{"finishReason":"STOP"}]}`:                                                           true,
		`{"usageMetadata":{"promptTokenCount":3}}`:                                                           true,
		`not json`: false,
	} {
		if got := EmptyResponse([]byte(body)); got != want {
			t.Errorf("EmptyResponse(%s) = %v, want %v", body, got, want)
		}
	}
}
