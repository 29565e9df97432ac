package anthropic

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

const png1x1 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="

func toGemini(t *testing.T, body, model string, fetch Fetcher) []byte {
	t.Helper()
	out, err := ToGemini(context.Background(), mustDecode(t, body), model, fetch)
	if err != nil {
		t.Fatalf("ToGemini: %v", err)
	}
	return out
}

func TestToGeminiMapping(t *testing.T) {
	cases := []struct {
		name, model, body, want string
	}{
		{"plain", "gemini-2.5-flash",
			`{"model":"claude-x","max_tokens":100,"system":"Be terse.","messages":[{"role":"user","content":"hi"}],"metadata":{"user_id":"u"}}`,
			`{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"systemInstruction":{"parts":[{"text":"Be terse."}]},"generationConfig":{"maxOutputTokens":100}}`},
		{"system blocks, merged turns, sampling", "gemini-2.5-flash",
			`{"model":"m","max_tokens":50,"system":[{"type":"text","text":"A"},{"type":"text","text":"B","cache_control":{"type":"ephemeral"}}],
			  "messages":[{"role":"user","content":"one"},{"role":"user","content":[{"type":"text","text":"two"}]},{"role":"assistant","content":"three"}],
			  "temperature":0.2,"top_p":0.8,"top_k":5,"stop_sequences":["X","Y"]}`,
			`{"contents":[{"role":"user","parts":[{"text":"one"},{"text":"two"}]},{"role":"model","parts":[{"text":"three"}]}],
			  "systemInstruction":{"parts":[{"text":"A"},{"text":"B"}]},
			  "generationConfig":{"maxOutputTokens":50,"temperature":0.2,"topP":0.8,"topK":5,"stopSequences":["X","Y"]}}`},
		{"image and pdf base64", "gemini-2.5-flash",
			`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + png1x1 + `"}},{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}},{"type":"document","source":{"type":"text","media_type":"text/plain","data":"plain doc"}},{"type":"text","text":"what?"}]}]}`,
			`{"contents":[{"role":"user","parts":[{"inlineData":{"mimeType":"image/png","data":"` + png1x1 + `"}},{"inlineData":{"mimeType":"application/pdf","data":"JVBERi0="}},{"text":"plain doc"},{"text":"what?"}]}],"generationConfig":{"maxOutputTokens":5}}`},
		{"tools and tool_choice tool", "gemini-2.5-flash",
			`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"w?"}],
			  "tools":[{"name":"get_weather","description":"Weather","input_schema":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}}],
			  "tool_choice":{"type":"tool","name":"get_weather"}}`,
			`{"contents":[{"role":"user","parts":[{"text":"w?"}]}],
			  "tools":[{"functionDeclarations":[{"name":"get_weather","description":"Weather","parametersJsonSchema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}}]}],
			  "toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}},
			  "generationConfig":{"maxOutputTokens":5}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			jsonEqual(t, toGemini(t, c.body, c.model, nil), c.want)
		})
	}
}

func TestToolChoiceModes(t *testing.T) {
	for choice, want := range map[string]any{
		`{"type":"auto"}`: "AUTO", `{"type":"any"}`: "ANY", `{"type":"none"}`: "NONE", `null`: nil,
	} {
		out := toGemini(t, `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"q"}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":`+choice+`}`, "gemini-2.5-flash", nil)
		if got := field(t, out, "toolConfig", "functionCallingConfig", "mode"); got != want {
			t.Errorf("%s → %v, want %v", choice, got, want)
		}
	}
}

func TestThinkingConfig(t *testing.T) {
	enabled := func(n string) string { return `{"type":"enabled","budget_tokens":` + n + `}` }
	cases := []struct {
		model, thinking, want string
	}{
		{"gemini-2.5-flash", enabled("2048"), `{"thinkingBudget":2048,"includeThoughts":true}`},
		{"gemini-2.5-flash", enabled("31999"), `{"thinkingBudget":24576,"includeThoughts":true}`},
		{"gemini-2.5-pro", enabled("40000"), `{"thinkingBudget":32768,"includeThoughts":true}`},
		{"gemini-3-pro-preview", enabled("2048"), `{"thinkingLevel":"low","includeThoughts":true}`},
		{"gemini-3-flash-preview", enabled("16000"), `{"thinkingLevel":"high","includeThoughts":true}`},
		{"gemini-2.5-flash", `{"type":"disabled"}`, `{"thinkingBudget":0}`},
		{"gemini-2.5-flash-lite", `{"type":"disabled"}`, `{"thinkingBudget":0}`},
		{"gemini-2.5-pro", `{"type":"disabled"}`, `{"thinkingBudget":128}`},
		{"gemini-3-pro-preview", `{"type":"disabled"}`, `{"thinkingLevel":"low"}`},
		{"gemini-3-flash-preview", `{"type":"disabled"}`, `{"thinkingLevel":"minimal"}`},
		{"gemini-2.5-flash", `{"type":"adaptive"}`, `{"thinkingBudget":-1,"includeThoughts":true}`},
		{"gemini-2.0-flash", enabled("2048"), `null`},
		{"gemini-2.5-flash", `null`, `null`},
	}
	for _, c := range cases {
		out := toGemini(t, `{"model":"m","max_tokens":40000,"messages":[{"role":"user","content":"q"}],"thinking":`+c.thinking+`}`, c.model, nil)
		got, _ := jsonMarshal(field(t, out, "generationConfig", "thinkingConfig"))
		jsonEqual(t, got, c.want)
	}
}

func TestImageURLThroughFetcher(t *testing.T) {
	raw, _ := base64.StdEncoding.DecodeString(png1x1)
	var asked []string
	fetch := func(ctx context.Context, url string) (string, []byte, error) {
		asked = append(asked, url)
		switch {
		case strings.HasSuffix(url, "typed.png"):
			return "image/png; charset=binary", raw, nil
		case strings.HasSuffix(url, "untyped"):
			return "application/octet-stream", raw, nil
		case strings.HasSuffix(url, ".pdf"):
			return "", []byte("%PDF-1.4 x"), nil
		case strings.HasSuffix(url, "page.html"):
			return "text/html", []byte("<html>"), nil
		}
		return "", nil, errors.New("404 not found")
	}
	b64 := base64.StdEncoding.EncodeToString(raw)
	body := `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[
		{"type":"image","source":{"type":"url","url":"https://img.test/typed.png"}},
		{"type":"image","source":{"type":"url","url":"https://img.test/untyped"}},
		{"type":"document","source":{"type":"url","url":"https://img.test/a.pdf"}}]}]}`
	jsonEqual(t, toGemini(t, body, "gemini-2.5-flash", fetch), `{"contents":[{"role":"user","parts":[
		{"inlineData":{"mimeType":"image/png","data":"`+b64+`"}},
		{"inlineData":{"mimeType":"image/png","data":"`+b64+`"}},
		{"inlineData":{"mimeType":"application/pdf","data":"`+base64.StdEncoding.EncodeToString([]byte("%PDF-1.4 x"))+`"}}]}],
		"generationConfig":{"maxOutputTokens":5}}`)
	if len(asked) != 3 {
		t.Errorf("fetched %q", asked)
	}

	for url, field := range map[string]string{
		"https://img.test/gone.png":  "messages.0.content.1.source.url",
		"https://img.test/page.html": "messages.0.content.1.source.url",
	} {
		req := mustDecode(t, `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image","source":{"type":"url","url":"`+url+`"}}]}]}`)
		_, err := ToGemini(context.Background(), req, "gemini-2.5-flash", fetch)
		var re *RequestError
		if !errors.As(err, &re) || re.Field != field {
			t.Errorf("%s: %v, want a RequestError on %s", url, err, field)
		}
		if _, err := ToGemini(context.Background(), req, "gemini-2.5-flash", nil); !errors.As(err, &re) {
			t.Errorf("no fetcher: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := mustDecode(t, `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"url","url":"https://img.test/typed.png"}}]}]}`)
	if _, err := ToGemini(ctx, req, "gemini-2.5-flash", fetch); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestToolRoundTrip follows a tool loop: Gemini's call becomes tool_use, the
// client sends it back with its tool_result, and Gemini gets the call (with
// its id and signature) and a functionResponse named after it.
func TestToolRoundTrip(t *testing.T) {
	answer, err := FromGemini([]byte(`{"candidates":[{"content":{"role":"model","parts":[
		{"text":"Let me look.","thought":true},
		{"functionCall":{"id":"c1","name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"U0lHMQ=="},
		{"functionCall":{"name":"get_time","args":{}}}]},"finishReason":"STOP"}],
		"usageMetadata":{"promptTokenCount":10,"candidatesTokenCount":5,"thoughtsTokenCount":3},"responseId":"resp1"}`),
		ResponseOptions{ID: "msg_1", Model: "claude-sonnet-4-5"})
	if err != nil {
		t.Fatal(err)
	}
	timeID := toolID("", "resp1", 1)
	jsonEqual(t, answer, `{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5",
		"content":[
			{"type":"thinking","thinking":"Let me look.","signature":"gemini:U0lHMQ=="},
			{"type":"tool_use","id":"toolu_c1","name":"get_weather","input":{"city":"Paris"}},
			{"type":"tool_use","id":"`+timeID+`","name":"get_time","input":{}}],
		"stop_reason":"tool_use","stop_sequence":null,
		"usage":{"input_tokens":10,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":8}}`)
	content, _ := jsonMarshal(field(t, answer, "content"))

	next := `{"model":"claude-sonnet-4-5","max_tokens":100,
		"tools":[{"name":"get_weather","input_schema":{"type":"object"}},{"name":"get_time","input_schema":{"type":"object"}}],
		"messages":[{"role":"user","content":"Weather and time in Paris?"},
		{"role":"assistant","content":` + string(content) + `},
		{"role":"user","content":[
			{"type":"tool_result","tool_use_id":"toolu_c1","content":"{\"temp\": 21}"},
			{"type":"tool_result","tool_use_id":"` + timeID + `","content":[{"type":"text","text":"12:00"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"` + png1x1 + `"}},{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}}]},
			{"type":"text","text":"thanks"}]}]}`
	for _, model := range []string{"gemini-2.5-flash", "gemini-3-pro-preview"} {
		out := toGemini(t, next, model, nil)
		jsonEqual(t, []byte(mustJSON(t, field(t, out, "contents"))), `[
			{"role":"user","parts":[{"text":"Weather and time in Paris?"}]},
			{"role":"model","parts":[
				{"functionCall":{"id":"c1","name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"U0lHMQ=="},
				{"functionCall":{"name":"get_time","args":{}}}]},
			{"role":"user","parts":[
				{"functionResponse":{"id":"c1","name":"get_weather","response":{"temp":21}}},
				{"functionResponse":{"name":"get_time","response":{"result":"12:00"}}},
				{"inlineData":{"mimeType":"image/png","data":"`+png1x1+`"}},
				{"inlineData":{"mimeType":"application/pdf","data":"JVBERi0="}},
				{"text":"thanks"}]}]`)
	}

	// Gemini's answer to the results closes the loop.
	final, err := FromGemini([]byte(`{"candidates":[{"content":{"parts":[{"text":"21°C, noon."}]},"finishReason":"STOP"}]}`), ResponseOptions{ID: "msg_2", Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	if field(t, final, "stop_reason") != "end_turn" || field(t, final, "content", 0, "text") != "21°C, noon." {
		t.Errorf("final answer %s", final)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := jsonMarshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestToolResultShapes(t *testing.T) {
	head := `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_x","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_x"`
	cases := map[string]string{
		`,"content":"plain"}`:                `{"result":"plain"}`,
		`,"content":"[1,2]"}`:                `{"result":"[1,2]"}`,
		`,"content":" {\"a\": [1]} "}`:       `{"a":[1]}`,
		`}`:                                  `{"result":""}`,
		`,"content":"boom","is_error":true}`: `{"error":"boom"}`,
		`,"content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}`: `{"result":"a\nb"}`,
	}
	for tail, want := range cases {
		out := toGemini(t, head+tail+`]}]}`, "gemini-2.5-flash", nil)
		jsonEqual(t, []byte(mustJSON(t, field(t, out, "contents", 2, "parts", 0, "functionResponse", "response"))), want)
		if id := field(t, out, "contents", 2, "parts", 0, "functionResponse", "id"); id != "x" {
			t.Errorf("functionResponse id %v", id)
		}
	}
}

// TestSignaturesBack: only this package's signatures go back, each on the
// part made from the block after its thinking block (or the last part);
// Gemini 3 gets the documented skip value on a step's first unsigned call.
func TestSignaturesBack(t *testing.T) {
	body := `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"q"},
		{"role":"assistant","content":[
			{"type":"thinking","thinking":"claude's","signature":"EqQBCkYIARgCIkB"},
			{"type":"tool_use","id":"toolu_01A","name":"f","input":{}}]},
		{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_01A","content":"ok"}]},
		{"role":"assistant","content":[
			{"type":"text","text":"Done."},
			{"type":"thinking","thinking":"","signature":"gemini:VEFJTA=="}]},
		{"role":"user","content":"again"},
		{"role":"assistant","content":[
			{"type":"redacted_thinking","data":"gemini:UkVE"},
			{"type":"text","text":"Sure."}]},
		{"role":"user","content":"more"}]}`
	out := toGemini(t, body, "gemini-2.5-flash", nil)
	jsonEqual(t, []byte(mustJSON(t, field(t, out, "contents", 1))), `{"role":"model","parts":[{"functionCall":{"id":"01A","name":"f","args":{}}}]}`)
	jsonEqual(t, []byte(mustJSON(t, field(t, out, "contents", 3))), `{"role":"model","parts":[{"text":"Done.","thoughtSignature":"VEFJTA=="}]}`)
	jsonEqual(t, []byte(mustJSON(t, field(t, out, "contents", 5))), `{"role":"model","parts":[{"text":"Sure.","thoughtSignature":"UkVE"}]}`)

	out = toGemini(t, body, "gemini-3-flash-preview", nil)
	if sig := field(t, out, "contents", 1, "parts", 0, "thoughtSignature"); sig != skipSignature {
		t.Errorf("Gemini 3 unsigned call: signature %v", sig)
	}
}

func TestNoContent(t *testing.T) {
	req := mustDecode(t, `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":""}]}`)
	_, err := ToGemini(context.Background(), req, "gemini-2.5-flash", nil)
	var re *RequestError
	if !errors.As(err, &re) || re.Field != "messages" {
		t.Errorf("empty conversation: %v", err)
	}
}

func TestCountTokens(t *testing.T) {
	req, err := DecodeCountTokensRequest([]byte(`{"model":"claude-haiku-4-5","system":"S","messages":[{"role":"user","content":"hi"}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"thinking":{"type":"enabled","budget_tokens":2000}}`))
	if err != nil {
		t.Fatal(err)
	}
	out, err := CountTokensRequest(context.Background(), req, "gemini-2.5-flash-lite", nil)
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, out, `{"generateContentRequest":{"model":"models/gemini-2.5-flash-lite",
		"contents":[{"role":"user","parts":[{"text":"hi"}]}],
		"systemInstruction":{"parts":[{"text":"S"}]},
		"tools":[{"functionDeclarations":[{"name":"f","parametersJsonSchema":{"type":"object"}}]}]}}`)

	ans, err := CountTokensAnswer([]byte(`{"totalTokens":31,"promptTokensDetails":[{"modality":"TEXT","tokenCount":31}]}`))
	if err != nil {
		t.Fatal(err)
	}
	jsonEqual(t, ans, `{"input_tokens":31}`)
	var ue *UpstreamError
	if _, err := CountTokensAnswer([]byte(`{"error":{"code":400,"message":"bad","status":"INVALID_ARGUMENT"}}`)); !errors.As(err, &ue) || ue.Code != 400 {
		t.Errorf("error answer: %v", err)
	}
}
