package fromopenai

import (
	"strings"
	"testing"
)

func TestError(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status int
		body   string
		keys   []string
		want   string
	}{{
		name: "OpenAI invalid key", status: 401,
		body: `{"error":{"message":"Incorrect API key provided: sk-proj-********************abcd. You can find your API key at https://platform.openai.com/account/api-keys.","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
		want: `{"error":{"code":401,"message":"Incorrect API key provided: sk-proj-********************abcd. You can find your API key at https://platform.openai.com/account/api-keys. (invalid_api_key)","status":"UNAUTHENTICATED"}}`,
	}, {
		name: "OpenAI quota", status: 429,
		body: `{"error":{"message":"You exceeded your current quota, please check your plan and billing details.","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}`,
		want: `{"error":{"code":429,"message":"You exceeded your current quota, please check your plan and billing details. (insufficient_quota)","status":"RESOURCE_EXHAUSTED"}}`,
	}, {
		name: "DeepSeek insufficient balance", status: 402,
		body: `{"error":{"message":"Insufficient Balance","type":"unknown_error","param":null,"code":"invalid_request_error"}}`,
		want: `{"error":{"code":402,"message":"Insufficient Balance (invalid_request_error)","status":"UNKNOWN"}}`,
	}, {
		name: "code already in the message, type used when no code", status: 400,
		body: `{"error":{"message":"context_length_exceeded: too long","type":"invalid_request_error","code":"context_length_exceeded"}}`,
		want: `{"error":{"code":400,"message":"context_length_exceeded: too long","status":"INVALID_ARGUMENT"}}`,
	}, {
		name: "type when code is null", status: 404,
		body: `{"error":{"message":"The model 'gpt-9' does not exist","type":"invalid_request_error","param":"model","code":null}}`,
		want: `{"error":{"code":404,"message":"The model 'gpt-9' does not exist (invalid_request_error)","status":"NOT_FOUND"}}`,
	}, {
		name: "string error", status: 500,
		body: `{"error":"upstream exploded"}`,
		want: `{"error":{"code":500,"message":"upstream exploded","status":"INTERNAL"}}`,
	}, {
		name: "detail (FastAPI servers)", status: 422,
		body: `{"detail":[{"loc":["body","messages"],"msg":"field required"}]}`,
		want: `{"error":{"code":422,"message":"[{\"loc\":[\"body\",\"messages\"],\"msg\":\"field required\"}]","status":"UNKNOWN"}}`,
	}, {
		name: "plain text gateway page", status: 503,
		body: "  Service Temporarily Unavailable\n",
		want: `{"error":{"code":503,"message":"Service Temporarily Unavailable","status":"UNAVAILABLE"}}`,
	}, {
		name: "empty body", status: 504,
		want: `{"error":{"code":504,"message":"the provider answered HTTP 504 Gateway Timeout","status":"DEADLINE_EXCEEDED"}}`,
	}, {
		name: "403", status: 403, body: `{"message":"region not supported"}`,
		want: `{"error":{"code":403,"message":"region not supported","status":"PERMISSION_DENIED"}}`,
	}, {
		name: "no status: the body's numeric code", status: 0, body: `{"error":{"message":"busy","code":503}}`,
		want: `{"error":{"code":503,"message":"busy","status":"UNAVAILABLE"}}`,
	}, {
		name: "secrets masked: the request's key and any sk- key", status: 401,
		body: `{"error":{"message":"key sk-0123456789abcdefghijKLMN is invalid; also tried xyz-secret-token-123456"}}`,
		keys: []string{"xyz-secret-token-123456"},
		want: `{"error":{"code":401,"message":"key sk-012…KLMN is invalid; also tried xyz-se…3456","status":"UNAUTHENTICATED"}}`,
	}} {
		t.Run(tc.name, func(t *testing.T) {
			jsonEqual(t, Error(tc.status, []byte(tc.body), tc.keys...), tc.want)
		})
	}
}

func TestErrorBoundsLongBodies(t *testing.T) {
	out := Error(502, []byte("<html>"+strings.Repeat("x", 10000)+"</html>"))
	if len(out) > maxMessage+200 {
		t.Errorf("%d bytes", len(out))
	}
}
