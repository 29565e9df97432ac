package models

import (
	"reflect"
	"testing"
)

func TestResolve(t *testing.T) {
	a := NewAliases([]string{"gemini-2.5-flash", "models/gemini-2.5-pro"}, []string{"gemini-2.0-flash-exp", "gemini-2.5-flash"},
		[]string{"gemini-2.5-flash"}, []string{"gemini-pro-vision"})
	upstream := map[string]bool{"gemini-2.5-flash": true, "gemini-2.5-flash-image": true, "gemini-2.5-pro": true}
	known := func(m string) bool { return upstream[m] }
	cases := []struct {
		in   string
		want Resolved
	}{
		{"gemini-2.5-flash", Resolved{Requested: "gemini-2.5-flash", Upstream: "gemini-2.5-flash"}},
		{"models/gemini-2.5-pro-search", Resolved{Requested: "gemini-2.5-pro-search", Upstream: "gemini-2.5-pro", Search: true}},
		{"gemini-2.5-flash-non-thinking", Resolved{Requested: "gemini-2.5-flash-non-thinking", Upstream: "gemini-2.5-flash", NonThinking: true}},
		{"gemini-2.0-flash-exp-image", Resolved{Requested: "gemini-2.0-flash-exp-image", Upstream: "gemini-2.0-flash-exp", Image: true}},
		// A real upstream model is never read as an alias, even when its base is configured.
		{"gemini-2.5-flash-image", Resolved{Requested: "gemini-2.5-flash-image", Upstream: "gemini-2.5-flash-image"}},
		// A suffix on a base that is not configured is no alias.
		{"gemini-2.0-flash-search", Resolved{Requested: "gemini-2.0-flash-search", Upstream: "gemini-2.0-flash-search"}},
	}
	for _, c := range cases {
		if got := a.Resolve(c.in, known); got != c.want {
			t.Errorf("Resolve(%q) = %+v, want %+v", c.in, got, c.want)
		}
	}
	// Without an upstream list the configured alias applies.
	if got := a.Resolve("gemini-2.5-flash-image", nil); !got.Image || got.Upstream != "gemini-2.5-flash" {
		t.Errorf("without upstream list: %+v", got)
	}
	if !a.Filtered("models/gemini-pro-vision") || a.Filtered("gemini-2.5-flash") {
		t.Error("Filtered")
	}
}

func TestVisible(t *testing.T) {
	a := NewAliases([]string{"a"}, []string{"b"}, []string{"a"}, []string{"hidden"})
	got := a.Visible([]string{"models/a", "models/b", "models/hidden", "models/c"})
	want := []string{"a", "a-search", "a-non-thinking", "b", "b-image", "c"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Visible = %v, want %v", got, want)
	}
}
