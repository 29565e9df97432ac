package fromopenai

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
	"github.com/gemini-balance/gemini_balance/internal/openai"
	"github.com/gemini-balance/gemini_balance/internal/secret"
)

// maxMessage bounds the message taken from an error body (an HTML page from
// a gateway in front of the provider, say).
const maxMessage = 2048

// oaError is the "error" object of an OpenAI-style error body. code may be
// a string, a number or null.
type oaError struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Code    json.RawMessage `json:"code"`
}

// Error turns a provider's error answer (status and body) into a Gemini
// error body, {"error":{"code","message","status"}}, written by
// gemini.ErrorBody. It reads OpenAI's {"error":{"message","type","code"}},
// {"error":"text"}, {"message":...} or {"detail":...}, and takes any other
// body as the message. The provider's code (or type) is added to the message
// when it does not already say it: "insufficient_quota" and a rate limit
// are both 429. Secrets are masked: each of keys (the key the request used),
// Google keys, key= parameters and anything shaped like an "sk-" key. A
// status outside 400-599 is taken from a numeric code in the body, else 500.
func Error(status int, body []byte, keys ...string) []byte {
	msg, code := errorMessage(body)
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError
		if n, err := strconv.Atoi(code); err == nil && n >= 400 && n <= 599 {
			status = n
		}
	}
	if msg == "" {
		msg = "the provider answered HTTP " + strconv.Itoa(status)
		if t := http.StatusText(status); t != "" {
			msg += " " + t
		}
	}
	if code != "" && !strings.Contains(msg, code) {
		if _, numeric := strconv.Atoi(code); numeric != nil {
			msg += " (" + code + ")"
		}
	}
	return gemini.ErrorBody(status, secret.MaskOpenAIKeys(secret.Redact(msg, keys...)))
}

// errorMessage reads the message and code (or type) of an error body.
func errorMessage(body []byte) (msg, code string) {
	t := bytes.TrimSpace(body)
	if len(t) > 0 && t[0] == '{' {
		var env struct {
			Error   json.RawMessage `json:"error"`
			Message string          `json:"message"`
			Detail  json.RawMessage `json:"detail"`
		}
		if json.Unmarshal(t, &env) == nil {
			var e oaError
			var s string
			switch {
			case json.Unmarshal(env.Error, &s) == nil && s != "":
				return bounded(s), ""
			case len(env.Error) > 0 && json.Unmarshal(env.Error, &e) == nil && (e.Message != "" || e.Type != "" || !isNull(e.Code)):
				code = openai.RawString(e.Code)
				if code == "" {
					code = e.Type
				}
				return bounded(e.Message), code
			case env.Message != "":
				return bounded(env.Message), ""
			case json.Unmarshal(env.Detail, &s) == nil && s != "":
				return bounded(s), ""
			case !isNull(env.Detail):
				return bounded(string(env.Detail)), ""
			}
		}
	}
	return bounded(string(t)), ""
}

func bounded(s string) string {
	s = strings.TrimSpace(strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) > maxMessage {
		return truncate(s, maxMessage)
	}
	return s
}

// errorEvent is a Gemini SSE error event, the way the native stream ends
// on an upstream failure.
func errorEvent(dst []byte, body []byte) []byte {
	dst = append(dst, "data: "...)
	dst = append(dst, body...)
	return append(dst, "\r\n\r\n"...)
}
