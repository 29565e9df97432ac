package fromopenai

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

// schemaKeys are the snake_case spellings proto JSON allows for Gemini
// Schema fields whose JSON Schema name is camelCase.
var schemaKeys = map[string]string{
	"any_of": "anyOf", "min_items": "minItems", "max_items": "maxItems",
	"min_length": "minLength", "max_length": "maxLength",
	"min_properties": "minProperties", "max_properties": "maxProperties",
	"property_ordering": "propertyOrdering",
}

// jsonSchema turns a Gemini Schema (parameters, responseSchema: an OpenAPI
// 3.0 subset whose types Google writes in upper case, "OBJECT") into the
// JSON Schema OpenAI-compatible providers validate: types in lower case,
// nullable as a "null" type, propertyOrdering and format "enum" (Gemini
// only) dropped. Property names are left alone; numbers keep their text.
func jsonSchema(raw json.RawMessage) (json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, errors.New("must be a schema object")
	}
	return gemini.Marshal(convertSchema(v))
}

func convertSchema(v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v
	}
	out := make(map[string]any, len(m))
	nullable := false
	for k, val := range m {
		if c, ok := schemaKeys[k]; ok {
			k = c
		}
		switch k {
		case "nullable":
			nullable = val == true
		case "propertyOrdering":
		case "type":
			switch t := val.(type) {
			case string:
				if t = strings.ToLower(t); t != "" && t != "type_unspecified" {
					out[k] = t
				}
			case []any:
				types := make([]any, 0, len(t))
				for _, e := range t {
					if s, ok := e.(string); ok {
						types = append(types, strings.ToLower(s))
					}
				}
				out[k] = types
			default:
				out[k] = val
			}
		case "format":
			if val != "enum" {
				out[k] = val
			}
		case "properties", "$defs", "definitions", "patternProperties":
			if props, ok := val.(map[string]any); ok {
				conv := make(map[string]any, len(props))
				for name, s := range props {
					conv[name] = convertSchema(s)
				}
				out[k] = conv
			} else {
				out[k] = val
			}
		case "items", "additionalProperties", "not":
			out[k] = convertSchema(val)
		case "anyOf", "oneOf", "allOf", "prefixItems":
			if list, ok := val.([]any); ok {
				conv := make([]any, len(list))
				for i, s := range list {
					conv[i] = convertSchema(s)
				}
				out[k] = conv
			} else {
				out[k] = val
			}
		default:
			out[k] = val
		}
	}
	if nullable {
		switch t := out["type"].(type) {
		case string:
			out["type"] = []any{t, "null"}
		case nil:
			// No type: any value, null included.
		}
	}
	return out
}
