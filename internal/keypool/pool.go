package keypool

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// keySet is an immutable view of the ring; changes publish a new one.
type keySet struct {
	list []*Key
	byID map[string]*Key
}

// Ring is the key ring of one pool: its keys with round-robin selection.
// ("Pool" names the configured pool, "Balancer" the running one.) Picking a
// key takes no lock; adding and removing keys copy the set under a writer
// lock.
type Ring struct {
	set  atomic.Pointer[keySet]
	next atomic.Uint64
	mu   sync.Mutex // serialises writers
}

// New makes an empty key ring.
func New() *Ring {
	p := &Ring{}
	p.set.Store(&keySet{byID: map[string]*Key{}})
	return p
}

// NoKeyReason says why no key could be picked.
type NoKeyReason int

const (
	// Empty: the pool has no keys at all.
	Empty NoKeyReason = iota
	// AllInvalid: every key is invalid.
	AllInvalid
	// AllCooling: every key that is not invalid rests for this model.
	AllCooling
	// Exhausted: every usable key was already tried by this request.
	Exhausted
)

// NoKeyError is returned by Pick when no key can serve the request.
type NoKeyError struct {
	Reason  NoKeyReason
	Model   string
	RetryAt time.Time // AllCooling: when the first key returns
	Total   int
}

func (e *NoKeyError) Error() string {
	switch e.Reason {
	case Empty:
		return "the key pool is empty: add API keys with api_keys, api_keys_file or the admin API"
	case AllInvalid:
		return fmt.Sprintf("all %d API keys of the pool are invalid", e.Total)
	case AllCooling:
		return fmt.Sprintf("all API keys are cooling down after rate limits for model %q; the first returns at %s",
			e.Model, e.RetryAt.UTC().Format(time.RFC3339))
	default:
		return "every usable API key was already tried for this request"
	}
}

// Pick returns the next key, in round-robin order, that is active, not
// cooling for model and not in tried. The common case reads one atomic
// counter and one slice element.
func (p *Ring) Pick(model string, now time.Time, tried []*Key) (*Key, error) {
	set := p.set.Load()
	n := len(set.list)
	if n == 0 {
		return nil, &NoKeyError{Reason: Empty, Model: model}
	}
	nowNs := now.UnixNano()
	start := p.next.Add(1) - 1
	var invalid, cooling int
	var earliest int64
	for i := 0; i < n; i++ {
		k := set.list[(start+uint64(i))%uint64(n)]
		if k.Status() != Active {
			invalid++
			continue
		}
		if u := k.coolingUntil(model, nowNs); u > 0 {
			cooling++
			if earliest == 0 || u < earliest {
				earliest = u
			}
			continue
		}
		if contains(tried, k) {
			continue
		}
		if i > 0 {
			// Skip the unavailable keys for the next pick too, so the keys
			// after a run of unavailable ones are not picked more often.
			p.next.CompareAndSwap(start+1, start+uint64(i)+1)
		}
		return k, nil
	}
	switch {
	case invalid == n:
		return nil, &NoKeyError{Reason: AllInvalid, Model: model, Total: n}
	case invalid+cooling == n:
		return nil, &NoKeyError{Reason: AllCooling, Model: model, RetryAt: time.Unix(0, earliest), Total: n}
	default:
		return nil, &NoKeyError{Reason: Exhausted, Model: model, Total: n}
	}
}

// EarliestReturn is the first time any active key of the pool stops cooling
// for model (zero when some active key is free now).
func (p *Ring) EarliestReturn(model string, now time.Time) time.Time {
	nowNs := now.UnixNano()
	var earliest int64
	for _, k := range p.set.Load().list {
		if k.Status() != Active {
			continue
		}
		u := k.coolingUntil(model, nowNs)
		if u == 0 {
			return time.Time{}
		}
		if earliest == 0 || u < earliest {
			earliest = u
		}
	}
	if earliest == 0 {
		return time.Time{}
	}
	return time.Unix(0, earliest)
}

func contains(tried []*Key, k *Key) bool {
	for _, t := range tried {
		if t == k {
			return true
		}
	}
	return false
}

// Len is the number of keys.
func (p *Ring) Len() int { return len(p.set.Load().list) }

// Keys returns the keys in pool order. The slice must not be modified.
func (p *Ring) Keys() []*Key { return p.set.Load().list }

// Get finds a key by its ID.
func (p *Ring) Get(id string) *Key { return p.set.Load().byID[id] }

// Counts tallies keys by what they can do now.
type Counts struct {
	Active  int `json:"active"`
	Cooling int `json:"cooling"`
	Invalid int `json:"invalid"`
}

// Counts reports active (free for some model), cooling (resting for at least
// one model) and invalid keys.
func (p *Ring) Counts(now time.Time) Counts {
	var c Counts
	for _, k := range p.set.Load().list {
		switch {
		case k.Status() == Invalid:
			c.Invalid++
		case k.IsCooling(now):
			c.Cooling++
		default:
			c.Active++
		}
	}
	return c
}

// Add appends keys whose IDs are not in the pool yet and returns those added.
func (p *Ring) Add(keys ...*Key) []*Key {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.set.Load()
	next := &keySet{list: make([]*Key, len(old.list), len(old.list)+len(keys)), byID: make(map[string]*Key, len(old.byID)+len(keys))}
	copy(next.list, old.list)
	for id, k := range old.byID {
		next.byID[id] = k
	}
	var added []*Key
	for _, k := range keys {
		if _, dup := next.byID[k.id]; dup {
			continue
		}
		next.list = append(next.list, k)
		next.byID[k.id] = k
		added = append(added, k)
	}
	p.set.Store(next)
	return added
}

// Remove takes the keys with the given IDs out of the pool and returns them.
func (p *Ring) Remove(ids ...string) []*Key {
	drop := make(map[string]bool, len(ids))
	for _, id := range ids {
		drop[id] = true
	}
	return p.removeWhere(func(k *Key) bool { return drop[k.id] })
}

func (p *Ring) removeWhere(match func(*Key) bool) []*Key {
	p.mu.Lock()
	defer p.mu.Unlock()
	old := p.set.Load()
	next := &keySet{list: make([]*Key, 0, len(old.list)), byID: make(map[string]*Key, len(old.byID))}
	var removed []*Key
	for _, k := range old.list {
		if match(k) {
			removed = append(removed, k)
			continue
		}
		next.list = append(next.list, k)
		next.byID[k.id] = k
	}
	if removed != nil {
		p.set.Store(next)
	}
	return removed
}

// SyncCaddyfile makes the pool's Caddyfile-sourced keys equal secrets: new
// ones are added, Caddyfile keys no longer listed leave, keys added through
// the admin API stay. A listed key that was added by the admin becomes a
// Caddyfile key.
func (p *Ring) SyncCaddyfile(secrets []string) (added, removed []*Key) {
	want := make(map[string]bool, len(secrets))
	var fresh []*Key
	for _, s := range secrets {
		k := NewKey(s, SourceCaddyfile)
		if want[k.id] {
			continue
		}
		want[k.id] = true
		if existing := p.Get(k.id); existing != nil {
			existing.setSource(SourceCaddyfile)
			continue
		}
		fresh = append(fresh, k)
	}
	removed = p.removeWhere(func(k *Key) bool { return k.Source() == SourceCaddyfile && !want[k.id] })
	added = p.Add(fresh...)
	return added, removed
}

// TakeDirty returns the keys changed since the last call and clears their mark.
func (p *Ring) TakeDirty() []*Key {
	var out []*Key
	for _, k := range p.set.Load().list {
		if k.dirty.Load() && k.dirty.CompareAndSwap(true, false) {
			out = append(out, k)
		}
	}
	return out
}

// MarkDirty flags a key for the next persistence pass (used when a save failed).
func (k *Key) MarkDirty() { k.dirty.Store(true) }
