package store

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand"
	"os"
	"testing"
	"time"
)

func TestZZProto(t *testing.T) {
	if os.Getenv("PROTO") == "" {
		t.Skip()
	}
	path := "/tmp/proto/gb.db"
	fresh := false
	if _, err := os.Stat(path); err != nil {
		fresh = true
	}
	s, err := OpenWithOptions(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	now := time.Now().UTC()
	if fresh {
		start := time.Now()
		rng := rand.New(rand.NewSource(1))
		models := []string{"gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.0-flash", "gemini-embedding-001", "gemini-2.5-flash-lite"}
		routes := []string{"gemini.generateContent", "gemini.streamGenerateContent", "openai.chat", "openai.embeddings"}
		tokens := []string{"sk-…a1", "sk-…b2", "sk-…c3", "sk-…d4", "sk-…e5", "sk-…f6"}
		const n = 1_000_000
		from := now.Add(-24 * time.Hour)
		step := 24 * time.Hour / n
		for off := 0; off < n; off += 100000 {
			err := s.inTx(ctx, func(tx *sql.Tx) error {
				_, err := execBulk(ctx, tx, insertRequestLogsHead, 14, insertRowsPerStmt, 100000, "", func(i int, args []any) []any {
					j := off + i
					st := 200
					switch r := rng.Intn(100); {
					case r < 8:
						st = 429
					case r < 11:
						st = 403
					case r < 13:
						st = 400
					case r < 15:
						st = 500
					}
					k := rng.Intn(100000)
					return append(args, from.Add(time.Duration(j)*step), "big", models[rng.Intn(len(models))], fmt.Sprintf("%016x", k), fmt.Sprintf("AIza…%04d", k%10000), st, int64(rng.Intn(5000)), 1, false, routes[rng.Intn(len(routes))], tokens[rng.Intn(len(tokens))], 10, 20, 30)
				})
				return err
			})
			if err != nil {
				t.Fatal(err)
			}
		}
		t.Logf("seed %v", time.Since(start))
	}
	for _, ddl := range []string{
		"CREATE INDEX IF NOT EXISTS x_model ON gb_request_logs(pool, model, time)",
		"CREATE INDEX IF NOT EXISTS x_tok ON gb_request_logs(pool, client_token, time)",
		"CREATE INDEX IF NOT EXISTS x_stk ON gb_request_logs(pool, status, time, key_id)",
	} {
		st := time.Now()
		if _, err := s.sqlDB.Exec(ddl); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %v", ddl, time.Since(st))
	}
	q := func(name, query string, args ...any) {
		var plan []string
		rows, err := s.sqlDB.Query("EXPLAIN QUERY PLAN "+query, args...)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var a, b, c int
			var d string
			rows.Scan(&a, &b, &c, &d)
			plan = append(plan, d)
		}
		rows.Close()
		st := time.Now()
		rows, err = s.sqlDB.Query(query, args...)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		var first []any
		cols, _ := rows.Columns()
		for rows.Next() {
			n++
			if n == 1 {
				vals := make([]any, len(cols))
				ptrs := make([]any, len(cols))
				for i := range vals {
					ptrs[i] = &vals[i]
				}
				rows.Scan(ptrs...)
				first = vals
			}
		}
		rows.Close()
		t.Logf("%-30s %8v rows=%d first=%v plan=%v", name, time.Since(st).Round(time.Microsecond), n, first, plan)
	}
	d := now.Add(-24 * time.Hour)
	h := now.Add(-time.Hour)
	m := now.Add(-time.Minute)
	q("count pool", "SELECT count(*) FROM gb_request_logs WHERE pool=?", "big")
	q("count pool notindexed", "SELECT count(*) FROM gb_request_logs")
	q("count pool time>=h", "SELECT count(*) FROM gb_request_logs WHERE pool=? AND time>=?", "big", h)
	q("count minute", "SELECT count(*) FROM gb_request_logs WHERE pool=? AND time>=?", "big", m)
	q("success hour in list", "SELECT count(*) FROM gb_request_logs WHERE pool=? AND status IN (200,201) AND time>=?", "big", h)
	q("success hour range", "SELECT count(*) FROM gb_request_logs WHERE pool=? AND status BETWEEN 200 AND 299 AND time>=?", "big", h)
	q("hour scan sum", "SELECT count(*), sum(status BETWEEN 200 AND 299) FROM gb_request_logs WHERE pool=? AND time>=?", "big", h)
	q("topkeys 429 raw", "SELECT key_id, count(*) c FROM gb_request_logs WHERE pool=? AND status=? AND time>=? GROUP BY key_id ORDER BY c DESC LIMIT 10", "big", 429, d)
	q("topkeys 400 raw", "SELECT key_id, count(*) c FROM gb_request_logs WHERE pool=? AND status=? AND time>=? GROUP BY key_id ORDER BY c DESC LIMIT 10", "big", 400, d)
	q("by model raw", "SELECT model, count(*) c FROM gb_request_logs WHERE pool=? AND time>=? GROUP BY model ORDER BY c DESC LIMIT 20", "big", d)
	q("count status 200", "SELECT count(*) FROM gb_request_logs WHERE pool=? AND status=200", "big")
	q("count status 429", "SELECT count(*) FROM gb_request_logs WHERE pool=? AND status=429", "big")
	q("count model", "SELECT count(*) FROM gb_request_logs WHERE pool=? AND model=?", "big", "gemini-2.5-pro")
	q("page", "SELECT * FROM gb_request_logs WHERE pool=? ORDER BY time DESC, id DESC LIMIT 50", "big")
	q("page off 10000", "SELECT * FROM gb_request_logs WHERE pool=? ORDER BY time DESC, id DESC LIMIT 50 OFFSET 10000", "big")
	q("page latency", "SELECT * FROM gb_request_logs WHERE pool=? ORDER BY latency_ms DESC, id DESC LIMIT 50", "big")
	q("page key", "SELECT * FROM gb_request_logs WHERE pool=? AND key_id=? AND status=? ORDER BY time DESC, id DESC LIMIT 50", "big", "0000000000000010", 200)
	q("text like", "SELECT count(*) FROM gb_request_logs WHERE pool=? AND (route LIKE ? OR model LIKE ?)", "big", "%chat%", "%chat%")
	q("keycalls raw 24h", "SELECT key_id, count(*) FROM gb_request_logs WHERE pool=? AND time>=? GROUP BY key_id", "big", d)
	q("keycalls raw 1h", "SELECT key_id, count(*) FROM gb_request_logs WHERE pool=? AND time>=? GROUP BY key_id", "big", h)
	q("keycalls raw 1h keyidx", "SELECT key_id, count(*) FROM gb_request_logs INDEXED BY idx_gb_request_logs_pool_key_time WHERE pool=? AND time>=? GROUP BY key_id", "big", h)
}
