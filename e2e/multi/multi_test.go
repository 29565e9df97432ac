package multi

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/dbtest"
	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/store"
)

// key makes a Gemini-shaped key whose last four characters are tag.
func key(tag string) string {
	return "AIzaSy" + strings.Repeat("M", 39-6-len(tag)) + tag
}

// propagation is how long an instance may take to see another's change.
const propagation = 1500 * time.Millisecond

// A key one instance finds invalid is never tried by the other after a
// second; the same for a 429 cooldown, per model.
func TestInvalidAndCooldownReachTheOtherInstance(t *testing.T) {
	forEngine(t, func(t *testing.T, dsn string) {
		bad, limited, good := key("BAD1"), key("LIM1"), key("GOD1")
		c := newCluster(t, dsn, []string{bad, limited, good}, "")
		c.up.SetKey(bad, fakegemini.Invalid)
		c.up.SetKey(limited, fakegemini.RateLimited)
		c.up.RetryDelay = "300s"
		c.up.SetKey(good, fakegemini.OK)

		// Instance a meets both: every request still succeeds on the good key.
		for i := 0; i < 6; i++ {
			if err := c.a.generate(model); err != nil {
				t.Fatalf("request %d on a: %v\n%s", i, err, c.a.tail())
			}
		}
		used := usedKeys(c.up)
		if used[bad] == 0 || used[limited] == 0 {
			t.Fatalf("instance a never tried the bad or limited key: %v", used)
		}
		took := eventually(t, 5*time.Second, "b to see the invalid key", func() bool { return c.b.statusOf(bad) == "invalid" })
		t.Logf("b saw the invalid key after %s", took)
		time.Sleep(propagation - took%propagation)

		c.up.Reset()
		for i := 0; i < 12; i++ {
			if err := c.b.generate(model); err != nil {
				t.Fatalf("request %d on b: %v\n%s", i, err, c.b.tail())
			}
		}
		used = usedKeys(c.up)
		if used[bad] != 0 || used[limited] != 0 {
			t.Fatalf("b tried a key a had found invalid or cooling for %s: %v", model, used)
		}
		if used[good] != 12 {
			t.Fatalf("b's requests went to %v, want all 12 on the good key", used)
		}

		// The cooldown is for one model: another model still uses the key on b.
		c.up.SetKey(limited, fakegemini.OK)
		c.up.Reset()
		for i := 0; i < 6; i++ {
			if err := c.b.generate("gemini-2.5-pro"); err != nil {
				t.Fatalf("gemini-2.5-pro on b: %v", err)
			}
		}
		if usedKeys(c.up)[limited] == 0 {
			t.Fatalf("the key cooling for %s was not used by b for gemini-2.5-pro: %v", model, usedKeys(c.up))
		}
	})
}

// A key added on one instance serves on the other; a key deleted on one
// leaves both; a reset on one clears the key on both.
func TestKeyChangesReachTheOtherInstance(t *testing.T) {
	forEngine(t, func(t *testing.T, dsn string) {
		k1, k2, added := key("ONE1"), key("TWO2"), key("ADD3")
		c := newCluster(t, dsn, []string{k1, k2}, "")
		c.up.SetDefault(fakegemini.OK)

		var res map[string]any
		if code := c.a.adminCall("POST", "/keys", map[string]any{"keys": []string{added}}, &res); code != 200 {
			t.Fatalf("add on a: %d %v", code, res)
		}
		took := eventually(t, 5*time.Second, "b to list the added key", func() bool { return c.b.statusOf(added) == "active" })
		t.Logf("b listed the added key after %s", took)
		c.up.Reset()
		for i := 0; i < 9; i++ {
			if err := c.b.generate(model); err != nil {
				t.Fatal(err)
			}
		}
		if usedKeys(c.up)[added] == 0 {
			t.Fatalf("b never used the key added on a: %v", usedKeys(c.up))
		}

		if code := c.b.adminCall("DELETE", "/keys", map[string]any{"keys": []string{added}}, &res); code != 200 {
			t.Fatalf("delete on b: %d %v", code, res)
		}
		eventually(t, 5*time.Second, "a to drop the deleted key", func() bool { return c.a.statusOf(added) == "absent" })
		c.up.Reset()
		for i := 0; i < 8; i++ {
			for _, in := range []*instance{c.a, c.b} {
				if err := in.generate(model); err != nil {
					t.Fatal(err)
				}
			}
		}
		if n := usedKeys(c.up)[added]; n != 0 {
			t.Fatalf("the deleted key served %d requests", n)
		}

		// Reset: a marks k1 invalid, an operator resets it on b, a uses it again.
		c.up.SetKey(k1, fakegemini.Invalid)
		for i := 0; i < 4; i++ {
			_ = c.a.generate(model)
		}
		eventually(t, 5*time.Second, "b to see k1 invalid", func() bool { return c.b.statusOf(k1) == "invalid" })
		c.up.SetKey(k1, fakegemini.OK)
		if code := c.b.adminCall("POST", "/keys/reset", map[string]any{"keys": []string{k1}}, &res); code != 200 {
			t.Fatalf("reset on b: %d %v", code, res)
		}
		eventually(t, 5*time.Second, "a to see k1 reset", func() bool { return c.a.statusOf(k1) == "active" })
	})
}

// A setting patched on one instance applies on the other; stats count the
// requests of both.
func TestSettingsAndStatsAreShared(t *testing.T) {
	forEngine(t, func(t *testing.T, dsn string) {
		c := newCluster(t, dsn, []string{key("SET1"), key("SET2")}, "")
		c.up.SetDefault(fakegemini.OK)

		var res map[string]any
		patch := map[string]any{"filtered_models": []string{"gemini-2.5-pro"}}
		if code := c.a.adminCall("PATCH", "/settings", patch, &res); code != 200 {
			t.Fatalf("patch on a: %d %v", code, res)
		}
		took := eventually(t, 5*time.Second, "b to refuse the filtered model", func() bool {
			err := c.b.generate("gemini-2.5-pro")
			return err != nil && strings.Contains(err.Error(), "404")
		})
		t.Logf("b applied the setting after %s", took)

		for i := 0; i < 5; i++ {
			if err := c.a.generate(model); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 7; i++ {
			if err := c.b.generate(model); err != nil {
				t.Fatal(err)
			}
		}
		for _, in := range []*instance{c.a, c.b} {
			eventually(t, 10*time.Second, "stats on "+in.name+" to count both instances' 12 successes", func() bool {
				var st struct {
					Hour struct {
						Success int64 `json:"success"`
					} `json:"hour"`
				}
				in.adminCall("GET", "/stats", nil, &st)
				return st.Hour.Success >= 12
			})
		}
	})
}

// Key state survives a restart of both instances.
func TestStateSurvivesRestartOfBoth(t *testing.T) {
	forEngine(t, func(t *testing.T, dsn string) {
		bad, good := key("RBD1"), key("RGD1")
		c := newCluster(t, dsn, []string{bad, good}, "")
		c.up.SetKey(bad, fakegemini.Invalid)
		c.up.SetKey(good, fakegemini.OK)
		for i := 0; i < 4; i++ {
			_ = c.a.generate(model)
		}
		eventually(t, 5*time.Second, "b to see the invalid key", func() bool { return c.b.statusOf(bad) == "invalid" })
		c.a.stop()
		c.b.stop()
		c.a.start()
		c.b.start()
		for _, in := range []*instance{c.a, c.b} {
			if s := in.statusOf(bad); s != "invalid" {
				t.Fatalf("after the restart %s shows the bad key %s", in.name, s)
			}
		}
		c.up.Reset()
		for i := 0; i < 6; i++ {
			if err := c.b.generate(model); err != nil {
				t.Fatal(err)
			}
		}
		if n := usedKeys(c.up)[bad]; n != 0 {
			t.Fatalf("the invalid key served %d requests after the restart", n)
		}
	})
}

// loadBoth sends requests to both instances from several goroutines until
// stop closes, and counts failures.
func loadBoth(c *cluster, stop <-chan struct{}) (total, failed *atomic.Int64, errs *sync.Map, wait func()) {
	total, failed, errs = &atomic.Int64{}, &atomic.Int64{}, &sync.Map{}
	var wg sync.WaitGroup
	for _, in := range []*instance{c.a, c.b} {
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					total.Add(1)
					if err := in.generate(model); err != nil {
						failed.Add(1)
						errs.Store(fmt.Sprintf("%s: %v", in.name, err), true)
					}
				}
			}()
		}
	}
	return total, failed, errs, wg.Wait
}

// Stopping the database mid-load fails no request: both instances serve
// from memory, say degraded on /health while it is down, and catch up.
func TestDatabaseGoingAwayFailsNoRequest(t *testing.T) {
	for _, e := range []struct {
		name string
		srv  func(testing.TB) *dbtest.Server
	}{{"postgres", dbtest.NewPostgresServer}, {"mariadb", dbtest.NewMariaDBServer}} {
		t.Run(e.name, func(t *testing.T) {
			srv := e.srv(t)
			c := newCluster(t, srv.DSN(t), []string{key("DWN1"), key("DWN2")}, "")
			c.up.SetDefault(fakegemini.OK)
			stop := make(chan struct{})
			total, failed, errs, wait := loadBoth(c, stop)
			time.Sleep(time.Second)
			if err := srv.Stop(); err != nil {
				t.Fatal(err)
			}
			eventually(t, 10*time.Second, "a's /health to say degraded, naming the database", func() bool {
				resp, err := c.a.client.Get(c.a.url("/health"))
				if err != nil {
					return false
				}
				defer resp.Body.Close()
				var h struct {
					Status   string `json:"status"`
					Database string `json:"database"`
				}
				_ = json.NewDecoder(resp.Body).Decode(&h)
				return h.Status == "degraded" && h.Database != "ok"
			})
			time.Sleep(2 * time.Second)
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Second)
			close(stop)
			wait()
			if failed.Load() != 0 {
				var list []string
				errs.Range(func(k, _ any) bool { list = append(list, k.(string)); return len(list) < 5 })
				t.Fatalf("%d of %d requests failed while the database was away: %v", failed.Load(), total.Load(), list)
			}
			t.Logf("%d requests, none failed, with the database stopped for about 3 s", total.Load())
			// The log rows queued while it was away are written when it is back:
			// both instances' statistics count every request.
			for _, in := range []*instance{c.a, c.b} {
				var st struct {
					Hour struct {
						Total int64 `json:"total"`
					} `json:"hour"`
				}
				eventually(t, 20*time.Second, in.name+"'s stats to count every request", func() bool {
					st.Hour.Total = 0
					in.adminCall("GET", "/stats", nil, &st)
					return st.Hour.Total >= total.Load()
				})
				if st.Hour.Total != total.Load() {
					t.Fatalf("%s's stats count %d requests, %d were sent", in.name, st.Hour.Total, total.Load())
				}
			}
			for _, in := range []*instance{c.a, c.b} {
				eventually(t, 15*time.Second, in.name+"'s /health to be ok again", func() bool {
					resp, err := in.client.Get(in.url("/health"))
					if err != nil {
						return false
					}
					resp.Body.Close()
					return resp.StatusCode == 200
				})
			}
		})
	}
}

// Adding 20,000 keys in one admin call works, and the other instance has
// them all soon after.
func TestTwentyThousandKeysInOneCall(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	forEngine(t, func(t *testing.T, dsn string) {
		c := newCluster(t, dsn, []string{key("BIG0")}, "")
		c.up.SetDefault(fakegemini.OK)
		keys := make([]string, 20000)
		for i := range keys {
			keys[i] = key(fmt.Sprintf("%05d", i))
		}
		start := time.Now()
		var res struct {
			Added int `json:"added"`
		}
		if code := c.a.adminCall("POST", "/keys", map[string]any{"keys": keys}, &res); code != 200 {
			t.Fatalf("adding 20,000 keys: %d", code)
		}
		took := time.Since(start)
		count := func(in *instance) int64 {
			var page struct {
				Total int64 `json:"total"`
			}
			in.adminCall("GET", "/keys?limit=1", nil, &page)
			return page.Total
		}
		if n := count(c.a); n != 20001 {
			t.Fatalf("a lists %d keys after adding 20,000 to 1, want 20001 (answer: %+v)", n, res)
		}
		seen := eventually(t, 10*time.Second, "b to list all 20,001 keys", func() bool { return count(c.b) == 20001 })
		t.Logf("20,000 keys added in one call in %s; the other instance listed them %s later", took.Round(time.Millisecond), seen.Round(time.Millisecond))
	})
}

// With 100,000 keys in PostgreSQL or MariaDB, an instance serves within 2 s
// of its start.
func TestHundredThousandKeysServeWithinTwoSeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	forEngine(t, func(t *testing.T, dsn string) {
		st, err := store.Open(dsn, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		recs := make([]store.KeyRecord, 100000)
		now := time.Now().UTC()
		for i := range recs {
			k := keypool.NewKey(key(fmt.Sprintf("%06d", i)), keypool.SourceAdmin)
			recs[i] = store.KeyRecord{Pool: poolName, KeyID: k.ID(), Key: k.Secret(), Masked: k.Masked(),
				Status: "active", Source: keypool.SourceAdmin, CreatedAt: now}
		}
		if _, err := st.InsertKeys(context.Background(), recs); err != nil {
			t.Fatal(err)
		}
		_ = st.Close()

		up := fakegemini.New()
		t.Cleanup(up.Close)
		up.SetDefault(fakegemini.OK)
		in := newInstance(t, "a", dsn, up.URL, []string{key("HUN1")}, "")
		start := time.Now()
		in.start()
		if err := in.generate(model); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		var page struct {
			Total int64 `json:"total"`
		}
		in.adminCall("GET", "/keys?limit=1", nil, &page)
		if page.Total != 100001 {
			t.Fatalf("the instance lists %d keys, want 100,001", page.Total)
		}
		t.Logf("100,001 keys: first answer %s after the process started", took.Round(time.Millisecond))
		if took > 2*time.Second {
			t.Fatalf("first answer after %s, want within 2 s", took)
		}
	})
}
