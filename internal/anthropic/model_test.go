package anthropic

import "testing"

func TestMapModel(t *testing.T) {
	table := map[string]string{"claude-sonnet-4-5": "gemini-3-pro-preview", "claude-sonnet": "gemini-2.5-pro", "gpt-": "gemini-2.5-flash-lite"}
	cases := []struct {
		name  string
		table map[string]string
		want  string
	}{
		{"claude-opus-4-1-20250805", nil, "gemini-2.5-pro"},
		{"claude-sonnet-4-5-20250929", nil, "gemini-2.5-flash"},
		{"claude-haiku-4-5", nil, "gemini-2.5-flash-lite"},
		{"claude-3-5-haiku-20241022", nil, "gemini-2.5-flash-lite"},
		{"claude-3-opus-latest", nil, "gemini-2.5-pro"},
		{"claude-instant-1.2", nil, "gemini-2.5-flash"},
		{"Claude-Opus-4", nil, "gemini-2.5-pro"},
		{"gemini-2.5-pro", nil, "gemini-2.5-pro"},
		{"gemini-3-flash-preview", nil, "gemini-3-flash-preview"},
		// The table wins, longest prefix first; defaults fill the rest.
		{"claude-sonnet-4-5-20250929", table, "gemini-3-pro-preview"},
		{"claude-sonnet-4-20250514", table, "gemini-2.5-pro"},
		{"claude-opus-4", table, "gemini-2.5-pro"},
		{"claude-haiku-4-5", table, "gemini-2.5-flash-lite"},
		{"gpt-4o", table, "gemini-2.5-flash-lite"},
	}
	for _, c := range cases {
		if got := MapModel(c.name, c.table); got != c.want {
			t.Errorf("MapModel(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}
