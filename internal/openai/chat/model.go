package chat

import "github.com/gemini-balance/gemini_balance/internal/models"

// lowestThinking is the thinkingConfig that thinks least: off where the model
// allows it, else its minimum.
func lowestThinking(model string) *geminiThinking {
	if models.ThinksByLevel(model) {
		if models.IsPro(model) {
			return &geminiThinking{Level: "low"}
		}
		return &geminiThinking{Level: "minimal"}
	}
	if models.IsPro(model) {
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
	if models.ThinksByLevel(model) {
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
