// Package models resolves the model names clients send: alias suffixes
// (-search, -image, -non-thinking) on configured base models, and models
// hidden by the filter list.
package models

import "strings"

// Alias suffixes.
const (
	SuffixSearch      = "-search"
	SuffixImage       = "-image"
	SuffixNonThinking = "-non-thinking"
)

// Aliases knows which base models have which alias and which are filtered.
type Aliases struct {
	search, image, thinking, filtered map[string]bool
}

func set(names []string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		if n = Bare(n); n != "" {
			m[n] = true
		}
	}
	return m
}

// NewAliases builds the alias table from the configured model lists.
func NewAliases(search, image, thinking, filtered []string) *Aliases {
	return &Aliases{search: set(search), image: set(image), thinking: set(thinking), filtered: set(filtered)}
}

// Bare drops a "models/" prefix and surrounding space.
func Bare(name string) string { return strings.TrimPrefix(strings.TrimSpace(name), "models/") }

// Resolved is what a requested model name means.
type Resolved struct {
	Requested   string // as the client wrote it, without "models/"
	Upstream    string // the model sent to Google
	Search      bool   // add the googleSearch tool
	Image       bool   // ask for text and image output
	NonThinking bool   // turn thinking off
}

// Aliased reports whether any alias feature applies.
func (r Resolved) Aliased() bool { return r.Search || r.Image || r.NonThinking }

// Resolve reads an alias suffix only when the base model is configured for it
// and the full name is not itself an upstream model (isUpstream may be nil
// when the upstream list is not known yet), so gemini-2.5-flash-image reaches
// Google as it is.
func (a *Aliases) Resolve(name string, isUpstream func(string) bool) Resolved {
	name = Bare(name)
	r := Resolved{Requested: name, Upstream: name}
	if a == nil || (isUpstream != nil && isUpstream(name)) {
		return r
	}
	for _, s := range []struct {
		suffix string
		bases  map[string]bool
		flag   *bool
	}{
		{SuffixSearch, a.search, &r.Search},
		{SuffixImage, a.image, &r.Image},
		{SuffixNonThinking, a.thinking, &r.NonThinking},
	} {
		if base, ok := strings.CutSuffix(name, s.suffix); ok && s.bases[base] {
			r.Upstream = base
			*s.flag = true
			return r
		}
	}
	return r
}

// IsSpeech reports a text-to-speech model (gemini-2.5-flash-preview-tts):
// it takes no tools, safety settings or thinking settings.
func IsSpeech(model string) bool { return strings.Contains(Bare(model), "-tts") }

// IsImageOutput reports a model that answers with images
// (gemini-2.5-flash-image, gemini-2.0-flash-exp-image-generation, imagen-*):
// it refuses tools such as code execution.
func IsImageOutput(model string) bool {
	m := Bare(model)
	return strings.Contains(m, "-image") || strings.HasPrefix(m, "imagen-")
}

// Filtered reports whether a model is hidden and refused.
func (a *Aliases) Filtered(name string) bool {
	return a != nil && a.filtered[Bare(name)]
}

// Visible lists the upstream model ids a client may see: filtered ones
// dropped, alias variants added after their base model.
func (a *Aliases) Visible(upstream []string) []string {
	out := make([]string, 0, len(upstream)+len(a.search)+len(a.image)+len(a.thinking))
	for _, id := range upstream {
		id = Bare(id)
		if a.Filtered(id) {
			continue
		}
		out = append(out, id)
		out = append(out, a.Variants(id)...)
	}
	return out
}

// Variants are the alias names configured for the base model id, in the
// order -search, -image, -non-thinking.
func (a *Aliases) Variants(id string) []string {
	if a == nil {
		return nil
	}
	var out []string
	if a.search[id] {
		out = append(out, id+SuffixSearch)
	}
	if a.image[id] {
		out = append(out, id+SuffixImage)
	}
	if a.thinking[id] {
		out = append(out, id+SuffixNonThinking)
	}
	return out
}
