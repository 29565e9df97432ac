// Package fakeupstream is what the in-process stand-in upstreams
// (internal/fakegemini, internal/fakeopenai) share: how each API key
// behaves, and the record of the requests received. Both are embedded in a
// stand-in's Server, so their methods are the Server's.
package fakeupstream

import "sync"

// Keys is how each API key behaves: B is the stand-in's behaviour type. Its
// zero value answers the zero behaviour for every key.
type Keys[B any] struct {
	mu    sync.Mutex
	byKey map[string]B
	def   B
}

// SetKey sets the behavior for one key.
func (k *Keys[B]) SetKey(key string, b B) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.byKey == nil {
		k.byKey = map[string]B{}
	}
	k.byKey[key] = b
}

// SetDefault sets the behavior for keys not set with SetKey.
func (k *Keys[B]) SetDefault(b B) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.def = b
}

// BehaviorOf is how key is answered: its own behavior, else the default.
func (k *Keys[B]) BehaviorOf(key string) B {
	k.mu.Lock()
	defer k.mu.Unlock()
	if b, ok := k.byKey[key]; ok {
		return b
	}
	return k.def
}

// Recorded is what a stand-in records of a request: a copy that shares
// nothing with it (Copy), and the API key it carried (APIKey).
type Recorded[R any] interface {
	Copy() R
	APIKey() string
}

// Log records the requests a stand-in received, in order.
type Log[R Recorded[R]] struct {
	mu   sync.Mutex
	reqs []R
}

// Record appends a received request.
func (l *Log[R]) Record(r R) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = append(l.reqs, r)
}

// Requests returns a copy of every request received, in order.
func (l *Log[R]) Requests() []R {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]R, len(l.reqs))
	for i, r := range l.reqs {
		out[i] = r.Copy()
	}
	return out
}

// KeysUsed returns the API key of each recorded request, in order.
func (l *Log[R]) KeysUsed() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	keys := make([]string, len(l.reqs))
	for i, r := range l.reqs {
		keys[i] = r.APIKey()
	}
	return keys
}

// Reset forgets the recorded requests.
func (l *Log[R]) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reqs = nil
}
