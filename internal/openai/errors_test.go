package openai

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

// oaError is an OpenAI error body as a client decodes it.
type oaError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

func decodeOAError(t *testing.T, b []byte) oaError {
	t.Helper()
	var e oaError
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("not an OpenAI error body: %v\n%s", err, b)
	}
	var raw map[string]map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"message", "type", "param", "code"} {
		if _, ok := raw["error"][k]; !ok {
			t.Errorf("error body lacks %q: %s", k, b)
		}
	}
	return e
}

func deref(p *string) string {
	if p == nil {
		return "<null>"
	}
	return *p
}

// TestErrorVocabulary pins, for each status the proxy answers with, the
// OpenAI dialect's type and default code (ErrorBody, which chat's ErrorEvent
// and RequestErrorBody also use) and the Gemini dialect's google.rpc status
// and numeric code (gemini.ErrorBody).
func TestErrorVocabulary(t *testing.T) {
	for _, tc := range []struct {
		status       int
		oaType       string
		oaCode       string // "<null>" for null
		geminiStatus string
	}{
		{400, "invalid_request_error", "<null>", "INVALID_ARGUMENT"},
		{401, "authentication_error", "invalid_api_key", "UNAUTHENTICATED"},
		{403, "permission_error", "<null>", "PERMISSION_DENIED"},
		{404, "not_found_error", "<null>", "NOT_FOUND"},
		{405, "invalid_request_error", "<null>", "UNKNOWN"},
		{409, "invalid_request_error", "<null>", "ABORTED"},
		{413, "invalid_request_error", "<null>", "INVALID_ARGUMENT"},
		{422, "invalid_request_error", "<null>", "UNKNOWN"},
		{429, "rate_limit_error", "rate_limit_exceeded", "RESOURCE_EXHAUSTED"},
		{500, "server_error", "<null>", "INTERNAL"},
		{502, "server_error", "<null>", "INTERNAL"},
		{503, "service_unavailable_error", "<null>", "UNAVAILABLE"},
		{504, "server_error", "<null>", "DEADLINE_EXCEEDED"},
	} {
		if got := ErrorType(tc.status); got != tc.oaType {
			t.Errorf("ErrorType(%d) = %q, want %q", tc.status, got, tc.oaType)
		}
		oa := decodeOAError(t, ErrorBody(tc.status, "m", ""))
		if oa.Error.Type != tc.oaType || deref(oa.Error.Code) != tc.oaCode || oa.Error.Param != nil || oa.Error.Message != "m" {
			t.Errorf("OpenAI %d: type %q code %q param %q, want %q %q null", tc.status, oa.Error.Type, deref(oa.Error.Code), deref(oa.Error.Param), tc.oaType, tc.oaCode)
		}
		var g struct {
			Error struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
				Status  string `json:"status"`
			} `json:"error"`
		}
		if err := json.Unmarshal(gemini.ErrorBody(tc.status, "m"), &g); err != nil {
			t.Fatal(err)
		}
		if g.Error.Code != tc.status || g.Error.Status != tc.geminiStatus || g.Error.Message != "m" {
			t.Errorf("Gemini %d: code %d status %q, want %d %q", tc.status, g.Error.Code, g.Error.Status, tc.status, tc.geminiStatus)
		}
	}
	for _, status := range []int{0, 200, 302} {
		if got := ErrorType(status); got != "api_error" {
			t.Errorf("ErrorType(%d) = %q, want api_error", status, got)
		}
	}
}

func TestErrorBody(t *testing.T) {
	for _, tc := range []struct {
		status         int
		message, param string
		want           string
	}{
		{400, "input is required", "input",
			`{"error":{"message":"input is required","type":"invalid_request_error","param":"input","code":null}}`},
		{401, "Invalid token", "",
			`{"error":{"message":"Invalid token","type":"authentication_error","param":null,"code":"invalid_api_key"}}`},
		{404, "no such model", "model",
			`{"error":{"message":"no such model","type":"not_found_error","param":"model","code":null}}`},
		{429, "all keys are cooling", "",
			`{"error":{"message":"all keys are cooling","type":"rate_limit_error","param":null,"code":"rate_limit_exceeded"}}`},
		{503, "no keys", "",
			`{"error":{"message":"no keys","type":"service_unavailable_error","param":null,"code":null}}`},
		{400, `a <b> & "c"`, "",
			`{"error":{"message":"a <b> & \"c\"","type":"invalid_request_error","param":null,"code":null}}`},
	} {
		got := string(ErrorBody(tc.status, tc.message, tc.param))
		if got != tc.want {
			t.Errorf("ErrorBody(%d, %q, %q)\n got %s\nwant %s", tc.status, tc.message, tc.param, got, tc.want)
		}
		decodeOAError(t, []byte(got))
	}
	got := string(ErrorBodyCode(403, "denied", "", "permission_denied"))
	want := `{"error":{"message":"denied","type":"permission_error","param":null,"code":"permission_denied"}}`
	if got != want {
		t.Errorf("ErrorBodyCode\n got %s\nwant %s", got, want)
	}
}

// Google error bodies as the Gemini API sends them (pretty-printed); the
// key is made up.
const (
	googleKeyInvalid = `{
  "error": {
    "code": 400,
    "message": "API key not valid. Please pass a valid API key.",
    "status": "INVALID_ARGUMENT",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "API_KEY_INVALID",
        "domain": "googleapis.com",
        "metadata": {"service": "generativelanguage.googleapis.com"}
      },
      {
        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
        "locale": "en-US",
        "message": "API key not valid. Please pass a valid API key."
      }
    ]
  }
}
`
	googleArray = `[{
  "error": {
    "code": 400,
    "message": "API key not valid. Please pass a valid API key.",
    "status": "INVALID_ARGUMENT"
  }
}
]`
	google429 = `{
  "error": {
    "code": 429,
    "message": "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 10\nPlease retry in 17.4s.",
    "status": "RESOURCE_EXHAUSTED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [
          {
            "quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
            "quotaDimensions": {"location": "global", "model": "gemini-2.5-flash"},
            "quotaValue": "10"
          }
        ]
      },
      {
        "@type": "type.googleapis.com/google.rpc.Help",
        "links": [{"description": "Learn more about Gemini API quotas", "url": "https://ai.google.dev/gemini-api/docs/rate-limits"}]
      },
      {
        "@type": "type.googleapis.com/google.rpc.RetryInfo",
        "retryDelay": "17s"
      }
    ]
  }
}
`
	google404 = `{
  "error": {
    "code": 404,
    "message": "models/gemini-9-ultra is not found for API version v1beta, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.",
    "status": "NOT_FOUND"
  }
}
`
	google503 = `{
  "error": {
    "code": 503,
    "message": "The model is overloaded. Please try again later.",
    "status": "UNAVAILABLE"
  }
}
`
	googleSchema = `{
  "error": {
    "code": 400,
    "message": "Invalid JSON payload received. Unknown name \"foo\" at 'generation_config': Cannot find field.",
    "status": "INVALID_ARGUMENT",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.BadRequest",
        "fieldViolations": [
          {"field": "generation_config", "description": "Invalid JSON payload received. Unknown name \"foo\" at 'generation_config': Cannot find field."}
        ]
      }
    ]
  }
}
`
)

func TestFromGoogleError(t *testing.T) {
	for _, tc := range []struct {
		name     string
		status   int
		body     string
		message  string
		typ      string
		param    string
		code     string
		contains bool // message is a substring check
	}{
		{"key invalid", 400, googleKeyInvalid, "API key not valid. Please pass a valid API key.", "invalid_request_error", "<null>", "INVALID_ARGUMENT", false},
		{"array form", 400, googleArray, "API key not valid. Please pass a valid API key.", "invalid_request_error", "<null>", "INVALID_ARGUMENT", false},
		{"429 with details", 429, google429, "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 10\nPlease retry in 17.4s.", "rate_limit_error", "<null>", "RESOURCE_EXHAUSTED", false},
		{"404 model", 404, google404, "models/gemini-9-ultra is not found", "not_found_error", "<null>", "NOT_FOUND", true},
		{"503", 503, google503, "The model is overloaded. Please try again later.", "service_unavailable_error", "<null>", "UNAVAILABLE", false},
		{"bad request details", 400, googleSchema, `Unknown name "foo"`, "invalid_request_error", "<null>", "INVALID_ARGUMENT", true},
		{"status from body", 0, google429, "You exceeded your current quota", "rate_limit_error", "<null>", "RESOURCE_EXHAUSTED", true},
		{"no status name", 500, `{"error":{"code":500,"message":"Internal error encountered."}}`, "Internal error encountered.", "server_error", "<null>", "<null>", false},
		{"no status name 429", 429, `{"error":{"code":429,"message":"slow down"}}`, "slow down", "rate_limit_error", "<null>", "rate_limit_exceeded", false},
		{"empty message", 502, `{"error":{"code":502,"status":"UNAVAILABLE"}}`, "upstream answered HTTP 502 Bad Gateway", "server_error", "<null>", "UNAVAILABLE", false},
		{"html", 502, "<html><body><h1>502 Bad Gateway</h1></body></html>\n", "<html><body><h1>502 Bad Gateway</h1></body></html>", "server_error", "<null>", "<null>", false},
		{"plain text", 500, "upstream connect error or disconnect/reset before headers", "upstream connect error or disconnect/reset before headers", "server_error", "<null>", "<null>", false},
		{"empty body", 504, "", "upstream answered HTTP 504 Gateway Timeout", "server_error", "<null>", "<null>", false},
		{"empty body no status", 0, "", "upstream answered HTTP 500 Internal Server Error", "server_error", "<null>", "<null>", false},
		{"json without error", 500, `{"foo":1}`, `{"foo":1}`, "server_error", "<null>", "<null>", false},
		{"truncated json", 500, `{"error":{"code":500,"mess`, `{"error":{"code":500,"mess`, "server_error", "<null>", "<null>", false},
		{"openai shaped", 401, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`, "Incorrect API key provided", "invalid_request_error", "<null>", "invalid_api_key", false},
		{"openai shaped param", 400, `{"error":{"message":"bad n","type":"invalid_request_error","param":"n","code":null}}`, "bad n", "invalid_request_error", "n", "<null>", false},
		{"openai shaped array", 400, `[{"error":{"message":"bad","type":"invalid_request_error","param":null,"code":400}}]`, "bad", "invalid_request_error", "<null>", "400", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := decodeOAError(t, FromGoogleError(tc.status, []byte(tc.body)))
			if tc.contains {
				if !strings.Contains(e.Error.Message, tc.message) {
					t.Errorf("message %q does not contain %q", e.Error.Message, tc.message)
				}
			} else if e.Error.Message != tc.message {
				t.Errorf("message\n got %q\nwant %q", e.Error.Message, tc.message)
			}
			if e.Error.Type != tc.typ {
				t.Errorf("type %q, want %q", e.Error.Type, tc.typ)
			}
			if got := deref(e.Error.Param); got != tc.param {
				t.Errorf("param %q, want %q", got, tc.param)
			}
			if got := deref(e.Error.Code); got != tc.code {
				t.Errorf("code %q, want %q", got, tc.code)
			}
		})
	}
}

func TestFromGoogleErrorLongBody(t *testing.T) {
	body := strings.Repeat("é", 3000) // 6000 bytes
	e := decodeOAError(t, FromGoogleError(502, []byte(body)))
	if len(e.Error.Message) > maxPlainMessage+len("…") {
		t.Errorf("message is %d bytes", len(e.Error.Message))
	}
	if !strings.HasSuffix(e.Error.Message, "…") || !strings.HasPrefix(e.Error.Message, "éé") {
		t.Errorf("message not cut cleanly: %q...", e.Error.Message[:10])
	}
	if !json.Valid(FromGoogleError(502, []byte{0xff, 0xfe, 'x'})) {
		t.Error("invalid UTF-8 body gave invalid JSON")
	}
}

func TestRequestAndUpstreamErrors(t *testing.T) {
	re := &RequestError{Param: "n", Message: "n must be between 1 and 4"}
	if re.Error() != "n: n must be between 1 and 4" {
		t.Errorf("Error() = %q", re.Error())
	}
	if (&RequestError{Message: "x"}).Error() != "x" {
		t.Error("Error() without param")
	}
	for _, tc := range []struct {
		err    error
		status int
		typ    string
		param  string
		code   string
		msg    string
	}{
		{re, 400, "invalid_request_error", "n", "<null>", "n must be between 1 and 4"},
		{&RequestError{Param: "prompt", Message: "blocked", Code: "content_policy_violation"}, 400, "invalid_request_error", "prompt", "content_policy_violation", "blocked"},
		{&UpstreamError{Message: "no audio"}, 502, "server_error", "<null>", "<null>", "no audio"},
		{errors.New("boom"), 500, "server_error", "<null>", "<null>", "boom"},
		{nil, 500, "server_error", "<null>", "<null>", "internal error"},
	} {
		status, body := ErrorResponse(tc.err)
		if status != tc.status {
			t.Errorf("%v: status %d, want %d", tc.err, status, tc.status)
		}
		e := decodeOAError(t, body)
		if e.Error.Type != tc.typ || deref(e.Error.Param) != tc.param || deref(e.Error.Code) != tc.code || e.Error.Message != tc.msg {
			t.Errorf("%v: body %s", tc.err, body)
		}
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	var v struct {
		N      *int    `json:"n"`
		Prompt string  `json:"prompt"`
		Speed  float64 `json:"speed"`
	}
	for _, tc := range []struct {
		body  string
		param string
		msg   string
	}{
		{``, "", "empty"},
		{`   `, "", "empty"},
		{`[1]`, "", "JSON object"},
		{`"x"`, "", "JSON object"},
		{`{"n":`, "", "not valid JSON"},
		{`{"n":"two"}`, "n", "want an integer"},
		{`{"n":1.5}`, "n", "want an integer"},
		{`{"prompt":3}`, "prompt", "want a string"},
		{`{"speed":"fast"}`, "speed", "want a number"},
	} {
		err := decodeRequest([]byte(tc.body), &v)
		var re *RequestError
		if !errors.As(err, &re) {
			t.Errorf("%q: error %v, want *RequestError", tc.body, err)
			continue
		}
		if re.Param != tc.param || !strings.Contains(re.Message, tc.msg) {
			t.Errorf("%q: got param %q message %q; want param %q message containing %q", tc.body, re.Param, re.Message, tc.param, tc.msg)
		}
	}
	if err := decodeRequest([]byte(`{"n":2,"extra":true}`), &v); err != nil || v.N == nil || *v.N != 2 {
		t.Errorf("valid body: %v %v", err, v.N)
	}
	_ = http.StatusOK
}
