package fakeopenai

import (
	"bufio"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

func client(s *Server, key string) *openai.Client {
	c := openai.NewClient(option.WithBaseURL(s.URL+"/"), option.WithAPIKey(key), option.WithMaxRetries(0))
	return &c
}

func newServer(t *testing.T) *Server {
	t.Helper()
	s := New()
	t.Cleanup(s.Close)
	return s
}

func TestChatPlain(t *testing.T) {
	s := newServer(t)
	s.SetKey("sk-good", OK)
	c := client(s, "sk-good")
	res, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("hi there")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Choices[0].Message.Content; got != "Hello from gpt-4o-mini. You said: hi there" {
		t.Errorf("content %q", got)
	}
	if res.Choices[0].FinishReason != "stop" || res.Object != "chat.completion" || res.Model != "gpt-4o-mini" {
		t.Errorf("finish %q object %q model %q", res.Choices[0].FinishReason, res.Object, res.Model)
	}
	if res.Usage.TotalTokens != res.Usage.PromptTokens+res.Usage.CompletionTokens || res.Usage.CompletionTokens == 0 {
		t.Errorf("usage %+v", res.Usage)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || reqs[0].Key != "sk-good" || reqs[0].Model != "gpt-4o-mini" || reqs[0].Path != "/v1/chat/completions" || reqs[0].Method != "POST" {
		t.Fatalf("recorded %+v", reqs)
	}
	if !strings.Contains(string(reqs[0].Body), `"hi there"`) || reqs[0].Header.Get("Authorization") != "Bearer sk-good" {
		t.Errorf("body %s header %v", reqs[0].Body, reqs[0].Header)
	}
	if k := s.KeysUsed(); len(k) != 1 || k[0] != "sk-good" {
		t.Errorf("keys %v", k)
	}
	s.Reset()
	if len(s.Requests()) != 0 {
		t.Error("Reset kept requests")
	}
}

func TestChatStreamWithUsage(t *testing.T) {
	s := newServer(t)
	s.SetDefault(OK)
	s.Reply = "The quick brown fox jumps over the lazy dog."
	s.StreamChunks = 4
	c := client(s, "sk-any")
	stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model:         "deepseek-chat",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("go")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	var acc openai.ChatCompletionAccumulator
	var pieces []string
	for stream.Next() {
		ch := stream.Current()
		acc.AddChunk(ch)
		if len(ch.Choices) > 0 && ch.Choices[0].Delta.Content != "" {
			pieces = append(pieces, ch.Choices[0].Delta.Content)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if len(pieces) != 4 || strings.Join(pieces, "") != s.Reply {
		t.Errorf("pieces %q", pieces)
	}
	if got := acc.Choices[0].Message.Content; got != s.Reply {
		t.Errorf("accumulated %q", got)
	}
	if acc.Choices[0].FinishReason != "stop" || acc.Usage.TotalTokens == 0 || acc.Usage.CompletionTokens != int64(tokens(s.Reply)) {
		t.Errorf("finish %q usage %+v", acc.Choices[0].FinishReason, acc.Usage)
	}
}

// The wire format: data lines, a usage chunk with no choices only when
// asked, [DONE] last.
func TestChatStreamWire(t *testing.T) {
	s := newServer(t)
	s.SetDefault(OK)
	for _, include := range []bool{false, true} {
		body := `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"x"}]}`
		if include {
			body = `{"model":"gpt-4o","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"x"}]}`
		}
		resp := post(t, s.URL+"/chat/completions", "k", body)
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
			t.Fatalf("content type %q", ct)
		}
		events := strings.Split(strings.TrimSuffix(string(raw), "\n\n"), "\n\n")
		if events[len(events)-1] != "data: [DONE]" {
			t.Fatalf("last event %q", events[len(events)-1])
		}
		usageChunk := events[len(events)-2]
		hasUsage := strings.Contains(usageChunk, `"choices":[]`) && strings.Contains(usageChunk, `"total_tokens"`)
		if hasUsage != include {
			t.Errorf("include_usage %v: chunk %s", include, usageChunk)
		}
		if include && !strings.Contains(events[0], `"usage":null`) {
			t.Errorf("first chunk without usage null: %s", events[0])
		}
		if !include && strings.Contains(string(raw), `"usage"`) {
			t.Errorf("usage sent unasked")
		}
	}
}

func weatherTool() openai.ChatCompletionToolUnionParam {
	return openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:        "get_weather",
		Description: openai.String("weather of a city"),
		Parameters: shared.FunctionParameters{
			"type":       "object",
			"properties": map[string]any{"location": map[string]string{"type": "string"}},
		},
	})
}

func TestChatToolsStreamAndResult(t *testing.T) {
	s := newServer(t)
	s.SetDefault(OK)
	c := client(s, "sk-t")
	params := openai.ChatCompletionNewParams{
		Model:    "gpt-4o",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Paris?")},
		Tools:    []openai.ChatCompletionToolUnionParam{weatherTool()},
	}
	stream := c.Chat.Completions.NewStreaming(context.Background(), params)
	var acc openai.ChatCompletionAccumulator
	var fragments int
	var finished *openai.FinishedChatCompletionToolCall
	for stream.Next() {
		ch := stream.Current()
		acc.AddChunk(ch)
		if len(ch.Choices) > 0 && len(ch.Choices[0].Delta.ToolCalls) > 0 && ch.Choices[0].Delta.ToolCalls[0].Function.Arguments != "" {
			fragments++
		}
		if tc, ok := acc.JustFinishedToolCall(); ok {
			finished = &tc
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if fragments != 3 {
		t.Errorf("arguments came in %d fragments, want 3", fragments)
	}
	if finished == nil || finished.Name != "get_weather" || finished.Arguments != `{"location":"Paris","unit":"celsius"}` {
		t.Fatalf("finished tool call %+v", finished)
	}
	msg := acc.Choices[0].Message
	if acc.Choices[0].FinishReason != "tool_calls" || len(msg.ToolCalls) != 1 || msg.ToolCalls[0].ID == "" {
		t.Fatalf("accumulated %+v", acc.Choices[0])
	}

	// Send the result back: a text that quotes it.
	params.Messages = append(params.Messages, msg.ToParam(), openai.ToolMessage(`{"temp":21}`, msg.ToolCalls[0].ID))
	res, err := c.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Choices[0].Message.Content; got != `The tool said: {"temp":21}` || res.Choices[0].FinishReason != "stop" {
		t.Errorf("after the tool: %q %q", got, res.Choices[0].FinishReason)
	}

	// Not streamed: the same call in one message.
	params.Messages = params.Messages[:1]
	res, err = c.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if tc := res.Choices[0].Message.ToolCalls; len(tc) != 1 || tc[0].Function.Name != "get_weather" || res.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("plain tool call %+v", res.Choices[0])
	}
}

func TestEmbeddingsAndModels(t *testing.T) {
	s := newServer(t)
	s.SetDefault(OK)
	c := client(s, "sk-e")
	ctx := context.Background()
	res, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: openai.EmbeddingModelTextEmbedding3Small,
		Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 2 || len(res.Data[0].Embedding) != 8 || res.Data[1].Index != 1 || res.Usage.PromptTokens == 0 {
		t.Fatalf("embeddings %+v", res)
	}
	want := Embedding("a", 8)
	for i, v := range res.Data[0].Embedding {
		if math.Abs(v-want[i]) > 1e-6 {
			t.Fatalf("dim %d: %v want %v", i, v, want[i])
		}
	}
	// base64, with dimensions.
	res, err = c.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: openai.EmbeddingModelTextEmbedding3Small, Dimensions: openai.Int(4),
		Input:          openai.EmbeddingNewParamsInputUnion{OfString: openai.String("a")},
		EncodingFormat: openai.EmbeddingNewParamsEncodingFormatBase64,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Data) != 1 || !strings.Contains(res.Data[0].RawJSON(), `"embedding":"`) {
		t.Errorf("base64 embedding %s", res.Data[0].RawJSON())
	}

	page, err := c.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != strings.Join(DefaultModels, ",") {
		t.Errorf("models %v", ids)
	}
	m, err := c.Models.Get(ctx, "deepseek-chat")
	if err != nil || m.ID != "deepseek-chat" || m.OwnedBy != "system" {
		t.Errorf("get model %+v %v", m, err)
	}
	if r := s.Requests(); r[len(r)-1].Model != "deepseek-chat" || r[len(r)-1].Path != "/v1/models/deepseek-chat" {
		t.Errorf("recorded %+v", r[len(r)-1])
	}
	_, err = c.Models.Get(ctx, "nope")
	checkAPIError(t, err, 404, "invalid_request_error", "model_not_found")

	s.SetModels("only-one")
	_, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}})
	checkAPIError(t, err, 404, "invalid_request_error", "model_not_found")
}

func checkAPIError(t *testing.T, err error, status int, typ, code string) *openai.Error {
	t.Helper()
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) {
		t.Fatalf("error %v (%T), want *openai.Error", err, err)
	}
	if apiErr.StatusCode != status || apiErr.Type != typ || apiErr.Code != code {
		t.Errorf("status %d type %q code %q, want %d %q %q; raw %s", apiErr.StatusCode, apiErr.Type, apiErr.Code, status, typ, code, apiErr.RawJSON())
	}
	return apiErr
}

func TestErrorBehaviors(t *testing.T) {
	s := newServer(t)
	s.SetKey("sk-proj-abcdefghijklmnopqrstuvwxyz0123456789", Invalid)
	s.SetKey("sk-rl", RateLimited)
	s.SetKey("sk-quota", InsufficientQuota)
	s.SetKey("sk-balance", InsufficientBalance)
	s.SetKey("sk-500", ServerError)
	s.SetKey("sk-503", Unavailable)
	ctx := context.Background()
	chat := func(key string) error {
		_, err := client(s, key).Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
			Model: "gpt-4o-mini", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
		})
		return err
	}

	e := checkAPIError(t, chat("sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"), 401, "invalid_request_error", "invalid_api_key")
	if e.Message != "Incorrect API key provided: sk-proj-"+strings.Repeat("*", 32)+"6789. You can find your API key at https://platform.openai.com/account/api-keys." {
		t.Errorf("401 message %q", e.Message)
	}
	for b, want := range map[Behavior]int{OK: 200, Invalid: 401, RateLimited: 429, InsufficientQuota: 429, InsufficientBalance: 402, ServerError: 500, Unavailable: 503, Hang: 0, CutStream: 0} {
		if b.Status() != want {
			t.Errorf("%v.Status() = %d, want %d", b, b.Status(), want)
		}
	}
	// The default behavior is Invalid.
	checkAPIError(t, chat("sk-unknown"), 401, "invalid_request_error", "invalid_api_key")

	e = checkAPIError(t, chat("sk-rl"), 429, "requests", "rate_limit_exceeded")
	h := e.Response.Header
	if h.Get("Retry-After") != "20" || h.Get("X-Ratelimit-Reset-Requests") != "20s" || h.Get("X-Ratelimit-Reset-Tokens") != "6m0s" || h.Get("X-Ratelimit-Remaining-Requests") != "0" {
		t.Errorf("429 headers %v", h)
	}
	s.RetryAfter, s.ResetRequests, s.ResetTokens = "3", "1s", "2m0s"
	e = checkAPIError(t, chat("sk-rl"), 429, "requests", "rate_limit_exceeded")
	if h := e.Response.Header; h.Get("Retry-After") != "3" || h.Get("X-Ratelimit-Reset-Requests") != "1s" || h.Get("X-Ratelimit-Reset-Tokens") != "2m0s" {
		t.Errorf("configured 429 headers %v", h)
	}
	checkAPIError(t, chat("sk-quota"), 429, "insufficient_quota", "insufficient_quota")
	e = checkAPIError(t, chat("sk-balance"), 402, "unknown_error", "invalid_request_error")
	if e.Message != "Insufficient Balance" {
		t.Errorf("402 message %q", e.Message)
	}
	checkAPIError(t, chat("sk-500"), 500, "server_error", "")
	checkAPIError(t, chat("sk-503"), 503, "server_error", "")
	// No key at all.
	resp := post(t, s.URL+"/chat/completions", "", `{"model":"gpt-4o-mini","messages":[]}`)
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("no key: %d", resp.StatusCode)
	}
	// Unknown route: 404 in OpenAI's shape.
	resp = post(t, s.URL+"/completions/legacy", "sk-any", `{}`)
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(raw), "Invalid URL (POST /v1/completions/legacy)") {
		t.Errorf("unknown route: %d %s", resp.StatusCode, raw)
	}
	// Bodies are OpenAI's: four-space indentation, null param and code.
	resp = post(t, s.URL+"/chat/completions", "sk-500", `{"model":"gpt-4o-mini"}`)
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	const want500 = "{\n    \"error\": {\n        \"message\": \"The server had an error while processing your request. Sorry about that!\",\n        \"type\": \"server_error\",\n        \"param\": null,\n        \"code\": null\n    }\n}\n"
	if string(raw) != want500 {
		t.Errorf("500 body %q", raw)
	}
}

func post(t *testing.T, url, key, body string) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func TestHangAndCutStream(t *testing.T) {
	s := newServer(t)
	s.SetKey("sk-hang", Hang)
	s.SetKey("sk-cut", CutStream)
	c := client(s, "sk-hang")
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*time.Second {
		t.Errorf("hang: %v after %v", err, time.Since(start))
	}

	// A streamed answer is cut after two chunks: the SDK sees an error, not
	// a clean end.
	stream := client(s, "sk-cut").Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
	})
	n := 0
	for stream.Next() {
		n++
	}
	if stream.Err() == nil || n != 2 {
		t.Errorf("cut stream: %d chunks, err %v", n, stream.Err())
	}
	// Raw: two data events, no [DONE].
	resp := post(t, s.URL+"/chat/completions", "sk-cut", `{"model":"gpt-4o","stream":true,"messages":[{"role":"user","content":"x"}]}`)
	sc := bufio.NewScanner(resp.Body)
	var lines []string
	for sc.Scan() {
		if l := sc.Text(); l != "" {
			lines = append(lines, l)
		}
	}
	resp.Body.Close()
	if len(lines) != 2 || strings.Contains(strings.Join(lines, ""), "[DONE]") {
		t.Errorf("cut stream lines %q", lines)
	}
	// Not streamed: the connection drops before any answer.
	_, err = client(s, "sk-cut").Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "gpt-4o", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}})
	var apiErr *openai.Error
	if err == nil || errors.As(err, &apiErr) {
		t.Errorf("cut plain: %v", err)
	}

	// Close releases a hanging request.
	s2 := New()
	s2.SetDefault(Hang)
	done := make(chan error, 1)
	go func() {
		_, err := client(s2, "k").Models.List(context.Background())
		done <- err
	}()
	time.Sleep(50 * time.Millisecond)
	s2.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Error("Close did not release a hanging request")
	}
}

func TestBasePath(t *testing.T) {
	for _, base := range []string{"", "/api/v1", "openai/v1/"} {
		s := NewWithBase(base)
		s.SetDefault(OK)
		page, err := client(s, "k").Models.List(context.Background())
		if err != nil || len(page.Data) == 0 {
			t.Errorf("base %q: %v", base, err)
		}
		if want := s.Root() + "/" + strings.Trim(base, "/"); strings.TrimSuffix(want, "/") != s.URL {
			t.Errorf("base %q: URL %q", base, s.URL)
		}
		// Outside the base: 404.
		if base != "" {
			resp, err := http.Get(s.Root() + "/models")
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != 404 {
				t.Errorf("base %q: /models outside the base answered %d", base, resp.StatusCode)
			}
		}
		s.Close()
	}
}

func TestMaskKeyAndSplit(t *testing.T) {
	for in, want := range map[string]string{
		"sk-1234567890abcdef":          "sk-************cdef",
		"short":                        "*****",
		"sk-proj-0123456789abcdefghij": "sk-proj-****************ghij",
	} {
		if got := maskKey(in); got != want {
			t.Errorf("maskKey(%q) = %q, want %q", in, got, want)
		}
	}
	if got := split("héllo wörld", 3); strings.Join(got, "") != "héllo wörld" || len(got) != 3 {
		t.Errorf("split %q", got)
	}
	if got := split("ab", 5); len(got) != 2 {
		t.Errorf("split short %q", got)
	}
}
