package fakegemini

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

const (
	weatherTool = `{"functionDeclarations":[` +
		`{"name":"get_weather","parametersJsonSchema":{"type":"object","properties":{"days":{"type":"integer"},"city":{"type":["string","null"]},"zip":{"type":"string"}}}},` +
		`{"name":"other","parametersJsonSchema":{"type":"object","properties":{"q":{"type":"string"}}}}]}`
	userHi = `{"role":"user","parts":[{"text":"hi"}]}`
)

// genBody is a generation request with the given contents and further
// top-level fields (JSON members without braces, or "").
func genBody(contents []string, more string) string {
	b := `{"contents":[` + strings.Join(contents, ",") + `]`
	if more != "" {
		b += "," + more
	}
	return b + "}"
}

func generate(t *testing.T, s *Server, model, body string) (int, []byte, generateResponse) {
	t.Helper()
	resp, b := call(t, "POST", s.URL+"/models/"+model+":generateContent", body, "x-goog-api-key", "k")
	var r generateResponse
	if resp.StatusCode == 200 {
		r = decodeJSON[generateResponse](t, b)
	}
	return resp.StatusCode, b, r
}

// streams runs the request as an SSE stream and as an array stream and
// returns both answers' events, checking they are the same.
func streams(t *testing.T, s *Server, model, body string) []generateResponse {
	t.Helper()
	url := s.URL + "/models/" + model + ":streamGenerateContent"
	resp, b := call(t, "POST", url+"?alt=sse", body, "x-goog-api-key", "k")
	if resp.StatusCode != 200 {
		t.Fatalf("SSE: %d %s", resp.StatusCode, b)
	}
	raw, err := readEvents(t, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var sse []generateResponse
	for _, ev := range raw {
		sse = append(sse, decodeJSON[generateResponse](t, []byte(ev)))
	}
	resp, b = call(t, "POST", url, body, "x-goog-api-key", "k")
	if resp.StatusCode != 200 || !bytes.HasPrefix(b, []byte("[{")) || !bytes.HasSuffix(b, []byte("}\n]")) {
		t.Fatalf("array: %d %s", resp.StatusCode, b)
	}
	arr := decodeJSON[[]generateResponse](t, b)
	if len(arr) != len(sse) {
		t.Fatalf("SSE has %d events, array %d", len(sse), len(arr))
	}
	for i := range arr {
		arr[i].ResponseID, sse[i].ResponseID = "", ""
		if !sameJSON(arr[i], sse[i]) {
			t.Errorf("event %d differs:\nSSE   %+v\narray %+v", i, sse[i], arr[i])
		}
	}
	return sse
}

// sameJSON compares values by their compact JSON (raw messages included).
func sameJSON(a, b any) bool { return bytes.Equal(marshal(a), marshal(b)) }

// finalOnly checks only the last event has finishReason STOP and
// candidatesTokenCount.
func finalOnly(t *testing.T, evs []generateResponse) {
	t.Helper()
	for i, ev := range evs {
		last := i == len(evs)-1
		c := ev.Candidates[0]
		if (c.FinishReason == "STOP") != last || (ev.UsageMetadata.CandidatesTokenCount > 0) != last || (c.GroundingMetadata != nil && !last) {
			t.Errorf("event %d of %d: %+v", i, len(evs), ev)
		}
	}
}

func newOK(t *testing.T) *Server {
	t.Helper()
	s := newServer(t)
	s.SetKey("k", OK)
	return s
}

func TestFunctionCall(t *testing.T) {
	s := newOK(t)
	cases := []struct{ name, model, tools, fn, args, sig string }{
		{"json schema, first string property", "gemini-2.5-flash", weatherTool, "get_weather", `{"city":"Paris"}`, ""},
		{"openapi schema", "gemini-2.5-flash", `{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{"n":{"type":"NUMBER"},"where":{"type":"STRING"}}}}]}`, "f", `{"where":"Paris"}`, ""},
		{"no parameters", "gemini-2.5-flash", `{"functionDeclarations":[{"name":"now"}]}`, "now", `{}`, ""},
		{"no string parameter", "gemini-2.5-flash", `{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{"n":{"type":"NUMBER"}}}}]}`, "f", `{}`, ""},
		{"after a search tool", "gemini-2.5-flash", `{"googleSearch":{}},` + weatherTool, "get_weather", `{"city":"Paris"}`, ""},
		{"gemini 3 signs its calls", "gemini-3-pro-preview", weatherTool, "get_weather", `{"city":"Paris"}`, ThoughtSignature},
		{"gemini 3 flash too", "gemini-3-flash-preview", weatherTool, "get_weather", `{"city":"Paris"}`, ThoughtSignature},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := genBody([]string{userHi}, `"tools":[`+c.tools+`]`)
			status, b, r := generate(t, s, c.model, body)
			if status != 200 {
				t.Fatalf("%d %s", status, b)
			}
			cand := r.Candidates[0]
			if len(cand.Content.Parts) != 1 || cand.FinishReason != "STOP" {
				t.Fatalf("%s", b)
			}
			p := cand.Content.Parts[0]
			if p.FunctionCall == nil || p.FunctionCall.Name != c.fn || string(compact(t, p.FunctionCall.Args)) != c.args || p.Text != "" || p.ThoughtSignature != c.sig {
				t.Errorf("part %s", b)
			}
			if c.sig != "" {
				if raw, err := base64.StdEncoding.DecodeString(p.ThoughtSignature); err != nil || string(raw) != "sig-1" {
					t.Errorf("signature %q: %q %v", p.ThoughtSignature, raw, err)
				}
				if !bytes.Contains(b, []byte("},\n            \"thoughtSignature\": \"c2lnLTE=\"\n")) {
					t.Errorf("thoughtSignature is not a sibling of functionCall:\n%s", b)
				}
			}

			// A stream sends the whole call in one event, then the end.
			evs := streams(t, s, c.model, body)
			if len(evs) != 2 {
				t.Fatalf("%d events", len(evs))
			}
			finalOnly(t, evs)
			if got := evs[0].Candidates[0].Content.Parts; len(got) != 1 || !sameJSON(got[0], p) {
				t.Errorf("stream call %+v, want %+v", got, p)
			}
			if len(evs[1].Candidates[0].Content.Parts) != 0 {
				t.Errorf("final event has parts: %+v", evs[1])
			}
		})
	}
}

func compact(t *testing.T, raw json.RawMessage) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return b.Bytes()
}

func TestFunctionResult(t *testing.T) {
	s := newOK(t)
	call := `{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"c2lnLTE="}]}`
	result := `{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"temp": 21, "sky": "clear"}}}]}`
	body := genBody([]string{userHi, call, result}, `"tools":[`+weatherTool+`]`)
	want := FunctionResultPrefix + `{"temp":21,"sky":"clear"}`
	for _, model := range []string{"gemini-2.5-flash", "gemini-3-pro-preview"} {
		status, b, r := generate(t, s, model, body)
		if status != 200 || len(r.Candidates[0].Content.Parts) != 1 || r.Candidates[0].Content.Parts[0].Text != want {
			t.Errorf("%s: %d %s", model, status, b)
		}
		var text strings.Builder
		evs := streams(t, s, model, body)
		finalOnly(t, evs)
		for _, ev := range evs {
			text.WriteString(ev.Candidates[0].Content.Parts[0].Text)
		}
		if text.String() != want || len(evs) != 3 {
			t.Errorf("%s stream: %d events, %q", model, len(evs), text.String())
		}
	}
	// Without tools too.
	if _, b, r := generate(t, s, "gemini-2.5-flash", genBody([]string{userHi, call, result}, "")); r.Candidates[0].Content.Parts[0].Text != want {
		t.Errorf("without tools: %s", b)
	}
}

func TestThoughtSignatureRequired(t *testing.T) {
	s := newOK(t)
	unsigned := `{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]}`
	signed := `{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"skip_thought_signature_validator"}]}`
	parallel := `{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"c2lnLTE="},{"functionCall":{"name":"get_weather","args":{"city":"Rome"}}}]}`
	result := `{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"temp":21}}}]}`
	answer := `{"role":"model","parts":[{"text":"It is 21."}]}`
	tools := `"tools":[` + weatherTool + `]`
	const msg = "Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:get_weather` , position "

	for _, c := range []struct {
		name     string
		model    string
		contents []string
		position string // "" means accepted
	}{
		{"unsigned call in the current turn", "gemini-3-pro-preview", []string{userHi, unsigned, result}, "2"},
		{"second step unsigned", "gemini-3-flash-preview", []string{userHi, signed, result, unsigned, result}, "4"},
		{"signed", "gemini-3-pro-preview", []string{userHi, signed, result}, ""},
		{"parallel calls: only the first is signed", "gemini-3-pro-preview", []string{userHi, parallel, result}, ""},
		{"unsigned call of an earlier turn", "gemini-3-pro-preview", []string{userHi, unsigned, result, answer, userHi}, ""},
		{"gemini 2.5 does not check", "gemini-2.5-flash", []string{userHi, unsigned, result}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, b, _ := generate(t, s, c.model, genBody(c.contents, tools))
			if c.position == "" {
				if status != 200 {
					t.Errorf("%d %s", status, b)
				}
				return
			}
			e := decodeJSON[rpcBody](t, b)
			if status != 400 || e.Error.Status != "INVALID_ARGUMENT" || e.Error.Message != msg+c.position+". Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details." {
				t.Errorf("%d %s", status, b)
			}
			// The array stream wraps it like every error.
			resp, b := call(t, "POST", s.URL+"/models/"+c.model+":streamGenerateContent", genBody(c.contents, tools), "x-goog-api-key", "k")
			if es := decodeJSON[[]rpcBody](t, b); resp.StatusCode != 400 || es[0].Error.Message != e.Error.Message {
				t.Errorf("array stream: %d %s", resp.StatusCode, b)
			}
			resp, b = call(t, "POST", s.URL+"/models/"+c.model+":streamGenerateContent?alt=sse", genBody(c.contents, tools), "x-goog-api-key", "k")
			if resp.StatusCode != 400 || decodeJSON[rpcBody](t, b).Error.Message != e.Error.Message {
				t.Errorf("SSE: %d %s", resp.StatusCode, b)
			}
		})
	}
}

func TestThoughts(t *testing.T) {
	s := newOK(t)
	body := genBody([]string{userHi}, `"generationConfig":{"thinkingConfig":{"includeThoughts":true,"thinkingBudget":1024}}`)
	_, b, r := generate(t, s, "gemini-2.5-pro", body)
	ps, u := r.Candidates[0].Content.Parts, r.UsageMetadata
	if len(ps) != 2 || !ps[0].Thought || ps[0].Text != ThoughtText || ps[1].Thought || ps[1].Text != ReplyText("gemini-2.5-pro") ||
		u.ThoughtsTokenCount != 5 || u.TotalTokenCount != u.PromptTokenCount+u.CandidatesTokenCount+5 {
		t.Errorf("%s", b)
	}
	if !bytes.Contains(b, []byte(`"text": "Thinking about it.",`+"\n"+`            "thought": true`)) {
		t.Errorf("thought part not in Google's shape:\n%s", b)
	}

	s.StreamEvents = 4
	evs := streams(t, s, "gemini-2.5-pro", body)
	finalOnly(t, evs)
	if len(evs) != 5 {
		t.Fatalf("%d events", len(evs))
	}
	if p := evs[0].Candidates[0].Content.Parts; len(p) != 1 || !p[0].Thought || p[0].Text != ThoughtText {
		t.Errorf("first event %+v", evs[0])
	}
	var text strings.Builder
	for i, ev := range evs {
		if i > 0 && ev.Candidates[0].Content.Parts[0].Thought {
			t.Errorf("event %d is a thought", i)
		}
		if ev.UsageMetadata.ThoughtsTokenCount != 5 {
			t.Errorf("event %d usage %+v", i, ev.UsageMetadata)
		}
		if i > 0 {
			text.WriteString(ev.Candidates[0].Content.Parts[0].Text)
		}
	}
	if text.String() != "Hello from gemini-2.5-pro #4" {
		t.Errorf("text %q", text.String())
	}

	// Without includeThoughts, none.
	_, b, r = generate(t, s, "gemini-2.5-pro", genBody([]string{userHi}, `"generationConfig":{"thinkingConfig":{"thinkingBudget":1024}}`))
	if len(r.Candidates[0].Content.Parts) != 1 || bytes.Contains(b, []byte("thought")) {
		t.Errorf("thoughts without includeThoughts: %s", b)
	}
}

func TestStructuredOutput(t *testing.T) {
	s := newOK(t)
	cases := []struct{ name, config, want string }{
		{"responseJsonSchema", `"responseMimeType":"application/json","responseJsonSchema":{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"},"score":{"type":"number"},"ok":{"type":"boolean"},"tags":{"type":"array","items":{"type":"string"}},"meta":{"type":"object"},"nick":{"type":["string","null"]}}}`,
			`{"name":"x","age":1,"score":1,"ok":true,"tags":[],"meta":{},"nick":"x"}`},
		{"responseSchema", `"responseMimeType":"application/json","responseSchema":{"type":"OBJECT","properties":{"b":{"type":"BOOLEAN"},"a":{"type":"STRING"}},"propertyOrdering":["b","a"]}`,
			`{"b":true,"a":"x"}`},
		{"no schema", `"responseMimeType":"application/json"`, `{"answer":"ok"}`},
		{"array schema", `"responseMimeType":"application/json","responseJsonSchema":{"type":"array","items":{"type":"string"}}`, `{"answer":"ok"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := genBody([]string{userHi}, `"generationConfig":{`+c.config+`}`)
			_, b, r := generate(t, s, "gemini-2.5-flash", body)
			if ps := r.Candidates[0].Content.Parts; len(ps) != 1 || ps[0].Text != c.want || !json.Valid([]byte(ps[0].Text)) {
				t.Errorf("%s", b)
			}
			var text strings.Builder
			evs := streams(t, s, "gemini-2.5-flash", body)
			finalOnly(t, evs)
			for _, ev := range evs {
				text.WriteString(ev.Candidates[0].Content.Parts[0].Text)
			}
			if text.String() != c.want {
				t.Errorf("stream text %q", text.String())
			}
		})
	}
}

func TestImageOutput(t *testing.T) {
	s := newOK(t)
	body := genBody([]string{userHi}, `"generationConfig":{"responseModalities":["Text","Image"]}`)
	_, b, r := generate(t, s, "gemini-2.5-flash-image", body)
	ps := r.Candidates[0].Content.Parts
	if len(ps) != 2 || ps[0].Text != ReplyText("gemini-2.5-flash-image") || ps[1].InlineData == nil ||
		ps[1].InlineData.MimeType != "image/png" || ps[1].InlineData.Data != TinyPNG || ps[1].Text != "" {
		t.Fatalf("%s", b)
	}
	raw, _ := base64.StdEncoding.DecodeString(ps[1].InlineData.Data)
	if _, err := png.Decode(bytes.NewReader(raw)); err != nil {
		t.Errorf("not a PNG: %v", err)
	}
	evs := streams(t, s, "gemini-2.5-flash-image", body)
	finalOnly(t, evs)
	last := evs[len(evs)-1].Candidates[0].Content.Parts
	if len(evs) != 4 || len(last) != 1 || last[0].InlineData == nil || last[0].InlineData.Data != TinyPNG {
		t.Errorf("stream: %d events, last %+v", len(evs), last)
	}
}

func TestSpeech(t *testing.T) {
	s := newOK(t)
	body := genBody([]string{userHi}, `"generationConfig":{"responseModalities":["AUDIO"],"speechConfig":{"voiceConfig":{"prebuiltVoiceConfig":{"voiceName":"Kore"}}},"thinkingConfig":{"includeThoughts":true}}`)
	_, b, r := generate(t, s, "gemini-2.5-flash-preview-tts", body)
	ps := r.Candidates[0].Content.Parts
	if len(ps) != 1 || ps[0].Text != "" || ps[0].InlineData == nil || ps[0].InlineData.MimeType != "audio/L16;codec=pcm;rate=24000" || r.Candidates[0].FinishReason != "STOP" {
		t.Fatalf("%s", b[:min(len(b), 600)])
	}
	pcm, err := base64.StdEncoding.DecodeString(ps[0].InlineData.Data)
	if err != nil || len(pcm) != 4800 || !bytes.Equal(pcm, SpeechPCM()) {
		t.Fatalf("PCM: %d bytes, %v", len(pcm), err)
	}
	// 0.1 s of 440 Hz: 44 periods, 88 sign changes give or take one.
	crossings, peak := 0, 0
	prev := int16(0)
	for i := 0; i < len(pcm); i += 2 {
		v := int16(binary.LittleEndian.Uint16(pcm[i:]))
		if i > 0 && (prev < 0) != (v < 0) {
			crossings++
		}
		prev, peak = v, max(peak, int(v))
	}
	if crossings < 86 || crossings > 89 || peak < 8000 {
		t.Errorf("not a 440 Hz tone: %d crossings, peak %d", crossings, peak)
	}

	evs := streams(t, s, "gemini-2.5-flash-preview-tts", body)
	if len(evs) != 1 || !reflect.DeepEqual(evs[0].Candidates[0].Content.Parts, ps) || evs[0].Candidates[0].FinishReason != "STOP" {
		t.Errorf("stream: %d events", len(evs))
	}
	// Without AUDIO the model answers text.
	if _, b, r := generate(t, s, "gemini-2.5-flash-preview-tts", genBody([]string{userHi}, "")); r.Candidates[0].Content.Parts[0].InlineData != nil {
		t.Errorf("no AUDIO asked: %s", b)
	}
}

func TestSearchGrounding(t *testing.T) {
	s := newOK(t)
	for _, tool := range []string{`{"googleSearch":{}}`, `{"googleSearchRetrieval":{}}`} {
		body := genBody([]string{userHi}, `"tools":[`+tool+`]`)
		_, b, r := generate(t, s, "gemini-2.5-flash", body)
		g := r.Candidates[0].GroundingMetadata
		if g == nil || len(g.GroundingChunks) != 1 || g.GroundingChunks[0].Web.URI != "https://example.com/a" ||
			g.GroundingChunks[0].Web.Title != "Example A" || !reflect.DeepEqual(g.WebSearchQueries, []string{"hi"}) ||
			r.Candidates[0].Content.Parts[0].Text != ReplyText("gemini-2.5-flash") {
			t.Errorf("%s: %s", tool, b)
		}
		evs := streams(t, s, "gemini-2.5-flash", body)
		finalOnly(t, evs)
		if !reflect.DeepEqual(evs[len(evs)-1].Candidates[0].GroundingMetadata, g) {
			t.Errorf("%s: stream lacks grounding", tool)
		}
	}
	if _, b, _ := generate(t, s, "gemini-2.5-flash", hello); bytes.Contains(b, []byte("groundingMetadata")) {
		t.Errorf("grounding without a search tool: %s", b)
	}
}

func TestPromptBlocked(t *testing.T) {
	s := newServer(t)
	s.SetKey("k", PromptBlocked)
	if PromptBlocked.Status() != 200 || PromptBlocked.String() != "PromptBlocked" {
		t.Errorf("Status %d, String %q", PromptBlocked.Status(), PromptBlocked.String())
	}
	type blocked struct {
		Candidates     []json.RawMessage
		PromptFeedback *struct {
			BlockReason   string
			SafetyRatings []safetyRating
		}
		UsageMetadata *usageMetadata
		ModelVersion  string
	}
	check := func(what string, b blocked) {
		t.Helper()
		if b.Candidates != nil || b.PromptFeedback == nil || b.PromptFeedback.BlockReason != "SAFETY" ||
			len(b.PromptFeedback.SafetyRatings) == 0 || b.UsageMetadata == nil ||
			b.UsageMetadata.PromptTokenCount == 0 || b.UsageMetadata.TotalTokenCount != b.UsageMetadata.PromptTokenCount ||
			b.ModelVersion != "gemini-2.5-flash" {
			t.Errorf("%s: %+v", what, b)
		}
		high := false
		for _, r := range b.PromptFeedback.SafetyRatings {
			if !strings.HasPrefix(r.Category, "HARM_CATEGORY_") || r.Probability == "" {
				t.Errorf("%s: rating %+v", what, r)
			}
			high = high || (r.Probability == "HIGH" && r.Blocked)
		}
		if !high {
			t.Errorf("%s: no blocking rating", what)
		}
	}
	resp, b := call(t, "POST", s.URL+"/models/gemini-2.5-flash:generateContent", hello, "x-goog-api-key", "k")
	if resp.StatusCode != 200 || bytes.Contains(b, []byte("candidates")) || !bytes.HasPrefix(b, []byte("{\n  \"promptFeedback\": {\n    \"blockReason\": \"SAFETY\",")) {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
	check("generateContent", decodeJSON[blocked](t, b))

	resp, b = call(t, "POST", s.URL+"/models/gemini-2.5-flash:streamGenerateContent?alt=sse", hello, "x-goog-api-key", "k")
	evs, err := readEvents(t, bytes.NewReader(b))
	if resp.StatusCode != 200 || err != nil || len(evs) != 1 {
		t.Fatalf("SSE: %d, %d events, %v", resp.StatusCode, len(evs), err)
	}
	check("SSE", decodeJSON[blocked](t, []byte(evs[0])))

	_, b = call(t, "POST", s.URL+"/models/gemini-2.5-flash:streamGenerateContent", hello, "x-goog-api-key", "k")
	arr := decodeJSON[[]blocked](t, b)
	if len(arr) != 1 || !bytes.HasPrefix(b, []byte("[{\n")) || !bytes.HasSuffix(b, []byte("}\n]")) {
		t.Fatalf("array: %s", b)
	}
	check("array", arr[0])

	// Other routes answer like OK.
	if resp, b := call(t, "POST", s.URL+"/models/gemini-2.5-flash:countTokens", hello, "x-goog-api-key", "k"); resp.StatusCode != 200 || !bytes.Contains(b, []byte("totalTokens")) {
		t.Errorf("countTokens: %d %s", resp.StatusCode, b)
	}
}

func TestCachedContentUsage(t *testing.T) {
	s := newOK(t)
	body := genBody([]string{userHi}, `"cachedContent":"cachedContents/abc123"`)
	_, b, r := generate(t, s, "gemini-2.5-flash", body)
	if u := r.UsageMetadata; u.CachedContentTokenCount != 2 || u.TotalTokenCount != u.PromptTokenCount+u.CandidatesTokenCount {
		t.Errorf("%s", b)
	}
	for i, ev := range streams(t, s, "gemini-2.5-flash", body) {
		if ev.UsageMetadata.CachedContentTokenCount != 2 {
			t.Errorf("event %d: %+v", i, ev.UsageMetadata)
		}
	}
	if _, b, _ := generate(t, s, "gemini-2.5-flash", hello); bytes.Contains(b, []byte("cachedContentTokenCount")) {
		t.Errorf("cached count without cachedContent: %s", b)
	}
}

func TestEmptyAnswerStream(t *testing.T) {
	s := newServer(t)
	s.SetKey("k", EmptyAnswer)
	s.StreamEvents = 3
	evs := streams(t, s, "gemini-2.5-flash", genBody([]string{userHi}, `"generationConfig":{"thinkingConfig":{"includeThoughts":true}}`))
	if len(evs) != 3 {
		t.Fatalf("%d events", len(evs))
	}
	for i, ev := range evs {
		c := ev.Candidates[0]
		if len(c.Content.Parts) != 0 || c.Content.Role != "model" || (c.FinishReason == "STOP") != (i == 2) || ev.UsageMetadata.CandidatesTokenCount != 0 {
			t.Errorf("event %d: %+v", i, ev)
		}
	}
}

func TestCutStreamWithFeatures(t *testing.T) {
	s := newServer(t)
	s.SetKey("cut", CutStream)
	body := genBody([]string{userHi}, `"tools":[`+weatherTool+`],"generationConfig":{"thinkingConfig":{"includeThoughts":true}}`)
	req, _ := http.NewRequest("POST", s.URL+"/models/gemini-2.5-flash:streamGenerateContent?alt=sse", strings.NewReader(body))
	req.Header.Set("x-goog-api-key", "cut")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	evs, err := readEvents(t, resp.Body)
	if len(evs) != 2 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("%d events, err %v; want 2 and unexpected EOF", len(evs), err)
	}
	for _, ev := range evs {
		if r := decodeJSON[generateResponse](t, []byte(ev)); r.Candidates[0].FinishReason != "" {
			t.Errorf("cut stream sent a final event: %s", ev)
		}
	}
}

func TestPredictPrompt(t *testing.T) {
	s := newOK(t)
	body := `{"instances":[{"prompt":"a cat"}],"parameters":{"sampleCount":1,"aspectRatio":"16:9"}}`
	for _, model := range []string{"imagen-3.0-generate-002", "imagen-4.0-generate-001"} {
		resp, b := call(t, "POST", s.URL+"/models/"+model+":predict", body, "x-goog-api-key", "k")
		if resp.StatusCode != 200 || !bytes.Contains(b, []byte(TinyPNG)) {
			t.Errorf("%s: %d %s", model, resp.StatusCode, b)
		}
	}
	reqs := s.Requests()
	got := decodeJSON[struct {
		Parameters struct{ AspectRatio string }
	}](t, reqs[len(reqs)-1].Body)
	if got.Parameters.AspectRatio != "16:9" {
		t.Errorf("aspectRatio not recorded: %s", reqs[len(reqs)-1].Body)
	}
	for _, bad := range []string{`{"instances":[{}]}`, `{"instances":[{"prompt":""}]}`, `{"instances":["a cat"]}`, `{"instances":[{"image":{}}],"parameters":{"aspectRatio":"1:1"}}`} {
		resp, b := call(t, "POST", s.URL+"/models/imagen-3.0-generate-002:predict", bad, "x-goog-api-key", "k")
		if e := decodeJSON[rpcBody](t, b); resp.StatusCode != 400 || e.Error.Status != "INVALID_ARGUMENT" || e.Error.Code != 400 {
			t.Errorf("%s: %d %s", bad, resp.StatusCode, b)
		}
	}
}

func TestOpenAIEchoProbe(t *testing.T) {
	s := newOK(t)
	url := s.URL + "/openai/chat/completions"
	probe := `{"nested":{"a":[1,"two",null]},"flag":true}`
	_, b := call(t, "POST", url, `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}],"extra_body_probe":`+probe+`}`, "Authorization", "Bearer k")
	var r map[string]json.RawMessage
	if err := json.Unmarshal(b, &r); err != nil || string(r[EchoField]) != probe {
		t.Errorf("echo %s (%v)", b, err)
	}
	_, b = call(t, "POST", url, `{"model":"gemini-2.5-flash","stream":true,"messages":[{"role":"user","content":"hi"}],"extra_body_probe":"p"}`, "Authorization", "Bearer k")
	frames := strings.Split(strings.TrimSuffix(string(b), "\n\n"), "\n\n")
	if len(frames) < 2 || frames[len(frames)-1] != "data: [DONE]" {
		t.Fatalf("stream %q", b)
	}
	for _, f := range frames[:len(frames)-1] {
		var ch map[string]json.RawMessage
		if err := json.Unmarshal([]byte(strings.TrimPrefix(f, "data: ")), &ch); err != nil || string(ch[EchoField]) != `"p"` {
			t.Errorf("chunk %s (%v)", f, err)
		}
	}
	if _, b := call(t, "POST", url, `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}`, "Authorization", "Bearer k"); bytes.Contains(b, []byte(EchoField)) {
		t.Errorf("echo without probe: %s", b)
	}
}

func TestUnlistedModels(t *testing.T) {
	s := newOK(t)
	listed := map[string]bool{}
	for _, m := range Models() {
		listed[m.Name] = true
	}
	for _, m := range UnlistedModels() {
		if listed[m.Name] {
			t.Errorf("%s is listed", m.Name)
		}
		resp, b := call(t, "GET", s.URL+"/"+m.Name, "", "x-goog-api-key", "k")
		if got := decodeJSON[Model](t, b); resp.StatusCode != 200 || got.Name != m.Name {
			t.Errorf("%s: %d %s", m.Name, resp.StatusCode, b)
		}
	}
	if resp, b := call(t, "POST", s.URL+"/models/imagen-4.0-generate-001:generateContent", hello, "x-goog-api-key", "k"); resp.StatusCode != 404 {
		t.Errorf("imagen-4 generateContent: %d %s", resp.StatusCode, b)
	}
	if resp, b := call(t, "POST", s.URL+"/openai/chat/completions", `{"model":"gemini-3-pro-preview","messages":[{"role":"user","content":"hi"}]}`, "Authorization", "Bearer k"); resp.StatusCode != 200 {
		t.Errorf("openai chat with gemini-3: %d %s", resp.StatusCode, b)
	}
}
