package balancer

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/store"
)

// Several instances, one pool. Instances (Caddy processes) that name the
// same pool on the same database share its key state through the table of
// key events (store/changes.go):
//
//   - A key state change made here (invalid, a cooldown for a model, reset,
//     passed a check, added, deleted) goes into a bounded in-memory outbox;
//     the request path never writes to the database. flushEvents writes
//     the outbox in one transaction every eventFlushEvery. While the
//     database is down the outbox keeps the newest outboxLimit events,
//     counts those it drops, and is written when the database is back.
//   - pollEvents reads the pool's events with an id above the last one
//     seen every eventPollEvery, skips this instance's own and applies the
//     others' without emitting them again: invalid, reset and checked set
//     the state; a cooldown lasts until the later of the current deadline
//     and the event's; added reads the new rows from gb_keys; deleted takes
//     the keys out of the ring.
//   - Ids can commit out of order (PostgreSQL sequences, concurrent MySQL
//     transactions): an id skipped over is remembered as a gap and asked for
//     again for gapWait. An event found late changes a key only if no later
//     event for that key was applied, so an old reset cannot undo a newer
//     invalid.
//   - A new instance starts after the newest event: the key state it loaded
//     from gb_keys is its base. Events older than eventKeep are purged.
//
// Counters of success (calls, last use, consecutive failures) are not
// shared: each instance persists its own into gb_keys.

// Timings and bounds of the event exchange (variables for tests).
var (
	eventFlushEvery = 200 * time.Millisecond
	eventPollEvery  = 250 * time.Millisecond
	outboxLimit     = 10000
	gapWait         = 10 * time.Second
)

const (
	// eventPage is how many events one read returns.
	eventPage = 500
	// maxGapSpan: a run of more missing ids than this is another pool's
	// traffic, not commits in flight, and is not tracked.
	maxGapSpan = 1000
	// maxGaps bounds the ids remembered as gaps.
	maxGaps = 10000
	// eventKeep is how long events are kept (an instance that starts reads
	// none of them: gb_keys is its base); eventPurgeEvery how often the
	// older ones are deleted.
	eventKeep       = time.Hour
	eventPurgeEvery = time.Hour
)

// The database calls of the exchange; tests replace them to make the
// database fail.
var (
	appendKeyEvents = func(st *store.Store, ctx context.Context, evs []store.KeyEvent) error {
		return st.AppendKeyEvents(ctx, evs)
	}
	keyEventsAfter = func(st *store.Store, ctx context.Context, pool string, after int64) ([]store.KeyEvent, error) {
		return st.KeyEventsAfter(ctx, pool, after, eventPage)
	}
)

// syncer is a balancer's side of the exchange.
type syncer struct {
	instance string // random per Open: tells this instance's events from the others'

	mu      sync.Mutex
	outbox  outbox
	dropped atomic.Int64

	writeErr atomic.Pointer[string]
	readErr  atomic.Pointer[string]

	// Owned by the poll loop.
	cursor      int64
	cursorKnown bool
	gaps        map[int64]time.Time // id -> when it was first missed
	lastSet     map[string]int64    // key id -> id of the last event that set its state
	lastRes     map[string]int64    // resource name -> id of the last resource event applied (resources.go)
	lastPurge   time.Time
}

func newSyncer() *syncer {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return &syncer{instance: hex.EncodeToString(b[:]), gaps: map[int64]time.Time{}, lastSet: map[string]int64{},
		lastRes: map[string]int64{}}
}

// startSync reads where the event log stands and starts the two loops.
// Without a database there is nothing to share.
func (b *Balancer) startSync() {
	if b.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	if id, err := b.store.LastKeyEventID(ctx, b.name); err == nil {
		b.shared.cursor, b.shared.cursorKnown = id, true
	}
	cancel()
	b.wg.Add(2)
	go b.every(eventFlushEvery, b.flushEvents) // the outbox
	// The other instances' changes; old events are purged hourly.
	go b.every(eventPollEvery, func() { b.pollEvents(); b.purgeEvents() })
}

// emit queues a change of keys for the other instances. It never blocks on
// the database: when the outbox is full the oldest event goes.
func (b *Balancer) emit(kind string, ids []string, model string, until time.Time, reason string) {
	if b.store == nil || len(ids) == 0 {
		return
	}
	now := b.now()
	s := b.shared
	s.mu.Lock()
	for len(ids) > 0 {
		n := min(len(ids), store.MaxEventKeys)
		if s.outbox.push(store.KeyEvent{Pool: b.name, Instance: s.instance, Kind: kind,
			KeyIDs: ids[:n:n], Model: model, Until: until, Reason: reason, At: now}, outboxLimit) {
			s.dropped.Add(1)
		}
		ids = ids[n:]
	}
	s.mu.Unlock()
}

// emitKey is emit for one key.
func (b *Balancer) emitKey(kind string, k *keypool.Key, model string, until time.Time, reason string) {
	if b.store == nil {
		return
	}
	b.emit(kind, []string{k.ID()}, model, until, reason)
}

func keyIDs(keys []*keypool.Key) []string {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID()
	}
	return ids
}

// outbox is a ring of events that keeps the newest limit: a push to a full
// ring overwrites the oldest (a copying queue would move all of them).
type outbox struct {
	buf     []store.KeyEvent
	head, n int
}

// push appends e and reports whether the oldest event was dropped for it.
func (o *outbox) push(e store.KeyEvent, limit int) (dropped bool) {
	if o.n > 0 && o.n >= limit && o.n == len(o.buf) {
		o.buf[o.head] = e
		o.head = (o.head + 1) % len(o.buf)
		return true
	}
	if o.n == len(o.buf) {
		grown := make([]store.KeyEvent, max(min(2*len(o.buf), limit), 16, o.n+1))
		o.copyTo(grown)
		o.buf, o.head = grown, 0
	}
	o.buf[(o.head+o.n)%len(o.buf)] = e
	o.n++
	return false
}

func (o *outbox) copyTo(dst []store.KeyEvent) int {
	k := copy(dst, o.buf[o.head:min(o.head+o.n, len(o.buf))])
	return k + copy(dst[k:o.n], o.buf[:o.n-k])
}

// take empties the ring and returns its events, oldest first.
func (o *outbox) take() []store.KeyEvent {
	if o.n == 0 {
		return nil
	}
	out := make([]store.KeyEvent, o.n)
	o.copyTo(out)
	*o = outbox{}
	return out
}

func (o *outbox) len() int { return o.n }

// flushEvents writes the outbox in one transaction; on failure the events
// go back in front of those queued meanwhile, for the next pass.
func (b *Balancer) flushEvents() {
	if b.store == nil {
		return
	}
	s := b.shared
	s.mu.Lock()
	batch := s.outbox.take()
	s.mu.Unlock()
	if len(batch) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := appendKeyEvents(b.store, ctx, batch); err != nil {
		// Back in front of those queued meanwhile, the newest kept.
		s.mu.Lock()
		batch = append(batch, s.outbox.take()...)
		if over := len(batch) - outboxLimit; over > 0 {
			s.dropped.Add(int64(over))
			batch = batch[over:]
		}
		for _, e := range batch {
			s.outbox.push(e, outboxLimit)
		}
		s.mu.Unlock()
		msg := err.Error()
		if old := s.writeErr.Swap(&msg); old == nil {
			b.dbFailed(b.logger.Error, "cannot share key changes with other instances; will retry", zap.String("pool", b.name), zap.Error(err))
		}
		return
	}
	if s.writeErr.Swap(nil) != nil {
		b.logger.Info("key changes shared again", zap.String("pool", b.name), zap.Int64("dropped", s.dropped.Load()))
	}
}

func (b *Balancer) purgeEvents() {
	s := b.shared
	if time.Since(s.lastPurge) < eventPurgeEvery {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := b.store.PurgeKeyEvents(ctx, b.name, time.Now().Add(-eventKeep)); err != nil {
		b.dbFailed(b.logger.Warn, "cannot purge old key events", zap.String("pool", b.name), zap.Error(err))
		return
	}
	s.lastPurge = time.Now()
}

// pollEvents reads and applies what other instances did since the last
// look: first the ids that were missing then, then the new ones.
func (b *Balancer) pollEvents() {
	s := b.shared
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !s.cursorKnown {
		id, err := b.store.LastKeyEventID(ctx, b.name)
		if err != nil {
			b.noteReadErr(err)
			return
		}
		s.cursor, s.cursorKnown = id, true
	}
	now := time.Now()
	if len(s.gaps) > 0 {
		ids := make([]int64, 0, len(s.gaps))
		for id, since := range s.gaps {
			if now.Sub(since) > gapWait {
				delete(s.gaps, id)
				continue
			}
			ids = append(ids, id)
		}
		slices.Sort(ids)
		if len(ids) > 0 {
			late, err := b.store.KeyEventsByID(ctx, b.name, ids)
			if err != nil {
				b.noteReadErr(err)
				return
			}
			for _, e := range late {
				if err := b.applyEvent(ctx, e, true); err != nil {
					b.noteReadErr(err)
					return
				}
				delete(s.gaps, e.ID)
			}
		}
	}
	for {
		evs, err := keyEventsAfter(b.store, ctx, b.name, s.cursor)
		if err != nil {
			b.noteReadErr(err)
			return
		}
		for _, e := range evs {
			if err := b.applyEvent(ctx, e, false); err != nil {
				// Read again from here next time.
				b.noteReadErr(err)
				return
			}
			if span := e.ID - s.cursor - 1; span > 0 && span <= maxGapSpan {
				for id := s.cursor + 1; id < e.ID && len(s.gaps) < maxGaps; id++ {
					s.gaps[id] = now
				}
			}
			s.cursor = e.ID
		}
		if len(evs) < eventPage {
			break
		}
	}
	if len(s.gaps) == 0 {
		// No event can arrive late: the order guard has nothing to guard.
		clear(s.lastSet)
		clear(s.lastRes)
	}
	if s.readErr.Swap(nil) != nil {
		b.logger.Info("reading other instances' key changes again", zap.String("pool", b.name))
	}
}

func (b *Balancer) noteReadErr(err error) {
	msg := err.Error()
	if old := b.shared.readErr.Swap(&msg); old == nil {
		b.dbFailed(b.logger.Error, "cannot read other instances' key changes; will retry", zap.String("pool", b.name), zap.Error(err))
	}
}

// applyEvent applies another instance's event to the ring (this instance's
// own only update the order guard). late says the event was found in a gap.
func (b *Balancer) applyEvent(ctx context.Context, e store.KeyEvent, late bool) error {
	s := b.shared
	if e.Kind == store.EventResource || e.Kind == store.EventResourceGone {
		b.applyResourceEvent(e, late)
		return nil
	}
	if e.Kind == store.EventCooldown {
		if e.Instance == s.instance {
			return nil
		}
		now := b.now()
		for _, id := range e.KeyIDs {
			if k := b.ring.Get(id); k != nil {
				k.CoolDownUntil(e.Model, e.Until, now)
			}
		}
		return nil
	}
	// Every other kind sets the key's state: a late event yields to a
	// later one already applied.
	ids := make([]string, 0, len(e.KeyIDs))
	for _, id := range e.KeyIDs {
		if late && s.lastSet[id] > e.ID {
			continue
		}
		ids = append(ids, id)
	}
	if e.Instance != s.instance {
		switch e.Kind {
		case store.EventInvalid:
			for _, id := range ids {
				if k := b.ring.Get(id); k != nil {
					k.SetInvalid(e.Reason)
				}
			}
		case store.EventReset, store.EventChecked:
			for _, id := range ids {
				if k := b.ring.Get(id); k != nil {
					k.Reactivate(e.Reason)
				}
			}
		case store.EventAdded:
			if err := b.addStoredKeys(ctx, ids); err != nil {
				return err
			}
		case store.EventDeleted:
			b.ring.Remove(ids...)
		}
	}
	for _, id := range ids {
		s.lastSet[id] = max(s.lastSet[id], e.ID)
	}
	return nil
}

// addStoredKeys puts keys another instance added into the ring, with the
// state their rows hold.
func (b *Balancer) addStoredKeys(ctx context.Context, ids []string) error {
	var missing []string
	for _, id := range ids {
		if b.ring.Get(id) == nil {
			missing = append(missing, id)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	recs, err := b.store.KeysByID(ctx, b.name, missing)
	if err != nil {
		return err
	}
	b.addStored(recs)
	return nil
}

// syncProblems are the exchange's troubles, for Health.
func (b *Balancer) syncProblems() []string {
	if b.store == nil {
		return nil
	}
	var out []string
	s := b.shared
	if p := s.writeErr.Load(); p != nil {
		s.mu.Lock()
		n := s.outbox.len()
		s.mu.Unlock()
		out = append(out, "key changes not shared with other instances ("+strconv.Itoa(n)+" queued): "+*p)
	}
	if p := s.readErr.Load(); p != nil {
		out = append(out, "key changes of other instances not read: "+*p)
	}
	return out
}

// EventsDropped counts the key changes never shared because the outbox was
// full while the database was down.
func (b *Balancer) EventsDropped() int64 { return b.shared.dropped.Load() }
