package anthropic

import (
	"errors"
	"strings"
	"testing"
)

var ro = ResponseOptions{ID: "msg_test", Model: "claude-sonnet-4-5"}

func TestFromGeminiText(t *testing.T) {
	out, err := FromGemini([]byte(`data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Hello"},{"text":", world"}]},"finishReason":"STOP"}],
		"usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":3,"cachedContentTokenCount":8,"toolUsePromptTokenCount":1,"totalTokenCount":15},"responseId":"r"}`), ro)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, out, `{"id":"msg_test","type":"message","role":"assistant","model":"claude-sonnet-4-5",
		"content":[{"type":"text","text":"Hello, world"}],"stop_reason":"end_turn","stop_sequence":null,
		"usage":{"input_tokens":5,"cache_creation_input_tokens":0,"cache_read_input_tokens":8,"output_tokens":3}}`)
}

// TestFromGeminiSignatures: a signature on a text part, on a thought, and on
// a trailing empty part each become a thinking block's signature right
// before the block they belong to.
func TestFromGeminiSignatures(t *testing.T) {
	out, err := FromGemini([]byte(`{"candidates":[{"content":{"parts":[
		{"text":"plan A","thought":true},{"text":" and B","thought":true,"thoughtSignature":"VDE="},
		{"text":"Answer","thoughtSignature":"VDI="},{"text":" more"},
		{"text":"","thoughtSignature":"VDM="}]},"finishReason":"STOP"}]}`), ro)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, []byte(mustJSON(t, field(t, out, "content"))), `[
		{"type":"thinking","thinking":"plan A and B","signature":"gemini:VDE="},
		{"type":"thinking","thinking":"","signature":"gemini:VDI="},
		{"type":"text","text":"Answer more"},
		{"type":"thinking","thinking":"","signature":"gemini:VDM="}]`)

	// Sent back, each signature lands on the part it came from.
	next := `{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":` +
		mustJSON(t, field(t, out, "content")) + `},{"role":"user","content":"and?"}]}`
	g := toGemini(t, next, "gemini-2.5-flash", nil)
	jsonEqual(t, []byte(mustJSON(t, field(t, g, "contents", 1))), `{"role":"model","parts":[{"text":"Answer more","thoughtSignature":"VDI="}]}`)
}

func TestStopReasons(t *testing.T) {
	cases := []struct {
		name, answer, reason, text string
	}{
		{"stop", `{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"STOP"}]}`, "end_turn", "x"},
		{"no finish yet", `{"candidates":[{"content":{"parts":[{"text":"x"}]}}]}`, "end_turn", "x"},
		{"max tokens", `{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":"MAX_TOKENS"}]}`, "max_tokens", "x"},
		{"max tokens with a call", `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f"}}]},"finishReason":"MAX_TOKENS"}]}`, "max_tokens", ""},
		{"tool call", `{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f"}}]},"finishReason":"STOP"}]}`, "tool_use", ""},
		{"safety, nothing shown", `{"candidates":[{"finishReason":"SAFETY","finishMessage":"unsafe"}]}`, "refusal", "The response was blocked by Gemini (SAFETY): unsafe"},
		{"recitation after text", `{"candidates":[{"content":{"parts":[{"text":"partial"}]},"finishReason":"RECITATION"}]}`, "refusal", "partial"},
		{"prohibited", `{"candidates":[{"finishReason":"PROHIBITED_CONTENT"}]}`, "refusal", "The response was blocked by Gemini (PROHIBITED_CONTENT)"},
		{"blocked prompt", `{"promptFeedback":{"blockReason":"SAFETY"}}`, "refusal", "The prompt was blocked by Gemini (SAFETY)"},
		{"malformed call", `{"candidates":[{"finishReason":"MALFORMED_FUNCTION_CALL"}]}`, "end_turn", ""},
		{"empty", `{"candidates":[]}`, "end_turn", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, err := FromGemini([]byte(c.answer), ro)
			if err != nil {
				t.Fatal(err)
			}
			if got := field(t, out, "stop_reason"); got != c.reason {
				t.Errorf("stop_reason %v, want %s", got, c.reason)
			}
			text, _ := field(t, out, "content", 0, "text").(string)
			if text != c.text {
				t.Errorf("text %q, want %q", text, c.text)
			}
			if field(t, out, "content") == nil {
				t.Errorf("content must be an array: %s", out)
			}
		})
	}
}

func TestToolIDs(t *testing.T) {
	answer := []byte(`{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"a":1}}},{"functionCall":{"name":"f","args":[1]}},{"functionCall":{"id":"bad id!","name":"g"}}]}}]}`)
	a, _ := FromGemini(answer, ResponseOptions{ID: "msg_a"})
	b, _ := FromGemini(answer, ResponseOptions{ID: "msg_a"})
	c, _ := FromGemini(answer, ResponseOptions{ID: "msg_c"})
	ids := func(out []byte) []string {
		var s []string
		for i := 0; i < 3; i++ {
			s = append(s, field(t, out, "content", i, "id").(string))
		}
		return s
	}
	ia, ib, ic := ids(a), ids(b), ids(c)
	for i := range ia {
		if !generatedID(ia[i]) || ia[i] != ib[i] || ia[i] == ic[i] {
			t.Errorf("id %d: %q %q %q", i, ia[i], ib[i], ic[i])
		}
		if upstreamID(ia[i]) != "" {
			t.Errorf("made-up id %q goes upstream", ia[i])
		}
	}
	if ia[0] == ia[1] {
		t.Error("two calls share an id")
	}
	if in := mustJSON(t, field(t, a, "content", 1, "input")); in != `{}` {
		t.Errorf("non-object args → %s", in)
	}
	if id := toolID("abc-1_2", "r", 0); id != "toolu_abc-1_2" || upstreamID(id) != "abc-1_2" {
		t.Errorf("Gemini's id: %q", id)
	}
}

func TestFromGeminiErrors(t *testing.T) {
	var ue *UpstreamError
	if _, err := FromGemini([]byte(`{"error":{"code":500,"message":"boom","status":"INTERNAL"}}`), ro); !errors.As(err, &ue) || ue.Message != "boom" {
		t.Errorf("error object: %v", err)
	}
	if _, err := FromGemini([]byte(`not json`), ro); err == nil || !strings.Contains(err.Error(), "decoding") {
		t.Errorf("bad JSON: %v", err)
	}
}
