package anthropic

import (
	"encoding/json"
	"testing"
)

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func TestErrorBodyByStatus(t *testing.T) {
	for status, typ := range map[int]string{
		400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
		404: "not_found_error", 413: "request_too_large", 429: "rate_limit_error",
		500: "api_error", 503: "overloaded_error", 529: "overloaded_error",
		409: "invalid_request_error", 422: "invalid_request_error", 502: "api_error", 504: "api_error",
	} {
		jsonEqual(t, ErrorBody(status, "m <&>"), `{"type":"error","error":{"type":"`+typ+`","message":"m <&>"}}`)
	}
}

func TestFromGoogleError(t *testing.T) {
	cases := []struct {
		status int
		body   string
		want   string
	}{
		{429, `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}`,
			`{"type":"error","error":{"type":"rate_limit_error","message":"Resource has been exhausted (e.g. check quota)."}}`},
		{400, `[{"error":{"code":400,"message":"Invalid JSON payload","status":"INVALID_ARGUMENT"}}]`,
			`{"type":"error","error":{"type":"invalid_request_error","message":"Invalid JSON payload"}}`},
		{503, `{"error":{"code":503,"message":"The model is overloaded.","status":"UNAVAILABLE"}}`,
			`{"type":"error","error":{"type":"overloaded_error","message":"The model is overloaded."}}`},
		{0, `{"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}}`,
			`{"type":"error","error":{"type":"permission_error","message":"denied"}}`},
		{502, `<html>bad gateway</html>`, `{"type":"error","error":{"type":"api_error","message":"<html>bad gateway</html>"}}`},
		{500, ``, `{"type":"error","error":{"type":"api_error","message":"Internal Server Error"}}`},
	}
	for _, c := range cases {
		jsonEqual(t, FromGoogleError(c.status, []byte(c.body)), c.want)
	}
}

func TestUpstreamErrorStatus(t *testing.T) {
	if s := (&UpstreamError{Code: 429}).HTTPStatus(); s != 429 {
		t.Errorf("429 → %d", s)
	}
	if s := (&UpstreamError{Code: 8}).HTTPStatus(); s != 500 {
		t.Errorf("8 → %d", s)
	}
}
