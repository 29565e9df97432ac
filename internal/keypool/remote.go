package keypool

import "time"

// Changes another instance of the pool made, applied here. Unlike the Mark
// methods they count no call and no failure: the call was made elsewhere.
// They mark the key dirty, so this instance's next persist pass writes the
// state it now holds (it may have written an older one just before).

// SetInvalid takes the key out of rotation for the given reason.
func (k *Key) SetInvalid(reason string) {
	k.mu.Lock()
	k.status.Store(uint32(Invalid))
	k.reason = reason
	k.mu.Unlock()
	k.dirty.Store(true)
}

// CoolDownUntil rests the key for model until the later of its current
// deadline and until; a deadline already past at now changes nothing.
func (k *Key) CoolDownUntil(model string, until, now time.Time) {
	nowNs, untilNs := now.UnixNano(), until.UnixNano()
	if untilNs <= nowNs {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	next := map[string]int64{model: untilNs}
	max := untilNs
	if old := k.cooldowns.Load(); old != nil {
		for m, u := range *old {
			if u <= nowNs {
				continue
			}
			if m == model && u > untilNs {
				next[m] = u
			} else if m != model {
				next[m] = u
			}
			if u > max {
				max = u
			}
		}
	}
	k.cooldowns.Store(&next)
	k.coolMax.Store(max)
	k.dirty.Store(true)
}
