package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// sse is one parsed event.
type sse struct {
	name string
	data string
}

func parseFrames(t testing.TB, frames [][]byte) []sse {
	t.Helper()
	var out []sse
	for _, f := range frames {
		s := string(f)
		if !strings.HasPrefix(s, "event: ") || !strings.HasSuffix(s, "\n\n") {
			t.Fatalf("bad frame %q", s)
		}
		name, data, ok := strings.Cut(strings.TrimSuffix(strings.TrimPrefix(s, "event: "), "\n\n"), "\ndata: ")
		if !ok || strings.Contains(data, "\n") {
			t.Fatalf("bad frame %q", s)
		}
		var v struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal([]byte(data), &v); err != nil || v.Type != name {
			t.Fatalf("data %q of event %s: %v", data, name, err)
		}
		out = append(out, sse{name, data})
	}
	return out
}

func runStream(t *testing.T, s *Stream, events ...string) []sse {
	t.Helper()
	var frames [][]byte
	for _, ev := range events {
		fs, err := s.Event([]byte(ev))
		if err != nil {
			t.Fatalf("Event(%s): %v", ev, err)
		}
		frames = append(frames, fs...)
	}
	return parseFrames(t, append(frames, s.Finish()...))
}

func checkEvents(t *testing.T, got []sse, want ...string) {
	t.Helper()
	if len(got) != len(want) {
		var b strings.Builder
		for _, g := range got {
			fmt.Fprintf(&b, "\n  %s %s", g.name, g.data)
		}
		t.Fatalf("%d events, want %d:%s", len(got), len(want), b.String())
	}
	for i := range got {
		jsonEqual(t, []byte(got[i].data), want[i])
	}
}

const startEvent = `{"type":"message_start","message":{"id":"msg_s","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":%d,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":%d}}}`

var so = ResponseOptions{ID: "msg_s", Model: "claude-sonnet-4-5"}

// TestStreamThinkingTextTool: thinking, its signature, text and a tool call
// come out as Anthropic's event sequence, blocks numbered in order.
func TestStreamThinkingTextTool(t *testing.T) {
	s := NewStream(so)
	got := runStream(t, s,
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"Let me","thought":true}]}}],"usageMetadata":{"promptTokenCount":20},"responseId":"r"}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"text":" think.","thought":true}]}}],"responseId":"r"}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"Checking","thoughtSignature":"U0lH"}]}}],"responseId":"r"}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"text":" now."}]}}],"responseId":"r"}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":20,"candidatesTokenCount":9,"thoughtsTokenCount":4,"cachedContentTokenCount":6},"responseId":"r"}`,
	)
	id := toolID("", "r", 0)
	checkEvents(t, got,
		fmt.Sprintf(startEvent, 20, 0),
		`{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Let me"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":" think."}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"gemini:U0lH"}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Checking"}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":" now."}}`,
		`{"type":"content_block_stop","index":1}`,
		`{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"`+id+`","name":"get_weather","input":{}}}`,
		`{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"city\":\"Paris\"}"}}`,
		`{"type":"content_block_stop","index":2}`,
		`{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":14,"cache_creation_input_tokens":0,"cache_read_input_tokens":6,"output_tokens":13}}`,
		`{"type":"message_stop"}`,
	)
	if s.Empty() {
		t.Error("Empty after text")
	}
	if s.Finish() != nil {
		t.Error("a second Finish writes more")
	}

	// The same answer in one piece translates the same way.
	whole, err := FromGemini([]byte(`{"candidates":[{"content":{"parts":[{"text":"Let me think.","thought":true},{"text":"Checking now.","thoughtSignature":"U0lH"},{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]},"finishReason":"STOP"}],"responseId":"r"}`), so)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, []byte(mustJSON(t, field(t, whole, "content"))), `[
		{"type":"thinking","thinking":"Let me think.","signature":"gemini:U0lH"},
		{"type":"text","text":"Checking now."},
		{"type":"tool_use","id":"`+id+`","name":"get_weather","input":{"city":"Paris"}}]`)
}

func TestStreamText(t *testing.T) {
	s := NewStream(so)
	// Nothing comes out before there is a block to show.
	if fs, err := s.Event([]byte(`{"candidates":[{"content":{"role":"model","parts":[{"text":""}]}}],"usageMetadata":{"promptTokenCount":3}}`)); err != nil || fs != nil {
		t.Fatalf("empty event: %q %v", fs, err)
	}
	if !s.Empty() {
		t.Error("not Empty before content")
	}
	got := runStream(t, s,
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"Hi"}]}}],"usageMetadata":{"promptTokenCount":3}}`,
		`{"candidates":[{"content":{"role":"model","parts":[{"text":"!"}]},"finishReason":"MAX_TOKENS"}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":2}}`,
	)
	checkEvents(t, got,
		fmt.Sprintf(startEvent, 3, 0),
		`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"!"}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"input_tokens":3,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":2}}`,
		`{"type":"message_stop"}`,
	)
}

func TestStreamEmptyAndBlocked(t *testing.T) {
	s := NewStream(so)
	got := runStream(t, s)
	checkEvents(t, got,
		fmt.Sprintf(startEvent, 0, 0),
		`{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`,
		`{"type":"message_stop"}`,
	)
	if !s.Empty() {
		t.Error("nothing at all is not Empty")
	}

	s = NewStream(so)
	got = runStream(t, s, `{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT"},"usageMetadata":{"promptTokenCount":7}}`)
	if s.Empty() {
		t.Error("a blocked prompt is Empty")
	}
	checkEvents(t, got,
		fmt.Sprintf(startEvent, 7, 0),
		`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"The prompt was blocked by Gemini (PROHIBITED_CONTENT)"}}`,
		`{"type":"content_block_stop","index":0}`,
		`{"type":"message_delta","delta":{"stop_reason":"refusal","stop_sequence":null},"usage":{"input_tokens":7,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}`,
		`{"type":"message_stop"}`,
	)
}

func TestStreamUpstreamError(t *testing.T) {
	s := NewStream(so)
	if _, err := s.Event([]byte(`{"candidates":[{"content":{"parts":[{"text":"a"}]}}]}`)); err != nil {
		t.Fatal(err)
	}
	_, err := s.Event([]byte(`{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}`))
	var ue *UpstreamError
	if !errors.As(err, &ue) {
		t.Fatalf("error event: %v", err)
	}
	ev := parseFrames(t, [][]byte{ErrorEvent(ue.HTTPStatus(), ue.Message)})
	checkEvents(t, ev, `{"type":"error","error":{"type":"overloaded_error","message":"overloaded"}}`)
	if _, err := s.Event([]byte(`{"candidates":`)); err == nil {
		t.Error("a broken event decodes")
	}
}

func TestPing(t *testing.T) {
	checkEvents(t, parseFrames(t, [][]byte{Ping()}), `{"type":"ping"}`)
	if !bytes.HasPrefix(Ping(), []byte("event: ping\n")) {
		t.Errorf("%q", Ping())
	}
}
