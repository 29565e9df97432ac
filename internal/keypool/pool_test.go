package keypool

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func newPool(n int) (*Ring, []*Key) {
	p := New()
	keys := make([]*Key, n)
	for i := range keys {
		keys[i] = NewKey(fmt.Sprintf("AIzaSyTESTKEY%026d", i), SourceCaddyfile)
	}
	p.Add(keys...)
	return p, keys
}

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func TestPickNeverRepeatsWithinARequest(t *testing.T) {
	p, keys := newPool(5)
	var tried []*Key
	for i := 0; i < 5; i++ {
		k, err := p.Pick("m", t0, tried)
		if err != nil {
			t.Fatalf("pick %d: %v", i, err)
		}
		for _, seen := range tried {
			if seen == k {
				t.Fatalf("key %s picked twice", k.Masked())
			}
		}
		tried = append(tried, k)
	}
	_, err := p.Pick("m", t0, tried)
	var nk *NoKeyError
	if !errors.As(err, &nk) || nk.Reason != Exhausted {
		t.Fatalf("after trying all %d keys: err = %v, want Exhausted", len(keys), err)
	}
}

func TestPickIsFairOver10000Picks(t *testing.T) {
	p, keys := newPool(7)
	counts := map[*Key]int{}
	for i := 0; i < 10000; i++ {
		k, err := p.Pick("m", t0, nil)
		if err != nil {
			t.Fatal(err)
		}
		counts[k]++
	}
	for _, k := range keys {
		// 10000/7 = 1428.57: round-robin gives every key 1428 or 1429 picks.
		if c := counts[k]; c < 1428 || c > 1429 {
			t.Errorf("key %s picked %d times, want 1428 or 1429", k.Masked(), c)
		}
	}
}

func TestPickIsFairUnderConcurrency(t *testing.T) {
	p, keys := newPool(4)
	var mu sync.Mutex
	counts := map[*Key]int{}
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			local := map[*Key]int{}
			for i := 0; i < 1000; i++ {
				k, err := p.Pick("m", t0, nil)
				if err != nil {
					t.Error(err)
					return
				}
				local[k]++
			}
			mu.Lock()
			for k, c := range local {
				counts[k] += c
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, k := range keys {
		if counts[k] != 2000 {
			t.Errorf("key %s picked %d times, want 2000", k.Masked(), counts[k])
		}
	}
}

func TestPickSkipsInvalidAndCoolingKeys(t *testing.T) {
	p, keys := newPool(4)
	keys[0].MarkInvalid("API key invalid", "", t0)
	keys[1].CoolDown("gemini-2.5-pro", t0.Add(time.Minute), "rate limited", "", t0)
	seen := map[*Key]int{}
	for i := 0; i < 100; i++ {
		k, err := p.Pick("gemini-2.5-pro", t0, nil)
		if err != nil {
			t.Fatal(err)
		}
		seen[k]++
	}
	if seen[keys[0]] != 0 || seen[keys[1]] != 0 {
		t.Fatalf("invalid or cooling key picked: %v", seen)
	}
	if seen[keys[2]] != 50 || seen[keys[3]] != 50 {
		t.Fatalf("remaining keys not shared evenly: %d / %d", seen[keys[2]], seen[keys[3]])
	}
	// The cooldown is per model: another model may use the key.
	found := false
	for i := 0; i < 4; i++ {
		k, _ := p.Pick("gemini-2.5-flash", t0, nil)
		found = found || k == keys[1]
	}
	if !found {
		t.Error("key cooling for gemini-2.5-pro was not used for gemini-2.5-flash")
	}
	// After the cooldown the key returns.
	found = false
	for i := 0; i < 4; i++ {
		k, _ := p.Pick("gemini-2.5-pro", t0.Add(61*time.Second), nil)
		found = found || k == keys[1]
	}
	if !found {
		t.Error("key did not return after its cooldown")
	}
}

func TestPickReasons(t *testing.T) {
	empty := New()
	var nk *NoKeyError
	if _, err := empty.Pick("m", t0, nil); !errors.As(err, &nk) || nk.Reason != Empty {
		t.Fatalf("empty pool: %v", err)
	}

	p, keys := newPool(3)
	for _, k := range keys {
		k.MarkInvalid("bad", "", t0)
	}
	if _, err := p.Pick("m", t0, nil); !errors.As(err, &nk) || nk.Reason != AllInvalid {
		t.Fatalf("all invalid: %v", err)
	}

	p, keys = newPool(3)
	keys[0].MarkInvalid("bad", "", t0)
	keys[1].CoolDown("m", t0.Add(30*time.Second), "429", "", t0)
	keys[2].CoolDown("m", t0.Add(10*time.Second), "429", "", t0)
	_, err := p.Pick("m", t0, nil)
	if !errors.As(err, &nk) || nk.Reason != AllCooling {
		t.Fatalf("all cooling: %v", err)
	}
	if want := t0.Add(10 * time.Second); !nk.RetryAt.Equal(want) {
		t.Errorf("RetryAt = %v, want the earliest return %v", nk.RetryAt, want)
	}
	if got := p.EarliestReturn("m", t0); !got.Equal(t0.Add(10 * time.Second)) {
		t.Errorf("EarliestReturn = %v", got)
	}
}

func TestFailurePolicyOnKey(t *testing.T) {
	k := NewKey("AIzaSyFAILURE0000000000000000000000000", SourceAdmin)
	if k.MarkFailure("403", "", 3, t0) || k.MarkFailure("403", "", 3, t0) {
		t.Fatal("invalid before max_failures")
	}
	k.MarkSuccess(t0) // a success resets the consecutive count
	if k.Snapshot(t0).ConsecutiveFailures != 0 {
		t.Fatal("success did not reset the consecutive failures")
	}
	k.MarkFailure("403", "", 3, t0)
	k.MarkFailure("403", "", 3, t0)
	if !k.MarkFailure("403", "forbidden", 3, t0) || k.Status() != Invalid {
		t.Fatal("not invalid at max_failures")
	}
	s := k.Snapshot(t0)
	if s.TotalFailures != 5 || s.Reason != "403" || s.LastError != "forbidden" {
		t.Errorf("snapshot = %+v", s)
	}
	k.Reactivate("checked")
	if k.Status() != Active || k.Snapshot(t0).ConsecutiveFailures != 0 {
		t.Error("reactivate did not restore the key")
	}
}

func TestSnapshotRestoreRoundTrip(t *testing.T) {
	k := NewKey("AIzaSyROUNDTRIP000000000000000000000000", SourceCaddyfile)
	k.CoolDown("a", t0.Add(time.Hour), "429", "quota", t0)
	k.CoolDown("b", t0.Add(time.Minute), "429", "quota", t0)
	k.MarkFailure("x", "y", 5, t0)
	s := k.Snapshot(t0)
	r := NewKey(k.Secret(), SourceAdmin)
	r.Restore(s, t0.Add(2*time.Minute))
	if !r.CoolingUntil("a", t0.Add(2*time.Minute)).Equal(t0.Add(time.Hour)) {
		t.Error("cooldown for a lost")
	}
	if !r.CoolingUntil("b", t0.Add(2*time.Minute)).IsZero() {
		t.Error("expired cooldown for b restored")
	}
	if got := r.Snapshot(t0); got.ConsecutiveFailures != 1 || got.Source != SourceCaddyfile || got.Calls != s.Calls {
		t.Errorf("restored %+v", got)
	}
}

func TestSyncCaddyfile(t *testing.T) {
	p := New()
	admin := NewKey("admin-key-000000000000", SourceAdmin)
	p.Add(admin)
	added, removed := p.SyncCaddyfile([]string{"k1", "k2", "k1"})
	if len(added) != 2 || len(removed) != 0 || p.Len() != 3 {
		t.Fatalf("first sync: added %d removed %d len %d", len(added), len(removed), p.Len())
	}
	k1 := p.Get(added[0].ID())
	k1.MarkFailure("x", "", 10, t0)
	added, removed = p.SyncCaddyfile([]string{"k1", "k3"})
	if len(added) != 1 || len(removed) != 1 || removed[0].Secret() != "k2" {
		t.Fatalf("second sync: added %v removed %v", added, removed)
	}
	if p.Get(k1.ID()) != k1 || k1.Snapshot(t0).ConsecutiveFailures != 1 {
		t.Error("a kept key lost its state")
	}
	if p.Get(admin.ID()) == nil {
		t.Error("admin key removed by a Caddyfile sync")
	}
}

func TestTakeDirty(t *testing.T) {
	p, keys := newPool(3)
	p.TakeDirty()
	keys[1].MarkSuccess(t0)
	d := p.TakeDirty()
	if len(d) != 1 || d[0] != keys[1] {
		t.Fatalf("dirty = %v", d)
	}
	if len(p.TakeDirty()) != 0 {
		t.Fatal("dirty mark not cleared")
	}
}

func BenchmarkPick(b *testing.B) {
	for _, n := range []int{10, 100000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			p, _ := newPool(n)
			now := time.Now()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := p.Pick("gemini-2.5-flash", now, nil); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

func BenchmarkPickWithCoolingKeys(b *testing.B) {
	p, keys := newPool(100)
	now := time.Now()
	for i := 0; i < 90; i++ { // 90% of keys rest for this model
		keys[i].CoolDown("m", now.Add(time.Hour), "429", "", now)
	}
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := p.Pick("m", now, nil); err != nil {
			b.Fatal(err)
		}
	}
}
