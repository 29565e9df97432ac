package fromopenai

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	fastjson "github.com/goccy/go-json"
)

var fuzzRequests = []string{
	agentRequest,
	`{"contents":[{"parts":[{"text":"hi"}]}]}`,
	`{"system_instruction":{"parts":[{"text":"S"}]},"contents":[{"role":"user","parts":[{"inline_data":{"mime_type":"image/jpeg","data":"AAAA"}}]}],"generation_config":{"response_mime_type":"application/json","response_schema":{"type":"OBJECT","nullable":true,"properties":{"a":{"type":"ARRAY","items":{"type":"STRING"}}}}}}`,
	`{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"result":"x"}}}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","anyOf":[{"type":"STRING"}]}}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["f"]}}}`,
	`{"contents":[{"parts":[{"fileData":{"fileUri":"x"}}]}],"tools":[{"googleSearch":{}}]}`,
	`{"contents":[]}`, `[]`, `null`, `{}`,
}

func FuzzRequest(f *testing.F) {
	for _, s := range fuzzRequests {
		f.Add([]byte(s), "deepseek-chat", false)
	}
	f.Add([]byte(fuzzRequests[1]), "gpt-5", true)
	f.Fuzz(func(t *testing.T, body []byte, model string, stream bool) {
		out, err := Request(body, model, stream)
		if err != nil {
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("error %T %v is not a *RequestError", err, err)
			}
			if !json.Valid(re.Body()) {
				t.Fatalf("error body is not JSON: %s", re.Body())
			}
			return
		}
		var r struct {
			Model    string `json:"model"`
			Messages []struct {
				Role       string          `json:"role"`
				Content    json.RawMessage `json:"content"`
				ToolCallID string          `json:"tool_call_id"`
				ToolCalls  []struct {
					ID string `json:"id"`
				} `json:"tool_calls"`
			} `json:"messages"`
			Stream bool `json:"stream"`
		}
		if err := json.Unmarshal(out, &r); err != nil {
			t.Fatalf("not JSON (%v): %s", err, out)
		}
		if len(r.Messages) == 0 || r.Stream != stream || utf8.ValidString(model) && r.Model != model {
			t.Fatalf("model or stream lost: %s", out)
		}
		// Every tool message answers a call made before it.
		called := map[string]bool{}
		for _, m := range r.Messages {
			switch m.Role {
			case "system", "user", "assistant":
			case "tool":
				if !called[m.ToolCallID] {
					t.Fatalf("tool message for unknown call %q: %s", m.ToolCallID, out)
				}
				delete(called, m.ToolCallID)
			default:
				t.Fatalf("role %q: %s", m.Role, out)
			}
			for _, c := range m.ToolCalls {
				called[c.ID] = true
			}
		}
	})
}

var fuzzAnswers = []string{openAIAnswer, openAIToolAnswer, deepSeekReasonerAnswer,
	`{"choices":[{"message":{"content":[{"type":"text","text":"a"}]},"finish_reason":"content_filter"}]}`,
	`{"choices":[{"message":{"tool_calls":[{"function":{"name":"f","arguments":{"a":1}}}]}}]}`,
	`{"error":{"message":"x"}}`, `{"choices":[]}`, `not json`,
}

func FuzzResponse(f *testing.F) {
	for _, s := range fuzzAnswers {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		out, err := Response(body, "gemini-2.5-flash")
		if err != nil {
			if !errors.Is(err, ErrBadAnswer) {
				t.Fatalf("error %v does not wrap ErrBadAnswer", err)
			}
			return
		}
		var r struct {
			Candidates []struct {
				Content struct {
					Parts []struct {
						FunctionCall *struct {
							Args map[string]any `json:"args"`
						} `json:"functionCall"`
					} `json:"parts"`
				} `json:"content"`
				FinishReason string `json:"finishReason"`
			} `json:"candidates"`
		}
		if err := json.Unmarshal(out, &r); err != nil || len(r.Candidates) == 0 {
			t.Fatalf("bad answer (%v): %s", err, out)
		}
		for _, c := range r.Candidates {
			if c.FinishReason == "" {
				t.Fatalf("candidate without finishReason: %s", out)
			}
			for _, p := range c.Content.Parts {
				if p.FunctionCall != nil && p.FunctionCall.Args == nil {
					t.Fatalf("functionCall args not an object: %s", out)
				}
			}
		}
	})
}

// FuzzStream feeds newline-separated payloads. Every event is framed and
// valid JSON; the stream ends with exactly one final event (finishReason
// on every candidate seen, or an error event) and nothing after it.
func FuzzStream(f *testing.F) {
	f.Add([]byte(strings.Join(openAIToolStream, "\n")))
	f.Add([]byte(`{"id":"d","choices":[{"index":0,"delta":{"reasoning_content":"r"}}]}` + "\n" +
		`{"id":"d","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`))
	f.Add([]byte(`{"choices":[{"index":2,"delta":{"tool_calls":[{"id":"a","function":{"name":"f","arguments":"{}"}},{"function":{"arguments":" "}}]}},{"index":0,"delta":{"content":"y"}}]}` + "\n[DONE]"))
	f.Add([]byte(`{"error":{"message":"boom","code":"server_error"}}`))
	f.Add([]byte("data: [DONE]\n{\"choices\":[]}"))
	f.Fuzz(func(t *testing.T, payloads []byte) {
		s := NewStream("m")
		var out []byte
		var err error
		for _, p := range bytes.Split(payloads, []byte("\n")) {
			if out, err = s.Append(out, p); err != nil {
				break
			}
		}
		if err == nil {
			out, err = s.Close(out)
		}
		evs := events(t, out)
		if len(evs) == 0 {
			t.Fatal("no event at all")
		}
		for i, ev := range evs {
			isErr := strings.HasPrefix(ev, `{"error":`)
			if isErr != (err != nil && i == len(evs)-1) {
				t.Fatalf("event %d: error event where none is due (or missing): %q, err %v", i, evs, err)
			}
		}
		if err != nil {
			return
		}
		var last struct {
			Candidates []struct {
				FinishReason string `json:"finishReason"`
			} `json:"candidates"`
		}
		if json.Unmarshal([]byte(evs[len(evs)-1]), &last) != nil || len(last.Candidates) == 0 {
			t.Fatalf("last event %s", evs[len(evs)-1])
		}
		for _, c := range last.Candidates {
			if c.FinishReason == "" {
				t.Fatalf("last event without finishReason: %s", evs[len(evs)-1])
			}
		}
		if more, _ := s.Append(nil, []byte(`{"choices":[{"index":0,"delta":{"content":"z"}}]}`)); len(more) != 0 {
			t.Fatal("events after the end")
		}
	})
}

func FuzzError(f *testing.F) {
	f.Add(401, []byte(`{"error":{"message":"bad key sk-0123456789abcdefghij","code":"invalid_api_key"}}`))
	f.Add(0, []byte(`{"error":{"code":429}}`))
	f.Add(503, []byte("oops"))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		out := Error(status, body, "sk-0123456789abcdefghij")
		var e struct {
			Error struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
				Status  string `json:"status"`
			} `json:"error"`
		}
		if err := json.Unmarshal(out, &e); err != nil || e.Error.Code < 400 || e.Error.Code > 599 || e.Error.Status == "" || e.Error.Message == "" {
			t.Fatalf("bad error body %s (%v)", out, err)
		}
		if strings.Contains(e.Error.Message, "sk-0123456789abcdefghij") {
			t.Fatalf("key leaked: %s", out)
		}
	})
}

// FuzzFastDecoderAgrees holds goccy/go-json (the fast path of unmarshal) to
// encoding/json on the answer and chunk type: whatever goccy accepts,
// encoding/json accepts with the same result.
func FuzzFastDecoderAgrees(f *testing.F) {
	for _, s := range fuzzAnswers {
		f.Add([]byte(s))
	}
	for _, s := range openAIToolStream {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var fast, std oaCompletion
		if fastjson.Unmarshal(body, &fast) != nil {
			return
		}
		if err := json.Unmarshal(body, &std); err != nil {
			t.Fatalf("goccy accepts %q, encoding/json refuses it: %v", body, err)
		}
		if !reflect.DeepEqual(fast, std) {
			t.Fatalf("%q decodes differently:\n goccy %+v\n std   %+v", body, fast, std)
		}
	})
}
