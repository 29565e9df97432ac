package provider

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for in, want := range map[string]Kind{"": Gemini, "gemini": Gemini, "vertex_express": VertexExpress, "openai": OpenAI} {
		if got, err := Parse(in); err != nil || got != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"bogus", "OpenAI", "vertex", " gemini"} {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), "use gemini, vertex_express or openai") {
			t.Errorf("Parse(%q) err = %v", in, err)
		}
	}
}

func TestModelPath(t *testing.T) {
	cases := []struct {
		kind          Kind
		model, action string
		want          string
		ok            bool
	}{
		{Gemini, "gemini-2.5-flash", "generateContent", "/models/gemini-2.5-flash:generateContent", true},
		{Gemini, "gemini-2.5-flash", "embedContent", "/models/gemini-2.5-flash:embedContent", true},
		{Gemini, "a/b", "countTokens", "/models/a%2Fb:countTokens", true},
		{VertexExpress, "gemini-2.5-flash", "generateContent", "/publishers/google/models/gemini-2.5-flash:generateContent", true},
		{VertexExpress, "gemini-2.5-flash", "streamGenerateContent", "/publishers/google/models/gemini-2.5-flash:streamGenerateContent", true},
		{VertexExpress, "gemini-2.5-flash", "countTokens", "/publishers/google/models/gemini-2.5-flash:countTokens", true},
		{VertexExpress, "gemini-2.5-flash", "embedContent", "/publishers/google/models/gemini-2.5-flash:embedContent", false},
		{VertexExpress, "gemini-2.5-flash", "batchGenerateContent", "", false},
		{OpenAI, "gpt-4o", "generateContent", "", false},
	}
	for _, c := range cases {
		got, ok := c.kind.ModelPath(c.model, c.action)
		if ok != c.ok || (c.ok && got != c.want) || (c.want != "" && got != c.want) {
			t.Errorf("%s.ModelPath(%q, %q) = %q, %v; want %q, %v", c.kind, c.model, c.action, got, ok, c.want, c.ok)
		}
	}
}

func TestKindProperties(t *testing.T) {
	if !OpenAI.Bearer() || Gemini.Bearer() || VertexExpress.Bearer() {
		t.Error("only openai sends the key as a Bearer token")
	}
	if OpenAI.SpeaksGemini() || !Gemini.SpeaksGemini() || !VertexExpress.SpeaksGemini() {
		t.Error("SpeaksGemini")
	}
	for k, want := range map[Kind]string{Gemini: "https://generativelanguage.googleapis.com/v1beta",
		VertexExpress: "https://aiplatform.googleapis.com/v1", OpenAI: "https://api.openai.com/v1"} {
		if got := k.DefaultBaseURL(); got != want {
			t.Errorf("%s.DefaultBaseURL() = %q", k, got)
		}
	}
	if len(Kinds) != 3 {
		t.Errorf("Kinds = %v", Kinds)
	}
}
