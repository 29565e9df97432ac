package store

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"
)

// seedErrorLogs inserts n synthetic error logs (one per failed request of a
// 1-in-every-n/… spread) over [from, to) with bodies of a few hundred bytes.
func seedErrorLogs(t *testing.T, s *Store, pool string, n int, keys []string, from, to time.Time) {
	t.Helper()
	ctx := ctxT(t)
	conn, err := s.sqlDB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "CREATE TEMP TABLE IF NOT EXISTS gb_seed_ekeys (i INTEGER PRIMARY KEY, key_id TEXT)"); err != nil {
		t.Fatal(err)
	}
	defer conn.ExecContext(context.Background(), "DROP TABLE temp.gb_seed_ekeys")
	js := `["` + strings.Join(keys, `","`) + `"]`
	if _, err := conn.ExecContext(ctx, "INSERT INTO temp.gb_seed_ekeys SELECT key, value FROM json_each(?)", js); err != nil {
		t.Fatal(err)
	}
	fromMs, spanMs := from.UnixMilli(), to.UnixMilli()-from.UnixMilli()
	_, err = conn.ExecContext(ctx, `WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?1),
a AS (SELECT i, ?2 + (?3 * i) / ?1 AS ms, ((i + 1) * 48271 % 2147483647) AS x FROM seq),
b AS (SELECT i, ms, (x * x + x) % 2147483647 AS h FROM a)
INSERT INTO gb_error_logs (time, pool, model, key_id, key_masked, status, kind, message, body, request_body)
SELECT strftime('%Y-%m-%d %H:%M:%S', ms / 1000, 'unixepoch') || '.' || printf('%03d', ms % 1000) || '+00:00',
 ?4, 'gemini-2.5-' || CASE h % 3 WHEN 0 THEN 'flash' WHEN 1 THEN 'pro' ELSE 'flash-lite' END,
 k.key_id, 'AIzaSy…' || substr(k.key_id, -4),
 CASE h % 10 WHEN 0 THEN 403 WHEN 1 THEN 400 WHEN 2 THEN 500 ELSE 429 END,
 CASE h % 10 WHEN 0 THEN 'invalid' WHEN 1 THEN 'bad_request' WHEN 2 THEN 'upstream_5xx' ELSE 'rate_limited' END,
 'upstream answered ' || CASE h % 10 WHEN 0 THEN 'PERMISSION_DENIED' WHEN 1 THEN 'INVALID_ARGUMENT'
  WHEN 2 THEN 'INTERNAL' ELSE 'RESOURCE_EXHAUSTED' END || ' for request ' || b.i,
 '{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota). Request ' || b.i ||
  '","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.QuotaFailure",' ||
  '"violations":[{"quotaMetric":"generativelanguage.googleapis.com/generate_content_free_tier_requests"}]}]}}',
 ''
FROM b JOIN temp.gb_seed_ekeys k ON k.i = h / 7 % ?5 WHERE true`, n, fromMs, spanMs, pool, len(keys))
	if err != nil {
		t.Fatal(err)
	}
}

// TestStatsAtOneMillionRows measures the admin queries on a pool of 100,000
// keys and 1,000,000 request logs. By default all rows fall in the last 24
// hours, the worst case for every window (GB_PERF_SPAN=720h spreads them over
// 30 days instead). Each query runs 5 times; the median must be under 400 ms
// (target 200 ms, reported), every run is logged.
func TestStatsAtOneMillionRows(t *testing.T) {
	if testing.Short() {
		t.Skip("1M rows: skipped in -short mode")
	}
	if raceEnabled {
		t.Skip("1M rows: skipped under the race detector")
	}
	span := 24 * time.Hour
	if v := os.Getenv("GB_PERF_SPAN"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatal(err)
		}
		span = d
	}
	const pool, nKeys, nRows, nErrors = "big", 100_000, 1_000_000, 150_000
	s := openTest(t, Options{})
	ctx := ctxT(t)

	keys := make([]string, nKeys)
	recs := make([]KeyRecord, nKeys)
	for i := range keys {
		keys[i] = fmt.Sprintf("%016x", i)
		recs[i] = KeyRecord{Pool: pool, KeyID: keys[i], Key: fmt.Sprintf("AIzaSy%033d", i),
			Masked: fmt.Sprintf("AIzaSy…%04d", i%10000)}
	}
	start := time.Now()
	if _, err := s.InsertKeys(ctx, recs); err != nil {
		t.Fatal(err)
	}
	t.Logf("inserted %d keys in %v", nKeys, time.Since(start).Round(time.Millisecond))

	now := time.Now().UTC()
	models := []string{"gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite", "gemini-2.0-flash",
		"gemini-embedding-001"}
	start = time.Now()
	if err := s.SeedRequestLogs(ctx, pool, nRows, keys, models, now.Add(-span), now); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d request logs over %v in %v", nRows, span, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	seedErrorLogs(t, s, pool, nErrors, keys, now.Add(-span), now)
	t.Logf("seeded %d error logs in %v", nErrors, time.Since(start).Round(time.Millisecond))
	if fi, err := os.Stat(s.Path()); err == nil {
		t.Logf("database file: %d MiB", fi.Size()>>20)
	}

	type result struct {
		name     string
		runs     []time.Duration
		required bool
		note     string
	}
	var results []result
	measure := func(name string, required bool, fn func() (string, error)) {
		r := result{name: name, required: required}
		for i := 0; i < 5; i++ {
			t0 := time.Now()
			note, err := fn()
			r.runs = append(r.runs, time.Since(t0))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			r.note = note
		}
		results = append(results, r)
	}

	measure("UsageStats", true, func() (string, error) {
		st, err := s.UsageStats(ctx, pool, now)
		if err == nil && (st.Day.Total == 0 || len(st.TopKeys[429]) != 10 || len(st.Trend) != 24) {
			err = fmt.Errorf("unexpected stats %+v", st)
		}
		return fmt.Sprintf("hour %d, day %d, month %d, top 429 %s=%d", st.Hour.Total, st.Day.Total, st.Month.Total,
			first(st.TopKeys[429]).KeyID, first(st.TopKeys[429]).Count), err
	})
	page := func(f LogFilter) func() (string, error) {
		return func() (string, error) {
			rows, total, err := s.QueryRequestLogs(ctx, pool, f)
			return fmt.Sprintf("total %d, %d rows", total, len(rows)), err
		}
	}
	measure("QueryRequestLogs first page", true, page(LogFilter{}))
	// The key with the most 429 answers, and a key with error logs.
	st, err := s.UsageStats(ctx, pool, now)
	if err != nil {
		t.Fatal(err)
	}
	hotKey := first(st.TopKeys[429]).KeyID
	errRows, _, err := s.QueryErrorLogs(ctx, pool, LogFilter{Status: 429, Limit: 1})
	if err != nil || len(errRows) == 0 {
		t.Fatalf("error logs: %v", err)
	}
	errKey := errRows[0].KeyID
	measure("QueryRequestLogs key+status", true, page(LogFilter{KeyID: hotKey, Status: 429}))
	// A key filter without an error status has no key index on SQLite: it
	// reads the key's hours through (pool, time).
	measure("QueryRequestLogs key", false, page(LogFilter{KeyID: hotKey}))
	measure("QueryRequestLogs key+status=200", false, page(LogFilter{KeyID: hotKey, Status: 200}))
	measure("QueryErrorLogs first page", true, func() (string, error) {
		rows, total, err := s.QueryErrorLogs(ctx, pool, LogFilter{})
		return fmt.Sprintf("total %d, %d rows", total, len(rows)), err
	})
	measure("QueryErrorLogs key+status", true, func() (string, error) {
		rows, total, err := s.QueryErrorLogs(ctx, pool, LogFilter{KeyID: errKey, Status: 429})
		return fmt.Sprintf("total %d, %d rows", total, len(rows)), err
	})
	// Not required by the target; logged for the record.
	measure("QueryRequestLogs status=200", false, page(LogFilter{Status: 200}))
	measure("QueryRequestLogs model+status=429", false, page(LogFilter{Model: models[1], Status: 429}))
	measure("QueryRequestLogs last 6h (unaligned)", false, page(LogFilter{From: now.Add(-6*time.Hour - 17*time.Minute)}))
	measure("QueryRequestLogs sort -latency", false, page(LogFilter{Sort: "-latency"}))
	measure("QueryRequestLogs sort status, page 200", false, page(LogFilter{Sort: "status", Offset: 10000}))
	measure("QueryRequestLogs 500 rows at offset 100000", false, page(LogFilter{Offset: 100000, Limit: 500}))
	measure("QueryRequestLogs text \"chat\" (full scan)", false, page(LogFilter{Text: "chat"}))
	measure("QueryErrorLogs text \"INVALID_ARG\" (full scan)", false, func() (string, error) {
		rows, total, err := s.QueryErrorLogs(ctx, pool, LogFilter{Text: "INVALID_ARG"})
		return fmt.Sprintf("total %d, %d rows", total, len(rows)), err
	})
	measure("KeyCalls since 1h", false, func() (string, error) {
		m, err := s.KeyCalls(ctx, pool, now.Add(-time.Hour))
		return fmt.Sprintf("%d keys", len(m)), err
	})
	measure("KeyCalls since 24h", false, func() (string, error) {
		m, err := s.KeyCalls(ctx, pool, now.Add(-24*time.Hour))
		return fmt.Sprintf("%d keys", len(m)), err
	})
	measure("KeyCallsFor 50 keys since 24h", false, func() (string, error) {
		m, err := s.KeyCallsFor(ctx, pool, now.Add(-24*time.Hour), keys[:50])
		return fmt.Sprintf("%d keys", len(m)), err
	})
	// What the keys page asks (Balancer.KeyCalls24h): whole hours only.
	measure("KeyCallsFor 50 keys, 24 whole hours", true, func() (string, error) {
		m, err := s.KeyCallsFor(ctx, pool, now.Truncate(time.Hour).Add(-23*time.Hour), keys[:50])
		return fmt.Sprintf("%d keys", len(m)), err
	})
	var ids []int64
	if rows, _, err := s.QueryRequestLogs(ctx, pool, LogFilter{Limit: 100}); err == nil {
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
	}
	start = time.Now()
	if n, err := s.DeleteRequestLogs(ctx, pool, ids); err != nil || n != 100 {
		t.Fatalf("delete 100: %d %v", n, err)
	}
	t.Logf("DeleteRequestLogs of 100 ids: %v", time.Since(start).Round(time.Microsecond))

	for _, r := range results {
		sorted := append([]time.Duration(nil), r.runs...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
		median := sorted[len(sorted)/2]
		var runs []string
		for _, d := range r.runs {
			runs = append(runs, d.Round(100*time.Microsecond).String())
		}
		flag := ""
		if median > 200*time.Millisecond {
			flag = "  [above the 200 ms target]"
		}
		t.Logf("%-44s median %-9v runs %s (%s)%s", r.name, median.Round(100*time.Microsecond), strings.Join(runs, " "),
			r.note, flag)
		if r.required && median > 400*time.Millisecond {
			t.Errorf("%s: median %v, want < 400 ms (target 200 ms)", r.name, median)
		}
	}
}

func first(l []KeyCount) KeyCount {
	if len(l) == 0 {
		return KeyCount{}
	}
	return l[0]
}
