package fromopenai

import (
	"strings"
	"testing"
)

// benchRequest is a mid-sized agent turn: system prompt, history with a
// tool round trip, two tools.
var benchRequest = []byte(strings.Replace(agentRequest, "You are a careful coding agent.", strings.Repeat("You are a careful coding agent. ", 40), 1))

var benchAnswer = []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1,"model":"deepseek-chat","choices":[{"index":0,"message":{"role":"assistant",
"content":"` + strings.Repeat("The fix changes the loop bound from <= to < so the last index stays in range. ", 25) + `",
"reasoning_content":"` + strings.Repeat("Check the bound. ", 20) + `",
"tool_calls":[{"id":"call_0","type":"function","function":{"name":"run","arguments":"{\"cmd\":[\"go\",\"test\",\"./...\"],\"timeout\":60}"}}]},
"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":1234,"completion_tokens":777,"total_tokens":2011,"completion_tokens_details":{"reasoning_tokens":321}}}`)

var benchChunk = []byte(`{"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"The fix changes the loop bound from <= to < so the last index stays in range, and the tests pass again."},"logprobs":null,"finish_reason":null}],"usage":null}`)

func BenchmarkRequest(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchRequest)))
	for b.Loop() {
		if _, err := Request(benchRequest, "deepseek-chat", true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkResponse(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchAnswer)))
	for b.Loop() {
		if _, err := Response(benchAnswer, "gemini-2.5-flash"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamAppend(b *testing.B) {
	s := NewStream("gemini-2.5-flash")
	var dst []byte
	b.ReportAllocs()
	b.SetBytes(int64(len(benchChunk)))
	for b.Loop() {
		var err error
		if dst, err = s.Append(dst[:0], benchChunk); err != nil || len(dst) == 0 {
			b.Fatal(err)
		}
	}
}

func BenchmarkError(b *testing.B) {
	body := []byte(`{"error":{"message":"Rate limit reached for gpt-4o in organization org-abc on tokens per min (TPM): Limit 30000, Used 29000, Requested 2000.","type":"tokens","param":null,"code":"rate_limit_exceeded"}}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = Error(429, body, "sk-0123456789abcdefghij")
	}
}
