package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/secret"
)

// BenchmarkWriteRequestLogs measures the background writer's cost per
// request-log row (batches of DefaultBatchSize, as under load), on a table
// that already holds rows, with the rows spread over a pool of 4 keys (the
// benchmark's native load) and of 4,000 keys. Key ids are made as the pool
// makes them (secret.ID: hashes), so rows of different keys are far apart in
// key order; 1 row in 100 is a 429.
func BenchmarkWriteRequestLogs(b *testing.B) {
	for _, keys := range []int{4, 4000} {
		b.Run(fmt.Sprintf("keys=%d", keys), func(b *testing.B) {
			benchWriteRequestLogsOn(b, filepath.Join(b.TempDir(), "bench.db"), keys, "")
		})
	}
}

// BenchmarkWriteRequestLogsWithout measures the writer (4,000 keys) with one
// index of gb_request_logs dropped at a time: what each index costs per row.
//
// History (2 cores): on 2026-11-23 about 30 µs per row with the five indexes
// of the time, of which (pool, latency_ms) ~9 µs, so it was dropped. On
// 2026-12-03 (4,000 hashed key ids, CPU per row): 32.9 µs with the four
// indexes of the time, 11.3 µs without (pool, key_id, time), whose entries
// land on a page of their own each (with 4 keys: 14.4 and 11.1 µs); no index
// cost more than 1.3 µs besides. That index was replaced by the rollups'
// "key" dimension and a key index of the failed rows only (rollups.go).
func BenchmarkWriteRequestLogsWithout(b *testing.B) {
	for _, ix := range []string{"idx_gb_request_logs_pool_time", "idx_gb_request_logs_pool_model_time",
		"idx_gb_request_logs_key_failed", "idx_gb_request_logs_status_failed"} {
		b.Run(ix, func(b *testing.B) { benchWriteRequestLogsOn(b, filepath.Join(b.TempDir(), "bench.db"), 4000, ix) })
	}
}

// BenchmarkWriteRequestLogsServers is BenchmarkWriteRequestLogs on
// PostgreSQL and MariaDB, with GB_BENCH_SERVERS=1 (it starts the servers;
// `go run ./bench` runs this package's benchmarks without). cpu-ns/row counts
// this process only, not the server's.
func BenchmarkWriteRequestLogsServers(b *testing.B) {
	if os.Getenv("GB_BENCH_SERVERS") != "1" {
		b.Skip("set GB_BENCH_SERVERS=1 to start PostgreSQL and MariaDB")
	}
	for _, engine := range []string{enginePostgres, "mariadb"} {
		b.Run(engine, func(b *testing.B) { benchWriteRequestLogsOn(b, testDSN(b, engine), 4000, "") })
	}
}

// benchWriteRequestLogsOn writes batches of rows spread over keys keys and
// 300 latencies, with the index named drop dropped first ("" = none).
func benchWriteRequestLogsOn(b *testing.B, dsn string, keys int, drop string) {
	s, err := OpenWithOptions(dsn, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	if drop != "" {
		if _, err := s.sqlDB.Exec("DROP INDEX " + drop); err != nil {
			b.Fatal(err)
		}
	}
	batch := make([]logItem, DefaultBatchSize)
	ctx := context.Background()
	keyIDs := make([]string, keys)
	for i := range keyIDs {
		keyIDs[i] = secret.ID(fmt.Sprintf("AIzaSy-bench-key-%04d", i))
	}
	status := func(i int) int {
		if i%100 == 99 {
			return 429
		}
		return 200
	}
	write := func(round int) {
		now := time.Now().UTC()
		for i := range batch {
			batch[i] = logItem{req: &requestLogRow{
				Time: now, Pool: "default", Model: "gemini-2.5-flash", KeyID: keyIDs[(round*len(batch)+i)%len(keyIDs)],
				KeyMasked: "AIzaSy…abcd", Status: status(i), LatencyMs: int64(i % 300), Attempt: 1,
				Route: "gemini.generateContent", ClientToken: "sk-…1234", PromptTokens: 10, CompletionTokens: 20, TotalTokens: 30,
			}}
		}
		if err := s.writeBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	for i := 0; i < 20; i++ { // some rows already there
		write(i)
	}
	b.ResetTimer()
	cpu0 := processCPU()
	for i := 0; i < b.N; i++ {
		write(i)
	}
	cpu := processCPU() - cpu0
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(batch)), "ns/row")
	// CPU time of the whole process (the writer and the GC it causes): less
	// noisy than wall time when other work shares the machine.
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*len(batch)), "cpu-ns/row")
}
