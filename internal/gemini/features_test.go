package gemini

import (
	"encoding/json"
	"testing"
)

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return m
}

func TestApplyFeaturesNothingIsByteForByte(t *testing.T) {
	body := []byte(`{"contents":[],  "futureField": 1}`)
	got, err := ApplyFeatures(body, Features{})
	if err != nil || string(got) != string(body) {
		t.Fatalf("%s %v", got, err)
	}
}

func TestApplyFeatures(t *testing.T) {
	budget := 1024
	body := []byte(`{"contents":[{"parts":[{"text":"hi","thoughtSignature":"x"}]}],"cachedContent":"c/1",` +
		`"tools":[{"functionDeclarations":[{"name":"f"}]}],"generationConfig":{"temperature":0.5,"newField":true}}`)
	got, err := ApplyFeatures(body, Features{Search: true, CodeExecution: true, ImageOutput: true, ThinkingBudget: &budget,
		IncludeThoughts: true, SafetySettings: json.RawMessage(`[{"category":"HARM_CATEGORY_HATE_SPEECH","threshold":"OFF"}]`)})
	if err != nil {
		t.Fatal(err)
	}
	m := decode(t, got)
	if m["cachedContent"] != "c/1" || m["contents"].([]any)[0].(map[string]any)["parts"].([]any)[0].(map[string]any)["thoughtSignature"] != "x" {
		t.Errorf("unknown or untouched fields lost: %s", got)
	}
	tools := m["tools"].([]any)
	if len(tools) != 2 || tools[1].(map[string]any)["googleSearch"] == nil {
		t.Errorf("tools %v: want functions kept, googleSearch added, no codeExecution beside functions", tools)
	}
	gc := m["generationConfig"].(map[string]any)
	tc := gc["thinkingConfig"].(map[string]any)
	if gc["newField"] != true || gc["temperature"] != 0.5 || tc["thinkingBudget"] != 1024.0 || tc["includeThoughts"] != true {
		t.Errorf("generationConfig %v", gc)
	}
	if len(gc["responseModalities"].([]any)) != 2 || m["safetySettings"] == nil {
		t.Errorf("modalities or safety missing: %s", got)
	}
}

func TestApplyFeaturesRespectsClientChoices(t *testing.T) {
	budget := 1024
	body := []byte(`{"safetySettings":[],"generationConfig":{"thinkingConfig":{"thinkingBudget":77},"responseModalities":["TEXT"]}}`)
	got, _ := ApplyFeatures(body, Features{ThinkingBudget: &budget, ImageOutput: true, SafetySettings: json.RawMessage(`[1]`)})
	m := decode(t, got)
	gc := m["generationConfig"].(map[string]any)
	if gc["thinkingConfig"].(map[string]any)["thinkingBudget"] != 77.0 || len(gc["responseModalities"].([]any)) != 1 || len(m["safetySettings"].([]any)) != 0 {
		t.Errorf("client choices overridden: %s", got)
	}
	// -non-thinking wins over the client's budget.
	got, _ = ApplyFeatures(body, Features{DisableThinking: true})
	if decode(t, got)["generationConfig"].(map[string]any)["thinkingConfig"].(map[string]any)["thinkingBudget"] != 0.0 {
		t.Errorf("non-thinking: %s", got)
	}
	if _, err := ApplyFeatures([]byte(`[1]`), Features{Search: true}); err == nil {
		t.Error("array body accepted")
	}
}

func TestHasContent(t *testing.T) {
	cases := map[string]bool{
		`{"candidates":[{"content":{"parts":[{"text":"hi"}]},"finishReason":"STOP"}]}`:       true,
		`data: {"candidates":[{"content":{"parts":[{"functionCall":{"name":"f"}}]}}]}`:       true,
		`{"promptFeedback":{"blockReason":"SAFETY"}}`:                                        true,
		`{"candidates":[{"finishReason":"SAFETY"}]}`:                                         true,
		`{"candidates":[{"content":{"role":"model"},"finishReason":"STOP"}]}`:                false,
		`data: {"usageMetadata":{"promptTokenCount":3}}`:                                     false,
		`{"candidates":[{"content":{"parts":[]},"finishReason":"STOP"}],"usageMetadata":{}}`: false,
		`not json`: true,
	}
	for in, want := range cases {
		if got := HasContent([]byte(in)); got != want {
			t.Errorf("HasContent(%s) = %v, want %v", in, got, want)
		}
	}
}

func TestSafetyOnlyInsertsWithoutTouchingOtherBytes(t *testing.T) {
	safety := json.RawMessage(`[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"OFF"}]`)
	cases := map[string]string{
		`{"contents":[],  "z": 1}`: `{"safetySettings":` + string(safety) + `,"contents":[],  "z": 1}`,
		` { }`:                     `{"safetySettings":` + string(safety) + ` }`,
		`{"safetySettings":[]}`:    `{"safetySettings":[]}`,
		`[1]`:                      `[1]`,
	}
	for in, want := range cases {
		got, err := ApplyFeatures([]byte(in), Features{SafetySettings: safety})
		if err != nil || string(got) != want {
			t.Errorf("%s → %s (%v), want %s", in, got, err, want)
		}
		if !json.Valid(got) {
			t.Errorf("invalid JSON: %s", got)
		}
	}
}
