package chat

import (
	"context"
	"strings"
	"testing"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

// benchRequest is a mid-sized agent turn: system prompt, history with a tool
// round trip, three tools.
var benchRequest = []byte(`{"model":"gemini-2.5-flash","stream":true,"stream_options":{"include_usage":true},
"messages":[
 {"role":"system","content":"` + strings.Repeat("You are a careful coding agent. ", 40) + `"},
 {"role":"user","content":"Find the bug in main.go and fix it."},
 {"role":"assistant","content":"I'll read the file first.","tool_calls":[{"id":"call_0123456789abcdef01234567","type":"function","function":{"name":"read_file","arguments":"{\"path\":\"main.go\"}"}}]},
 {"role":"tool","tool_call_id":"call_0123456789abcdef01234567","content":"` + strings.Repeat(`package main\nfunc main() { println(\"hi\") }\n`, 30) + `"},
 {"role":"assistant","content":"The loop bound is off by one.","tool_calls":[{"id":"call_89abcdef0123456789abcdef","type":"function","function":{"name":"write_file","arguments":"{\"path\":\"main.go\",\"content\":\"package main\"}"}}]},
 {"role":"tool","tool_call_id":"call_89abcdef0123456789abcdef","content":"{\"ok\":true}"},
 {"role":"user","content":[{"type":"text","text":"Great. Now explain the fix."}]}
],
"tools":[
 {"type":"function","function":{"name":"read_file","description":"Read a file","parameters":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}}},
 {"type":"function","function":{"name":"write_file","description":"Write a file","parameters":{"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"}},"required":["path","content"],"additionalProperties":false}}},
 {"type":"function","function":{"name":"run","description":"Run a command","parameters":{"type":"object","properties":{"cmd":{"type":"array","items":{"type":"string"}},"timeout":{"anyOf":[{"type":"integer"},{"type":"null"}]}}}}}
],
"tool_choice":"auto","temperature":0.2,"max_completion_tokens":4096,"reasoning_effort":"low"}`)

var benchResponse = []byte(`{"candidates":[{"content":{"role":"model","parts":[
 {"text":"` + strings.Repeat("The fix changes the loop bound from <= to < so the last index stays in range. ", 25) + `"},
 {"functionCall":{"name":"run","args":{"cmd":["go","test","./..."],"timeout":60}},"thoughtSignature":"` + strings.Repeat("QUJD", 100) + `"}]},
 "finishReason":"STOP","index":0}],
 "usageMetadata":{"promptTokenCount":1234,"candidatesTokenCount":456,"thoughtsTokenCount":321,"totalTokenCount":2011},
 "modelVersion":"gemini-2.5-flash","responseId":"abcdefghijklmnop"}`)

var benchEvent = []byte(`{"candidates":[{"content":{"role":"model","parts":[{"text":"The fix changes the loop bound from <= to < so the last index stays in range, and the tests pass again."}]},"index":0}],"usageMetadata":{"promptTokenCount":1234,"totalTokenCount":1234},"modelVersion":"gemini-2.5-flash","responseId":"abcdefghijklmnop"}`)

func BenchmarkDecodeRequest(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(len(benchRequest)))
	for b.Loop() {
		if _, err := DecodeRequest(benchRequest); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkToGemini(b *testing.B) {
	req, err := DecodeRequest(benchRequest)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(benchRequest)))
	for b.Loop() {
		if _, err := ToGemini(ctx, req, "gemini-2.5-flash", gemini.Features{ThinkingBudget: intPtr(1024)}, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFromGemini(b *testing.B) {
	o := ResponseOptions{ID: "chatcmpl-bench", Created: 1, Model: "gemini-2.5-flash", ShowThinking: true}
	b.ReportAllocs()
	b.SetBytes(int64(len(benchResponse)))
	for b.Loop() {
		if _, err := FromGemini(benchResponse, o); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamEvent(b *testing.B) {
	s := NewStream(ResponseOptions{ID: "chatcmpl-bench", Created: 1, Model: "gemini-2.5-flash"}, true)
	b.ReportAllocs()
	b.SetBytes(int64(len(benchEvent)))
	for b.Loop() {
		cs, err := s.Event(benchEvent)
		if err != nil || len(cs) != 1 {
			b.Fatal(err, len(cs))
		}
	}
}
