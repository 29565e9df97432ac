package balancer

import (
	"testing"

	"github.com/gemini-balance/gemini_balance/internal/provider"
	"github.com/gemini-balance/gemini_balance/internal/settings"
)

// openPool opens an in-memory pool of kind on baseURL.
func openPool(t *testing.T, name string, kind provider.Kind, baseURL string, keys []string, mutate func(*settings.Settings)) *Balancer {
	t.Helper()
	s := settings.DefaultsFor(kind)
	if baseURL != "" {
		s.BaseURL = baseURL
	}
	s.CheckInterval = 0
	if mutate != nil {
		mutate(&s)
	}
	b, err := Open(Config{Name: name, Keys: keys, Settings: s, Provider: kind}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func chainNames(c []*Balancer) []string {
	var names []string
	for _, b := range c {
		names = append(names, b.Name())
	}
	return names
}

func sameNames(got, want []string) bool {
	if len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// The chain is the pool, then each fallback followed depth-first by its
// own fallbacks, each pool once; a cycle does not loop.
func TestChainOrderAndCycles(t *testing.T) {
	keys := []string{"AIzaSyCHAIN0000000000000000000000000000"}
	a := openPool(t, "a", provider.Gemini, "", keys, nil)
	b := openPool(t, "b", provider.OpenAI, "", keys, nil)
	c := openPool(t, "c", provider.VertexExpress, "", keys, nil)
	d := openPool(t, "d", provider.Gemini, "", keys, nil)

	if got := chainNames(a.Chain()); !sameNames(got, []string{"a"}) {
		t.Errorf("no fallbacks: chain = %v", got)
	}
	a.SetFallbacks([]*Balancer{b, d})
	b.SetFallbacks([]*Balancer{c})
	if got := chainNames(a.Chain()); !sameNames(got, []string{"a", "b", "c", "d"}) {
		t.Errorf("a's chain = %v, want a b c d (b's fallback before a's second)", got)
	}
	if got := chainNames(b.Chain()); !sameNames(got, []string{"b", "c"}) {
		t.Errorf("b's chain = %v", got)
	}
	// a → b → a and b → c → a: each pool once, no endless walk.
	b.SetFallbacks([]*Balancer{a, c})
	c.SetFallbacks([]*Balancer{a, b})
	if got := chainNames(a.Chain()); !sameNames(got, []string{"a", "b", "c", "d"}) {
		t.Errorf("cyclic chain from a = %v", got)
	}
	if got := chainNames(b.Chain()); !sameNames(got, []string{"b", "a", "d", "c"}) {
		t.Errorf("cyclic chain from b = %v", got)
	}
	if got := chainNames(c.Chain()); !sameNames(got, []string{"c", "a", "b", "d"}) {
		t.Errorf("cyclic chain from c = %v", got)
	}
	// Clearing fallbacks shortens the chain again.
	a.SetFallbacks(nil)
	if got := chainNames(a.Chain()); !sameNames(got, []string{"a"}) {
		t.Errorf("cleared: chain = %v", got)
	}
}

func TestProviderAndFallbackNames(t *testing.T) {
	s := settings.DefaultsFor(provider.OpenAI)
	s.CheckInterval = 0
	b, err := Open(Config{Name: "p", Keys: []string{"sk-x"}, Settings: s, Provider: provider.OpenAI, Fallback: []string{"q", "r"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if b.Provider() != provider.OpenAI || !sameNames(b.FallbackNames(), []string{"q", "r"}) {
		t.Errorf("provider %q, fallback %v", b.Provider(), b.FallbackNames())
	}
	g := openPool(t, "g", "", "", []string{"k"}, nil)
	if g.Provider() != provider.Gemini && g.Provider() != "" {
		t.Errorf("default provider = %q", g.Provider())
	}
}

func TestMapModel(t *testing.T) {
	b := openPool(t, "m", provider.OpenAI, "", []string{"sk-x"}, func(s *settings.Settings) {
		s.ModelMap = map[string]string{"gemini-2.5-flash": "deepseek-chat", "gemini-2.5-pro": "deepseek-reasoner"}
	})
	for from, want := range map[string]string{
		"gemini-2.5-flash": "deepseek-chat", "gemini-2.5-pro": "deepseek-reasoner",
		"gpt-4o": "gpt-4o", "": "", "gemini-2.5-flash-lite": "gemini-2.5-flash-lite",
	} {
		if got := b.MapModel(from); got != want {
			t.Errorf("MapModel(%q) = %q, want %q", from, got, want)
		}
	}
	plain := openPool(t, "plain", provider.Gemini, "", []string{"k"}, nil)
	if got := plain.MapModel("gemini-2.5-flash"); got != "gemini-2.5-flash" {
		t.Errorf("without model_map: %q", got)
	}
}
