package models

import (
	"strconv"
	"strings"
)

// What a Gemini model's name says about its thinking, shared by the
// translators (OpenAI chat, Anthropic messages).

// Version reads the version of a Gemini model name: "gemini-2.5-flash"
// is 2,5; "gemini-3-pro-preview" is 3,0. ok is false for names without one
// ("gemini-flash-latest", "gemma-3-27b-it").
func Version(model string) (major, minor int, ok bool) {
	m := strings.TrimPrefix(strings.ToLower(model), "models/")
	rest, found := strings.CutPrefix(m, "gemini-")
	if !found {
		return 0, 0, false
	}
	end := 0
	for end < len(rest) && (rest[end] == '.' || rest[end] >= '0' && rest[end] <= '9') {
		end++
	}
	v := rest[:end]
	if v == "" {
		return 0, 0, false
	}
	majS, minS, _ := strings.Cut(v, ".")
	major, err := strconv.Atoi(majS)
	if err != nil {
		return 0, 0, false
	}
	if minS != "" {
		if minor, err = strconv.Atoi(minS); err != nil {
			return 0, 0, false
		}
	}
	return major, minor, true
}

// ThinksByLevel: Gemini 3 and later take thinkingLevel (thinkingBudget is
// accepted there only for backward compatibility).
func ThinksByLevel(model string) bool {
	major, _, ok := Version(model)
	return ok && major >= 3
}

// CanThink guesses whether model accepts a thinkingConfig: Gemini 2.5
// and later (except the 2.5 image, TTS, live and embedding models), the
// *-thinking-* experiments and the gemini-*-latest aliases. thinkingConfig on
// a model that cannot think is a 400, so settings-driven thinking options are
// applied only where this says yes.
func CanThink(model string) bool {
	m := strings.ToLower(model)
	for _, no := range []string{"tts", "embedding", "live", "native-audio", "gemma"} {
		if strings.Contains(m, no) {
			return false
		}
	}
	if strings.Contains(m, "thinking") {
		return true
	}
	major, minor, ok := Version(m)
	if !ok {
		return strings.HasPrefix(strings.TrimPrefix(m, "models/"), "gemini-") && strings.HasSuffix(m, "-latest")
	}
	if major > 2 {
		return true
	}
	return major == 2 && minor >= 5 && !strings.Contains(m, "image")
}

// IsPro: Gemini Pro models cannot turn thinking off (2.5 Pro's smallest
// budget is 128; Gemini 3 Pro's lowest level is low).
func IsPro(model string) bool {
	return strings.Contains(strings.ToLower(model), "-pro")
}
