package gemini

import "encoding/json"

// The generateContent answer (GenerateContentResponse) as Google's JSON
// writes it, fields in Google's order (that of the proto's field numbers).
// This is the one declaration of the answer: the chat translation decodes
// answers and stream events into it (with goccy/go-json), and the fake
// upstream (fakegemini) writes its answers with it, so the tags are Google's
// output: what Google omits when empty is omitempty. Only the fields someone
// reads or writes are declared; decoding skips the rest.

// Response is one generateContent answer or one event of a stream.
type Response struct {
	Candidates     []Candidate     `json:"candidates,omitempty"`
	PromptFeedback *PromptFeedback `json:"promptFeedback,omitempty"`
	UsageMetadata  *UsageMetadata  `json:"usageMetadata,omitempty"`
	ModelVersion   string          `json:"modelVersion"`
	ResponseID     string          `json:"responseId"`
}

// Candidate is one candidate of an answer. Google omits index 0 in some
// answers; Content is nil when a candidate has none.
type Candidate struct {
	Content           *Content           `json:"content,omitempty"`
	FinishReason      string             `json:"finishReason,omitempty"`
	FinishMessage     string             `json:"finishMessage,omitempty"`
	Index             int                `json:"index"`
	GroundingMetadata *GroundingMetadata `json:"groundingMetadata,omitempty"`
}

// Content is a candidate's content: its parts and the role ("model").
type Content struct {
	Parts []Part `json:"parts,omitempty"`
	Role  string `json:"role"`
}

// Part is one part of an answer's content.
type Part struct {
	Text                string               `json:"text,omitempty"`
	InlineData          *Blob                `json:"inlineData,omitempty"`
	FunctionCall        *FunctionCall        `json:"functionCall,omitempty"`
	ExecutableCode      *ExecutableCode      `json:"executableCode,omitempty"`
	CodeExecutionResult *CodeExecutionResult `json:"codeExecutionResult,omitempty"`
	Thought             bool                 `json:"thought,omitempty"`
	ThoughtSignature    string               `json:"thoughtSignature,omitempty"`
}

// Blob is inline data: base64 data and its MIME type.
type Blob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

// FunctionCall is a call the model asks for. Gemini 3 may set an ID.
type FunctionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args"`
}

// ExecutableCode is code the model ran with the codeExecution tool.
type ExecutableCode struct {
	Language string `json:"language"`
	Code     string `json:"code"`
}

// CodeExecutionResult is the result of an ExecutableCode part.
type CodeExecutionResult struct {
	Outcome string `json:"outcome"`
	Output  string `json:"output"`
}

// GroundingMetadata is what a search-grounded candidate cites.
type GroundingMetadata struct {
	GroundingChunks  []GroundingChunk `json:"groundingChunks"`
	WebSearchQueries []string         `json:"webSearchQueries"`
}

// GroundingChunk is one grounding source.
type GroundingChunk struct {
	Web *WebChunk `json:"web,omitempty"`
}

// WebChunk is a web page a grounded answer cites.
type WebChunk struct {
	URI   string `json:"uri"`
	Title string `json:"title"`
}

// PromptFeedback says why a prompt was blocked.
type PromptFeedback struct {
	BlockReason        string         `json:"blockReason"`
	SafetyRatings      []SafetyRating `json:"safetyRatings,omitempty"`
	BlockReasonMessage string         `json:"blockReasonMessage,omitempty"`
}

// SafetyRating is one harm category's rating.
type SafetyRating struct {
	Category    string `json:"category"`
	Probability string `json:"probability"`
	Blocked     bool   `json:"blocked,omitempty"`
}

// UsageMetadata is an answer's token counts. (Usage is the subset FindUsage
// reads by a byte scan on every answer, without decoding.)
type UsageMetadata struct {
	PromptTokenCount        int                  `json:"promptTokenCount"`
	CandidatesTokenCount    int                  `json:"candidatesTokenCount,omitempty"`
	TotalTokenCount         int                  `json:"totalTokenCount"`
	CachedContentTokenCount int                  `json:"cachedContentTokenCount,omitempty"`
	PromptTokensDetails     []ModalityTokenCount `json:"promptTokensDetails,omitempty"`
	ThoughtsTokenCount      int                  `json:"thoughtsTokenCount,omitempty"`
	ToolUsePromptTokenCount int                  `json:"toolUsePromptTokenCount,omitempty"`
}

// ModalityTokenCount is the token count of one modality ("TEXT", "IMAGE", ...).
type ModalityTokenCount struct {
	Modality   string `json:"modality"`
	TokenCount int    `json:"tokenCount"`
}

// BlockMessage says why the prompt was blocked, for the client; "" when it
// was not.
func (r *Response) BlockMessage() string {
	pf := r.PromptFeedback
	if pf == nil || pf.BlockReason == "" {
		return ""
	}
	msg := "The prompt was blocked by Gemini (" + pf.BlockReason + ")"
	if pf.BlockReasonMessage != "" {
		msg += ": " + pf.BlockReasonMessage
	}
	return msg
}
