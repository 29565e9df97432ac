package anthropic

import (
	"strconv"
	"strings"
)

// DefaultModels is the claude_models table used when an option does not map a
// name: Claude model families to the Gemini model of the same tier.
var DefaultModels = map[string]string{
	"claude-opus":   "gemini-2.5-pro",
	"claude-sonnet": "gemini-2.5-flash",
	"claude-haiku":  "gemini-2.5-flash-lite",
}

// DefaultModel is where any other claude-* name goes.
const DefaultModel = "gemini-2.5-flash"

// MapModel resolves the model a client named to a Gemini model. table (the
// claude_models option, prefix → model) is looked up first, the longest
// matching prefix winning; then DefaultModels. The older names that put the
// version first (claude-3-5-haiku-20241022, claude-3-opus-latest) go by their
// family. Any other claude-* name is DefaultModel; a name that is not claude-*
// (a Gemini model) goes as it is. Prefixes compare case-insensitively.
func MapModel(name string, table map[string]string) string {
	lower := strings.ToLower(strings.TrimSpace(name))
	if m := longestPrefix(lower, table); m != "" {
		return m
	}
	if !strings.HasPrefix(lower, "claude-") {
		return name
	}
	if m := longestPrefix(lower, DefaultModels); m != "" {
		return m
	}
	for _, family := range []string{"opus", "sonnet", "haiku"} {
		if strings.Contains(lower, "-"+family) {
			return DefaultModels["claude-"+family]
		}
	}
	return DefaultModel
}

func longestPrefix(name string, table map[string]string) string {
	best, bestLen := "", -1
	for k, v := range table {
		k = strings.ToLower(k)
		if v != "" && strings.HasPrefix(name, k) && len(k) > bestLen {
			best, bestLen = v, len(k)
		}
	}
	return best
}

// modelVersion reads the version of a Gemini model name: "gemini-2.5-flash"
// is 2,5; "gemini-3-pro-preview" is 3,0. ok is false for names without one.
func modelVersion(model string) (major, minor int, ok bool) {
	m := strings.TrimPrefix(strings.ToLower(model), "models/")
	rest, found := strings.CutPrefix(m, "gemini-")
	if !found {
		return 0, 0, false
	}
	end := 0
	for end < len(rest) && (rest[end] == '.' || rest[end] >= '0' && rest[end] <= '9') {
		end++
	}
	majS, minS, _ := strings.Cut(rest[:end], ".")
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

// levelModel: Gemini 3 and later think by thinkingLevel, and ask for a thought
// signature on the first function call of each step.
func levelModel(model string) bool {
	major, _, ok := modelVersion(model)
	return ok && major >= 3
}

// thinkingModel guesses whether model accepts a thinkingConfig (2.5 and
// later, but not the image, TTS, live or embedding models; the
// gemini-*-latest aliases): thinkingConfig on other models is a 400.
func thinkingModel(model string) bool {
	m := strings.ToLower(model)
	for _, no := range []string{"tts", "embedding", "live", "native-audio", "gemma", "image"} {
		if strings.Contains(m, no) {
			return false
		}
	}
	major, minor, ok := modelVersion(m)
	if !ok {
		return strings.HasPrefix(strings.TrimPrefix(m, "models/"), "gemini-") && strings.HasSuffix(m, "-latest")
	}
	return major > 2 || major == 2 && minor >= 5
}

// proModel: Pro models cannot turn thinking off.
func proModel(model string) bool { return strings.Contains(strings.ToLower(model), "-pro") }

func liteModel(model string) bool { return strings.Contains(strings.ToLower(model), "-lite") }
