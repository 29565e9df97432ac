package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	fastjson "github.com/goccy/go-json"
)

var requestSeeds = []string{
	`{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"claude-opus-4","max_tokens":4096,"stream":true,"system":[{"type":"text","text":"S","cache_control":{"type":"ephemeral"}}],"metadata":{"user_id":"u"},"thinking":{"type":"enabled","budget_tokens":2048},
	  "messages":[{"role":"user","content":[{"type":"text","text":"what?"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + png1x1 + `"}},{"type":"image","source":{"type":"url","url":"https://x.test/a.png"}},{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}}]}]}`,
	`{"model":"m","max_tokens":9,"tools":[{"name":"f","description":"d","input_schema":{"$schema":"x","type":"object","properties":{"a":{"type":"string"}}}},{"type":"bash_20250124","name":"bash"}],"tool_choice":{"type":"tool","name":"f"},
	  "messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"gemini:U0lH"},{"type":"text","text":"calling"},{"type":"tool_use","id":"toolu_a","name":"f","input":{"a":"b"}}]},
	  {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_a","content":[{"type":"text","text":"{\"ok\":true}"},{"type":"image","source":{"type":"url","url":"https://x.test/b.png"}}],"is_error":false},{"type":"text","text":"go on"}]},
	  {"role":"assistant","content":[{"type":"redacted_thinking","data":"gemini:UkVE"}]}]}`,
	`{"model":"m","max_tokens":9,"temperature":0.5,"top_p":0.5,"top_k":3,"stop_sequences":["a"],"thinking":{"type":"disabled"},"tool_choice":{"type":"none"},"messages":[{"role":"user","content":[{"type":"document","source":{"type":"text","media_type":"text/plain","data":"doc"}}]}]}`,
	`{"model":"m","max_tokens":9,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"x"}]}]}`,
	`{"model":"m","max_tokens":9,"messages":[]}`,
	`[]`,
}

func fuzzFetch(ctx context.Context, url string) (string, []byte, error) {
	switch {
	case strings.Contains(url, "png"):
		return "", []byte("\x89PNG\r\n\x1a\nxx"), nil
	case strings.Contains(url, "pdf"):
		return "application/pdf", []byte("%PDF-1"), nil
	}
	return "", nil, errors.New("not found")
}

var fuzzModels = []string{"gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite", "gemini-3-pro-preview", "gemini-3-flash-preview", "gemini-2.0-flash", "x"}

func FuzzDecodeAndToGemini(f *testing.F) {
	for i, s := range requestSeeds {
		f.Add([]byte(s), uint8(i))
	}
	f.Fuzz(func(t *testing.T, body []byte, m uint8) {
		req, err := DecodeRequest(body)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("DecodeRequest error %T %v is not a *RequestError", err, err)
			}
			if !json.Valid(re.Body()) {
				t.Fatalf("error body is not JSON: %s", re.Body())
			}
			return
		}
		model := fuzzModels[int(m)%len(fuzzModels)]
		out, err := ToGemini(context.Background(), req, model, fuzzFetch)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("ToGemini error %T %v is not a *RequestError", err, err)
			}
			return
		}
		var g struct {
			Contents []struct {
				Role  string                       `json:"role"`
				Parts []map[string]json.RawMessage `json:"parts"`
			} `json:"contents"`
		}
		if err := json.Unmarshal(out, &g); err != nil || len(g.Contents) == 0 {
			t.Fatalf("no contents (%v): %s", err, out)
		}
		for i, c := range g.Contents {
			if (c.Role != "user" && c.Role != "model") || len(c.Parts) == 0 {
				t.Fatalf("bad turn %d: %s", i, out)
			}
			if i > 0 && c.Role == g.Contents[i-1].Role {
				t.Fatalf("turns %d and %d share a role: %s", i-1, i, out)
			}
			for _, p := range c.Parts {
				delete(p, "thoughtSignature")
				if len(p) != 1 {
					t.Fatalf("a part must hold one thing: %s", out)
				}
			}
		}
		ct, err := CountTokensRequest(context.Background(), req, model, fuzzFetch)
		if err != nil || !json.Valid(ct) {
			t.Fatalf("CountTokensRequest: %v %s", err, ct)
		}
	})
}

var streamSeeds = []string{
	`{"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]},"index":0}],"usageMetadata":{"promptTokenCount":4},"responseId":"r"}
{"candidates":[{"content":{"role":"model","parts":[{"text":"lo"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,"totalTokenCount":6},"responseId":"r"}`,
	`{"candidates":[{"content":{"parts":[{"text":"plan","thought":true,"thoughtSignature":"QQ=="}]}}]}
{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"a":1}},"thoughtSignature":"U0lH"},{"functionCall":{"id":"x","name":"g","args":[]}}]},"finishReason":"STOP"}]}
{"candidates":[{"content":{"parts":[{"text":"","thoughtSignature":"Qg=="}]}}]}`,
	`{"promptFeedback":{"blockReason":"SAFETY"}}`,
	`{"candidates":[{"content":{"parts":[{"executableCode":{"language":"PYTHON","code":"1"}},{"codeExecutionResult":{"outcome":"OUTCOME_OK","output":"1"}},{"inlineData":{"mimeType":"image/png","data":"iVBO"}}]},"finishReason":"SAFETY"}]}`,
	`{"error":{"code":500,"message":"x","status":"INTERNAL"}}`,
	`data: {"candidates":[{"finishReason":"MAX_TOKENS"}]}`,
}

func FuzzStream(f *testing.F) {
	for _, s := range streamSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, events []byte) {
		s := NewStream(ResponseOptions{ID: "msg_f", Model: "m"})
		var frames [][]byte
		for _, ev := range bytes.Split(events, []byte("\n")) {
			fs, err := s.Event(ev)
			if err != nil && fs != nil {
				t.Fatal("events with an error")
			}
			frames = append(frames, fs...)
			if out, err := FromGemini(ev, ResponseOptions{ID: "msg_f"}); err == nil && !json.Valid(out) {
				t.Fatalf("FromGemini gave invalid JSON: %s", out)
			}
		}
		frames = append(frames, s.Finish()...)
		got := parseFrames(t, frames)
		if len(got) < 3 || got[0].name != "message_start" || got[len(got)-2].name != "message_delta" || got[len(got)-1].name != "message_stop" {
			t.Fatalf("bad envelope: %v", got)
		}
		open, next := -1, 0
		for _, e := range got[1 : len(got)-2] {
			var v struct {
				Index *int `json:"index"`
				Delta struct {
					Type string `json:"type"`
				} `json:"delta"`
				ContentBlock struct {
					Type string `json:"type"`
				} `json:"content_block"`
			}
			if err := json.Unmarshal([]byte(e.data), &v); err != nil || v.Index == nil {
				t.Fatalf("%s without an index: %s", e.name, e.data)
			}
			switch e.name {
			case "content_block_start":
				if open != -1 || *v.Index != next {
					t.Fatalf("block %d starts while %d is open (next %d)", *v.Index, open, next)
				}
				open, next = *v.Index, next+1
			case "content_block_delta":
				if *v.Index != open {
					t.Fatalf("delta for %d while %d is open", *v.Index, open)
				}
			case "content_block_stop":
				if *v.Index != open {
					t.Fatalf("stop for %d while %d is open", *v.Index, open)
				}
				open = -1
			default:
				t.Fatalf("unexpected %s inside the message", e.name)
			}
		}
		if open != -1 {
			t.Fatalf("block %d never stops", open)
		}
	})
}

// FuzzFastDecoderAgrees holds goccy/go-json (the fast path of gemini.Unmarshal)
// to encoding/json on the wire types decoded here.
func FuzzFastDecoderAgrees(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"type":"image","source":{"type":"base64","media_type":"image/png","data":"AAAA"},"is_error":true,"input":{"a":1}}`))
	check := func(t *testing.T, body []byte, fast, std any) {
		if fastjson.Unmarshal(body, fast) != nil {
			return
		}
		if err := json.Unmarshal(body, std); err != nil {
			t.Fatalf("goccy accepts %q, encoding/json refuses it: %v", body, err)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Fatalf("%q decodes differently:\n goccy %+v\n std   %+v", body, fast, std)
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		check(t, body, new(wireRequest), new(wireRequest))
		check(t, body, new(wireBlock), new(wireBlock))
		check(t, body, new(wireSource), new(wireSource))
		check(t, body, new(wireTool), new(wireTool))
	})
}
