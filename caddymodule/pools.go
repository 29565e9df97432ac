package caddymodule

import (
	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/console"
)

// pools holds every running pool by name, so key state, connections and the
// database outlive config reloads; the admin API finds pools here too.
var pools = caddy.NewUsagePool()

// livePool adapts a Balancer to caddy.Destructor.
type livePool struct{ *balancer.Balancer }

// Destruct stops the pool when the last config naming it is gone; its
// console sessions go with it.
func (p livePool) Destruct() error {
	console.Forget(p.Name())
	return p.Close()
}

// acquirePool returns the running pool of that name with cfg applied, or
// opens it. Every call must be matched by pools.Delete(cfg.Name).
func acquirePool(cfg balancer.Config, logger *zap.Logger) (*balancer.Balancer, error) {
	v, loaded, err := pools.LoadOrNew(cfg.Name, func() (caddy.Destructor, error) {
		b, err := balancer.Open(cfg, logger.With(zap.String("pool", cfg.Name)))
		if err != nil {
			return nil, err
		}
		return livePool{b}, nil
	})
	if err != nil {
		return nil, err
	}
	b := v.(livePool).Balancer
	if loaded {
		if err := b.Apply(cfg); err != nil {
			_, _ = pools.Delete(cfg.Name)
			return nil, err
		}
	}
	return b, nil
}

// runningPools lists every running pool.
func runningPools() []*balancer.Balancer {
	var all []*balancer.Balancer
	pools.Range(func(_, v any) bool {
		all = append(all, v.(livePool).Balancer)
		return true
	})
	return all
}

// LookupPool finds a running pool by name.
func LookupPool(name string) *balancer.Balancer {
	for _, b := range runningPools() {
		if b.Name() == name {
			return b
		}
	}
	return nil
}
