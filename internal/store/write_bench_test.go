package store

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkWriteRequestLogs measures the background writer's cost per
// request-log row (batches of DefaultBatchSize, as under load), on a table
// that already holds rows.
func BenchmarkWriteRequestLogs(b *testing.B) { benchWriteRequestLogs(b, "") }

// BenchmarkWriteRequestLogsWithout measures the writer with one index of
// gb_request_logs dropped at a time: what each index costs per row.
//
// Measured (2 cores, 2026-11-23): about 30 µs per row with the five indexes
// of the time, of which (pool, latency_ms) ~9 µs and (pool, key_id, time)
// ~7 µs (rows land at scattered places), (pool, status, time) and (pool,
// model, time) ~5 µs, (pool, time) ~2 µs (rows append at its end). Larger
// batches or a larger page cache did not lower it. The latency index was
// dropped since (about 23 µs per row now).
//
// Measured again (2026-12-03, CPU per row) after the JSON insert and the
// larger WAL checkpoint: 21–23 µs with the four indexes, 12.8 µs without
// (pool, key_id, time), 19.9 without (pool, model, time), 22.2 without
// (pool, status, time), no gain without (pool, time): the key index, whose
// entries land at scattered pages, is now about half of the writer's cost.
func BenchmarkWriteRequestLogsWithout(b *testing.B) {
	for _, ix := range []string{"idx_gb_request_logs_pool_time", "idx_gb_request_logs_pool_key_time",
		"idx_gb_request_logs_pool_status_time", "idx_gb_request_logs_pool_model_time"} {
		b.Run(ix, func(b *testing.B) { benchWriteRequestLogs(b, ix) })
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
		b.Run(engine, func(b *testing.B) { benchWriteRequestLogsOn(b, testDSN(b, engine), "") })
	}
}

// benchWriteRequestLogs writes batches of rows spread over 4,000 keys and
// 300 latencies, with the index named drop dropped first ("" = none).
func benchWriteRequestLogs(b *testing.B, drop string) {
	benchWriteRequestLogsOn(b, filepath.Join(b.TempDir(), "bench.db"), drop)
}

func benchWriteRequestLogsOn(b *testing.B, dsn, drop string) {
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
	write := func(round int) {
		now := time.Now().UTC()
		for i := range batch {
			batch[i] = logItem{req: &requestLogRow{
				Time: now, Pool: "default", Model: "gemini-2.5-flash", KeyID: fmt.Sprintf("k%04d", (round*len(batch)+i)%4000),
				KeyMasked: "AIzaSy…abcd", Status: 200, LatencyMs: int64(i % 300), Attempt: 1,
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
