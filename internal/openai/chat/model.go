package chat

import (
	"strconv"
	"strings"
)

// modelVersion reads the version of a Gemini model name: "gemini-2.5-flash"
// is 2,5; "gemini-3-pro-preview" is 3,0. ok is false for names without one
// ("gemini-flash-latest", "gemma-3-27b-it").
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

// levelModel: Gemini 3 and later take thinkingLevel (thinkingBudget is
// accepted there only for backward compatibility).
func levelModel(model string) bool {
	major, _, ok := modelVersion(model)
	return ok && major >= 3
}

// thinkingModel guesses whether model accepts a thinkingConfig: Gemini 2.5
// and later (except the 2.5 image, TTS, live and embedding models), the
// *-thinking-* experiments and the gemini-*-latest aliases. thinkingConfig on
// a model that cannot think is a 400, so settings-driven thinking options are
// applied only where this says yes.
func thinkingModel(model string) bool {
	m := strings.ToLower(model)
	for _, no := range []string{"tts", "embedding", "live", "native-audio", "gemma"} {
		if strings.Contains(m, no) {
			return false
		}
	}
	if strings.Contains(m, "thinking") {
		return true
	}
	major, minor, ok := modelVersion(m)
	if !ok {
		return strings.HasPrefix(strings.TrimPrefix(m, "models/"), "gemini-") && strings.HasSuffix(m, "-latest")
	}
	if major > 2 {
		return true
	}
	return major == 2 && minor >= 5 && !strings.Contains(m, "image")
}

// proModel: Gemini Pro models cannot turn thinking off (2.5 Pro's smallest
// budget is 128; Gemini 3 Pro's lowest level is low).
func proModel(model string) bool {
	return strings.Contains(strings.ToLower(model), "-pro")
}

// lowestThinking is the thinkingConfig that thinks least: off where the model
// allows it, else its minimum.
func lowestThinking(model string) *geminiThinking {
	if levelModel(model) {
		if proModel(model) {
			return &geminiThinking{Level: "low"}
		}
		return &geminiThinking{Level: "minimal"}
	}
	if proModel(model) {
		return &geminiThinking{Budget: intPtr(128)}
	}
	return &geminiThinking{Budget: intPtr(0)}
}

func intPtr(v int) *int { return &v }

// effortThinking maps reasoning_effort the way Google's OpenAI-compatible
// endpoint documents it: on 2.5 models low/medium/high are 1024/8192/24576
// thinking tokens and none turns thinking off (minimal is 1024, xhigh 24576);
// Gemini 3 models get thinkingLevel low for minimal/low and high for
// medium/high/xhigh (the levels every Gemini 3 model accepts), and none is the
// lowest level the model has.
func effortThinking(effort, model string) *geminiThinking {
	if effort == "none" {
		return lowestThinking(model)
	}
	if levelModel(model) {
		switch effort {
		case "minimal", "low":
			return &geminiThinking{Level: "low"}
		default:
			return &geminiThinking{Level: "high"}
		}
	}
	switch effort {
	case "minimal", "low":
		return &geminiThinking{Budget: intPtr(1024)}
	case "medium":
		return &geminiThinking{Budget: intPtr(8192)}
	default:
		return &geminiThinking{Budget: intPtr(24576)}
	}
}
