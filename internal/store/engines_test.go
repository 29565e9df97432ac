package store

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gemini-balance/gemini_balance/internal/dbtest"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

// testEngines are the engines the store's tests run on. GEMINI_BALANCE_ENGINES
// (a comma-separated subset, e.g. "sqlite") narrows them.
func testEngines() []string {
	all := []string{engineSQLite, enginePostgres, "mariadb"}
	if v := os.Getenv("GEMINI_BALANCE_ENGINES"); v != "" {
		var out []string
		for _, e := range all {
			if strings.Contains(","+v+",", ","+e+",") {
				out = append(out, e)
			}
		}
		return out
	}
	return all
}

// testDSN returns what a user writes after `database` for a new, empty
// database of engine: an SQLite file in a temporary directory, or a fresh
// database on the test process's PostgreSQL or MariaDB server (skipping the
// test when the server is not installed; see dbtest).
func testDSN(t testing.TB, engine string) string {
	t.Helper()
	switch engine {
	case enginePostgres:
		return dbtest.Postgres(t)
	case "mariadb":
		return dbtest.MariaDB(t)
	}
	return filepath.Join(t.TempDir(), "data", "gb.db")
}

// forEngines runs fn as one subtest per engine.
func forEngines(t *testing.T, fn func(t *testing.T, engine string)) {
	for _, e := range testEngines() {
		t.Run(e, func(t *testing.T) { fn(t, e) })
	}
}

// openEngine opens a new, empty database of engine, closed at the end of t.
func openEngine(t *testing.T, engine string, opts Options) *Store {
	t.Helper()
	s, err := OpenWithOptions(testDSN(t, engine), opts)
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
