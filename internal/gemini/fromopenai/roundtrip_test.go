package fromopenai

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
	"github.com/gemini-balance/gemini_balance/internal/openai/chat"
	"google.golang.org/genai"
)

// The reverse translation composed with the forward one (internal/openai/chat)
// gives back what went in: a Gemini request survives Gemini -> OpenAI ->
// Gemini, a Gemini answer survives Gemini -> OpenAI -> Gemini.

const agentRequest = `{
 "systemInstruction":{"parts":[{"text":"You are a careful coding agent."}]},
 "contents":[
  {"role":"user","parts":[{"text":"Fix main.go"},{"inlineData":{"mimeType":"image/png","data":"` + png + `"}}]},
  {"role":"model","parts":[{"text":"Reading it."},{"functionCall":{"name":"read_file","args":{"path":"main.go"}}}]},
  {"role":"user","parts":[{"functionResponse":{"name":"read_file","response":{"content":"package main"}}}]},
  {"role":"model","parts":[{"functionCall":{"id":"w1","name":"write_file","args":{"path":"main.go","content":"package main\n"}}}]},
  {"role":"user","parts":[{"functionResponse":{"id":"w1","name":"write_file","response":{"ok":true}}}]}],
 "tools":[{"functionDeclarations":[
  {"name":"read_file","description":"Read a file","parametersJsonSchema":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}},
  {"name":"write_file","description":"Write a file","parametersJsonSchema":{"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"}}}}]}],
 "toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["read_file","write_file"]}},
 "generationConfig":{"temperature":0.2,"topP":0.9,"maxOutputTokens":4096,"stopSequences":["END"],"seed":7}}`

func TestRequestRoundTrip(t *testing.T) {
	oa, err := Request([]byte(agentRequest), "gemini-2.5-flash", true)
	if err != nil {
		t.Fatal(err)
	}
	req, err := chat.DecodeRequest(oa)
	if err != nil {
		t.Fatalf("the forward translation refuses our request: %v\n%s", err, oa)
	}
	back, err := chat.ToGemini(context.Background(), req, "gemini-2.5-flash", gemini.Features{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Ids this package made up (call_1_1) go back to Gemini as ids: harmless,
	// and the functionResponse carries the same one.
	jsonEqual(t, back, `{
	 "contents":[
	  {"role":"user","parts":[{"text":"Fix main.go"},{"inlineData":{"mimeType":"image/png","data":"`+png+`"}}]},
	  {"role":"model","parts":[{"text":"Reading it."},{"functionCall":{"id":"call_1_1","name":"read_file","args":{"path":"main.go"}}}]},
	  {"role":"user","parts":[{"functionResponse":{"id":"call_1_1","name":"read_file","response":{"content":"package main"}}}]},
	  {"role":"model","parts":[{"functionCall":{"id":"w1","name":"write_file","args":{"path":"main.go","content":"package main\n"}}}]},
	  {"role":"user","parts":[{"functionResponse":{"id":"w1","name":"write_file","response":{"ok":true}}}]}],
	 "systemInstruction":{"parts":[{"text":"You are a careful coding agent."}]},
	 "tools":[{"functionDeclarations":[
	  {"name":"read_file","description":"Read a file","parametersJsonSchema":{"type":"object","properties":{"path":{"type":"string"}},"required":["path"]}},
	  {"name":"write_file","description":"Write a file","parametersJsonSchema":{"type":"object","properties":{"path":{"type":"string"},"content":{"type":"string"}}}}]}],
	 "toolConfig":{"functionCallingConfig":{"mode":"ANY"}},
	 "generationConfig":{"stopSequences":["END"],"maxOutputTokens":4096,"temperature":0.2,"topP":0.9,"seed":7}}`)
}

const geminiAnswer = `{"candidates":[{"content":{"role":"model","parts":[
 {"text":"Plan: read, then test.","thought":true},
 {"text":"The loop bound is off by one."},
 {"functionCall":{"name":"run","args":{"cmd":["go","test","./..."],"timeout":60}}}]},
 "finishReason":"STOP","index":0}],
 "usageMetadata":{"promptTokenCount":1234,"candidatesTokenCount":456,"thoughtsTokenCount":321,"totalTokenCount":2011},
 "modelVersion":"gemini-2.5-flash","responseId":"abcdefghijklmnop"}`

func TestResponseRoundTrip(t *testing.T) {
	oa, err := chat.FromGemini([]byte(geminiAnswer), chat.ResponseOptions{ID: "chatcmpl-1", Created: 1, Model: "gemini-2.5-flash", ShowThinking: true})
	if err != nil {
		t.Fatal(err)
	}
	back, err := Response(oa, "gemini-2.5-flash")
	if err != nil {
		t.Fatal(err)
	}
	var r gemini.Response
	if err := json.Unmarshal(back, &r); err != nil {
		t.Fatal(err)
	}
	parts := r.Candidates[0].Content.Parts
	if len(parts) != 3 || !parts[0].Thought || parts[0].Text != "Plan: read, then test." || parts[1].Text != "The loop bound is off by one." ||
		parts[2].FunctionCall == nil || parts[2].FunctionCall.Name != "run" || string(parts[2].FunctionCall.Args) != `{"cmd":["go","test","./..."],"timeout":60}` {
		t.Errorf("parts differ: %s", back)
	}
	if r.Candidates[0].FinishReason != "STOP" || !reflect.DeepEqual(*r.UsageMetadata, gemini.UsageMetadata{PromptTokenCount: 1234, CandidatesTokenCount: 456, ThoughtsTokenCount: 321, TotalTokenCount: 2011}) {
		t.Errorf("finish or usage differ: %s", back)
	}
}

func TestStreamRoundTrip(t *testing.T) {
	in := []string{
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"Plan","thought":true}]},"index":0}],"responseId":"r"}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]},"index":0}],"responseId":"r"}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"lo"},{"functionCall":{"name":"f","args":{"a":1}}},{"functionCall":{"name":"g","args":{}}}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,"thoughtsTokenCount":1,"totalTokenCount":7},"responseId":"r"}`,
	}
	fwd := chat.NewStream(chat.ResponseOptions{ID: "chatcmpl-r", Created: 1, Model: "m", ShowThinking: true}, true)
	var chunks [][]byte
	for _, ev := range in {
		cs, err := fwd.Event([]byte(ev))
		if err != nil {
			t.Fatal(err)
		}
		chunks = append(chunks, cs...)
	}
	chunks = append(chunks, fwd.Finish()...)
	chunks = append(chunks, []byte("[DONE]"))

	s := NewStream("m")
	var out []byte
	for _, c := range chunks {
		var err error
		if out, err = s.Append(out, c); err != nil {
			t.Fatal(err)
		}
	}
	var text, thought strings.Builder
	var calls []string
	var last gemini.Response
	for _, ev := range events(t, out) {
		var r gemini.Response
		if err := json.Unmarshal([]byte(ev), &r); err != nil {
			t.Fatal(err)
		}
		for _, p := range r.Candidates[0].Content.Parts {
			switch {
			case p.FunctionCall != nil:
				calls = append(calls, p.FunctionCall.Name+string(p.FunctionCall.Args))
			case p.Thought:
				thought.WriteString(p.Text)
			default:
				text.WriteString(p.Text)
			}
		}
		last = r
	}
	if text.String() != "Hello" || thought.String() != "Plan" || strings.Join(calls, " ") != `f{"a":1} g{}` {
		t.Errorf("text %q thought %q calls %q", text.String(), thought.String(), calls)
	}
	if last.Candidates[0].FinishReason != "STOP" || last.UsageMetadata == nil ||
		!reflect.DeepEqual(*last.UsageMetadata, gemini.UsageMetadata{PromptTokenCount: 4, CandidatesTokenCount: 2, ThoughtsTokenCount: 1, TotalTokenCount: 7}) {
		t.Errorf("last event %+v", last)
	}
}

// The official Go SDK reads what Response and Stream write.
func TestGenAIReadsTheAnswers(t *testing.T) {
	for _, in := range []string{openAIAnswer, openAIToolAnswer, deepSeekReasonerAnswer} {
		out, err := Response([]byte(in), "gemini-2.5-flash")
		if err != nil {
			t.Fatal(err)
		}
		var r genai.GenerateContentResponse
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("genai cannot read %s: %v", out, err)
		}
		if r.ModelVersion != "gemini-2.5-flash" || r.UsageMetadata == nil || r.UsageMetadata.TotalTokenCount == 0 {
			t.Errorf("genai read %+v", r)
		}
		if len(r.FunctionCalls()) == 0 && r.Text() == "" {
			t.Errorf("genai sees no text and no call in %s", out)
		}
	}
	var r genai.GenerateContentResponse
	out, _ := Response([]byte(openAIToolAnswer), "m")
	_ = json.Unmarshal(out, &r)
	if fc := r.FunctionCalls(); len(fc) != 2 || fc[0].ID != "call_abc123" || fc[0].Args["location"] != "Boston, MA" {
		t.Errorf("function calls %+v", fc)
	}
	r = genai.GenerateContentResponse{}
	out, _ = Response([]byte(deepSeekReasonerAnswer), "m")
	_ = json.Unmarshal(out, &r)
	if r.Text() != "9.11 is smaller than 9.8." || r.Candidates[0].FinishReason != genai.FinishReasonMaxTokens || r.UsageMetadata.ThoughtsTokenCount != 112 {
		t.Errorf("text %q, %+v", r.Text(), r.UsageMetadata)
	}

	s := NewStream("gemini-2.5-flash")
	var all []byte
	for _, c := range openAIToolStream {
		all, _ = s.Append(all, []byte(c))
	}
	for _, ev := range events(t, all) {
		var r genai.GenerateContentResponse
		if err := json.Unmarshal([]byte(ev), &r); err != nil {
			t.Fatalf("genai cannot read event %s: %v", ev, err)
		}
	}
}
