package chat

import (
	"errors"
	"strings"
	"testing"

	"github.com/gemini-balance/gemini_balance/internal/openai"
)

const png1x1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

func TestDecodeRequestErrors(t *testing.T) {
	user := `{"role":"user","content":"hi"}`
	call := `{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]}`
	tools := `"tools":[{"type":"function","function":{"name":"f"}}]`
	msgs := func(m ...string) string { return `"messages":[` + strings.Join(m, ",") + `]` }
	part := func(p string) string { return msgs(`{"role":"user","content":[` + p + `]}`) }
	cases := []struct {
		name, body, param, msg string
	}{
		{"invalid JSON", `{"messages":`, "", "invalid JSON"},
		{"not an object", `[1,2]`, "", "must be an object"},
		{"no messages", `{"model":"m"}`, "messages", "non-empty"},
		{"empty messages", `{` + msgs() + `}`, "messages", "non-empty"},
		{"messages not array", `{"messages":"hi"}`, "messages", "must be an array"},
		{"message not object", `{` + msgs(`"hi"`) + `}`, "messages[0]", "message object"},
		{"role missing", `{` + msgs(`{"content":"hi"}`) + `}`, "messages[0].role", "required"},
		{"role unknown", `{` + msgs(user, `{"role":"bot","content":"x"}`) + `}`, "messages[1].role", `unknown role "bot"`},
		{"role function", `{` + msgs(`{"role":"function","name":"f","content":"x"}`) + `}`, "messages[0].role", "deprecated"},
		{"role wrong type", `{` + msgs(`{"role":5}`) + `}`, "messages[0].role", "must be a string, not a number"},
		{"content number", `{` + msgs(`{"role":"user","content":5}`) + `}`, "messages[0].content", "string or an array"},
		{"part not object", `{` + part(`5`) + `}`, "messages[0].content[0]", "content part object"},
		{"part type missing", `{` + part(`{"text":"x"}`) + `}`, "messages[0].content[0].type", "required"},
		{"part type unknown", `{` + part(`{"type":"video_url"}`) + `}`, "messages[0].content[0].type", `"video_url"`},
		{"part text wrong type", `{` + part(`{"type":"text","text":1}`) + `}`, "messages[0].content[0].text", "must be a string"},
		{"image url missing", `{` + part(`{"type":"image_url","image_url":{}}`) + `}`, "messages[0].content[0].image_url.url", "required"},
		{"image url wrong type", `{` + part(`{"type":"image_url","image_url":{"url":1}}`) + `}`, "messages[0].content[0].image_url.url", "must be a string"},
		{"image data not base64", `{` + part(`{"type":"image_url","image_url":{"url":"data:image/png;base64,not base64!"}}`) + `}`, "messages[0].content[0].image_url.url", "not valid base64"},
		{"image data not base64 encoded", `{` + part(`{"type":"image_url","image_url":{"url":"data:image/png,rawbytes"}}`) + `}`, "messages[0].content[0].image_url.url", "base64-encoded"},
		{"image data no type", `{` + part(`{"type":"image_url","image_url":{"url":"data:;base64,AAAA"}}`) + `}`, "messages[0].content[0].image_url.url", "media type"},
		{"image bad scheme", `{` + part(`{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}`) + `}`, "messages[0].content[0].image_url.url", "data: URL or an http(s) URL"},
		{"audio missing", `{` + part(`{"type":"input_audio"}`) + `}`, "messages[0].content[0].input_audio", "required"},
		{"audio format", `{` + part(`{"type":"input_audio","input_audio":{"data":"AAAA","format":"midi"}}`) + `}`, "messages[0].content[0].input_audio.format", `"midi"`},
		{"audio data", `{` + part(`{"type":"input_audio","input_audio":{"data":"@@@@","format":"wav"}}`) + `}`, "messages[0].content[0].input_audio.data", "base64"},
		{"file id", `{` + part(`{"type":"file","file":{"file_id":"file-abc"}}`) + `}`, "messages[0].content[0].file.file_id", "not supported"},
		{"file no data", `{` + part(`{"type":"file","file":{"filename":"a.pdf"}}`) + `}`, "messages[0].content[0].file.file_data", "required"},
		{"file unknown type", `{` + part(`{"type":"file","file":{"file_data":"AAAA","filename":"a.bin"}}`) + `}`, "messages[0].content[0].file.file_data", "extension"},
		{"file bad data url", `{` + part(`{"type":"file","file":{"file_data":"data:application/pdf;base64,%%%"}}`) + `}`, "messages[0].content[0].file.file_data", "base64"},
		{"system image", `{` + msgs(`{"role":"system","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"https://x/y.png"}}]}`, user) + `}`, "messages[0].content[1].type", "only text"},
		{"tool without id", `{` + msgs(user, call, `{"role":"tool","content":"x"}`) + `}`, "messages[2].tool_call_id", "required"},
		{"tool unknown id", `{` + msgs(user, call, `{"role":"tool","tool_call_id":"c2","content":"x"}`) + `}`, "messages[2].tool_call_id", `"c2"`},
		{"tool answers a later call", `{` + msgs(user, `{"role":"tool","tool_call_id":"c1","content":"x"}`, call) + `}`, "messages[1].tool_call_id", `"c1"`},
		{"tool image", `{` + msgs(user, call, `{"role":"tool","tool_call_id":"c1","content":[{"type":"image_url","image_url":{"url":"https://x"}}]}`) + `}`, "messages[2].content[0].type", "only text"},
		{"call args invalid", `{` + msgs(user, `{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{oops"}}]}`) + `}`, "messages[1].tool_calls[0].function.arguments", "not valid JSON"},
		{"call args array", `{` + msgs(user, `{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"[1]"}}]}`) + `}`, "messages[1].tool_calls[0].function.arguments", "JSON object"},
		{"call id missing", `{` + msgs(user, `{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}`) + `}`, "messages[1].tool_calls[0].id", "required"},
		{"call name missing", `{` + msgs(user, `{"role":"assistant","tool_calls":[{"id":"c","function":{"arguments":"{}"}}]}`) + `}`, "messages[1].tool_calls[0].function.name", "required"},
		{"call type", `{` + msgs(user, `{"role":"assistant","tool_calls":[{"id":"c","type":"custom","function":{"name":"f"}}]}`) + `}`, "messages[1].tool_calls[0].type", `"custom"`},
		{"call not object", `{` + msgs(user, `{"role":"assistant","tool_calls":[1]}`) + `}`, "messages[1].tool_calls[0]", "tool call object"},
		{"legacy function_call", `{` + msgs(user, `{"role":"assistant","function_call":{"name":"f","arguments":"{}"}}`) + `}`, "messages[1].function_call", "deprecated"},
		{"temperature type", `{` + msgs(user) + `,"temperature":"hot"}`, "temperature", "must be a number, not a string"},
		{"temperature range", `{` + msgs(user) + `,"temperature":3}`, "temperature", "between 0 and 2"},
		{"top_p range", `{` + msgs(user) + `,"top_p":1.5}`, "top_p", "between 0 and 1"},
		{"penalty range", `{` + msgs(user) + `,"presence_penalty":-3}`, "presence_penalty", "between -2 and 2"},
		{"max_tokens negative", `{` + msgs(user) + `,"max_tokens":-1}`, "max_tokens", "at least 0"},
		{"max_tokens fraction", `{` + msgs(user) + `,"max_tokens":1.5}`, "max_tokens", "must be an integer"},
		{"n zero", `{` + msgs(user) + `,"n":0}`, "n", "at least 1"},
		{"n too many", `{` + msgs(user) + `,"n":9}`, "n", "at most 8"},
		{"stop number", `{` + msgs(user) + `,"stop":5}`, "stop", "string or an array"},
		{"stop array of numbers", `{` + msgs(user) + `,"stop":[1]}`, "stop", "string or an array"},
		{"stream type", `{` + msgs(user) + `,"stream":"yes"}`, "stream", "must be a boolean"},
		{"stream_options type", `{` + msgs(user) + `,"stream_options":{"include_usage":"y"}}`, "stream_options.include_usage", "must be a boolean"},
		{"tool type", `{` + msgs(user) + `,"tools":[{"type":"custom","custom":{"name":"x"}}]}`, "tools[0].type", `"custom"`},
		{"tool no function", `{` + msgs(user) + `,"tools":[{"type":"function"}]}`, "tools[0].function", "required"},
		{"tool no name", `{` + msgs(user) + `,"tools":[{"type":"function","function":{"description":"d"}}]}`, "tools[0].function.name", "required"},
		{"tool parameters array", `{` + msgs(user) + `,"tools":[{"type":"function","function":{"name":"f","parameters":[1]}}]}`, "tools[0].function.parameters", "JSON Schema object"},
		{"tool not object", `{` + msgs(user) + `,"tools":["f"]}`, "tools[0]", "tool object"},
		{"tool_choice word", `{` + msgs(user) + `,` + tools + `,"tool_choice":"any"}`, "tool_choice", `"any"`},
		{"tool_choice number", `{` + msgs(user) + `,` + tools + `,"tool_choice":1}`, "tool_choice", "must be"},
		{"tool_choice unknown function", `{` + msgs(user) + `,` + tools + `,"tool_choice":{"type":"function","function":{"name":"g"}}}`, "tool_choice.function.name", `"g"`},
		{"tool_choice required without tools", `{` + msgs(user) + `,"tool_choice":"required"}`, "tool_choice", "requires tools"},
		{"tool_choice function without tools", `{` + msgs(user) + `,"tool_choice":{"type":"function","function":{"name":"f"}}}`, "tool_choice", "requires tools"},
		{"tool_choice type", `{` + msgs(user) + `,` + tools + `,"tool_choice":{"type":"custom"}}`, "tool_choice.type", `"custom"`},
		{"allowed_tools mode", `{` + msgs(user) + `,` + tools + `,"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"never","tools":[{"type":"function","function":{"name":"f"}}]}}}`, "tool_choice.allowed_tools.mode", `"never"`},
		{"allowed_tools unknown", `{` + msgs(user) + `,` + tools + `,"tool_choice":{"type":"allowed_tools","allowed_tools":{"mode":"auto","tools":[{"type":"function","function":{"name":"g"}}]}}}`, "tool_choice.allowed_tools.tools[0].function.name", `"g"`},
		{"response_format type", `{` + msgs(user) + `,"response_format":{"type":"xml"}}`, "response_format.type", `"xml"`},
		{"response_format schema missing", `{` + msgs(user) + `,"response_format":{"type":"json_schema"}}`, "response_format.json_schema", "required"},
		{"response_format schema array", `{` + msgs(user) + `,"response_format":{"type":"json_schema","json_schema":{"name":"x","schema":[]}}}`, "response_format.json_schema.schema", "JSON Schema object"},
		{"reasoning_effort", `{` + msgs(user) + `,"reasoning_effort":"max"}`, "reasoning_effort", `"max"`},
		{"functions", `{` + msgs(user) + `,"functions":[{"name":"f"}]}`, "functions", "deprecated"},
		{"thinking_level", `{` + msgs(user) + `,"extra_body":{"google":{"thinking_config":{"thinking_level":"huge"}}}}`, "extra_body.google.thinking_config.thinking_level", `"huge"`},
		{"thinking both", `{` + msgs(user) + `,"extra_body":{"google":{"thinking_config":{"thinking_level":"low","thinking_budget":5}}}}`, "extra_body.google.thinking_config", "both"},
		{"thinking and effort", `{` + msgs(user) + `,"reasoning_effort":"low","extra_body":{"google":{"thinking_config":{"thinking_budget":5}}}}`, "reasoning_effort", "cannot be combined"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := DecodeRequest([]byte(c.body))
			var re *RequestError
			if !errors.As(err, &re) {
				t.Fatalf("err = %v (%T), want *RequestError", err, err)
			}
			if re.Param != c.param {
				t.Errorf("param = %q, want %q (message %q)", re.Param, c.param, re.Message)
			}
			if !strings.Contains(re.Message, c.msg) {
				t.Errorf("message = %q, want it to contain %q", re.Message, c.msg)
			}
			if !strings.HasPrefix(re.Error(), c.param) {
				t.Errorf("Error() = %q does not start with the param", re.Error())
			}
		})
	}
}

func TestDecodeRequestAccepts(t *testing.T) {
	body := `{
		"model": "gemini-2.5-flash",
		"stream": true, "stream_options": {"include_usage": true},
		"messages": [
			{"role": "developer", "content": "be brief"},
			{"role": "user", "content": ["plain string part", {"type": "image_url", "image_url": "data:image/png;base64,` + png1x1 + `"}]},
			{"role": "assistant", "content": "", "tool_calls": [
				{"id": "a", "type": "function", "function": {"name": "f", "arguments": {"x": 1}}},
				{"id": "b", "function": {"name": "f", "arguments": ""}}
			]},
			{"role": "tool", "tool_call_id": "a", "content": [{"type": "text", "text": "1"}]},
			{"role": "tool", "tool_call_id": "b", "content": null}
		],
		"stop": ["a", "", "b"],
		"google": {"thinking_config": {"include_thoughts": true}},
		"unknown_field": {"ignored": true}
	}`
	r, err := DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if !r.Stream || !r.IncludeUsage() || r.Model != "gemini-2.5-flash" {
		t.Errorf("stream fields: %+v", r)
	}
	if got := r.Messages[1].Content.Parts; len(got) != 2 || got[0].Type != "text" || got[0].Text != "plain string part" || got[1].ImageURL.URL == "" {
		t.Errorf("parts = %+v", got)
	}
	if r.Messages[0].Content.Text != "be brief" || r.Messages[0].Content.Parts != nil {
		t.Errorf("string content = %+v", r.Messages[0].Content)
	}
	calls := r.Messages[2].ToolCalls
	if calls[0].Function.Arguments != `{"x": 1}` || string(calls[0].args) != `{"x": 1}` {
		t.Errorf("object arguments: %q / %s", calls[0].Function.Arguments, calls[0].args)
	}
	if string(calls[1].args) != "{}" || calls[1].Type != "function" {
		t.Errorf("empty arguments: %s %q", calls[1].args, calls[1].Type)
	}
	if len(r.stops) != 2 {
		t.Errorf("stops = %q", r.stops)
	}
	if !r.WantsThoughts() {
		t.Error("top-level google.thinking_config.include_thoughts not read")
	}
}

func TestRequestErrorBody(t *testing.T) {
	_, err := DecodeRequest([]byte(`{"messages":[{"role":"x"}]}`))
	var re *RequestError
	if !errors.As(err, &re) {
		t.Fatal(err)
	}
	jsonEqual(t, RequestErrorBody(re), `{"error":{"message":"messages[0].role: unknown role \"x\" (expected system, developer, user, assistant or tool)","type":"invalid_request_error","param":"messages[0].role","code":null}}`)
}

// TestErrorEvent: chat writes its errors with the one OpenAI encoder
// (openai.ErrorBody; its vocabulary is pinned by openai.TestErrorVocabulary).
func TestErrorEvent(t *testing.T) {
	for _, status := range []int{400, 401, 403, 404, 429, 500, 502, 503} {
		jsonEqual(t, ErrorEvent(status, "boom <&>"), string(openai.ErrorBody(status, "boom <&>", "")))
	}
	jsonEqual(t, ErrorEvent(429, "boom <&>"), `{"error":{"message":"boom <&>","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}`)
}
