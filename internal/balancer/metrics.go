package balancer

import (
	"github.com/gemini-balance/gemini_balance/internal/metrics"
	"go.uber.org/zap"
)

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

// dbFailed logs a failed database operation with log (the pool logger's
// Warn or Error) and counts it for gemini_balance_database_errors_total.
func (b *Balancer) dbFailed(log func(string, ...zap.Field), msg string, fields ...zap.Field) {
	log(msg, fields...)
	b.dbErrors.Add(1)
}
