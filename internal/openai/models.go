package openai

import (
	"encoding/json"
	"strings"
)

// GeminiModel is one entry of Gemini's GET /v1beta/models answer.
type GeminiModel struct {
	Name                       string   `json:"name"` // "models/gemini-2.5-flash"
	DisplayName                string   `json:"displayName,omitempty"`
	Description                string   `json:"description,omitempty"`
	SupportedGenerationMethods []string `json:"supportedGenerationMethods,omitempty"`
	InputTokenLimit            int      `json:"inputTokenLimit,omitempty"`
	OutputTokenLimit           int      `json:"outputTokenLimit,omitempty"`
}

// ID is the model's name without the "models/" prefix.
func (m GeminiModel) ID() string { return ModelID(m.Name) }

// Supports reports whether the model lists method ("generateContent",
// "embedContent", "predict", ...) among its supported generation methods.
func (m GeminiModel) Supports(method string) bool {
	for _, s := range m.SupportedGenerationMethods {
		if s == method {
			return true
		}
	}
	return false
}

// ModelID strips the "models/" prefix of a Gemini model name.
func ModelID(name string) string {
	return strings.TrimPrefix(strings.TrimSpace(name), "models/")
}

// ParseGeminiModels reads a Gemini list answer {"models":[...],
// "nextPageToken":"..."}.
func ParseGeminiModels(body []byte) (models []GeminiModel, nextPageToken string, err error) {
	var page struct {
		Models        []GeminiModel `json:"models"`
		NextPageToken string        `json:"nextPageToken"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return nil, "", &UpstreamError{Message: "the Gemini model list is not valid JSON: " + err.Error()}
	}
	return page.Models, page.NextPageToken, nil
}

// Model is an entry of OpenAI's model list.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

type modelList struct {
	Object string  `json:"object"`
	Data   []Model `json:"data"`
}

// OwnedBy is the owned_by of every listed model.
const OwnedBy = "google"

// ModelList converts Gemini list entries to OpenAI's list:
//
//	{"object":"list","data":[{"id":"gemini-2.5-flash","object":"model","created":<created>,"owned_by":"google"}, ...]}
//
// Ids lose their "models/" prefix; order is kept, duplicates and nameless
// entries are dropped.
func ModelList(models []GeminiModel, created int64) []byte {
	ids := make([]string, len(models))
	for i, m := range models {
		ids[i] = m.Name
	}
	return ModelListWithIDs(ids, created)
}

// ModelListWithIDs is ModelList for bare model names (with or without the
// "models/" prefix).
func ModelListWithIDs(ids []string, created int64) []byte {
	data := make([]Model, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for _, id := range ids {
		id = ModelID(id)
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		data = append(data, Model{ID: id, Object: "model", Created: created, OwnedBy: OwnedBy})
	}
	return marshal(modelList{Object: "list", Data: data})
}

// ModelObject is OpenAI's answer to GET /v1/models/{id}.
func ModelObject(id string, created int64) []byte {
	return marshal(Model{ID: ModelID(id), Object: "model", Created: created, OwnedBy: OwnedBy})
}
