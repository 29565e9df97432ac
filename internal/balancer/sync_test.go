package balancer

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/dbtest"
	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/gemini"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/secret"
	"github.com/gemini-balance/gemini_balance/internal/settings"
	"github.com/gemini-balance/gemini_balance/internal/store"
	"github.com/gemini-balance/gemini_balance/internal/upstream"
)

// Two instances of one pool on one database (two Balancers on one SQLite
// file stand for two Caddy processes) behave as one pool: what one learns
// about a key, the other applies within about a second. The stand-in
// upstream records which key each request carried.

const (
	syncModel = "gemini-2.5-flash"
	syncOther = "gemini-2.0-flash"
	syncPool  = "shared"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// syncEngines runs fn once per engine on a fresh database (SQLite file,
// PostgreSQL or MariaDB database; the servers are started by dbtest, and the
// test is skipped where one is not installed). GEMINI_BALANCE_ENGINES (e.g.
// "sqlite") narrows the engines.
func syncEngines(t *testing.T, fn func(t *testing.T, db string)) {
	engines := map[string]func(testing.TB) string{
		"sqlite":   func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "shared.db") },
		"postgres": dbtest.Postgres,
		"mariadb":  dbtest.MariaDB,
	}
	for _, name := range []string{"sqlite", "postgres", "mariadb"} {
		if v := os.Getenv("GEMINI_BALANCE_ENGINES"); v != "" && !strings.Contains(","+v+",", ","+name+",") {
			continue
		}
		t.Run(name, func(t *testing.T) { fn(t, engines[name](t)) })
	}
}

func syncKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("AIzaSySYNC%029d", i) // AIza + 35
	}
	return keys
}

type syncPair struct {
	up   *fakegemini.Server
	db   string
	keys []string
	a, b *Balancer
}

// newSyncPair starts the stand-in (every key answers OK) and two instances of
// one pool on the database db ("" for a fresh SQLite file).
func newSyncPair(t *testing.T, db string, nkeys int, mutate func(*settings.Settings)) *syncPair {
	t.Helper()
	up := fakegemini.New()
	up.SetDefault(fakegemini.OK)
	t.Cleanup(up.Close)
	if db == "" {
		db = filepath.Join(t.TempDir(), "shared.db")
	}
	p := &syncPair{up: up, db: db, keys: syncKeys(nkeys)}
	p.a = p.open(t, mutate)
	p.b = p.open(t, mutate)
	return p
}

func (p *syncPair) open(t *testing.T, mutate func(*settings.Settings)) *Balancer {
	t.Helper()
	s := settings.Defaults()
	s.BaseURL = p.up.URL
	s.CheckInterval = 0
	s.MaxRetries = 3
	s.Timeout = 10 * time.Second
	if mutate != nil {
		mutate(&s)
	}
	b, err := Open(Config{Name: syncPool, DatabasePath: p.db, Keys: p.keys, Settings: s}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.Store() == nil {
		t.Fatal("no database")
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// send makes one generateContent call on b and returns the key that served
// it ("" and the failure when none did).
func send(b *Balancer, model string) (string, *Failure) {
	call := &Call{Route: "gemini.generateContent", Model: model, Request: upstream.Request{
		Method: http.MethodPost, Path: "/models/" + model + ":generateContent",
		Header: http.Header{"Content-Type": {"application/json"}},
		Body:   []byte(`{"contents":[{"parts":[{"text":"hi"}]}]}`),
	}}
	o, f := b.Do(context.Background(), call)
	if f != nil {
		return "", f
	}
	io.Copy(io.Discard, o.Body)
	o.Finish(nil, nil, gemini.Usage{})
	return o.Key.Secret(), nil
}

// eventually waits (up to 10 s) until cond holds and reports how long it
// took; the "about a second" target is logged, not enforced, so a busy CI
// machine does not fail the test, but more than 3 s fails it.
func eventually(t *testing.T, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for !cond() {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("%s: not within 10 s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
	took := time.Since(start)
	t.Logf("%s after %v", what, took.Round(time.Millisecond))
	if took > 3*time.Second {
		t.Errorf("%s took %v, want about a second", what, took)
	}
	return took
}

func keyOf(b *Balancer, secretKey string) *keypool.Key { return b.KeyByID(secret.ID(secretKey)) }

// usedKeys sends n calls on b and returns the set of keys the upstream saw.
func usedKeys(t *testing.T, p *syncPair, b *Balancer, model string, n int) map[string]int {
	t.Helper()
	p.up.Reset()
	for range n {
		if _, f := send(b, model); f != nil {
			t.Fatalf("call failed: %d %s", f.Status, f.Body)
		}
	}
	seen := map[string]int{}
	for _, k := range p.up.KeysUsed() {
		seen[k]++
	}
	return seen
}

// hitUntil sends calls on b until the upstream has seen key (the ring is
// round-robin, so within a few calls).
func hitUntil(t *testing.T, p *syncPair, b *Balancer, model, key string) {
	t.Helper()
	for range 4 * len(p.keys) {
		send(b, model)
		if slices.Contains(p.up.KeysUsed(), key) {
			return
		}
	}
	t.Fatalf("the upstream never saw key %s", secret.Mask(key))
}

func TestSharedInvalidKeyIsNotTriedByTheOther(t *testing.T) {
	syncEngines(t, testSharedInvalidKeyIsNotTriedByTheOther)
}

func testSharedInvalidKeyIsNotTriedByTheOther(t *testing.T, db string) {
	p := newSyncPair(t, db, 3, nil)
	bad := p.keys[0]
	p.up.SetKey(bad, fakegemini.Invalid) // a real 400 API_KEY_INVALID answer
	hitUntil(t, p, p.a, syncModel, bad)
	if keyOf(p.a, bad).Status() != keypool.Invalid {
		t.Fatal("the instance that saw the 400 did not mark the key invalid")
	}
	eventually(t, "the other instance has the key invalid", func() bool { return keyOf(p.b, bad).Status() == keypool.Invalid })
	if r := keyOf(p.b, bad).Snapshot(time.Now()).Reason; !strings.Contains(r, "invalid") && !strings.Contains(r, "not valid") {
		t.Errorf("reason on the other instance: %q", r)
	}
	if seen := usedKeys(t, p, p.b, syncModel, 30); seen[bad] > 0 || len(seen) != 2 {
		t.Errorf("the other instance's calls reached %v", seen)
	}
	// The other instance's persist pass writes what it now holds.
	p.b.Persist()
	recs, _ := p.b.Store().KeysByID(context.Background(), syncPool, []string{secret.ID(bad)})
	if len(recs) != 1 || recs[0].Status != store.StatusInvalid {
		t.Errorf("stored %+v", recs)
	}
}

func TestSharedCooldownIsPerModel(t *testing.T) { syncEngines(t, testSharedCooldownIsPerModel) }

func testSharedCooldownIsPerModel(t *testing.T, db string) {
	p := newSyncPair(t, db, 3, nil)
	hot := p.keys[1]
	p.up.SetKey(hot, fakegemini.RateLimited) // 429 with RetryInfo 17s
	hitUntil(t, p, p.a, syncModel, hot)
	p.up.SetKey(hot, fakegemini.OK)
	until := keyOf(p.a, hot).CoolingUntil(syncModel, time.Now())
	if until.IsZero() {
		t.Fatal("the instance that saw the 429 did not cool the key")
	}
	eventually(t, "the other instance cools the key", func() bool {
		return !keyOf(p.b, hot).CoolingUntil(syncModel, time.Now()).IsZero()
	})
	if got := keyOf(p.b, hot).CoolingUntil(syncModel, time.Now()); got.Sub(until).Abs() > time.Millisecond {
		t.Errorf("cooling until %v on the other instance, %v on the first", got, until)
	}
	if seen := usedKeys(t, p, p.b, syncModel, 30); seen[hot] > 0 {
		t.Errorf("the cooling key served model %s on the other instance: %v", syncModel, seen)
	}
	if seen := usedKeys(t, p, p.b, syncOther, 30); seen[hot] == 0 {
		t.Errorf("the key cooling for %s did not serve %s: %v", syncModel, syncOther, seen)
	}
	// An older deadline does not shorten a longer one, an expired one is
	// ignored (CoolDownUntil keeps the later).
	k := keyOf(p.b, hot)
	k.CoolDownUntil(syncModel, until.Add(-5*time.Second), time.Now())
	k.CoolDownUntil(syncOther, time.Now().Add(-time.Second), time.Now())
	if got := k.CoolingUntil(syncModel, time.Now()); got.Sub(until).Abs() > time.Millisecond {
		t.Errorf("deadline moved to %v", got)
	}
	if !k.CoolingUntil(syncOther, time.Now()).IsZero() {
		t.Error("an expired cooldown was applied")
	}
}

func TestSharedKeyAddedAndDeleted(t *testing.T) { syncEngines(t, testSharedKeyAddedAndDeleted) }

func testSharedKeyAddedAndDeleted(t *testing.T, db string) {
	p := newSyncPair(t, db, 2, nil)
	added := "AIzaSyADDED0000000000000000000000000001"
	res, err := p.a.AddKeys(context.Background(), []string{added}, keypool.SourceAdmin)
	if err != nil || res.Added != 1 {
		t.Fatalf("add: %+v %v", res, err)
	}
	eventually(t, "the added key is on the other instance", func() bool { return keyOf(p.b, added) != nil })
	if src := keyOf(p.b, added).Source(); src != keypool.SourceAdmin {
		t.Errorf("source %q", src)
	}
	if seen := usedKeys(t, p, p.b, syncModel, 9); seen[added] == 0 {
		t.Errorf("the added key never served on the other instance: %v", seen)
	}

	gone := p.keys[0]
	if res, err := p.b.DeleteKeys(context.Background(), []string{gone}); err != nil || res.Deleted != 1 {
		t.Fatalf("delete: %+v %v", res, err)
	}
	eventually(t, "the deleted key left the first instance", func() bool { return keyOf(p.a, gone) == nil })
	for _, b := range []*Balancer{p.a, p.b} {
		if seen := usedKeys(t, p, b, syncModel, 12); seen[gone] > 0 || len(seen) != 2 {
			t.Errorf("calls reached %v", seen)
		}
	}
}

func TestSharedResetClearsBoth(t *testing.T) { syncEngines(t, testSharedResetClearsBoth) }

func testSharedResetClearsBoth(t *testing.T, db string) {
	p := newSyncPair(t, db, 3, nil)
	bad, hot := p.keys[0], p.keys[1]
	p.up.SetKey(bad, fakegemini.Invalid)
	p.up.SetKey(hot, fakegemini.RateLimited)
	hitUntil(t, p, p.a, syncModel, bad)
	hitUntil(t, p, p.a, syncModel, hot)
	p.up.SetKey(bad, fakegemini.OK)
	p.up.SetKey(hot, fakegemini.OK)
	eventually(t, "the other instance has both keys out", func() bool {
		return keyOf(p.b, bad).Status() == keypool.Invalid && !keyOf(p.b, hot).CoolingUntil(syncModel, time.Now()).IsZero()
	})
	// The reset is made on the other instance and comes back to the first.
	if n, unknown := p.b.ResetKeys(nil); n != 3 || len(unknown) != 0 {
		t.Fatalf("reset %d, %v", n, unknown)
	}
	eventually(t, "the first instance has both keys back", func() bool {
		return keyOf(p.a, bad).Status() == keypool.Active && keyOf(p.a, hot).CoolingUntil(syncModel, time.Now()).IsZero()
	})
	if seen := usedKeys(t, p, p.a, syncModel, 9); seen[bad] == 0 || seen[hot] == 0 {
		t.Errorf("reset keys did not serve: %v", seen)
	}
}

func TestSharedCheckedKeyReturns(t *testing.T) { syncEngines(t, testSharedCheckedKeyReturns) }

func testSharedCheckedKeyReturns(t *testing.T, db string) {
	p := newSyncPair(t, db, 2, nil)
	bad := p.keys[0]
	p.up.SetKey(bad, fakegemini.Invalid)
	hitUntil(t, p, p.a, syncModel, bad)
	eventually(t, "invalid on the other instance", func() bool { return keyOf(p.b, bad).Status() == keypool.Invalid })
	p.up.SetKey(bad, fakegemini.OK)
	res, _ := p.b.CheckKeys(context.Background(), nil)
	if len(res) != 1 || !res[0].Valid {
		t.Fatalf("check: %+v", res)
	}
	eventually(t, "the first instance has the checked key back", func() bool { return keyOf(p.a, bad).Status() == keypool.Active })
}

// A setting patched on one instance changes what the other sends upstream:
// max_retries 0 means one attempt.
func TestSharedSettingChangesTheOthersCalls(t *testing.T) {
	syncEngines(t, testSharedSettingChangesTheOthersCalls)
}

func testSharedSettingChangesTheOthersCalls(t *testing.T, db string) {
	p := newSyncPair(t, db, 4, nil)
	if _, err := p.a.PatchSettings(context.Background(), map[string]json.RawMessage{"max_retries": json.RawMessage(`0`)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the other instance has max_retries 0", func() bool { return p.b.Settings().MaxRetries == 0 })
	p.up.SetDefault(fakegemini.ServerError)
	p.up.Reset()
	if _, f := send(p.b, syncModel); f == nil || f.Status != http.StatusInternalServerError {
		t.Fatalf("failure %+v", f)
	}
	if n := len(p.up.KeysUsed()); n != 1 {
		t.Errorf("%d attempts, want 1", n)
	}
}

// insertEvent writes an event row with a chosen id, as a transaction that
// took its id earlier and commits later would leave it.
func insertEvent(t *testing.T, st *store.Store, id int64, kind, keyID, model string, until time.Time) {
	t.Helper()
	err := st.DB().Exec(`INSERT INTO gb_key_events (id, pool, instance_id, kind, key_ids, model, until_ms, reason, at_ms)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, syncPool, "elsewhere", kind, keyID, model, until.UnixMilli(), "test", time.Now().UnixMilli()).Error
	if err != nil {
		t.Fatal(err)
	}
}

// Ids can commit out of order: one skipped over is read when it appears,
// and a late event does not undo a later one for the same key.
func TestSharedEventsOutOfOrder(t *testing.T) { syncEngines(t, testSharedEventsOutOfOrder) }

func testSharedEventsOutOfOrder(t *testing.T, db string) {
	p := newSyncPair(t, db, 3, nil)
	st := p.b.Store()
	time.Sleep(2 * eventPollEvery) // both instances' start-up is behind them
	base, err := st.LastKeyEventID(context.Background(), syncPool)
	if err != nil {
		t.Fatal(err)
	}
	base += 100
	k0, k1, k2 := secret.ID(p.keys[0]), secret.ID(p.keys[1]), secret.ID(p.keys[2])
	until := time.Now().Add(time.Minute)
	// base+2 and base+4 commit first; base+1 and base+3 took their ids
	// earlier and commit later.
	insertEvent(t, st, base+2, store.EventCooldown, k1, syncModel, until)
	insertEvent(t, st, base+4, store.EventInvalid, k2, "", time.Time{})
	eventually(t, "the events committed first apply", func() bool {
		return !keyOf(p.a, p.keys[1]).CoolingUntil(syncModel, time.Now()).IsZero() && keyOf(p.a, p.keys[2]).Status() == keypool.Invalid
	})
	insertEvent(t, st, base+1, store.EventInvalid, k0, "", time.Time{})
	insertEvent(t, st, base+3, store.EventReset, k2, "", time.Time{})
	eventually(t, "the late event applies", func() bool { return keyOf(p.a, p.keys[0]).Status() == keypool.Invalid })
	time.Sleep(3 * eventPollEvery)
	if keyOf(p.a, p.keys[2]).Status() != keypool.Invalid {
		t.Error("a late reset undid a later invalid")
	}
	if !keyOf(p.a, p.keys[1]).CoolingUntil(syncModel, time.Now()).Equal(time.UnixMilli(until.UnixMilli())) {
		t.Error("cooldown lost")
	}
}

// While the database refuses the events, the outbox keeps the newest ones
// (bounded), Health says degraded, requests are served; when it comes back
// the newest changes reach the other instance.
func TestSharedOutboxBoundWhileTheDatabaseIsDown(t *testing.T) {
	oldLimit, oldAppend := outboxLimit, appendKeyEvents
	outboxLimit = 50
	t.Cleanup(func() { outboxLimit, appendKeyEvents = oldLimit, oldAppend })
	var mu sync.Mutex
	down := true
	var failing *store.Store // set once the pair is open
	appendKeyEvents = func(st *store.Store, ctx context.Context, evs []store.KeyEvent) error {
		mu.Lock()
		defer mu.Unlock()
		if down && st == failing {
			return fmt.Errorf("connect: connection refused")
		}
		return st.AppendKeyEvents(ctx, evs)
	}
	p := newSyncPair(t, "", 3, nil)
	mu.Lock()
	failing = p.a.Store()
	mu.Unlock()
	hot := keyOf(p.a, p.keys[2])
	until := time.Now().Add(time.Minute)
	for i := range 80 {
		p.a.emitKey(store.EventCooldown, hot, fmt.Sprintf("model-%02d", i), until, "429")
	}
	if got := p.a.EventsDropped(); got != 30 {
		t.Errorf("%d events dropped, want 30", got)
	}
	time.Sleep(3 * eventFlushEvery)
	h := p.a.Health(context.Background())
	if h.Status != "degraded" || !slices.ContainsFunc(h.Problems, func(s string) bool { return strings.Contains(s, "not shared") }) {
		t.Errorf("health while events cannot be written: %+v", h)
	}
	if p.a.EventsDropped() != 30 {
		t.Errorf("failed writes dropped more: %d", p.a.EventsDropped())
	}
	// Requests are served from memory meanwhile.
	for range 6 {
		if _, f := send(p.a, syncModel); f != nil {
			t.Fatalf("call failed while the events could not be written: %+v", f)
		}
	}
	if !keyOf(p.b, p.keys[2]).CoolingUntil("model-79", time.Now()).IsZero() {
		t.Fatal("an event crossed while the database was down")
	}
	mu.Lock()
	down = false
	mu.Unlock()
	eventually(t, "the newest queued change reaches the other instance", func() bool {
		return !keyOf(p.b, p.keys[2]).CoolingUntil("model-79", time.Now()).IsZero()
	})
	other := keyOf(p.b, p.keys[2])
	if other.CoolingUntil("model-30", time.Now()).IsZero() || !other.CoolingUntil("model-29", time.Now()).IsZero() {
		t.Error("the outbox did not keep exactly the newest 50 events")
	}
	if h := p.a.Health(context.Background()); h.Status != "ok" {
		t.Errorf("health after the database came back: %+v", h)
	}
}

// Reads that fail are retried from where they stopped, and Health says so.
func TestSharedReadFailureIsRetried(t *testing.T) {
	oldRead := keyEventsAfter
	t.Cleanup(func() { keyEventsAfter = oldRead })
	var mu sync.Mutex
	down := true
	var failing *store.Store // set once the pair is open
	keyEventsAfter = func(st *store.Store, ctx context.Context, pool string, after int64) ([]store.KeyEvent, error) {
		mu.Lock()
		defer mu.Unlock()
		if down && st == failing {
			return nil, fmt.Errorf("connect: connection refused")
		}
		return st.KeyEventsAfter(ctx, pool, after, eventPage)
	}
	p := newSyncPair(t, "", 2, nil)
	mu.Lock()
	failing = p.b.Store()
	mu.Unlock()
	bad := p.keys[0]
	p.up.SetKey(bad, fakegemini.Invalid)
	hitUntil(t, p, p.a, syncModel, bad)
	time.Sleep(4 * eventPollEvery)
	if keyOf(p.b, bad).Status() != keypool.Active {
		t.Fatal("applied while reads fail")
	}
	h := p.b.Health(context.Background())
	if !slices.ContainsFunc(h.Problems, func(s string) bool { return strings.Contains(s, "not read") }) {
		t.Errorf("health while reads fail: %+v", h)
	}
	mu.Lock()
	down = false
	mu.Unlock()
	eventually(t, "applied once reads work", func() bool { return keyOf(p.b, bad).Status() == keypool.Invalid })
}

func TestOutboxKeepsTheNewest(t *testing.T) {
	var o outbox
	ev := func(i int) store.KeyEvent { return store.KeyEvent{ID: int64(i)} }
	dropped := 0
	for i := range 100 {
		if o.push(ev(i), 40) {
			dropped++
		}
		if i == 10 { // a take in the middle, with the ring partly used
			if got := o.take(); len(got) != 11 || got[0].ID != 0 || got[10].ID != 10 {
				t.Fatalf("take: %v", got)
			}
		}
	}
	got := o.take()
	if dropped != 89-40 || len(got) != 40 {
		t.Fatalf("dropped %d, kept %d", dropped, len(got))
	}
	for i, e := range got {
		if e.ID != int64(60+i) {
			t.Fatalf("kept %v", got)
		}
	}
	if o.len() != 0 || o.take() != nil {
		t.Error("not empty after take")
	}
}

// Emitting is what a failing request adds to its path: an append under a
// mutex, no database. down makes every write fail, so the outbox stays full
// and each emit overwrites the oldest event.
func benchmarkEmit(b *testing.B, down bool) {
	if down {
		old := appendKeyEvents
		appendKeyEvents = func(*store.Store, context.Context, []store.KeyEvent) error { return fmt.Errorf("down") }
		defer func() { appendKeyEvents = old }()
	}
	up := fakegemini.New()
	defer up.Close()
	s := settings.Defaults()
	s.BaseURL = up.URL
	s.CheckInterval = 0
	bal, err := Open(Config{Name: "bench", DatabasePath: filepath.Join(b.TempDir(), "b.db"), Keys: syncKeys(1), Settings: s}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer bal.Close()
	k := bal.Ring().Keys()[0]
	until := time.Now().Add(time.Minute)
	if down {
		for range outboxLimit {
			bal.emitKey(store.EventCooldown, k, syncModel, until, "429")
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		bal.emitKey(store.EventCooldown, k, syncModel, until, "429")
	}
}

func BenchmarkEmit(b *testing.B)             { benchmarkEmit(b, false) }
func BenchmarkEmitDatabaseDown(b *testing.B) { benchmarkEmit(b, true) }

// The database stops mid-load and starts again: no request fails, /health
// says degraded naming the database (password masked), and a change made
// while it was down reaches the other instance once it is back.
func TestSharedDatabaseStoppedMidLoad(t *testing.T) {
	for _, engine := range []string{"postgres", "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			if v := os.Getenv("GEMINI_BALANCE_ENGINES"); v != "" && !strings.Contains(","+v+",", ","+engine+",") {
				t.Skip("engine not selected")
			}
			var srv *dbtest.Server
			if engine == "postgres" {
				srv = dbtest.NewPostgresServer(t)
			} else {
				srv = dbtest.NewMariaDBServer(t)
			}
			testDatabaseStoppedMidLoad(t, srv)
		})
	}
}

func testDatabaseStoppedMidLoad(t *testing.T, srv *dbtest.Server) {
	p := newSyncPair(t, srv.DSN(t), 4, nil)
	var (
		wg       sync.WaitGroup
		stop     = make(chan struct{})
		mu       sync.Mutex
		served   int
		failures []string
	)
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := p.a
			if i%2 == 1 {
				b = p.b
			}
			for {
				select {
				case <-stop:
					return
				default:
				}
				_, f := send(b, syncModel)
				mu.Lock()
				if f != nil {
					failures = append(failures, fmt.Sprintf("%d %s", f.Status, f.Body))
				} else {
					served++
				}
				mu.Unlock()
				time.Sleep(2 * time.Millisecond)
			}
		}()
	}
	time.Sleep(300 * time.Millisecond)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	// While it is down, the first instance finds a key rate limited on
	// another model.
	hot := p.keys[0]
	p.up.SetKey(hot, fakegemini.RateLimited)
	for keyOf(p.a, hot).CoolingUntil(syncOther, time.Now()).IsZero() {
		send(p.a, syncOther)
	}
	p.up.SetKey(hot, fakegemini.OK)
	time.Sleep(time.Second)
	h := p.a.Health(context.Background())
	raw, _ := json.Marshal(h)
	if h.Status != "degraded" || !strings.Contains(string(raw), fmt.Sprint(srv.Port())) {
		t.Errorf("health while the database is down does not name it: %s", raw)
	}
	if strings.Contains(string(raw), srv.Password()) {
		t.Errorf("health shows the password: %s", raw)
	}
	t.Logf("health while down: %s", raw)
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for keyOf(p.b, hot).CoolingUntil(syncOther, time.Now()).IsZero() {
		if time.Since(start) > 20*time.Second {
			t.Fatal("the change made while the database was down never reached the other instance")
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the change made while the database was down arrived %v after it returned", time.Since(start).Round(time.Millisecond))
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	if len(failures) > 0 {
		t.Errorf("%d of %d requests failed, first: %s", len(failures), served+len(failures), failures[0])
	}
	t.Logf("%d requests served across the outage", served)
	// The request logs of the outage: how many reached the database.
	for _, b := range []*Balancer{p.a, p.b} {
		b.Store().Flush(context.Background())
	}
	_, logged, err := p.a.RequestLogs(context.Background(), store.LogFilter{})
	st := p.a.Store().Stats()
	t.Logf("request logs stored: %d (err %v); instance a's log pipeline: %+v", logged, err, st)
}

// Stats and logs read the database, so each instance counts both.
func TestSharedStatsCountBothInstances(t *testing.T) {
	syncEngines(t, testSharedStatsCountBothInstances)
}

func testSharedStatsCountBothInstances(t *testing.T, db string) {
	p := newSyncPair(t, db, 2, nil)
	for range 3 {
		send(p.a, syncModel)
	}
	for range 5 {
		send(p.b, syncModel)
	}
	for _, b := range []*Balancer{p.a, p.b} {
		if err := b.Store().Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range []*Balancer{p.a, p.b} {
		st, err := b.Stats(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if st.Minute.Total != 8 {
			t.Errorf("stats count %d calls in the last minute, want 8: %+v", st.Minute.Total, st.Minute)
		}
		if _, n, _ := b.RequestLogs(context.Background(), store.LogFilter{}); n != 8 {
			t.Errorf("%d request logs, want 8", n)
		}
		calls := b.KeyCalls24h(context.Background(), b.Ring().Keys())
		if calls[secret.ID(p.keys[0])]+calls[secret.ID(p.keys[1])] != 8 {
			t.Errorf("calls per key %v, want 8 in all", calls)
		}
	}
}

// A gap is asked for only gapWait long: an id that appears later than that
// is taken for another pool's or a rolled-back one and is not read.
func TestSharedGapsExpire(t *testing.T) {
	old := gapWait
	gapWait = 300 * time.Millisecond
	t.Cleanup(func() { gapWait = old })
	p := newSyncPair(t, "", 2, nil)
	st := p.b.Store()
	time.Sleep(2 * eventPollEvery)
	base, err := st.LastKeyEventID(context.Background(), syncPool)
	if err != nil {
		t.Fatal(err)
	}
	base += 10
	insertEvent(t, st, base+2, store.EventInvalid, secret.ID(p.keys[1]), "", time.Time{})
	eventually(t, "the event committed first applies", func() bool { return keyOf(p.a, p.keys[1]).Status() == keypool.Invalid })
	time.Sleep(gapWait + 3*eventPollEvery)
	insertEvent(t, st, base+1, store.EventInvalid, secret.ID(p.keys[0]), "", time.Time{})
	time.Sleep(3 * eventPollEvery)
	if keyOf(p.a, p.keys[0]).Status() != keypool.Active {
		t.Error("an event found after its gap expired was applied")
	}
}

// 20,000 keys added in one admin call on one instance reach the other (and
// a reset of all of them is 21 events, not 20,001).
func TestSharedBulkAdd(t *testing.T) { syncEngines(t, testSharedBulkAdd) }

func testSharedBulkAdd(t *testing.T, db string) {
	p := newSyncPair(t, db, 1, nil)
	n := 20000
	if raceEnabled {
		n = 2000 // SQLite under the race detector is about 50 times slower
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("AIzaSyBULK%029d", i)
	}
	start := time.Now()
	res, err := p.a.AddKeys(context.Background(), keys, keypool.SourceAdmin)
	if err != nil || res.Added != len(keys) {
		t.Fatalf("add: %+v %v", res.Added, err)
	}
	t.Logf("added %d keys on the first instance in %v", n, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	for p.b.Ring().Len() != len(keys)+1 {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("the other instance has %d keys", p.b.Ring().Len())
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("the other instance has them %v later", time.Since(start).Round(time.Millisecond))
	if got, _ := p.a.ResetKeys(nil); got != n+1 {
		t.Fatalf("reset %d", got)
	}
	want := (n + 1 + store.MaxEventKeys - 1) / store.MaxEventKeys
	resets := func() int {
		evs, _ := p.b.Store().KeyEventsAfter(context.Background(), syncPool, 0, 1000)
		c := 0
		for _, e := range evs {
			if e.Kind == store.EventReset {
				c++
			}
		}
		return c
	}
	eventually(t, "the reset is stored", func() bool { return resets() >= want })
	if got := resets(); got != want {
		t.Errorf("%d reset events, want %d", got, want)
	}
}
