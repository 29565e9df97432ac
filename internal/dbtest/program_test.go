package dbtest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// testProgram: a server started without testing.TB hands out fresh databases
// that work, reports its version, and Close removes its directory.
func testProgram(t *testing.T, start func() (*Server, error), scheme, version string) {
	srv, err := start()
	if IsMissing(err) {
		if os.Getenv(RequireEnv) == "1" {
			t.Fatalf("%v; %s=1 requires it", err, RequireEnv)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	a, err := srv.NewDatabase("bench: a")
	if err != nil {
		t.Fatal(err)
	}
	b, err := srv.NewDatabase("bench: a") // same label, distinct database
	if err != nil {
		t.Fatal(err)
	}
	checkDSN(t, a, scheme)
	checkDSN(t, b, scheme)
	if a == b {
		t.Fatalf("same DSN twice: %q", a)
	}
	db := open(t, a)
	mustExec(t, db, "CREATE TABLE t (id INTEGER PRIMARY KEY)")
	mustExec(t, db, "INSERT INTO t (id) VALUES (1)")
	if n := count(t, db, "t"); n != 1 {
		t.Fatalf("rows = %d", n)
	}
	db.Close()
	v, err := srv.Version()
	if err != nil || !strings.Contains(v, version) {
		t.Fatalf("Version() = %q, %v; want it to contain %q", v, err, version)
	}

	dir := srv.Dir()
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s left after Close: %v", dir, err)
	}
	if _, err := srv.NewDatabase("x"); err == nil {
		t.Fatal("NewDatabase on a closed server succeeded")
	}
}

func TestStartPostgres(t *testing.T) { testProgram(t, StartPostgres, "postgres", ".") }
func TestStartMariaDB(t *testing.T)  { testProgram(t, StartMariaDB, "mysql", "MariaDB") }

// TestStartMissing: without the binaries the error is a MissingError naming
// the Debian package, whatever GEMINI_BALANCE_REQUIRE_DB says (a program
// decides for itself).
func TestStartMissing(t *testing.T) {
	oldGlob, oldDirs := pgBinGlob, binDirs
	t.Cleanup(func() { pgBinGlob, binDirs = oldGlob, oldDirs })
	pgBinGlob, binDirs = filepath.Join(t.TempDir(), "*", "bin"), []string{t.TempDir()}
	t.Setenv("PATH", t.TempDir())
	t.Setenv(RequireEnv, "1")
	for _, c := range []struct {
		start func() (*Server, error)
		pkg   string
	}{{StartPostgres, "postgresql"}, {StartMariaDB, "mariadb-server"}} {
		srv, err := c.start()
		if srv != nil || !IsMissing(err) || !strings.Contains(err.Error(), "apt-get install "+c.pkg) {
			t.Errorf("without %s: %v, %v", c.pkg, srv, err)
		}
	}
}
