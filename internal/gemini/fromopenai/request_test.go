package fromopenai

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

const png = "iVBORw0KGgo="

func TestRequest(t *testing.T) {
	for _, tc := range []struct {
		name, model string
		stream      bool
		in, want    string
	}{{
		name: "text, system and roles",
		in: `{"systemInstruction":{"parts":[{"text":"Be terse."},{"text":"Answer in French."}]},
		 "contents":[{"role":"user","parts":[{"text":"Hi"}]},{"role":"model","parts":[{"text":"Bon"},{"text":"jour"}]},{"parts":[{"text":"a"},{"text":"b"}]}]}`,
		want: `{"model":"deepseek-chat","messages":[{"role":"system","content":"Be terse.\nAnswer in French."},
		 {"role":"user","content":"Hi"},{"role":"assistant","content":"Bonjour"},{"role":"user","content":"a\nb"}]}`,
	}, {
		name: "snake_case spellings",
		in: `{"system_instruction":{"parts":[{"text":"S"}]},"contents":[{"role":"user","parts":[{"text":"look"},{"inline_data":{"mime_type":"image/png","data":"` + png + `"}}]}],
		 "generation_config":{"max_output_tokens":100,"stop_sequences":["END"],"top_p":0.5,"candidate_count":2,"presence_penalty":0.1,"frequency_penalty":0.2}}`,
		want: `{"model":"deepseek-chat","messages":[{"role":"system","content":"S"},
		 {"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:image/png;base64,` + png + `"}}]}],
		 "max_tokens":100,"stop":["END"],"top_p":0.5,"n":2,"presence_penalty":0.1,"frequency_penalty":0.2}`,
	}, {
		name: "generation config and stream",
		in: `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"temperature":0.7,"topP":0.9,"topK":40,"maxOutputTokens":256,"stopSequences":["\n\n"],
		 "candidateCount":1,"presencePenalty":0.5,"frequencyPenalty":-0.5,"seed":42,"thinkingConfig":{"thinkingBudget":1024}},
		 "safetySettings":[{"category":"HARM_CATEGORY_HATE_SPEECH","threshold":"BLOCK_NONE"}]}`,
		stream: true,
		want: `{"model":"deepseek-chat","messages":[{"role":"user","content":"x"}],"temperature":0.7,"top_p":0.9,"max_tokens":256,"stop":["\n\n"],
		 "presence_penalty":0.5,"frequency_penalty":-0.5,"seed":42,"stream":true,"stream_options":{"include_usage":true}}`,
	}, {
		name: "reasoning model takes max_completion_tokens", model: "o4-mini",
		in:   `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"maxOutputTokens":64}}`,
		want: `{"model":"o4-mini","messages":[{"role":"user","content":"x"}],"max_completion_tokens":64}`,
	}, {
		name: "tools, calls with and without ids, responses by id and by name",
		in: `{"contents":[
		  {"role":"user","parts":[{"text":"weather in Paris and Rome?"}]},
		  {"role":"model","parts":[{"text":"thinking...","thought":true},{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}},
		                           {"functionCall":{"id":"abc","name":"get_weather","args":{"city":"Rome"}},"thoughtSignature":"U0lH"},{"functionCall":{"name":"now"}}]},
		  {"role":"user","parts":[{"functionResponse":{"id":"abc","name":"get_weather","response":{"temp":25}}},
		                          {"functionResponse":{"name":"get_weather","response":{"result":"18 C"}}},
		                          {"functionResponse":{"name":"now","response":{"result":12}}},{"text":"thanks"}]}],
		 "tools":[{"functionDeclarations":[
		  {"name":"get_weather","description":"Weather","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING","nullable":true},"days":{"type":"INTEGER","format":"int32"}},"required":["city"],"propertyOrdering":["city","days"]}},
		  {"name":"now"},
		  {"name":"lookup","parametersJsonSchema":{"type":"object","properties":{"q":{"anyOf":[{"type":"string"},{"type":"null"}]}},"additionalProperties":false}}]}],
		 "toolConfig":{"functionCallingConfig":{"mode":"AUTO"}}}`,
		want: `{"model":"deepseek-chat","messages":[
		  {"role":"user","content":"weather in Paris and Rome?"},
		  {"role":"assistant","content":null,"tool_calls":[
		    {"id":"call_1_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
		    {"id":"abc","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}},
		    {"id":"call_1_3","type":"function","function":{"name":"now","arguments":"{}"}}]},
		  {"role":"tool","tool_call_id":"abc","content":"{\"temp\":25}"},
		  {"role":"tool","tool_call_id":"call_1_1","content":"18 C"},
		  {"role":"tool","tool_call_id":"call_1_3","content":"{\"result\":12}"},
		  {"role":"user","content":"thanks"}],
		 "tools":[
		  {"type":"function","function":{"name":"get_weather","description":"Weather","parameters":{"type":"object","properties":{"city":{"type":["string","null"]},"days":{"type":"integer","format":"int32"}},"required":["city"]}}},
		  {"type":"function","function":{"name":"now","parameters":{"type":"object","properties":{}}}},
		  {"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{"q":{"anyOf":[{"type":"string"},{"type":"null"}]}},"additionalProperties":false}}}],
		 "tool_choice":"auto"}`,
	}, {
		name: "ANY with one allowed name is a named tool_choice",
		in: `{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"function_declarations":[{"name":"a"},{"name":"b"}]}],
		 "tool_config":{"function_calling_config":{"mode":"ANY","allowed_function_names":["b"]}}}`,
		want: `{"model":"deepseek-chat","messages":[{"role":"user","content":"x"}],
		 "tools":[{"type":"function","function":{"name":"b","parameters":{"type":"object","properties":{}}}}],
		 "tool_choice":{"type":"function","function":{"name":"b"}}}`,
	}, {
		name: "ANY with several names keeps those tools, required",
		in: `{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"a"},{"name":"b"},{"name":"c"}]}],
		 "toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["a","c"]}}}`,
		want: `{"model":"deepseek-chat","messages":[{"role":"user","content":"x"}],
		 "tools":[{"type":"function","function":{"name":"a","parameters":{"type":"object","properties":{}}}},{"type":"function","function":{"name":"c","parameters":{"type":"object","properties":{}}}}],
		 "tool_choice":"required"}`,
	}, {
		name: "NONE",
		in:   `{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"a"}]}],"toolConfig":{"functionCallingConfig":{"mode":"NONE"}}}`,
		want: `{"model":"deepseek-chat","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"a","parameters":{"type":"object","properties":{}}}}],"tool_choice":"none"}`,
	}, {
		name: "JSON mode adds a hint when no message says json",
		in:   `{"contents":[{"parts":[{"text":"three colors"}]}],"generationConfig":{"responseMimeType":"application/json"}}`,
		want: `{"model":"deepseek-chat","messages":[{"role":"system","content":"Respond with JSON."},{"role":"user","content":"three colors"}],"response_format":{"type":"json_object"}}`,
	}, {
		name: "JSON mode without the hint when the prompt says JSON",
		in:   `{"contents":[{"parts":[{"text":"three colors as JSON"}]}],"generationConfig":{"responseMimeType":"application/json"}}`,
		want: `{"model":"deepseek-chat","messages":[{"role":"user","content":"three colors as JSON"}],"response_format":{"type":"json_object"}}`,
	}, {
		name: "responseSchema becomes json_schema",
		in: `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseMimeType":"application/json",
		 "responseSchema":{"type":"ARRAY","items":{"type":"OBJECT","properties":{"n":{"type":"NUMBER","minimum":1.50}},"property_ordering":["n"]},"max_items":3}}}`,
		want: `{"model":"deepseek-chat","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"response",
		 "schema":{"type":"array","items":{"type":"object","properties":{"n":{"type":"number","minimum":1.50}}},"maxItems":3}}}}`,
	}, {
		name: "responseJsonSchema goes as is",
		in: `{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseMimeType":"application/json","responseJsonSchema":{"type":"object","properties":{"a":{"const":1}}},
		 "responseSchema":{"type":"STRING"}}}`,
		want: `{"model":"deepseek-chat","messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"response","schema":{"type":"object","properties":{"a":{"const":1}}}}}}`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			model := tc.model
			if model == "" {
				model = "deepseek-chat"
			}
			out, err := Request([]byte(tc.in), model, tc.stream)
			if err != nil {
				t.Fatal(err)
			}
			jsonEqual(t, out, tc.want)
		})
	}
}

func TestRequestRefuses(t *testing.T) {
	for _, tc := range []struct{ in, field, says string }{
		{`{"contents":[{"parts":[{"fileData":{"mimeType":"application/pdf","fileUri":"https://generativelanguage.googleapis.com/v1beta/files/abc"}}]}]}`, "contents[0].parts[0].fileData", "inline"},
		{`{"contents":[{"parts":[{"text":"x"},{"file_data":{"file_uri":"gs://b/o"}}]}]}`, "contents[0].parts[1].fileData", "files"},
		{`{"contents":[{"parts":[{"inlineData":{"mimeType":"audio/wav","data":"UklGRg=="}}]}]}`, "contents[0].parts[0].inlineData", "audio/wav"},
		{`{"contents":[{"parts":[{"inlineData":{"mimeType":"video/mp4","data":"AAAA"}}]}]}`, "contents[0].parts[0].inlineData", "video/mp4"},
		{`{"contents":[{"parts":[{"inlineData":{"mimeType":"image/png","data":""}}]}]}`, "contents[0].parts[0].inlineData.data", "empty"},
		{`{"contents":[{"role":"model","parts":[{"executableCode":{"language":"PYTHON","code":"1"}}]}]}`, "contents[0].parts[0].executableCode", "model turn"},
		{`{"contents":[{"role":"model","parts":[{"inlineData":{"mimeType":"image/png","data":"AAAA"}}]}]}`, "contents[0].parts[0].inlineData", "model turn"},
		{`{"contents":[{"parts":[{"codeExecutionResult":{"outcome":"OUTCOME_OK"}}]}]}`, "contents[0].parts[0].codeExecutionResult", "user turn"},
		{`{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"googleSearch":{}}]}`, "tools[0].googleSearch", "Google Search"},
		{`{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"a"}]},{"code_execution":{}}]}`, "tools[1].code_execution", "code execution"},
		{`{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"urlContext":{}}]}`, "tools[0].urlContext", "URL context"},
		{`{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseModalities":["TEXT","IMAGE"]}}`, "generationConfig.responseModalities", "IMAGE"},
		{`{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"speechConfig":{"voiceConfig":{}}}}`, "generationConfig.speechConfig", "speak"},
		{`{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseMimeType":"text/x.enum"}}`, "generationConfig.responseMimeType", "text/x.enum"},
		{`{"contents":[{"parts":[{"text":"x"}]}],"generationConfig":{"responseLogprobs":true}}`, "generationConfig.responseLogprobs", "log"},
		{`{"contents":[{"parts":[{"text":"x"}]}],"cachedContent":"cachedContents/abc"}`, "cachedContent", "cached"},
		{`{"contents":[{"parts":[{"functionResponse":{"name":"f","response":{}}}]}]}`, "contents[0].parts[0].functionResponse", `"f"`},
		{`{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":[1]}}]}]}`, "contents[0].parts[0].functionCall.args", "object"},
		{`{"contents":[{"role":"system","parts":[{"text":"x"}]}]}`, "contents[0].role", "system"},
		{`{"contents":[]}`, "contents", "empty"},
		{`{"systemInstruction":{"parts":[{"text":"S"}]},"contents":[{"parts":[{"text":""}]},{"role":"model","parts":[{"text":"t","thought":true}]}]}`, "contents", "has no text"},
		{`{"systemInstruction":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AAAA"}}]},"contents":[{"parts":[{"text":"x"}]}]}`, "systemInstruction.parts[0].inlineData", "text"},
		{`{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"a"}]}],"toolConfig":{"functionCallingConfig":{"mode":"SOMETIMES"}}}`, "toolConfig.functionCallingConfig.mode", "SOMETIMES"},
		{`{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"name":"a"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["zz"]}}}`, "toolConfig.functionCallingConfig.allowedFunctionNames", "no declared"},
		{`{"contents":[{"parts":[{"text":"x"}]}],"tools":[{"functionDeclarations":[{"description":"no name"}]}]}`, "tools[0].functionDeclarations[0].name", "required"},
		{`{"contents":"hi"}`, "contents", "string"},
		{`not json`, "", "JSON"},
	} {
		_, err := Request([]byte(tc.in), "m", false)
		var re *RequestError
		if !errors.As(err, &re) {
			t.Errorf("%s: error %v is not a *RequestError", tc.in, err)
			continue
		}
		if re.Field != tc.field || !strings.Contains(re.Error(), tc.says) {
			t.Errorf("%s:\n got %q (field %q)\nwant field %q, saying %q", tc.in, re.Error(), re.Field, tc.field, tc.says)
		}
		var body struct {
			Error struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
				Status  string `json:"status"`
			} `json:"error"`
		}
		if json.Unmarshal(re.Body(), &body) != nil || body.Error.Code != 400 || body.Error.Status != "INVALID_ARGUMENT" || body.Error.Message != re.Error() {
			t.Errorf("Body() = %s", re.Body())
		}
	}
}

func TestReasoningModel(t *testing.T) {
	for m, want := range map[string]bool{
		"o1": true, "o3-mini": true, "o4-mini-2025-04-16": true, "gpt-5": true, "gpt-5-mini": true, "openai/gpt-5.1": true, "openai/gpt-5-nano": true,
		"gpt-4o": false, "gpt-4.1-mini": false, "deepseek-chat": false, "deepseek-reasoner": false, "o1x": false,
	} {
		if got := reasoningModel(m); got != want {
			t.Errorf("reasoningModel(%q) = %v", m, got)
		}
	}
}
