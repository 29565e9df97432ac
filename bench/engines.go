package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/dbtest"
)

// The database engines scenario: the native closed loop of one instance on
// SQLite (the floor), PostgreSQL and MariaDB, in the same run. Requests do
// not wait on the database, so the ratios show what each engine's background
// writes (request logs, stats) cost when it shares the machine's cores.

const (
	scEngines      = "database engines"
	nameOnSQLite   = "gemini_balance on SQLite"
	nameOnPostgres = "gemini_balance on PostgreSQL"
	nameOnMariaDB  = "gemini_balance on MariaDB"
)

// dbServers are the servers of one run of the scenario, started together.
type dbServers struct {
	pg, maria       *dbtest.Server
	pgErr, mariaErr error
}

// startDBServers starts PostgreSQL and MariaDB at once (initdb and
// mariadb-install-db take seconds each).
func startDBServers() *dbServers {
	s := &dbServers{}
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.maria, s.mariaErr = dbtest.StartMariaDB()
	}()
	s.pg, s.pgErr = dbtest.StartPostgres()
	<-done
	return s
}

// startDBServersEarly starts the servers in the background, so their start
// (seconds) overlaps the build of Caddy; takeDBServers waits for them. Until
// then they sit idle (a fraction of a percent of a core).
func (b *bench) startDBServersEarly() {
	c := make(chan *dbServers, 1)
	go func() { c <- startDBServers() }()
	b.dbStarting = c
}

// takeDBServers returns the servers started early, or starts them now (a
// scenario measured again closed the first ones).
func (b *bench) takeDBServers() *dbServers {
	if c := b.dbStarting; c != nil {
		b.dbStarting = nil
		return <-c
	}
	return startDBServers()
}

func (s *dbServers) close() {
	for _, srv := range []*dbtest.Server{s.pg, s.maria} {
		if srv != nil {
			srv.Close()
		}
	}
}

// engineRun is one database the scenario runs on.
type engineRun struct {
	name    string // the target's name
	label   string // "PostgreSQL 15.8", for the facts
	srv     *dbtest.Server
	db      string // its SQLite path or DSN, the same in every pass
	skipped string // why it did not run
	t       *target
	res     *result
	passRPS []float64
}

// enginePasses: the full run measures the engines twice, in turn and then in
// reverse order (A B C C B A), half the duration each, so a drift of the
// machine's speed weighs on them alike; the quick run once.
func (b *bench) enginePasses() int {
	if b.cfg.quick {
		return 1
	}
	return 2
}

func (b *bench) dbEngines(ctx context.Context) error {
	servers := b.takeDBServers()
	// Stopped here, not at the end of the run: their CPU then counts as the
	// benchmark's own (reaped children) and not as other processes' noise.
	defer servers.close()
	dir, err := os.MkdirTemp(b.tmp, "engines-")
	if err != nil {
		return err
	}
	runs := []*engineRun{
		{name: nameOnSQLite, label: "SQLite", db: filepath.Join(dir, "engines.db")},
		{name: nameOnPostgres, label: "PostgreSQL", srv: servers.pg},
		{name: nameOnMariaDB, label: "MariaDB", srv: servers.maria},
	}
	for i, err := range []error{nil, servers.pgErr, servers.mariaErr} {
		r := runs[i]
		switch {
		case dbtest.IsMissing(err):
			r.skipped = err.Error()
			b.cfg.logf("%s: %s skipped: %s", scEngines, r.label, r.skipped)
			continue
		case err != nil:
			return err
		case r.srv != nil:
			if v, err := r.srv.Version(); err == nil {
				r.label += " " + shortVersion(v)
			}
			if r.db, err = r.srv.NewDatabase("bench engines"); err != nil {
				return err
			}
		}
		role := roleOurs
		if r.srv == nil {
			role = roleFloor
		}
		r.t = newTarget(r.name, role, "", nativeBody, false, "goog", clientToken)
		r.res = &result{}
	}

	passes := b.enginePasses()
	d := b.cfg.duration / time.Duration(passes)
	for pass := range passes {
		for i := range runs {
			r := runs[i]
			if pass%2 == 1 {
				r = runs[len(runs)-1-i]
			}
			if r.skipped != "" {
				continue
			}
			if err := b.engineRun(ctx, dir, r, d, pass == 0); err != nil {
				return fmt.Errorf("%s: %w", r.label, err)
			}
		}
	}
	for _, r := range runs {
		if r.skipped == "" {
			b.rep.add(scEngines, b.closedMode(), r.t, r.res, false)
		}
	}
	b.engineFacts(runs)
	return ctx.Err()
}

// engineRun starts a Caddy with one 4-key pool on r's database, warms it up
// and measures the native closed loop for d in one go (as the native
// scenario measures each target, in slices), then stops it.
func (b *bench) engineRun(ctx context.Context, dir string, r *engineRun, d time.Duration, first bool) error {
	ports, err := freePorts(2)
	if err != nil {
		return err
	}
	site := poolSite{port: ports[1], pool: "engines", db: r.db, baseURL: b.up.URL,
		keys: []string{keyName("Pool", 1), keyName("Pool", 2), keyName("Pool", 3), keyName("Pool", 4)}}
	base := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	name := "caddy-" + strings.ToLower(strings.Fields(r.label)[0])
	p, err := startCaddy(b.bin, dir, name, globalOptions(ports[0])+site.caddyfile(), ports[0], b.caddyEnv)
	if err != nil {
		return err
	}
	b.procs = append(b.procs, p)
	defer p.stop()
	if err := p.waitReady(ctx, 60*time.Second, func() bool { return healthKeys(base) >= 4 }); err != nil {
		return err
	}
	ready := time.Since(p.started)
	t := *r.t
	t.url = base + "/v1beta" + b.nativePath
	b.cl.closedLoop(ctx, &t, b.cfg.conc, b.cfg.warmup)
	b.resetUpstreams()
	res := b.cl.closedLoop(ctx, &t, b.cfg.conc, d)
	b.resetUpstreams()
	if err := ctx.Err(); err != nil {
		return err
	}
	r.res.merge(res)
	r.passRPS = append(r.passRPS, res.rps())
	mem := p.memory()
	p.stop()
	b.cl.tr.CloseIdleConnections()
	if first {
		b.rep.fact(fmt.Sprintf("%s, %s: Caddy ready after / RSS after the load (peak)", scEngines, r.label),
			"%s / %s (%s)", ready.Round(time.Millisecond), mib(mem.rss), mib(mem.hwm))
	}
	// The DSN's password must not show in what Caddy printed; the log is
	// not quoted, since it would show it.
	if r.srv != nil {
		if out, err := os.ReadFile(p.logPath); err == nil && strings.Contains(string(out), r.srv.Password()) {
			return errors.New("the database password appears in Caddy's output " + p.logPath)
		}
	}
	return nil
}

// engineFacts states the ratios to SQLite in the facts, with each pass's
// throughput (they show the drift the two passes balance), and why an engine
// was skipped in the notes.
func (b *bench) engineFacts(runs []*engineRun) {
	floor := runs[0]
	var parts, perPass []string
	for _, r := range runs {
		if r.skipped != "" {
			parts = append(parts, r.label+": skipped (not installed)")
			b.rep.note(fmt.Sprintf("The %s scenario ran without %s: %s.", scEngines, r.label, r.skipped))
			continue
		}
		var v []string
		for _, x := range r.passRPS {
			v = append(v, rpsString(x))
		}
		perPass = append(perPass, r.label+" "+strings.Join(v, " / "))
		if r != floor && floor.res.rps() > 0 {
			parts = append(parts, fmt.Sprintf("%s %.2f× (%s req/s)", r.label, r.res.rps()/floor.res.rps(), rpsString(r.res.rps())))
		}
	}
	b.rep.fact(fmt.Sprintf("%s: native throughput of one instance, c=%d, as a ratio to %s (%s req/s); no target",
		scEngines, b.cfg.conc, floor.label, rpsString(floor.res.rps())), "%s", strings.Join(parts, ", "))
	if len(floor.passRPS) > 1 {
		b.rep.fact(scEngines+": req/s of each pass (in turn, then in reverse order)", "%s", strings.Join(perPass, "; "))
	}
}

// shortVersion keeps the version number of a server's version string:
// "15.8 (Debian 15.8-0+deb12u1)" → "15.8", "10.11.6-MariaDB-0+deb12u1" →
// "10.11.6".
func shortVersion(v string) string {
	if i := strings.IndexAny(v, " -"); i > 0 {
		return v[:i]
	}
	return v
}

// note adds a note once (a re-measured scenario adds its notes again).
func (rep *report) note(s string) {
	for _, n := range rep.notes {
		if n == s {
			return
		}
	}
	rep.notes = append(rep.notes, s)
}
