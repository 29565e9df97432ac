package chat

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

const hi = `{"role":"user","content":"hi"}`

// hiWant is the contents for the single "hi" user message.
const hiWant = `"contents":[{"role":"user","parts":[{"text":"hi"}]}]`

func pngFetcher(ctx context.Context, url string) (string, []byte, error) {
	switch {
	case strings.HasSuffix(url, "/typed.jpg"):
		return "image/jpg; charset=binary", []byte("\xff\xd8\xff\xe0 jpeg"), nil
	case strings.HasSuffix(url, "/untyped"):
		return "", []byte("\x89PNG\r\n\x1a\n rest"), nil
	case strings.HasSuffix(url, "/unknown"):
		return "application/octet-stream", []byte("????"), nil
	case strings.HasSuffix(url, "/page"):
		return "text/html; charset=utf-8", []byte("<html>"), nil
	case strings.HasSuffix(url, "/sniffed-as-text"):
		return "text/plain; charset=utf-8", []byte("GIF89a...."), nil
	case strings.HasSuffix(url, "/empty"):
		return "image/png", nil, nil
	}
	return "", nil, errors.New("404 Not Found")
}

func TestToGemini(t *testing.T) {
	cases := []struct {
		name  string
		model string // default gemini-2.5-flash
		f     gemini.Features
		body  string // the request minus the braces
		want  string
	}{
		{
			name: "system and developer join into systemInstruction",
			body: `"messages":[{"role":"system","content":"one"},{"role":"developer","content":[{"type":"text","text":"two"},{"type":"text","text":""}]},` + hi + `]`,
			want: `{` + hiWant + `,"systemInstruction":{"parts":[{"text":"one"},{"text":"two"}]}}`,
		},
		{
			name: "only system text becomes the prompt",
			body: `"messages":[{"role":"system","content":"tell a joke"}]`,
			want: `{"contents":[{"role":"user","parts":[{"text":"tell a joke"}]}]}`,
		},
		{
			name: "consecutive turns of one role merge, empty messages vanish",
			body: `"messages":[{"role":"user","content":"a"},{"role":"user","content":[{"type":"text","text":"b"}]},{"role":"assistant","content":"c"},{"role":"assistant","content":""},{"role":"assistant","content":[{"type":"text","text":"d"},{"type":"refusal","refusal":"no"}]},{"role":"user","content":"e"}]`,
			want: `{"contents":[{"role":"user","parts":[{"text":"a"},{"text":"b"}]},{"role":"model","parts":[{"text":"c"},{"text":"d"}]},{"role":"user","parts":[{"text":"e"}]}]}`,
		},
		{
			name: "media parts",
			body: `"messages":[{"role":"user","content":[
				{"type":"text","text":"look"},
				{"type":"image_url","image_url":{"url":"data:image/jpg;base64,/9j/4AAQ","detail":"high"}},
				{"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}},
				{"type":"input_audio","input_audio":{"data":"SUQz","format":"MP3"}},
				{"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0=","filename":"a.pdf"}},
				{"type":"file","file":{"file_data":"JVBERi0","filename":"b.PDF"}},
				{"type":"input_video","input_video":{"data":"AAAAIGZ0eXA","format":"mp4"}},
				{"type":"image_url","image_url":{"url":"https://generativelanguage.googleapis.com/v1beta/files/abc123"}}
			]}]`,
			want: `{"contents":[{"role":"user","parts":[
				{"text":"look"},
				{"inlineData":{"mimeType":"image/jpeg","data":"/9j/4AAQ"}},
				{"inlineData":{"mimeType":"audio/wav","data":"UklGRg=="}},
				{"inlineData":{"mimeType":"audio/mp3","data":"SUQz"}},
				{"inlineData":{"mimeType":"application/pdf","data":"JVBERi0="}},
				{"inlineData":{"mimeType":"application/pdf","data":"JVBERi0"}},
				{"inlineData":{"mimeType":"video/mp4","data":"AAAAIGZ0eXA"}},
				{"fileData":{"fileUri":"https://generativelanguage.googleapis.com/v1beta/files/abc123"}}
			]}]}`,
		},
		{
			name: "image URLs through the fetcher",
			body: `"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x.test/typed.jpg"}},{"type":"image_url","image_url":{"url":"https://x.test/untyped"}},{"type":"image_url","image_url":{"url":"https://x.test/sniffed-as-text"}}]}]`,
			want: `{"contents":[{"role":"user","parts":[
				{"inlineData":{"mimeType":"image/jpeg","data":"/9j/4CBqcGVn"}},
				{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgogcmVzdA=="}},
				{"inlineData":{"mimeType":"image/gif","data":"R0lGODlhLi4uLg=="}}]}]}`,
		},
		{
			name: "tool calls and tool results",
			body: `"messages":[` + hi + `,
				{"role":"assistant","content":"let me see","tool_calls":[
					{"id":"call_0123456789abcdef01234567","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
					{"id":"gemini-id-2","type":"function","function":{"name":"get_time","arguments":""}}]},
				{"role":"tool","tool_call_id":"call_0123456789abcdef01234567","content":"{\"temp\": 21}"},
				{"role":"tool","tool_call_id":"gemini-id-2","content":[{"type":"text","text":"12:00"}]},
				{"role":"user","content":"thanks"}]`,
			want: `{"contents":[{"role":"user","parts":[{"text":"hi"}]},
				{"role":"model","parts":[{"text":"let me see"},
					{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}},
					{"functionCall":{"id":"gemini-id-2","name":"get_time","args":{}}}]},
				{"role":"user","parts":[
					{"functionResponse":{"name":"get_weather","response":{"temp":21}}},
					{"functionResponse":{"id":"gemini-id-2","name":"get_time","response":{"result":"12:00"}}},
					{"text":"thanks"}]}]}`,
		},
		{
			name: "tool results that are not objects are wrapped",
			body: `"messages":[` + hi + `,{"role":"assistant","tool_calls":[
					{"id":"a","function":{"name":"f","arguments":"{}"}},{"id":"b","function":{"name":"f","arguments":"{}"}},
					{"id":"c","function":{"name":"f","arguments":"{}"}},{"id":"d","function":{"name":"f","arguments":"{}"}}]},
				{"role":"tool","tool_call_id":"a","content":"[1,2]"},{"role":"tool","tool_call_id":"b","content":" 42 "},
				{"role":"tool","tool_call_id":"c","content":"not json {"},{"role":"tool","tool_call_id":"d","content":""}]`,
			want: `{"contents":[{"role":"user","parts":[{"text":"hi"}]},
				{"role":"model","parts":[{"functionCall":{"id":"a","name":"f","args":{}}},{"functionCall":{"id":"b","name":"f","args":{}}},{"functionCall":{"id":"c","name":"f","args":{}}},{"functionCall":{"id":"d","name":"f","args":{}}}]},
				{"role":"user","parts":[
					{"functionResponse":{"id":"a","name":"f","response":{"result":[1,2]}}},
					{"functionResponse":{"id":"b","name":"f","response":{"result":42}}},
					{"functionResponse":{"id":"c","name":"f","response":{"result":"not json {"}}},
					{"functionResponse":{"id":"d","name":"f","response":{"result":""}}}]}]}`,
		},
		{
			name:  "thought signatures go back; Gemini 3 gets the documented skip value when one is missing",
			model: "gemini-3-pro-preview",
			body: `"messages":[` + hi + `,
				{"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f","arguments":"{}"},"extra_content":{"google":{"thought_signature":"U0lHMQ=="}}},{"id":"b","function":{"name":"f","arguments":"{}"}}]},
				{"role":"tool","tool_call_id":"a","content":"1"},{"role":"tool","tool_call_id":"b","content":"2"},
				{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]},
				{"role":"tool","tool_call_id":"c","content":"3"},
				{"role":"assistant","content":[{"type":"text","text":"x"},{"type":"text","text":"done"}],"extra_content":{"google":{"thought_signature":"VEVYVA=="}}}]`,
			want: `{"contents":[{"role":"user","parts":[{"text":"hi"}]},
				{"role":"model","parts":[{"functionCall":{"id":"a","name":"f","args":{}},"thoughtSignature":"U0lHMQ=="},{"functionCall":{"id":"b","name":"f","args":{}}}]},
				{"role":"user","parts":[{"functionResponse":{"id":"a","name":"f","response":{"result":1}}},{"functionResponse":{"id":"b","name":"f","response":{"result":2}}}]},
				{"role":"model","parts":[{"functionCall":{"id":"c","name":"f","args":{}},"thoughtSignature":"skip_thought_signature_validator"}]},
				{"role":"user","parts":[{"functionResponse":{"id":"c","name":"f","response":{"result":3}}}]},
				{"role":"model","parts":[{"text":"x"},{"text":"done","thoughtSignature":"VEVYVA=="}]}]}`,
		},
		{
			name: "no skip signature before Gemini 3",
			body: `"messages":[` + hi + `,{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{\"a\":[1]}"}}]},{"role":"tool","tool_call_id":"c","content":"3"}]`,
			want: `{"contents":[{"role":"user","parts":[{"text":"hi"}]},
				{"role":"model","parts":[{"functionCall":{"id":"c","name":"f","args":{"a":[1]}}}]},
				{"role":"user","parts":[{"functionResponse":{"id":"c","name":"f","response":{"result":3}}}]}]}`,
		},
		{
			name: "tools keep their JSON Schema as parametersJsonSchema",
			body: `"messages":[` + hi + `],"tools":[
				{"type":"function","function":{"name":"lookup","description":"Look up","strict":true,"parameters":{"type":"object","properties":{"id":{"anyOf":[{"type":"string"},{"const":7}]},"node":{"$ref":"#/$defs/node"}},"$defs":{"node":{"type":"object","additionalProperties":false}},"additionalProperties":false,"required":["id"]}}},
				{"type":"function","function":{"name":"now"}},
				{"type":"function","function":{"name":"lookup","description":"duplicate"}}]`,
			want: `{` + hiWant + `,"tools":[{"functionDeclarations":[
				{"name":"lookup","description":"Look up","parametersJsonSchema":{"type":"object","properties":{"id":{"anyOf":[{"type":"string"},{"const":7}]},"node":{"$ref":"#/$defs/node"}},"$defs":{"node":{"type":"object","additionalProperties":false}},"additionalProperties":false,"required":["id"]}},
				{"name":"now"}]}]}`,
		},
		{
			name: "tool_choice none",
			body: `"messages":[` + hi + `],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none"`,
			want: `{` + hiWant + `,"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"NONE"}}}`,
		},
		{
			name: "tool_choice auto",
			body: `"messages":[` + hi + `],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"auto"`,
			want: `{` + hiWant + `,"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"AUTO"}}}`,
		},
		{
			name: "tool_choice required",
			body: `"messages":[` + hi + `],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required"`,
			want: `{` + hiWant + `,"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}}`,
		},
		{
			name: "tool_choice names a function",
			body: `"messages":[` + hi + `],"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"g"}}],"tool_choice":{"type":"function","function":{"name":"g"}}`,
			want: `{` + hiWant + `,"tools":[{"functionDeclarations":[{"name":"f"},{"name":"g"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["g"]}}}`,
		},
		{
			name: "allowed_tools required",
			body: `"messages":[` + hi + `],"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"g"}},{"type":"function","function":{"name":"h"}}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"required","tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"h"}}]}}`,
			want: `{` + hiWant + `,"tools":[{"functionDeclarations":[{"name":"f"},{"name":"g"},{"name":"h"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["f","h"]}}}`,
		},
		{
			name: "allowed_tools auto declares only those",
			body: `"messages":[` + hi + `],"tools":[{"type":"function","function":{"name":"f"}},{"type":"function","function":{"name":"g"}}],"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"function","function":{"name":"g"}}]}}`,
			want: `{` + hiWant + `,"tools":[{"functionDeclarations":[{"name":"g"}]}],"toolConfig":{"functionCallingConfig":{"mode":"AUTO"}}}`,
		},
		{
			name: "tool_choice none without tools is ignored",
			body: `"messages":[` + hi + `],"tool_choice":"none"`,
			want: `{` + hiWant + `}`,
		},
		{
			name: "sampling parameters",
			body: `"messages":[` + hi + `],"temperature":0.2,"top_p":0.9,"top_k":20,"max_tokens":100,"n":2,"seed":42,"stop":"END","presence_penalty":0.5,"frequency_penalty":-0.5`,
			want: `{` + hiWant + `,"generationConfig":{"temperature":0.2,"topP":0.9,"topK":20,"maxOutputTokens":100,"candidateCount":2,"seed":42,"stopSequences":["END"],"presencePenalty":0.5,"frequencyPenalty":-0.5}}`,
		},
		{
			name: "max_completion_tokens wins, stop array, big seed folds to 32 bits, zero values",
			body: `"messages":[` + hi + `],"max_tokens":100,"max_completion_tokens":200,"stop":["a","b"],"seed":4294967297,"n":1,"temperature":0`,
			want: `{` + hiWant + `,"generationConfig":{"maxOutputTokens":200,"stopSequences":["a","b"],"seed":1,"temperature":0}}`,
		},
		{
			name: "max_tokens 0 means unset",
			body: `"messages":[` + hi + `],"max_tokens":0`,
			want: `{` + hiWant + `}`,
		},
		{
			name: "response_format text",
			body: `"messages":[` + hi + `],"response_format":{"type":"text"}`,
			want: `{` + hiWant + `}`,
		},
		{
			name: "response_format json_object",
			body: `"messages":[` + hi + `],"response_format":{"type":"json_object"}`,
			want: `{` + hiWant + `,"generationConfig":{"responseMimeType":"application/json"}}`,
		},
		{
			name: "response_format json_schema keeps the schema",
			body: `"messages":[` + hi + `],"response_format":{"type":"json_schema","json_schema":{"name":"r","strict":true,"schema":{"type":"object","properties":{"kind":{"const":"a"},"n":{"anyOf":[{"type":"integer"},{"type":"null"}]}},"additionalProperties":false}}}`,
			want: `{` + hiWant + `,"generationConfig":{"responseMimeType":"application/json","responseJsonSchema":{"type":"object","properties":{"kind":{"const":"a"},"n":{"anyOf":[{"type":"integer"},{"type":"null"}]}},"additionalProperties":false}}}`,
		},
		{
			name: "settings tools",
			f:    gemini.Features{Search: true, CodeExecution: true, URLContext: true},
			body: `"messages":[` + hi + `]`,
			want: `{` + hiWant + `,"tools":[{"googleSearch":{}},{"codeExecution":{}},{"urlContext":{}}]}`,
		},
		{
			name: "settings tools step aside for client functions",
			f:    gemini.Features{Search: true, CodeExecution: true, URLContext: true},
			body: `"messages":[` + hi + `],"tools":[{"type":"function","function":{"name":"f"}}]`,
			want: `{` + hiWant + `,"tools":[{"functionDeclarations":[{"name":"f"}]}]}`,
		},
		{
			name: "settings tools step aside for JSON output before Gemini 3",
			f:    gemini.Features{Search: true},
			body: `"messages":[` + hi + `],"response_format":{"type":"json_object"}`,
			want: `{` + hiWant + `,"generationConfig":{"responseMimeType":"application/json"}}`,
		},
		{
			name:  "Gemini 3 combines JSON output with search",
			model: "gemini-3-flash-preview",
			f:     gemini.Features{Search: true},
			body:  `"messages":[` + hi + `],"response_format":{"type":"json_object"}`,
			want:  `{` + hiWant + `,"tools":[{"googleSearch":{}}],"generationConfig":{"responseMimeType":"application/json"}}`,
		},
		{
			name: "no code execution with media before Gemini 3",
			f:    gemini.Features{CodeExecution: true, URLContext: true},
			body: `"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,` + png1x1 + `"}}]}]`,
			want: `{"contents":[{"role":"user","parts":[{"inlineData":{"mimeType":"image/png","data":"` + png1x1 + `"}}]}],"tools":[{"urlContext":{}}]}`,
		},
		{
			name:  "image output",
			model: "gemini-2.5-flash-image",
			f:     gemini.Features{ImageOutput: true, CodeExecution: true, Search: true, IncludeThoughts: true, ThinkingBudget: intPtr(100)},
			body:  `"messages":[{"role":"system","content":"style: flat"},` + hi + `]`,
			want:  `{` + hiWant + `,"systemInstruction":{"parts":[{"text":"style: flat"}]},"tools":[{"googleSearch":{}}],"generationConfig":{"responseModalities":["TEXT","IMAGE"]}}`,
		},
		{
			name:  "2.0 image generation gets the system text in the user turn",
			model: "gemini-2.0-flash-preview-image-generation",
			f:     gemini.Features{ImageOutput: true},
			body:  `"messages":[{"role":"system","content":"style: flat"},` + hi + `]`,
			want:  `{"contents":[{"role":"user","parts":[{"text":"style: flat"},{"text":"hi"}]}],"generationConfig":{"responseModalities":["TEXT","IMAGE"]}}`,
		},
		{
			name: "safety settings from the caller",
			f:    gemini.Features{SafetySettings: json.RawMessage(`[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"OFF"}]`)},
			body: `"messages":[` + hi + `]`,
			want: `{` + hiWant + `,"safetySettings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"OFF"}]}`,
		},
		{
			name: "settings budget and thoughts",
			f:    gemini.Features{ThinkingBudget: intPtr(2048), IncludeThoughts: true},
			body: `"messages":[` + hi + `]`,
			want: `{` + hiWant + `,"generationConfig":{"thinkingConfig":{"thinkingBudget":2048,"includeThoughts":true}}}`,
		},
		{
			name: "client effort wins over settings budget",
			f:    gemini.Features{ThinkingBudget: intPtr(2048), DisableThinking: true},
			body: `"messages":[` + hi + `],"reasoning_effort":"medium"`,
			want: `{` + hiWant + `,"generationConfig":{"thinkingConfig":{"thinkingBudget":8192}}}`,
		},
		{
			name: "non-thinking alias beats the settings budget, no thoughts at budget 0",
			f:    gemini.Features{ThinkingBudget: intPtr(2048), DisableThinking: true, IncludeThoughts: true},
			body: `"messages":[` + hi + `]`,
			want: `{` + hiWant + `,"generationConfig":{"thinkingConfig":{"thinkingBudget":0}}}`,
		},
		{
			name:  "settings stay away from models that cannot think",
			model: "gemini-2.0-flash",
			f:     gemini.Features{ThinkingBudget: intPtr(2048), DisableThinking: true, IncludeThoughts: true},
			body:  `"messages":[` + hi + `]`,
			want:  `{` + hiWant + `}`,
		},
		{
			name:  "reasoning_effort is dropped for models that cannot think",
			model: "gemini-2.0-flash",
			f:     gemini.Features{IncludeThoughts: true},
			body:  `"messages":[` + hi + `],"reasoning_effort":"high"`,
			want:  `{` + hiWant + `}`,
		},
		{
			name:  "Google's thinking_config goes to any model",
			model: "some-new-model",
			body:  `"messages":[` + hi + `],"extra_body":{"google":{"thinking_config":{"thinking_budget":-1,"include_thoughts":true}}}`,
			want:  `{` + hiWant + `,"generationConfig":{"thinkingConfig":{"thinkingBudget":-1,"includeThoughts":true}}}`,
		},
		{
			name:  "settings budget 0 on Pro is its minimum",
			model: "gemini-2.5-pro",
			f:     gemini.Features{ThinkingBudget: intPtr(0)},
			body:  `"messages":[` + hi + `]`,
			want:  `{` + hiWant + `,"generationConfig":{"thinkingConfig":{"thinkingBudget":128}}}`,
		},
		{
			name: "extra_body thinking_config",
			body: `"messages":[` + hi + `],"extra_body":{"google":{"thinking_config":{"thinking_budget":800,"include_thoughts":true}}}`,
			want: `{` + hiWant + `,"generationConfig":{"thinkingConfig":{"thinkingBudget":800,"includeThoughts":true}}}`,
		},
		{
			name:  "extra_body thinking_level and include_thoughts false beats the setting",
			model: "gemini-3-flash-preview",
			f:     gemini.Features{IncludeThoughts: true},
			body:  `"messages":[` + hi + `],"extra_body":{"google":{"thinking_config":{"thinking_level":"MEDIUM","include_thoughts":false}}}`,
			want:  `{` + hiWant + `,"generationConfig":{"thinkingConfig":{"thinkingLevel":"medium"}}}`,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			model := c.model
			if model == "" {
				model = "gemini-2.5-flash"
			}
			req, err := DecodeRequest([]byte("{" + c.body + "}"))
			if err != nil {
				t.Fatalf("DecodeRequest: %v", err)
			}
			got, err := ToGemini(context.Background(), req, model, c.f, pngFetcher)
			if err != nil {
				t.Fatalf("ToGemini: %v", err)
			}
			jsonEqual(t, got, c.want)
		})
	}
}

func TestReasoningEffort(t *testing.T) {
	models := []string{"gemini-2.5-flash", "gemini-2.5-pro", "gemini-3-pro-preview", "gemini-3-flash-preview"}
	want := map[string][4]string{
		"none":    {`{"thinkingBudget":0}`, `{"thinkingBudget":128}`, `{"thinkingLevel":"low"}`, `{"thinkingLevel":"minimal"}`},
		"minimal": {`{"thinkingBudget":1024}`, `{"thinkingBudget":1024}`, `{"thinkingLevel":"low"}`, `{"thinkingLevel":"low"}`},
		"low":     {`{"thinkingBudget":1024}`, `{"thinkingBudget":1024}`, `{"thinkingLevel":"low"}`, `{"thinkingLevel":"low"}`},
		"medium":  {`{"thinkingBudget":8192}`, `{"thinkingBudget":8192}`, `{"thinkingLevel":"high"}`, `{"thinkingLevel":"high"}`},
		"high":    {`{"thinkingBudget":24576}`, `{"thinkingBudget":24576}`, `{"thinkingLevel":"high"}`, `{"thinkingLevel":"high"}`},
		"xhigh":   {`{"thinkingBudget":24576}`, `{"thinkingBudget":24576}`, `{"thinkingLevel":"high"}`, `{"thinkingLevel":"high"}`},
	}
	for effort, w := range want {
		for i, model := range models {
			t.Run(effort+"/"+model, func(t *testing.T) {
				req, err := DecodeRequest([]byte(`{"messages":[` + hi + `],"reasoning_effort":"` + effort + `"}`))
				if err != nil {
					t.Fatal(err)
				}
				got, err := ToGemini(context.Background(), req, model, gemini.Features{}, nil)
				if err != nil {
					t.Fatal(err)
				}
				jsonEqual(t, got, `{`+hiWant+`,"generationConfig":{"thinkingConfig":`+w[i]+`}}`)
			})
		}
	}
}

func TestDisableThinking(t *testing.T) {
	for model, want := range map[string]string{
		"gemini-2.5-flash":             `{"thinkingBudget":0}`,
		"gemini-2.5-flash-lite":        `{"thinkingBudget":0}`,
		"gemini-2.5-pro":               `{"thinkingBudget":128}`,
		"gemini-3-pro-preview":         `{"thinkingLevel":"low"}`,
		"gemini-3.1-pro-preview":       `{"thinkingLevel":"low"}`,
		"gemini-3-flash-preview":       `{"thinkingLevel":"minimal"}`,
		"gemini-flash-latest":          `{"thinkingBudget":0}`,
		"gemini-2.0-flash":             ``,
		"gemini-2.5-flash-image":       ``,
		"gemma-3-27b-it":               ``,
		"gemini-2.5-flash-preview-tts": ``,
	} {
		t.Run(model, func(t *testing.T) {
			req, _ := DecodeRequest([]byte(`{"messages":[` + hi + `]}`))
			got, err := ToGemini(context.Background(), req, model, gemini.Features{DisableThinking: true}, nil)
			if err != nil {
				t.Fatal(err)
			}
			w := `{` + hiWant + `}`
			if want != "" {
				w = `{` + hiWant + `,"generationConfig":{"thinkingConfig":` + want + `}}`
			}
			jsonEqual(t, got, w)
		})
	}
}

func TestToGeminiErrors(t *testing.T) {
	cases := []struct {
		name, body, param, msg string
		fetch                  Fetcher
	}{
		{"fetch fails", `{"messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":"https://x.test/missing.png"}}]}]}`, "messages[0].content[1].image_url.url", "404 Not Found", pngFetcher},
		{"no fetcher", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x.test/typed.jpg"}}]}]}`, "messages[0].content[0].image_url.url", "data: URL", nil},
		{"unknown image type", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x.test/unknown"}}]}]}`, "messages[0].content[0].image_url.url", "image type", pngFetcher},
		{"not an image", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x.test/page"}}]}]}`, "messages[0].content[0].image_url.url", "did not return an image (text/html)", pngFetcher},
		{"empty image", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x.test/empty"}}]}]}`, "messages[0].content[0].image_url.url", "no data", pngFetcher},
		{"nothing to send", `{"messages":[{"role":"user","content":""},{"role":"assistant","content":[]}]}`, "messages", "no content", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, err := DecodeRequest([]byte(c.body))
			if err != nil {
				t.Fatal(err)
			}
			_, err = ToGemini(context.Background(), req, "gemini-2.5-flash", gemini.Features{}, c.fetch)
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v, want *RequestError", err)
			}
			if re.Param != c.param || !strings.Contains(re.Message, c.msg) {
				t.Errorf("got %q / %q, want %q / ...%q...", re.Param, re.Message, c.param, c.msg)
			}
		})
	}
}

func TestToGeminiCancelled(t *testing.T) {
	req, _ := DecodeRequest([]byte(`{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://x.test/typed.jpg"}}]}]}`))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := ToGemini(ctx, req, "gemini-2.5-flash", gemini.Features{}, pngFetcher)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// A Request built in code (not decoded) is validated by ToGemini.
func TestToGeminiBuiltRequest(t *testing.T) {
	req := &Request{Messages: []Message{
		{Role: "user", Content: Content{Parts: []ContentPart{{Type: "text", Text: "see"}, {Type: "image_url", ImageURL: &ImageURL{URL: "data:image/png;base64," + png1x1}}}}},
		{Role: "assistant", ToolCalls: []ToolCall{{ID: "x", Function: FunctionCall{Name: "f", Arguments: `{"q":1}`}}}},
		{Role: "tool", ToolCallID: "x", Content: Content{Text: "ok"}},
	}}
	got, err := ToGemini(context.Background(), req, "gemini-2.5-flash", gemini.Features{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, got, `{"contents":[{"role":"user","parts":[{"text":"see"},{"inlineData":{"mimeType":"image/png","data":"`+png1x1+`"}}]},
		{"role":"model","parts":[{"functionCall":{"id":"x","name":"f","args":{"q":1}}}]},
		{"role":"user","parts":[{"functionResponse":{"id":"x","name":"f","response":{"result":"ok"}}}]}]}`)

	bad := &Request{Messages: []Message{{Role: "user", Content: Content{Parts: []ContentPart{{Type: "image_url", ImageURL: &ImageURL{URL: "data:image/png;base64,!!"}}}}}}}
	_, err = ToGemini(context.Background(), bad, "gemini-2.5-flash", gemini.Features{}, nil)
	var re *RequestError
	if !errors.As(err, &re) || re.Param != "messages[0].content[0].image_url.url" {
		t.Fatalf("err = %v", err)
	}
	badArgs := &Request{Messages: []Message{hiMessage(), {Role: "assistant", ToolCalls: []ToolCall{{ID: "x", Function: FunctionCall{Name: "f", Arguments: `nope`}}}}}}
	_, err = ToGemini(context.Background(), badArgs, "gemini-2.5-flash", gemini.Features{}, nil)
	if !errors.As(err, &re) || re.Param != "messages[1].tool_calls[0].function.arguments" {
		t.Fatalf("err = %v", err)
	}
}

func hiMessage() Message { return Message{Role: "user", Content: Content{Text: "hi"}} }

func TestToGeminiBuiltRequestSchemas(t *testing.T) {
	base := func() *Request { return &Request{Messages: []Message{hiMessage()}} }
	r := base()
	r.Tools = []Tool{{Type: "function", Function: FunctionDefinition{Name: "f", Parameters: json.RawMessage(`{"type":`)}}}
	var re *RequestError
	if _, err := ToGemini(context.Background(), r, "gemini-2.5-flash", gemini.Features{}, nil); !errors.As(err, &re) || re.Param != "tools[0].function.parameters" {
		t.Errorf("broken parameters: %v", err)
	}
	r = base()
	r.ResponseFormat = &ResponseFormat{Type: "json_schema", JSONSchema: &JSONSchema{Name: "x", Schema: json.RawMessage(`{]`)}}
	if _, err := ToGemini(context.Background(), r, "gemini-2.5-flash", gemini.Features{}, nil); !errors.As(err, &re) || re.Param != "response_format.json_schema.schema" {
		t.Errorf("broken schema: %v", err)
	}
	// A Request decoded with plain encoding/json works too.
	var plain Request
	if err := json.Unmarshal([]byte(`{"messages":[{"role":"user","content":[{"type":"text","text":"a"}]},{"role":"assistant","tool_calls":[{"id":"q","type":"function","function":{"name":"f","arguments":"{\"k\":2}"}}]},{"role":"tool","tool_call_id":"q","content":"1"}]}`), &plain); err != nil {
		t.Fatal(err)
	}
	got, err := ToGemini(context.Background(), &plain, "gemini-2.5-flash", gemini.Features{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, got, `{"contents":[{"role":"user","parts":[{"text":"a"}]},{"role":"model","parts":[{"functionCall":{"id":"q","name":"f","args":{"k":2}}}]},{"role":"user","parts":[{"functionResponse":{"id":"q","name":"f","response":{"result":1}}}]}]}`)
	b, _ := json.Marshal(plain.Messages[0].Content)
	if string(b) != `[{"type":"text","text":"a"}]` {
		t.Errorf("Content marshals as %s", b)
	}
}
