package chat

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/gemini-balance/gemini_balance/internal/openai"
)

// RequestError is a client error in a chat completion request. Param names
// the offending field the way OpenAI does ("messages[2].content[0].image_url.url");
// it is empty when the body as a whole is at fault. The caller answers 400 with
// ErrorEvent-shaped JSON carrying Param.
type RequestError struct {
	Param   string
	Message string
}

func (e *RequestError) Error() string {
	if e.Param == "" {
		return e.Message
	}
	return e.Param + ": " + e.Message
}

func reqErr(param, format string, args ...any) *RequestError {
	return &RequestError{Param: param, Message: fmt.Sprintf(format, args...)}
}

// under puts e below prefix: "role" under "messages[2]" is "messages[2].role",
// "[1].type" under "messages[0].content" is "messages[0].content[1].type".
func (e *RequestError) under(prefix string) *RequestError {
	switch {
	case e.Param == "":
		e.Param = prefix
	case strings.HasPrefix(e.Param, "["):
		e.Param = prefix + e.Param
	default:
		e.Param = prefix + "." + e.Param
	}
	return e
}

// jsonErr turns an encoding/json error into a RequestError. Type errors name
// the field (relative to what was being decoded); syntax errors name nothing.
func jsonErr(err error) *RequestError {
	var re *RequestError
	if errors.As(err, &re) {
		return re
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return reqErr("", "must be %s, not %s", describeType(te.Type), jsonKind(te.Value))
		}
		return reqErr(te.Field, "must be %s, not %s", describeType(te.Type), jsonKind(te.Value))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return reqErr("", "invalid JSON at byte %d: %s", se.Offset, se.Error())
	}
	return reqErr("", "invalid JSON: %s", err.Error())
}

func describeType(t reflect.Type) string {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil {
		return "a valid value"
	}
	switch t.Kind() {
	case reflect.Bool:
		return "a boolean"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	}
	return "a valid value"
}

// jsonKind words UnmarshalTypeError.Value ("string", "number 1.5", "object" ...).
func jsonKind(v string) string {
	switch {
	case v == "":
		return "this value"
	case strings.HasPrefix(v, "number"):
		return "a " + v
	case v == "object" || v == "array":
		return "an " + v
	}
	return "a " + v
}

// ErrorEvent is an OpenAI-shaped error object,
// {"error":{"message","type","param":null,"code"}}, written by openai.ErrorBody
// (the one OpenAI error encoder: type and code follow the status as its table
// says). Written as an SSE data line it ends a stream that failed after its
// first byte (the OpenAI SDKs raise it as an APIError); it is also the body of
// a non-stream error answer.
func ErrorEvent(status int, message string) []byte {
	return openai.ErrorBody(status, message, "")
}

// RequestErrorBody is the 400 body for a RequestError, with its param set.
func RequestErrorBody(e *RequestError) []byte {
	return openai.ErrorBody(http.StatusBadRequest, e.Error(), e.Param)
}

// UpstreamError is an error object Gemini sent inside a 200 answer or an SSE
// event ({"error":{"code","message","status"}}).
type UpstreamError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Status  string `json:"status"`
}

func (e *UpstreamError) Error() string {
	return fmt.Sprintf("gemini error %d %s: %s", e.Code, e.Status, e.Message)
}
