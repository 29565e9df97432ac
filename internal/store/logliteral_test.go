package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestRequestLogsLiteral checks that SQLite's literal insert stores every
// column exactly as the bound-parameter insert does (same type, same bytes),
// for awkward text and times, and keeps the batch's order.
func TestRequestLogsLiteral(t *testing.T) {
	s := openTest(t, Options{})
	ctx := ctxT(t)
	odd := []string{"", "plain", `quo"te`, `back\slash`, "it's", "''", "'); DROP TABLE gb_request_logs; --", "ctl\x01\x1f\n\t\r", "nul\x00byte", "bad\xff\xfeutf8",
		"…é😀", strings.Repeat("x", maxNameLen), "</script>\u2028"}
	times := []time.Time{
		time.Date(2026, 12, 3, 7, 12, 3, 123456789, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		time.Date(2026, 1, 2, 3, 4, 5, 120000000, time.UTC),
		time.Date(1999, 12, 31, 23, 59, 59, 1000, time.UTC),
	}
	var rows []requestLogRow
	for i, str := range odd {
		rows = append(rows, requestLogRow{
			Time: times[i%len(times)], Pool: "p" + str, Model: str, KeyID: str, KeyMasked: str,
			Status: 200 + i*37, LatencyMs: int64(i) << 40, Attempt: i, Stream: i%2 == 1, Route: str, ClientToken: str,
			PromptTokens: -i, CompletionTokens: i * 1000, TotalTokens: 1 << 30,
		})
	}
	if err := s.inTx(ctx, func(tx dbConn) error { return insertRequestLogsBound(ctx, tx, 3, rows) }); err != nil {
		t.Fatal(err)
	}
	if _, err := s.sqlDB.ExecContext(ctx, requestLogsLiteral(rows)); err != nil {
		t.Fatal(err)
	}
	cols := []string{"time", "pool", "model", "key_id", "key_masked", "status", "latency_ms", "attempt", "stream",
		"route", "client_token", "prompt_tokens", "completion_tokens", "total_tokens"}
	var sel []string
	for _, c := range cols {
		sel = append(sel, "typeof("+c+") || ':' || hex("+c+")")
	}
	read := func(id int) []string {
		out := make([]string, len(cols))
		args := make([]any, len(cols))
		for i := range out {
			args[i] = &out[i]
		}
		if err := s.sqlDB.QueryRowContext(ctx, "SELECT "+strings.Join(sel, ", ")+" FROM gb_request_logs WHERE id = ?",
			id).Scan(args...); err != nil {
			t.Fatalf("row %d: %v", id, err)
		}
		return out
	}
	n := len(rows)
	for i := 1; i <= n; i++ {
		bound, lit := read(i), read(n+i)
		for c := range cols {
			if bound[c] != lit[c] {
				t.Errorf("row %d %s: bound %s, literal %s", i, cols[c], bound[c], lit[c])
			}
		}
	}
	// Read back through the store: the same values as written, in order.
	got, err := s.RequestLogs(ctx, "", 2*n)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[int64]RequestLog{}
	for _, r := range got {
		byID[r.ID] = r
	}
	for i, r := range rows {
		g, ok := byID[int64(n+i+1)]
		if !ok {
			t.Fatalf("row %d not found", n+i+1)
		}
		want := fmt.Sprintf("%v|%q|%q|%q|%d|%d|%v", r.Time, r.Pool, r.Model, r.KeyID, r.Status, r.LatencyMs, r.Stream)
		have := fmt.Sprintf("%v|%q|%q|%q|%d|%d|%v", g.Time, g.Pool, g.Model, g.KeyID, g.Status, g.LatencyMs, g.Stream)
		if want != have {
			t.Errorf("row %d: wrote %s, read %s", i, want, have)
		}
	}
}

// BenchmarkRequestLogsLiteral is the Go side of SQLite's insert: writing a
// batch's statement.
func BenchmarkRequestLogsLiteral(b *testing.B) {
	rows := make([]requestLogRow, DefaultBatchSize)
	for i := range rows {
		rows[i] = requestLogRow{Time: time.Now().UTC(), Pool: "default", Model: "gemini-2.5-flash",
			KeyID: fmt.Sprintf("k%04d", i), KeyMasked: "AIzaSy…abcd", Status: 200, LatencyMs: int64(i), Attempt: 1,
			Route: "gemini.generateContent", ClientToken: "sk-…1234", PromptTokens: 10, CompletionTokens: 20, TotalTokens: 30}
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = requestLogsLiteral(rows)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(rows)), "ns/row")
}

// TestWriteBatchLiteralChunks writes a batch of several literal statements
// and checks that every row lands once, in the batch's order.
func TestWriteBatchLiteralChunks(t *testing.T) {
	s := openTest(t, Options{})
	ctx := ctxT(t)
	n := 3*literalRowsPerStmt + 7
	batch := make([]logItem, n)
	now := time.Now().UTC()
	for i := range batch {
		batch[i] = logItem{req: &requestLogRow{Time: now.Add(time.Duration(i) * time.Microsecond), Pool: "p",
			KeyID: fmt.Sprintf("k%d", i%5), Status: 200 + i%2*229, LatencyMs: int64(i)}}
	}
	if err := s.writeBatch(ctx, batch); err != nil {
		t.Fatal(err)
	}
	rows, err := s.sqlDB.QueryContext(ctx, "SELECT id, latency_ms FROM gb_request_logs ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	i := 0
	for rows.Next() {
		var id, lat int64
		if err := rows.Scan(&id, &lat); err != nil {
			t.Fatal(err)
		}
		if id != int64(i+1) || lat != int64(i) {
			t.Fatalf("row %d: id %d latency %d", i, id, lat)
		}
		i++
	}
	if i != n {
		t.Fatalf("%d rows, want %d", i, n)
	}
	total, success, err := s.CountRequestLogs(ctx, "p", now.Add(-time.Minute))
	if err != nil || total != int64(n) || success != int64((n+1)/2) {
		t.Fatalf("count: %d %d %v, want %d %d", total, success, err, n, (n+1)/2)
	}
}

// FuzzRequestLogsLiteral writes any text through the literal insert: it must
// come back unchanged, as one row, and the statement must never be more than
// that insert.
func FuzzRequestLogsLiteral(f *testing.F) {
	for _, seed := range []string{"", "'", "''", "'); DELETE FROM gb_request_logs; --", "a\x00'b", "\xff'\n", "--", "/*"} {
		f.Add(seed, "route")
	}
	s := openTest(f, Options{})
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, model, route string) {
		if _, err := s.sqlDB.ExecContext(ctx, "DELETE FROM gb_request_logs"); err != nil {
			t.Fatal(err)
		}
		rows := []requestLogRow{{Time: time.Unix(1, 0).UTC(), Pool: "p", Model: model, Route: route, KeyID: model + route}}
		if _, err := s.sqlDB.ExecContext(ctx, requestLogsLiteral(rows)); err != nil {
			t.Fatalf("insert %q %q: %v", model, route, err)
		}
		var n int
		var gotModel, gotRoute, gotKey string
		err := s.sqlDB.QueryRowContext(ctx, "SELECT count(*), max(model), max(route), max(key_id) FROM gb_request_logs").
			Scan(&n, &gotModel, &gotRoute, &gotKey)
		if err != nil || n != 1 || gotModel != model || gotRoute != route || gotKey != model+route {
			t.Fatalf("wrote %q %q, read %d rows %q %q %q (%v)", model, route, n, gotModel, gotRoute, gotKey, err)
		}
	})
}
