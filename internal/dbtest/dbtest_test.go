package dbtest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

// open connects to a DSN from this package with database/sql.
func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	driver := "pgx"
	if strings.HasPrefix(dsn, "mysql://") {
		d, err := MySQLDriverDSN(dsn)
		if err != nil {
			t.Fatal(err)
		}
		driver, dsn = "mysql", d
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func mustExec(t *testing.T, db *sql.DB, q string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, q, args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func count(t *testing.T, db *sql.DB, table string) int {
	t.Helper()
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// placeholder is $n on PostgreSQL, ? on MySQL.
func placeholder(dsn string) string {
	if strings.HasPrefix(dsn, "mysql://") {
		return "?"
	}
	return "$1"
}

// checkDSN asserts the documented DSN shape: a password, 127.0.0.1, a
// database name.
func checkDSN(t *testing.T, dsn, scheme string) {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	pw, ok := u.User.Password()
	if u.Scheme != scheme || !ok || pw == "" || u.Hostname() != "127.0.0.1" || u.Port() == "" || len(u.Path) < 2 {
		t.Fatalf("DSN %q: want %s://user:pass@127.0.0.1:PORT/DB", dsn, scheme)
	}
	if scheme == "postgres" && u.Query().Get("sslmode") != "disable" {
		t.Fatalf("DSN %q lacks sslmode=disable", dsn)
	}
}

func testShared(t *testing.T, get func(testing.TB) string, scheme string) {
	a, b := get(t), get(t)
	checkDSN(t, a, scheme)
	checkDSN(t, b, scheme)
	ua, _ := url.Parse(a)
	ub, _ := url.Parse(b)
	if ua.Path == ub.Path || ua.Host != ub.Host {
		t.Fatalf("want two databases on one server, got %q and %q", a, b)
	}
	dba, dbb := open(t, a), open(t, b)
	mustExec(t, dba, "CREATE TABLE keys_t (id INTEGER PRIMARY KEY, k VARCHAR(64) NOT NULL UNIQUE)")
	mustExec(t, dba, "INSERT INTO keys_t (id, k) VALUES (1, "+placeholder(a)+")", "AIzaFAKE")
	if n := count(t, dba, "keys_t"); n != 1 {
		t.Fatalf("rows = %d", n)
	}
	// The second database is fresh: the table does not exist there.
	if err := dbb.QueryRow("SELECT COUNT(*) FROM keys_t").Scan(new(int)); err == nil {
		t.Fatal("second database is not empty")
	}
	// A wrong password is refused: real authentication is on.
	ua.User = url.UserPassword(ua.User.Username(), "wrong")
	bad := open(t, ua.String())
	if err := bad.Ping(); err == nil {
		t.Fatal("wrong password accepted")
	}
}

func TestPostgresShared(t *testing.T) { testShared(t, Postgres, "postgres") }
func TestMariaDBShared(t *testing.T)  { testShared(t, MariaDB, "mysql") }

// testRestart: data survives Stop and Start, the port stays, and while the
// server is stopped connections fail.
func testRestart(t *testing.T, srv *Server) {
	port := srv.Port()
	dsn := srv.DSN(t)
	if u, _ := url.Parse(dsn); u.Port() != strconv.Itoa(port) {
		t.Fatalf("DSN %q, port %d", dsn, port)
	}
	db := open(t, dsn)
	mustExec(t, db, "CREATE TABLE t (id INTEGER PRIMARY KEY)")
	mustExec(t, db, "INSERT INTO t (id) VALUES (1), (2), (3)")

	t0 := time.Now()
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s stop: %v", srv.Engine(), time.Since(t0))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	err := db.PingContext(ctx)
	cancel()
	if err == nil {
		t.Fatal("ping succeeded while stopped")
	}
	if err := srv.Stop(); err != nil { // idempotent
		t.Fatal(err)
	}
	t0 = time.Now()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s restart: %v", srv.Engine(), time.Since(t0))
	if srv.Port() != port {
		t.Fatalf("port changed %d -> %d", port, srv.Port())
	}
	// The old pool reconnects by itself.
	var n int
	deadline := time.Now().Add(5 * time.Second)
	for {
		err = db.QueryRow("SELECT COUNT(*) FROM t").Scan(&n)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || n != 3 {
		t.Fatalf("after restart: n=%d err=%v", n, err)
	}
	// New databases can still be made.
	mustExec(t, open(t, srv.DSN(t)), "CREATE TABLE u (id INTEGER)")
}

func TestPostgresRestart(t *testing.T) {
	t0 := time.Now()
	srv := NewPostgresServer(t)
	t.Logf("postgres first start (initdb included): %v", time.Since(t0))
	testRestart(t, srv)
}

func TestMariaDBRestart(t *testing.T) {
	t0 := time.Now()
	srv := NewMariaDBServer(t)
	t.Logf("mariadb first start (install-db included): %v", time.Since(t0))
	testRestart(t, srv)
}

// TestPrivateServerRemoved: a private server's directory is gone after its
// test, and its process with it.
func TestPrivateServerRemoved(t *testing.T) {
	var dir string
	var srv *Server
	t.Run("inner", func(t *testing.T) {
		srv = NewPostgresServer(t)
		dir = srv.Dir()
		if _, err := os.Stat(filepath.Join(dir, "data")); err != nil {
			t.Fatal(err)
		}
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("%s still exists (%v)", dir, err)
	}
	if err := srv.Start(); err == nil {
		t.Fatal("Start after removal succeeded")
	}
}

// TestConcurrentDSN: parallel callers share one server and get distinct
// databases.
func TestConcurrentDSN(t *testing.T) {
	for _, get := range []func(testing.TB) string{Postgres, MariaDB} {
		var mu sync.Mutex
		seen := map[string]bool{}
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := get(t)
				mu.Lock()
				seen[d] = true
				mu.Unlock()
			}()
		}
		wg.Wait()
		if len(seen) != 8 {
			t.Fatalf("want 8 distinct DSNs, got %d", len(seen))
		}
	}
}

func TestMySQLDriverDSN(t *testing.T) {
	for in, want := range map[string]string{
		"mysql://gb:secret@db:3306/gemini_balance":                             "gb:secret@tcp(db:3306)/gemini_balance",
		"mysql://gb:s%40c%3Aret@127.0.0.1:3307/x?parseTime=true":               "gb:s@c:ret@tcp(127.0.0.1:3307)/x?parseTime=true",
		"mysql://u:p@host/d":                                                   "u:p@tcp(host:3306)/d",
		"mysql://u:p@h:1/d?charset=utf8mb4&loc=UTC&time_zone=%27%2B00%3A00%27": "u:p@tcp(h:1)/d?charset=utf8mb4&time_zone=%27%2B00%3A00%27",
	} {
		got, err := MySQLDriverDSN(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", in, got, want)
		}
	}
	for _, in := range []string{"postgres://u:p@h/d", "mysql://u:hunter2@h/d?parseTime=maybe", "mysql://u:hunter2@h:%zz/d"} {
		_, err := MySQLDriverDSN(in)
		if err == nil {
			t.Errorf("%s: no error", in)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestDBName(t *testing.T) {
	a, b := dbName("TestX/sub case-1"), dbName(strings.Repeat("Long", 40))
	if a == dbName("TestX/sub case-1") {
		t.Fatal("names repeat")
	}
	for _, n := range []string{a, b} {
		if len(n) > 63 || strings.Trim(n, "abcdefghijklmnopqrstuvwxyz0123456789_") != "" {
			t.Fatalf("bad name %q", n)
		}
	}
}

// recorder is a testing.TB that records Skip and Fatal and, like the real
// ones, stops the calling goroutine.
type recorder struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(format string, args ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (r *recorder) Fatalf(format string, args ...any) {
	r.failed, r.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func run(tb testing.TB, f func(testing.TB) string) *recorder {
	r := &recorder{TB: tb}
	done := make(chan struct{})
	go func() { defer close(done); f(r) }()
	<-done
	return r
}

// TestMissingBinaries: without the binaries a test is skipped with the
// Debian package named, or fails when GEMINI_BALANCE_REQUIRE_DB=1.
func TestMissingBinaries(t *testing.T) {
	oldGlob, oldDirs := pgBinGlob, binDirs
	t.Cleanup(func() { pgBinGlob, binDirs = oldGlob, oldDirs })
	pgBinGlob, binDirs = filepath.Join(t.TempDir(), "*", "bin"), []string{t.TempDir()}
	t.Setenv("PATH", t.TempDir())
	for _, c := range []struct {
		f   func(testing.TB) string
		pkg string
	}{
		{Postgres, "postgresql"},
		{MariaDB, "mariadb-server"},
		{func(tb testing.TB) string { return NewPostgresServer(tb).DSN(tb) }, "postgresql"},
		{func(tb testing.TB) string { return NewMariaDBServer(tb).DSN(tb) }, "mariadb-server"},
	} {
		t.Setenv(RequireEnv, "")
		if r := run(t, c.f); !r.skipped || !strings.Contains(r.msg, "apt-get install "+c.pkg) {
			t.Errorf("without %s: skipped=%v failed=%v %q", c.pkg, r.skipped, r.failed, r.msg)
		}
		t.Setenv(RequireEnv, "1")
		if r := run(t, c.f); !r.failed || !strings.Contains(r.msg, c.pkg) {
			t.Errorf("without %s, %s=1: skipped=%v failed=%v %q", c.pkg, RequireEnv, r.skipped, r.failed, r.msg)
		}
	}
}
