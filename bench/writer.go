package main

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
)

// The request-log writer's figures: its CPU per row (the store's
// BenchmarkWriteRequestLogs, among the micro-benchmarks) and its share of
// Caddy's CPU under the native load (from the -cpuprofile profile).

var writeRowLine = regexp.MustCompile(`^BenchmarkWriteRequestLogs/keys=(\d+)-\d+\s+\d+\s+.*?([\d.]+) cpu-ns/row`)

// writerRowFact reports the writer's CPU per row from a micro-benchmark line
// (one per pool size).
func (b *bench) writerRowFact(line string) {
	if m := writeRowLine.FindStringSubmatch(line); m != nil {
		if v, err := strconv.ParseFloat(m[2], 64); err == nil {
			b.rep.fact("request-log row written, CPU per row (BenchmarkWriteRequestLogs, SQLite, "+m[1]+" keys)",
				"%.1f µs", v/1000)
		}
	}
}

// writerShare reports the share of the samples of Caddy's CPU profile spent
// in the request-log writer goroutine (store.(*Store).writer and below).
func (b *bench) writerShare(ctx context.Context, profile string) error {
	out, err := exec.CommandContext(ctx, goTool(), "tool", "pprof", "-top", "-cum", "-nodecount=1000", profile).Output()
	if err != nil {
		return fmt.Errorf("go tool pprof: %w", err)
	}
	total, writer, err := writerSamples(string(out))
	if err != nil {
		return err
	}
	b.rep.fact("request-log writer, share of Caddy's CPU under the native load (-cpuprofile)",
		"%.1f %% (%.2f of %.2f CPU-seconds sampled)", 100*writer/total, writer, total)
	return nil
}

// writerSamples reads the total and the writer's cumulative seconds from
// `go tool pprof -top -cum` output.
func writerSamples(top string) (total, writer float64, err error) {
	for _, line := range strings.Split(top, "\n") {
		if i := strings.Index(line, "Total samples = "); i >= 0 {
			total, err = seconds(strings.Fields(line[i+len("Total samples = "):])[0])
			if err != nil {
				return 0, 0, err
			}
		}
		f := strings.Fields(line)
		if len(f) == 6 && strings.HasSuffix(f[5], "store.(*Store).writer") {
			if writer, err = seconds(f[3]); err != nil {
				return 0, 0, err
			}
		}
	}
	if total == 0 {
		return 0, 0, fmt.Errorf("no samples in the profile")
	}
	return total, writer, nil
}

// seconds parses pprof's "1.23s" / "450ms".
func seconds(s string) (float64, error) {
	unit := 1.0
	switch {
	case strings.HasSuffix(s, "ms"):
		s, unit = strings.TrimSuffix(s, "ms"), 1e-3
	case strings.HasSuffix(s, "us"), strings.HasSuffix(s, "µs"):
		s, unit = strings.TrimSuffix(strings.TrimSuffix(s, "us"), "µs"), 1e-6
	case strings.HasSuffix(s, "s"):
		s = strings.TrimSuffix(s, "s")
	}
	v, err := strconv.ParseFloat(s, 64)
	return v * unit, err
}
