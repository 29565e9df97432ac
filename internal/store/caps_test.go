package store

import (
	"os"
	"reflect"
	"sync"
	"testing"
	"time"
)

// capFixture writes n request and error logs to pool "a" and n/10 to pool
// "b", interleaved, one a minute ending two hours before now (outside the
// exact minute and hour windows of UsageStats), and returns the ids of
// pool a's rows, oldest first.
func capFixture(t *testing.T, s *Store, n int, now time.Time) (reqIDs, errIDs []int64) {
	t.Helper()
	start := now.Add(-2*time.Hour - time.Duration(n)*time.Minute)
	statuses := []int{200, 200, 200, 429, 403, 500}
	for i := 0; i < n; i++ {
		at := start.Add(time.Duration(i) * time.Minute)
		for _, pool := range []string{"a", "b"} {
			if pool == "b" && i%10 != 0 {
				continue
			}
			st := statuses[i%len(statuses)]
			s.LogRequest(RequestLog{Time: at, Pool: pool, Model: []string{"m1", "m2"}[i%2], KeyID: []string{"k1", "k2", "k3"}[i%3],
				Status: st, ClientToken: "…tok" + []string{"1", "2"}[i%2]})
			s.LogError(ErrorLog{Time: at, Pool: pool, Model: "m1", KeyID: "k1", Status: 500, Kind: "upstream_5xx", Message: "boom"})
		}
		if i%1000 == 999 { // within the queue's bound
			if err := s.Flush(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	reqs, err := s.RequestLogs(ctxT(t), "a", 2*n)
	if err != nil || len(reqs) != n {
		t.Fatalf("%d request logs, %v", len(reqs), err)
	}
	errs, err := s.ErrorLogs(ctxT(t), "a", 2*n)
	if err != nil || len(errs) != n {
		t.Fatalf("%d error logs, %v", len(errs), err)
	}
	for i := n - 1; i >= 0; i-- { // newest first -> oldest first
		reqIDs = append(reqIDs, reqs[i].ID)
		errIDs = append(errIDs, errs[i].ID)
	}
	return reqIDs, errIDs
}

func requestIDs(t *testing.T, s *Store, pool string) []int64 {
	t.Helper()
	rows, err := s.RequestLogs(ctxT(t), pool, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[len(rows)-1-i] = r.ID
	}
	return ids
}

func errorIDs(t *testing.T, s *Store, pool string) []int64 {
	t.Helper()
	rows, err := s.ErrorLogs(ctxT(t), pool, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	ids := make([]int64, len(rows))
	for i, r := range rows {
		ids[len(rows)-1-i] = r.ID
	}
	return ids
}

// TestCapRequestLogs, on each engine: capping 5,000 rows at 1,000 leaves exactly the newest
// 1,000 of the pool, in several chunks, leaves the other pool alone, and
// changes none of the dashboard's figures (they come from the rollups'
// count), while page totals (live) follow the rows.
func TestCapRequestLogs(t *testing.T) { forEngines(t, testCapRequestLogs) }

func testCapRequestLogs(t *testing.T, engine string) {
	s := openEngine(t, engine, Options{})
	defer func(c int) { capChunk = c }(capChunk)
	capChunk = 300
	now := time.Now().UTC()
	ids, _ := capFixture(t, s, 5000, now)
	others := requestIDs(t, s, "b")
	before, err := s.UsageStats(ctxT(t), "a", now)
	if err != nil {
		t.Fatal(err)
	}
	if before.Month.Total != 5000 {
		t.Fatalf("month total %d before capping, want 5000", before.Month.Total)
	}

	if n, err := s.CapRequestLogs(ctxT(t), "a", 0); n != 0 || err != nil {
		t.Fatalf("cap 0 deleted %d, %v", n, err)
	}
	n, err := s.CapRequestLogs(ctxT(t), "a", 1000)
	if err != nil || n != 4000 {
		t.Fatalf("deleted %d, %v; want 4000", n, err)
	}
	if got := requestIDs(t, s, "a"); !reflect.DeepEqual(got, ids[4000:]) {
		t.Errorf("left %d rows (%v…), want the newest 1000 (%v…)", len(got), got[:min(3, len(got))], ids[4000:4003])
	}
	if got := requestIDs(t, s, "b"); !reflect.DeepEqual(got, others) {
		t.Errorf("pool b: %d rows left of %d", len(got), len(others))
	}
	after, err := s.UsageStats(ctxT(t), "a", now)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after, before) {
		t.Errorf("statistics changed by capping:\nbefore %+v\nafter  %+v", before, after)
	}
	if _, total, err := s.QueryRequestLogs(ctxT(t), "a", LogFilter{}); err != nil || total != 1000 {
		t.Errorf("page total %d, %v; want 1000", total, err)
	}
	want429 := int64(0)
	for i := 4000; i < 5000; i++ {
		if i%6 == 3 { // capFixture's 429s
			want429++
		}
	}
	if _, total, err := s.QueryRequestLogs(ctxT(t), "a", LogFilter{Status: 429}); err != nil || total != want429 {
		t.Errorf("page total of 429s %d, %v", total, err)
	}
	// At the cap, nothing more goes.
	if n, err := s.CapRequestLogs(ctxT(t), "a", 1000); n != 0 || err != nil {
		t.Errorf("second cap deleted %d, %v", n, err)
	}
}

// TestCapErrorLogs, on each engine: the same for error logs.
func TestCapErrorLogs(t *testing.T) { forEngines(t, testCapErrorLogs) }

func testCapErrorLogs(t *testing.T, engine string) {
	s := openEngine(t, engine, Options{})
	defer func(c int) { capChunk = c }(capChunk)
	capChunk = 700
	_, ids := capFixture(t, s, 5000, time.Now())
	others := errorIDs(t, s, "b")
	n, err := s.CapErrorLogs(ctxT(t), "a", 1000)
	if err != nil || n != 4000 {
		t.Fatalf("deleted %d, %v; want 4000", n, err)
	}
	if got := errorIDs(t, s, "a"); !reflect.DeepEqual(got, ids[4000:]) {
		t.Errorf("left %d rows, want the newest 1000", len(got))
	}
	if got := errorIDs(t, s, "b"); !reflect.DeepEqual(got, others) {
		t.Errorf("pool b: %d rows left of %d", len(got), len(others))
	}
	if len(requestIDs(t, s, "a")) != 5000 {
		t.Error("capping error logs touched request logs")
	}
}

// TestCapConcurrent, on each engine: two cappers at once (two instances of one pool) still
// leave the newest maxRows rows, not fewer.
func TestCapConcurrent(t *testing.T) { forEngines(t, testCapConcurrent) }

func testCapConcurrent(t *testing.T, engine string) {
	s := openEngine(t, engine, Options{})
	defer func(c int) { capChunk = c }(capChunk)
	capChunk = 100
	ids, _ := capFixture(t, s, 3000, time.Now())
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := s.CapRequestLogs(ctxT(t), "a", 500); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := requestIDs(t, s, "a"); !reflect.DeepEqual(got, ids[2500:]) {
		t.Errorf("left %d rows, want the newest 500", len(got))
	}
	if _, total, _ := s.QueryRequestLogs(ctxT(t), "a", LogFilter{}); total != 500 {
		t.Errorf("page total %d, want 500 (live counted twice?)", total)
	}
}

// TestCapMeasure measures capping 1,000,000 request logs to 100,000 and the
// cost of the per-minute check at the cap, and the same for error logs, on
// each engine. GB_CAP_MEASURE=1 runs it.
func TestCapMeasure(t *testing.T) {
	if os.Getenv("GB_CAP_MEASURE") == "" {
		t.Skip("GB_CAP_MEASURE=1 runs it")
	}
	forEngines(t, testCapMeasure)
}

func testCapMeasure(t *testing.T, engine string) {
	s := openEngine(t, engine, Options{})
	now := time.Now().UTC()
	start := time.Now()
	if engine == engineSQLite {
		if err := s.SeedRequestLogs(ctxT(t), "a", 1_000_000, []string{"k1", "k2", "k3"}, nil, now.Add(-30*24*time.Hour), now); err != nil {
			t.Fatal(err)
		}
	} else { // SeedRequestLogs is SQLite's only: through the log writer
		statuses := []int{200, 200, 200, 200, 200, 200, 429, 403, 400, 500}
		for i := range 1_000_000 {
			s.LogRequest(RequestLog{Time: now.Add(time.Duration(i-1_000_000) * 2 * time.Second), Pool: "a", Model: "gemini-2.5-flash",
				KeyID: []string{"k1", "k2", "k3"}[i%3], Status: statuses[i%10], ClientToken: "…tok1", Route: "gemini.generateContent"})
			if i%5000 == 4999 {
				if err := s.Flush(ctxT(t)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	t.Logf("seeded 1,000,000 rows in %v", time.Since(start).Round(time.Millisecond))
	before, err := s.UsageStats(ctxT(t), "a", now)
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	n, err := s.CapRequestLogs(ctxT(t), "a", 100_000)
	took := time.Since(start)
	if err != nil || n != 900_000 {
		t.Fatalf("deleted %d, %v", n, err)
	}
	chunks := (n + int64(capChunk) - 1) / int64(capChunk)
	t.Logf("capped 1,000,000 -> 100,000 in %v (%d chunks of %d, %v per chunk)", took.Round(time.Millisecond),
		chunks, capChunk, (took / time.Duration(chunks)).Round(time.Microsecond))
	after, err := s.UsageStats(ctxT(t), "a", now)
	if err != nil {
		t.Fatal(err)
	}
	if after.Month != before.Month || after.Day != before.Day {
		t.Errorf("month %+v -> %+v, day %+v -> %+v", before.Month, after.Month, before.Day, after.Day)
	}
	// The checks of every minute: under the cap, only the id bounds; at the
	// cap with a row more (steady traffic), the exact count, then one row
	// deleted.
	const checks = 20
	steady := func(what string, log func(), capLogs func() (int64, error), at int64) {
		start := time.Now()
		for range checks {
			if n, err := capLogs(); err != nil || n != 0 {
				t.Fatalf("%s under the cap: %d, %v", what, n, err)
			}
		}
		under := time.Since(start) / checks
		var took time.Duration
		for range checks {
			log()
			if err := s.Flush(ctxT(t)); err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			if n, err := capLogs(); err != nil || n != 1 {
				t.Fatalf("%s at the cap: %d, %v", what, n, err)
			}
			took += time.Since(start)
		}
		t.Logf("%s: check under the cap %v; at a cap of %d, one row over: %v", what, under.Round(time.Microsecond), at,
			(took / checks).Round(time.Microsecond))
	}
	steady("request logs", func() { s.LogRequest(RequestLog{Pool: "a", Status: 200}) },
		func() (int64, error) { return s.CapRequestLogs(ctxT(t), "a", 100_000) }, 100_000)
	// Error logs: the check at the cap counts the pool's rows in an index.
	for i := range 1_000_000 {
		s.LogError(ErrorLog{Time: now.Add(time.Duration(i-1_000_000) * time.Second), Pool: "a", Status: 429, Kind: "rate_limited",
			Message: "Resource has been exhausted (e.g. check quota).", Body: `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}`})
		if i%5000 == 4999 {
			if err := s.Flush(ctxT(t)); err != nil {
				t.Fatal(err)
			}
		}
	}
	errLog := ErrorLog{Pool: "a", Status: 429, Kind: "rate_limited", Message: "exhausted"}
	steady("error logs", func() { s.LogError(errLog) },
		func() (int64, error) { return s.CapErrorLogs(ctxT(t), "a", 1_000_000) }, 1_000_000)
	start = time.Now()
	if n, err := s.CapErrorLogs(ctxT(t), "a", 100_000); err != nil || n != 900_000 {
		t.Fatalf("deleted %d, %v", n, err)
	}
	t.Logf("capped 1,000,000 error logs -> 100,000 in %v", time.Since(start).Round(time.Millisecond))
}
