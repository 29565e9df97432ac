package openai

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"unicode/utf8"
)

// MaxEmbeddingInputs is the most inputs one OpenAI embeddings request may
// carry (OpenAI's own limit).
const MaxEmbeddingInputs = 2048

// MaxBatchEmbed is the most requests Gemini's batchEmbedContents accepts in
// one call ("at most 100 requests can be in one batch").
const MaxBatchEmbed = 100

// EmbeddingsRequest is the body of POST /v1/embeddings.
type EmbeddingsRequest struct {
	Model          string          `json:"model"`
	Input          json.RawMessage `json:"input"`
	Dimensions     *int            `json:"dimensions,omitempty"`
	EncodingFormat string          `json:"encoding_format,omitempty"`
	User           string          `json:"user,omitempty"`
}

// DecodeEmbeddings parses and checks an embeddings request. It returns the
// request and its inputs as a list of strings. input may be a string or an
// array of strings; token arrays ([]int, [][]int) are refused, as are an
// empty input, empty strings and more than MaxEmbeddingInputs entries.
// encoding_format is "float" (the default, also when absent) or "base64";
// dimensions, when given, must be positive. model may be empty: the caller
// picks its default (see EmbeddingsModel). Every error is a *RequestError.
func DecodeEmbeddings(body []byte) (*EmbeddingsRequest, []string, error) {
	var r EmbeddingsRequest
	if err := decodeRequest(body, &r); err != nil {
		return nil, nil, err
	}
	inputs, err := embeddingInputs(r.Input)
	if err != nil {
		return nil, nil, err
	}
	switch r.EncodingFormat {
	case "":
		r.EncodingFormat = "float"
	case "float", "base64":
	default:
		return nil, nil, &RequestError{Param: "encoding_format", Message: fmt.Sprintf("unsupported encoding_format %q: use \"float\" or \"base64\"", r.EncodingFormat)}
	}
	if r.Dimensions != nil && *r.Dimensions < 1 {
		return nil, nil, &RequestError{Param: "dimensions", Message: "dimensions must be a positive integer"}
	}
	return &r, inputs, nil
}

func embeddingInputs(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return nil, &RequestError{Param: "input", Message: "input is required: a string or an array of strings"}
	}
	switch raw[0] {
	case '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, &RequestError{Param: "input", Message: "input is not a valid JSON string"}
		}
		if s == "" {
			return nil, &RequestError{Param: "input", Message: "input must not be an empty string"}
		}
		return []string{s}, nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, &RequestError{Param: "input", Message: "input is not a valid JSON array"}
		}
		if len(items) == 0 {
			return nil, &RequestError{Param: "input", Message: "input must not be an empty array"}
		}
		if len(items) > MaxEmbeddingInputs {
			return nil, &RequestError{Param: "input", Message: fmt.Sprintf("input has %d entries; at most %d are allowed", len(items), MaxEmbeddingInputs)}
		}
		out := make([]string, len(items))
		for i, it := range items {
			it = bytes.TrimSpace(it)
			if len(it) > 0 && (it[0] == '[' || it[0] == '-' || (it[0] >= '0' && it[0] <= '9')) {
				return nil, tokenInputError()
			}
			var s string
			if len(it) == 0 || it[0] != '"' || json.Unmarshal(it, &s) != nil {
				return nil, &RequestError{Param: "input", Message: fmt.Sprintf("input[%d] must be a string", i)}
			}
			if s == "" {
				return nil, &RequestError{Param: "input", Message: fmt.Sprintf("input[%d] must not be an empty string", i)}
			}
			out[i] = s
		}
		return out, nil
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		return nil, tokenInputError()
	}
	return nil, &RequestError{Param: "input", Message: "input must be a string or an array of strings"}
}

func tokenInputError() error {
	return &RequestError{Param: "input", Message: "token arrays are not supported as input (Gemini embeds text): send a string or an array of strings"}
}

// EmbeddingsModel is the Gemini model for a requested embeddings model: an
// empty name or one of OpenAI's own (text-embedding-ada-*, text-embedding-3-*)
// becomes def; any other name (text-embedding-004, gemini-embedding-001, ...)
// is used as asked, without "models/".
func EmbeddingsModel(requested, def string) string {
	m := ModelID(requested)
	if m == "" || strings.HasPrefix(m, "text-embedding-ada") || strings.HasPrefix(m, "text-embedding-3") {
		return ModelID(def)
	}
	return m
}

type geminiPart struct {
	Text string `json:"text"`
}

type geminiContent struct {
	Role  string       `json:"role,omitempty"`
	Parts []geminiPart `json:"parts"`
}

type embedRequest struct {
	Model                string        `json:"model"`
	Content              geminiContent `json:"content"`
	OutputDimensionality *int          `json:"outputDimensionality,omitempty"`
}

// EmbeddingsToGemini is the batchEmbedContents body for inputs:
//
//	{"requests":[{"model":"models/<model>","content":{"parts":[{"text":"..."}]},"outputDimensionality":N}, ...]}
//
// Gemini takes at most MaxBatchEmbed requests per call; split larger input
// lists with ChunkInputs. taskType is left to Gemini's default.
func EmbeddingsToGemini(model string, inputs []string, dims *int) []byte {
	name := "models/" + ModelID(model)
	reqs := make([]embedRequest, len(inputs))
	for i, in := range inputs {
		reqs[i] = embedRequest{
			Model:                name,
			Content:              geminiContent{Parts: []geminiPart{{Text: in}}},
			OutputDimensionality: dims,
		}
	}
	return marshal(struct {
		Requests []embedRequest `json:"requests"`
	}{reqs})
}

// ChunkInputs splits inputs into consecutive runs of at most size entries
// (size < 1 means MaxBatchEmbed).
func ChunkInputs(inputs []string, size int) [][]string {
	if size < 1 {
		size = MaxBatchEmbed
	}
	var out [][]string
	for len(inputs) > size {
		out = append(out, inputs[:size:size])
		inputs = inputs[size:]
	}
	if len(inputs) > 0 {
		out = append(out, inputs)
	}
	return out
}

// ParseGeminiEmbeddings reads the vectors of a batchEmbedContents answer
// {"embeddings":[{"values":[...]}, ...]}, in request order. An answer with
// no embeddings, or an embedding without values, is an *UpstreamError; the
// caller checks that the count matches its inputs.
func ParseGeminiEmbeddings(body []byte) ([][]float64, error) {
	var resp struct {
		Embeddings []struct {
			Values []float64 `json:"values"`
		} `json:"embeddings"`
		// embedContent answers a single embedding.
		Embedding *struct {
			Values []float64 `json:"values"`
		} `json:"embedding"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, &UpstreamError{Message: "the Gemini embeddings answer is not valid JSON: " + err.Error()}
	}
	var out [][]float64
	switch {
	case len(resp.Embeddings) > 0:
		out = make([][]float64, len(resp.Embeddings))
		for i, e := range resp.Embeddings {
			if len(e.Values) == 0 {
				return nil, &UpstreamError{Message: fmt.Sprintf("Gemini returned no values for embedding %d", i)}
			}
			out[i] = e.Values
		}
	case resp.Embedding != nil && len(resp.Embedding.Values) > 0:
		out = [][]float64{resp.Embedding.Values}
	default:
		return nil, &UpstreamError{Message: "Gemini returned no embeddings"}
	}
	return out, nil
}

type embeddingObject struct {
	Object    string `json:"object"`
	Index     int    `json:"index"`
	Embedding any    `json:"embedding"` // []float64, or a base64 string
}

type embeddingsUsage struct {
	PromptTokens int `json:"prompt_tokens"`
	TotalTokens  int `json:"total_tokens"`
}

type embeddingsResponse struct {
	Object string            `json:"object"`
	Data   []embeddingObject `json:"data"`
	Model  string            `json:"model"`
	Usage  embeddingsUsage   `json:"usage"`
}

// EmbeddingsResponse is OpenAI's embeddings answer for vectors:
//
//	{"object":"list","data":[{"object":"embedding","index":0,"embedding":[...]}],"model":"...","usage":{"prompt_tokens":N,"total_tokens":N}}
//
// With encoding "base64" each embedding is the base64 of its values as
// little-endian float32; otherwise ("float", "") a JSON array of numbers.
// Any other encoding, or a value that is not finite, is an error.
func EmbeddingsResponse(vectors [][]float64, model, encoding string, promptTokens int) ([]byte, error) {
	if encoding != "" && encoding != "float" && encoding != "base64" {
		return nil, &RequestError{Param: "encoding_format", Message: fmt.Sprintf("unsupported encoding_format %q: use \"float\" or \"base64\"", encoding)}
	}
	if promptTokens < 0 {
		promptTokens = 0
	}
	data := make([]embeddingObject, len(vectors))
	for i, v := range vectors {
		for _, x := range v {
			if math.IsNaN(x) || math.IsInf(x, 0) {
				return nil, &UpstreamError{Message: fmt.Sprintf("Gemini returned a non-finite value in embedding %d", i)}
			}
		}
		var emb any = v
		if encoding == "base64" {
			emb = EncodeFloat32Base64(v)
		}
		data[i] = embeddingObject{Object: "embedding", Index: i, Embedding: emb}
	}
	return marshal(embeddingsResponse{
		Object: "list",
		Data:   data,
		Model:  model,
		Usage:  embeddingsUsage{PromptTokens: promptTokens, TotalTokens: promptTokens},
	}), nil
}

// EmbeddingsFromGemini converts a batchEmbedContents answer to OpenAI's
// embeddings answer (ParseGeminiEmbeddings, then EmbeddingsResponse). model
// is the name the client asked for; promptTokens fills usage (Gemini reports
// none for embeddings; see EstimateTokens).
func EmbeddingsFromGemini(body []byte, model string, encoding string, promptTokens int) ([]byte, error) {
	vectors, err := ParseGeminiEmbeddings(body)
	if err != nil {
		return nil, err
	}
	return EmbeddingsResponse(vectors, model, encoding, promptTokens)
}

// EncodeFloat32Base64 is OpenAI's base64 embedding encoding: the values as
// little-endian IEEE-754 float32, base64 (standard alphabet, padded).
func EncodeFloat32Base64(values []float64) string {
	buf := make([]byte, 4*len(values))
	for i, x := range values {
		binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(float32(x)))
	}
	return base64.StdEncoding.EncodeToString(buf)
}

// DecodeFloat32Base64 reverses EncodeFloat32Base64.
func DecodeFloat32Base64(s string) ([]float32, error) {
	buf, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(buf)%4 != 0 {
		return nil, fmt.Errorf("embedding has %d bytes, not a multiple of 4", len(buf))
	}
	out := make([]float32, len(buf)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(buf[4*i:]))
	}
	return out, nil
}

// EstimateTokens is a rough token count for inputs (about four bytes of
// UTF-8 text, or one non-ASCII character, per token; at least one per
// input), for usage when Gemini reports none.
func EstimateTokens(inputs []string) int {
	total := 0
	for _, s := range inputs {
		ascii, other := 0, 0
		for _, r := range s {
			if r < utf8.RuneSelf {
				ascii++
			} else {
				other++
			}
		}
		n := (ascii+3)/4 + other
		if n < 1 {
			n = 1
		}
		total += n
	}
	return total
}
