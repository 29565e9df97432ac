package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
)

// Scenario names, as they appear in the table (the test checks each one).
const (
	scNative       = "native generateContent"
	scNativeFirst  = "native stream: first event"
	scNativeTotal  = "native stream: total"
	scChat         = "OpenAI chat (translated)"
	scChatFirst    = "OpenAI chat stream: first event"
	scChatTotal    = "OpenAI chat stream: total"
	scPassthrough  = "passthrough /openai/v1"
	scFailover     = "failover 429 -> 200"
	scLargePool    = "large key pool"
	scOpenStreams  = "open streams"
	nameDirect     = "direct"
	nameBare       = "reverse_proxy"
	nameGB         = "gemini_balance"
	nameGBNative   = "gemini_balance native"
	nameGBChat     = "gemini_balance /v1 chat"
	nameDirect429  = "direct, 429 only"
	nameDirect200  = "direct, 200 only"
	nameNoFailover = "gemini_balance, no failover"
	nameFailover   = "gemini_balance, failover"
)

var scenarioNames = []string{scNative, scNativeFirst, scNativeTotal, scChat, scChatFirst, scChatTotal,
	scPassthrough, scFailover, scLargePool, scEngines, scOpenStreams}

// bench is one run.
type bench struct {
	cfg   config
	rep   *report
	cl    *client
	root  string
	tmp   string
	bin   string
	up    *fakegemini.Server // fast answers and short streams
	slow  []streamUpstream   // the held-open streams, one stand-in per protocol
	fo    *failoverUpstream
	main  *caddyProc
	procs []*caddyProc

	adminPort                int
	bareURL, gbURL, foURL    string
	upHostPort               string
	nativePath, streamPath   string
	idleGoroutines           int
	idleRSS                  int64
	largeLoad, largeReload   time.Duration
	largeRSS, largeReloadRSS int64
	streams                  []streamsOutcome
	uploads                  []uploadOutcome // of the last file upload run: direct, bare reverse_proxy, gemini_balance
	caddyEnv                 []string        // for every Caddy: trusts the TLS stand-in
	dbStarting               chan *dbServers // PostgreSQL and MariaDB being started for the database engines scenario
}

// streamUpstream is a stand-in for the open-streams scenario.
type streamUpstream struct {
	label string // "HTTP/1.1" or "HTTP/2 over TLS"
	srv   *fakegemini.Server
	addr  string // what reverse_proxy is given: host:port or https://host:port
}

// streamsOutcome is what holding the streams open showed for one upstream.
type streamsOutcome struct {
	label           string
	floor, ours     holdResult
	oursAfter       memory
	goroutinesAfter int
}

// run runs the whole benchmark and writes the report.
func run(ctx context.Context, cfg config) (rep *report, err error) {
	if cfg.logf == nil {
		cfg.logf = func(string, ...any) {}
	}
	if cfg.rounds < 1 {
		cfg.rounds = 1
	}
	b := &bench{cfg: cfg, rep: newReport(cfg), cl: newClient()}
	defer b.cleanup()
	defer func() {
		if err != nil && b.rep.checks == nil {
			b.evaluate() // for what is printed
		}
	}()
	raiseFileLimit(cfg.logf)

	if b.root, err = moduleRoot(); err != nil {
		return nil, err
	}
	b.rep.source = sourceVersion(b.root)
	if b.tmp, err = os.MkdirTemp("", "gemini-balance-bench-"); err != nil {
		return nil, err
	}
	if selected(cfg.only, "database engines") {
		b.startDBServersEarly()
	}
	cfg.logf("building ./cmd/caddy")
	t0 := time.Now()
	if b.bin, err = buildCaddy(ctx, b.root, b.tmp); err != nil {
		return nil, err
	}
	b.rep.buildTime = time.Since(t0)

	if err := b.startUpstreams(); err != nil {
		return nil, err
	}
	if err := b.startMain(ctx); err != nil {
		return nil, err
	}
	steps := []struct {
		name    string
		fn      func(context.Context) error
		noRetry bool // it cannot run twice
	}{
		{"native generateContent, closed loop", b.nativeClosed, false},
		{"native generateContent, open loop", b.nativeOpen, false},
		{"native stream, closed loop", b.nativeStream, false},
		{"native stream, open loop", b.nativeStreamOpen, false},
		{"OpenAI chat", b.chat, false},
		{"OpenAI chat stream", b.chatStream, false},
		{"passthrough", b.passthrough, false},
		{"failover", b.failover, false},
		{"file upload", b.fileUpload, false},
		{"large key pool", b.largePool, false},
		{"database engines", b.dbEngines, false},
		{"open streams", b.openStreams, true},
	}
	var nz noise
	began := time.Now()
	for _, s := range steps {
		if !selected(cfg.only, s.name) {
			continue
		}
		for attempt := 1; ; attempt++ {
			cfg.logf("scenario: %s", s.name)
			rows, facts := len(b.rep.rows), len(b.rep.facts)
			before := b.sampleCPU()
			if err := s.fn(ctx); err != nil {
				return b.rep, fmt.Errorf("%s: %w", s.name, err)
			}
			after := b.sampleCPU()
			if !b.main.running() {
				return b.rep, fmt.Errorf("after %s: caddy exited (%v):\n%s", s.name, b.main.waitErr, b.main.logTail())
			}
			// Measure again when other processes took a noticeable share of
			// the CPU: at most twice per scenario and three times per run,
			// so the run stays within ten minutes.
			share, ok := othersShare(before, after)
			if ok && cfg.maxNoise > 0 && share > cfg.maxNoise && !s.noRetry && attempt < 3 && nz.repeats < 3 && time.Since(began) < cfg.retryBudget {
				cfg.logf("other processes took %.0f%% of the CPU during %s: measuring it again", 100*share, s.name)
				b.rep.rows, b.rep.facts = b.rep.rows[:rows], b.rep.facts[:facts]
				nz.repeats++
				continue
			}
			nz.add(s.name, before, after)
			break
		}
	}
	if len(nz.steps) > 0 {
		b.rep.fact("CPU taken by other processes during each scenario (share of the machine; 0% on a quiet machine)", "%s; %d measurement(s) repeated because of them", nz.String(), nz.repeats)
		if m := nz.max(); m > 0.05 {
			b.rep.notes = append(b.rep.notes, fmt.Sprintf("Other processes took up to %.0f%% of the machine's CPU during a scenario "+
				"of this run (see the resources table): its numbers are skewed by them; re-run on a quiet machine.", 100*m))
			cfg.logf("warning: other processes took up to %.0f%% of the CPU during a scenario", 100*m)
		}
	}
	if cfg.cpuprofile != "" {
		cfg.logf("profiling Caddy for 10 s under the native load")
		if err := os.MkdirAll(filepath.Dir(cfg.cpuprofile), 0o755); err != nil {
			return b.rep, err
		}
		if err := b.profile(ctx); err != nil {
			return b.rep, fmt.Errorf("profile: %w", err)
		}
	}
	var microErr error
	if cfg.micro {
		cfg.logf("Go micro-benchmarks")
		if microErr = b.microBenchmarks(ctx); microErr != nil {
			b.rep.notes = append(b.rep.notes, "The Go micro-benchmarks failed: "+firstLine(microErr.Error()))
		}
	}
	b.evaluate()
	b.rep.finished = time.Now()
	if err := b.rep.write(); err != nil {
		return b.rep, err
	}
	cfg.logf("wrote %s and %s", filepath.Join(cfg.out, "benchmark.md"), filepath.Join(cfg.out, "benchmark.png"))
	return b.rep, microErr
}

// selected reports whether a step is in the -only list (all when empty).
func selected(only, name string) bool {
	if only == "" {
		return true
	}
	for _, o := range strings.Split(only, "|") {
		if o = strings.TrimSpace(o); o != "" && strings.Contains(name, o) {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// sourceVersion names the commit the benchmark runs on, if it is a git
// checkout (read-only git commands).
func sourceVersion(root string) string {
	out, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return ""
	}
	v := "commit " + strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		v += " with uncommitted changes"
	}
	return v
}

// raiseFileLimit lifts the soft limit on open files to the hard one; Caddy,
// started later, inherits it.
func raiseFileLimit(logf func(string, ...any)) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return
	}
	if lim.Cur < lim.Max {
		lim.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
			logf("cannot raise the open-file limit: %v", err)
		}
	}
}

func (b *bench) cleanup() {
	if c := b.dbStarting; c != nil {
		(<-c).close()
	}
	for i := len(b.procs) - 1; i >= 0; i-- {
		b.procs[i].stop()
	}
	b.cl.tr.CloseIdleConnections()
	if b.up != nil {
		b.up.Close()
	}
	for _, su := range b.slow {
		su.srv.Close()
	}
	if b.fo != nil {
		b.fo.Close()
	}
	if b.tmp != "" {
		_ = os.RemoveAll(b.tmp)
	}
}

func (b *bench) startUpstreams() error {
	b.up = fakegemini.New()
	b.up.SetDefault(fakegemini.OK)
	b.up.StreamEvents = b.cfg.streamEvents
	b.up.StreamDelay = b.cfg.streamDelay
	// The held-open streams go to a plain HTTP/1.1 stand-in (one upstream
	// connection per stream) and to one that, like Google, speaks HTTP/2
	// over TLS (streams share connections). Every Caddy trusts the latter's
	// certificate through SSL_CERT_FILE.
	for _, useTLS := range []bool{false, true} {
		su := streamUpstream{label: "HTTP/1.1", srv: fakegemini.New()}
		if useTLS {
			su = streamUpstream{label: "HTTP/2 over TLS", srv: fakegemini.NewTLS()}
		}
		su.srv.SetDefault(fakegemini.OK)
		su.srv.StreamEvents = 2
		su.srv.StreamDelay = b.cfg.streamHold
		u, _ := url.Parse(su.srv.URL)
		su.addr = u.Host
		if useTLS {
			su.addr = "https://" + u.Host
			ca := filepath.Join(b.tmp, "stand-in-ca.pem")
			pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: su.srv.Certificate().Raw})
			if err := os.WriteFile(ca, pemBytes, 0o644); err != nil {
				return err
			}
			b.caddyEnv = append(b.caddyEnv, "SSL_CERT_FILE="+ca)
		}
		b.slow = append(b.slow, su)
	}
	var err error
	b.fo, err = newFailoverUpstream()
	if err != nil {
		return err
	}
	u, _ := url.Parse(b.up.URL)
	b.upHostPort = u.Host
	b.nativePath = "/models/" + benchModel + ":generateContent"
	b.streamPath = "/models/" + benchModel + ":streamGenerateContent?alt=sse"
	return nil
}

// keyName makes a key that looks like a Google one (39 characters).
func keyName(prefix string, i int) string {
	s := fmt.Sprintf("AIzaSy%s%d", prefix, i)
	if len(s) < 39 {
		s += strings.Repeat("x", 39-len(s))
	}
	return s
}

func writeKeys(path string, n int, prefix string, random bool) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	rng := rand.New(rand.NewPCG(1, 2))
	const chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for i := range n {
		if random {
			k := []byte("AIzaSy" + strings.Repeat(" ", 33))
			for j := 6; j < len(k); j++ {
				k[j] = chars[rng.IntN(len(chars))]
			}
			w.Write(k)
		} else {
			w.WriteString(keyName(prefix, i))
		}
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// startMain starts the Caddy with the floor and the gemini_balance sites.
func (b *bench) startMain(ctx context.Context) error {
	ports, err := freePorts(4)
	if err != nil {
		return err
	}
	b.adminPort = ports[0]
	dir := filepath.Join(b.tmp, "main")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	foKeys := filepath.Join(dir, "failover-keys.txt")
	if err := writeKeys(foKeys, b.cfg.failoverKeys, "Failover", false); err != nil {
		return err
	}
	poolKeys := []string{keyName("Pool", 1), keyName("Pool", 2), keyName("Pool", 3), keyName("Pool", 4)}
	sites := []poolSite{
		{port: ports[2], pool: "bench", keys: poolKeys, db: filepath.Join(dir, "bench.db"), baseURL: b.up.URL},
		{port: ports[3], pool: "failover", keysFile: foKeys, db: filepath.Join(dir, "failover.db"), baseURL: b.fo.url},
	}
	cf := globalOptions(b.adminPort) + bareSite(ports[1], b.upHostPort)
	for _, s := range sites {
		cf += s.caddyfile()
	}
	b.bareURL = fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	b.gbURL = fmt.Sprintf("http://127.0.0.1:%d", ports[2])
	b.foURL = fmt.Sprintf("http://127.0.0.1:%d", ports[3])

	b.cfg.logf("starting Caddy")
	p, err := startCaddy(b.bin, dir, "caddy", cf, b.adminPort, b.caddyEnv)
	if err != nil {
		return err
	}
	b.procs = append(b.procs, p)
	b.main = p
	want := map[string]int{b.gbURL: 4, b.foURL: b.cfg.failoverKeys}
	err = p.waitReady(ctx, 60*time.Second, func() bool {
		if !answers(b.bareURL + "/v1beta/models/" + benchModel) {
			return false
		}
		for u, n := range want {
			if healthKeys(u) < n {
				return false
			}
		}
		return true
	})
	if err != nil {
		return err
	}
	time.Sleep(200 * time.Millisecond)
	b.idleRSS = p.memory().rss
	b.idleGoroutines, _ = p.goroutines()
	b.rep.fact("Caddy at start (2 pools: 4 and "+strconv.Itoa(b.cfg.failoverKeys)+" keys; bare proxy)", "RSS %s, %d goroutines", mib(b.idleRSS), b.idleGoroutines)
	return nil
}

// newTarget builds a POST target; auth is "goog" (x-goog-api-key) or "bearer".
func newTarget(name string, r role, url string, body []byte, stream bool, auth, token string) *target {
	h := http.Header{}
	h.Set("Content-Type", "application/json")
	if auth == "bearer" {
		h.Set("Authorization", "Bearer "+token)
	} else {
		h.Set("X-Goog-Api-Key", token)
	}
	if stream {
		h.Set("Accept", "text/event-stream")
	}
	return &target{name: name, role: r, method: http.MethodPost, url: url, header: h, body: body, stream: stream}
}

// slicer runs one target for one time slice.
type slicer func(ctx context.Context, t *target, d time.Duration) result

func (b *bench) closed(conc int) slicer {
	return func(ctx context.Context, t *target, d time.Duration) result { return b.cl.closedLoop(ctx, t, conc, d) }
}

func (b *bench) open(rate float64) slicer {
	return func(ctx context.Context, t *target, d time.Duration) result {
		return b.cl.openLoop(ctx, t, rate, d, max(1000, int(rate)))
	}
}

// resetUpstreams drops what the stand-ins recorded, so memory stays flat.
func (b *bench) resetUpstreams() {
	b.up.Reset()
	for _, su := range b.slow {
		su.srv.Reset()
	}
}

// compare warms every target up, then measures them in alternating rounds.
func (b *bench) compare(ctx context.Context, targets []*target, run slicer) ([]*result, error) {
	for _, t := range targets {
		run(ctx, t, b.cfg.warmup)
	}
	b.resetUpstreams()
	b.fo.resetCounts()
	res := make([]*result, len(targets))
	for i := range res {
		res[i] = &result{}
	}
	per := b.cfg.duration / time.Duration(b.cfg.rounds)
	for range b.cfg.rounds {
		for i, t := range targets {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
			res[i].merge(run(ctx, t, per))
			b.resetUpstreams()
		}
	}
	return res, ctx.Err()
}

// measure compares targets and adds their rows (two per target for streams).
func (b *bench) measure(ctx context.Context, scenario, firstScenario, mode string, targets []*target, run slicer) error {
	res, err := b.compare(ctx, targets, run)
	if err != nil {
		return err
	}
	if firstScenario != "" {
		for i, t := range targets {
			b.rep.add(firstScenario, mode, t, res[i], true)
		}
	}
	for i, t := range targets {
		b.rep.add(scenario, mode, t, res[i], false)
	}
	return nil
}

func (b *bench) closedMode() string { return fmt.Sprintf("closed, c=%d", b.cfg.conc) }

func (b *bench) nativeTargets(path string, stream bool, floor string) []*target {
	roleOf := func(name string) role {
		if name == floor {
			return roleFloor
		}
		return roleRef
	}
	return []*target{
		newTarget(nameDirect, roleOf(nameDirect), b.up.URL+path, nativeBody, stream, "goog", floorKey),
		newTarget(nameBare, roleOf(nameBare), b.bareURL+"/v1beta"+path, nativeBody, stream, "goog", clientToken),
		newTarget(nameGB, roleOurs, b.gbURL+"/v1beta"+path, nativeBody, stream, "goog", clientToken),
	}
}

func (b *bench) nativeClosed(ctx context.Context) error {
	return b.measure(ctx, scNative, "", b.closedMode(), b.nativeTargets(b.nativePath, false, nameBare), b.closed(b.cfg.conc))
}

func (b *bench) nativeOpen(ctx context.Context) error {
	mode := fmt.Sprintf("open, %g req/s", b.cfg.rate)
	return b.measure(ctx, scNative, "", mode, b.nativeTargets(b.nativePath, false, nameBare), b.open(b.cfg.rate))
}

func (b *bench) nativeStream(ctx context.Context) error {
	return b.measure(ctx, scNativeTotal, scNativeFirst, b.closedMode(), b.nativeTargets(b.streamPath, true, nameDirect), b.closed(b.cfg.conc))
}

func (b *bench) nativeStreamOpen(ctx context.Context) error {
	mode := fmt.Sprintf("open, %g req/s", b.cfg.streamRate)
	return b.measure(ctx, scNativeTotal, scNativeFirst, mode, b.nativeTargets(b.streamPath, true, nameDirect), b.open(b.cfg.streamRate))
}

func (b *bench) chat(ctx context.Context) error {
	targets := []*target{
		newTarget(nameGBNative, roleFloor, b.gbURL+"/v1beta"+b.nativePath, nativeBody, false, "goog", clientToken),
		newTarget(nameGBChat, roleOurs, b.gbURL+"/v1/chat/completions", chatBody, false, "bearer", clientToken),
	}
	return b.measure(ctx, scChat, "", b.closedMode(), targets, b.closed(b.cfg.conc))
}

func (b *bench) chatStream(ctx context.Context) error {
	targets := []*target{
		newTarget(nameGBNative, roleFloor, b.gbURL+"/v1beta"+b.streamPath, nativeBody, true, "goog", clientToken),
		newTarget(nameGBChat, roleOurs, b.gbURL+"/v1/chat/completions", chatStream, true, "bearer", clientToken),
	}
	return b.measure(ctx, scChatTotal, scChatFirst, b.closedMode(), targets, b.closed(b.cfg.conc))
}

func (b *bench) passthrough(ctx context.Context) error {
	targets := []*target{
		newTarget(nameDirect, roleRef, b.up.URL+"/openai/chat/completions", chatBody, false, "bearer", floorKey),
		newTarget(nameBare, roleFloor, b.bareURL+"/v1beta/openai/chat/completions", chatBody, false, "bearer", clientToken),
		newTarget(nameGB, roleOurs, b.gbURL+"/openai/v1/chat/completions", chatBody, false, "bearer", clientToken),
	}
	return b.measure(ctx, scPassthrough, "", b.closedMode(), targets, b.closed(b.cfg.conc))
}

func (b *bench) failover(ctx context.Context) error {
	// The model name chooses the failover stand-in's answer (see failoverUpstream).
	path := func(mode string) string { return "/models/" + foModelPrefix + mode + ":generateContent" }
	direct, via := b.fo.url, b.foURL+"/v1beta"
	targets := []*target{
		newTarget(nameDirect429, roleRef, direct+path("429"), nativeBody, false, "goog", floorKey),
		newTarget(nameDirect200, roleRef, direct+path("ok"), nativeBody, false, "goog", floorKey),
		newTarget(nameNoFailover, roleFloor, via+path("ok"), nativeBody, false, "goog", clientToken),
		newTarget(nameFailover, roleOurs, via+path("alt"), nativeBody, false, "goog", clientToken),
	}
	// The direct 429 is the expected answer of that target, not an error.
	targets[0].expect = http.StatusTooManyRequests
	if err := b.measure(ctx, scFailover, "", "closed, c=1", targets, b.closed(1)); err != nil {
		return err
	}
	if fail, ok := b.rep.find(scFailover, nameFailover); ok {
		b.rep.fact("failover: requests whose first key got a 429", "%d of %d (upstream answered %d 429s and %d 200s in that mode)",
			min(b.fo.served429.Load(), b.fo.alt200.Load()), fail.res.n+fail.res.errs, b.fo.served429.Load(), b.fo.alt200.Load())
	}
	return nil
}

// largePool starts a second Caddy with a pool of cfg.bigPool keys, twice:
// with a new database, then restoring from it.
func (b *bench) largePool(ctx context.Context) error {
	n := b.cfg.bigPool
	dir, err := os.MkdirTemp(b.tmp, "large-") // a new database on every call
	if err != nil {
		return err
	}
	keys := filepath.Join(dir, "keys.txt")
	if err := writeKeys(keys, n, "", true); err != nil {
		return err
	}
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	site := poolSite{port: ports[1], pool: "large", keysFile: keys, db: filepath.Join(dir, "large.db"), baseURL: b.up.URL}
	cf := globalOptions(ports[0]) + site.caddyfile()
	base := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	label := fmt.Sprintf("gemini_balance, %d keys", n)
	for attempt := range 2 {
		p, err := startCaddy(b.bin, dir, "large", cf, ports[0], b.caddyEnv)
		if err != nil {
			return err
		}
		b.procs = append(b.procs, p)
		if err := p.waitReady(ctx, 120*time.Second, func() bool { return healthKeys(base) >= n }); err != nil {
			return err
		}
		load := time.Since(p.started)
		mem := p.memory()
		if attempt == 0 {
			b.largeLoad, b.largeRSS = load, mem.rss
			b.rep.fact(fmt.Sprintf("%d-key pool, first start (keys inserted into a new database)", n),
				"answers after %s; RSS %s (peak %s)", load.Round(time.Millisecond), mib(mem.rss), mib(mem.hwm))
			targets := []*target{
				newTarget("gemini_balance, 4 keys", roleFloor, b.gbURL+"/v1beta"+b.nativePath, nativeBody, false, "goog", clientToken),
				newTarget(label, roleOurs, base+"/v1beta"+b.nativePath, nativeBody, false, "goog", clientToken),
			}
			if err := b.measure(ctx, scLargePool, "", b.closedMode(), targets, b.closed(b.cfg.conc)); err != nil {
				return err
			}
			after := p.memory()
			b.rep.fact(fmt.Sprintf("%d-key pool after its load run", n), "RSS %s (peak %s)", mib(after.rss), mib(after.hwm))
		} else {
			b.largeReload, b.largeReloadRSS = load, mem.rss
			b.rep.fact(fmt.Sprintf("%d-key pool, restart (keys restored from the database)", n),
				"answers after %s; RSS %s (peak %s)", load.Round(time.Millisecond), mib(mem.rss), mib(mem.hwm))
		}
		p.stop()
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// openStreams holds cfg.openStreams streams open at once, for each stand-in
// (HTTP/1.1, then HTTP/2 over TLS): first through a bare reverse_proxy, then
// through gemini_balance, each in a fresh Caddy process of its own, and
// reads the process's memory and goroutines before, during and after.
func (b *bench) openStreams(ctx context.Context) error {
	for _, su := range b.slow {
		out, err := b.openStreamsTo(ctx, su) // closes su.srv (Close may run again in cleanup)
		if err != nil {
			return err
		}
		b.streams = append(b.streams, out)
	}
	return ctx.Err()
}

func (b *bench) openStreamsTo(ctx context.Context, su streamUpstream) (streamsOutcome, error) {
	out := streamsOutcome{label: su.label}
	n := b.cfg.openStreams
	settle := 2 * time.Second
	if b.cfg.quick {
		settle = 300 * time.Millisecond
	}
	mode := fmt.Sprintf("%d at once, held %s, %s upstream: first event", n, b.cfg.streamHold, su.label)
	dir := filepath.Join(b.tmp, "streams-"+strings.NewReplacer("/", "", " ", "-", ".", "").Replace(su.label))
	defer su.srv.Close()

	// The floor: Caddy's reverse_proxy alone.
	ports, err := freePorts(4)
	if err != nil {
		return out, err
	}
	floorURL := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	fp, err := startCaddy(b.bin, filepath.Join(dir, "floor"), "caddy", globalOptions(ports[0])+bareSite(ports[1], su.addr), ports[0], b.caddyEnv)
	if err != nil {
		return out, err
	}
	b.procs = append(b.procs, fp)
	if err := fp.waitReady(ctx, 30*time.Second, func() bool { return answers(floorURL + "/v1beta/models/" + benchModel) }); err != nil {
		return out, err
	}
	ft := newTarget(nameBare, roleFloor, floorURL+"/v1beta"+b.streamPath, nativeBody, true, "goog", clientToken)
	out.floor, err = b.holdStreams(ctx, fp, ft, settle)
	fp.stop()
	if err != nil {
		return out, err
	}
	b.rep.add(scOpenStreams, mode, ft, &out.floor.res, true)

	// gemini_balance, with a pool of 4 keys.
	site := poolSite{port: ports[3], pool: "streams", db: filepath.Join(dir, "ours", "streams.db"), baseURL: su.srv.URL,
		keys: []string{keyName("Pool", 1), keyName("Pool", 2), keyName("Pool", 3), keyName("Pool", 4)}}
	oursURL := fmt.Sprintf("http://127.0.0.1:%d", ports[3])
	op, err := startCaddy(b.bin, filepath.Join(dir, "ours"), "caddy", globalOptions(ports[2])+site.caddyfile(), ports[2], b.caddyEnv)
	if err != nil {
		return out, err
	}
	b.procs = append(b.procs, op)
	defer op.stop()
	if err := op.waitReady(ctx, 30*time.Second, func() bool { return healthKeys(oursURL) >= 4 }); err != nil {
		return out, err
	}
	t := newTarget(nameGB, roleOurs, oursURL+"/v1beta"+b.streamPath, nativeBody, true, "goog", clientToken)
	out.ours, err = b.holdStreams(ctx, op, t, settle)
	if err != nil {
		return out, err
	}
	b.rep.add(scOpenStreams, mode, t, &out.ours.res, true)
	b.cl.tr.CloseIdleConnections()
	su.srv.Close() // and so the idle connections Caddy keeps to it
	time.Sleep(settle)
	out.goroutinesAfter, _ = op.goroutines()
	out.oursAfter = op.memory()

	for _, h := range []struct {
		name string
		r    *holdResult
	}{{"bare reverse_proxy", &out.floor}, {"gemini_balance", &out.ours}} {
		b.rep.fact(fmt.Sprintf("%d open streams, %s upstream, %s: opened / failed", n, su.label, h.name),
			"%d / %d, all open after %s (req/s column: streams opened per second)",
			h.r.opened, h.r.failed, h.r.openTime.Round(time.Millisecond))
	}
	b.rep.fact(fmt.Sprintf("open streams, %s upstream, bare reverse_proxy: Caddy RSS before / during; goroutines before / during", su.label),
		"%s / %s (%d open at the reading); %d / %d", mib(out.floor.before.rss), mib(out.floor.during.rss), out.floor.openAtSample,
		out.floor.goroutinesBefore, out.floor.goroutinesDuring)
	b.rep.fact(fmt.Sprintf("open streams, %s upstream, gemini_balance: Caddy RSS before / during / after", su.label),
		"%s / %s (peak %s) / %s, with %d streams open at the reading",
		mib(out.ours.before.rss), mib(out.ours.during.rss), mib(out.ours.during.hwm), mib(out.oursAfter.rss), out.ours.openAtSample)
	b.rep.fact(fmt.Sprintf("open streams, %s upstream, gemini_balance: Caddy goroutines before / during / after", su.label), "%d / %d / %d",
		out.ours.goroutinesBefore, out.ours.goroutinesDuring, out.goroutinesAfter)
	for _, h := range []struct {
		name string
		r    *holdResult
	}{{"bare reverse_proxy", &out.floor}, {"gemini_balance", &out.ours}} {
		b.rep.breakdowns = append(b.rep.breakdowns, streamBreakdown{label: su.label, target: h.name, n: h.r.openAtSample,
			rssBefore: h.r.before, rssDuring: h.r.during, before: h.r.memBefore, during: h.r.memDuring})
	}
	return out, ctx.Err()
}

// holdResult is what holding streams open through one Caddy showed.
type holdResult struct {
	res                                result
	opened, failed, openAtSample       int64
	openTime                           time.Duration
	before, during                     memory
	goroutinesBefore, goroutinesDuring int
	memBefore, memDuring               runtimeMem // the runtime's counts, read after RSS
}

// holdStreams opens cfg.openStreams streams to t (256 being opened at a
// time), reads p's memory and goroutines once all are open, and waits for
// them to end.
func (b *bench) holdStreams(ctx context.Context, p *caddyProc, t *target, settle time.Duration) (holdResult, error) {
	n := b.cfg.openStreams
	var h holdResult
	b.cl.tr.CloseIdleConnections()
	time.Sleep(settle)
	h.goroutinesBefore, _ = p.goroutines()
	h.before = p.memory()
	h.memBefore = p.runtimeMemory(b.cfg.streamProfiles, profilePrefix(p, "before"))
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		opened   atomic.Int64
		failed   atomic.Int64
		openNow  atomic.Int64
		allReady = make(chan struct{})
		once     sync.Once
	)
	sem := make(chan struct{}, 256) // streams being opened at once
	ready := func() {
		if opened.Load()+failed.Load() >= int64(n) {
			once.Do(func() { close(allReady) })
		}
	}
	start := time.Now()
	for range n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return h, ctx.Err()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			released := false
			release := func() {
				if !released {
					released = true
					<-sem
				}
			}
			tt := *t
			tt.onFirst = func() {
				opened.Add(1)
				openNow.Add(1)
				release()
				ready()
			}
			first, total, err := b.cl.do(ctx, &tt, time.Now())
			if released {
				openNow.Add(-1)
			} else {
				failed.Add(1)
				release()
				ready()
			}
			mu.Lock()
			h.res.record(first, total, err)
			mu.Unlock()
		}()
	}
	select {
	case <-allReady:
	case <-time.After(b.cfg.streamHold):
	case <-ctx.Done():
	}
	h.openTime = time.Since(start)
	h.openAtSample = openNow.Load()
	h.goroutinesDuring, _ = p.goroutines()
	h.during = p.memory()
	h.memDuring = p.runtimeMemory(b.cfg.streamProfiles, profilePrefix(p, "during"))
	wg.Wait()
	h.res.elapsed = h.openTime
	h.opened, h.failed = opened.Load(), failed.Load()
	return h, ctx.Err()
}

// profile runs the native load on gemini_balance while fetching 10 s CPU and
// allocation profiles of Caddy (the latter next to the former, ".allocs").
func (b *bench) profile(ctx context.Context) error {
	t := b.nativeTargets(b.nativePath, false, nameBare)[2]
	if b.cfg.profileChat {
		t = newTarget(nameGBChat, roleOurs, b.gbURL+"/v1/chat/completions", chatBody, false, "bearer", clientToken)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.cl.closedLoop(ctx, t, b.cfg.conc, 12*time.Second)
	}()
	time.Sleep(time.Second)
	allocErr := make(chan error, 1)
	go func() { allocErr <- b.main.fetchProfile(ctx, "allocs", 10*time.Second, b.cfg.cpuprofile+".allocs") }()
	err := b.main.fetchProfile(ctx, "profile", 10*time.Second, b.cfg.cpuprofile)
	<-done
	if err == nil {
		err = b.writerShare(ctx, b.cfg.cpuprofile)
	}
	return errors.Join(err, <-allocErr)
}

var microPackages = []string{"./internal/keypool", "./internal/failure", "./internal/gemini", "./internal/openai/chat", "./internal/secret", "./internal/store"}

var pickLine = regexp.MustCompile(`^BenchmarkPick/keys=(\d+)-\d+\s+\d+\s+([\d.]+) ns/op`)

// microBenchmarks runs the packages' Go benchmarks and keeps their lines.
func (b *bench) microBenchmarks(ctx context.Context) error {
	args := []string{"test", "-run", "^$", "-bench", ".", "-benchmem"}
	if b.cfg.benchtime != "" {
		args = append(args, "-benchtime", b.cfg.benchtime)
	}
	args = append(args, microPackages...)
	cmd := exec.CommandContext(ctx, goTool(), args...)
	cmd.Dir = b.root
	out, err := cmd.CombinedOutput()
	var keep []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "Benchmark") || strings.HasPrefix(line, "pkg:") || strings.HasPrefix(line, "cpu:") && len(keep) == 0 {
			keep = append(keep, strings.TrimRight(line, " \t"))
		}
		if m := pickLine.FindStringSubmatch(line); m != nil {
			b.rep.fact("key pick (BenchmarkPick, parallel), "+m[1]+" keys", "%s ns", m[2])
		}
		b.writerRowFact(line)
	}
	b.rep.micro = strings.Join(keep, "\n")
	if err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// evaluate checks the targets.
func (b *bench) evaluate() {
	rep := b.rep
	verdict := func(ok bool) string {
		switch {
		case b.cfg.quick:
			return "n/a (quick run)"
		case ok:
			return "met"
		}
		return "not met"
	}
	get := func(scenario, name, mode string) (row, bool) {
		for _, r := range rep.rows {
			if r.scenario == scenario && r.t.name == name && (mode == "" || r.mode == mode) {
				return r, true
			}
		}
		return row{}, false
	}
	add := func(target, measured string, ok bool) {
		rep.checks = append(rep.checks, check{target, measured, verdict(ok)})
	}

	closed := b.closedMode()
	openMode := fmt.Sprintf("open, %g req/s", b.cfg.rate)
	if gb, ok := get(scNative, nameGB, closed); ok {
		bare, _ := get(scNative, nameBare, closed)
		ratio, _ := rep.ratio(gb)
		add(fmt.Sprintf("native ≥ 0.9× bare reverse_proxy throughput at c=%d", b.cfg.conc),
			fmt.Sprintf("%.2f× (%s vs %s req/s)", ratio, rpsString(gb.res.rps()), rpsString(bare.res.rps())), ratio >= 0.9)
		if gbo, ok := get(scNative, nameGB, openMode); ok {
			bareo, _ := get(scNative, nameBare, openMode)
			added := gbo.stats().p50 - bareo.stats().p50
			addedC := gb.stats().p50 - bare.stats().p50
			add("native p50 added ≤ 0.3 ms (vs bare reverse_proxy)",
				fmt.Sprintf("%s at %g req/s open loop (p99 %s); %s at c=%d", msDelta(added), b.cfg.rate,
					msDelta(gbo.stats().p99-bareo.stats().p99), msDelta(addedC), b.cfg.conc),
				added <= 300*time.Microsecond)
		}
	}
	if chat, ok := get(scChat, nameGBChat, ""); ok {
		ratio, _ := rep.ratio(chat)
		extra := ""
		if cs, ok := get(scChatTotal, nameGBChat, ""); ok {
			r2, _ := rep.ratio(cs)
			extra = fmt.Sprintf("; stream %.2f×", r2)
		}
		add("translated chat ≥ 0.8× native (through gemini_balance)", fmt.Sprintf("%.2f× non-stream%s", ratio, extra), ratio >= 0.8)
	}
	streamOpen := fmt.Sprintf("open, %g req/s", b.cfg.streamRate)
	if gb, ok := get(scNativeFirst, nameGB, streamOpen); ok {
		direct, _ := get(scNativeFirst, nameDirect, streamOpen)
		bare, _ := get(scNativeFirst, nameBare, streamOpen)
		d := gb.stats().p50 - direct.stats().p50
		measured := fmt.Sprintf("p50 %s at %g streams/s open loop (p99 %s; bare reverse_proxy p50 %s)", msDelta(d), b.cfg.streamRate,
			msDelta(gb.stats().p99-direct.stats().p99), msDelta(bare.stats().p50-direct.stats().p50))
		if gbc, ok := get(scNativeFirst, nameGB, closed); ok {
			directc, _ := get(scNativeFirst, nameDirect, closed)
			measured += fmt.Sprintf("; p50 %s at c=%d", msDelta(gbc.stats().p50-directc.stats().p50), b.cfg.conc)
		}
		add("first stream event ≤ 1 ms later than direct", measured, d <= time.Millisecond)
	}
	if fo, ok := get(scFailover, nameFailover, ""); ok {
		no, _ := get(scFailover, nameNoFailover, "")
		d429, _ := get(scFailover, nameDirect429, "")
		added := fo.stats().p50 - no.stats().p50
		beyond := added - d429.stats().p50
		add("failover adds ≤ 1 ms beyond the upstream's own time",
			fmt.Sprintf("%s beyond (added p50 %s, upstream 429 p50 %s)", msDelta(beyond), msDelta(added), ms(d429.stats().p50)),
			beyond <= time.Millisecond && fo.res.errs == 0)
	}
	if b.largeLoad > 0 {
		add(fmt.Sprintf("%d keys load in ≤ 2 s: first start", b.cfg.bigPool), b.largeLoad.Round(time.Millisecond).String(), b.largeLoad <= 2*time.Second)
	}
	if b.largeReload > 0 {
		add(fmt.Sprintf("%d keys load in ≤ 2 s: restart", b.cfg.bigPool), b.largeReload.Round(time.Millisecond).String(), b.largeReload <= 2*time.Second)
	}
	for _, so := range b.streams {
		add(fmt.Sprintf("%d open streams in ≤ 300 MiB RSS, %s upstream", b.cfg.openStreams, so.label),
			fmt.Sprintf("%s, peak %s, %d open at the reading; a bare reverse_proxy Caddy: %s", mib(so.ours.during.rss),
				mib(so.ours.during.hwm), so.ours.openAtSample, mib(so.floor.during.rss)),
			so.ours.during.rss <= 300<<20 && so.ours.openAtSample == int64(b.cfg.openStreams))
		left := so.goroutinesAfter - so.ours.goroutinesBefore
		add(fmt.Sprintf("no goroutine left after the streams close, %s upstream", so.label),
			fmt.Sprintf("%+d (%d before, %d during, %d after)", left, so.ours.goroutinesBefore, so.ours.goroutinesDuring, so.goroutinesAfter),
			so.goroutinesAfter > 0 && left <= 10)
	}
	for _, u := range b.uploads {
		if u.label != "gemini_balance" {
			continue
		}
		measured := fmt.Sprintf("+%s (%s before, peak %s, %d samples 20 ms apart), %.0f MiB/s", mib(u.growth()), mib(u.before),
			mib(u.peak), u.samples, u.mibps())
		for _, o := range b.uploads {
			if o.label == "bare reverse_proxy" {
				measured += fmt.Sprintf("; a bare reverse_proxy Caddy: +%s, %.0f MiB/s", mib(o.growth()), o.mibps())
			}
		}
		add(fmt.Sprintf("a %s upload (one leg) raises Caddy's RSS by ≤ 32 MiB", sizeLabel(u.size)), measured, u.growth() <= 32<<20)
	}
	if len(rep.checks) == 0 {
		rep.notes = append(rep.notes, "no target could be checked")
	}
}
