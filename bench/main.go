// Command bench measures gemini_balance against a bare Caddy reverse_proxy
// and against the upstream itself, on loopback, and writes the results to
// docs/benchmark.md and docs/benchmark.png.
//
//	go run ./bench            # the full run (about five minutes on 2 cores)
//	go run ./bench -quick     # a smoke run of a few seconds, no thresholds
//
// It builds ./cmd/caddy once and runs it as a separate process with a
// generated Caddyfile: a bare reverse_proxy site that injects one key (the
// floor) and gemini_balance sites with key pools. The stand-in Gemini API
// (internal/fakegemini) and the load generator run in this process. Every
// scenario measures its targets in rounds (A B C A B C ...), so drift affects
// them all alike, and ratios come from the same run. See docs/benchmark.md
// for the method and the latest results.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// config is the benchmark's settings.
type config struct {
	quick          bool
	duration       time.Duration // per measurement of one target, split over rounds
	rounds         int
	warmup         time.Duration // per target, before a scenario's rounds
	conc           int           // closed-loop concurrency
	rate           float64       // open-loop requests per second
	streamRate     float64       // open-loop streams per second
	streamEvents   int           // events per streamed answer
	streamDelay    time.Duration // gap between events
	bigPool        int           // keys of the large pool
	failoverKeys   int           // keys of the failover pool
	openStreams    int           // concurrent open streams
	streamHold     time.Duration // how long each of the open streams stays open
	uploadSize     int64         // bytes of the file upload scenario's one leg
	out            string        // output directory for benchmark.md and .png
	micro          bool          // run the Go micro-benchmarks
	benchtime      string        // -benchtime of the micro-benchmarks ("" = go test's default)
	cpuprofile     string        // write a CPU profile of Caddy under the native load here
	profileChat    bool          // profile under the translated chat load instead
	maxNoise       float64       // measure a scenario again when other processes took more of the CPU than this
	retryBudget    time.Duration // no more re-measuring once the scenarios have run this long
	streamProfiles string        // save Caddy's heap and goroutine profiles of the open-streams scenario here
	only           string        // run only the scenarios whose names contain one of these '|'-separated strings
	command        string        // the command line, for the report
	logf           func(format string, args ...any)
}

func defaultConfig(quick bool) config {
	c := config{
		quick: quick, duration: 10 * time.Second, rounds: 5, warmup: time.Second, conc: 32, rate: 1000, streamRate: 100,
		streamEvents: 10, streamDelay: 5 * time.Millisecond, bigPool: 100_000, failoverKeys: 4000,
		openStreams: 5000, streamHold: 25 * time.Second, uploadSize: 200 << 20, out: "docs", micro: true,
		maxNoise: 0.10, retryBudget: 6 * time.Minute,
	}
	if quick {
		c.duration, c.rounds, c.warmup, c.rate, c.streamRate = 400*time.Millisecond, 2, 100*time.Millisecond, 200, 50
		c.streamEvents, c.streamDelay = 3, 2*time.Millisecond
		c.bigPool, c.openStreams, c.streamHold = 10_000, 200, 2*time.Second
		c.uploadSize = 4 << 20
		c.benchtime = "10ms"
		c.maxNoise = 0
	}
	return c
}

func main() {
	quick := flag.Bool("quick", false, "smoke run: a few seconds in all, small counts, no thresholds")
	// Defaults of the full run; -quick replaces those not given explicitly.
	full := defaultConfig(false)
	duration := flag.Duration("duration", full.duration, "time per measurement of one target (split over the rounds)")
	rounds := flag.Int("rounds", full.rounds, "rounds per measurement; targets alternate within each round")
	conc := flag.Int("c", full.conc, "concurrency of the closed-loop scenarios")
	rate := flag.Float64("rate", full.rate, "requests per second of the open-loop scenario")
	streamRate := flag.Float64("stream-rate", full.streamRate, "streams per second of the open-loop stream scenario")
	events := flag.Int("stream-events", full.streamEvents, "events per streamed answer")
	delay := flag.Duration("stream-delay", full.streamDelay, "gap between stream events")
	big := flag.Int("pool", full.bigPool, "keys of the large pool")
	streams := flag.Int("streams", full.openStreams, "concurrent open streams")
	hold := flag.Duration("stream-hold", full.streamHold, "how long each of the open streams stays open")
	uploadSize := full.uploadSize
	flag.Var(sizeFlag{&uploadSize}, "upload-size", "bytes of the file upload scenario's one upload leg (B, KiB, MiB, GiB, KB, MB, GB; 4 MiB with -quick)")
	out := flag.String("out", full.out, "directory for benchmark.md and benchmark.png")
	micro := flag.Bool("micro", true, "also run the Go micro-benchmarks (go test -bench)")
	benchtime := flag.String("benchtime", "", "-benchtime of the micro-benchmarks")
	maxNoise := flag.Float64("max-noise", full.maxNoise, "measure a scenario again (at most twice, three times per run) when other processes took more than this share of the CPU during it; 0 never")
	only := flag.String("only", "", "run only the scenarios whose step names contain one of these '|'-separated strings (for development; the report then lacks the others)")
	cpuprofile := flag.String("cpuprofile", "", "after the scenarios, profile Caddy for 10 s under the native load and write the CPU profile here (and the allocations to this path + \".allocs\")")
	streamProfiles := flag.String("stream-profiles", "", "save Caddy's heap and goroutine profiles, before and while the open streams are held, in this directory (for go tool pprof)")
	profileChat := flag.Bool("profile-chat", false, "with -cpuprofile: profile under the translated /v1/chat/completions load instead of the native one")
	flag.Parse()

	cfg := defaultConfig(*quick)
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["duration"] {
		cfg.duration = *duration
	}
	if set["rounds"] {
		cfg.rounds = *rounds
	}
	if set["c"] {
		cfg.conc = *conc
	}
	if set["rate"] {
		cfg.rate = *rate
	}
	if set["stream-rate"] {
		cfg.streamRate = *streamRate
	}
	if set["stream-events"] {
		cfg.streamEvents = *events
	}
	if set["stream-delay"] {
		cfg.streamDelay = *delay
	}
	if set["pool"] {
		cfg.bigPool = *big
	}
	if set["streams"] {
		cfg.openStreams = *streams
	}
	if set["stream-hold"] {
		cfg.streamHold = *hold
	}
	if set["upload-size"] {
		cfg.uploadSize = uploadSize
	}
	if set["max-noise"] {
		cfg.maxNoise = *maxNoise
	}
	if set["benchtime"] {
		cfg.benchtime = *benchtime
	}
	cfg.out, cfg.micro, cfg.cpuprofile, cfg.only, cfg.profileChat = *out, *micro, *cpuprofile, *only, *profileChat
	cfg.streamProfiles = *streamProfiles
	cfg.command = strings.TrimSpace("go run ./bench " + strings.Join(os.Args[1:], " "))
	cfg.logf = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, cfg)
	if rep != nil {
		fmt.Println(rep.table())
		fmt.Println(rep.targetsTable())
		fmt.Println(rep.factsTable())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		stop()
		os.Exit(1)
	}
}
