package caddymodule

import (
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/metrics"
)

func init() {
	caddy.RegisterModule(App{})
}

// App is apps.gemini_balance: every pool of a configuration. Pools declared
// in the global options live here (they may serve only as fallbacks);
// handler blocks add theirs while they are provisioned. Once all are known
// (Start), each pool's fallback names are resolved to pools. The pools
// themselves outlive reloads in the package's UsagePool.
type App struct {
	// Pools are the pools declared in the global options: each is a
	// handler block's pool fields (the console and body limits belong to
	// handler blocks and are refused here).
	Pools []*Handler `json:"pools,omitempty"`

	// Caddy provisions a configuration's modules one after another and
	// starts the apps after that, so these need no lock.
	declared map[string]*balancer.Balancer // Pools, provisioned
	all      map[string]*balancer.Balancer // every pool of the configuration
	held     []string                      // UsagePool keys this app holds
	logger   *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "gemini_balance",
		New: func() caddy.Module { return new(App) },
	}
}

// Provision opens (or, on a reload, re-configures) the declared pools.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	if err := metrics.Register(ctx.GetMetricsRegistry()); err != nil {
		return err
	}
	a.declared = map[string]*balancer.Balancer{}
	a.all = map[string]*balancer.Balancer{}
	for _, p := range a.Pools {
		if p.Pool == "" {
			return fmt.Errorf("a pool in the global options needs a name: gemini_balance <name> { … }")
		}
		if _, dup := a.declared[p.Pool]; dup {
			return fmt.Errorf("pool %q is declared twice in the global options", p.Pool)
		}
		if p.Console != "" || p.MaxBodyBytes != 0 || p.MaxUploadBytes != 0 || p.ImagePath != "" {
			return fmt.Errorf("pool %q: console, image_path, max_body_size and max_upload_size belong in a site's gemini_balance block, not in the global options", p.Pool)
		}
		cfg, err := p.balancerConfig()
		if err != nil {
			return fmt.Errorf("pool %q: %v", p.Pool, err)
		}
		b, err := acquirePool(cfg, a.logger)
		if err != nil {
			return fmt.Errorf("pool %q: %v", p.Pool, err)
		}
		a.held = append(a.held, p.Pool)
		a.declared[p.Pool] = b
		a.all[p.Pool] = b
	}
	return nil
}

// declaredPool is the pool the global options declare under name, or nil.
func (a *App) declaredPool(name string) *balancer.Balancer { return a.declared[name] }

// adopt adds a handler block's pool to the configuration's pools.
func (a *App) adopt(b *balancer.Balancer) {
	a.all[b.Name()] = b
}

// Start resolves every pool's fallback names; a name that is not a pool of
// this configuration fails the load, as a typo should.
func (a *App) Start() error {
	chains := map[*balancer.Balancer][]*balancer.Balancer{}
	for name, b := range a.all {
		var next []*balancer.Balancer
		for _, fb := range b.FallbackNames() {
			target, ok := a.all[fb]
			switch {
			case !ok:
				return fmt.Errorf("pool %q: fallback %q is not a pool of this configuration; declare it in the global options (gemini_balance %s { … }) or in a site", name, fb, fb)
			case target == b:
				return fmt.Errorf("pool %q: a pool cannot fall back to itself", name)
			}
			next = append(next, target)
		}
		chains[b] = next
	}
	for b, next := range chains {
		b.SetFallbacks(next)
	}
	return nil
}

// Stop does nothing: the pools stop when no configuration holds them (Cleanup).
func (a *App) Stop() error { return nil }

// Cleanup releases the declared pools; each closes when no configuration
// uses it any more.
func (a *App) Cleanup() error {
	var first error
	for _, name := range a.held {
		if _, err := pools.Delete(name); err != nil && first == nil {
			first = err
		}
	}
	a.held = nil
	return first
}

// appOf returns the configuration's gemini_balance app, loading it if the
// configuration has none (it then holds only handler pools). A context
// without a configuration (a module loaded on its own, in unit tests) has
// no app: nil.
func appOf(ctx caddy.Context) (app *App, err error) {
	defer func() {
		if recover() != nil {
			app, err = nil, nil
		}
	}()
	v, err := ctx.App("gemini_balance")
	if err != nil {
		return nil, err
	}
	return v.(*App), nil
}

// Interface guards
var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
