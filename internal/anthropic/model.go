package anthropic

import (
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

func liteModel(model string) bool { return strings.Contains(strings.ToLower(model), "-lite") }
