package keypool

import (
	"testing"
	"time"
)

// Changes applied from another instance set state but count nothing here.
func TestSetInvalidCountsNothing(t *testing.T) {
	k := NewKey("AIzaSyREMOTE00000000000000000000000000", SourceAdmin)
	k.dirty.Store(false)
	k.SetInvalid("API key not valid")
	s := k.Snapshot(time.Now())
	if s.Status != Invalid || s.Reason != "API key not valid" || s.Calls != 0 || s.TotalFailures != 0 || !s.LastUsedAt.IsZero() {
		t.Errorf("state %+v", s)
	}
	if !k.dirty.Load() {
		t.Error("not marked for the next persist pass")
	}
}

func TestCoolDownUntilKeepsTheLater(t *testing.T) {
	now := time.Now()
	k := NewKey("AIzaSyREMOTE00000000000000000000000001", SourceAdmin)
	k.CoolDownUntil("m", now.Add(time.Minute), now)
	k.CoolDownUntil("m", now.Add(time.Second), now)  // earlier: kept the minute
	k.CoolDownUntil("n", now.Add(-time.Second), now) // expired: ignored
	k.CoolDownUntil("o", now.Add(2*time.Minute), now)
	if got := k.CoolingUntil("m", now); !got.Equal(time.Unix(0, now.Add(time.Minute).UnixNano())) {
		t.Errorf("m until %v", got)
	}
	if !k.CoolingUntil("n", now).IsZero() {
		t.Error("an expired deadline was applied")
	}
	if got := k.CoolingUntil("o", now); got.IsZero() {
		t.Error("o not cooling")
	}
	if k.Snapshot(now).Calls != 0 {
		t.Error("a call was counted")
	}
	// The cheap "cooling at all" check sees the latest deadline.
	if !k.IsCooling(now.Add(90 * time.Second)) {
		t.Error("coolMax not the latest deadline")
	}
	// A key picked for another model is still free.
	r := New()
	r.Add(k)
	if got, err := r.Pick("p", now, nil); err != nil || got != k {
		t.Errorf("pick for another model: %v %v", got, err)
	}
	if _, err := r.Pick("m", now, nil); err == nil {
		t.Error("a key cooling for m was picked for m")
	}
}
