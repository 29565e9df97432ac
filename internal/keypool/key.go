// Package keypool holds a pool's API keys, their health, and the round-robin
// selection over them. Reads on the request path are lock-free: a key's
// counters are atomics and its per-model cooldowns are a copy-on-write map.
package keypool

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/secret"
)

// Status is a key's standing in the pool.
type Status uint32

const (
	Active Status = iota
	Invalid
)

func (s Status) String() string {
	if s == Invalid {
		return "invalid"
	}
	return "active"
}

// ParseStatus reads the stored form of a Status; anything unknown is Active.
func ParseStatus(s string) Status {
	if s == "invalid" {
		return Invalid
	}
	return Active
}

// Sources of a key: written in the Caddyfile, or added through the admin API.
const (
	SourceCaddyfile = "caddyfile"
	SourceAdmin     = "admin"
)

// Key is one API key and its live health.
type Key struct {
	secret string
	id     string
	masked string

	status      atomic.Uint32
	consecutive atomic.Int32
	totalFails  atomic.Int64
	calls       atomic.Int64
	lastUsed    atomic.Int64 // unix nanoseconds, 0 = never
	// coolMax is the latest cooldown deadline over all models (unix ns): when
	// it has passed, the cooldown map need not be read at all.
	coolMax   atomic.Int64
	cooldowns atomic.Pointer[map[string]int64]
	dirty     atomic.Bool

	mu        sync.Mutex // serialises writers of the fields below and of cooldowns
	source    string
	reason    string
	lastError string
	createdAt time.Time
}

// NewKey makes an active key with no history.
func NewKey(secretKey, source string) *Key {
	return &Key{secret: secretKey, id: secret.ID(secretKey), masked: secret.Mask(secretKey), source: source, createdAt: time.Now()}
}

// Secret is the full key, for the upstream request only.
func (k *Key) Secret() string { return k.secret }

// ID is a stable, non-secret identifier.
func (k *Key) ID() string { return k.id }

// Masked is the key as it may be shown: first 6 … last 4.
func (k *Key) Masked() string { return k.masked }

// Status is the key's current standing.
func (k *Key) Status() Status { return Status(k.status.Load()) }

// Source says where the key came from.
func (k *Key) Source() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.source
}

func (k *Key) setSource(s string) {
	k.mu.Lock()
	if k.source != s {
		k.source = s
		k.dirty.Store(true)
	}
	k.mu.Unlock()
}

// CoolingUntil reports when the key may serve model again; zero when it may now.
func (k *Key) CoolingUntil(model string, now time.Time) time.Time {
	if u := k.coolingUntil(model, now.UnixNano()); u > 0 {
		return time.Unix(0, u)
	}
	return time.Time{}
}

func (k *Key) coolingUntil(model string, now int64) int64 {
	if k.coolMax.Load() <= now {
		return 0
	}
	m := k.cooldowns.Load()
	if m == nil {
		return 0
	}
	if u := (*m)[model]; u > now {
		return u
	}
	return 0
}

// IsCooling reports whether the key rests for any model at now.
func (k *Key) IsCooling(now time.Time) bool { return k.coolMax.Load() > now.UnixNano() }

// MarkSuccess records a successful call: the consecutive-failure count resets.
func (k *Key) MarkSuccess(now time.Time) {
	if k.consecutive.Load() != 0 {
		k.consecutive.Store(0)
	}
	k.calls.Add(1)
	k.lastUsed.Store(now.UnixNano())
	k.dirty.Store(true)
}

// MarkUsed records a call that says nothing about the key's health.
func (k *Key) MarkUsed(now time.Time) {
	k.calls.Add(1)
	k.lastUsed.Store(now.UnixNano())
	k.dirty.Store(true)
}

// MarkInvalid takes the key out of rotation at once.
func (k *Key) MarkInvalid(reason, lastError string, now time.Time) {
	k.mu.Lock()
	k.status.Store(uint32(Invalid))
	k.reason, k.lastError = reason, lastError
	k.mu.Unlock()
	k.totalFails.Add(1)
	k.MarkUsed(now)
}

// MarkFailure counts one failure; at maxFailures consecutive failures the key
// becomes invalid. It reports whether this call invalidated the key.
func (k *Key) MarkFailure(reason, lastError string, maxFailures int, now time.Time) bool {
	n := k.consecutive.Add(1)
	k.totalFails.Add(1)
	k.mu.Lock()
	k.reason, k.lastError = reason, lastError
	invalidated := false
	if maxFailures > 0 && int(n) >= maxFailures && k.Status() == Active {
		k.status.Store(uint32(Invalid))
		invalidated = true
	}
	k.mu.Unlock()
	k.MarkUsed(now)
	return invalidated
}

// CoolDown rests the key for model until the given time. It is not a failure.
func (k *Key) CoolDown(model string, until time.Time, reason, lastError string, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	nowNs, untilNs := now.UnixNano(), until.UnixNano()
	next := map[string]int64{model: untilNs}
	max := untilNs
	if old := k.cooldowns.Load(); old != nil {
		for m, u := range *old {
			if m != model && u > nowNs {
				next[m] = u
				if u > max {
					max = u
				}
			}
		}
	}
	k.cooldowns.Store(&next)
	k.coolMax.Store(max)
	k.reason, k.lastError = reason, lastError
	k.calls.Add(1)
	k.lastUsed.Store(nowNs)
	k.dirty.Store(true)
}

// Reactivate returns the key to rotation with a clean failure count and no cooldowns.
func (k *Key) Reactivate(reason string) {
	k.mu.Lock()
	k.status.Store(uint32(Active))
	k.consecutive.Store(0)
	k.cooldowns.Store(nil)
	k.coolMax.Store(0)
	k.reason = reason
	k.mu.Unlock()
	k.dirty.Store(true)
}

// State is a point-in-time copy of a key's health, for storage and display.
type State struct {
	ID                  string
	Key                 string
	Masked              string
	Status              Status
	Reason              string
	ConsecutiveFailures int
	TotalFailures       int64
	Cooldowns           map[string]time.Time
	Calls               int64
	LastUsedAt          time.Time
	LastError           string
	Source              string
	CreatedAt           time.Time
}

// Snapshot copies the key's state; expired cooldowns are left out.
func (k *Key) Snapshot(now time.Time) State {
	k.mu.Lock()
	s := State{
		ID: k.id, Key: k.secret, Masked: k.masked, Status: k.Status(), Reason: k.reason,
		ConsecutiveFailures: int(k.consecutive.Load()), TotalFailures: k.totalFails.Load(),
		Calls: k.calls.Load(), LastError: k.lastError, Source: k.source, CreatedAt: k.createdAt,
	}
	k.mu.Unlock()
	if lu := k.lastUsed.Load(); lu != 0 {
		s.LastUsedAt = time.Unix(0, lu)
	}
	if m := k.cooldowns.Load(); m != nil {
		nowNs := now.UnixNano()
		for model, u := range *m {
			if u > nowNs {
				if s.Cooldowns == nil {
					s.Cooldowns = map[string]time.Time{}
				}
				s.Cooldowns[model] = time.Unix(0, u)
			}
		}
	}
	return s
}

// Restore sets the key's state from a stored copy (at start-up).
func (k *Key) Restore(s State, now time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.status.Store(uint32(s.Status))
	k.reason, k.lastError = s.Reason, s.LastError
	if s.Source != "" {
		k.source = s.Source
	}
	if !s.CreatedAt.IsZero() {
		k.createdAt = s.CreatedAt
	}
	k.consecutive.Store(int32(s.ConsecutiveFailures))
	k.totalFails.Store(s.TotalFailures)
	k.calls.Store(s.Calls)
	if !s.LastUsedAt.IsZero() {
		k.lastUsed.Store(s.LastUsedAt.UnixNano())
	}
	nowNs := now.UnixNano()
	var m map[string]int64
	var max int64
	for model, u := range s.Cooldowns {
		if un := u.UnixNano(); un > nowNs {
			if m == nil {
				m = map[string]int64{}
			}
			m[model] = un
			if un > max {
				max = un
			}
		}
	}
	if m != nil {
		k.cooldowns.Store(&m)
	} else {
		k.cooldowns.Store(nil)
	}
	k.coolMax.Store(max)
}
