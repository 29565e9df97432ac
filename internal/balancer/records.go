package balancer

import (
	"context"
	"errors"

	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/store"
)

// The pool's records as operators read them: statistics and logs. Each
// answers ErrNoLogs when the pool has no database.

// ErrNoLogs says the pool keeps no statistics or logs: it has no database.
var ErrNoLogs = errors.New("no database: logs are not kept")

// Stats is the dashboard's data.
type Stats struct {
	store.UsageStats
	// Pool and Provider say whose counts these are: a request served by a
	// fallback pool is counted (and logged) by that pool.
	Pool          string         `json:"pool"`
	Provider      string         `json:"provider"`
	Keys          keypool.Counts `json:"keys"`
	DroppedLogs   int64          `json:"dropped_logs"`
	DatabaseError string         `json:"database_error,omitempty"`
}

// Stats gathers the usage statistics and the key counts. Without a database
// it answers the counts with DatabaseError set and no error; err is the
// database's failure to read.
func (b *Balancer) Stats(ctx context.Context) (Stats, error) {
	now := b.now()
	out := Stats{Keys: b.ring.Counts(now), Pool: b.name, Provider: string(b.Provider())}
	if b.store == nil {
		out.DatabaseError = "no database: statistics are not kept"
		return out, nil
	}
	s, err := b.store.UsageStats(ctx, b.name, now)
	if err != nil {
		return Stats{}, err
	}
	out.UsageStats = s
	out.DroppedLogs = b.store.Stats().Dropped
	return out, nil
}

// HasLogs reports whether the pool keeps logs (it has a database).
func (b *Balancer) HasLogs() bool { return b.store != nil }

// RequestLogs lists the pool's request log entries f selects, and how many
// there are in all.
func (b *Balancer) RequestLogs(ctx context.Context, f store.LogFilter) ([]store.RequestLog, int64, error) {
	if b.store == nil {
		return nil, 0, ErrNoLogs
	}
	return b.store.QueryRequestLogs(ctx, b.name, f)
}

// ErrorLogs lists the pool's error log entries f selects, and how many there
// are in all.
func (b *Balancer) ErrorLogs(ctx context.Context, f store.LogFilter) ([]store.ErrorLog, int64, error) {
	if b.store == nil {
		return nil, 0, ErrNoLogs
	}
	return b.store.QueryErrorLogs(ctx, b.name, f)
}

// ErrorLog is one error log entry in full (store.ErrNotFound when none).
func (b *Balancer) ErrorLog(ctx context.Context, id int64) (store.ErrorLog, error) {
	if b.store == nil {
		return store.ErrorLog{}, ErrNoLogs
	}
	return b.store.ErrorLogByID(ctx, b.name, id)
}

// DeleteRequestLogs deletes request log entries by ID; nil ids deletes all.
func (b *Balancer) DeleteRequestLogs(ctx context.Context, ids []int64) (int64, error) {
	if b.store == nil {
		return 0, ErrNoLogs
	}
	return b.store.DeleteRequestLogs(ctx, b.name, ids)
}

// DeleteErrorLogs deletes error log entries by ID; nil ids deletes all.
func (b *Balancer) DeleteErrorLogs(ctx context.Context, ids []int64) (int64, error) {
	if b.store == nil {
		return 0, ErrNoLogs
	}
	return b.store.DeleteErrorLogs(ctx, b.name, ids)
}
