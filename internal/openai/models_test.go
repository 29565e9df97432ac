package openai

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// geminiModelsPage is a GET /v1beta/models answer, trimmed.
const geminiModelsPage = `{
  "models": [
    {
      "name": "models/gemini-2.5-flash",
      "version": "001",
      "displayName": "Gemini 2.5 Flash",
      "description": "Stable version of Gemini 2.5 Flash",
      "inputTokenLimit": 1048576,
      "outputTokenLimit": 65536,
      "supportedGenerationMethods": ["generateContent", "countTokens", "createCachedContent", "batchGenerateContent"],
      "temperature": 1,
      "topP": 0.95,
      "topK": 64,
      "maxTemperature": 2,
      "thinking": true
    },
    {
      "name": "models/text-embedding-004",
      "version": "004",
      "displayName": "Text Embedding 004",
      "description": "Obtain a distributed representation of a text.",
      "inputTokenLimit": 2048,
      "outputTokenLimit": 1,
      "supportedGenerationMethods": ["embedContent"]
    },
    {
      "name": "models/imagen-4.0-generate-001",
      "displayName": "Imagen 4",
      "supportedGenerationMethods": ["predict"]
    }
  ],
  "nextPageToken": "Ch5tb2RlbHMvaW1hZ2VuLTQuMC1nZW5lcmF0ZS0wMDE="
}`

func TestParseGeminiModels(t *testing.T) {
	models, next, err := ParseGeminiModels([]byte(geminiModelsPage))
	if err != nil {
		t.Fatal(err)
	}
	if next != "Ch5tb2RlbHMvaW1hZ2VuLTQuMC1nZW5lcmF0ZS0wMDE=" {
		t.Errorf("next page token %q", next)
	}
	if len(models) != 3 {
		t.Fatalf("%d models", len(models))
	}
	m := models[0]
	want := GeminiModel{
		Name: "models/gemini-2.5-flash", DisplayName: "Gemini 2.5 Flash", Description: "Stable version of Gemini 2.5 Flash",
		SupportedGenerationMethods: []string{"generateContent", "countTokens", "createCachedContent", "batchGenerateContent"},
		InputTokenLimit:            1048576, OutputTokenLimit: 65536,
	}
	if !reflect.DeepEqual(m, want) {
		t.Errorf("got %+v\nwant %+v", m, want)
	}
	if m.ID() != "gemini-2.5-flash" || !m.Supports("generateContent") || m.Supports("embedContent") {
		t.Errorf("ID/Supports wrong for %+v", m)
	}
	if !models[2].Supports("predict") {
		t.Error("imagen should support predict")
	}
	if _, _, err := ParseGeminiModels([]byte("<html>")); err == nil {
		t.Error("no error for a non-JSON list")
	} else if _, ok := err.(*UpstreamError); !ok {
		t.Errorf("error %T, want *UpstreamError", err)
	}
	if ms, next, err := ParseGeminiModels([]byte(`{}`)); err != nil || len(ms) != 0 || next != "" {
		t.Errorf("empty list: %v %v %q", ms, err, next)
	}
}

func TestModelList(t *testing.T) {
	models, _, err := ParseGeminiModels([]byte(geminiModelsPage))
	if err != nil {
		t.Fatal(err)
	}
	got := string(ModelList(models, 1700000000))
	want := `{"object":"list","data":[` +
		`{"id":"gemini-2.5-flash","object":"model","created":1700000000,"owned_by":"google"},` +
		`{"id":"text-embedding-004","object":"model","created":1700000000,"owned_by":"google"},` +
		`{"id":"imagen-4.0-generate-001","object":"model","created":1700000000,"owned_by":"google"}]}`
	if got != want {
		t.Errorf("ModelList\n got %s\nwant %s", got, want)
	}

	// The shape an OpenAI SDK decodes, strictly.
	var list struct {
		Object string `json:"object"`
		Data   []struct {
			ID      string `json:"id"`
			Object  string `json:"object"`
			Created int64  `json:"created"`
			OwnedBy string `json:"owned_by"`
		} `json:"data"`
	}
	dec := json.NewDecoder(strings.NewReader(got))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&list); err != nil {
		t.Fatal(err)
	}
	if list.Object != "list" || len(list.Data) != 3 || list.Data[1].OwnedBy != "google" || list.Data[2].Created != 1700000000 {
		t.Errorf("decoded %+v", list)
	}
}

func TestModelListWithIDs(t *testing.T) {
	for _, tc := range []struct {
		ids  []string
		want string
	}{
		{nil, `{"object":"list","data":[]}`},
		{[]string{}, `{"object":"list","data":[]}`},
		{[]string{"models/gemini-2.5-pro", "gemini-2.5-flash", " models/gemini-2.5-pro ", "", "models/"},
			`{"object":"list","data":[{"id":"gemini-2.5-pro","object":"model","created":5,"owned_by":"google"},{"id":"gemini-2.5-flash","object":"model","created":5,"owned_by":"google"}]}`},
	} {
		if got := string(ModelListWithIDs(tc.ids, 5)); got != tc.want {
			t.Errorf("ModelListWithIDs(%q)\n got %s\nwant %s", tc.ids, got, tc.want)
		}
	}
	if got := string(ModelList(nil, 5)); got != `{"object":"list","data":[]}` {
		t.Errorf("ModelList(nil) = %s", got)
	}
}

func TestModelObject(t *testing.T) {
	got := string(ModelObject("models/gemini-2.5-flash", 42))
	want := `{"id":"gemini-2.5-flash","object":"model","created":42,"owned_by":"google"}`
	if got != want {
		t.Errorf("got %s want %s", got, want)
	}
}
