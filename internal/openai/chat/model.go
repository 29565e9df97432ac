package chat

import (
	"github.com/gemini-balance/gemini_balance/internal/gemini"
	"github.com/gemini-balance/gemini_balance/internal/models"
)

// lowestThinking is the thinkingConfig that thinks least: off where the model
// allows it, else its minimum.
func lowestThinking(model string) *gemini.ThinkingConfig {
	if models.ThinksByLevel(model) {
		if models.IsPro(model) {
			return &gemini.ThinkingConfig{Level: "low"}
		}
		return &gemini.ThinkingConfig{Level: "minimal"}
	}
	if models.IsPro(model) {
		return &gemini.ThinkingConfig{Budget: intPtr(128)}
	}
	return &gemini.ThinkingConfig{Budget: intPtr(0)}
}

func intPtr(v int) *int { return &v }

// effortThinking maps reasoning_effort the way Google's OpenAI-compatible
// endpoint documents it: on 2.5 models low/medium/high are 1024/8192/24576
// thinking tokens and none turns thinking off (minimal is 1024, xhigh 24576);
// Gemini 3 models get thinkingLevel low for minimal/low and high for
// medium/high/xhigh (the levels every Gemini 3 model accepts), and none is the
// lowest level the model has.
func effortThinking(effort, model string) *gemini.ThinkingConfig {
	if effort == "none" {
		return lowestThinking(model)
	}
	if models.ThinksByLevel(model) {
		switch effort {
		case "minimal", "low":
			return &gemini.ThinkingConfig{Level: "low"}
		default:
			return &gemini.ThinkingConfig{Level: "high"}
		}
	}
	switch effort {
	case "minimal", "low":
		return &gemini.ThinkingConfig{Budget: intPtr(1024)}
	case "medium":
		return &gemini.ThinkingConfig{Budget: intPtr(8192)}
	default:
		return &gemini.ThinkingConfig{Budget: intPtr(24576)}
	}
}
