package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Features are the changes settings and model aliases ask for in a
// generateContent request. Everything else in the request is left alone.
type Features struct {
	Search          bool            // add the googleSearch tool
	ImageOutput     bool            // responseModalities TEXT and IMAGE, unless the client chose
	DisableThinking bool            // thinking budget 0 (the -non-thinking alias)
	ThinkingBudget  *int            // default budget when the client set none
	IncludeThoughts bool            // ask for thought summaries, unless the client chose
	SafetySettings  json.RawMessage // used when the client sent none
	CodeExecution   bool            // add the codeExecution tool (not beside function declarations)
	URLContext      bool            // add the urlContext tool (not beside function declarations)
}

// Empty reports whether f changes nothing.
func (f Features) Empty() bool {
	return !f.Search && !f.ImageOutput && !f.DisableThinking && f.ThinkingBudget == nil && !f.IncludeThoughts &&
		len(f.SafetySettings) == 0 && !f.CodeExecution && !f.URLContext
}

// ApplyFeatures rewrites a generateContent body. With nothing to apply the
// body is returned as it is, byte for byte; otherwise only the top-level
// fields it touches are decoded, and unknown fields survive.
func ApplyFeatures(body []byte, f Features) ([]byte, error) {
	if f.Empty() {
		return body, nil
	}
	if safetyOnly := f; len(f.SafetySettings) > 0 {
		safetyOnly.SafetySettings = nil
		if safetyOnly.Empty() {
			return insertSafety(body, f.SafetySettings), nil
		}
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fmt.Errorf("request body is not a JSON object: %v", err)
	}
	if doc == nil {
		doc = map[string]json.RawMessage{}
	}
	if len(f.SafetySettings) > 0 {
		if _, set := doc["safetySettings"]; !set {
			doc["safetySettings"] = f.SafetySettings
		}
	}
	if f.Search || f.CodeExecution || f.URLContext {
		if err := addTools(doc, f); err != nil {
			return nil, err
		}
	}
	if f.ImageOutput || f.DisableThinking || f.ThinkingBudget != nil || f.IncludeThoughts {
		if err := setGenerationConfig(doc, f); err != nil {
			return nil, err
		}
	}
	return json.Marshal(doc)
}

func addTools(doc map[string]json.RawMessage, f Features) error {
	var tools []map[string]json.RawMessage
	if raw, ok := doc["tools"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &tools); err != nil {
			return fmt.Errorf("tools: %v", err)
		}
	}
	has := func(name string) bool {
		for _, t := range tools {
			if _, ok := t[name]; ok {
				return true
			}
		}
		return false
	}
	functions := has("functionDeclarations")
	empty := json.RawMessage(`{}`)
	if f.Search && !has("googleSearch") && !has("googleSearchRetrieval") {
		tools = append(tools, map[string]json.RawMessage{"googleSearch": empty})
	}
	if f.CodeExecution && !functions && !has("codeExecution") {
		tools = append(tools, map[string]json.RawMessage{"codeExecution": empty})
	}
	if f.URLContext && !functions && !has("urlContext") {
		tools = append(tools, map[string]json.RawMessage{"urlContext": empty})
	}
	if len(tools) == 0 {
		return nil
	}
	raw, err := json.Marshal(tools)
	doc["tools"] = raw
	return err
}

func setGenerationConfig(doc map[string]json.RawMessage, f Features) error {
	gc := map[string]json.RawMessage{}
	if raw, ok := doc["generationConfig"]; ok && !isNull(raw) {
		if err := json.Unmarshal(raw, &gc); err != nil {
			return fmt.Errorf("generationConfig: %v", err)
		}
	}
	if f.ImageOutput {
		if _, set := gc["responseModalities"]; !set {
			gc["responseModalities"] = json.RawMessage(`["TEXT","IMAGE"]`)
		}
	}
	if f.DisableThinking || f.ThinkingBudget != nil || f.IncludeThoughts {
		tc := map[string]json.RawMessage{}
		if raw, ok := gc["thinkingConfig"]; ok && !isNull(raw) {
			if err := json.Unmarshal(raw, &tc); err != nil {
				return fmt.Errorf("generationConfig.thinkingConfig: %v", err)
			}
		}
		_, budgetSet := tc["thinkingBudget"]
		_, levelSet := tc["thinkingLevel"]
		switch {
		case f.DisableThinking:
			tc["thinkingBudget"] = json.RawMessage(`0`)
			delete(tc, "thinkingLevel")
			delete(tc, "includeThoughts")
		case f.ThinkingBudget != nil && !budgetSet && !levelSet:
			tc["thinkingBudget"] = json.RawMessage(fmt.Sprint(*f.ThinkingBudget))
		}
		if _, set := tc["includeThoughts"]; f.IncludeThoughts && !set && !f.DisableThinking {
			tc["includeThoughts"] = json.RawMessage(`true`)
		}
		raw, err := json.Marshal(tc)
		if err != nil {
			return err
		}
		gc["thinkingConfig"] = raw
	}
	raw, err := json.Marshal(gc)
	doc["generationConfig"] = raw
	return err
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

var safetyField = []byte(`"safetySettings"`)

// insertSafety adds safetySettings as the first field of a JSON object body
// without touching any other byte; a body that already names the field (or
// is no object) is left as it is.
func insertSafety(body []byte, settings json.RawMessage) []byte {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' || bytes.Contains(body, safetyField) {
		return body
	}
	rest := bytes.TrimLeft(trimmed[1:], " \t\r\n")
	out := make([]byte, 0, len(body)+len(settings)+20)
	out = append(out, '{')
	out = append(out, safetyField...)
	out = append(out, ':')
	out = append(out, settings...)
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, trimmed[1:]...)
}
