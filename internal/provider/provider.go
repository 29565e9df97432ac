// Package provider names the kinds of upstream a pool can hold keys for and
// what differs between them: the default base URL, where a model method
// goes, how the key travels and which methods each serves.
package provider

import (
	"fmt"
	"net/url"
)

// Kind is a pool's upstream kind.
type Kind string

const (
	// Gemini is Google's Gemini API (the default).
	Gemini Kind = "gemini"
	// VertexExpress is Vertex AI in express mode: API keys, Gemini's
	// request and answer bodies, models under /publishers/google/models.
	VertexExpress Kind = "vertex_express"
	// OpenAI is any OpenAI-compatible API (OpenAI, DeepSeek, ...): chat
	// completions, models and embeddings with the key as a Bearer token.
	OpenAI Kind = "openai"
)

// Kinds lists every kind, in the order the docs give them.
var Kinds = []Kind{Gemini, VertexExpress, OpenAI}

// Parse reads a provider name; "" is Gemini.
func Parse(s string) (Kind, error) {
	switch Kind(s) {
	case "", Gemini:
		return Gemini, nil
	case VertexExpress, OpenAI:
		return Kind(s), nil
	}
	return "", fmt.Errorf("provider %q: use gemini, vertex_express or openai", s)
}

// DefaultBaseURL is where the kind's API lives when base_url is not set.
func (k Kind) DefaultBaseURL() string {
	switch k {
	case VertexExpress:
		return "https://aiplatform.googleapis.com/v1"
	case OpenAI:
		return "https://api.openai.com/v1"
	}
	return "https://generativelanguage.googleapis.com/v1beta"
}

// SpeaksGemini reports whether the kind takes Gemini's request bodies.
func (k Kind) SpeaksGemini() bool { return k != OpenAI }

// vertexActions are the model methods Vertex AI express mode serves with an
// API key.
var vertexActions = map[string]bool{"generateContent": true, "streamGenerateContent": true, "countTokens": true}

// ModelPath is the upstream path, below the base URL, of a Gemini model
// method; ok is false when the kind does not serve the method that way.
func (k Kind) ModelPath(model, action string) (string, bool) {
	switch k {
	case Gemini:
		return "/models/" + url.PathEscape(model) + ":" + action, true
	case VertexExpress:
		return "/publishers/google/models/" + url.PathEscape(model) + ":" + action, vertexActions[action]
	}
	return "", false
}

// Bearer reports whether the key goes as "Authorization: Bearer" (else in
// x-goog-api-key).
func (k Kind) Bearer() bool { return k == OpenAI }
