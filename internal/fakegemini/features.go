package fakegemini

// What a generation (generateContent, streamGenerateContent) answers,
// depending on the request. In order of precedence:
//
//   - Speech: a model whose name contains "tts" asked for
//     responseModalities AUDIO answers one inlineData part of SpeechMimeType
//     holding SpeechPCM, and nothing else.
//   - Function result: when the last contents turn holds functionResponse
//     parts, the text FunctionResultPrefix + the compact JSON of the first
//     functionResponse.response.
//   - Function call: when tools declare functions, a functionCall part
//     {"name": <first declared function>, "args": {<first string property of
//     its parametersJsonSchema or parameters>: "Paris"}} (args {} when the
//     schema has no string property), with thoughtSignature ThoughtSignature
//     for gemini-3 models. A stream sends the call as one event, then a final
//     event without parts.
//   - Structured output: responseMimeType application/json answers JSON text:
//     an object with each property of responseJsonSchema (or responseSchema)
//     set to a value of its type ("x", 1, true, [], {}), else
//     {"answer":"ok"}.
//   - Otherwise ReplyText(model).
//
// And on top of that:
//
//   - Thoughts: thinkingConfig.includeThoughts adds a first part
//     {"text": ThoughtText, "thought": true} (in a stream, its own first
//     event) and usageMetadata.thoughtsTokenCount ThoughtsTokenCount.
//   - Images: responseModalities IMAGE adds an inlineData image/png part
//     holding TinyPNG after the text (in a stream, its own last event).
//   - Grounding: a googleSearch (or googleSearchRetrieval) tool adds
//     groundingMetadata with one web chunk (GroundingURI, GroundingTitle) and
//     webSearchQueries ["hi"] to the final candidate.
//   - Cache: a cachedContent adds usageMetadata.cachedContentTokenCount
//     CachedTokenCount.
//
// For gemini-3 models, a request whose current turn (the contents after the
// last user content that is not only functionResponse parts) holds a model
// content whose first functionCall part has no thoughtSignature answers 400
// INVALID_ARGUMENT "Function call is missing a thought_signature in
// functionCall parts. ...", as Google does. Any non-empty signature passes,
// like Google's documented dummy "skip_thought_signature_validator".
//
// Requests are read in camelCase, the spelling Google's own clients send.

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"math"
	"strings"
	"unicode/utf8"
)

const (
	// ThoughtText is the text of the thought part.
	ThoughtText = "Thinking about it."
	// ThoughtsTokenCount is usageMetadata.thoughtsTokenCount when thoughts
	// are included.
	ThoughtsTokenCount = 5
	// ThoughtSignature is the thoughtSignature (base64 of "sig-1") on the
	// functionCall parts gemini-3 models answer with.
	ThoughtSignature = "c2lnLTE="
	// FunctionArgValue is the value given to the first string parameter of a
	// function call.
	FunctionArgValue = "Paris"
	// FunctionResultPrefix starts the text answering a functionResponse.
	FunctionResultPrefix = "Result received: "
	// CachedTokenCount is usageMetadata.cachedContentTokenCount when the
	// request names a cachedContent.
	CachedTokenCount = 2
	// SpeechMimeType is the mimeType of the speech part.
	SpeechMimeType = "audio/L16;codec=pcm;rate=24000"
	// GroundingURI and GroundingTitle are the web grounding chunk.
	GroundingURI   = "https://example.com/a"
	GroundingTitle = "Example A"
	// GroundingQuery is the only webSearchQueries entry.
	GroundingQuery = "hi"

	// EchoProbeField and EchoField serve tests only, on the OpenAI-compatible
	// chat endpoint: when a request carries EchoProbeField, each answer (every
	// chunk of a stream) carries EchoField with the same JSON value, so that
	// a test can prove an unknown field reached the upstream untouched. Google
	// does nothing of the kind.
	EchoProbeField = "extra_body_probe"
	EchoField      = "echo_unknown"
)

// speechPCM is 0.1 s of a 440 Hz sine at 24 kHz, s16le mono: 4800 bytes.
var speechPCM = func() []byte {
	const rate, samples = 24000, 2400
	b := make([]byte, 2*samples)
	for i := range samples {
		v := int16(math.Round(0.3 * math.MaxInt16 * math.Sin(2*math.Pi*440*float64(i)/rate)))
		binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
	}
	return b
}()

// SpeechPCM returns the audio of speech answers: 0.1 s of a 440 Hz sine,
// 16-bit little-endian mono PCM at 24 kHz (4800 bytes). The answer carries it
// base64-encoded.
func SpeechPCM() []byte { return append([]byte(nil), speechPCM...) }

var speechData = base64.StdEncoding.EncodeToString(speechPCM)

// Request decoding.

// genRequest is what shapes the answer to a GenerateContentRequest. It is
// decoded leniently, after generation() checked the body is valid JSON.
type genRequest struct {
	Contents         []reqContent `json:"contents"`
	Tools            []reqTool    `json:"tools"`
	GenerationConfig struct {
		ResponseMimeType   string          `json:"responseMimeType"`
		ResponseSchema     json.RawMessage `json:"responseSchema"`
		ResponseJSONSchema json.RawMessage `json:"responseJsonSchema"`
		ResponseModalities []string        `json:"responseModalities"`
		ThinkingConfig     struct {
			IncludeThoughts bool `json:"includeThoughts"`
		} `json:"thinkingConfig"`
	} `json:"generationConfig"`
	CachedContent string `json:"cachedContent"`
}

type reqContent struct {
	Role  string    `json:"role"`
	Parts []reqPart `json:"parts"`
}

type reqPart struct {
	FunctionCall *struct {
		Name string `json:"name"`
	} `json:"functionCall"`
	FunctionResponse *struct {
		Name     string          `json:"name"`
		Response json.RawMessage `json:"response"`
	} `json:"functionResponse"`
	ThoughtSignature string `json:"thoughtSignature"`
}

type reqTool struct {
	FunctionDeclarations  []funcDecl      `json:"functionDeclarations"`
	GoogleSearch          json.RawMessage `json:"googleSearch"`
	GoogleSearchRetrieval json.RawMessage `json:"googleSearchRetrieval"`
}

type funcDecl struct {
	Name                 string          `json:"name"`
	Parameters           json.RawMessage `json:"parameters"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema"`
}

// parseGenRequest decodes what it can: a field of an unexpected type is left
// empty rather than failing the request.
func parseGenRequest(body []byte) *genRequest {
	var r genRequest
	_ = json.Unmarshal(body, &r)
	return &r
}

func present(raw json.RawMessage) bool {
	return len(raw) > 0 && !bytes.Equal(bytes.TrimSpace(raw), []byte("null"))
}

func hasModality(list []string, m string) bool {
	for _, v := range list {
		if strings.EqualFold(v, m) {
			return true
		}
	}
	return false
}

// missingSignature finds, in the current turn, the first model content whose
// first functionCall part has no thoughtSignature: the function's name and
// the content's 1-based position in contents. The current turn starts at the
// last user content holding something other than functionResponse parts;
// Google validates only that turn, and for parallel calls only the first
// call of a step carries a signature.
func missingSignature(contents []reqContent) (name string, position int, missing bool) {
	start := -1
	for i := len(contents) - 1; i >= 0 && start < 0; i-- {
		if contents[i].Role == "model" {
			continue
		}
		for _, p := range contents[i].Parts {
			if p.FunctionResponse == nil {
				start = i
				break
			}
		}
	}
	for i := start + 1; i < len(contents); i++ {
		if contents[i].Role != "model" {
			continue
		}
		for _, p := range contents[i].Parts {
			if p.FunctionCall == nil {
				continue
			}
			if p.ThoughtSignature == "" {
				return p.FunctionCall.Name, i + 1, true
			}
			break
		}
	}
	return "", 0, false
}

// Schemas.

// schemaProp is a property of an object schema: its name and lower-case type.
type schemaProp struct{ name, typ string }

// schemaProperties lists the properties of an object schema (JSON Schema or
// Google's OpenAPI subset, whose types are upper-case) in the order they
// were sent.
func schemaProperties(schema json.RawMessage) []schemaProp {
	var top struct {
		Properties json.RawMessage `json:"properties"`
	}
	if json.Unmarshal(schema, &top) != nil || !present(top.Properties) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(top.Properties))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	var props []schemaProp
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return props
		}
		name, _ := t.(string)
		var v struct {
			Type json.RawMessage `json:"type"`
		}
		if dec.Decode(&v) != nil {
			return props
		}
		props = append(props, schemaProp{name, schemaType(v.Type)})
	}
	return props
}

// schemaType is "string", "integer"... from "STRING", "string" or
// ["string", "null"].
func schemaType(raw json.RawMessage) string {
	var one string
	if json.Unmarshal(raw, &one) == nil {
		return strings.ToLower(one)
	}
	var many []string
	if json.Unmarshal(raw, &many) == nil {
		for _, t := range many {
			if !strings.EqualFold(t, "null") {
				return strings.ToLower(t)
			}
		}
	}
	return ""
}

// jsonObject writes a JSON object with keys in the given order.
func jsonObject(keys []string, values []string) json.RawMessage {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(marshal(k))
		b.WriteByte(':')
		b.WriteString(values[i])
	}
	b.WriteByte('}')
	return b.Bytes()
}

// callArgs are the args of a call to a function declared with schema.
func callArgs(schema json.RawMessage) json.RawMessage {
	for _, p := range schemaProperties(schema) {
		if p.typ == "string" {
			return jsonObject([]string{p.name}, []string{string(marshal(FunctionArgValue))})
		}
	}
	return json.RawMessage("{}")
}

// structuredText is the JSON text answering a request for application/json.
func structuredText(schema json.RawMessage) string {
	props := schemaProperties(schema)
	if len(props) == 0 {
		return `{"answer":"ok"}`
	}
	keys, values := make([]string, len(props)), make([]string, len(props))
	for i, p := range props {
		keys[i] = p.name
		switch p.typ {
		case "string":
			values[i] = `"x"`
		case "number", "integer":
			values[i] = "1"
		case "boolean":
			values[i] = "true"
		case "array":
			values[i] = "[]"
		case "object":
			values[i] = "{}"
		default:
			values[i] = "null"
		}
	}
	return string(jsonObject(keys, values))
}

// Answers.

type answerKind int

const (
	textAnswer answerKind = iota
	callAnswer
	speechAnswer
	emptyAnswer
)

// answer is what a generation answers, before it is split into events.
type answer struct {
	kind      answerKind
	text      string // textAnswer
	plain     bool   // text is ReplyText: streams split it as they always did
	call      part   // callAnswer
	thought   bool
	image     bool
	grounding bool
	cached    bool
}

func (x *exchange) answerFor(model string, r *genRequest) *answer {
	cfg := r.GenerationConfig
	a := &answer{
		thought: cfg.ThinkingConfig.IncludeThoughts,
		cached:  r.CachedContent != "",
	}
	var decl *funcDecl
	for i := range r.Tools {
		t := &r.Tools[i]
		if present(t.GoogleSearch) || present(t.GoogleSearchRetrieval) {
			a.grounding = true
		}
		if decl == nil && len(t.FunctionDeclarations) > 0 {
			decl = &t.FunctionDeclarations[0]
		}
	}
	var result json.RawMessage
	if n := len(r.Contents); n > 0 {
		for _, p := range r.Contents[n-1].Parts {
			if p.FunctionResponse != nil {
				result = p.FunctionResponse.Response
				if !present(result) {
					result = json.RawMessage("null")
				}
				break
			}
		}
	}
	switch {
	case x.behavior == EmptyAnswer:
		*a = answer{kind: emptyAnswer, cached: a.cached}
	case strings.Contains(model, "tts") && hasModality(cfg.ResponseModalities, "AUDIO"):
		*a = answer{kind: speechAnswer, grounding: a.grounding, cached: a.cached}
	case result != nil:
		var b bytes.Buffer
		if json.Compact(&b, result) != nil {
			b.Reset()
			b.Write(result)
		}
		a.text = FunctionResultPrefix + b.String()
	case decl != nil:
		schema := decl.ParametersJSONSchema
		if !present(schema) {
			schema = decl.Parameters
		}
		a.kind = callAnswer
		a.call = part{FunctionCall: &functionCall{Name: decl.Name, Args: callArgs(schema)}}
		if strings.HasPrefix(model, "gemini-3") {
			a.call.ThoughtSignature = ThoughtSignature
		}
	case strings.HasPrefix(strings.ToLower(strings.TrimSpace(cfg.ResponseMimeType)), "application/json"):
		schema := cfg.ResponseJSONSchema
		if !present(schema) {
			schema = cfg.ResponseSchema
		}
		a.text = structuredText(schema)
	default:
		a.text, a.plain = ReplyText(model), true
	}
	if a.kind == textAnswer && hasModality(cfg.ResponseModalities, "IMAGE") {
		a.image = true
	}
	return a
}

var (
	thoughtPart = part{Text: ThoughtText, Thought: true}
	imagePart   = part{InlineData: &blob{MimeType: "image/png", Data: TinyPNG}}
	speechPart  = part{InlineData: &blob{MimeType: SpeechMimeType, Data: speechData}}
)

// parts are the parts of the whole answer.
func (a *answer) parts() []part {
	var ps []part
	if a.thought {
		ps = append(ps, thoughtPart)
	}
	switch a.kind {
	case textAnswer:
		ps = append(ps, part{Text: a.text})
		if a.image {
			ps = append(ps, imagePart)
		}
	case callAnswer:
		ps = append(ps, a.call)
	case speechAnswer:
		ps = append(ps, speechPart)
	}
	return ps
}

// streamParts are the parts of each event of a stream whose text is split in
// up to n pieces.
func (a *answer) streamParts(model string, n int) [][]part {
	var evs [][]part
	if a.thought {
		evs = append(evs, []part{thoughtPart})
	}
	switch a.kind {
	case textAnswer:
		pieces := splitText(a.text, n)
		if a.plain {
			pieces = streamPieces(model, n)
		}
		for _, p := range pieces {
			evs = append(evs, []part{{Text: p}})
		}
		if a.image {
			evs = append(evs, []part{imagePart})
		}
	case callAnswer:
		evs = append(evs, []part{a.call}, nil)
	case speechAnswer:
		evs = append(evs, []part{speechPart})
	case emptyAnswer:
		for range n {
			evs = append(evs, nil)
		}
	}
	return evs
}

// splitText cuts s into at most n pieces of about the same length.
func splitText(s string, n int) []string {
	runes := utf8.RuneCountInString(s)
	n = min(n, runes)
	if n <= 1 {
		return []string{s}
	}
	size := (runes + n - 1) / n
	var out []string
	r := []rune(s)
	for i := 0; i < len(r); i += size {
		out = append(out, string(r[i:min(i+size, len(r))]))
	}
	return out
}

// outputTokens is candidatesTokenCount: the whole answer but its thoughts.
func (a *answer) outputTokens() int {
	var out []byte
	for _, p := range a.parts() {
		switch {
		case p.Thought:
		case p.FunctionCall == nil && p.InlineData == nil:
			out = append(out, p.Text...)
		default:
			out = append(out, marshal(p)...)
		}
	}
	if len(out) == 0 {
		return 0
	}
	return tokens(out)
}

// response is one GenerateContentResponse of the answer holding parts; the
// final one has finishReason STOP, candidatesTokenCount and any grounding.
func (a *answer) response(model, id string, prompt int, parts []part, final bool) generateResponse {
	c := candidate{Content: &content{Parts: parts, Role: "model"}}
	u := usageMetadata{PromptTokenCount: prompt, TotalTokenCount: prompt,
		PromptTokensDetails: []tokenDetail{{Modality: "TEXT", TokenCount: prompt}}}
	if a.cached {
		u.CachedContentTokenCount = CachedTokenCount
	}
	if a.thought {
		u.ThoughtsTokenCount = ThoughtsTokenCount
		u.TotalTokenCount += ThoughtsTokenCount
	}
	if final {
		c.FinishReason = "STOP"
		u.CandidatesTokenCount = a.outputTokens()
		u.TotalTokenCount += u.CandidatesTokenCount
		if a.grounding {
			c.GroundingMetadata = &groundingMetadata{
				GroundingChunks:  []groundingChunk{{Web: &webChunk{URI: GroundingURI, Title: GroundingTitle}}},
				WebSearchQueries: []string{GroundingQuery},
			}
		}
	}
	return generateResponse{Candidates: []candidate{c}, UsageMetadata: &u, ModelVersion: model, ResponseID: id}
}

// Prompt blocked by safety filters.

// blockedResponse is Google's answer to a prompt its safety filters block.
func blockedResponse(model, id string, prompt int) generateResponse {
	return generateResponse{
		PromptFeedback: &promptFeedback{BlockReason: "SAFETY", SafetyRatings: []safetyRating{
			{Category: "HARM_CATEGORY_SEXUALLY_EXPLICIT", Probability: "NEGLIGIBLE"},
			{Category: "HARM_CATEGORY_HATE_SPEECH", Probability: "HIGH", Blocked: true},
			{Category: "HARM_CATEGORY_HARASSMENT", Probability: "NEGLIGIBLE"},
			{Category: "HARM_CATEGORY_DANGEROUS_CONTENT", Probability: "NEGLIGIBLE"},
		}},
		UsageMetadata: &usageMetadata{PromptTokenCount: prompt, TotalTokenCount: prompt,
			PromptTokensDetails: []tokenDetail{{Modality: "TEXT", TokenCount: prompt}}},
		ModelVersion: model,
		ResponseID:   id,
	}
}

// echoProbe is the value of EchoProbeField in an OpenAI-compatible request.
func echoProbe(body []byte) (json.RawMessage, bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return nil, false
	}
	v, ok := fields[EchoProbeField]
	return v, ok
}
