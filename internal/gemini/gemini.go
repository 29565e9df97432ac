// Package gemini holds the small pieces of the Gemini API's wire format the
// proxy needs itself: error bodies, paths and usage metadata.
package gemini

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net/http"
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
// decoding the rest of it.
func FindUsage(b []byte) (Usage, bool) {
	i := bytes.LastIndex(b, usageField)
	if i < 0 {
		return Usage{}, false
	}
	rest := b[i+len(usageField):]
	j := bytes.IndexByte(rest, '{')
	if j < 0 {
		return Usage{}, false
	}
	var u Usage
	if err := json.NewDecoder(bytes.NewReader(rest[j:])).Decode(&u); err != nil {
		return Usage{}, false
	}
	return u, true
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
func ReadEvent(r *bufio.Reader) ([]byte, error) {
	var event []byte
	for {
		line, err := r.ReadSlice('\n')
		event = append(event, line...)
		if err == bufio.ErrBufferFull {
			continue
		}
		if err != nil || len(bytes.TrimRight(line, "\r\n")) == 0 {
			return event, err
		}
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
