package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestBytesPerRow writes 100,000 request-log rows and 100,000 error-log rows
// of typical content on each engine and prints what one row costs on disk,
// indexes included: PostgreSQL's pg_total_relation_size, MySQL's
// data_length + index_length after ANALYZE TABLE (InnoDB's page-based
// estimate), SQLite's dbstat pages of the table and its indexes.
func TestBytesPerRow(t *testing.T) {
	if testing.Short() || raceEnabled {
		t.Skip("100,000 rows per table: skipped in -short mode and under -race")
	}
	const n = 100_000
	forEngines(t, func(t *testing.T, engine string) {
		s := openEngine(t, engine, Options{})
		ctx := ctxT(t)
		base := time.Now().UTC().Add(-30 * time.Hour)
		batch := make([]logItem, DefaultBatchSize)
		start := time.Now()
		for off := 0; off < n; off += len(batch) {
			for i := range batch {
				j := off + i
				batch[i] = logItem{req: &requestLogRow{
					Time: base.Add(time.Duration(j) * time.Second), Pool: "default", Model: []string{"gemini-2.5-flash", "gemini-2.5-pro"}[j%2],
					KeyID: fmt.Sprintf("%016x", j*7919%4000), KeyMasked: "AIzaSy…" + fmt.Sprintf("%04d", j%4000), Status: []int{200, 200, 200, 429}[j%4],
					LatencyMs: int64(j % 3000), Attempt: 1 + j%2, Stream: j%3 == 0, Route: "gemini.generateContent",
					ClientToken: "sk-…" + fmt.Sprintf("%04d", j%8), PromptTokens: 120, CompletionTokens: 480, TotalTokens: 600,
				}}
			}
			if err := s.writeBatch(ctx, batch); err != nil {
				t.Fatal(err)
			}
		}
		reqDur := time.Since(start)
		start = time.Now()
		for off := 0; off < n; off += len(batch) {
			for i := range batch {
				j := off + i
				batch[i] = logItem{errl: &errorLogRow{
					Time: base.Add(time.Duration(j) * time.Second), Pool: "default", Model: "gemini-2.5-flash",
					KeyID: fmt.Sprintf("%016x", j*7919%4000), KeyMasked: "AIzaSy…" + fmt.Sprintf("%04d", j%4000), Status: 429,
					Kind: "rate_limited", Message: "429 Too Many Requests: quota exceeded for gemini-2.5-flash",
					Body: `{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}`,
				}}
			}
			if err := s.writeBatch(ctx, batch); err != nil {
				t.Fatal(err)
			}
		}
		errDur := time.Since(start)
		// The rollups' buckets per request-log row: in this test nearly every
		// row is its key's only one in its hour (4,000 keys, a row a second),
		// the most the "key" dimension can add.
		for _, table := range []string{"gb_request_logs", "gb_error_logs", rollupTable, keyRollupTable} {
			size, how, err := tableBytes(ctx, s, table)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s %s: %d rows, %d bytes with indexes (%s): %.0f bytes/row", engine, table, n, size, how, float64(size)/n)
		}
		t.Logf("%s: wrote %d request rows in %v (%.1f µs/row), %d error rows in %v (%.1f µs/row)", engine,
			n, reqDur.Round(time.Millisecond), float64(reqDur.Microseconds())/n, n, errDur.Round(time.Millisecond),
			float64(errDur.Microseconds())/n)
	})
}

// tableBytes is the disk size of table and its indexes.
func tableBytes(ctx context.Context, s *Store, table string) (int64, string, error) {
	var size int64
	switch s.d.name {
	case enginePostgres:
		if _, err := s.conn().ExecContext(ctx, "VACUUM ANALYZE "+table); err != nil {
			return 0, "", err
		}
		err := s.conn().QueryRowContext(ctx, "SELECT pg_total_relation_size(?)", table).Scan(&size)
		return size, "pg_total_relation_size", err
	case engineMySQL:
		if _, err := s.conn().ExecContext(ctx, "ANALYZE TABLE "+table); err != nil {
			return 0, "", err
		}
		err := s.conn().QueryRowContext(ctx, `SELECT data_length + index_length FROM information_schema.tables
 WHERE table_schema = DATABASE() AND table_name = ?`, table).Scan(&size)
		return size, "data_length+index_length", err
	}
	err := s.conn().QueryRowContext(ctx, `SELECT sum(pgsize) FROM dbstat WHERE name = ?
 OR name IN (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?)`, table, table).Scan(&size)
	return size, "dbstat", err
}
