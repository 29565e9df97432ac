package store

import (
	"context"
	"errors"
	"fmt"
	"math/rand"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

// testNow is the fixed "now" of the hand-made data sets (12:30 UTC, so the
// hour-aligned windows and the sliding ones differ).
var testNow = time.Date(2025, 6, 15, 12, 30, 0, 0, time.UTC)

func logAll(t *testing.T, s *Store, reqs []RequestLog, errs []ErrorLog) {
	t.Helper()
	ctx := ctxT(t)
	for i, r := range reqs {
		if !s.LogRequest(r) {
			t.Fatal("enqueue refused")
		}
		if i%1000 == 999 {
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, e := range errs {
		if !s.LogError(e) {
			t.Fatal("enqueue refused")
		}
	}
	if err := s.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func req(ago time.Duration, model, key string, status int, token, route string, latency int64) RequestLog {
	return RequestLog{Time: testNow.Add(-ago), Pool: "p", Model: model, KeyID: key, KeyMasked: "m-" + key,
		Status: status, LatencyMs: latency, Attempt: 1, Route: route, ClientToken: token}
}

func TestUsageStatsHandMade(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		s := openEngine(t, engine, Options{})
		ctx := ctxT(t)
		const gc, oc = "gemini.generateContent", "openai.chat"
		reqs := []RequestLog{
			req(10*time.Second, "A", "k1", 200, "t1", gc, 100),             // minute, hour, bucket 12:00
			req(30*time.Second, "B", "k2", 429, "t2", oc, 300),             // minute, hour, 12:00
			req(5*time.Minute, "A", "k2", 429, "t1", gc, 50),               // hour, 12:00
			req(50*time.Minute, "A", "k3", 403, "t1", gc, 500),             // hour, 11:00 (11:40)
			req(90*time.Minute, "A", "k1", 429, "t1", gc, 10),              // 11:00 (11:00 exactly)
			req(2*time.Hour, "B", "k1", 200, "t2", oc, 20),                 // 10:00 (10:30)
			req(3*time.Hour, "A", "k2", 429, "t1", gc, 30),                 // 09:00
			req(23*time.Hour+20*time.Minute, "C", "k3", 200, "t3", gc, 40), // 13:10 the day before: first Day bucket
			req(23*time.Hour+40*time.Minute, "C", "k3", 429, "t3", gc, 40), // 12:50 the day before: within 24 h, not in Day
			req(10*24*time.Hour, "C", "k3", 400, "t3", gc, 60),             // Month only
			req(40*24*time.Hour, "C", "k3", 400, "t3", gc, 60),             // outside Month
			req(-time.Hour, "A", "k1", 200, "t1", gc, 1),                   // in the future: outside everything
		}
		other := req(10*time.Second, "A", "k1", 429, "t1", gc, 1)
		other.Pool = "q"
		reqs = append(reqs, other)
		logAll(t, s, reqs, nil)

		st, err := s.UsageStats(ctx, "p", testNow)
		if err != nil {
			t.Fatal(err)
		}
		w := func(total, success int64) Window { return Window{total, success, total - success} }
		if st.Minute != w(2, 1) {
			t.Errorf("minute %+v", st.Minute)
		}
		if st.Hour != w(4, 1) {
			t.Errorf("hour %+v", st.Hour)
		}
		if st.Day != w(8, 3) {
			t.Errorf("day %+v", st.Day)
		}
		if st.Month != w(10, 3) {
			t.Errorf("month %+v", st.Month)
		}
		if len(st.Trend) != 24 {
			t.Fatalf("trend has %d points", len(st.Trend))
		}
		dayStart := time.Date(2025, 6, 14, 13, 0, 0, 0, time.UTC)
		want := map[int]Window{0: w(1, 1), 20: w(1, 0), 21: w(1, 1), 22: w(2, 0), 23: w(3, 1)}
		var sum Window
		for i, p := range st.Trend {
			if !p.Start.Equal(dayStart.Add(time.Duration(i)*time.Hour)) || p.Start.Location() != time.UTC {
				t.Errorf("trend[%d] starts %v", i, p.Start)
			}
			if got := (Window{p.Total, p.Success, p.Failure}); got != want[i] {
				t.Errorf("trend[%d] (%v) = %+v, want %+v", i, p.Start, got, want[i])
			}
			sum.Total += p.Total
			sum.Success += p.Success
			sum.Failure += p.Failure
		}
		if sum != st.Day {
			t.Errorf("trend sum %+v != day %+v", sum, st.Day)
		}
		wantModels := []NamedCount{{"A", 5, 4}, {"B", 2, 1}, {"C", 1, 0}}
		if fmt.Sprint(st.ByModel) != fmt.Sprint(wantModels) {
			t.Errorf("by model %+v", st.ByModel)
		}
		wantTokens := []NamedCount{{"t1", 5, 4}, {"t2", 2, 1}, {"t3", 1, 0}}
		if fmt.Sprint(st.ByToken) != fmt.Sprint(wantTokens) {
			t.Errorf("by token %+v", st.ByToken)
		}
		if got := fmt.Sprint(st.TopKeys[429]); got != "[{k2 m-k2 3} {k1 m-k1 1}]" {
			t.Errorf("top 429: %s", got)
		}
		if got := fmt.Sprint(st.TopKeys[403]); got != "[{k3 m-k3 1}]" {
			t.Errorf("top 403: %s", got)
		}
		if l, ok := st.TopKeys[400]; !ok || l == nil || len(l) != 0 {
			t.Errorf("top 400: %#v", l)
		}

		// An empty pool: zero windows, 24 empty buckets, empty lists.
		empty, err := s.UsageStats(ctx, "nobody", testNow)
		if err != nil {
			t.Fatal(err)
		}
		if empty.Day.Total != 0 || len(empty.Trend) != 24 || empty.ByModel == nil || len(empty.ByModel) != 0 ||
			len(empty.TopKeys) != 3 {
			t.Errorf("empty pool: %+v", empty)
		}

		// Calls per key.
		calls, err := s.KeyCalls(ctx, "p", testNow.Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(calls) != "map[k1:2 k2:2 k3:1]" { // k1: 10 s ago and the future row
			t.Errorf("key calls 1h: %v", calls)
		}
		calls, err = s.KeyCalls(ctx, "p", time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(calls) != "map[k1:4 k2:3 k3:5]" {
			t.Errorf("key calls all: %v", calls)
		}
		calls, _ = s.KeyCalls(ctx, "p", testNow.Add(-24*time.Hour))
		if fmt.Sprint(calls) != "map[k1:4 k2:3 k3:3]" {
			t.Errorf("key calls 24h: %v", calls)
		}
		calls, err = s.KeyCallsFor(ctx, "p", testNow.Add(-24*time.Hour), []string{"k3", "k1", "nope"})
		if err != nil || fmt.Sprint(calls) != "map[k1:4 k3:3]" {
			t.Errorf("key calls for: %v %v", calls, err)
		}
		calls, _ = s.KeyCallsFor(ctx, "p", time.Time{}, []string{"k3"})
		if fmt.Sprint(calls) != "map[k3:5]" {
			t.Errorf("key calls for, all time: %v", calls)
		}

		// Explicit deletion lowers the statistics; the retention purge does
		// not (history) until PurgeRollups.
		rows, _, err := s.QueryRequestLogs(ctx, "p", LogFilter{KeyID: "k2", Status: 429})
		if err != nil || len(rows) != 3 {
			t.Fatalf("k2 rows: %d %v", len(rows), err)
		}
		if n, err := s.DeleteRequestLogs(ctx, "p", []int64{rows[0].ID, other.ID /* 0: no row */}); err != nil || n != 1 {
			t.Fatalf("delete: %d %v", n, err)
		}
		st, _ = s.UsageStats(ctx, "p", testNow)
		if st.Minute != w(1, 1) || st.Day != w(7, 3) || fmt.Sprint(st.TopKeys[429]) != "[{k2 m-k2 2} {k1 m-k1 1}]" {
			t.Errorf("after delete: minute %+v day %+v top %v", st.Minute, st.Day, st.TopKeys[429])
		}
		if n, err := s.PurgeRequestLogs(ctx, testNow.Add(-24*time.Hour)); err != nil || n != 2 {
			t.Fatalf("purge: %d %v", n, err)
		}
		st, _ = s.UsageStats(ctx, "p", testNow)
		if st.Month != w(9, 3) {
			t.Errorf("month after purge %+v (history must stay)", st.Month)
		}
		if _, total, _ := s.QueryRequestLogs(ctx, "p", LogFilter{}); total != 9 {
			t.Errorf("total after purge: %d", total)
		}
		if n, err := s.PurgeRollups(ctx, testNow.Add(-24*time.Hour)); err != nil || n == 0 {
			t.Fatalf("purge rollups: %d %v", n, err)
		}
		st, _ = s.UsageStats(ctx, "p", testNow)
		if st.Month != w(8, 3) || st.Day != w(7, 3) {
			t.Errorf("after purging rollups: month %+v day %+v", st.Month, st.Day)
		}
		// Buckets of stored rows are kept whatever the cut-off.
		if n, err := s.PurgeRollups(ctx, testNow.Add(2*time.Hour)); err != nil || n != 0 {
			t.Fatalf("purge live rollups: %d %v", n, err)
		}
		if _, total, _ := s.QueryRequestLogs(ctx, "p", LogFilter{Status: 429}); total != 4 {
			t.Errorf("429 total after purging rollups: %d", total)
		}
		assertRollupsMatchRows(t, s)
	})
}

// refFilter is the reference implementation of LogFilter for request logs.
func refFilter(all []RequestLog, f LogFilter) ([]RequestLog, int64) {
	var out []RequestLog
	text := strings.ToLower(f.Text)
	for _, r := range all {
		if f.KeyID != "" && r.KeyID != f.KeyID || f.Model != "" && r.Model != f.Model ||
			f.Status != 0 && r.Status != f.Status ||
			!f.From.IsZero() && r.Time.Before(f.From) || !f.To.IsZero() && !r.Time.Before(f.To) {
			continue
		}
		if text != "" && !strings.Contains(strings.ToLower(r.Route), text) &&
			!strings.Contains(strings.ToLower(r.Model), text) {
			continue
		}
		out = append(out, r)
	}
	field, desc := strings.TrimPrefix(f.Sort, "-"), strings.HasPrefix(f.Sort, "-")
	if f.Sort == "" {
		field, desc = "time", true
	}
	cmp := func(a, b RequestLog) int {
		c := 0
		switch field {
		case "status":
			c = a.Status - b.Status
		case "model":
			c = strings.Compare(a.Model, b.Model)
		case "latency":
			c = int(a.LatencyMs - b.LatencyMs)
			if c == 0 {
				c = int(a.ID - b.ID)
			}
		}
		if c == 0 {
			c = a.Time.Compare(b.Time)
		}
		if c == 0 {
			c = int(a.ID - b.ID)
		}
		if desc {
			c = -c
		}
		return c
	}
	sort.SliceStable(out, func(i, j int) bool { return cmp(out[i], out[j]) < 0 })
	total := int64(len(out))
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultPageSize
	}
	limit = min(limit, MaxPageSize)
	lo := min(max(f.Offset, 0), len(out))
	return out[lo:min(lo+limit, len(out))], total
}

func ids[T any](rows []T, id func(T) int64) []int64 {
	out := make([]int64, len(rows))
	for i, r := range rows {
		out[i] = id(r)
	}
	return out
}

func TestQueryRequestLogsAgainstReference(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		s := openEngine(t, engine, Options{})
		ctx := ctxT(t)
		rng := rand.New(rand.NewSource(7))
		models := []string{"gemini-2.5-flash", "gemini-2.5-pro", "Gemini-Embed"}
		routes := []string{"gemini.generateContent", "openai.chat", "odd%route_1", "OpenAI.Embeddings"}
		statuses := []int{200, 200, 200, 429, 403, 400, 500}
		var reqs []RequestLog
		for i := 0; i < 600; i++ {
			ago := time.Duration(rng.Int63n(int64(72 * time.Hour)))
			if i%50 == 0 {
				ago = time.Duration(i/50) * time.Hour // exactly on hour boundaries too
			}
			r := req(ago, models[rng.Intn(len(models))], fmt.Sprintf("k%d", rng.Intn(8)), statuses[rng.Intn(len(statuses))],
				fmt.Sprintf("t%d", rng.Intn(3)), routes[rng.Intn(len(routes))], rng.Int63n(40))
			reqs = append(reqs, r)
		}
		other := req(time.Minute, "gemini-2.5-flash", "k1", 200, "t1", "openai.chat", 1)
		other.Pool = "q"
		reqs = append(reqs, other)
		logAll(t, s, reqs, nil)

		all, err := s.RequestLogs(ctx, "p", 10000)
		if err != nil || len(all) != 600 {
			t.Fatalf("all rows: %d %v", len(all), err)
		}
		for _, r := range all {
			if r.ID == 0 {
				t.Fatal("RequestLogs did not fill ID")
			}
		}

		from1, to1 := testNow.Add(-30*time.Hour-17*time.Minute), testNow.Add(-5*time.Hour-3*time.Second)
		filters := []LogFilter{
			{},
			{KeyID: "k3"},
			{KeyID: "k3", Status: 429},
			{Status: 200},
			{Status: 429},
			{Model: "gemini-2.5-pro"},
			{Model: "gemini-2.5-pro", Status: 200},
			{Model: "gemini-2.5-pro", Status: 403},
			{Text: "CHAT"},
			{Text: "embed"},
			{Text: "%"},
			{Text: "_"},
			{Text: "nothing matches"},
			{From: from1},
			{To: to1},
			{From: from1, To: to1},
			{From: from1, To: to1, Model: "gemini-2.5-flash"},
			{From: from1, To: to1, Status: 500},
			{From: from1, To: to1, Status: 200, Model: "Gemini-Embed"},
			{From: testNow.Add(-5 * time.Hour), To: testNow.Add(-2 * time.Hour)}, // aligned
			{From: testNow.Add(-70 * time.Minute), To: testNow.Add(-65 * time.Minute)},
			{From: to1, To: from1}, // empty
			{From: from1, To: to1, KeyID: "k1", Text: "gemini"},
			// A key without a key index: read within the key's hours.
			{KeyID: "k3", Status: 200},
			{KeyID: "k5", From: from1, To: to1},
			{KeyID: "k2", Model: "gemini-2.5-pro"},
			{KeyID: "k4", From: from1},
			{KeyID: "k6", To: to1, Status: 429},
			{KeyID: "k7", From: testNow.Add(-5 * time.Hour), To: testNow.Add(-2 * time.Hour)},
			{KeyID: "nobody"},
			// A 2xx status without a status index: read within its hours.
			{Status: 200, From: from1, To: to1},
			{Status: 200, To: to1},
			{Status: 204},
		}
		sorts := []string{"", "time", "-time", "status", "-status", "model", "-model", "latency", "-latency"}
		pages := []struct{ off, lim int }{{0, 0}, {0, 7}, {13, 20}, {590, 50}, {-5, 1000}}
		if raceEnabled {
			// The transpiled SQLite is much slower under the race detector.
			pages, sorts = pages[1:2], []string{"", "-status", "latency"}
		}
		checked := 0
		for _, thr := range []int64{20000, 5} { // both row plans: filter index + sort, sort index + filter
			sortThreshold = thr
			for _, f := range filters {
				for _, so := range sorts {
					for _, pg := range pages {
						f := f
						f.Sort, f.Offset, f.Limit = so, pg.off, pg.lim
						got, total, err := s.QueryRequestLogs(ctx, "p", f)
						if err != nil {
							t.Fatalf("%+v: %v", f, err)
						}
						wantRows, wantTotal := refFilter(all, f)
						idOf := func(r RequestLog) int64 { return r.ID }
						if total != wantTotal || fmt.Sprint(ids(got, idOf)) != fmt.Sprint(ids(wantRows, idOf)) {
							t.Fatalf("threshold %d, filter %+v:\n total %d want %d\n got  %v\n want %v", thr, f, total,
								wantTotal, ids(got, idOf), ids(wantRows, idOf))
						}
						checked++
					}
				}
			}
		}
		sortThreshold = 20000
		t.Logf("%d filter/sort/page combinations match the reference", checked)

		// Rows are complete.
		got, _, _ := s.QueryRequestLogs(ctx, "q", LogFilter{})
		if len(got) != 1 || got[0].Route != "openai.chat" || got[0].KeyMasked != "m-k1" || got[0].ClientToken != "t1" ||
			!got[0].Time.Equal(other.Time) || got[0].Time.Location() != time.UTC || got[0].Attempt != 1 {
			t.Fatalf("pool q: %+v", got)
		}
		if _, _, err := s.QueryRequestLogs(ctx, "p", LogFilter{Sort: "bogus"}); !errors.Is(err, ErrInvalidFilter) {
			t.Fatalf("bad sort: %v", err)
		}
		rows, total, err := s.QueryRequestLogs(ctx, "p", LogFilter{Offset: 10000})
		if err != nil || rows == nil || len(rows) != 0 || total != 600 {
			t.Fatalf("past the end: %v %d %v", rows, total, err)
		}
	})
}

func TestDeleteRequestLogs(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		s := openEngine(t, engine, Options{})
		ctx := ctxT(t)
		defer func(v int) { deleteChunk = v }(deleteChunk)
		deleteChunk = 1500
		var reqs []RequestLog
		for i := 0; i < 6000; i++ {
			pool := "p"
			if i%3 == 0 {
				pool = "q"
			}
			r := req(time.Duration(i)*time.Second, "m", fmt.Sprintf("k%d", i%5), []int{200, 429}[i%2], "t", "r", 1)
			r.Pool = pool
			reqs = append(reqs, r)
		}
		logAll(t, s, reqs, nil)

		page, total, err := s.QueryRequestLogs(ctx, "p", LogFilter{Limit: 3})
		if err != nil || total != 4000 || len(page) != 3 {
			t.Fatalf("page: %d %d %v", len(page), total, err)
		}
		qRows, _, _ := s.QueryRequestLogs(ctx, "q", LogFilter{Limit: 1})
		del := []int64{page[0].ID, page[2].ID, qRows[0].ID /* other pool: ignored */, 1 << 40}
		if n, err := s.DeleteRequestLogs(ctx, "p", del); err != nil || n != 2 {
			t.Fatalf("delete ids: %d %v", n, err)
		}
		if n, err := s.DeleteRequestLogs(ctx, "p", []int64{}); err != nil || n != 0 {
			t.Fatalf("delete empty: %d %v", n, err)
		}
		after, total, _ := s.QueryRequestLogs(ctx, "p", LogFilter{Limit: 2})
		if total != 3998 || after[0].ID != page[1].ID {
			t.Fatalf("after delete: total %d first %d", total, after[0].ID)
		}
		st, _ := s.UsageStats(ctx, "p", testNow)
		if st.Month.Total != 3998 {
			t.Fatalf("month after delete %+v", st.Month)
		}

		// All of the pool, in several chunks; the other pool keeps its rows.
		n, err := s.DeleteRequestLogs(ctx, "p", nil)
		if err != nil || n != 3998 {
			t.Fatalf("delete all: %d %v", n, err)
		}
		if _, total, _ := s.QueryRequestLogs(ctx, "p", LogFilter{}); total != 0 {
			t.Fatalf("left %d", total)
		}
		var buckets int64
		if err := s.conn().QueryRowContext(context.Background(), `SELECT (SELECT count(*) FROM gb_request_rollups WHERE pool = 'p') +
 (SELECT count(*) FROM gb_key_error_rollups WHERE pool = 'p')`).Scan(&buckets); err != nil || buckets != 0 {
			t.Fatalf("rollup buckets left for p: %d %v", buckets, err)
		}
		if _, total, _ := s.QueryRequestLogs(ctx, "q", LogFilter{}); total != 2000 {
			t.Fatalf("pool q: %d", total)
		}
		st, _ = s.UsageStats(ctx, "q", testNow)
		if st.Month.Total != 2000 {
			t.Fatalf("pool q month %+v", st.Month)
		}
		assertRollupsMatchRows(t, s)
	})
}

// assertRollupsMatchRows recomputes the rollups from the rows and compares
// them with the live counters.
func assertRollupsMatchRows(t *testing.T, s *Store) {
	t.Helper()
	hourExprSQL := s.d.hourExpr("time")
	q := `SELECT pool, dim, hour, name, status, n FROM (
 SELECT pool, '' AS dim, ` + hourExprSQL + ` AS hour, '' AS name, status, count(*) AS n FROM gb_request_logs GROUP BY 1, 2, 3, 4, 5
 UNION ALL SELECT pool, 'model', ` + hourExprSQL + `, model, status, count(*) FROM gb_request_logs GROUP BY 1, 2, 3, 4, 5
 UNION ALL SELECT pool, 'token', ` + hourExprSQL + `, client_token, status, count(*) FROM gb_request_logs GROUP BY 1, 2, 3, 4, 5
 UNION ALL SELECT pool, 'key', ` + hourExprSQL + `, key_id, status, count(*) FROM gb_request_logs GROUP BY 1, 2, 3, 4, 5) AS u
 ORDER BY 1, 2, 3, 4, 5`
	read := func(q string) []string {
		rows, err := s.conn().QueryContext(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var out []string
		for rows.Next() {
			var pool, dim, name string
			var hour, status, n int64
			if err := rows.Scan(&pool, &dim, &hour, &name, &status, &n); err != nil {
				t.Fatal(err)
			}
			out = append(out, fmt.Sprintf("%s/%s/%d/%s/%d=%d", pool, dim, hour, name, status, n))
		}
		return out
	}
	want := read(q)
	got := read(`SELECT pool, dim, hour, name, status, live FROM gb_request_rollups WHERE live <> 0 ORDER BY 1, 2, 3, 4, 5`)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("rollups (%d buckets) do not match the rows (%d buckets)", len(got), len(want))
	}
	want = read(`SELECT pool, 'key', ` + hourExprSQL + `, key_id, status, count(*) FROM gb_request_logs
 WHERE NOT (status >= 200 AND status <= 299) GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5`)
	got = read(`SELECT pool, 'key', hour, key_id, status, live FROM gb_key_error_rollups WHERE live <> 0 ORDER BY 1, 2, 3, 4, 5`)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("key rollups (%d buckets) do not match the rows (%d buckets)", len(got), len(want))
	}
}

func TestQueryErrorLogs(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		s := openEngine(t, engine, Options{})
		ctx := ctxT(t)
		var errs []ErrorLog
		kinds := []string{"rate_limited", "invalid", "upstream_5xx"}
		for i := 0; i < 620; i++ {
			errs = append(errs, ErrorLog{
				Time: testNow.Add(-time.Duration(i) * time.Minute), Pool: "p", Model: []string{"a", "b"}[i%2],
				KeyID: fmt.Sprintf("k%d", i%4), KeyMasked: fmt.Sprintf("m%d", i%4), Status: []int{429, 400, 500}[i%3],
				Kind: kinds[i%3], Message: fmt.Sprintf("Message %d", i), Body: fmt.Sprintf(`{"error":"Ünïcode %d"}`, i),
				RequestBody: "req",
			})
		}
		errs = append(errs, ErrorLog{Time: testNow, Pool: "q", Kind: "invalid", Message: "other pool"})
		logAll(t, s, nil, errs)

		rows, total, err := s.QueryErrorLogs(ctx, "p", LogFilter{})
		if err != nil || total != 620 || len(rows) != DefaultPageSize || rows[0].Message != "Message 0" || rows[0].ID == 0 ||
			rows[0].RequestBody != "req" || rows[0].Body != `{"error":"Ünïcode 0"}` || !rows[0].Time.Equal(testNow) {
			t.Fatalf("first page: %d %d %v %+v", len(rows), total, err, rows[0])
		}
		rows, total, _ = s.QueryErrorLogs(ctx, "p", LogFilter{Limit: 100000})
		if len(rows) != MaxPageSize || total != 620 {
			t.Fatalf("limit clamp: %d", len(rows))
		}
		rows, total, _ = s.QueryErrorLogs(ctx, "p", LogFilter{KeyID: "k1", Status: 400, Sort: "time", Limit: 3})
		// i%4 == 1 and i%3 == 1: i = 1, 13, 25, … (oldest first: the largest i)
		if total != 52 || len(rows) != 3 || rows[0].Message != "Message 613" || rows[2].Message != "Message 589" {
			t.Fatalf("key+status: %d %+v", total, rows)
		}
		rows, total, _ = s.QueryErrorLogs(ctx, "p", LogFilter{Text: "LIMITED", Model: "a"})
		if total != 104 || rows[0].Kind != "rate_limited" || rows[0].Model != "a" {
			t.Fatalf("text in kind: %d", total)
		}
		_, total, _ = s.QueryErrorLogs(ctx, "p", LogFilter{Text: "message 61"})
		if total != 11 { // 61, 610..619
			t.Fatalf("text in message: %d", total)
		}
		_, total, _ = s.QueryErrorLogs(ctx, "p", LogFilter{Text: "ünïcode 7"}) // non-ASCII: exact case on SQLite
		if total != 0 && engine == engineSQLite {
			t.Fatalf("non-ASCII case folding: %d", total)
		}
		_, total, _ = s.QueryErrorLogs(ctx, "p", LogFilter{Text: "Ünïcode 7"})
		if total != 11 {
			t.Fatalf("text in body: %d", total)
		}
		rows, total, _ = s.QueryErrorLogs(ctx, "p", LogFilter{Sort: "-status", From: testNow.Add(-10 * time.Minute), Limit: 20})
		if total != 11 || rows[0].Status != 500 || rows[len(rows)-1].Status != 400 || rows[0].Message != "Message 2" {
			t.Fatalf("status sort: %d %+v", total, rows)
		}
		rows, _, _ = s.QueryErrorLogs(ctx, "p", LogFilter{Sort: "model", Limit: 1})
		if rows[0].Model != "a" || rows[0].Message != "Message 618" {
			t.Fatalf("model sort: %+v", rows[0])
		}
		if _, _, err := s.QueryErrorLogs(ctx, "p", LogFilter{Sort: "-latency"}); !errors.Is(err, ErrInvalidFilter) {
			t.Fatalf("latency sort on error logs: %v", err)
		}

		// Detail and not found (also across pools).
		e, err := s.ErrorLogByID(ctx, "p", rows[0].ID)
		if err != nil || e.Message != "Message 618" || e.RequestBody != "req" {
			t.Fatalf("by id: %+v %v", e, err)
		}
		qrows, _, _ := s.QueryErrorLogs(ctx, "q", LogFilter{})
		if _, err := s.ErrorLogByID(ctx, "p", qrows[0].ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("other pool's id: %v", err)
		}
		if _, err := s.ErrorLogByID(ctx, "p", 1<<40); !errors.Is(err, ErrNotFound) {
			t.Fatalf("unknown id: %v", err)
		}

		// Delete by ids, then all.
		first, _, _ := s.QueryErrorLogs(ctx, "p", LogFilter{Limit: 2})
		if n, err := s.DeleteErrorLogs(ctx, "p", []int64{first[0].ID, first[1].ID, qrows[0].ID}); err != nil || n != 2 {
			t.Fatalf("delete ids: %d %v", n, err)
		}
		if _, err := s.ErrorLogByID(ctx, "p", first[0].ID); !errors.Is(err, ErrNotFound) {
			t.Fatalf("deleted row: %v", err)
		}
		if n, err := s.DeleteErrorLogs(ctx, "p", nil); err != nil || n != 618 {
			t.Fatalf("delete all: %d %v", n, err)
		}
		if _, total, _ := s.QueryErrorLogs(ctx, "p", LogFilter{}); total != 0 {
			t.Fatalf("left: %d", total)
		}
		if _, total, _ := s.QueryErrorLogs(ctx, "q", LogFilter{}); total != 1 {
			t.Fatalf("pool q: %d", total)
		}
	})
}

func TestSeedRequestLogs(t *testing.T) {
	s := openTest(t, Options{})
	ctx := ctxT(t)
	keys := make([]string, 50)
	for i := range keys {
		keys[i] = fmt.Sprintf("%016x", i)
	}
	if _, err := s.InsertKeys(ctx, []KeyRecord{{Pool: "p", KeyID: keys[0], Key: "AIzaSyX", Masked: "AIzaSy…kept"}}); err != nil {
		t.Fatal(err)
	}
	from := testNow.Add(-10 * time.Hour).Add(123 * time.Millisecond)
	defer func(v int) { seedChunk = v }(seedChunk)
	seedChunk = 5000
	n := 12_000 // three transactions
	if raceEnabled {
		seedChunk, n = 1500, 4000
	}
	start := time.Now()
	if err := s.SeedRequestLogs(ctx, "p", n, keys, []string{"m1", "m2", "m3"}, from, testNow); err != nil {
		t.Fatal(err)
	}
	t.Logf("seeded %d rows in %v", n, time.Since(start))
	all, err := s.RequestLogs(ctx, "p", 0)
	if err != nil || len(all) != 100 {
		t.Fatalf("read back: %d %v", len(all), err)
	}
	step := testNow.Sub(from) / time.Duration(n)
	if newest := all[0].Time; !newest.Before(testNow) || newest.Before(testNow.Add(-step-time.Millisecond)) {
		t.Fatalf("newest row at %v", newest)
	}
	st, err := s.UsageStats(ctx, "p", testNow)
	if err != nil {
		t.Fatal(err)
	}
	if st.Month.Total != int64(n) || st.Day.Total != int64(n) {
		t.Fatalf("month %+v day %+v", st.Month, st.Day)
	}
	if share := float64(st.Month.Success) / float64(n); share < 0.83 || share > 0.89 {
		t.Errorf("2xx share %.3f", share)
	}
	if len(st.ByModel) != 3 || len(st.ByToken) != 8 || len(st.TopKeys[429]) != 10 || len(st.TopKeys[400]) != 10 {
		t.Errorf("stats shape: %+v", st)
	}
	// Skewed keys: the first keys are the busiest.
	calls, err := s.KeyCalls(ctx, "p", time.Time{})
	if err != nil || len(calls) != 50 || calls[keys[0]] < 3*calls[keys[40]] {
		t.Errorf("key calls: %v %v", calls, err)
	}
	rows, total, err := s.QueryRequestLogs(ctx, "p", LogFilter{KeyID: keys[0], Limit: 1})
	if err != nil || total != calls[keys[0]] || rows[0].KeyMasked != "AIzaSy…kept" {
		t.Fatalf("key 0: %d %+v %v", total, rows, err)
	}
	rows, _, _ = s.QueryRequestLogs(ctx, "p", LogFilter{Sort: "time", Limit: 1})
	if !rows[0].Time.Equal(from) {
		t.Fatalf("oldest row at %v, want %v", rows[0].Time, from)
	}
	rows, _, _ = s.QueryRequestLogs(ctx, "p", LogFilter{KeyID: keys[1], Limit: 1})
	if rows[0].KeyMasked != "AIzaSy…0001" {
		t.Fatalf("synthetic mask %q", rows[0].KeyMasked)
	}
	if _, total, _ := s.QueryRequestLogs(ctx, "p", LogFilter{}); total != int64(n) {
		t.Fatalf("total %d", total)
	}
	assertRollupsMatchRows(t, s)

	// Bulk mode (indexes dropped and rebuilt in the same transaction).
	indexes := func() string {
		var defs []string
		if err := s.db.Raw(`SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'gb_request_logs'
 AND sql IS NOT NULL ORDER BY name`).Scan(&defs).Error; err != nil {
			t.Fatal(err)
		}
		return strings.Join(defs, "\n")
	}
	before := indexes()
	defer func(v int) { seedBulkRows = v }(seedBulkRows)
	seedBulkRows = 1000
	if err := s.SeedRequestLogs(ctx, "b", 3000, keys[:7], nil, from, testNow); err != nil {
		t.Fatal(err)
	}
	if after := indexes(); after != before || strings.Count(after, "CREATE INDEX") != 4 {
		t.Fatalf("indexes changed by bulk seeding:\n%s\n---\n%s", before, after)
	}
	if _, total, _ := s.QueryRequestLogs(ctx, "b", LogFilter{Model: "gemini-2.5-pro"}); total < 1400 || total > 1600 {
		t.Fatalf("bulk seeded pool, one of two default models: %d", total)
	}
	if _, total, _ := s.QueryRequestLogs(ctx, "p", LogFilter{}); total != int64(n) {
		t.Fatalf("pool p after seeding b: %d", total)
	}
	assertRollupsMatchRows(t, s)
}

func TestMigrationBackfillsRollups(t *testing.T) {
	s := openTest(t, Options{})
	ctx := ctxT(t)
	var reqs []RequestLog
	for i := 0; i < 300; i++ {
		reqs = append(reqs, req(time.Duration(i)*time.Minute, "m", fmt.Sprintf("k%d", i%3), []int{200, 429}[i%2], "t", "r", 1))
	}
	logAll(t, s, reqs, nil)
	path := s.Path()
	// A database of the previous version (no rollup tables), then one that
	// lacks only the key rollups.
	for _, drop := range [][]string{{"gb_request_rollups", "gb_key_error_rollups"}, {"gb_key_error_rollups"}} {
		db, err := Open(path, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, table := range drop {
			if _, err := db.sqlDB.Exec("DROP TABLE " + table); err != nil {
				t.Fatal(err)
			}
		}
		_ = db.Close()
		if s != nil {
			_ = s.Close()
			s = nil
		}
		s2, err := Open(path, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		st, err := s2.UsageStats(ctx, "p", testNow)
		if err != nil || st.Month.Total != 300 || st.Month.Success != 150 || len(st.TopKeys[429]) != 3 ||
			st.TopKeys[429][0].Count != 50 {
			t.Fatalf("after backfill of %v: %+v %v", drop, st, err)
		}
		assertRollupsMatchRows(t, s2)
		_ = s2.Close()
	}
}

func TestClosedStoreQueries(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		s := openEngine(t, engine, Options{})
		ctx := ctxT(t)
		_ = s.Close()
		if _, err := s.UsageStats(ctx, "p", time.Time{}); !errors.Is(err, ErrClosed) {
			t.Fatal(err)
		}
		if _, _, err := s.QueryRequestLogs(ctx, "p", LogFilter{}); !errors.Is(err, ErrClosed) {
			t.Fatal(err)
		}
		if _, err := s.DeleteErrorLogs(ctx, "p", nil); !errors.Is(err, ErrClosed) {
			t.Fatal(err)
		}
		if err := s.SeedRequestLogs(ctx, "p", 1, []string{"k"}, nil, time.Time{}, time.Time{}); !errors.Is(err, ErrClosed) {
			t.Fatal(err)
		}
	})
}

// A database made by an earlier version loses the latency index on open,
// and the latency sort still works without it.
func TestOpenDropsTheLatencyIndex(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gb.db")
	s, err := OpenWithOptions(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.db.Exec("CREATE INDEX idx_gb_request_logs_pool_latency ON gb_request_logs(pool, latency_ms)").Error; err != nil {
		t.Fatal(err)
	}
	for i, ms := range []int64{30, 10, 20} {
		s.LogRequest(RequestLog{Pool: "p", Model: "m", KeyID: fmt.Sprint("k", i), Status: 200, LatencyMs: ms})
	}
	if err := s.Flush(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	_ = s.Close()
	s, err = OpenWithOptions(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var n int
	if err := s.db.Raw("SELECT count(*) FROM sqlite_master WHERE name = 'idx_gb_request_logs_pool_latency'").Scan(&n).Error; err != nil || n != 0 {
		t.Fatalf("latency index still there (%d, %v)", n, err)
	}
	for _, c := range []struct {
		f    LogFilter
		want []int64
	}{
		{LogFilter{Sort: "-latency"}, []int64{30, 20, 10}},
		{LogFilter{Sort: "latency"}, []int64{10, 20, 30}},
		{LogFilter{Sort: "-latency", Status: 200}, []int64{30, 20, 10}},
		{LogFilter{Sort: "-latency", From: time.Now().Add(-time.Hour)}, []int64{30, 20, 10}},
	} {
		rows, total, err := s.QueryRequestLogs(ctxT(t), "p", c.f)
		var got []int64
		for _, r := range rows {
			got = append(got, r.LatencyMs)
		}
		if err != nil || total != 3 || fmt.Sprint(got) != fmt.Sprint(c.want) {
			t.Errorf("%+v: %v (total %d, %v), want %v", c.f, got, total, err, c.want)
		}
	}
}

// TestUpgradeToKeyRollups opens a database as an earlier version left it: the
// request logs' full key index, no "key" rollup buckets. The migration drops
// the index (kept on MySQL, which has no partial indexes), adds the failed
// rows' key index, and fills the key buckets from the rows.
func TestUpgradeToKeyRollups(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		ctx := ctxT(t)
		dsn := testDSN(t, engine)
		s, err := OpenWithOptions(dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		var reqs []RequestLog
		for i := 0; i < 200; i++ {
			reqs = append(reqs, req(time.Duration(i)*17*time.Minute, "m", fmt.Sprintf("k%d", i%5), []int{200, 429}[i%2], "t", "r", 1))
		}
		logAll(t, s, reqs, nil)
		old := []string{"DELETE FROM gb_request_rollups WHERE dim = 'key'"}
		if !s.d.mysql() {
			old = append(old, "DROP INDEX IF EXISTS idx_gb_request_logs_key_failed",
				"DROP INDEX IF EXISTS idx_gb_request_logs_status_failed",
				"CREATE INDEX idx_gb_request_logs_pool_key_time ON gb_request_logs (pool, key_id, time)",
				"CREATE INDEX idx_gb_request_logs_pool_status_time ON gb_request_logs (pool, status, time)")
		}
		for _, q := range old {
			if _, err := s.sqlDB.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s, err = OpenWithOptions(dsn, Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		assertRollupsMatchRows(t, s)
		calls, err := s.KeyCalls(ctx, "p", time.Time{})
		if err != nil || fmt.Sprint(calls) != "map[k0:40 k1:40 k2:40 k3:40 k4:40]" {
			t.Fatalf("key calls after the upgrade: %v %v", calls, err)
		}
		want := map[string]bool{"idx_gb_request_logs_pool_key_time": s.d.mysql(), "idx_gb_request_logs_key_failed": !s.d.mysql(),
			"idx_gb_request_logs_pool_status_time": s.d.mysql(), "idx_gb_request_logs_status_failed": !s.d.mysql()}
		for name, present := range want {
			if got := s.db.Migrator().HasIndex("gb_request_logs", name); got != present {
				t.Errorf("index %s present = %v, want %v", name, got, present)
			}
		}
		rows, total, err := s.QueryRequestLogs(ctx, "p", LogFilter{KeyID: "k2", Status: 429, Limit: 5})
		if err != nil || total != 20 || len(rows) != 5 || rows[0].KeyID != "k2" || rows[0].Status != 429 {
			t.Fatalf("key+status after the upgrade: %d %d %v", total, len(rows), err)
		}
	})
}
