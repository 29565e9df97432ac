package fromopenai

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

// RequestError is a Gemini request this translation cannot send: the body
// is not a GenerateContentRequest, or it asks for something an
// OpenAI-compatible provider does not have. Field names the place in the
// request the way Gemini's own errors do ("contents[1].parts[0].fileData").
type RequestError struct {
	Field   string
	Message string
}

func (e *RequestError) Error() string {
	if e.Field == "" {
		return e.Message
	}
	return e.Field + ": " + e.Message
}

// Status is the HTTP status to answer with: 400.
func (e *RequestError) Status() int { return http.StatusBadRequest }

// Body is the error in Gemini's shape, for a 400 answer.
func (e *RequestError) Body() []byte { return gemini.ErrorBody(http.StatusBadRequest, e.Error()) }

func reqErr(field, format string, args ...any) *RequestError {
	return &RequestError{Field: field, Message: fmt.Sprintf(format, args...)}
}

// Gemini request wire types. The API takes proto JSON, where every field may
// also be written in snake_case (Google's own curl examples use
// "system_instruction", "inline_data"), so each field that has two spellings
// is declared twice and merged with either.
type (
	gRequest struct {
		Contents           []gContent                   `json:"contents"`
		SystemInstruction  *gContent                    `json:"systemInstruction"`
		SystemInstruction_ *gContent                    `json:"system_instruction"`
		Tools              []map[string]json.RawMessage `json:"tools"`
		ToolConfig         *gToolConfig                 `json:"toolConfig"`
		ToolConfig_        *gToolConfig                 `json:"tool_config"`
		GenerationConfig   *gGenConfig                  `json:"generationConfig"`
		GenerationConfig_  *gGenConfig                  `json:"generation_config"`
		CachedContent      string                       `json:"cachedContent"`
		CachedContent_     string                       `json:"cached_content"`
	}
	gContent struct {
		Role  string  `json:"role"`
		Parts []gPart `json:"parts"`
	}
	gPart struct {
		Text                 string           `json:"text"`
		Thought              bool             `json:"thought"`
		InlineData           *gBlob           `json:"inlineData"`
		InlineData_          *gBlob           `json:"inline_data"`
		FileData             *gFileData       `json:"fileData"`
		FileData_            *gFileData       `json:"file_data"`
		FunctionCall         *gFunctionCall   `json:"functionCall"`
		FunctionCall_        *gFunctionCall   `json:"function_call"`
		FunctionResponse     *gFunctionResult `json:"functionResponse"`
		FunctionResponse_    *gFunctionResult `json:"function_response"`
		ExecutableCode       json.RawMessage  `json:"executableCode"`
		ExecutableCode_      json.RawMessage  `json:"executable_code"`
		CodeExecutionResult  json.RawMessage  `json:"codeExecutionResult"`
		CodeExecutionResult_ json.RawMessage  `json:"code_execution_result"`
	}
	gBlob struct {
		MimeType  string `json:"mimeType"`
		MimeType_ string `json:"mime_type"`
		Data      string `json:"data"`
	}
	gFileData struct {
		FileURI  string `json:"fileUri"`
		FileURI_ string `json:"file_uri"`
	}
	gFunctionCall struct {
		ID   string          `json:"id"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	}
	gFunctionResult struct {
		ID       string          `json:"id"`
		Name     string          `json:"name"`
		Response json.RawMessage `json:"response"`
		Parts    json.RawMessage `json:"parts"`
	}
	gFunctionDecl struct {
		Name                  string          `json:"name"`
		Description           string          `json:"description"`
		Parameters            json.RawMessage `json:"parameters"`
		ParametersJSONSchema  json.RawMessage `json:"parametersJsonSchema"`
		ParametersJSONSchema_ json.RawMessage `json:"parameters_json_schema"`
	}
	gToolConfig struct {
		FunctionCallingConfig  *gFCConfig `json:"functionCallingConfig"`
		FunctionCallingConfig_ *gFCConfig `json:"function_calling_config"`
	}
	gFCConfig struct {
		Mode                  string   `json:"mode"`
		AllowedFunctionNames  []string `json:"allowedFunctionNames"`
		AllowedFunctionNames_ []string `json:"allowed_function_names"`
	}
	gGenConfig struct {
		StopSequences       []string        `json:"stopSequences"`
		StopSequences_      []string        `json:"stop_sequences"`
		ResponseMimeType    string          `json:"responseMimeType"`
		ResponseMimeType_   string          `json:"response_mime_type"`
		ResponseSchema      json.RawMessage `json:"responseSchema"`
		ResponseSchema_     json.RawMessage `json:"response_schema"`
		ResponseJSONSchema  json.RawMessage `json:"responseJsonSchema"`
		ResponseJSONSchema_ json.RawMessage `json:"response_json_schema"`
		ResponseModalities  []string        `json:"responseModalities"`
		ResponseModalities_ []string        `json:"response_modalities"`
		CandidateCount      *int            `json:"candidateCount"`
		CandidateCount_     *int            `json:"candidate_count"`
		MaxOutputTokens     *int            `json:"maxOutputTokens"`
		MaxOutputTokens_    *int            `json:"max_output_tokens"`
		Temperature         *float64        `json:"temperature"`
		TopP                *float64        `json:"topP"`
		TopP_               *float64        `json:"top_p"`
		Seed                *int64          `json:"seed"`
		PresencePenalty     *float64        `json:"presencePenalty"`
		PresencePenalty_    *float64        `json:"presence_penalty"`
		FrequencyPenalty    *float64        `json:"frequencyPenalty"`
		FrequencyPenalty_   *float64        `json:"frequency_penalty"`
		ResponseLogprobs    bool            `json:"responseLogprobs"`
		ResponseLogprobs_   bool            `json:"response_logprobs"`
		SpeechConfig        json.RawMessage `json:"speechConfig"`
		SpeechConfig_       json.RawMessage `json:"speech_config"`
	}
)

// OpenAI request wire types.
type (
	oaRequest struct {
		Model               string           `json:"model"`
		Messages            []oaMessage      `json:"messages"`
		Tools               []oaTool         `json:"tools,omitempty"`
		ToolChoice          any              `json:"tool_choice,omitempty"`
		Temperature         *float64         `json:"temperature,omitempty"`
		TopP                *float64         `json:"top_p,omitempty"`
		MaxTokens           *int             `json:"max_tokens,omitempty"`
		MaxCompletionTokens *int             `json:"max_completion_tokens,omitempty"`
		Stop                []string         `json:"stop,omitempty"`
		N                   *int             `json:"n,omitempty"`
		PresencePenalty     *float64         `json:"presence_penalty,omitempty"`
		FrequencyPenalty    *float64         `json:"frequency_penalty,omitempty"`
		Seed                *int64           `json:"seed,omitempty"`
		ResponseFormat      *oaRespFormat    `json:"response_format,omitempty"`
		Stream              bool             `json:"stream,omitempty"`
		StreamOptions       *oaStreamOptions `json:"stream_options,omitempty"`
	}
	oaMessage struct {
		Role       string       `json:"role"`
		Content    any          `json:"content"` // string, []oaPart, or nil (null) beside tool_calls
		ToolCalls  []oaToolCall `json:"tool_calls,omitempty"`
		ToolCallID string       `json:"tool_call_id,omitempty"`
	}
	oaPart struct {
		Type     string      `json:"type"`
		Text     string      `json:"text,omitempty"`
		ImageURL *oaImageURL `json:"image_url,omitempty"`
	}
	oaImageURL struct {
		URL string `json:"url"`
	}
	oaToolCall struct {
		ID       string     `json:"id"`
		Type     string     `json:"type"`
		Function oaFunction `json:"function"`
	}
	oaFunction struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	}
	oaTool struct {
		Type     string        `json:"type"`
		Function oaFunctionDef `json:"function"`
	}
	oaFunctionDef struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters"`
	}
	oaNamedChoice struct {
		Type     string `json:"type"`
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	oaRespFormat struct {
		Type       string        `json:"type"`
		JSONSchema *oaJSONSchema `json:"json_schema,omitempty"`
	}
	oaJSONSchema struct {
		Name   string          `json:"name"`
		Schema json.RawMessage `json:"schema"`
	}
	oaStreamOptions struct {
		IncludeUsage bool `json:"include_usage"`
	}
)

// either is a if it is set, else b: the camelCase spelling wins.
func either[T comparable](a, b T) T {
	var zero T
	if a != zero {
		return a
	}
	return b
}

func eitherRaw(a, b json.RawMessage) json.RawMessage {
	if !isNull(a) {
		return a
	}
	if !isNull(b) {
		return b
	}
	return nil
}

func eitherSlice[T any](a, b []T) []T {
	if a != nil {
		return a
	}
	return b
}

func isNull(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// emptyParameters is sent for a function without parameters: OpenAI allows
// leaving them out, but some compatible servers require the field.
var emptyParameters = json.RawMessage(`{"type":"object","properties":{}}`)

// jsonHint is added as a system message when JSON output is asked for and
// no message says "json": OpenAI and DeepSeek refuse json_object otherwise,
// while Gemini needs no such word.
const jsonHint = "Respond with JSON."

// Request translates a Gemini generateContent request body into an OpenAI
// chat completion request body for model (the provider's model name). stream
// asks for an SSE answer with usage in its last chunk. Client errors are
// *RequestError.
func Request(body []byte, model string, stream bool) ([]byte, error) {
	var g gRequest
	if err := json.Unmarshal(body, &g); err != nil {
		return nil, decodeErr(err)
	}
	if either(g.CachedContent, g.CachedContent_) != "" {
		return nil, reqErr("cachedContent", "cached contents live in Gemini and cannot be used by this provider")
	}
	out := oaRequest{Model: model}
	c := converter{}
	if si := either(g.SystemInstruction, g.SystemInstruction_); si != nil {
		text, err := systemText(si)
		if err != nil {
			return nil, err
		}
		if text != "" {
			c.msgs = append(c.msgs, oaMessage{Role: "system", Content: text})
		}
	}
	if len(g.Contents) == 0 {
		return nil, reqErr("contents", "must not be empty")
	}
	for i := range g.Contents {
		if err := c.content(i, &g.Contents[i]); err != nil {
			return nil, err
		}
	}
	if len(c.msgs) == 0 || len(c.msgs) == 1 && c.msgs[0].Role == "system" {
		return nil, reqErr("contents", "has no text, image or function part to send")
	}
	out.Messages = c.msgs

	tools, err := functionTools(g.Tools)
	if err != nil {
		return nil, err
	}
	out.Tools, out.ToolChoice, err = toolChoice(tools, either(g.ToolConfig, g.ToolConfig_))
	if err != nil {
		return nil, err
	}
	if gc := either(g.GenerationConfig, g.GenerationConfig_); gc != nil {
		if err := generation(&out, gc, model); err != nil {
			return nil, err
		}
	}
	if out.ResponseFormat != nil && out.ResponseFormat.Type == "json_object" && !mentionsJSON(out.Messages) {
		out.Messages = append([]oaMessage{{Role: "system", Content: jsonHint}}, out.Messages...)
	}
	if stream {
		out.Stream = true
		out.StreamOptions = &oaStreamOptions{IncludeUsage: true}
	}
	return gemini.Marshal(out)
}

// decodeErr names the field of a JSON type error.
func decodeErr(err error) *RequestError {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return reqErr(te.Field, "must not be a JSON %s", te.Value)
	}
	return reqErr("", "the body is not a JSON GenerateContentRequest: %v", err)
}

func systemText(si *gContent) (string, error) {
	var texts []string
	for j := range si.Parts {
		p := &si.Parts[j]
		if kind := nonText(p); kind != "" {
			return "", reqErr("systemInstruction.parts["+strconv.Itoa(j)+"]."+kind, "only text can be sent to this provider as a system instruction")
		}
		if p.Text != "" {
			texts = append(texts, p.Text)
		}
	}
	return strings.Join(texts, "\n"), nil
}

// nonText names the first non-text member of a part, or "".
func nonText(p *gPart) string {
	switch {
	case either(p.InlineData, p.InlineData_) != nil:
		return "inlineData"
	case either(p.FileData, p.FileData_) != nil:
		return "fileData"
	case either(p.FunctionCall, p.FunctionCall_) != nil:
		return "functionCall"
	case either(p.FunctionResponse, p.FunctionResponse_) != nil:
		return "functionResponse"
	case !isNull(eitherRaw(p.ExecutableCode, p.ExecutableCode_)):
		return "executableCode"
	case !isNull(eitherRaw(p.CodeExecutionResult, p.CodeExecutionResult_)):
		return "codeExecutionResult"
	}
	return ""
}

type pendingCall struct{ id, name string }

type converter struct {
	msgs    []oaMessage
	pending []pendingCall // calls not answered yet, oldest first
}

func (c *converter) content(i int, gc *gContent) error {
	at := "contents[" + strconv.Itoa(i) + "]"
	switch gc.Role {
	case "model":
		return c.model(at, i, gc.Parts)
	case "user", "", "function":
		return c.user(at, gc.Parts)
	}
	return reqErr(at+".role", "must be user or model, not %q", gc.Role)
}

func (c *converter) model(at string, i int, parts []gPart) error {
	var text strings.Builder
	var calls []oaToolCall
	for j := range parts {
		p := &parts[j]
		pat := at + ".parts[" + strconv.Itoa(j) + "]"
		if p.Thought {
			continue
		}
		if fc := either(p.FunctionCall, p.FunctionCall_); fc != nil {
			args := "{}"
			if !isNull(fc.Args) {
				a, err := compactObject(fc.Args)
				if err != nil {
					return reqErr(pat+".functionCall.args", "%s", err)
				}
				args = a
			}
			id := fc.ID
			if id == "" {
				id = "call_" + strconv.Itoa(i) + "_" + strconv.Itoa(j)
			}
			calls = append(calls, oaToolCall{ID: id, Type: "function", Function: oaFunction{Name: fc.Name, Arguments: args}})
			c.pending = append(c.pending, pendingCall{id: id, name: fc.Name})
			continue
		}
		if kind := nonText(p); kind != "" {
			return reqErr(pat+"."+kind, "cannot be sent to this provider in a model turn")
		}
		text.WriteString(p.Text)
	}
	if text.Len() == 0 && len(calls) == 0 {
		return nil // a turn of thoughts only: nothing the provider can take
	}
	m := oaMessage{Role: "assistant", ToolCalls: calls}
	if text.Len() > 0 {
		m.Content = text.String()
	}
	c.msgs = append(c.msgs, m)
	return nil
}

func (c *converter) user(at string, parts []gPart) error {
	var oaParts []oaPart
	hasImage := false
	for j := range parts {
		p := &parts[j]
		pat := at + ".parts[" + strconv.Itoa(j) + "]"
		if p.Thought {
			continue
		}
		if fr := either(p.FunctionResponse, p.FunctionResponse_); fr != nil {
			msg, err := c.toolMessage(pat+".functionResponse", fr)
			if err != nil {
				return err
			}
			c.msgs = append(c.msgs, msg)
			continue
		}
		if b := either(p.InlineData, p.InlineData_); b != nil {
			mime := strings.ToLower(strings.TrimSpace(either(b.MimeType, b.MimeType_)))
			if !strings.HasPrefix(mime, "image/") {
				return reqErr(pat+".inlineData", "%s data cannot be sent to this provider; it takes text and images", orUnknown(mime))
			}
			if b.Data == "" {
				return reqErr(pat+".inlineData.data", "must not be empty")
			}
			hasImage = true
			oaParts = append(oaParts, oaPart{Type: "image_url", ImageURL: &oaImageURL{URL: "data:" + mime + ";base64," + b.Data}})
			continue
		}
		switch kind := nonText(p); kind {
		case "":
		case "fileData":
			return reqErr(pat+".fileData", "files uploaded to Gemini cannot be read by this provider; send the data inline")
		default:
			return reqErr(pat+"."+kind, "cannot be sent to this provider in a user turn")
		}
		if p.Text != "" {
			oaParts = append(oaParts, oaPart{Type: "text", Text: p.Text})
		}
	}
	if len(oaParts) == 0 {
		return nil
	}
	m := oaMessage{Role: "user"}
	if hasImage {
		m.Content = oaParts
	} else {
		texts := make([]string, len(oaParts))
		for k := range oaParts {
			texts[k] = oaParts[k].Text
		}
		m.Content = strings.Join(texts, "\n")
	}
	c.msgs = append(c.msgs, m)
	return nil
}

func orUnknown(mime string) string {
	if mime == "" {
		return "untyped"
	}
	return mime
}

// toolMessage answers the call fr responds to: the one with its id, else
// the oldest unanswered call of its name.
func (c *converter) toolMessage(at string, fr *gFunctionResult) (oaMessage, error) {
	if !isNull(fr.Parts) {
		return oaMessage{}, reqErr(at+".parts", "function responses with media cannot be sent to this provider")
	}
	found := -1
	if fr.ID != "" {
		for k, p := range c.pending {
			if p.id == fr.ID {
				found = k
				break
			}
		}
	}
	if found < 0 {
		for k, p := range c.pending {
			if p.name == fr.Name {
				found = k
				break
			}
		}
	}
	if found < 0 {
		return oaMessage{}, reqErr(at, "answers no earlier functionCall (name %q)", fr.Name)
	}
	id := c.pending[found].id
	c.pending = append(c.pending[:found], c.pending[found+1:]...)
	return oaMessage{Role: "tool", ToolCallID: id, Content: toolText(fr.Response)}, nil
}

// toolText is the tool message for a functionResponse.response. Gemini
// SDKs wrap a function's plain return value as {"result": value}; a string
// result is sent as the text it was, anything else as compact JSON.
func toolText(resp json.RawMessage) string {
	if isNull(resp) {
		return "{}"
	}
	var wrapped map[string]json.RawMessage
	if json.Unmarshal(resp, &wrapped) == nil && len(wrapped) == 1 {
		var s string
		if r, ok := wrapped["result"]; ok && json.Unmarshal(r, &s) == nil {
			return s
		}
	}
	var b bytes.Buffer
	if json.Compact(&b, resp) != nil {
		return string(resp)
	}
	return b.String()
}

// compactObject is a JSON object as compact text; other values are refused
// (Gemini's args and OpenAI's arguments are both objects).
func compactObject(raw json.RawMessage) (string, error) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' {
		return "", errors.New("must be a JSON object")
	}
	var b bytes.Buffer
	if err := json.Compact(&b, t); err != nil {
		return "", err
	}
	return b.String(), nil
}

// builtinTools names Gemini's server-side tools for the refusal message.
var builtinTools = map[string]string{
	"googleSearch": "Google Search", "google_search": "Google Search",
	"googleSearchRetrieval": "Google Search", "google_search_retrieval": "Google Search",
	"codeExecution": "code execution", "code_execution": "code execution",
	"urlContext": "URL context", "url_context": "URL context",
	"googleMaps": "Google Maps", "google_maps": "Google Maps",
	"fileSearch": "file search", "file_search": "file search",
	"computerUse": "computer use", "computer_use": "computer use",
	"retrieval": "retrieval", "enterpriseWebSearch": "web search", "enterprise_web_search": "web search",
}

func functionTools(tools []map[string]json.RawMessage) ([]oaTool, error) {
	var out []oaTool
	seen := map[string]bool{}
	for i, t := range tools {
		at := "tools[" + strconv.Itoa(i) + "]"
		keys := make([]string, 0, len(t))
		for k := range t {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			v := t[k]
			if isNull(v) {
				continue
			}
			if k != "functionDeclarations" && k != "function_declarations" {
				name := builtinTools[k]
				if name == "" {
					name = "this tool"
				}
				return nil, reqErr(at+"."+k, "%s is a Gemini built-in tool; this provider has only function tools", name)
			}
			var decls []gFunctionDecl
			if err := json.Unmarshal(v, &decls); err != nil {
				return nil, reqErr(at+"."+k, "must be a list of function declarations")
			}
			for j := range decls {
				d := &decls[j]
				dat := at + ".functionDeclarations[" + strconv.Itoa(j) + "]"
				if d.Name == "" {
					return nil, reqErr(dat+".name", "required")
				}
				if seen[d.Name] {
					continue
				}
				seen[d.Name] = true
				params := emptyParameters
				if s := eitherRaw(d.ParametersJSONSchema, d.ParametersJSONSchema_); s != nil {
					params = s
				} else if !isNull(d.Parameters) {
					conv, err := jsonSchema(d.Parameters)
					if err != nil {
						return nil, reqErr(dat+".parameters", "%s", err)
					}
					params = conv
				}
				out = append(out, oaTool{Type: "function", Function: oaFunctionDef{Name: d.Name, Description: d.Description, Parameters: params}})
			}
		}
	}
	return out, nil
}

// toolChoice maps functionCallingConfig; allowedFunctionNames narrows the
// tools sent.
func toolChoice(tools []oaTool, tc *gToolConfig) ([]oaTool, any, error) {
	if tc == nil || len(tools) == 0 {
		return tools, nil, nil
	}
	fc := either(tc.FunctionCallingConfig, tc.FunctionCallingConfig_)
	if fc == nil {
		return tools, nil, nil
	}
	const at = "toolConfig.functionCallingConfig"
	var choice any
	switch strings.ToUpper(fc.Mode) {
	case "", "MODE_UNSPECIFIED":
	case "AUTO", "VALIDATED":
		choice = "auto"
	case "ANY":
		choice = "required"
	case "NONE":
		return tools, "none", nil
	default:
		return nil, nil, reqErr(at+".mode", "unknown mode %q (AUTO, ANY, NONE or VALIDATED)", fc.Mode)
	}
	names := eitherSlice(fc.AllowedFunctionNames, fc.AllowedFunctionNames_)
	if len(names) == 0 {
		return tools, choice, nil
	}
	allowed := make(map[string]bool, len(names))
	for _, n := range names {
		allowed[n] = true
	}
	kept := tools[:0:0]
	for _, t := range tools {
		if allowed[t.Function.Name] {
			kept = append(kept, t)
		}
	}
	if len(kept) == 0 {
		return nil, nil, reqErr(at+".allowedFunctionNames", "names no declared function")
	}
	if len(kept) == 1 && choice == "required" {
		named := oaNamedChoice{Type: "function"}
		named.Function.Name = kept[0].Function.Name
		choice = named
	}
	return kept, choice, nil
}

// reasoningModel: OpenAI's reasoning models refuse max_tokens and want
// max_completion_tokens.
func reasoningModel(model string) bool {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	for _, p := range []string{"o1", "o3", "o4", "gpt-5"} {
		if m == p || strings.HasPrefix(m, p+"-") || strings.HasPrefix(m, p+".") {
			return true
		}
	}
	return false
}

func generation(out *oaRequest, gc *gGenConfig, model string) error {
	const at = "generationConfig."
	out.Temperature = gc.Temperature
	out.TopP = either(gc.TopP, gc.TopP_)
	out.PresencePenalty = either(gc.PresencePenalty, gc.PresencePenalty_)
	out.FrequencyPenalty = either(gc.FrequencyPenalty, gc.FrequencyPenalty_)
	out.Seed = gc.Seed
	out.Stop = eitherSlice(gc.StopSequences, gc.StopSequences_)
	if n := either(gc.MaxOutputTokens, gc.MaxOutputTokens_); n != nil && *n > 0 {
		if reasoningModel(model) {
			out.MaxCompletionTokens = n
		} else {
			out.MaxTokens = n
		}
	}
	if n := either(gc.CandidateCount, gc.CandidateCount_); n != nil && *n > 1 {
		out.N = n
	}
	for _, m := range eitherSlice(gc.ResponseModalities, gc.ResponseModalities_) {
		if !strings.EqualFold(m, "TEXT") {
			return reqErr(at+"responseModalities", "this provider answers with text only, not %s", m)
		}
	}
	if !isNull(eitherRaw(gc.SpeechConfig, gc.SpeechConfig_)) {
		return reqErr(at+"speechConfig", "this provider does not speak")
	}
	if gc.ResponseLogprobs || gc.ResponseLogprobs_ {
		return reqErr(at+"responseLogprobs", "log probabilities are not translated from this provider")
	}
	switch mime := strings.ToLower(either(gc.ResponseMimeType, gc.ResponseMimeType_)); mime {
	case "", "text/plain":
	case "application/json":
		out.ResponseFormat = &oaRespFormat{Type: "json_object"}
		schema := eitherRaw(gc.ResponseJSONSchema, gc.ResponseJSONSchema_)
		if schema == nil {
			if s := eitherRaw(gc.ResponseSchema, gc.ResponseSchema_); s != nil {
				conv, err := jsonSchema(s)
				if err != nil {
					return reqErr(at+"responseSchema", "%s", err)
				}
				schema = conv
			}
		}
		if schema != nil {
			out.ResponseFormat = &oaRespFormat{Type: "json_schema", JSONSchema: &oaJSONSchema{Name: "response", Schema: schema}}
		}
	default:
		return reqErr(at+"responseMimeType", "%s output is not available from this provider (text/plain or application/json)", mime)
	}
	return nil
}

func mentionsJSON(msgs []oaMessage) bool {
	for _, m := range msgs {
		switch c := m.Content.(type) {
		case string:
			if containsFold(c, "json") {
				return true
			}
		case []oaPart:
			for _, p := range c {
				if containsFold(p.Text, "json") {
					return true
				}
			}
		}
	}
	return false
}

func containsFold(s, sub string) bool {
	return strings.Contains(strings.ToLower(s), sub)
}
