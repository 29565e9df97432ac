package balancer

import (
	"net/http"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/failure"
	"github.com/gemini-balance/gemini_balance/internal/provider"
	"github.com/gemini-balance/gemini_balance/internal/secret"
)

// poolRoute is what the configuration says about where the pool's requests
// go: its provider and the pools it falls back to, by name.
type poolRoute struct {
	provider provider.Kind
	fallback []string
}

// Provider is the kind of upstream the pool's keys are for.
func (b *Balancer) Provider() provider.Kind { return b.route.Load().provider }

// FallbackNames are the pools the configuration names after `fallback`.
func (b *Balancer) FallbackNames() []string { return b.route.Load().fallback }

// SetFallbacks installs the pools a request goes to, in order, when this
// pool cannot serve it (the configuration's `fallback`, resolved by the
// app once every pool of the configuration is known).
func (b *Balancer) SetFallbacks(pools []*Balancer) { b.fallbacks.Store(&pools) }

// Chain is the pools a request to this pool may be served by, in order:
// the pool, then each fallback followed by that pool's own fallbacks, each
// pool once.
func (b *Balancer) Chain() []*Balancer {
	if fb := b.fallbacks.Load(); fb == nil || len(*fb) == 0 {
		return b.alone // no allocation on the hot path; callers only read it
	}
	chain := []*Balancer{b}
	var walk func(p *Balancer)
	walk = func(p *Balancer) {
		fb := p.fallbacks.Load()
		if fb == nil {
			return
		}
		for _, next := range *fb {
			if !containsPool(chain, next) {
				chain = append(chain, next)
				walk(next)
			}
		}
	}
	walk(b)
	return chain
}

func containsPool(list []*Balancer, p *Balancer) bool {
	for _, q := range list {
		if q == p {
			return true
		}
	}
	return false
}

// MapModel is the name model goes upstream as in this pool (model_map).
func (b *Balancer) MapModel(model string) string {
	if to, ok := b.settings.Load().ModelMap[model]; ok {
		return to
	}
	return model
}

// classify judges an upstream error answer by the provider's rules.
func (b *Balancer) classify(status int, header http.Header, body []byte, now time.Time) failure.Verdict {
	if b.Provider() == provider.OpenAI {
		return failure.ClassifyOpenAI(status, header, body, now)
	}
	return failure.Classify(status, header, body, now)
}

// redactBody hides the key (and, for OpenAI-compatible providers, anything
// shaped like an sk- key) in an upstream body.
func (b *Balancer) redactBody(raw []byte, key string) []byte {
	s := secret.Redact(string(raw), key)
	if b.Provider() == provider.OpenAI {
		s = secret.MaskOpenAIKeys(s)
	}
	return []byte(s)
}

// Dialect of a Failure's body.
const (
	DialectGemini = "gemini" // Google's {"error":{"code","message","status"}}
	DialectOpenAI = "openai" // OpenAI's {"error":{"message","type","code"}}
)
