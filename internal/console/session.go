package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sync"
	"time"
)

const (
	// sessionTTL is how long a session lives after login.
	sessionTTL = 12 * time.Hour
	// maxSessions bounds the sessions of one pool; the oldest goes first.
	maxSessions = 1000
	// loginMaxFailures failed logins from one address within loginWindow
	// lock that address out until the oldest of them leaves the window.
	loginMaxFailures = 5
	loginWindow      = 5 * time.Minute
	// sweepEvery is how often expired sessions and old failures are dropped.
	sweepEvery = time.Minute
)

// session is one logged-in browser.
type session struct {
	csrf      string
	tokenHash [32]byte // sha256 of the auth_token it logged in with
	created   time.Time
	expires   time.Time
}

// poolState holds the sessions and login failures of one pool. It lives in a
// package-level registry keyed by pool name, so a Caddy config reload (which
// builds a new Console) keeps everyone logged in; Forget ends it with the
// pool. (It is not in the pool's UsagePool value because that value is the
// balancer, which must not depend on the console.)
type poolState struct {
	mu        sync.Mutex
	sessions  map[[32]byte]*session // keyed by sha256 of the session id
	failures  map[string][]time.Time
	lastSweep time.Time
}

var (
	statesMu sync.Mutex
	states   = map[string]*poolState{}
)

// Forget drops a pool's sessions and login failures. The module calls it
// when the pool's caddy.UsagePool entry is destructed (the last config
// naming the pool is gone), so the state lives exactly as long as the pool:
// across reloads, not after.
func Forget(pool string) {
	statesMu.Lock()
	defer statesMu.Unlock()
	delete(states, pool)
}

func stateFor(pool string) *poolState {
	statesMu.Lock()
	defer statesMu.Unlock()
	st := states[pool]
	if st == nil {
		st = &poolState{sessions: map[[32]byte]*session{}, failures: map[string][]time.Time{}}
		states[pool] = st
	}
	return st
}

// randomHex returns n random bytes as hex.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("console: no randomness: " + err.Error()) // crypto/rand never fails on supported systems
	}
	return hex.EncodeToString(b)
}

func hashString(s string) [32]byte { return sha256.Sum256([]byte(s)) }

// tokenMatches compares a given token with the wanted one in constant time.
func tokenMatches(given, want string) bool {
	g, w := hashString(given), hashString(want)
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

// create starts a session for a login with the token whose hash is tokenHash
// and returns its id.
func (p *poolState) create(tokenHash [32]byte, now time.Time) (string, *session) {
	id := randomHex(32)
	s := &session{csrf: randomHex(32), tokenHash: tokenHash, created: now, expires: now.Add(sessionTTL)}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sweepLocked(now, false)
	if len(p.sessions) >= maxSessions {
		var oldest [32]byte
		var oldestAt time.Time
		for k, v := range p.sessions {
			if oldestAt.IsZero() || v.created.Before(oldestAt) {
				oldest, oldestAt = k, v.created
			}
		}
		delete(p.sessions, oldest)
	}
	p.sessions[hashString(id)] = s
	return id, s
}

// get finds the live session with id. A session made with another auth_token
// than tokenHash is dead, as is an expired one.
func (p *poolState) get(id string, tokenHash [32]byte, now time.Time) *session {
	if id == "" {
		return nil
	}
	k := hashString(id)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sweepLocked(now, false)
	s := p.sessions[k]
	if s == nil {
		return nil
	}
	if !now.Before(s.expires) || subtle.ConstantTimeCompare(s.tokenHash[:], tokenHash[:]) != 1 {
		delete(p.sessions, k)
		return nil
	}
	return s
}

// remove ends the session with id.
func (p *poolState) remove(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.sessions, hashString(id))
}

// sweepLocked drops expired sessions and failures older than the window,
// at most once per sweepEvery unless forced. The caller holds p.mu.
func (p *poolState) sweepLocked(now time.Time, force bool) {
	if !force && now.Sub(p.lastSweep) < sweepEvery && now.After(p.lastSweep) {
		return
	}
	p.lastSweep = now
	for k, s := range p.sessions {
		if !now.Before(s.expires) {
			delete(p.sessions, k)
		}
	}
	for ip, times := range p.failures {
		if kept := recent(times, now); len(kept) == 0 {
			delete(p.failures, ip)
		} else {
			p.failures[ip] = kept
		}
	}
}

// recent keeps the times within the login window.
func recent(times []time.Time, now time.Time) []time.Time {
	kept := times[:0]
	for _, t := range times {
		if now.Sub(t) < loginWindow {
			kept = append(kept, t)
		}
	}
	return kept
}

// lockedOut reports whether ip may not try to log in now, and for how long.
func (p *poolState) lockedOut(ip string, now time.Time) (time.Duration, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	times := recent(p.failures[ip], now)
	p.failures[ip] = times
	if len(times) == 0 {
		delete(p.failures, ip)
	}
	if len(times) < loginMaxFailures {
		return 0, false
	}
	// Locked until enough failures leave the window to allow one more try.
	return times[len(times)-loginMaxFailures].Add(loginWindow).Sub(now), true
}

// fail counts a failed login from ip.
func (p *poolState) fail(ip string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	times := append(recent(p.failures[ip], now), now)
	if len(times) > loginMaxFailures {
		times = times[len(times)-loginMaxFailures:]
	}
	p.failures[ip] = times
}

// succeed forgets the failures of ip.
func (p *poolState) succeed(ip string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.failures, ip)
}
