package gemini

import "encoding/json"

// The generateContent request body as the translators write it (OpenAI chat,
// Anthropic Messages). Unlike the response types (response.go), a content's
// role is left out when empty and its parts are always written.
type (
	Request struct {
		Contents          []RequestContent `json:"contents"`
		SystemInstruction *RequestContent  `json:"systemInstruction,omitempty"`
		Tools             []RequestTool    `json:"tools,omitempty"`
		ToolConfig        *ToolConfig      `json:"toolConfig,omitempty"`
		SafetySettings    json.RawMessage  `json:"safetySettings,omitempty"`
		GenerationConfig  *GenConfig       `json:"generationConfig,omitempty"`
	}
	RequestContent struct {
		Role  string        `json:"role,omitempty"`
		Parts []RequestPart `json:"parts"`
	}
	RequestPart struct {
		Text             string                   `json:"text,omitempty"`
		InlineData       *RequestBlob             `json:"inlineData,omitempty"`
		FileData         *FileData                `json:"fileData,omitempty"`
		FunctionCall     *RequestFunctionCall     `json:"functionCall,omitempty"`
		FunctionResponse *RequestFunctionResponse `json:"functionResponse,omitempty"`
		ThoughtSignature string                   `json:"thoughtSignature,omitempty"`
	}
	RequestBlob struct {
		MimeType string `json:"mimeType"`
		Data     string `json:"data"`
	}
	FileData struct {
		MimeType string `json:"mimeType,omitempty"`
		FileURI  string `json:"fileUri"`
	}
	RequestFunctionCall struct {
		ID   string          `json:"id,omitempty"`
		Name string          `json:"name"`
		Args json.RawMessage `json:"args"`
	}
	RequestFunctionResponse struct {
		ID       string          `json:"id,omitempty"`
		Name     string          `json:"name"`
		Response json.RawMessage `json:"response"`
	}
	RequestTool struct {
		FunctionDeclarations []FunctionDeclaration `json:"functionDeclarations,omitempty"`
		GoogleSearch         *struct{}             `json:"googleSearch,omitempty"`
		CodeExecution        *struct{}             `json:"codeExecution,omitempty"`
		URLContext           *struct{}             `json:"urlContext,omitempty"`
	}
	FunctionDeclaration struct {
		Name                 string          `json:"name"`
		Description          string          `json:"description,omitempty"`
		ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
	}
	ToolConfig struct {
		FunctionCallingConfig FunctionCallingConfig `json:"functionCallingConfig"`
	}
	FunctionCallingConfig struct {
		Mode                 string   `json:"mode"`
		AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
	}
	GenConfig struct {
		StopSequences      []string        `json:"stopSequences,omitempty"`
		ResponseMimeType   string          `json:"responseMimeType,omitempty"`
		ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
		ResponseModalities []string        `json:"responseModalities,omitempty"`
		CandidateCount     int             `json:"candidateCount,omitempty"`
		MaxOutputTokens    int             `json:"maxOutputTokens,omitempty"`
		Temperature        *float64        `json:"temperature,omitempty"`
		TopP               *float64        `json:"topP,omitempty"`
		TopK               *int            `json:"topK,omitempty"`
		Seed               *int32          `json:"seed,omitempty"`
		PresencePenalty    *float64        `json:"presencePenalty,omitempty"`
		FrequencyPenalty   *float64        `json:"frequencyPenalty,omitempty"`
		ThinkingConfig     *ThinkingConfig `json:"thinkingConfig,omitempty"`
	}
	ThinkingConfig struct {
		IncludeThoughts bool   `json:"includeThoughts,omitempty"`
		Budget          *int   `json:"thinkingBudget,omitempty"`
		Level           string `json:"thinkingLevel,omitempty"`
	}
)

// IsZero reports whether g sets nothing (the request then leaves
// generationConfig out).
func (g *GenConfig) IsZero() bool {
	return len(g.StopSequences) == 0 && g.ResponseMimeType == "" && g.ResponseJSONSchema == nil &&
		g.ResponseModalities == nil && g.CandidateCount == 0 && g.MaxOutputTokens == 0 &&
		g.Temperature == nil && g.TopP == nil && g.TopK == nil && g.Seed == nil &&
		g.PresencePenalty == nil && g.FrequencyPenalty == nil && g.ThinkingConfig == nil
}
