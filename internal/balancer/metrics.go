package balancer

import "github.com/gemini-balance/gemini_balance/internal/metrics"

// MetricsState is what the pool's gauges show at a scrape: key counts by
// state, the log queue, dropped log rows and failed database operations
// (the pool's own and the log writer's).
func (b *Balancer) MetricsState() metrics.PoolState {
	c := b.ring.Counts(b.now())
	s := metrics.PoolState{Name: b.name, Active: c.Active, Cooling: c.Cooling, Invalid: c.Invalid,
		DatabaseErrors: b.dbErrors.Load()}
	if b.store != nil {
		st := b.store.Stats()
		s.LogQueue, s.LogDropped = st.Pending, st.Dropped
		s.DatabaseErrors += st.WriteErrors
	}
	return s
}
