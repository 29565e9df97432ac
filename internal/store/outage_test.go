package store

import (
	"database/sql"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/dbtest"
)

// Tests of the log pipeline when the database goes away or refuses rows, and
// of two instances purging or deleting the same log rows at once.

// TestLogOutageCatchesUp stops a private server for about two seconds while
// rows keep being logged: LogRequest never blocks, and once the server is back
// every row is stored (none failed, none dropped: the queue is big enough).
func TestLogOutageCatchesUp(t *testing.T) {
	for _, engine := range testEngines() {
		if engine == engineSQLite {
			continue // SQLite: TestLockedDatabaseCountsErrorsAndRecovers
		}
		t.Run(engine, func(t *testing.T) { testLogOutageCatchesUp(t, engine) })
	}
}

func testLogOutageCatchesUp(t *testing.T, engine string) {
	var srv *dbtest.Server
	if engine == enginePostgres {
		srv = dbtest.NewPostgresServer(t)
	} else {
		srv = dbtest.NewMariaDBServer(t)
	}
	s := openDSN(t, srv.DSN(t), Options{FlushInterval: 20 * time.Millisecond, BatchSize: 50})
	ctx := ctxT(t)

	// A steady trickle of rows from before the stop to after the start.
	stop := make(chan struct{})
	var logged atomic.Int64
	var slowest atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			t0 := time.Now()
			ok := s.LogRequest(RequestLog{Pool: "p", Model: "m", KeyID: "k", Status: 200 + 229*(i%2)})
			if i%10 == 0 {
				ok = s.LogError(ErrorLog{Pool: "p", Kind: "rate_limited", Message: "boom"}) && ok
			}
			if d := int64(time.Since(t0)); d > slowest.Load() {
				slowest.Store(d)
			}
			if !ok {
				t.Error("row refused by the queue")
				return
			}
			logged.Add(1)
		}
	}()

	time.Sleep(300 * time.Millisecond)
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	during := s.Stats()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond)
	close(stop)
	wg.Wait()

	// The retry (backoff up to 5 s) catches up by itself; Flush then finds
	// nothing left.
	deadline := time.Now().Add(30 * time.Second)
	for s.Stats().Pending > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatalf("flush after the restart: %v", err)
	}
	st := s.Stats()
	t.Logf("%d rows logged, slowest LogRequest %v; during the outage %+v; after %+v",
		logged.Load(), time.Duration(slowest.Load()), during, st)
	if during.WriteErrors == 0 || during.Pending == 0 {
		t.Errorf("no failed write while the server was stopped: %+v", during)
	}
	if st.FailedRows != 0 || st.Dropped != 0 || st.Pending != 0 || st.Written != st.Queued {
		t.Fatalf("stats %+v", st)
	}
	if d := time.Duration(slowest.Load()); d > 100*time.Millisecond {
		t.Errorf("LogRequest blocked for %v", d)
	}
	reqs, _, err := s.CountRequestLogs(ctx, "p", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	errs, err := s.ErrorLogs(ctx, "p", 1_000_000)
	if err != nil {
		t.Fatal(err)
	}
	if reqs+int64(len(errs)) != st.Queued || reqs != logged.Load() {
		t.Fatalf("stored %d request + %d error logs, queued %d, logged %d", reqs, len(errs), st.Queued, logged.Load())
	}
	// The rollups saw every row once.
	if _, total, err := s.QueryRequestLogs(ctx, "p", LogFilter{}); err != nil || total != reqs {
		t.Fatalf("page total %d, rows %d, %v", total, reqs, err)
	}
}

// openDSN opens dsn, closed at the end of t.
func openDSN(t *testing.T, dsn string, opts Options) *Store {
	t.Helper()
	s, err := OpenWithOptions(dsn, opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// TestRefusedRowsDoNotWedgeWriter: a row the database refuses (here a check
// the test adds) is dropped and counted, the rows of its batch are written,
// and the writer goes on.
func TestRefusedRowsDoNotWedgeWriter(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		s := openEngine(t, engine, Options{FlushInterval: time.Hour})
		ctx := ctxT(t)
		refuse := "ALTER TABLE gb_error_logs ADD CONSTRAINT refuse_bad CHECK (kind <> 'bad')"
		if engine == engineSQLite {
			refuse = `CREATE TRIGGER refuse_bad BEFORE INSERT ON gb_error_logs WHEN NEW.kind = 'bad'
 BEGIN SELECT RAISE(ABORT, 'bad row'); END`
		}
		if _, err := s.sqlDB.ExecContext(ctx, refuse); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 10; i++ {
			s.LogRequest(RequestLog{Pool: "p", Status: 200})
			kind := "ok"
			if i == 3 || i == 7 {
				kind = "bad"
			}
			s.LogError(ErrorLog{Pool: "p", Kind: kind})
		}
		err := s.Flush(ctx)
		if err == nil || !refusedRow(err) {
			t.Fatalf("flush: %v (want the refusal)", err)
		}
		st := s.Stats()
		if st.Written != 18 || st.FailedRows != 2 || st.Pending != 0 {
			t.Fatalf("stats %+v", st)
		}
		s.LogRequest(RequestLog{Pool: "p", Status: 200})
		if err := s.Flush(ctx); err != nil {
			t.Fatalf("flush after: %v", err)
		}
		if n, _, _ := s.CountRequestLogs(ctx, "p", time.Time{}); n != 11 {
			t.Fatalf("%d request logs", n)
		}
		if errs, _ := s.ErrorLogs(ctx, "p", 100); len(errs) != 8 {
			t.Fatalf("%d error logs", len(errs))
		}
	})
}

// TestUnknownErrorDoesNotWedgeWriter: an error nothing classifies (a missing
// table) with the database answering is the rows' fault: they are dropped,
// and the other rows of the batch written.
func TestUnknownErrorDoesNotWedgeWriter(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		s := openEngine(t, engine, Options{FlushInterval: time.Hour})
		ctx := ctxT(t)
		if _, err := s.sqlDB.ExecContext(ctx, "DROP TABLE gb_error_logs"); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 5; i++ {
			s.LogRequest(RequestLog{Pool: "p", Status: 200})
			s.LogError(ErrorLog{Pool: "p", Kind: "x"})
		}
		if err := s.Flush(ctx); err == nil {
			t.Fatal("flush succeeded without the error log table")
		}
		if st := s.Stats(); st.Written != 5 || st.FailedRows != 5 || st.Pending != 0 {
			t.Fatalf("stats %+v", st)
		}
		s.LogRequest(RequestLog{Pool: "p", Status: 200})
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if n, _, _ := s.CountRequestLogs(ctx, "p", time.Time{}); n != 6 {
			t.Fatalf("%d request logs", n)
		}
	})
}

// TestRetryBackoff: the writer retries a failed batch by itself, waiting
// 250 ms, then twice as long each time, up to 5 s.
func TestRetryBackoff(t *testing.T) {
	var w logWriter
	var got []time.Duration
	for range 7 {
		w.retry()
		got = append(got, w.backoff)
	}
	want := []time.Duration{250 * time.Millisecond, 500 * time.Millisecond, time.Second, 2 * time.Second,
		4 * time.Second, 5 * time.Second, 5 * time.Second}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("backoff %v, want %v", got, want)
		}
	}
}

// rollupSums returns the pool-wide sums of the live and count counters, and
// the live sum of the key error rollups; it checks that the live counters
// match the rows stored.
func rollupSums(t *testing.T, s *Store, pool string) (live, count, keyLive int64) {
	t.Helper()
	ctx := ctxT(t)
	var l, c, k sql.NullInt64
	var rows, non2xx int64
	for _, q := range []struct {
		query string
		dst   []any
	}{
		{"SELECT sum(live), sum(count) FROM gb_request_rollups WHERE pool = ? AND dim = ''", []any{&l, &c}},
		{"SELECT sum(live) FROM gb_key_error_rollups WHERE pool = ?", []any{&k}},
		{"SELECT count(*) FROM gb_request_logs WHERE pool = ?", []any{&rows}},
		{"SELECT count(*) FROM gb_request_logs WHERE pool = ? AND NOT (status >= 200 AND status <= 299)", []any{&non2xx}},
	} {
		if err := s.conn().QueryRowContext(ctx, q.query, pool).Scan(q.dst...); err != nil {
			t.Fatal(err)
		}
	}
	if l.Int64 != rows || k.Int64 != non2xx {
		t.Errorf("live %d for %d rows, key live %d for %d non-2xx rows", l.Int64, rows, k.Int64, non2xx)
	}
	return l.Int64, c.Int64, k.Int64
}

// logOld logs n request rows of pool from two days ago (a third of them 429)
// and recent recent rows, and waits for them to be written.
func logOld(t *testing.T, s *Store, pool string, n, recent int) {
	t.Helper()
	now := time.Now().UTC()
	for i := 0; i < n+recent; i++ {
		at := now.Add(-48*time.Hour + time.Duration(i)*time.Second)
		if i >= n {
			at = now.Add(-time.Duration(i-n) * time.Second)
		}
		status := 200
		if i%3 == 0 {
			status = 429
		}
		s.LogRequest(RequestLog{Time: at, Pool: pool, Model: "m", KeyID: "k" + itoa(i%7), Status: status})
		if i%1000 == 999 {
			if err := s.Flush(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
}

// together runs fn twice at once and waits for both.
func together(fn func()) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			fn()
		}()
	}
	close(start)
	wg.Wait()
}

// TestPurgeConcurrent: two instances purging the same rows at once take
// them from the live counters once.
func TestPurgeConcurrent(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		s := openEngine(t, engine, Options{})
		defer func(c int) { purgeChunk = c }(purgeChunk)
		purgeChunk = 300
		const old, recent = 3000, 100
		logOld(t, s, "p", old, recent)
		_, count0, _ := rollupSums(t, s, "p")
		var deleted atomic.Int64
		together(func() {
			n, err := s.PurgeRequestLogs(ctxT(t), time.Now().Add(-24*time.Hour))
			if err != nil {
				t.Error(err)
			}
			deleted.Add(n)
		})
		live, count, keyLive := rollupSums(t, s, "p")
		rows, _, _ := s.CountRequestLogs(ctxT(t), "p", time.Time{})
		if deleted.Load() != old || rows != recent || live != recent || count != count0 || keyLive != recent/3+1 {
			t.Fatalf("deleted %d, rows %d, live %d (want %d), count %d (want %d), key live %d (want %d)",
				deleted.Load(), rows, live, recent, count, count0, keyLive, recent/3+1)
		}
	})
}

// TestDeleteConcurrent: two instances deleting the same request logs at once
// (by id, then all of the pool) take them from the counters once.
func TestDeleteConcurrent(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		s := openEngine(t, engine, Options{})
		defer func(c int) { deleteChunk = c }(deleteChunk)
		deleteChunk = 300
		const n = 2000
		logOld(t, s, "p", 0, n)
		reqs, err := s.RequestLogs(ctxT(t), "p", n)
		if err != nil || len(reqs) != n {
			t.Fatalf("%d rows, %v", len(reqs), err)
		}
		var ids []int64
		for i, r := range reqs {
			if i%2 == 0 {
				ids = append(ids, r.ID)
			}
		}
		var deleted atomic.Int64
		together(func() {
			k, err := s.DeleteRequestLogs(ctxT(t), "p", ids)
			if err != nil {
				t.Error(err)
			}
			deleted.Add(k)
		})
		live, count, keyLive := rollupSums(t, s, "p")
		if deleted.Load() != n/2 || live != n/2 || count != n/2 {
			t.Fatalf("by id: deleted %d, live %d, count %d, want %d", deleted.Load(), live, count, n/2)
		}
		deleted.Store(0)
		together(func() {
			k, err := s.DeleteRequestLogs(ctxT(t), "p", nil)
			if err != nil {
				t.Error(err)
			}
			deleted.Add(k)
		})
		live, count, keyLive = rollupSums(t, s, "p")
		if deleted.Load() != n/2 || live != 0 || count != 0 || keyLive != 0 {
			t.Fatalf("all: deleted %d, live %d, count %d, key live %d", deleted.Load(), live, count, keyLive)
		}
	})
}

// TestLockedRetriesInBackground (SQLite, through a held write lock): rows
// whose write failed wait in memory, within the queue's bound (the newest
// are dropped and counted once it is full), and are written by the retry
// alone, without Flush, once the lock is released.
func TestLockedRetriesInBackground(t *testing.T) {
	const queue, batch = 50, 20
	s := openTest(t, Options{QueueSize: queue, BatchSize: batch, BusyTimeout: 50 * time.Millisecond,
		FlushInterval: 10 * time.Millisecond})
	release := lockDB(t, s.Path())
	accepted := 0
	for i := 0; i < 200; i++ {
		if s.LogRequest(RequestLog{Pool: "p", Status: 200}) {
			accepted++
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(600 * time.Millisecond) // a few retries
	st := s.Stats()
	if st.WriteErrors < 2 || st.FailedRows != 0 || st.Written != 0 || st.Pending != int64(accepted) ||
		st.Dropped != int64(200-accepted) || accepted > queue+batch {
		t.Fatalf("while locked: accepted %d, stats %+v", accepted, st)
	}
	release()
	deadline := time.Now().Add(15 * time.Second) // the backoff is at most 5 s
	for s.Stats().Written != int64(accepted) {
		if time.Now().After(deadline) {
			t.Fatalf("not caught up: accepted %d, stats %+v", accepted, s.Stats())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n, _, _ := s.CountRequestLogs(ctxT(t), "p", time.Time{}); n != int64(accepted) {
		t.Fatalf("%d rows stored, %d accepted", n, accepted)
	}
	if st := s.Stats(); st.Pending != 0 || st.FailedRows != 0 {
		t.Fatalf("stats %+v", st)
	}
}
