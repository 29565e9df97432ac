package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// row is one line of the results table: one target of one scenario.
type row struct {
	scenario string
	mode     string
	t        *target
	res      *result
	first    bool // the latency columns are the time to the first event
}

func (r row) group() string { return r.scenario + "\x00" + r.mode }

func (r row) stats() stats {
	if r.first {
		return latencyStats(r.res.first)
	}
	return latencyStats(r.res.lat)
}

// ratio is the row's throughput over its group's floor; ok is false when the
// group has no floor.
func (rep *report) ratio(r row) (float64, bool) {
	for _, f := range rep.rows {
		if f.group() == r.group() && f.t.role == roleFloor {
			if f.res.rps() == 0 {
				return 0, false
			}
			return r.res.rps() / f.res.rps(), true
		}
	}
	return 0, false
}

// find returns the row of a scenario and target name.
func (rep *report) find(scenario, targetName string) (row, bool) {
	for _, r := range rep.rows {
		if r.scenario == scenario && r.t.name == targetName {
			return r, true
		}
	}
	return row{}, false
}

// fact is one line of the resources section.
type fact struct{ name, value string }

// check is one target of the issue, met or not.
type check struct {
	target, measured string
	met              string // "met", "not met", "n/a (...)"
}

// report gathers everything the run measured.
type report struct {
	cfg       config
	started   time.Time
	finished  time.Time
	goVersion string
	cpu       string
	kernel    string
	cores     int
	buildTime time.Duration
	source    string // the commit measured
	rows      []row
	facts     []fact
	checks    []check
	micro     string
	notes     []string
	// breakdowns is the open-streams scenario's per-stream memory, one per
	// Caddy and upstream kind.
	breakdowns []streamBreakdown
}

func newReport(cfg config) *report {
	rep := &report{cfg: cfg, started: time.Now(), cores: runtime.NumCPU(), cpu: cpuModel(), goVersion: runtime.Version()}
	if out, err := exec.Command(goTool(), "version").Output(); err == nil {
		rep.goVersion = strings.TrimSpace(string(out))
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		rep.kernel = "Linux " + strings.TrimSpace(string(b))
	}
	return rep
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, val, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
			return strings.TrimSpace(val)
		}
	}
	return runtime.GOARCH
}

func (rep *report) add(scenario, mode string, t *target, res *result, first bool) {
	rep.rows = append(rep.rows, row{scenario: scenario, mode: mode, t: t, res: res, first: first})
}

func (rep *report) fact(name, format string, args ...any) {
	rep.facts = append(rep.facts, fact{name, fmt.Sprintf(format, args...)})
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case d == 0:
		return "–"
	case v < 10:
		return fmt.Sprintf("%.3f ms", v)
	case v < 100:
		return fmt.Sprintf("%.2f ms", v)
	case v < 10000:
		return fmt.Sprintf("%.1f ms", v)
	}
	return fmt.Sprintf("%.2f s", v/1000)
}

// msDelta formats a signed difference in milliseconds.
func msDelta(d time.Duration) string {
	return fmt.Sprintf("%+.3f ms", float64(d)/float64(time.Millisecond))
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func rpsString(v float64) string {
	if v < 100 {
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// table is the results as a markdown table.
func (rep *report) table() string {
	var b strings.Builder
	b.WriteString("| scenario | mode | target | req/s | p50 | p90 | p99 | max | errors | ratio vs floor |\n")
	b.WriteString("|---|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rep.rows {
		s := r.stats()
		ratio := "–"
		if r.t.role == roleFloor {
			ratio = "floor"
		} else if v, ok := rep.ratio(r); ok {
			ratio = fmt.Sprintf("%.2f×", v)
		}
		errs := fmt.Sprint(r.res.errs)
		if r.res.errs > 0 && r.res.firstErr != "" {
			errs += " ¹"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			r.scenario, r.mode, r.t.name, rpsString(r.res.rps()), ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max), errs, ratio)
	}
	var errNotes []string
	for _, r := range rep.rows {
		if r.res.errs > 0 && r.res.firstErr != "" && !r.first {
			msg := r.res.firstErr
			if len(msg) > 200 {
				msg = msg[:200] + "…"
			}
			errNotes = append(errNotes, fmt.Sprintf("%s, %s: %d errors, first: `%s`", r.scenario, r.t.name, r.res.errs, strings.ReplaceAll(msg, "`", "'")))
		}
	}
	if len(errNotes) > 0 {
		b.WriteString("\n¹ ")
		b.WriteString(strings.Join(errNotes, "; "))
		b.WriteString("\n")
	}
	return b.String()
}

// factsTable is the resources section as a markdown table.
func (rep *report) factsTable() string {
	var b strings.Builder
	b.WriteString("| what | value |\n|---|---|\n")
	for _, f := range rep.facts {
		fmt.Fprintf(&b, "| %s | %s |\n", f.name, f.value)
	}
	return b.String()
}

func (rep *report) targetsTable() string {
	var b strings.Builder
	b.WriteString("| target (issue #5) | measured | |\n|---|---|---|\n")
	for _, c := range rep.checks {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", c.target, c.measured, c.met)
	}
	return b.String()
}

// markdown is docs/benchmark.md.
func (rep *report) markdown() string {
	c := rep.cfg
	var b strings.Builder
	b.WriteString("# Benchmark\n\n")
	b.WriteString("gemini_balance against a bare Caddy `reverse_proxy` that injects one key (the floor) and against the " +
		"upstream itself, on loopback, with the same stand-in upstream for all. Written by `bench/` " +
		"(see the method below); re-run it with the command shown.\n\n")
	if c.quick {
		b.WriteString("> **Quick (smoke) run**: tiny counts and durations, no thresholds. The numbers mean nothing; " +
			"run `go run ./bench` for the real ones.\n\n")
	}
	fmt.Fprintf(&b, "- Command: `%s` (from the repository root)\n", c.command)
	fmt.Fprintf(&b, "- Date: %s (took %s, Caddy build %s)\n", rep.started.UTC().Format("2006-01-02 15:04 UTC"),
		rep.finished.Sub(rep.started).Round(time.Second), rep.buildTime.Round(100*time.Millisecond))
	if rep.source != "" {
		fmt.Fprintf(&b, "- Source: %s\n", rep.source)
	}
	fmt.Fprintf(&b, "- Go: `%s`\n", rep.goVersion)
	fmt.Fprintf(&b, "- Machine: %s, %d cores, %s; client, stand-in upstream and Caddy share these cores\n", rep.cpu, rep.cores, rep.kernel)
	fmt.Fprintf(&b, "- Settings: %s per target and measurement in %d alternating rounds, closed loop at c=%d, open loop at %g req/s "+
		"(streams: %g/s), streams of %d events %s apart\n\n", c.duration, c.rounds, c.conc, c.rate, c.streamRate, c.streamEvents, c.streamDelay)
	for _, n := range rep.notes {
		b.WriteString("> **Note:** " + n + "\n\n")
	}
	b.WriteString("![throughput and p99 per scenario](benchmark.png)\n\n")
	b.WriteString("## Results\n\n")
	b.WriteString(rep.table())
	b.WriteString("\n## Targets\n\n")
	b.WriteString(rep.targetsTable())
	b.WriteString("\n## Memory, goroutines, large pool\n\n")
	b.WriteString(rep.factsTable())
	b.WriteString(breakdownSection(rep.breakdowns))
	if rep.micro != "" {
		b.WriteString("\n## Go micro-benchmarks\n\n")
		bt := "go test's default -benchtime"
		if c.benchtime != "" {
			bt = "-benchtime " + c.benchtime
		}
		fmt.Fprintf(&b, "`go test -run '^$' -bench . -benchmem %s` (%s):\n\n", strings.Join(microPackages, " "), bt)
		b.WriteString("```\n" + strings.TrimSpace(rep.micro) + "\n```\n")
	}
	b.WriteString(method)
	return b.String()
}

const method = `
## Method

- ` + "`go run ./bench`" + ` builds ` + "`./cmd/caddy`" + ` once and runs it as a separate process on loopback, with a
  generated Caddyfile (errors-only logging, admin API on localhost for pprof): a bare ` + "`reverse_proxy`" + ` site that
  puts one key on each request (` + "`header_up X-Goog-Api-Key`" + `, ` + "`header_up -Authorization`" + `), and
  ` + "`gemini_balance`" + ` sites with key pools, a SQLite database in a temporary directory, ` + "`check_interval 0`" + ` and
  ` + "`safety_settings off`" + ` (native bodies pass unchanged, as through the bare proxy).
- The stand-in upstream is ` + "`internal/fakegemini`" + ` (httptest on 127.0.0.1) in the benchmark process, with every key
  answering normally: fixed-size answers, SSE streams of N events D apart.
- Targets: **direct** is the client talking to the stand-in itself; **reverse_proxy** the bare Caddy proxy; the other
  rows go through ` + "`gemini_balance`" + `. Each row names its floor (the ratio column is its throughput over the
  floor's). Targets of a scenario are measured in rounds, A B C A B C ..., and ratios are taken within the run.
- Closed loop: c workers, each sending its next request when the previous one is answered. Open loop: requests are
  scheduled at a fixed rate whether or not earlier ones were answered, and latency is measured from the scheduled
  time, so queueing is not hidden. One shared ` + "`http.Transport`" + ` with enough idle connections for every worker.
- Streams: *first event* is the time until the first complete SSE event has arrived; *total* the whole answer.
- Failover: a second stand-in replays the stand-in's own answers, a 429 ` + "`RESOURCE_EXHAUSTED`" + ` with
  ` + "`RetryInfo`" + ` (1 s) and a 200, in turn, so every request's first key is rate-limited and the second succeeds,
  whichever keys the pool picks (a pool of many keys, so rested keys are never the bottleneck). One client at a time.
  Added time = p50 with failover − p50 without; beyond the upstream's own time = that − p50 of a 429 fetched directly.
- Large pool: a second Caddy with ` + "`api_keys_file`" + ` of that many keys; load time is from starting the process until
  ` + "`/health`" + ` counts every key, first with a new database, then again restoring from it. RSS is VmRSS of the
  Caddy process from /proc.
- File upload: a resumable upload (` + "`POST /upload/v1beta/files`" + ` with ` + "`X-Goog-Upload-Protocol: resumable`" + `,
  ` + "`X-Goog-Upload-Command: start`" + `), then the whole file (` + "`-upload-size`" + `, 200 MiB; 4 MiB with ` + "`-quick`" + `) as
  one ` + "`upload, finalize`" + ` leg at offset 0, generated as it is sent (no buffer of the file in the benchmark either).
  Through ` + "`gemini_balance`" + ` the leg goes to the ` + "`X-Goog-Upload-Url`" + ` the proxy rewrote to itself; through a
  bare ` + "`reverse_proxy`" + ` (for comparison) to the stand-in's upload URL with the proxy's host; each in a fresh
  Caddy process of its own, and once directly to the stand-in for its own speed. The stand-in hashes and counts the
  bytes without keeping them; the answer must name a file, and the stand-in must have counted every byte with the
  SHA-256 of what was sent. The Caddy process's VmRSS is read before the leg and every 20 ms while it is sent (peak),
  and after the answer; throughput is the file's size over the time from sending the leg to the end of its answer.
- Database engines: the native closed loop (same concurrency and duration as above) through a Caddy of its own with
  one 4-key pool and a fresh database: on SQLite, then PostgreSQL, then MariaDB, back to back, Caddy started anew (and
  warmed up) for each; then again in reverse order, half the duration each time, so a drift weighs on all alike (one
  pass with ` + "`-quick`" + `). The benchmark starts the servers itself (` + "`internal/dbtest`" + `: a temporary
  directory, a free loopback port, fsync off); they share the cores with Caddy, the client and the stand-in. The
  ratio column is the throughput over SQLite's; there is no target. An engine whose server is not installed is
  skipped, with a note.
- Open streams: that many native SSE streams are opened (256 at a time) on a stand-in that sends one event, waits,
  then sends the last; first through a bare ` + "`reverse_proxy`" + ` (the floor), then through ` + "`gemini_balance`" + `,
  each in a fresh Caddy process of its own. This is done twice: against a plain HTTP/1.1 stand-in (one upstream
  connection per stream; the bare proxy's transport gives each two goroutines, gemini_balance reads it from the
  handler's own, see ` + "`internal/upstream/stream1.go`" + `) and against one that, like
  generativelanguage.googleapis.com, speaks HTTP/2 over TLS (streams share connections); Caddy trusts its
  certificate through ` + "`SSL_CERT_FILE`" + `. While all are open, the Caddy process's RSS and goroutines (admin
  ` + "`/debug/pprof/goroutine`" + `) are read; after they end and idle connections are closed, again. The
  file-descriptor limit of the benchmark is raised to its hard limit, and Caddy inherits it. Right after each RSS
  reading (before the streams are opened, and while they are held) the runtime's own counts are read from the admin
  ` + "`/debug/vars`" + ` and a heap profile is taken after a forced GC (` + "`/debug/pprof/heap?gc=1`" + `): the
  per-stream table is made of their differences (` + "`-stream-profiles DIR`" + ` keeps the profiles, for
  ` + "`go tool pprof -base`" + `). RSS is one reading: the garbage not yet collected at that moment (up to the
  GC's headroom, GOGC=100) makes it vary from run to run by several KiB per stream.
- Before and after every scenario the benchmark reads /proc/stat and its own CPU use (and Caddy's): the difference is
  what other processes took. A scenario during which they took more than ` + "`-max-noise`" + ` (10 %) of the machine
  is measured again (at most twice per scenario, three times per run); the table below the results shows the final
  shares.
`

// write saves docs/benchmark.md and docs/benchmark.png.
func (rep *report) write() error {
	if err := os.MkdirAll(rep.cfg.out, 0o755); err != nil {
		return err
	}
	png, err := rep.chart()
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(rep.cfg.out, "benchmark.png"), png, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(rep.cfg.out, "benchmark.md"), []byte(rep.markdown()), 0o644)
}
