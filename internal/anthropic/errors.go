package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

// RequestError is a client error in a Messages request. Field names the
// offending field the way Anthropic's own messages do ("messages.2.content.0.source.data");
// it is empty when the body as a whole is at fault. The caller answers 400
// with Body().
type RequestError struct {
	Field   string
	Message string
}

func (e *RequestError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Type is Anthropic's error type for a client error.
func (e *RequestError) Type() string { return "invalid_request_error" }

// Body is the 400 answer for e.
func (e *RequestError) Body() []byte { return ErrorBody(http.StatusBadRequest, e.Error()) }

func reqErr(field, format string, args ...any) *RequestError {
	return &RequestError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// under puts e below prefix: "type" under "messages.2" is "messages.2.type".
func (e *RequestError) under(prefix string) *RequestError {
	if e.Field == "" {
		e.Field = prefix
	} else {
		e.Field = prefix + "." + e.Field
	}
	return e
}

// jsonErr turns an encoding/json error into a RequestError naming the field
// (relative to what was being decoded).
func jsonErr(err error) *RequestError {
	var re *RequestError
	if errors.As(err, &re) {
		return re
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		what := "a valid value"
		t := te.Type
		for t != nil && t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		if t != nil {
			switch t.Kind() {
			case reflect.Bool:
				what = "a boolean"
			case reflect.String:
				what = "a string"
			case reflect.Int, reflect.Int64, reflect.Int32:
				what = "an integer"
			case reflect.Float64:
				what = "a number"
			case reflect.Struct, reflect.Map:
				what = "an object"
			case reflect.Slice:
				what = "an array"
			}
		}
		return reqErr(te.Field, "must be %s, not %s", what, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return reqErr("", "invalid JSON at byte %d: %s", se.Offset, se.Error())
	}
	return reqErr("", "invalid JSON: %s", err.Error())
}

// ErrorType is Anthropic's error type for an HTTP status, as its error
// documentation lists them; other 4xx are invalid_request_error, other 5xx
// api_error. 503 is overloaded_error like 529: both mean "try again soon".
func ErrorType(status int) string {
	switch status {
	case http.StatusBadRequest:
		return "invalid_request_error"
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case http.StatusServiceUnavailable, 529:
		return "overloaded_error"
	}
	if status >= 400 && status < 500 {
		return "invalid_request_error"
	}
	return "api_error"
}

type errorDetail struct {
	Type    string `json:"type"`
	Message string `json:"message"`
}

type errorEnvelope struct {
	Type  string      `json:"type"`
	Error errorDetail `json:"error"`
}

// ErrorBody is an Anthropic error body,
// {"type":"error","error":{"type":"...","message":"..."}}, its type from the
// status (ErrorType). It is also the data of a stream's error event.
func ErrorBody(status int, message string) []byte {
	b, _ := gemini.Marshal(errorEnvelope{Type: "error", Error: errorDetail{Type: ErrorType(status), Message: message}})
	return b
}

// maxPlainMessage bounds the message taken from a non-JSON error body (an
// HTML page from a relay, say).
const maxPlainMessage = 2048

type googleError struct {
	Error *UpstreamError `json:"error"`
}

// FromGoogleError converts a Google error body ({"error":{"code","message",
// "status"}}, or the array form [{"error":{...}}]) to Anthropic's shape,
// keeping Google's message; the type follows status. A body that is not
// Google's becomes the message (trimmed and bounded); an empty one gives the
// status text. A status of 0 is taken from the body's code, else 500.
func FromGoogleError(status int, body []byte) []byte {
	ge := parseGoogleError(body)
	if status <= 0 {
		status = http.StatusInternalServerError
		if ge != nil && ge.Code >= 400 && ge.Code < 600 {
			status = ge.Code
		}
	}
	msg := ""
	if ge != nil {
		msg = ge.Message
	} else {
		msg = plainMessage(body)
	}
	if msg == "" {
		msg = http.StatusText(status)
		if msg == "" {
			msg = "upstream error " + strconv.Itoa(status)
		}
	}
	return ErrorBody(status, msg)
}

func parseGoogleError(body []byte) *UpstreamError {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	switch body[0] {
	case '{':
		var g googleError
		if json.Unmarshal(body, &g) == nil {
			return g.Error
		}
	case '[':
		var gs []googleError
		if json.Unmarshal(body, &gs) == nil {
			for _, g := range gs {
				if g.Error != nil {
					return g.Error
				}
			}
		}
	}
	return nil
}

func plainMessage(body []byte) string {
	s := strings.TrimSpace(string(body))
	if len(s) > maxPlainMessage {
		s = s[:maxPlainMessage]
	}
	// A rune cut in half, or a body that is not text, must not break the JSON.
	return strings.ToValidUTF8(s, "\uFFFD")
}

// UpstreamError is an error object Gemini sent inside a 200 answer or a
// stream event ({"error":{"code","message","status"}}).
type UpstreamError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}

func (e *UpstreamError) Error() string {
	return fmt.Sprintf("gemini error %d %s: %s", e.Code, e.Status, e.Message)
}

// HTTPStatus is the status to answer with for e: its code when it is an HTTP
// error code, else 500.
func (e *UpstreamError) HTTPStatus() int {
	if e.Code >= 400 && e.Code < 600 {
		return e.Code
	}
	return http.StatusInternalServerError
}
