// Package gemini holds the small pieces of the Gemini API's wire format the
// proxy needs itself: error bodies, paths and usage metadata.
package gemini

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// StatusName is the google.rpc.Code name Google uses for an HTTP status.
func StatusName(code int) string {
	switch code {
	case http.StatusBadRequest:
		return "INVALID_ARGUMENT"
	case http.StatusUnauthorized:
		return "UNAUTHENTICATED"
	case http.StatusForbidden:
		return "PERMISSION_DENIED"
	case http.StatusNotFound:
		return "NOT_FOUND"
	case http.StatusConflict:
		return "ABORTED"
	case http.StatusRequestEntityTooLarge:
		return "INVALID_ARGUMENT"
	case http.StatusTooManyRequests:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case http.StatusNotImplemented:
		return "UNIMPLEMENTED"
	case http.StatusServiceUnavailable:
		return "UNAVAILABLE"
	case http.StatusGatewayTimeout:
		return "DEADLINE_EXCEEDED"
	}
	if code >= 500 {
		return "INTERNAL"
	}
	return "UNKNOWN"
}

// ErrorBody is a Google-shaped error: {"error":{"code","message","status"}}.
func ErrorBody(code int, message string) []byte {
	b, _ := json.Marshal(map[string]any{"error": map[string]any{
		"code": code, "message": message, "status": StatusName(code),
	}})
	return b
}

// SplitModelAction splits "gemini-2.5-flash:generateContent" into the model
// and the action. A "models/" prefix is dropped.
func SplitModelAction(s string) (model, action string) {
	s = strings.TrimPrefix(s, "models/")
	if i := strings.LastIndexByte(s, ':'); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

// Usage is the token count of one answer.
type Usage struct {
	PromptTokenCount     int `json:"promptTokenCount"`
	CandidatesTokenCount int `json:"candidatesTokenCount"`
	TotalTokenCount      int `json:"totalTokenCount"`
	ThoughtsTokenCount   int `json:"thoughtsTokenCount"`
}

var usageField = []byte(`"usageMetadata"`)

// FindUsage reads usageMetadata from an answer or stream event without
// decoding the rest of it: it runs on every answer, so the object's counts
// are read by a byte scan, without allocating.
func FindUsage(b []byte) (Usage, bool) {
	i := bytes.LastIndex(b, usageField)
	if i < 0 {
		return Usage{}, false
	}
	rest := bytes.TrimLeft(b[i+len(usageField):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return Usage{}, false
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	if len(rest) == 0 || rest[0] != '{' {
		return Usage{}, false
	}
	return parseUsage(rest)
}

// parseUsage reads the integer members of Usage from the JSON object at the
// start of b; other members, nested values included, are skipped. It fails
// when the object is not closed within b.
func parseUsage(b []byte) (Usage, bool) {
	var u Usage
	depth := 0
	wantKey := false // the next string at depth 1 is a member name
	for i := 0; i < len(b); i++ {
		switch c := b[i]; c {
		case '"':
			end := stringEnd(b, i)
			if end < 0 {
				return Usage{}, false
			}
			if depth == 1 && wantKey {
				wantKey = false
				if field := usageCount(&u, b[i+1:end]); field != nil {
					j := end + 1
					for j < len(b) && (b[j] == ' ' || b[j] == ':' || b[j] == '\t' || b[j] == '\r' || b[j] == '\n') {
						j++
					}
					k := j
					for k < len(b) && b[k] >= '0' && b[k] <= '9' {
						k++
					}
					if n, err := strconv.Atoi(string(b[j:k])); err == nil {
						*field = n
					}
					end = k - 1
				}
			}
			i = end
		case '{', '[':
			depth++
			wantKey = c == '{' && depth == 1
		case '}', ']':
			depth--
			if depth == 0 {
				return u, true
			}
		case ',':
			wantKey = depth == 1
		}
	}
	return Usage{}, false
}

// stringEnd returns the index of the quote closing the string that starts
// at b[start], or -1.
func stringEnd(b []byte, start int) int {
	for i := start + 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i
		}
	}
	return -1
}

// usageCount is the field of u named name, or nil.
func usageCount(u *Usage, name []byte) *int {
	switch string(name) {
	case "promptTokenCount":
		return &u.PromptTokenCount
	case "candidatesTokenCount":
		return &u.CandidatesTokenCount
	case "totalTokenCount":
		return &u.TotalTokenCount
	case "thoughtsTokenCount":
		return &u.ThoughtsTokenCount
	}
	return nil
}

// HasContent reports whether a generateContent answer (or one SSE event of
// a stream, "data: " prefix allowed) carries something: a part, a block
// reason, or a finish reason other than STOP. An answer without any of them
// is empty and worth a retry on another key.
func HasContent(b []byte) bool {
	b = bytes.TrimSpace(b)
	if rest, ok := bytes.CutPrefix(b, []byte("data:")); ok {
		b = bytes.TrimSpace(rest)
	}
	var r struct {
		Candidates []struct {
			Content struct {
				Parts []json.RawMessage `json:"parts"`
			} `json:"content"`
			FinishReason string `json:"finishReason"`
		} `json:"candidates"`
		PromptFeedback struct {
			BlockReason string `json:"blockReason"`
		} `json:"promptFeedback"`
	}
	if json.Unmarshal(b, &r) != nil {
		return true // not ours to judge: let the client see it
	}
	if r.PromptFeedback.BlockReason != "" {
		return true
	}
	for _, c := range r.Candidates {
		if len(c.Content.Parts) > 0 || (c.FinishReason != "" && c.FinishReason != "STOP") {
			return true
		}
	}
	return false
}

// ReadEvent reads one server-sent event, up to and including the blank line
// that ends it (either line ending). At the end of the stream it returns what
// is left with io.EOF.
func ReadEvent(r *bufio.Reader) ([]byte, error) { return AppendEvent(nil, r) }

// AppendEvent is ReadEvent appending to dst, so that a relay can reuse one
// buffer for every event of a stream. Lines may be longer than r's buffer.
func AppendEvent(dst []byte, r *bufio.Reader) ([]byte, error) {
	lineStart := len(dst)
	for {
		piece, err := r.ReadSlice('\n')
		dst = append(dst, piece...)
		if err == bufio.ErrBufferFull {
			continue // the same line goes on
		}
		if err != nil || len(bytes.TrimRight(dst[lineStart:], "\r\n")) == 0 {
			return dst, err
		}
		lineStart = len(dst)
	}
}

// EventData is the payload of an SSE event's data lines, joined by newlines.
func EventData(event []byte) []byte {
	var data []byte
	for _, line := range bytes.Split(event, []byte("\n")) {
		line = bytes.TrimRight(line, "\r")
		if rest, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			if len(data) > 0 {
				data = append(data, '\n')
			}
			data = append(data, bytes.TrimPrefix(rest, []byte(" "))...)
		}
	}
	return data
}

// DropModels removes from a model list the models whose name (without
// "models/") hide reports; the list's other fields stay. field names the
// array and idField its entries' name: "models" and "name" for Gemini's
// models.list, "data" and "id" for OpenAI's. An answer of another shape
// comes back unchanged.
func DropModels(list []byte, field, idField string, hide func(string) bool) []byte {
	var page map[string]json.RawMessage
	if json.Unmarshal(list, &page) != nil || page[field] == nil {
		return list
	}
	var entries []map[string]json.RawMessage
	if json.Unmarshal(page[field], &entries) != nil {
		return list
	}
	kept := make([]map[string]json.RawMessage, 0, len(entries))
	for _, m := range entries {
		var name string
		_ = json.Unmarshal(m[idField], &name)
		if !hide(strings.TrimPrefix(name, "models/")) {
			kept = append(kept, m)
		}
	}
	if len(kept) == len(entries) {
		return list
	}
	page[field], _ = json.Marshal(kept)
	out, err := json.Marshal(page)
	if err != nil {
		return list
	}
	return out
}

// AsModel is a Gemini model object (as models.get answers) renamed to
// models/{id}, for an alias that answers as its base model. The display
// name says which alias it is.
func AsModel(base []byte, id, label string) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(base, &m) != nil {
		return base
	}
	m["name"], _ = json.Marshal("models/" + id)
	var display string
	if json.Unmarshal(m["displayName"], &display) == nil && display != "" && label != "" {
		m["displayName"], _ = json.Marshal(display + " (" + label + ")")
	}
	out, err := json.Marshal(m)
	if err != nil {
		return base
	}
	return out
}

// ModelName is the id of a Gemini model object, without "models/".
func ModelName(model []byte) string {
	var meta struct {
		Name string `json:"name"`
	}
	_ = json.Unmarshal(model, &meta)
	return strings.TrimPrefix(meta.Name, "models/")
}
