package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func openTest(t testing.TB, opts Options) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data", "gb.db")
	s, err := OpenWithOptions(path, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func ctxT(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// lockDB opens a second connection to the file and takes the write lock with
// BEGIN EXCLUSIVE. The returned function releases it.
func lockDB(t *testing.T, path string) (release func()) {
	t.Helper()
	db2, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db2.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN EXCLUSIVE"); err != nil {
		t.Fatalf("BEGIN EXCLUSIVE: %v", err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
			_ = conn.Close()
			_ = db2.Close()
		})
	}
	t.Cleanup(release)
	return release
}

func TestOpenWALAndPragmas(t *testing.T) {
	s := openTest(t, Options{})
	ctx := ctxT(t)

	if fi, err := os.Stat(filepath.Dir(s.Path())); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("parent dir: %v %v", fi.Mode().Perm(), err)
	}
	if fi, err := os.Stat(s.Path()); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("db file: %v %v", fi.Mode().Perm(), err)
	}

	// Check the pragmas on several pooled connections at once.
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conn, err := s.sqlDB.Conn(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			var mode string
			var busy, syncMode int
			if err := conn.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
				t.Error(err)
			}
			if err := conn.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
				t.Error(err)
			}
			if err := conn.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&syncMode); err != nil {
				t.Error(err)
			}
			var ckpt int
			if err := conn.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&ckpt); err != nil {
				t.Error(err)
			}
			if mode != "wal" || busy != 5000 || syncMode != 1 || ckpt != walAutocheckpoint {
				t.Errorf("journal_mode=%q busy_timeout=%d synchronous=%d wal_autocheckpoint=%d, want wal 5000 1 %d",
					mode, busy, syncMode, ckpt, walAutocheckpoint)
			}
			time.Sleep(20 * time.Millisecond) // keep the conn so the others use new ones
		}()
	}
	wg.Wait()

	if err := s.Ping(ctx); err != nil {
		t.Fatalf("ping: %v", err)
	}
	for _, table := range []string{"gb_keys", "gb_settings", "gb_request_logs", "gb_error_logs"} {
		if !s.db.Migrator().HasTable(table) {
			t.Errorf("missing table %s", table)
		}
	}
	for _, idx := range []struct{ table, name string }{
		{"gb_keys", "ux_gb_keys_pool_key_id"},
		{"gb_request_logs", "idx_gb_request_logs_pool_time"},
		{"gb_request_logs", "idx_gb_request_logs_key_failed"},
		{"gb_request_rollups", "idx_gb_request_rollups_name"},
		{"gb_request_logs", "idx_gb_request_logs_status_failed"},
		{"gb_error_logs", "idx_gb_error_logs_pool_time"},
	} {
		if !s.db.Migrator().HasIndex(idx.table, idx.name) {
			t.Errorf("missing index %s on %s", idx.name, idx.table)
		}
	}

	// Reopening an existing database works (migration is idempotent).
	path := s.Path()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s2, err := Open(path, 0, nil)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	if cap(s2.queue) != DefaultQueueSize {
		t.Fatalf("queue size %d", cap(s2.queue))
	}
}

func TestOpenRejectsBadPaths(t *testing.T) {
	for _, p := range []string{"", ":memory:", "file:x.db", filepath.Join(t.TempDir(), "a?b.db")} {
		if s, err := Open(p, 0, nil); err == nil {
			_ = s.Close()
			t.Errorf("Open(%q) succeeded", p)
		}
	}
}

func TestKeysRoundtrip(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		s := openEngine(t, engine, Options{})
		ctx := ctxT(t)

		future := time.Now().Add(time.Hour).Truncate(time.Millisecond)
		past := time.Now().Add(-time.Hour).Truncate(time.Microsecond) // servers keep microseconds
		created := time.Date(2024, 5, 1, 10, 0, 0, 0, time.FixedZone("X", 3600))
		recs := []KeyRecord{
			{Pool: "p1", KeyID: "a1", Key: "AIzaSyAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA1", Masked: "AIzaSy…AAA1", Source: "caddyfile",
				Cooldowns: map[string]time.Time{"gemini-pro": future, "old": past}, CreatedAt: created},
			{Pool: "p1", KeyID: "b2", Key: "AIzaSyBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB2", Masked: "AIzaSy…BBB2", Source: "admin",
				Status: StatusInvalid, Reason: "API key not valid", TotalFailures: 3, ConsecutiveFailures: 2, Calls: 10,
				LastUsedAt: past, LastError: "400"},
			{Pool: "p1", KeyID: "a1", Key: "dup-in-same-call"}, // duplicate inside the call
			{Pool: "p2", KeyID: "a1", Key: "other-pool"},       // same id, other pool
		}
		n, err := s.InsertKeys(ctx, recs)
		if err != nil {
			t.Fatal(err)
		}
		if n != 3 {
			t.Fatalf("inserted %d, want 3", n)
		}

		got, err := s.LoadKeys(ctx, "p1")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].KeyID != "a1" || got[1].KeyID != "b2" {
			t.Fatalf("load order: %+v", got)
		}
		a := got[0]
		if a.Key != recs[0].Key || a.Masked != recs[0].Masked || a.Status != StatusActive || a.Source != "caddyfile" {
			t.Fatalf("a1: %+v", a)
		}
		if !a.CreatedAt.Equal(created) || a.CreatedAt.Location() != time.UTC {
			t.Fatalf("created_at %v", a.CreatedAt)
		}
		if len(a.Cooldowns) != 1 || !a.Cooldowns["gemini-pro"].Equal(future) {
			t.Fatalf("cooldowns %v (expired entry must be dropped)", a.Cooldowns)
		}
		if !a.LastUsedAt.IsZero() {
			t.Fatalf("last used %v, want zero", a.LastUsedAt)
		}
		b := got[1]
		if b.Status != StatusInvalid || b.Reason != "API key not valid" || b.TotalFailures != 3 || b.ConsecutiveFailures != 2 ||
			b.Calls != 10 || !b.LastUsedAt.Equal(past) || b.LastError != "400" || b.Cooldowns != nil {
			t.Fatalf("b2: %+v", b)
		}

		// Duplicates against the table are skipped, new rows go in.
		n, err = s.InsertKeys(ctx, []KeyRecord{
			{Pool: "p1", KeyID: "a1", Key: "changed"},
			{Pool: "p1", KeyID: "c3", Key: "AIzaSyCCC"},
		})
		if err != nil || n != 1 {
			t.Fatalf("insert dup: n=%d err=%v", n, err)
		}
		if _, err := s.InsertKeys(ctx, []KeyRecord{{Pool: "p1", Key: "x"}}); err == nil {
			t.Fatal("empty key id accepted")
		}

		// Update state.
		now := time.Now().UTC().Truncate(time.Microsecond)
		a.Status = StatusInvalid
		a.Reason = "403 permission denied"
		a.ConsecutiveFailures = 5
		a.TotalFailures = 7
		a.Calls = 42
		a.LastUsedAt = now
		a.LastError = "boom"
		a.Source = "admin"
		a.Cooldowns = map[string]time.Time{"m1": future, "m2": future.Add(time.Minute), "gone": past}
		a.Key = "must-not-change"
		b.Status = StatusActive
		b.Cooldowns = nil
		b.LastUsedAt = time.Time{}
		missing := KeyRecord{Pool: "p1", KeyID: "nope", Status: StatusActive}
		if err := s.SaveKeyStates(ctx, []KeyRecord{a, b, missing}); err != nil {
			t.Fatal(err)
		}
		got, err = s.LoadKeys(ctx, "p1")
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 {
			t.Fatalf("len %d", len(got))
		}
		a2 := got[0]
		if a2.Key != recs[0].Key || a2.Status != StatusInvalid || a2.Reason != a.Reason || a2.ConsecutiveFailures != 5 ||
			a2.TotalFailures != 7 || a2.Calls != 42 || !a2.LastUsedAt.Equal(now) || a2.LastError != "boom" || a2.Source != "admin" {
			t.Fatalf("after save: %+v", a2)
		}
		if len(a2.Cooldowns) != 2 || !a2.Cooldowns["m1"].Equal(future) || !a2.Cooldowns["m2"].Equal(future.Add(time.Minute)) {
			t.Fatalf("cooldowns after save: %v", a2.Cooldowns)
		}
		if got[1].Status != StatusActive || !got[1].LastUsedAt.IsZero() || got[1].Cooldowns != nil {
			t.Fatalf("b2 after save: %+v", got[1])
		}
		if c, _ := s.CountKeys(ctx, "p1"); c != 3 {
			t.Fatalf("count %d", c)
		}

		// Delete.
		d, err := s.DeleteKeys(ctx, "p1", []string{"a1", "c3", "unknown"})
		if err != nil || d != 2 {
			t.Fatalf("delete: %d %v", d, err)
		}
		got, _ = s.LoadKeys(ctx, "p1")
		if len(got) != 1 || got[0].KeyID != "b2" {
			t.Fatalf("after delete: %+v", got)
		}
		other, _ := s.LoadKeys(ctx, "p2")
		if len(other) != 1 || other[0].Key != "other-pool" {
			t.Fatalf("pool p2: %+v", other)
		}
		// Re-inserting a deleted id works and goes to the end.
		if n, err := s.InsertKeys(ctx, []KeyRecord{{Pool: "p1", KeyID: "a1", Key: "again"}}); err != nil || n != 1 {
			t.Fatalf("reinsert: %d %v", n, err)
		}
		got, _ = s.LoadKeys(ctx, "p1")
		if len(got) != 2 || got[1].KeyID != "a1" || got[1].Key != "again" {
			t.Fatalf("after reinsert: %+v", got)
		}
	})
}

func TestKeys100k(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		n := 100_000
		if testing.Short() {
			t.Skip("100k keys: skipped in -short mode")
		}
		if raceEnabled {
			// The transpiled SQLite is ~50x slower under the race detector; keep
			// the shape of the test, not the size.
			n = 2_000
		}
		s := openEngine(t, engine, Options{})
		ctx := ctxT(t)

		recs := make([]KeyRecord, n)
		for i := range recs {
			recs[i] = KeyRecord{
				Pool:   "big",
				KeyID:  fmt.Sprintf("%016x", i),
				Key:    fmt.Sprintf("AIzaSy%033d", i),
				Masked: fmt.Sprintf("AIzaSy…%04d", i%10000),
				Source: "caddyfile",
			}
		}

		start := time.Now()
		inserted := 0
		step := n / 10
		for off := 0; off < n; off += step { // 10 calls (each one transaction)
			k, err := s.InsertKeys(ctx, recs[off:off+step])
			if err != nil {
				t.Fatal(err)
			}
			inserted += k
		}
		insertDur := time.Since(start)
		if inserted != n {
			t.Fatalf("inserted %d", inserted)
		}

		start = time.Now()
		k, err := s.InsertKeys(ctx, recs) // all duplicates, one call
		dupDur := time.Since(start)
		if err != nil || k != 0 {
			t.Fatalf("dup insert: %d %v", k, err)
		}

		start = time.Now()
		cpu0 := processCPU()
		got, err := s.LoadKeys(ctx, "big")
		loadDur := time.Since(start)
		loadCPU := processCPU() - cpu0
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n || got[0].KeyID != recs[0].KeyID || got[n-1].KeyID != recs[n-1].KeyID {
			t.Fatalf("load: %d rows", len(got))
		}

		until := time.Now().Add(time.Hour)
		for i := range got {
			got[i].Calls = int64(i)
			got[i].LastUsedAt = time.Now()
			if i%10 == 0 {
				got[i].Cooldowns = map[string]time.Time{"gemini-2.5-pro": until}
			}
		}
		start = time.Now()
		if err := s.SaveKeyStates(ctx, got); err != nil {
			t.Fatal(err)
		}
		saveDur := time.Since(start)

		start = time.Now()
		got2, err := s.LoadKeys(ctx, "big")
		reloadDur := time.Since(start)
		if err != nil || len(got2) != n || got2[n-1].Calls != int64(n-1) || len(got2[10].Cooldowns) != 1 {
			t.Fatalf("reload: %d %v", len(got2), err)
		}

		t.Logf("%d keys (race=%v): insert %v (10 calls of %d), duplicate insert %v, load %v, save states %v, reload with cooldowns %v",
			n, raceEnabled, insertDur.Round(time.Millisecond), step, dupDur.Round(time.Millisecond), loadDur.Round(time.Millisecond),
			saveDur.Round(time.Millisecond), reloadDur.Round(time.Millisecond))
		t.Logf("first load used %v of process CPU (all goroutines, GC included)", loadCPU.Round(time.Millisecond))
		if !raceEnabled {
			// The target is < 2 s. Wall time on a shared, overloaded machine can be
			// several times the CPU time, so fail only at twice the target on
			// the best of the two loads, and report a miss of the target.
			best := min(loadDur, reloadDur)
			if best > 2*time.Second {
				t.Logf("WARNING: best load %v is above the 2 s target (load CPU %v)", best, loadCPU)
			}
			if best > 4*time.Second {
				t.Errorf("load too slow: %v / %v (target < 2s)", loadDur, reloadDur)
			}
			if insertDur > 10*time.Second || saveDur > 10*time.Second {
				t.Errorf("insert/save too slow: %v / %v", insertDur, saveDur)
			}
		}
	})
}

func TestLogQueueBatchesAndFlush(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		s := openEngine(t, engine, Options{FlushInterval: 50 * time.Millisecond})
		ctx := ctxT(t)

		// A single row is written by the timer, without Flush.
		if !s.LogRequest(RequestLog{Pool: "p", Status: 200}) {
			t.Fatal("enqueue refused")
		}
		deadline := time.Now().Add(5 * time.Second)
		for s.Stats().Written != 1 {
			if time.Now().After(deadline) {
				t.Fatalf("timer flush did not happen: %+v", s.Stats())
			}
			time.Sleep(10 * time.Millisecond)
		}

		base := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond) // servers keep microseconds
		const nReq = 1234
		var wg sync.WaitGroup
		for g := 0; g < 4; g++ {
			wg.Add(1)
			go func(g int) {
				defer wg.Done()
				for i := g; i < nReq; i += 4 {
					status := 200
					if i%10 == 0 {
						status = 429
					}
					if !s.LogRequest(RequestLog{
						Time: base.Add(time.Duration(i) * time.Millisecond), Pool: "pool1", Model: "gemini-2.5-flash",
						KeyID: "k1", KeyMasked: "AIza…k1", Status: status, LatencyMs: int64(i), Attempt: 1 + i%3,
						Stream: i%2 == 0, Route: "gemini.generateContent", ClientToken: "sk-…xy",
						PromptTokens: 1, CompletionTokens: 2, TotalTokens: 3,
					}) {
						t.Error("enqueue refused")
					}
				}
			}(g)
		}
		wg.Wait()
		for i := 0; i < 5; i++ {
			s.LogError(ErrorLog{Time: base.Add(time.Duration(i) * time.Second), Pool: "pool1", Model: "m", KeyID: "k1",
				Status: 429, Kind: "rate_limited", Message: fmt.Sprintf("err %d", i), Body: `{"error":{"code":429}}`})
		}
		s.LogError(ErrorLog{Pool: "pool2", Kind: "timeout", Body: strings.Repeat("é", maxBodyBytes)})
		if err := s.Flush(ctx); err != nil {
			t.Fatalf("flush: %v", err)
		}
		st := s.Stats()
		if st.Written != st.Queued || st.Queued != 1+nReq+6 || st.Dropped != 0 || st.WriteErrors != 0 || st.Pending != 0 {
			t.Fatalf("stats %+v", st)
		}

		total, success, err := s.CountRequestLogs(ctx, "pool1", base)
		if err != nil || total != nReq || success != nReq-(nReq+9)/10 {
			t.Fatalf("count: %d %d %v", total, success, err)
		}
		total, _, _ = s.CountRequestLogs(ctx, "pool1", base.Add(1000*time.Millisecond))
		if total != nReq-1000 {
			t.Fatalf("count since: %d", total)
		}
		total, _, _ = s.CountRequestLogs(ctx, "", time.Time{})
		if total != nReq+1 {
			t.Fatalf("count all pools: %d", total)
		}

		reqs, err := s.RequestLogs(ctx, "pool1", 3)
		if err != nil || len(reqs) != 3 {
			t.Fatalf("request logs: %d %v", len(reqs), err)
		}
		last := nReq - 1
		r := reqs[0]
		if !r.Time.Equal(base.Add(time.Duration(last)*time.Millisecond)) || r.LatencyMs != int64(last) || r.Attempt != 1+last%3 ||
			r.Stream != (last%2 == 0) || r.Route != "gemini.generateContent" || r.ClientToken != "sk-…xy" || r.TotalTokens != 3 ||
			r.Model != "gemini-2.5-flash" || r.KeyMasked != "AIza…k1" {
			t.Fatalf("newest request log: %+v", r)
		}
		if !reqs[1].Time.Before(reqs[0].Time) {
			t.Fatal("not newest first")
		}

		errs, err := s.ErrorLogs(ctx, "pool1", 0)
		if err != nil || len(errs) != 5 || errs[0].Message != "err 4" || errs[4].Message != "err 0" || errs[0].Kind != "rate_limited" {
			t.Fatalf("error logs: %+v %v", errs, err)
		}
		errs, _ = s.ErrorLogs(ctx, "pool2", 10)
		if len(errs) != 1 || len(errs[0].Body) > maxBodyBytes || !strings.HasSuffix(errs[0].Body, truncatedMark) {
			t.Fatalf("truncated body: %d", len(errs[0].Body))
		}
	})
}

func TestQueueFullDropsWithoutBlocking(t *testing.T) {
	s := openTest(t, Options{QueueSize: 4, FlushInterval: 10 * time.Millisecond, BatchSize: 2})
	ctx := ctxT(t)
	release := lockDB(t, s.Path())

	const n = 2000
	accepted := 0
	var slowest time.Duration
	start := time.Now()
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if s.LogRequest(RequestLog{Pool: "p", Status: 200}) {
			accepted++
		}
		if d := time.Since(t0); d > slowest {
			slowest = d
		}
	}
	elapsed := time.Since(start)
	st := s.Stats()
	t.Logf("%d LogRequest calls with the DB write-locked: %v total, slowest %v, accepted %d, dropped %d",
		n, elapsed, slowest, accepted, st.Dropped)
	if elapsed > time.Second {
		t.Fatalf("LogRequest blocked: %v for %d calls", elapsed, n)
	}
	if st.Dropped != int64(n-accepted) || st.Dropped < n-10 {
		t.Fatalf("dropped %d accepted %d", st.Dropped, accepted)
	}
	if st.Written != 0 {
		t.Fatalf("written %d while locked", st.Written)
	}

	// Flush cannot finish while the lock is held...
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	if err := s.Flush(short); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("flush while locked: %v", err)
	}
	cancel()
	// ...and completes once it is released (the busy timeout is 5 s).
	release()
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("flush after release: %v", err)
	}
	st = s.Stats()
	if st.Written != int64(accepted) || st.WriteErrors != 0 {
		t.Fatalf("stats after release: %+v (accepted %d)", st, accepted)
	}
	if total, _, _ := s.CountRequestLogs(ctx, "p", time.Time{}); total != int64(accepted) {
		t.Fatalf("rows %d, accepted %d", total, accepted)
	}
}

func TestLockedDatabaseCountsErrorsAndRecovers(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	s := openTest(t, Options{BusyTimeout: 100 * time.Millisecond, FlushInterval: time.Hour, Logger: zap.New(core)})
	ctx := ctxT(t)
	release := lockDB(t, s.Path())

	for round := 0; round < 3; round++ {
		for i := 0; i < 10; i++ {
			s.LogRequest(RequestLog{Pool: "p", Status: 500})
		}
		if err := s.Flush(ctx); err == nil || classifyError(err) != "locked" {
			t.Fatalf("flush while locked: %v (%s)", err, classifyError(err))
		}
	}
	// The rows are kept for a retry, not lost.
	st := s.Stats()
	if st.WriteErrors < 3 || st.FailedRows != 0 || st.Pending != 30 || st.LastError == "" || st.LastErrorAt.IsZero() {
		t.Fatalf("stats %+v", st)
	}
	// Rate limited: one log line for the three failures.
	if n := logs.FilterMessage("database error").Len(); n != 1 {
		t.Fatalf("%d error log lines, want 1", n)
	}
	if err := s.Ping(ctx); err != nil { // readers are not blocked in WAL mode
		t.Fatalf("ping while write-locked: %v", err)
	}

	release()
	s.LogRequest(RequestLog{Pool: "p", Status: 200})
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("flush after release: %v", err)
	}
	if total, success, _ := s.CountRequestLogs(ctx, "p", time.Time{}); total != 31 || success != 1 {
		t.Fatalf("after recovery: %d %d", total, success)
	}
	if st := s.Stats(); st.Written != 31 || st.FailedRows != 0 || st.Dropped != 0 || st.Pending != 0 {
		t.Fatalf("stats after recovery %+v", st)
	}
}

func TestDatabaseGone(t *testing.T) {
	s := openTest(t, Options{FlushInterval: time.Hour})
	ctx := ctxT(t)

	// Pull the database out from under the store.
	if err := s.sqlDB.Close(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < 100; i++ {
		s.LogRequest(RequestLog{Pool: "p", Status: 200})
		s.LogError(ErrorLog{Pool: "p", Kind: "timeout"})
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("logging took %v", d)
	}
	if err := s.Flush(ctx); err == nil {
		t.Fatal("flush succeeded on a closed database")
	}
	// The writer keeps going: more rows, more (counted) errors, no panic.
	s.LogRequest(RequestLog{Pool: "p"})
	_ = s.Flush(ctx)
	st := s.Stats()
	if st.WriteErrors < 2 || st.Written != 0 || st.FailedRows != 201 || st.LastError == "" {
		t.Fatalf("stats %+v", st)
	}
	if err := s.Ping(ctx); err == nil {
		t.Fatal("ping succeeded")
	}
	if _, err := s.LoadKeys(ctx, "p"); err == nil {
		t.Fatal("load keys succeeded")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
}

func TestDirectoryRemoved(t *testing.T) {
	s := openTest(t, Options{FlushInterval: 10 * time.Millisecond})
	ctx := ctxT(t)
	if err := os.RemoveAll(filepath.Dir(s.Path())); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 100; i++ {
		if !s.LogRequest(RequestLog{Pool: "p", Status: 200}) {
			t.Fatal("enqueue refused")
		}
	}
	// Depending on the platform the open file handles keep working (unlinked
	// file) or writes fail; either way nothing panics or blocks.
	err := s.Flush(ctx)
	st := s.Stats()
	t.Logf("after removing the directory: flush err=%v stats=%+v", err, st)
	if st.Written+st.FailedRows != 100 {
		t.Fatalf("rows unaccounted for: %+v", st)
	}
}

func TestCloseFlushesQueue(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		path := testDSN(t, engine)
		s, err := OpenWithOptions(path, Options{FlushInterval: time.Hour, BatchSize: 10000})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 777; i++ {
			s.LogRequest(RequestLog{Pool: "p", Status: 200})
		}
		s.LogError(ErrorLog{Pool: "p", Kind: "x"})
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if s.LogRequest(RequestLog{Pool: "p"}) || s.LogError(ErrorLog{Pool: "p"}) {
			t.Fatal("enqueue accepted after close")
		}
		if err := s.Flush(context.Background()); !errors.Is(err, ErrClosed) {
			t.Fatalf("flush after close: %v", err)
		}
		if _, err := s.LoadKeys(context.Background(), "p"); !errors.Is(err, ErrClosed) {
			t.Fatalf("load after close: %v", err)
		}
		if st := s.Stats(); st.Written != 778 || st.Dropped != 2 {
			t.Fatalf("stats %+v", st)
		}

		s2, err := Open(path, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		total, _, err := s2.CountRequestLogs(context.Background(), "p", time.Time{})
		if err != nil || total != 777 {
			t.Fatalf("after reopen: %d %v", total, err)
		}
	})
}

func TestPurge(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		s := openEngine(t, engine, Options{})
		ctx := ctxT(t)
		now := time.Now().UTC()
		const old, recent = 12_345, 100
		for i := 0; i < old; i++ {
			s.LogRequest(RequestLog{Time: now.Add(-48*time.Hour + time.Duration(i)*time.Second), Pool: "p", Status: 200})
			if i%1000 == 0 {
				if err := s.Flush(ctx); err != nil { // keep the default queue from overflowing
					t.Fatal(err)
				}
			}
		}
		for i := 0; i < recent; i++ {
			s.LogRequest(RequestLog{Time: now.Add(-time.Duration(i) * time.Second), Pool: "p", Status: 200})
		}
		for i := 0; i < 10; i++ {
			s.LogError(ErrorLog{Time: now.Add(-time.Duration(i) * 24 * time.Hour), Pool: "p"})
		}
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); st.Dropped != 0 {
			t.Fatalf("dropped %d", st.Dropped)
		}
		cut := now.Add(-24 * time.Hour)
		start := time.Now()
		n, err := s.PurgeRequestLogs(ctx, cut)
		if err != nil || n != old {
			t.Fatalf("purge requests: %d %v", n, err)
		}
		t.Logf("purged %d request logs in %v", n, time.Since(start))
		if total, _, _ := s.CountRequestLogs(ctx, "", time.Time{}); total != recent {
			t.Fatalf("left %d", total)
		}
		n, err = s.PurgeErrorLogs(ctx, cut.Add(-time.Second))
		if err != nil || n != 8 { // days 2..9 are older than 24h+1s
			t.Fatalf("purge errors: %d %v", n, err)
		}
		if n, _ := s.PurgeRequestLogs(ctx, cut); n != 0 {
			t.Fatalf("second purge %d", n)
		}
	})
}

func TestSettingsRoundtrip(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		s := openEngine(t, engine, Options{})
		ctx := ctxT(t)

		m, err := s.LoadSettings(ctx, "p")
		if err != nil || m == nil || len(m) != 0 {
			t.Fatalf("empty load: %v %v", m, err)
		}
		in := map[string]json.RawMessage{
			"max_retries":   json.RawMessage(`3`),
			"models":        json.RawMessage(`["gemini-2.5-pro","gemini-2.5-flash"]`),
			"log_bodies":    json.RawMessage(`true`),
			"nested":        json.RawMessage(`{"a":{"b":1}}`),
			"nil_is_null":   nil,
			"unicode_value": json.RawMessage(`"héllo ✓"`),
		}
		if err := s.SaveSettings(ctx, "p", in); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveSettings(ctx, "other", map[string]json.RawMessage{"max_retries": json.RawMessage(`9`)}); err != nil {
			t.Fatal(err)
		}
		m, err = s.LoadSettings(ctx, "p")
		if err != nil || len(m) != len(in) {
			t.Fatalf("load: %v %v", m, err)
		}
		for k, v := range in {
			want := string(v)
			if v == nil {
				want = "null"
			}
			if string(m[k]) != want {
				t.Errorf("%s = %s, want %s", k, m[k], want)
			}
		}
		// Upsert.
		if err := s.SaveSettings(ctx, "p", map[string]json.RawMessage{"max_retries": json.RawMessage(`5`), "new": json.RawMessage(`"x"`)}); err != nil {
			t.Fatal(err)
		}
		m, _ = s.LoadSettings(ctx, "p")
		if string(m["max_retries"]) != "5" || string(m["new"]) != `"x"` || len(m) != len(in)+1 {
			t.Fatalf("after upsert: %v", m)
		}
		if err := s.SaveSettings(ctx, "p", map[string]json.RawMessage{"bad": json.RawMessage(`{not json`)}); err == nil {
			t.Fatal("invalid JSON accepted")
		}
		if err := s.DeleteSettings(ctx, "p", []string{"new", "models", "unknown"}); err != nil {
			t.Fatal(err)
		}
		m, _ = s.LoadSettings(ctx, "p")
		if _, ok := m["models"]; ok || len(m) != len(in)-1 {
			t.Fatalf("after delete: %v", m)
		}
		o, _ := s.LoadSettings(ctx, "other")
		if string(o["max_retries"]) != "9" {
			t.Fatalf("other pool: %v", o)
		}
	})
}

func TestTruncate(t *testing.T) {
	if got := truncate("short", 10); got != "short" {
		t.Fatal(got)
	}
	s := strings.Repeat("é", 100) // 200 bytes
	got := truncate(s, 51)
	if len(got) > 51 || !strings.HasSuffix(got, truncatedMark) || !utf8Valid(got) {
		t.Fatalf("%q", got)
	}
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func TestClassifyError(t *testing.T) {
	if k := classifyError(sql.ErrConnDone); k != "closed" {
		t.Fatal(k)
	}
	if k := classifyError(context.Canceled); k != "canceled" {
		t.Fatal(k)
	}
	if k := classifyError(errors.New("x")); k != "other" {
		t.Fatal(k)
	}
}

func TestCloseIsBounded(t *testing.T) {
	s := openTest(t, Options{BusyTimeout: 2 * time.Second, FlushInterval: 10 * time.Millisecond})
	s.closeTimeout = 300 * time.Millisecond
	release := lockDB(t, s.Path())
	for i := 0; i < 10; i++ {
		s.LogRequest(RequestLog{Pool: "p"})
	}
	time.Sleep(50 * time.Millisecond) // the writer is now waiting for the lock
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	d := time.Since(start)
	t.Logf("Close with the database write-locked took %v", d)
	if d > 1500*time.Millisecond {
		t.Fatalf("Close took %v", d)
	}
	release()
	select {
	case <-s.writerDone:
	case <-time.After(10 * time.Second):
		t.Fatal("writer never stopped")
	}
	if st := s.Stats(); st.Written != 0 || st.FailedRows != 10 {
		t.Fatalf("stats %+v", st)
	}
}

func TestParseDBTime(t *testing.T) {
	base := time.Date(2025, 2, 28, 23, 59, 58, 0, time.UTC)
	for _, ns := range []int{0, 1, 10, 500_000_000, 123_456_789, 999_999_999, 120_000} {
		want := base.Add(time.Duration(ns))
		// The layout the driver writes.
		s := want.Format("2006-01-02 15:04:05.999999999-07:00")
		got, ok := parseDBTime(s)
		if !ok || !got.Equal(want) || got.Location() != time.UTC {
			t.Errorf("%q -> %v %v, want %v", s, got, ok, want)
		}
		if _, ok := parseUTCFast(s); !ok {
			t.Errorf("%q not on the fast path", s)
		}
	}
	for s, want := range map[string]time.Time{
		"2025-02-28 23:59:58.5+02:00": base.Add(500*time.Millisecond - 2*time.Hour),
		"2025-02-28T23:59:58Z":        base,
		"2025-02-28 23:59:58":         base,
		"2025-02-28":                  time.Date(2025, 2, 28, 0, 0, 0, 0, time.UTC),
	} {
		if got, ok := parseDBTime(s); !ok || !got.Equal(want) {
			t.Errorf("%q -> %v %v, want %v", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "garbage", "2025-02-30 10:00:00+00:00", "2025-13-01 10:00:00+00:00", "2025-01-01 10:00:00.+00:00"} {
		if got, ok := parseDBTime(s); ok {
			t.Errorf("%q parsed as %v", s, got)
		}
	}
}
