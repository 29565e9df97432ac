package main

import (
	"strings"
	"testing"
	"time"
)

// TestEngineFacts: the ratios to SQLite are stated with "no target"; an
// engine that is not installed is named as skipped, in the facts and once in
// the notes, and does not fail the scenario.
func TestEngineFacts(t *testing.T) {
	b := &bench{cfg: defaultConfig(false), rep: newReport(defaultConfig(false))}
	res := func(n int) *result { return &result{n: n, elapsed: time.Second} }
	runs := []*engineRun{
		{label: "SQLite", res: res(1000), passRPS: []float64{900, 1100}},
		{label: "PostgreSQL 15.18", res: res(1200), passRPS: []float64{1100, 1300}},
		{label: "MariaDB", skipped: "dbtest: MariaDB server (mariadbd, mariadb-install-db) not found (Debian: apt-get install mariadb-server)"},
	}
	b.engineFacts(runs)
	b.engineFacts(runs) // a re-measured scenario: the note stays single
	f := b.rep.factsTable()
	for _, want := range []string{
		"| database engines: native throughput of one instance, c=32, as a ratio to SQLite (1000 req/s); no target | PostgreSQL 15.18 1.20× (1200 req/s), MariaDB: skipped (not installed) |",
		"| database engines: req/s of each pass (in turn, then in reverse order) | SQLite 900 / 1100; PostgreSQL 15.18 1100 / 1300 |",
	} {
		if !strings.Contains(f, want) {
			t.Errorf("facts lack %q:\n%s", want, f)
		}
	}
	if len(b.rep.notes) != 1 || !strings.Contains(b.rep.notes[0], "apt-get install mariadb-server") {
		t.Errorf("notes = %q", b.rep.notes)
	}
}

func TestShortVersion(t *testing.T) {
	for in, want := range map[string]string{
		"15.18 (Debian 15.18-0+deb12u1)": "15.18",
		"10.11.19-MariaDB-0+deb12u1":     "10.11.19",
		"16.4":                           "16.4",
	} {
		if got := shortVersion(in); got != want {
			t.Errorf("shortVersion(%q) = %q, want %q", in, got, want)
		}
	}
}
