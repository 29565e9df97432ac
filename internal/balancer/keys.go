package balancer

import (
	"context"
	"strings"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/store"
)

// The operators' view of the keys: what the admin API and the console ask of
// a pool. The rules (key shape, search, masked forms) live in keypool.

// KeyFilter picks keys for a listing or an export.
type KeyFilter struct {
	Condition string // "", "active", "cooling" or "invalid" (keypool.Key.Condition)
	Q         string // search text (keypool.Key.Matches)
}

func (f KeyFilter) keep(k *keypool.Key, now time.Time) bool {
	return (f.Condition == "" || k.Condition(now) == f.Condition) && k.Matches(f.Q)
}

// ListKeys returns the keys at [offset, offset+limit) of those f keeps, in
// pool order, and how many f keeps.
func (b *Balancer) ListKeys(f KeyFilter, offset, limit int) (page []*keypool.Key, total int) {
	now := b.now()
	var matched []*keypool.Key
	for _, k := range b.ring.Keys() {
		if f.keep(k, now) {
			matched = append(matched, k)
		}
	}
	if offset < len(matched) {
		page = matched[offset:min(offset+limit, len(matched))]
	}
	return page, len(matched)
}

// KeyCounts tallies the keys by state now.
func (b *Balancer) KeyCounts() keypool.Counts { return b.ring.Counts(b.now()) }

// KeyByID finds a key by its ID; nil when the pool has none.
func (b *Balancer) KeyByID(id string) *keypool.Key { return b.ring.Get(id) }

// KeyCalls24h counts the calls each key made in the last 24 hours, by whole
// UTC hours (the current one and the 23 before it: the rollups' buckets, no
// read of the rows); empty without a database or when it fails (the counts
// are only informative).
func (b *Balancer) KeyCalls24h(ctx context.Context, keys []*keypool.Key) map[string]int64 {
	if b.store == nil || len(keys) == 0 {
		return map[string]int64{}
	}
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID()
	}
	c, err := b.store.KeyCallsFor(ctx, b.name, b.now().Truncate(time.Hour).Add(-23*time.Hour), ids)
	if err != nil {
		return map[string]int64{}
	}
	return c
}

// ExportKeys returns the whole keys in the given condition ("" for all).
func (b *Balancer) ExportKeys(condition string) []string {
	now := b.now()
	keys := []string{}
	for _, k := range b.ring.Keys() {
		if condition == "" || k.Condition(now) == condition {
			keys = append(keys, k.Secret())
		}
	}
	return keys
}

// AddResult says what happened to each submitted key.
type AddResult struct {
	Added      int      `json:"added"`
	Duplicates int      `json:"duplicates"`
	Rejected   []string `json:"rejected"`
	Persisted  bool     `json:"persisted"`
}

// AddKeys checks the shape of each raw key, skips those already in the pool
// (or given twice), stores the rest and puts them in rotation. Without a
// database they serve until the pool stops (Persisted false); when the
// database refuses them, none are added and the error says why.
func (b *Balancer) AddKeys(ctx context.Context, raw []string, source string) (AddResult, error) {
	res := AddResult{Rejected: []string{}}
	seen := map[string]bool{}
	var fresh []*keypool.Key
	for _, k := range raw {
		k = strings.TrimSpace(k)
		if why := keypool.CheckShape(k); why != "" {
			res.Rejected = append(res.Rejected, keypool.MaskLoose(k)+": "+why)
			continue
		}
		key := keypool.NewKey(k, source)
		if seen[key.ID()] || b.ring.Get(key.ID()) != nil {
			res.Duplicates++
			continue
		}
		seen[key.ID()] = true
		fresh = append(fresh, key)
	}
	if err := b.insertKeys(ctx, fresh); err != nil {
		return AddResult{}, err
	}
	b.ring.Add(fresh...)
	b.emit(store.EventAdded, keyIDs(fresh), "", time.Time{}, "")
	res.Added, res.Persisted = len(fresh), b.store != nil
	return res, nil
}

// DeleteResult says what a delete did.
type DeleteResult struct {
	Deleted       int      `json:"deleted"`
	NotFound      []string `json:"not_found"`
	Ambiguous     []string `json:"ambiguous"`
	FromCaddyfile int      `json:"from_caddyfile"`
}

// DeleteKeys takes the keys named by refs (full, ID or masked forms, see
// keypool.Ring.Resolve) out of the key ring and the database.
func (b *Balancer) DeleteKeys(ctx context.Context, refs []string) (DeleteResult, error) {
	found, notFound, ambiguous := b.ring.Resolve(refs)
	res := DeleteResult{NotFound: nonNil(notFound), Ambiguous: nonNil(ambiguous)}
	ids := make([]string, len(found))
	for i, k := range found {
		ids[i] = k.ID()
		if k.Source() == keypool.SourceCaddyfile {
			res.FromCaddyfile++
		}
	}
	if b.store != nil && len(ids) > 0 {
		if _, err := b.store.DeleteKeys(ctx, b.name, ids); err != nil {
			return DeleteResult{}, err
		}
	}
	res.Deleted = len(b.ring.Remove(ids...))
	b.emit(store.EventDeleted, ids, "", time.Time{}, "")
	return res, nil
}

// selectKeys picks the keys a check or reset is about: those refs name, or
// every key fallback keeps when refs is empty. unknown lists the refs that
// name no key or several.
func (b *Balancer) selectKeys(refs []string, fallback func(*keypool.Key) bool) (keys []*keypool.Key, unknown []string) {
	if len(refs) == 0 {
		for _, k := range b.ring.Keys() {
			if fallback(k) {
				keys = append(keys, k)
			}
		}
		return keys, []string{}
	}
	found, notFound, ambiguous := b.ring.Resolve(refs)
	return found, nonNil(append(notFound, ambiguous...))
}

// CheckKeys probes the keys refs names, or every invalid key when refs is
// empty (see probeKeys); unknown lists the refs that name no single key.
func (b *Balancer) CheckKeys(ctx context.Context, refs []string) (results []CheckResult, unknown []string) {
	keys, unknown := b.selectKeys(refs, func(k *keypool.Key) bool { return k.Status() == keypool.Invalid })
	return b.probeKeys(ctx, keys), unknown
}

// ResetKeys returns the keys refs names, or every key when refs is empty, to
// active with no cooldowns; it reports how many and the refs that name no
// single key.
func (b *Balancer) ResetKeys(refs []string) (reset int, unknown []string) {
	keys, unknown := b.selectKeys(refs, func(*keypool.Key) bool { return true })
	for _, k := range keys {
		k.Reactivate("reset by an operator")
	}
	b.emit(store.EventReset, keyIDs(keys), "", time.Time{}, "reset by an operator")
	return len(keys), unknown
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
