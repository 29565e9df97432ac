package balancer

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/gemini-balance/gemini_balance/internal/affinity"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/store"
)

// resourceFlushEvery is how often recorded resources are written.
const resourceFlushEvery = time.Second

// Instances of one pool share key affinity. gb_resources is written about a
// second after a resource is recorded and is read only at start, so each
// Put and Delete also goes out as a key event (sync.go): the other instances
// apply it to their registry within about half a second, without a database
// read on the request path. Rows and events carry the same record, so an
// instance that starts reads the table, and one pass again after
// resourceCatchUp finds the rows whose events it started too late to see
// (the event was older than its cursor, the row not yet written).
const (
	resourceCatchUp = 3 * resourceFlushEvery
	// maxSharedName: a longer name does not fit the event's reason column
	// and is not shared (Google's names are far shorter).
	maxSharedName = 1000
)

// Resources is the registry of owned files, caches, batches and operations.
func (b *Balancer) Resources() *affinity.Registry { return b.resources }

// restoreResources loads the stored registry (at start) and starts sharing
// this instance's changes of it.
func (b *Balancer) restoreResources() {
	b.resources.OnChange(b.shareResource)
	list, err := b.storedResources()
	if err != nil {
		b.dbFailed(b.logger.Error, "cannot load file, cache and batch owners from the database", zap.Error(err))
		return
	}
	b.resources.Load(list, b.now())
}

func (b *Balancer) storedResources() ([]affinity.Record, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs, err := b.store.LoadResources(ctx, b.name, b.now())
	if err != nil {
		return nil, err
	}
	list := make([]affinity.Record, len(recs))
	for i, r := range recs {
		list[i] = affinity.Record{Name: r.Name, KeyID: r.KeyID, TokenHash: r.TokenHash, Expires: r.ExpiresAt, Created: r.CreatedAt}
	}
	return list, nil
}

// catchUpResources adds the stored records not held yet (once, after start).
func (b *Balancer) catchUpResources() {
	list, err := b.storedResources()
	if err != nil {
		b.dbFailed(b.logger.Warn, "cannot read file, cache and batch owners of other instances", zap.Error(err))
		return
	}
	if n := b.resources.LoadMissing(list, b.now()); n > 0 {
		b.logger.Debug("file, cache and batch owners found after start", zap.Int("count", n))
	}
}

// shareResource queues a change of the registry for the other instances.
// It runs on the request path: it only appends to the outbox.
func (b *Balancer) shareResource(rec affinity.Record, deleted bool) {
	if b.store == nil || len(rec.Name) > maxSharedName {
		return
	}
	e := store.KeyEvent{Pool: b.name, Instance: b.shared.instance, Kind: store.EventResource,
		KeyIDs: []string{rec.KeyID}, Model: rec.TokenHash, Until: rec.Expires, Reason: rec.Name, At: rec.Created}
	if deleted {
		e = store.KeyEvent{Pool: b.name, Instance: b.shared.instance, Kind: store.EventResourceGone, Reason: rec.Name, At: b.now()}
	}
	s := b.shared
	s.mu.Lock()
	if s.outbox.push(e, outboxLimit) {
		s.dropped.Add(1)
	}
	s.mu.Unlock()
}

// applyResourceEvent applies another instance's resource event to the
// registry (in memory only: that instance writes the row). A late event
// yields to a later one of the same name already applied.
func (b *Balancer) applyResourceEvent(e store.KeyEvent, late bool) {
	s := b.shared
	name := e.Reason
	if name == "" || (late && s.lastRes[name] > e.ID) {
		return
	}
	if e.Instance != s.instance {
		switch e.Kind {
		case store.EventResource:
			if len(e.KeyIDs) == 1 {
				b.resources.Load([]affinity.Record{{Name: name, KeyID: e.KeyIDs[0], TokenHash: e.Model,
					Expires: e.Until, Created: e.At}}, b.now())
			}
		case store.EventResourceGone:
			b.resources.Forget(name)
		}
	}
	s.lastRes[name] = max(s.lastRes[name], e.ID)
}

// resourceLoop writes the registry's changes every second, off the request path.
func (b *Balancer) resourceLoop() {
	defer b.wg.Done()
	if b.store == nil {
		// No database: upkeep does not run, so expired records are
		// dropped from memory here.
		t := time.NewTicker(upkeepEvery)
		defer t.Stop()
		for {
			select {
			case <-b.stop:
				return
			case <-t.C:
				b.resources.Purge(b.now())
			}
		}
	}
	t := time.NewTicker(resourceFlushEvery)
	defer t.Stop()
	catchUp := time.NewTimer(resourceCatchUp)
	defer catchUp.Stop()
	for {
		select {
		case <-b.stop:
			b.flushResources()
			return
		case <-t.C:
			b.flushResources()
		case <-catchUp.C:
			b.catchUpResources()
		}
	}
}

// FlushResources writes the registry's queued changes now (tests, shutdown).
func (b *Balancer) FlushResources() { b.flushResources() }

func (b *Balancer) flushResources() {
	if b.store == nil {
		return
	}
	puts, deletes := b.resources.TakeChanges()
	if len(puts) == 0 && len(deletes) == 0 {
		return
	}
	recs := make([]store.ResourceRecord, len(puts))
	for i, r := range puts {
		recs[i] = store.ResourceRecord{Name: r.Name, KeyID: r.KeyID, TokenHash: r.TokenHash, ExpiresAt: r.Expires, CreatedAt: r.Created}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.store.SaveResources(ctx, b.name, recs, deletes); err != nil {
		b.resources.Requeue(puts, deletes)
		b.dbFailed(b.logger.Warn, "cannot save file, cache and batch owners; will retry", zap.Error(err))
	}
}

// PurgeResources forgets the resources past their expiry, in memory and in
// the database, and reports how many the database held.
func (b *Balancer) PurgeResources(ctx context.Context) int64 {
	now := b.now()
	b.resources.Purge(now)
	if b.store == nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	n, err := b.store.PurgeResources(ctx, b.name, now)
	if err != nil {
		b.dbFailed(b.logger.Warn, "cannot purge expired file, cache and batch owners", zap.Error(err))
	}
	return n
}

// ownerUnavailable is the answer for a call pinned to a key that cannot serve
// it now: the resource cannot move to another key, so the client is told
// why. Nil when the key may be used.
func (b *Balancer) ownerUnavailable(call *Call) *Failure {
	k := call.OwnerKey
	now := b.now()
	res := call.Resource
	if res == "" {
		res = "this resource"
	}
	if k.Status() == keypool.Invalid {
		reason := k.Snapshot(now).Reason
		if reason == "" {
			reason = "failed its checks"
		}
		return b.ownFailure(http.StatusServiceUnavailable, "owner_invalid", fmt.Sprintf(
			"%s belongs to key %s, which is invalid (%s); it cannot be used with another key", res, k.Masked(), reason), nil)
	}
	if until := k.CoolingUntil(call.Model, now); !until.IsZero() {
		h := http.Header{}
		h.Set("Retry-After", retryAfter(until, now))
		return b.ownFailure(http.StatusTooManyRequests, "owner_cooling", fmt.Sprintf(
			"%s belongs to key %s, which is cooling down after a rate limit until %s; it cannot be used with another key",
			res, k.Masked(), until.UTC().Format(time.RFC3339)), h)
	}
	return nil
}

// OwnerMissing is the answer for a resource whose owning key has left the pool.
func (b *Balancer) OwnerMissing(resource string) *Failure {
	return b.ownFailure(http.StatusServiceUnavailable, "owner_removed", fmt.Sprintf(
		"%s belongs to a key that is no longer in this pool; it cannot be used with another key", resource), nil)
}
