package store

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkWriteRequestLogs measures the background writer's cost per
// request-log row (batches of DefaultBatchSize, as under load), on a table
// that already holds rows.
func BenchmarkWriteRequestLogs(b *testing.B) {
	s, err := OpenWithOptions(filepath.Join(b.TempDir(), "bench.db"), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	batch := make([]logItem, DefaultBatchSize)
	fill := func(base int) {
		now := time.Now().UTC()
		for i := range batch {
			batch[i] = logItem{req: &requestLogRow{
				Time: now, Pool: "default", Model: "gemini-2.5-flash", KeyID: fmt.Sprintf("k%04d", (base+i)%4000),
				KeyMasked: "AIzaSy…abcd", Status: 200, LatencyMs: int64(i % 300), Attempt: 1,
				Route: "gemini.generateContent", ClientToken: "sk-…1234", PromptTokens: 10, CompletionTokens: 20, TotalTokens: 30,
			}}
		}
	}
	ctx := context.Background()
	for i := 0; i < 20; i++ { // some rows already there
		fill(i * len(batch))
		if err := s.writeBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	rows := 0
	for i := 0; i < b.N; i++ {
		fill(i * len(batch))
		if err := s.writeBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
		rows += len(batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/row")
}

// BenchmarkWriteRequestLogsWithout measures the writer with one index of
// gb_request_logs dropped at a time: what each index costs per row.
//
// Measured (2 cores, 2026-11-23): about 30 µs per row with the five indexes
// of the time, of which (pool, latency_ms) ~9 µs and (pool, key_id, time)
// ~7 µs (rows land at scattered places), (pool, status, time) and (pool,
// model, time) ~5 µs, (pool, time) ~2 µs (rows append at its end). Larger
// batches or a larger page cache did not lower it. The latency index was
// dropped since (about 23 µs per row now).
func BenchmarkWriteRequestLogsWithout(b *testing.B) {
	const size = DefaultBatchSize
	for _, ix := range []string{"none", "idx_gb_request_logs_pool_time", "idx_gb_request_logs_pool_key_time", "idx_gb_request_logs_pool_status_time", "idx_gb_request_logs_pool_model_time"} {
		b.Run(ix, func(b *testing.B) {
			s, err := OpenWithOptions(filepath.Join(b.TempDir(), "bench.db"), Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			if ix != "none" {
				if _, err := s.sqlDB.Exec("DROP INDEX " + ix); err != nil {
					b.Fatal(err)
				}
			}
			batch := make([]logItem, size)
			ctx := context.Background()
			b.ResetTimer()
			rows := 0
			for i := 0; i < b.N; i++ {
				now := time.Now().UTC()
				for j := range batch {
					batch[j] = logItem{req: &requestLogRow{
						Time: now, Pool: "default", Model: "gemini-2.5-flash", KeyID: fmt.Sprintf("k%04d", (i*size+j)%4000),
						KeyMasked: "AIzaSy…abcd", Status: 200, LatencyMs: int64(j % 300), Attempt: 1,
						Route: "gemini.generateContent", ClientToken: "sk-…1234", PromptTokens: 10, CompletionTokens: 20, TotalTokens: 30,
					}}
				}
				if err := s.writeBatch(ctx, batch); err != nil {
					b.Fatal(err)
				}
				rows += len(batch)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(rows), "ns/row")
		})
	}
}
