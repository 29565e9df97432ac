package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
)

// The Messages API on /v1/messages: the token in x-api-key, a Claude model
// mapped to Gemini, the answer in Anthropic's shape, plain and streamed;
// count_tokens; errors in Anthropic's shape.
func TestAnthropicMessagesRoute(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: []string{k("an1")}})
	hdr := []string{"x-api-key", clientToken, "anthropic-version", "2023-06-01", "anthropic-beta", "claude-code-20250219"}
	body := `{"model":"claude-sonnet-4-5","max_tokens":256,"system":"be brief","messages":[{"role":"user","content":"hi"}]}`
	status, _, out := e.do("POST", "/v1/messages?beta=true", body, hdr...)
	var msg struct {
		Type       string `json:"type"`
		Model      string `json:"model"`
		StopReason string `json:"stop_reason"`
		Content    []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"content"`
		Usage struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	}
	if status != 200 || json.Unmarshal([]byte(out), &msg) != nil || msg.Type != "message" || msg.StopReason != "end_turn" ||
		len(msg.Content) != 1 || msg.Content[0].Text != fakegemini.ReplyText("gemini-2.5-flash") || msg.Model != "claude-sonnet-4-5" || msg.Usage.InputTokens == 0 {
		t.Fatalf("message: %d %s", status, out)
	}
	last := e.up.Requests()[len(e.up.Requests())-1]
	if last.Path != "/v1beta/models/gemini-2.5-flash:generateContent" || !strings.Contains(string(last.Body), `"systemInstruction"`) {
		t.Errorf("upstream got %s %s", last.Path, last.Body)
	}

	status, h, out := e.do("POST", "/v1/messages", strings.Replace(body, `"max_tokens":256`, `"max_tokens":256,"stream":true`, 1), hdr...)
	if status != 200 || !strings.HasPrefix(h.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream: %d %v", status, h)
	}
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if name, ok := strings.CutPrefix(line, "event: "); ok {
			names = append(names, name)
		}
	}
	got := strings.Join(names, ",")
	if !strings.HasPrefix(got, "message_start,content_block_start,content_block_delta") || !strings.HasSuffix(got, "content_block_stop,message_delta,message_stop") || !strings.Contains(got, "ping") {
		t.Errorf("stream events %s", got)
	}

	status, _, out = e.do("POST", "/v1/messages/count_tokens", `{"model":"claude-haiku-4-5","messages":[{"role":"user","content":"hi"}]}`, hdr...)
	if status != 200 || !strings.Contains(out, `"input_tokens"`) {
		t.Errorf("count_tokens: %d %s", status, out)
	}
	if last := e.up.Requests()[len(e.up.Requests())-1]; last.Path != "/v1beta/models/gemini-2.5-flash-lite:countTokens" {
		t.Errorf("count_tokens went to %s", last.Path)
	}

	status, _, out = e.do("POST", "/v1/messages", body, "x-api-key", "wrong")
	if status != 401 || !strings.Contains(out, `"type":"error"`) || !strings.Contains(out, `"authentication_error"`) {
		t.Errorf("bad token: %d %s", status, out)
	}
	status, _, out = e.do("POST", "/v1/messages", `{"model":"claude-sonnet-4-5","messages":[]}`, hdr...)
	if status != 400 || !strings.Contains(out, `"invalid_request_error"`) {
		t.Errorf("bad request: %d %s", status, out)
	}
	e.up.SetDefault(fakegemini.RateLimited)
	status, _, out = e.do("POST", "/v1/messages", body, hdr...)
	if status != 429 || !strings.Contains(out, `"rate_limit_error"`) {
		t.Errorf("all keys cooling: %d %s", status, out)
	}
}

// An empty answer is retried on another key, as on the other routes, and
// costs the key nothing.
func TestAnthropicEmptyAnswerRetried(t *testing.T) {
	e := newEnv(t)
	empty, good := k("an-empty"), k("an-good")
	e.up.SetKey(empty, fakegemini.EmptyAnswer)
	e.up.SetKey(good, fakegemini.OK)
	e.start(poolOpts{keys: []string{empty, good}, extra: "retry_empty on"})
	for i := 0; i < 2; i++ {
		status, _, out := e.do("POST", "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":50,"messages":[{"role":"user","content":"hi"}]}`,
			"x-api-key", clientToken)
		if status != 200 || !strings.Contains(out, fakegemini.ReplyText("gemini-2.5-flash")) {
			t.Fatalf("request %d: %d %s", i, status, out)
		}
	}
	if st := e.key(empty).Status().String(); st != "active" {
		t.Errorf("the key that answered empty is %s", st)
	}
}
