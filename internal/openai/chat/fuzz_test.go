package chat

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
	fastjson "github.com/goccy/go-json"
)

var requestSeeds = []string{
	`{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}`,
	`{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":[{"type":"text","text":"what is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,` + png1x1 + `","detail":"auto"}}]}],"temperature":0.3,"max_tokens":256}`,
	`{"messages":[{"role":"user","content":"weather?"},{"role":"assistant","content":null,"tool_calls":[{"id":"call_0123456789abcdef01234567","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"},"extra_content":{"google":{"thought_signature":"U0lH"}}}]},{"role":"tool","tool_call_id":"call_0123456789abcdef01234567","content":"{\"temp\":21}"}],"tools":[{"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}],"tool_choice":"auto","reasoning_effort":"low"}`,
	`{"messages":[{"role":"developer","content":"json only"},{"role":"user","content":"list 3 colors"}],"response_format":{"type":"json_schema","json_schema":{"name":"colors","schema":{"type":"object","properties":{"colors":{"type":"array","items":{"type":"string"}}}}}},"n":2,"seed":7,"stop":["\n\n"]}`,
	`{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}},{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0=","filename":"a.pdf"}},{"type":"image_url","image_url":{"url":"https://example.test/cat.png"}}]}],"tool_choice":"none","extra_body":{"google":{"thinking_config":{"thinking_budget":1024,"include_thoughts":true}}}}`,
	`{"messages":[{"role":"user","content":"a"},{"role":"assistant","tool_calls":[{"id":"x","function":{"name":"f","arguments":{"k":[1,2]}}}]},{"role":"tool","tool_call_id":"x","content":[{"type":"text","text":"done"}]}],"tools":[{"type":"function","function":{"name":"f","parameters":{"$ref":"#/$defs/a","$defs":{"a":{"anyOf":[{"const":1},{"type":"string"}]}}}}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
	`{"messages":[{"role":"tool"}]}`,
	`{"messages":[]}`,
	`[]`,
}

func fuzzFetch(ctx context.Context, url string) (string, []byte, error) {
	if strings.Contains(url, "png") {
		return "", []byte("\x89PNG\r\n\x1a\nxx"), nil
	}
	return "", nil, errors.New("not found")
}

var fuzzModels = []string{"gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-pro-preview", "gemini-3-flash-preview", "gemini-2.0-flash", "gemini-2.0-flash-preview-image-generation", "x"}

func FuzzDecodeAndToGemini(f *testing.F) {
	for i, s := range requestSeeds {
		f.Add([]byte(s), uint16(i*37))
	}
	f.Fuzz(func(t *testing.T, body []byte, flags uint16) {
		req, err := DecodeRequest(body)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("DecodeRequest error %T %v is not a *RequestError", err, err)
			}
			return
		}
		feat := gemini.Features{
			Search: flags&1 != 0, ImageOutput: flags&2 != 0, DisableThinking: flags&4 != 0,
			IncludeThoughts: flags&8 != 0, CodeExecution: flags&16 != 0, URLContext: flags&32 != 0,
		}
		if flags&64 != 0 {
			feat.ThinkingBudget = intPtr(int(flags>>8) - 1)
		}
		if flags&128 != 0 {
			feat.SafetySettings = json.RawMessage(`[{"category":"HARM_CATEGORY_HATE_SPEECH","threshold":"BLOCK_NONE"}]`)
		}
		model := fuzzModels[int(flags>>8)%len(fuzzModels)]
		out, err := ToGemini(context.Background(), req, model, feat, fuzzFetch)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("ToGemini error %T %v is not a *RequestError", err, err)
			}
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON: %s", out)
		}
		var g struct {
			Contents []struct {
				Role  string            `json:"role"`
				Parts []json.RawMessage `json:"parts"`
			} `json:"contents"`
		}
		if err := json.Unmarshal(out, &g); err != nil || len(g.Contents) == 0 {
			t.Fatalf("no contents (%v): %s", err, out)
		}
		for _, c := range g.Contents {
			if (c.Role != "user" && c.Role != "model") || len(c.Parts) == 0 {
				t.Fatalf("bad turn %+v: %s", c, out)
			}
		}
		for i := 1; i < len(g.Contents); i++ {
			if g.Contents[i].Role == g.Contents[i-1].Role {
				t.Fatalf("turns %d and %d share a role: %s", i-1, i, out)
			}
		}
	})
}

var streamSeeds = []string{
	`{"candidates":[{"content":{"role":"model","parts":[{"text":"Hel"}]},"index":0}],"usageMetadata":{"promptTokenCount":4},"responseId":"r"}
{"candidates":[{"content":{"role":"model","parts":[{"text":"lo"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":2,"totalTokenCount":6},"responseId":"r"}`,
	`{"candidates":[{"content":{"parts":[{"text":"plan","thought":true}]}}]}
{"candidates":[{"content":{"parts":[{"functionCall":{"name":"f","args":{"a":1}},"thoughtSignature":"U0lH"},{"functionCall":{"id":"x","name":"g"}}]},"finishReason":"STOP"}]}`,
	`{"promptFeedback":{"blockReason":"SAFETY"}}`,
	`{"candidates":[{"content":{"parts":[{"text":"A"}]},"index":0},{"content":{"parts":[{"text":"B"}]},"index":1}]}
{"candidates":[{"finishReason":"MAX_TOKENS","index":1}]}`,
	`{"candidates":[{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"iVBO"}},{"executableCode":{"language":"PYTHON","code":"1"}},{"codeExecutionResult":{"outcome":"OUTCOME_OK","output":"1"}}]},"finishReason":"STOP","groundingMetadata":{"groundingChunks":[{"web":{"uri":"https://a.test","title":"A"}}]}}]}`,
	`{"error":{"code":500,"message":"x","status":"INTERNAL"}}`,
	`data: {"candidates":[{"finishReason":"SAFETY"}]}`,
}

func FuzzStream(f *testing.F) {
	for i, s := range streamSeeds {
		f.Add([]byte(s), uint8(i))
	}
	f.Fuzz(func(t *testing.T, events []byte, flags uint8) {
		o := ResponseOptions{ID: "chatcmpl-f", Created: 1, Model: "m",
			ShowThinking: flags&1 != 0, ShowSearchLinks: flags&2 != 0, ImagesAsMarkdown: flags&4 != 0}
		includeUsage := flags&8 != 0
		s := NewStream(o, includeUsage)
		var chunks [][]byte
		for _, ev := range bytes.Split(events, []byte("\n")) {
			cs, err := s.Event(ev)
			if err != nil && cs != nil {
				t.Fatalf("chunks with an error")
			}
			chunks = append(chunks, cs...)
		}
		chunks = append(chunks, s.Finish()...)
		started := map[int]bool{}
		finished := map[int]int{}
		for i, c := range chunks {
			var ch struct {
				ID      string `json:"id"`
				Object  string `json:"object"`
				Choices []struct {
					Index int `json:"index"`
					Delta struct {
						Role string `json:"role"`
					} `json:"delta"`
					FinishReason *string `json:"finish_reason"`
				} `json:"choices"`
				Usage *json.RawMessage `json:"usage"`
			}
			if !json.Valid(c) {
				t.Fatalf("chunk %d is not JSON: %s", i, c)
			}
			if err := json.Unmarshal(c, &ch); err != nil {
				t.Fatalf("chunk %d: %v: %s", i, err, c)
			}
			if ch.ID != "chatcmpl-f" || ch.Object != "chat.completion.chunk" {
				t.Fatalf("chunk %d header: %s", i, c)
			}
			if ch.Choices == nil {
				t.Fatalf("chunk %d has no choices array: %s", i, c)
			}
			if len(ch.Choices) == 0 {
				if !includeUsage || ch.Usage == nil || i != len(chunks)-1 {
					t.Fatalf("choices [] only in the last chunk, with usage: %s", c)
				}
				continue
			}
			for _, cc := range ch.Choices {
				if started[cc.Index] == (cc.Delta.Role != "") {
					t.Fatalf("role assistant must be on the first chunk of choice %d only: %s", cc.Index, c)
				}
				started[cc.Index] = true
				if cc.FinishReason != nil {
					finished[cc.Index]++
				}
			}
		}
		for idx := range started {
			if finished[idx] != 1 {
				t.Fatalf("choice %d has %d finish reasons", idx, finished[idx])
			}
		}
		if len(started) == 0 {
			t.Fatal("no choice at all")
		}
	})
}

// FuzzAnswerHasContent checks Answer.HasContent against gemini.HasContent.
func FuzzAnswerHasContent(f *testing.F) {
	for _, s := range []string{
		`{"candidates":[{"content":{"parts":[{"text":"hi"}]},"finishReason":"STOP"}]}`,
		`{"candidates":[{"content":{"parts":[]},"finishReason":"STOP"}]}`,
		`{"candidates":[{"finishReason":"MAX_TOKENS"}]}`,
		`{"candidates":[{"content":{"role":"model"}}],"usageMetadata":{"totalTokenCount":3}}`,
		`{"promptFeedback":{"blockReason":"SAFETY"}}`,
		`{"candidates":[]}`, `{}`, `not json`, `{"error":{"code":500,"message":"x","status":"INTERNAL"}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		want := gemini.HasContent([]byte(body))
		if got := DecodeAnswer([]byte(body)).HasContent(); got != want {
			t.Fatalf("HasContent(%s) = %v, gemini.HasContent says %v", body, got, want)
		}
	})
}

// FuzzFastDecoderAgrees holds goccy/go-json (the fast path of unmarshal) to
// encoding/json on the types it decodes: whatever goccy accepts, encoding/json
// accepts with the same result.
func FuzzFastDecoderAgrees(f *testing.F) {
	for _, s := range requestSeeds {
		f.Add([]byte(s))
	}
	for _, s := range []string{
		`{"candidates":[{"content":{"parts":[{"text":"hi","thought":true},{"functionCall":{"name":"f","args":{"a":1}}}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":3},"responseId":"r"}`,
		`{"promptFeedback":{"blockReason":"SAFETY"}}`, `{"error":{"code":500,"message":"x","status":"INTERNAL"}}`,
		`{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}`,
	} {
		f.Add([]byte(s))
	}
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
		check(t, body, new(geminiResponse), new(geminiResponse))
		check(t, body, new(wireMessage), new(wireMessage))
	})
}
