package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// apiError is the "error" object of an OpenAI error body. Param and Code are
// pointers so that an absent value is written as null, as OpenAI does.
type apiError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

type errorEnvelope struct {
	Error apiError `json:"error"`
}

// The OpenAI error vocabulary: the one table every OpenAI-shaped error of the
// proxy (/v1/models, /v1/embeddings, /v1/images, /v1/audio and
// /v1/chat/completions, streams included) is written with. "type" follows the
// HTTP status, "code" is a string or null, "param" a field name or null, as
// OpenAI documents them and the official SDKs (openai-go, openai npm/python)
// parse them; the SDKs choose their exception class from the HTTP status.
//
//	status               type                        default code
//	400 Bad Request      invalid_request_error       null
//	401 Unauthorized     authentication_error        "invalid_api_key"
//	403 Forbidden        permission_error            null
//	404 Not Found        not_found_error             null ("model_not_found" where a model is unknown, set by the caller)
//	405, 409, 413, 422   invalid_request_error       null
//	and every other 4xx
//	429 Too Many Req.    rate_limit_error            "rate_limit_exceeded"
//	503 Unavailable      service_unavailable_error   null
//	500, 502, 504, 5xx   server_error                null
//	anything else        api_error                   null
//
// A Google error translated by FromGoogleError keeps this type and takes its
// google.rpc status name ("RESOURCE_EXHAUSTED", ...) as the code.

// ErrorType is the OpenAI error "type" for an HTTP status (see the table
// above).
func ErrorType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusNotFound:
		return "not_found_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status >= 400 && status < 500:
		return "invalid_request_error"
	case status == http.StatusServiceUnavailable:
		return "service_unavailable_error"
	case status >= 500 && status < 600:
		return "server_error"
	default:
		return "api_error"
	}
}

// DefaultErrorCode is the code ErrorBody writes for a status: "invalid_api_key"
// for 401, "rate_limit_exceeded" for 429, none (null) otherwise.
func DefaultErrorCode(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "invalid_api_key"
	case http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	}
	return ""
}

// ErrorBody is an OpenAI error body:
//
//	{"error":{"message":"...","type":"invalid_request_error","param":null,"code":null}}
//
// type comes from the status (ErrorType), code from DefaultErrorCode; an
// empty param is written as null.
func ErrorBody(status int, message, param string) []byte {
	return ErrorBodyCode(status, message, param, DefaultErrorCode(status))
}

// ErrorBodyCode is ErrorBody with an explicit code; an empty code is null.
func ErrorBodyCode(status int, message, param, code string) []byte {
	return errorBody(ErrorType(status), message, param, code)
}

func errorBody(typ, message, param, code string) []byte {
	return marshal(errorEnvelope{apiError{
		Message: message,
		Type:    typ,
		Param:   nullable(param),
		Code:    nullable(code),
	}})
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// maxPlainMessage bounds the message taken from a non-JSON error body (an
// HTML page from a relay, say).
const maxPlainMessage = 2048

// googleWireError is the "error" object of a Google error body. Code is kept
// raw: Google sends a number, an OpenAI-shaped body a string.
type googleWireError struct {
	Code    json.RawMessage `json:"code"`
	Message string          `json:"message"`
	Status  string          `json:"status"`
	// Set when the body is already OpenAI-shaped (Google's OpenAI-compatible
	// endpoint, or a relay in front of one).
	Type  *string         `json:"type"`
	Param json.RawMessage `json:"param"`
}

type googleEnvelope struct {
	Error *googleWireError `json:"error"`
}

// parseGoogleError reads {"error":{...}} or the array form
// [{"error":{...}}, ...] (the first element carrying an error wins).
func parseGoogleError(body []byte) *googleWireError {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil
	}
	switch body[0] {
	case '{':
		var env googleEnvelope
		if json.Unmarshal(body, &env) == nil {
			return env.Error
		}
	case '[':
		var envs []googleEnvelope
		if json.Unmarshal(body, &envs) == nil {
			for _, e := range envs {
				if e.Error != nil {
					return e.Error
				}
			}
		}
	}
	return nil
}

// FromGoogleError converts a Google error body to OpenAI's shape. It accepts
// Google's object form {"error":{"code","message","status","details"}}, the
// array form [{"error":{...}}] and bodies that are already OpenAI-shaped
// (whose type, param and code are kept). The message is kept as Google wrote
// it and Google's status name ("RESOURCE_EXHAUSTED", ...) becomes the code;
// the type follows the HTTP status, which the caller answers with unchanged.
// A body that is not JSON (or has no error object) becomes the message. A
// status of 0 is taken from the body's code, else 500.
func FromGoogleError(status int, body []byte) []byte {
	ge := parseGoogleError(body)
	if ge == nil {
		if status <= 0 {
			status = http.StatusInternalServerError
		}
		return ErrorBody(status, plainMessage(status, body), "")
	}
	if status <= 0 {
		status = http.StatusInternalServerError
		if n, err := strconv.Atoi(string(ge.Code)); err == nil && n >= 400 && n < 600 {
			status = n
		}
	}
	msg := ge.Message
	if msg == "" {
		msg = statusMessage(status)
	}
	if ge.Type != nil && *ge.Type != "" {
		// Already OpenAI's shape: keep what it says.
		return errorBody(*ge.Type, msg, RawString(ge.Param), RawString(ge.Code))
	}
	code := ge.Status
	if code == "" {
		code = DefaultErrorCode(status)
	}
	return ErrorBodyCode(status, msg, "", code)
}

// rawString reads a JSON string or number as text; null and anything else
// give "".
// RawString is a JSON string or number as text ("" for anything else):
// providers send an error's code as either.
func RawString(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

func statusMessage(status int) string {
	if t := http.StatusText(status); t != "" {
		return fmt.Sprintf("upstream answered HTTP %d %s", status, t)
	}
	return fmt.Sprintf("upstream answered HTTP %d", status)
}

// plainMessage is the text of a non-JSON error body, trimmed and bounded, or
// a sentence naming the status when the body is empty.
func plainMessage(status int, body []byte) string {
	s := strings.TrimSpace(strings.ToValidUTF8(string(body), "\uFFFD"))
	if s == "" {
		return statusMessage(status)
	}
	if len(s) > maxPlainMessage {
		cut := maxPlainMessage
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "…"
	}
	return s
}

// RequestError is a request the proxy refuses before anything goes upstream,
// or an answer that means the client's request cannot be served (a prompt
// every image of which was filtered). It is answered with HTTP 400.
type RequestError struct {
	Param   string // the request field at fault ("input", "n", ...); "" for none
	Message string
	Code    string // optional OpenAI code ("content_policy_violation"); "" is null
}

func (e *RequestError) Error() string {
	if e.Param == "" {
		return e.Message
	}
	return e.Param + ": " + e.Message
}

// Status is the HTTP status to answer with: 400.
func (e *RequestError) Status() int { return http.StatusBadRequest }

// Body is the OpenAI error body for e.
func (e *RequestError) Body() []byte {
	return ErrorBodyCode(http.StatusBadRequest, e.Message, e.Param, e.Code)
}

// UpstreamError is a 2xx answer from Google that cannot be translated: not
// JSON, or missing what was asked for (no audio, no embeddings). It is
// answered with HTTP 502; the caller may try another key first.
type UpstreamError struct {
	Message string
}

func (e *UpstreamError) Error() string { return e.Message }

// Status is the HTTP status to answer with: 502.
func (e *UpstreamError) Status() int { return http.StatusBadGateway }

// Body is the OpenAI error body for e.
func (e *UpstreamError) Body() []byte {
	return ErrorBody(http.StatusBadGateway, e.Message, "")
}

// ErrorResponse is the status and OpenAI error body for an error returned by
// this package: 400 for *RequestError, 502 for *UpstreamError, 500 for
// anything else.
func ErrorResponse(err error) (int, []byte) {
	var re *RequestError
	if errors.As(err, &re) {
		return re.Status(), re.Body()
	}
	var ue *UpstreamError
	if errors.As(err, &ue) {
		return ue.Status(), ue.Body()
	}
	msg := "internal error"
	if err != nil {
		msg = err.Error()
	}
	return http.StatusInternalServerError, ErrorBody(http.StatusInternalServerError, msg, "")
}

// marshal is json.Marshal without HTML escaping (messages and prompts keep
// their <, > and &) and without the encoder's trailing newline.
func marshal(v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only reachable with a NaN or Inf float, which no caller builds.
		panic("openai: marshal: " + err.Error())
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// decodeRequest unmarshals a client's JSON body into v and turns decoding
// failures into a *RequestError naming the field at fault.
func decodeRequest(body []byte, v any) error {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return &RequestError{Message: "the request body is empty; send a JSON object"}
	}
	if body[0] != '{' {
		return &RequestError{Message: "the request body must be a JSON object"}
	}
	err := json.Unmarshal(body, v)
	if err == nil {
		return nil
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return &RequestError{Param: te.Field, Message: fmt.Sprintf("invalid type: got a JSON %s, want %s", te.Value, jsonKind(te.Type.Kind().String()))}
	}
	return &RequestError{Message: "the request body is not valid JSON: " + err.Error()}
}

func jsonKind(goKind string) string {
	switch goKind {
	case "string":
		return "a string"
	case "int", "int64", "int32":
		return "an integer"
	case "float64", "float32":
		return "a number"
	case "bool":
		return "a boolean"
	case "slice":
		return "an array"
	case "struct", "map":
		return "an object"
	}
	return "another type"
}
