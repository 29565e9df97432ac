package fromopenai

import (
	"errors"
	"testing"
)

// Answers written after the providers' public API references.
const (
	openAIAnswer = `{
  "id": "chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT",
  "object": "chat.completion",
  "created": 1741569952,
  "model": "gpt-4.1-2025-04-14",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "Hello! How can I assist you today?",
        "refusal": null,
        "annotations": []
      },
      "logprobs": null,
      "finish_reason": "stop"
    }
  ],
  "usage": {
    "prompt_tokens": 19,
    "completion_tokens": 10,
    "total_tokens": 29,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}
  },
  "service_tier": "default",
  "system_fingerprint": "fp_50cad350e4"
}`
	openAIToolAnswer = `{
  "id": "chatcmpl-abc123",
  "object": "chat.completion",
  "created": 1699896916,
  "model": "gpt-4o-mini",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": null,
        "tool_calls": [
          {"id": "call_abc123", "type": "function", "function": {"name": "get_current_weather", "arguments": "{\n\"location\": \"Boston, MA\"\n}"}},
          {"id": "call_def456", "type": "function", "function": {"name": "get_time", "arguments": ""}}
        ]
      },
      "logprobs": null,
      "finish_reason": "tool_calls"
    }
  ],
  "usage": {"prompt_tokens": 82, "completion_tokens": 17, "total_tokens": 99, "completion_tokens_details": {"reasoning_tokens": 0}}
}`
	deepSeekReasonerAnswer = `{
  "id": "930c60df-bf64-41c9-a88e-3ec75f81e00e",
  "object": "chat.completion",
  "created": 1705651092,
  "model": "deepseek-reasoner",
  "choices": [
    {
      "index": 0,
      "message": {
        "role": "assistant",
        "content": "9.11 is smaller than 9.8.",
        "reasoning_content": "Compare the tenths: 1 < 8, so 9.11 < 9.8."
      },
      "logprobs": null,
      "finish_reason": "length"
    }
  ],
  "usage": {
    "prompt_tokens": 16,
    "completion_tokens": 130,
    "total_tokens": 146,
    "prompt_tokens_details": {"cached_tokens": 0},
    "completion_tokens_details": {"reasoning_tokens": 112},
    "prompt_cache_hit_tokens": 0,
    "prompt_cache_miss_tokens": 16
  },
  "system_fingerprint": "fp_7e73fd9a08"
}`
)

func TestResponse(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{{
		name: "OpenAI text",
		in:   openAIAnswer,
		want: `{"candidates":[{"content":{"parts":[{"text":"Hello! How can I assist you today?"}],"role":"model"},"finishReason":"STOP","index":0}],
		 "usageMetadata":{"promptTokenCount":19,"candidatesTokenCount":10,"totalTokenCount":29},
		 "modelVersion":"gemini-2.5-flash","responseId":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT"}`,
	}, {
		name: "OpenAI tool calls",
		in:   openAIToolAnswer,
		want: `{"candidates":[{"content":{"parts":[
		   {"functionCall":{"id":"call_abc123","name":"get_current_weather","args":{"location":"Boston, MA"}}},
		   {"functionCall":{"id":"call_def456","name":"get_time","args":{}}}],"role":"model"},"finishReason":"STOP","index":0}],
		 "usageMetadata":{"promptTokenCount":82,"candidatesTokenCount":17,"totalTokenCount":99},
		 "modelVersion":"gemini-2.5-flash","responseId":"chatcmpl-abc123"}`,
	}, {
		name: "DeepSeek reasoner: thoughts, length, reasoning tokens",
		in:   deepSeekReasonerAnswer,
		want: `{"candidates":[{"content":{"parts":[{"text":"Compare the tenths: 1 < 8, so 9.11 < 9.8.","thought":true},{"text":"9.11 is smaller than 9.8."}],"role":"model"},"finishReason":"MAX_TOKENS","index":0}],
		 "usageMetadata":{"promptTokenCount":16,"candidatesTokenCount":18,"thoughtsTokenCount":112,"totalTokenCount":146},
		 "modelVersion":"gemini-2.5-flash","responseId":"930c60df-bf64-41c9-a88e-3ec75f81e00e"}`,
	}, {
		name: "several choices, content filter, refusal, cache hits, no total",
		in: `{"id":"x","choices":[{"index":1,"message":{"role":"assistant","content":null,"refusal":"I can't help with that."},"finish_reason":"content_filter"},
		  {"index":0,"message":{"role":"assistant","content":[{"type":"text","text":"A"},{"type":"text","text":"B"}]},"finish_reason":"insufficient_system_resource"}],
		  "usage":{"prompt_tokens":5,"completion_tokens":3,"prompt_cache_hit_tokens":4}}`,
		want: `{"candidates":[
		   {"content":{"parts":[{"text":"I can't help with that."}],"role":"model"},"finishReason":"SAFETY","index":1},
		   {"content":{"parts":[{"text":"AB"}],"role":"model"},"finishReason":"OTHER","index":0}],
		 "usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":3,"totalTokenCount":8,"cachedContentTokenCount":4},
		 "modelVersion":"gemini-2.5-flash","responseId":"x"}`,
	}, {
		name: "no finish reason, no usage, empty content",
		in:   `{"id":"y","choices":[{"index":0,"message":{"role":"assistant","content":""}}]}`,
		want: `{"candidates":[{"content":{"role":"model"},"finishReason":"STOP","index":0}],"modelVersion":"gemini-2.5-flash","responseId":"y"}`,
	}, {
		name: "arguments sent as an object by a lax server",
		in:   `{"id":"z","choices":[{"index":0,"message":{"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{"a":[1, 2]}}}]},"finish_reason":"tool_calls"}]}`,
		want: `{"candidates":[{"content":{"parts":[{"functionCall":{"id":"c","name":"f","args":{"a":[1,2]}}}],"role":"model"},"finishReason":"STOP","index":0}],"modelVersion":"gemini-2.5-flash","responseId":"z"}`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Response([]byte(tc.in), "gemini-2.5-flash")
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, out, tc.want)
		})
	}
}

func TestResponseRefuses(t *testing.T) {
	for _, in := range []string{
		`not json`,
		`{"id":"x","choices":[]}`,
		`{"error":{"message":"overloaded","type":"server_error"}}`,
		`{"choices":[{"message":{"tool_calls":[{"id":"c","function":{"name":"f","arguments":"{\"a\":"}}]}}]}`,
		`{"choices":[{"message":{"tool_calls":[{"id":"c","function":{"name":"f","arguments":"[1]"}}]}}]}`,
		`{"choices":[{"message":{"content":{"a":1}}}]}`,
	} {
		if _, err := Response([]byte(in), "m"); !errors.Is(err, ErrBadAnswer) {
			t.Errorf("%s: error %v does not wrap ErrBadAnswer", in, err)
		}
	}
}

func TestFinishReason(t *testing.T) {
	for in, want := range map[string]string{
		"": "", "stop": "STOP", "tool_calls": "STOP", "function_call": "STOP", "length": "MAX_TOKENS",
		"content_filter": "SAFETY", "insufficient_system_resource": "OTHER",
	} {
		if got := finishReason(in); got != want {
			t.Errorf("finishReason(%q) = %q, want %q", in, got, want)
		}
	}
}
