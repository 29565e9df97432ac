package main

import (
	"bytes"
	"context"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestQuickRun runs the smoke version of the benchmark end to end: it builds
// Caddy, runs every scenario with tiny counts, and writes the report.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs Caddy; skipped with -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	cfg := defaultConfig(true)
	cfg.out = t.TempDir()
	cfg.command = "go run ./bench -quick"
	cfg.logf = t.Logf
	rep, err := run(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}

	md, err := os.ReadFile(filepath.Join(cfg.out, "benchmark.md"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(md)
	for _, sc := range scenarioNames {
		if !strings.Contains(text, "\n| "+sc+" | ") {
			t.Errorf("benchmark.md has no row for %q", sc)
		}
	}
	for _, want := range []string{"| target (issue #5) |", "![throughput and p99 per scenario](benchmark.png)",
		"| file upload, 4 MiB in one leg, gemini_balance: Caddy RSS before / peak during / after; throughput | ",
		"| file upload, 4 MiB in one leg, bare reverse_proxy: Caddy RSS before / peak during / after; throughput | ",
		"| a 4 MiB upload (one leg) raises Caddy's RSS by ≤ 32 MiB | ",
		"BenchmarkPick", "BenchmarkClassify429", "BenchmarkToGemini", "BenchmarkRedact", "go run ./bench -quick"} {
		if !strings.Contains(text, want) {
			t.Errorf("benchmark.md lacks %q", want)
		}
	}
	// The failover mode must really fail over: every request's first key
	// got a 429 (a proxy that stopped forwarding the choice would not).
	if i := strings.Index(text, "| failover: requests whose first key got a 429 | "); i < 0 || strings.HasPrefix(text[i+len("| failover: requests whose first key got a 429 | "):], "0 of") {
		t.Errorf("the failover scenario did not fail over: %s", text[max(i, 0):min(max(i, 0)+200, len(text))])
	}
	// The database engines scenario ran on each server, or says why not.
	for _, e := range []string{"PostgreSQL", "MariaDB"} {
		if !strings.Contains(text, "| gemini_balance on "+e+" | ") && !strings.Contains(text, "ran without "+e) {
			t.Errorf("benchmark.md has neither a %s row nor a note saying why not", e)
		}
	}
	// Every request of the smoke run must have succeeded.
	for _, r := range rep.rows {
		if r.res.errs > 0 {
			t.Errorf("%s / %s: %d errors, first: %s", r.scenario, r.t.name, r.res.errs, r.res.firstErr)
		}
		if r.res.n == 0 {
			t.Errorf("%s / %s: no successful request", r.scenario, r.t.name)
		}
	}

	b, err := os.ReadFile(filepath.Join(cfg.out, "benchmark.png"))
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("benchmark.png: %v", err)
	}
	if r := img.Bounds(); r.Dx() < 500 || r.Dy() < 300 {
		t.Errorf("benchmark.png is %v", r)
	}
}

// TestLatencyStats checks the percentile arithmetic.
func TestLatencyStats(t *testing.T) {
	var lat []time.Duration
	for i := 100; i >= 1; i-- {
		lat = append(lat, time.Duration(i)*time.Millisecond)
	}
	s := latencyStats(lat)
	if s.p50 != 50*time.Millisecond || s.p90 != 90*time.Millisecond || s.p99 != 99*time.Millisecond || s.max != 100*time.Millisecond {
		t.Fatalf("stats = %+v", s)
	}
	if latencyStats(nil) != (stats{}) {
		t.Fatal("empty list")
	}
}
