package e2e

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"

	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
)

func (e *env) openai(prefix string) openai.Client {
	return openai.NewClient(option.WithAPIKey(clientToken), option.WithBaseURL(baseURL+prefix+"/"), option.WithMaxRetries(0))
}

// lastBody decodes the body of the upstream's most recent request.
func (e *env) lastBody() map[string]any {
	e.t.Helper()
	reqs := e.up.Requests()
	var m map[string]any
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &m); err != nil {
		e.t.Fatalf("upstream body: %v", err)
	}
	return m
}

var weatherTool = openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
	Name: "get_weather",
	Parameters: shared.FunctionParameters{
		"type": "object",
		"properties": map[string]any{"city": map[string]any{"type": "string"},
			"unit": map[string]any{"anyOf": []any{map[string]any{"const": "C"}, map[string]any{"const": "F"}}}},
		"required": []string{"city"},
	},
})

func TestOpenAIChatAndStreamWithUsage(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: []string{k("oa1")}, extra: "show_thinking off"})
	c := e.openai("/v1")
	ctx := context.Background()
	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:       "gemini-2.5-flash",
		Messages:    []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage("hi")},
		Temperature: openai.Float(0.3),
		MaxTokens:   openai.Int(100),
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Choices[0].Message.Content != fakegemini.ReplyText("gemini-2.5-flash") || resp.Choices[0].FinishReason != "stop" {
		t.Errorf("answer %+v", resp.Choices[0])
	}
	if resp.Usage.PromptTokens == 0 || resp.Usage.TotalTokens == 0 || resp.Model != "gemini-2.5-flash" {
		t.Errorf("usage %+v model %s", resp.Usage, resp.Model)
	}
	up := e.lastBody()
	if up["systemInstruction"] == nil || up["generationConfig"].(map[string]any)["maxOutputTokens"] != 100.0 {
		t.Errorf("upstream body %v", up)
	}
	if r := e.up.Requests()[0]; r.Path != "/v1beta/models/gemini-2.5-flash:generateContent" || r.Key != k("oa1") {
		t.Errorf("upstream %s with %s", r.Path, r.Key)
	}

	stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:         "gemini-2.5-flash",
		Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
	})
	acc := openai.ChatCompletionAccumulator{}
	chunks := 0
	for stream.Next() {
		acc.AddChunk(stream.Current())
		chunks++
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if acc.Choices[0].Message.Content != fakegemini.ReplyText("gemini-2.5-flash") || acc.Choices[0].FinishReason != "stop" {
		t.Errorf("streamed answer %+v", acc.Choices[0])
	}
	if acc.Usage.TotalTokens == 0 || chunks < 4 {
		t.Errorf("stream usage %+v after %d chunks", acc.Usage, chunks)
	}
	if r := e.up.Requests()[1]; r.RawQuery != "alt=sse" {
		t.Errorf("stream upstream query %q", r.RawQuery)
	}
}

func TestOpenAIToolCallRoundTrip(t *testing.T) {
	for _, model := range []string{"gemini-2.5-flash", "gemini-3-pro-preview"} {
		t.Run(model, func(t *testing.T) {
			e := newEnv(t)
			e.up.SetDefault(fakegemini.OK)
			e.start(poolOpts{keys: []string{k("tool1")}})
			c := e.openai("/v1")
			ctx := context.Background()
			params := openai.ChatCompletionNewParams{
				Model:    model,
				Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Paris?")},
				Tools:    []openai.ChatCompletionToolUnionParam{weatherTool},
			}
			resp, err := c.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatal(err)
			}
			msg := resp.Choices[0].Message
			if len(msg.ToolCalls) != 1 || msg.ToolCalls[0].Function.Name != "get_weather" || resp.Choices[0].FinishReason != "tool_calls" {
				t.Fatalf("tool call answer %+v", resp.Choices[0])
			}
			decl := e.lastBody()["tools"].([]any)[0].(map[string]any)["functionDeclarations"].([]any)[0].(map[string]any)
			if !strings.Contains(mustJSON(decl["parametersJsonSchema"]), `"anyOf"`) {
				t.Errorf("schema not sent as is: %v", decl)
			}
			// Send the tool call back with its extra_content (the Gemini 3
			// thought signature), as clients that keep the raw message do.
			asst := msg.ToParam()
			var raw struct {
				ExtraContent any `json:"extra_content"`
			}
			_ = json.Unmarshal([]byte(msg.ToolCalls[0].RawJSON()), &raw)
			if raw.ExtraContent != nil {
				asst.OfAssistant.ToolCalls[0].OfFunction.SetExtraFields(map[string]any{"extra_content": raw.ExtraContent})
			} else if strings.HasPrefix(model, "gemini-3") {
				t.Fatalf("Gemini 3 tool call without extra_content: %s", msg.RawJSON())
			}
			params.Messages = append(params.Messages, asst, openai.ToolMessage(`{"temp": 21}`, msg.ToolCalls[0].ID))
			resp, err = c.Chat.Completions.New(ctx, params)
			if err != nil {
				t.Fatalf("second turn (signature carried for Gemini 3?): %v", err)
			}
			if !strings.HasPrefix(resp.Choices[0].Message.Content, fakegemini.FunctionResultPrefix) {
				t.Errorf("final answer %q", resp.Choices[0].Message.Content)
			}
			contents := mustJSON(e.lastBody()["contents"])
			if !strings.Contains(contents, `"functionCall"`) || !strings.Contains(contents, `"functionResponse"`) ||
				!strings.Contains(contents, `"name":"get_weather"`) {
				t.Errorf("upstream history lacks functionCall/functionResponse: %s", contents)
			}
			if strings.HasPrefix(model, "gemini-3") && !strings.Contains(contents, fakegemini.ThoughtSignature) {
				t.Errorf("thought signature not carried back: %s", contents)
			}

			// Tool calls in a stream arrive as indexed deltas.
			params.Messages = params.Messages[:1]
			stream := c.Chat.Completions.NewStreaming(ctx, params)
			acc := openai.ChatCompletionAccumulator{}
			for stream.Next() {
				acc.AddChunk(stream.Current())
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if len(acc.Choices[0].Message.ToolCalls) != 1 || acc.Choices[0].FinishReason != "tool_calls" ||
				!strings.Contains(acc.Choices[0].Message.ToolCalls[0].Function.Arguments, "Paris") {
				t.Errorf("streamed tool call %+v", acc.Choices[0])
			}
		})
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestOpenAIStructuredOutputAndImageInput(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: []string{k("so1")}})
	c := e.openai("/v1")
	ctx := context.Background()
	schema := map[string]any{"type": "object", "properties": map[string]any{"name": map[string]any{"type": "string"}, "age": map[string]any{"type": "integer"}}, "required": []string{"name"}}
	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "gemini-2.5-flash",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("who?")},
		ResponseFormat: openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "person", Schema: schema},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(resp.Choices[0].Message.Content), &out); err != nil || out["name"] != "x" {
		t.Errorf("structured answer %q (%v)", resp.Choices[0].Message.Content, err)
	}
	gc := e.lastBody()["generationConfig"].(map[string]any)
	if gc["responseMimeType"] != "application/json" || gc["responseJsonSchema"] == nil {
		t.Errorf("generationConfig %v", gc)
	}

	png := "data:image/png;base64," + fakegemini.TinyPNG
	_, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "gemini-2.5-flash",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
			openai.TextContentPart("what is this?"),
			openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: png}),
		})},
	})
	if err != nil {
		t.Fatal(err)
	}
	if parts := mustJSON(e.lastBody()["contents"]); !strings.Contains(parts, `"inlineData"`) || !strings.Contains(parts, `"mimeType":"image/png"`) {
		t.Errorf("image not sent as inlineData: %s", parts)
	}
}

func TestOpenAIModelsEmbeddingsImagesSpeech(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: []string{k("misc1")}, extra: "filtered_models gemini-2.0-flash"})
	c := e.openai("/v1")
	ctx := context.Background()

	var ids []string
	pager := c.Models.ListAutoPaging(ctx)
	for pager.Next() {
		ids = append(ids, pager.Current().ID)
	}
	if err := pager.Err(); err != nil {
		t.Fatal(err)
	}
	joined := "," + strings.Join(ids, ",") + ","
	if !strings.Contains(joined, ",gemini-2.5-flash,") || !strings.Contains(joined, ",gemini-2.5-flash-search,") || strings.Contains(joined, ",gemini-2.0-flash,") {
		t.Errorf("models %v: want the upstream list with aliases and without filtered models", ids)
	}

	emb, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{
		Model: "text-embedding-004", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}},
	})
	if err != nil || len(emb.Data) != 2 || len(emb.Data[1].Embedding) != fakegemini.DefaultEmbeddingSize || emb.Data[1].Index != 1 {
		t.Fatalf("embeddings %v %+v", err, emb)
	}
	if r := e.up.Requests()[len(e.up.Requests())-1]; !strings.HasSuffix(r.Path, "text-embedding-004:batchEmbedContents") {
		t.Errorf("embeddings went to %s", r.Path)
	}
	status, _, body := e.do("POST", "/v1/embeddings", `{"model":"text-embedding-004","input":"a","encoding_format":"base64"}`, "Authorization", "Bearer "+clientToken)
	if status != 200 || !strings.Contains(body, `"embedding":"`) {
		t.Errorf("base64 embeddings: %d %s", status, body)
	}

	img, err := c.Images.Generate(ctx, openai.ImageGenerateParams{
		Prompt: "a cat", Model: "imagen-3.0-generate-002", N: openai.Int(2), Size: "1792x1024",
		ResponseFormat: openai.ImageGenerateParamsResponseFormatB64JSON,
	})
	if err != nil || len(img.Data) != 2 || img.Data[0].B64JSON == "" {
		t.Fatalf("images %v %+v", err, img)
	}
	params := e.lastBody()["parameters"].(map[string]any)
	if params["sampleCount"] != 2.0 || params["aspectRatio"] != "16:9" {
		t.Errorf("imagen parameters %v", params)
	}

	audio, err := c.Audio.Speech.New(ctx, openai.AudioSpeechNewParams{
		Model: "gemini-2.5-flash-preview-tts", Input: "hello", Voice: openai.AudioSpeechNewParamsVoiceUnion{OfString: openai.String("alloy")},
		ResponseFormat: openai.AudioSpeechNewParamsResponseFormatWAV,
	})
	if err != nil {
		t.Fatal(err)
	}
	wav, _ := io.ReadAll(audio.Body)
	audio.Body.Close()
	if len(wav) != 44+4800 || string(wav[:4]) != "RIFF" || string(wav[8:12]) != "WAVE" ||
		binary.LittleEndian.Uint32(wav[24:28]) != 24000 || binary.LittleEndian.Uint32(wav[40:44]) != 4800 {
		t.Errorf("not a 24 kHz WAV of the upstream PCM: %d bytes, header %q", len(wav), wav[:min(44, len(wav))])
	}
	status, _, body = e.do("POST", "/v1/audio/speech", `{"model":"tts-1","input":"hi","voice":"alloy","response_format":"mp3"}`, "Authorization", "Bearer "+clientToken)
	if status != 400 || !strings.Contains(body, "wav") || !strings.Contains(body, "pcm") {
		t.Errorf("unsupported format: %d %s", status, body)
	}
}

func TestOpenAIPassthrough(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: []string{k("pt1")}})
	body := `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}],"extra_body_probe":{"kept":[1,2]},"reasoning_effort":"low"}`
	status, _, resp := e.do("POST", "/openai/v1/chat/completions", body, "Authorization", "Bearer "+clientToken)
	if status != 200 || !strings.Contains(resp, `"echo_unknown":{"kept":[1,2]}`) {
		t.Fatalf("passthrough: %d %s", status, resp)
	}
	r := e.up.Requests()[0]
	if r.Path != "/v1beta/openai/chat/completions" || string(r.Body) != body || r.Header.Get("Authorization") != "Bearer "+k("pt1") {
		t.Errorf("upstream got %s %s auth %q", r.Path, r.Body, r.Header.Get("Authorization"))
	}
	c := e.openai("/openai/v1")
	stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "gemini-2.5-flash", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	n := 0
	for stream.Next() {
		n++
	}
	if stream.Err() != nil || n == 0 {
		t.Errorf("passthrough stream: %d chunks, %v", n, stream.Err())
	}
	if _, err := c.Models.List(context.Background()); err != nil {
		t.Errorf("passthrough models: %v", err)
	}
	e.assertNoClientToken()
}

func TestOpenAIAliasesAndSearchLinks(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: []string{k("alias1")}})
	c := e.openai("/v1")
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gemini-2.5-pro-search", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("news?")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(resp.Choices[0].Message.Content, fakegemini.GroundingURI) || resp.Model != "gemini-2.5-pro-search" {
		t.Errorf("search answer %q (model %s)", resp.Choices[0].Message.Content, resp.Model)
	}
	reqs := e.up.Requests()
	last := reqs[len(reqs)-1]
	if last.Path != "/v1beta/models/gemini-2.5-pro:generateContent" || !strings.Contains(string(last.Body), `"googleSearch"`) {
		t.Errorf("alias reached upstream as %s %s", last.Path, last.Body)
	}
}

func TestOpenAIFailuresReachTheSDK(t *testing.T) {
	e := newEnv(t)
	l1, l2 := k("oa429a"), k("oa429b")
	e.up.SetKey(l1, fakegemini.RateLimited)
	e.up.SetKey(l2, fakegemini.RateLimited)
	e.start(poolOpts{keys: []string{l1, l2}})
	c := e.openai("/v1")
	_, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gemini-2.5-flash", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 429 {
		t.Fatalf("err %v, want a 429", err)
	}
	if ra, _ := strconv.Atoi(apiErr.Response.Header.Get("Retry-After")); ra < 10 || ra > 18 {
		t.Errorf("Retry-After %q", apiErr.Response.Header.Get("Retry-After"))
	}

	// A stream cut midway raises in the SDK.
	e2 := newEnv(t)
	e2.pool += "-cut"
	e2.up.SetKey(k("oacut"), fakegemini.CutStream)
	e2.start(poolOpts{keys: []string{k("oacut")}, extra: "retry_empty off"})
	c2 := e2.openai("/v1")
	stream := c2.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "gemini-2.5-flash", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	n := 0
	for stream.Next() {
		n++
	}
	if stream.Err() == nil || n == 0 {
		t.Errorf("cut stream: %d chunks then err %v; want chunks and then an error", n, stream.Err())
	}
}

func TestOpenAIRetriesEmptyAnswersAndFakeStream(t *testing.T) {
	e := newEnv(t)
	empty, good := k("empty"), k("full")
	e.up.SetKey(empty, fakegemini.EmptyAnswer)
	e.up.SetKey(good, fakegemini.OK)
	e.start(poolOpts{keys: []string{empty, good}, extra: "fake_stream on\n\t\tfake_stream_interval 50ms"})
	c := e.openai("/v1")
	for i := 0; i < 2; i++ {
		resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
			Model: "gemini-2.5-flash", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
		})
		if err != nil || resp.Choices[0].Message.Content == "" {
			t.Fatalf("call %d: %v %+v", i, err, resp)
		}
	}
	if s := e.key(empty).Snapshot(now()); s.ConsecutiveFailures != 0 || s.Status != keypool.Active {
		t.Errorf("an empty answer cost the key: %+v", s)
	}
	// fake_stream: the upstream gets a plain call, the client a stream.
	e.up.Reset()
	stream := c.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "gemini-2.5-flash", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")},
	})
	acc := openai.ChatCompletionAccumulator{}
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if stream.Err() != nil || acc.Choices[0].Message.Content != fakegemini.ReplyText("gemini-2.5-flash") {
		t.Errorf("fake stream: %v %+v", stream.Err(), acc.Choices)
	}
	for _, r := range e.up.Requests() {
		if strings.Contains(r.Path, "stream") {
			t.Errorf("fake stream called %s upstream", r.Path)
		}
	}
}

func TestOpenAIBadInput(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: []string{k("bad1")}})
	auth := []string{"Authorization", "Bearer " + clientToken}
	cases := []struct{ name, path, body, param string }{
		{"malformed JSON", "/v1/chat/completions", `{"model":`, ""},
		{"empty messages", "/v1/chat/completions", `{"model":"gemini-2.5-flash","messages":[]}`, "messages"},
		{"unknown role", "/v1/chat/completions", `{"model":"gemini-2.5-flash","messages":[{"role":"wizard","content":"x"}]}`, "messages[0].role"},
		{"wrong type", "/v1/chat/completions", `{"model":"gemini-2.5-flash","messages":"hi"}`, "messages"},
		{"bad image", "/v1/chat/completions", `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,@@@"}}]}]}`, "messages[0].content[0]"},
		{"token embeddings", "/v1/embeddings", `{"model":"text-embedding-004","input":[1,2,3]}`, "input"},
	}
	for _, c := range cases {
		status, _, body := e.do("POST", c.path, c.body, auth...)
		var shape struct {
			Error struct {
				Message string  `json:"message"`
				Type    string  `json:"type"`
				Param   *string `json:"param"`
			} `json:"error"`
		}
		if err := json.Unmarshal([]byte(body), &shape); err != nil || status != 400 || shape.Error.Message == "" || shape.Error.Type == "" {
			t.Errorf("%s: %d %s", c.name, status, body)
			continue
		}
		if c.param != "" && (shape.Error.Param == nil || !strings.HasPrefix(*shape.Error.Param, c.param)) {
			t.Errorf("%s: param %v, want %s", c.name, shape.Error.Param, c.param)
		}
	}
	if len(e.up.Requests()) != 0 {
		t.Errorf("bad input reached the upstream")
	}
	for _, p := range []string{"/chat/completions", "/v1/v1/chat/completions", "/v1/completions"} {
		status, _, body := e.do("POST", p, `{}`, auth...)
		if status != 404 || !strings.Contains(body, "/v1") || !strings.Contains(body, "v1beta") {
			t.Errorf("%s: %d %s", p, status, body)
		}
	}
	status, _, body := e.do("POST", "/v1/chat/completions", `{}`)
	if status != 401 || !strings.Contains(body, `"type"`) {
		t.Errorf("no token: %d %s", status, body)
	}
	_ = base64.StdEncoding
}
