package anthropic

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/gemini-balance/gemini_balance/internal/nodetest"

	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
)

// block is a content block as sdk.mjs reports it.
type block struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Thinking  string          `json:"thinking"`
	Signature string          `json:"signature"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
}

type turn struct {
	StopReason string  `json:"stop_reason"`
	Content    []block `json:"content"`
	Usage      struct {
		InputTokens  int `json:"input_tokens"`
		OutputTokens int `json:"output_tokens"`
	} `json:"usage"`
}

// text is the text of a turn's text blocks.
func (t turn) text() string {
	var b strings.Builder
	for _, c := range t.Content {
		if c.Type == "text" {
			b.WriteString(c.Text)
		}
	}
	return b.String()
}

// toolUse is the turn's only tool_use block, nil when it has none or more.
func (t turn) toolUse() *block {
	var found *block
	for i := range t.Content {
		if t.Content[i].Type == "tool_use" {
			if found != nil {
				return nil
			}
			found = &t.Content[i]
		}
	}
	return found
}

// sameJSON reports whether a and b are the same JSON value.
func sameJSON(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

// findGen is the first generation whose body contains all of subs.
func findGen(gens []upstreamGen, subs ...string) *upstreamGen {
	for i := range gens {
		ok := true
		for _, s := range subs {
			ok = ok && strings.Contains(gens[i].Body, s)
		}
		if ok {
			return &gens[i]
		}
	}
	return nil
}

// The official Anthropic SDK, set up as its users set it up (apiKey and
// baseURL the proxy's root), against the proxy: plain and streamed
// messages, a tool loop, a streamed tool call, thinking with its signature
// sent back, an image, countTokens and the errors the SDK maps to its
// classes. Checked on both ends: what the SDK returned or raised, and what
// the upstream received.
func TestAnthropicSDK(t *testing.T) {
	node := nodetest.Need(t, "e2e/anthropic")
	s := startServer(t)
	r := runScript(t, node, "sdk.mjs", "GB_IMAGE="+fakegemini.TinyPNG)
	flash := fakegemini.ReplyText("gemini-2.5-flash")
	answer := fakegemini.FunctionResultPrefix + `{"result":"sunny"}`

	// SDK 1.16 sends its apiKey as "Authorization: Bearer" (older ones and
	// Claude Code send x-api-key): the proxy takes either.
	for _, c := range r.Calls {
		for _, sn := range c.Sent {
			if !strings.HasPrefix(sn.Path, "/v1/messages") || sn.Auth == "none" || sn.Headers["anthropic-version"] == "" {
				t.Errorf("%s sent %s %s with auth %s headers %v", c.Name, sn.Method, sn.Path, sn.Auth, sn.Headers)
			}
		}
	}

	var plain struct {
		turn
		Type, Role, Model, ID string
	}
	if r.Call(t, "messages.create").Decode(t, &plain) {
		if plain.Type != "message" || plain.Role != "assistant" || plain.Model != "claude-sonnet-4-5" || !strings.HasPrefix(plain.ID, "msg_") ||
			plain.StopReason != "end_turn" || len(plain.Content) != 1 || plain.text() != flash || plain.Usage.InputTokens == 0 || plain.Usage.OutputTokens == 0 {
			t.Errorf("messages.create: %+v", plain)
		}
	}

	var streamed struct {
		turn
		Events []string
		Deltas string
		Text   string
	}
	if r.Call(t, "messages.stream").Decode(t, &streamed) {
		ev := strings.Join(streamed.Events, ",")
		// ping events may come while waiting; the SDK passes them on.
		ev = strings.ReplaceAll(strings.ReplaceAll(ev, "ping,", ""), ",ping", "")
		if !strings.HasPrefix(ev, "message_start,content_block_start,content_block_delta") ||
			!strings.HasSuffix(ev, "content_block_delta,content_block_stop,message_delta,message_stop") {
			t.Errorf("stream events %s", strings.Join(streamed.Events, ","))
		}
		if streamed.Text != flash || streamed.Deltas != flash || streamed.StopReason != "end_turn" || streamed.Usage.OutputTokens == 0 {
			t.Errorf("stream: %+v", streamed)
		}
	}

	gens := generations(t, s.up)

	var loop struct{ First, Second turn }
	if r.Call(t, "tool loop").Decode(t, &loop) {
		use := loop.First.toolUse()
		if loop.First.StopReason != "tool_use" || use == nil || use.Name != "get_weather" || !sameJSON(string(use.Input), `{"city":"Paris"}`) || !strings.HasPrefix(use.ID, "toolu_") {
			t.Errorf("tool loop, first turn: %+v", loop.First)
		}
		if loop.Second.StopReason != "end_turn" || loop.Second.text() != answer {
			t.Errorf("tool loop, answer: %+v", loop.Second)
		}
		// The second request: the assistant's tool_use as a functionCall,
		// the tool_result as the functionResponse of the same call.
		g := findGen(gens, `"functionResponse"`, `"get_weather"`, `sunny`)
		if g == nil {
			t.Fatalf("no upstream request with the tool result")
		}
		checkCallAndResponse(t, g, "gemini-2.5-flash", `{"result":"sunny"}`)
		if d := g.Req.Tools; len(d) != 1 || len(d[0].FunctionDeclarations) != 1 || d[0].FunctionDeclarations[0].Name != "get_weather" {
			t.Errorf("tools sent upstream: %s", g.Body)
		}
	}

	var toolStream struct {
		turn
		Events  []string
		Partial []string
	}
	if r.Call(t, "streamed tool call").Decode(t, &toolStream) {
		use := toolStream.toolUse()
		ev := strings.Join(toolStream.Events, ",")
		if !strings.Contains(ev, "content_block_start,input_json_delta") || !strings.HasSuffix(ev, "content_block_stop,message_delta,message_stop") {
			t.Errorf("streamed tool call events %s", ev)
		}
		if toolStream.StopReason != "tool_use" || use == nil || use.Name != "get_weather" || !sameJSON(string(use.Input), `{"city":"Paris"}`) ||
			!sameJSON(strings.Join(toolStream.Partial, ""), `{"city":"Paris"}`) {
			t.Errorf("streamed tool call: %+v partial %q", toolStream.turn, toolStream.Partial)
		}
	}

	var think struct{ First, Second turn }
	if r.Call(t, "thinking with signature").Decode(t, &think) {
		var thought, signed bool
		for _, b := range think.First.Content {
			thought = thought || b.Type == "thinking" && b.Thinking == fakegemini.ThoughtText
			signed = signed || b.Type == "thinking" && strings.Contains(b.Signature, fakegemini.ThoughtSignature)
		}
		if think.First.StopReason != "tool_use" || !thought || !signed || think.First.toolUse() == nil {
			t.Errorf("thinking, first turn: %+v", think.First)
		}
		if think.Second.text() != answer {
			t.Errorf("thinking, answer: %+v", think.Second)
		}
		first := findGen(gens, `"get_weather"`, `"includeThoughts":true`)
		if first == nil || !strings.HasSuffix(first.Path, "/models/"+opusModel+":generateContent") {
			t.Fatalf("thinking went upstream as %+v", first)
		}
		if tc := first.Req.GenerationConfig.ThinkingConfig; tc == nil || !tc.IncludeThoughts || tc.ThinkingLevel == "" && tc.ThinkingBudget == nil {
			t.Errorf("thinking config sent upstream: %s", first.Body)
		}
		// The signature the SDK got in the thinking block came back with the
		// functionCall it was given on (the stand-in answers 400 otherwise,
		// as Gemini 3 does).
		second := findGen(gens, `"functionResponse"`, `"includeThoughts":true`)
		if second == nil {
			t.Fatalf("no upstream request with the tool result after thinking")
		}
		call := checkCallAndResponse(t, second, opusModel, `{"result":"sunny"}`)
		if call == nil || call.ThoughtSignature != fakegemini.ThoughtSignature {
			t.Errorf("functionCall went back without the thought signature: %s", second.Body)
		}
		for _, c := range second.Req.Contents {
			for _, p := range c.Parts {
				if p.Thought || p.Text == fakegemini.ThoughtText {
					t.Errorf("the thinking block went back upstream as text: %s", second.Body)
				}
			}
		}
	}

	var img turn
	if r.Call(t, "image").Decode(t, &img) && img.text() != flash {
		t.Errorf("image: %+v", img)
	}
	if g := findGen(gens, `"inlineData"`); g == nil {
		t.Errorf("no image reached the upstream")
	} else {
		var found bool
		for _, c := range g.Req.Contents {
			for _, p := range c.Parts {
				found = found || p.InlineData != nil && p.InlineData.MimeType == "image/png" && p.InlineData.Data == fakegemini.TinyPNG
			}
		}
		if !found {
			t.Errorf("image sent upstream as %s", g.Body)
		}
	}

	var count struct {
		InputTokens int `json:"input_tokens"`
	}
	if r.Call(t, "messages.countTokens").Decode(t, &count) && count.InputTokens <= 0 {
		t.Errorf("countTokens: %+v", count)
	}
	var counted bool
	for _, u := range s.up.Requests() {
		counted = counted || u.Path == "/v1beta/models/gemini-2.5-flash-lite:countTokens"
	}
	if !counted {
		t.Errorf("countTokens of claude-haiku did not reach gemini-2.5-flash-lite:countTokens")
	}

	if e := r.Call(t, "bad token").Raised(t); e.Class != "AuthenticationError" || e.Status != 401 || e.Type != "authentication_error" {
		t.Errorf("bad token raised %+v", e)
	}
	if e := r.Call(t, "bad request").Raised(t); e.Class != "BadRequestError" || e.Status != 400 || e.Type != "invalid_request_error" {
		t.Errorf("bad request raised %+v", e)
	}

	// Every key cooling: the SDK raises RateLimitError with the proxy's
	// retry-after (the SDK would wait that long before a retry).
	before := len(s.up.Requests())
	s.up.SetDefault(fakegemini.RateLimited)
	rl := runScript(t, node, "sdk.mjs", "GB_PHASE=ratelimited")
	if e := rl.Call(t, "rate limited").Raised(t); e.Class != "RateLimitError" || e.Status != 429 || e.Type != "rate_limit_error" || e.RetryAfter == "" {
		t.Errorf("rate limited raised %+v", e)
	}
	if len(s.up.Requests()) == before {
		t.Errorf("the rate-limited call never reached the upstream")
	}
}

// checkCallAndResponse checks the request g to model holds the model's
// functionCall get_weather {"city":"Paris"} and, in the last content, the
// functionResponse of that call (same name, same id when there is one)
// with response wantResponse; it returns the functionCall's part.
func checkCallAndResponse(t *testing.T, g *upstreamGen, model, wantResponse string) *part {
	t.Helper()
	if !strings.Contains(g.Path, "/models/"+model+":") {
		t.Errorf("tool loop went to %s, want %s", g.Path, model)
	}
	n := len(g.Req.Contents)
	if n < 3 {
		t.Errorf("tool loop sent upstream %s", g.Body)
		return nil
	}
	var call *part
	for i := range g.Req.Contents[n-2].Parts {
		if p := &g.Req.Contents[n-2].Parts[i]; p.FunctionCall != nil {
			call = p
		}
	}
	var resp *part
	for i := range g.Req.Contents[n-1].Parts {
		if p := &g.Req.Contents[n-1].Parts[i]; p.FunctionResponse != nil {
			resp = p
		}
	}
	if g.Req.Contents[n-2].Role != "model" || call == nil || call.FunctionCall.Name != "get_weather" || !sameJSON(string(call.FunctionCall.Args), `{"city":"Paris"}`) {
		t.Errorf("functionCall sent upstream: %s", g.Body)
		return nil
	}
	if g.Req.Contents[n-1].Role != "user" || resp == nil || resp.FunctionResponse.Name != call.FunctionCall.Name ||
		resp.FunctionResponse.ID != call.FunctionCall.ID || !sameJSON(string(resp.FunctionResponse.Response), wantResponse) {
		t.Errorf("functionResponse sent upstream: %s", g.Body)
	}
	return call
}
