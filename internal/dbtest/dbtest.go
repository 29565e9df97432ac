package dbtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// RequireEnv, set to 1, turns a missing server binary from a skip into a
// failure (CI sets it).
const RequireEnv = "GEMINI_BALANCE_REQUIRE_DB"

// Engine names a database server kind.
type Engine string

const (
	EnginePostgres Engine = "postgres"
	EngineMariaDB  Engine = "mariadb"
)

// dirPrefix names every directory this package creates under os.TempDir, so
// that leftovers of crashed processes can be found and removed.
const dirPrefix = "gb-dbtest-"

// startTimeout bounds a server's start (first start includes initdb or
// mariadb-install-db).
const startTimeout = 60 * time.Second

// engine is what differs between PostgreSQL and MariaDB.
type engine interface {
	// init creates the data directory (run once per Server).
	init(s *Server) error
	// command returns the server process to run in the foreground.
	command(s *Server) *exec.Cmd
	// adminDSN is a database/sql driver name and DSN with full rights.
	adminDSN(s *Server) (driver, dsn string)
	// createDB creates database name and returns the DSN users would write.
	createDB(ctx context.Context, s *Server, admin *sql.DB, name string) (string, error)
	// dropDB removes a database created by createDB, best effort.
	dropDB(ctx context.Context, admin *sql.DB, name string)
	// stopSignal asks the server for a quick, clean shutdown.
	stopSignal() syscall.Signal
	// logTail returns the end of the server's logs, for error messages.
	logFiles(s *Server) []string
}

// Server is one database server in its own temporary directory. Its methods
// are safe for concurrent use.
type Server struct {
	engine   Engine
	impl     engine
	dir      string
	port     int
	user     string
	password string

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been reaped
	admin   *sql.DB
	removed bool
}

// Engine reports which server this is.
func (s *Server) Engine() Engine { return s.engine }

// Port is the TCP port the server listens on (on 127.0.0.1); it stays the same
// across Stop and Start.
func (s *Server) Port() int { return s.port }

// Dir is the server's temporary directory (data, logs, socket).
func (s *Server) Dir() string { return s.dir }

// Password is the password of the server's user, as found in its DSNs (for
// tests that check it never shows).
func (s *Server) Password() string { return s.password }

var dbSeq atomic.Int64

// DSN creates a fresh, empty database on the running server and returns its
// DSN: postgres://…?sslmode=disable or mysql://…. The database is dropped (best
// effort) at tb's cleanup.
func (s *Server) DSN(tb testing.TB) string {
	tb.Helper()
	s.mu.Lock()
	admin := s.admin
	s.mu.Unlock()
	if admin == nil {
		tb.Fatalf("dbtest: %s server is not running", s.engine)
	}
	name := dbName(tb.Name())
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, err := s.impl.createDB(ctx, s, admin, name)
	if err != nil {
		tb.Fatalf("dbtest: create database %s on %s: %v", name, s.engine, err)
	}
	tb.Cleanup(func() {
		s.mu.Lock()
		admin := s.admin
		s.mu.Unlock()
		if admin == nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.impl.dropDB(ctx, admin, name)
	})
	return dsn
}

// dbName makes a unique, lower-case identifier valid on both engines (at most
// 63 characters) that names the test, for reading server logs.
func dbName(test string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(test) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
		if b.Len() >= 40 {
			break
		}
	}
	return fmt.Sprintf("t_%s_%d_%d", b.String(), os.Getpid(), dbSeq.Add(1))
}

// Start starts a stopped server again on the same port and data directory
// and waits until it accepts connections. Starting a running server is a
// no-op.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return errors.New("dbtest: server was removed")
	}
	if s.cmd != nil {
		return nil
	}
	return s.startLocked()
}

func (s *Server) startLocked() error {
	cmd := s.impl.command(s)
	cmd.Dir = s.dir
	out, err := os.OpenFile(filepath.Join(s.dir, "server.out"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Own process group: a terminal's Ctrl-C reaches the test only, and Stop
	// can kill the server's children too. Pdeathsig: the server dies with
	// the test process.
	cmd.SysProcAttr.Setpgid = true
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := spawn(cmd); err != nil {
		return fmt.Errorf("dbtest: start %s: %w", s.engine, err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	s.cmd, s.exited = cmd, exited

	driver, dsn := s.impl.adminDSN(s)
	db, err := sql.Open(driver, dsn)
	if err == nil {
		err = waitReady(db, exited)
	}
	if err != nil {
		if db != nil {
			db.Close()
		}
		s.killLocked()
		return fmt.Errorf("dbtest: %s did not start: %w\n%s", s.engine, err, s.logTail())
	}
	db.SetMaxOpenConns(4)
	s.admin = db
	return nil
}

// waitReady pings db until it answers, the process exits, or startTimeout.
func waitReady(db *sql.DB, exited <-chan struct{}) error {
	deadline := time.Now().Add(startTimeout)
	var err error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		err = db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("server exited (last connection error: %v)", err)
		case <-time.After(25 * time.Millisecond):
		}
	}
	return fmt.Errorf("not ready after %s: %v", startTimeout, err)
}

// Stop shuts the server down quickly (open transactions are aborted, as when a
// database goes away) and waits for it to exit. Data stays for Start.
// Stopping a stopped server is a no-op.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopLocked()
}

func (s *Server) stopLocked() error {
	if s.admin != nil {
		s.admin.Close()
		s.admin = nil
	}
	if s.cmd == nil {
		return nil
	}
	pid := s.cmd.Process.Pid
	syscall.Kill(pid, s.impl.stopSignal())
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.killLocked()
		return fmt.Errorf("dbtest: %s did not stop within 30s; killed", s.engine)
	}
	// Children (PostgreSQL backends) follow the postmaster; make sure.
	syscall.Kill(-pid, syscall.SIGKILL)
	s.cmd, s.exited = nil, nil
	return nil
}

// killLocked kills the server's process group and reaps it.
func (s *Server) killLocked() {
	if s.cmd == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
	s.cmd, s.exited = nil, nil
}

// Close stops the server and removes its directory.
func (s *Server) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.removed {
		return nil
	}
	err := s.stopLocked()
	s.removed = true
	if rerr := os.RemoveAll(s.dir); err == nil {
		err = rerr
	}
	return err
}

// logTail returns the last lines of the server's logs.
func (s *Server) logTail() string {
	var b strings.Builder
	for _, f := range append([]string{filepath.Join(s.dir, "server.out")}, s.impl.logFiles(s)...) {
		data, err := os.ReadFile(f)
		if err != nil || len(bytes.TrimSpace(data)) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
		if len(lines) > 30 {
			lines = lines[len(lines)-30:]
		}
		fmt.Fprintf(&b, "--- %s (tail) ---\n%s\n", filepath.Base(f), strings.Join(lines, "\n"))
	}
	return b.String()
}

// newServer makes the directory, picks the port and initializes the data
// directory of a server that is not yet started.
func newServer(kind Engine, impl engine) (*Server, error) {
	sweepStale()
	dir, err := os.MkdirTemp(baseDir(), dirPrefix+string(kind)+"-")
	if err != nil {
		return nil, err
	}
	// Remembers who owns the directory, for sweepStale.
	if err := os.WriteFile(filepath.Join(dir, "owner.pid"), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	s := &Server{engine: kind, impl: impl, dir: dir, port: port, user: "gb", password: "pw" + randHex(12)}
	if err := impl.init(s); err != nil {
		err = fmt.Errorf("dbtest: initialize %s: %w\n%s", kind, err, s.logTail())
		os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// newStartedServer is newServer then Start; on failure nothing is left.
func newStartedServer(kind Engine, impl engine) (*Server, error) {
	s, err := newServer(kind, impl)
	if err != nil {
		return nil, err
	}
	if err := s.Start(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// baseDir is where server directories go: os.TempDir, unless we are root and
// other users cannot reach it (PostgreSQL runs as the postgres user), then
// /tmp.
func baseDir() string {
	dir := os.TempDir()
	if os.Geteuid() != 0 {
		return dir
	}
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if d == filepath.Dir(d) {
			return dir
		}
	}
}

// freePort asks the kernel for an unused TCP port on 127.0.0.1.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// runLogged runs a setup command (initdb, mariadb-install-db) with its output
// appended to the server directory's setup.log.
func runLogged(s *Server, cmd *exec.Cmd) error {
	f, err := os.OpenFile(filepath.Join(s.dir, "setup.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = f, f
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	if err := spawn(cmd); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(cmd.Path), err)
	}
	if err := cmd.Wait(); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(cmd.Path), err)
	}
	return nil
}

// Linux sends the parent-death signal when the *thread* that started the
// child exits, and Go may end threads (a goroutine that exits while locked to
// its thread). Servers are therefore started from one thread that never ends.
var (
	spawnOnce sync.Once
	spawnReq  chan func()
)

func spawn(cmd *exec.Cmd) error {
	spawnOnce.Do(func() {
		spawnReq = make(chan func())
		go func() {
			runtime.LockOSThread()
			for f := range spawnReq {
				f()
			}
		}()
	})
	errc := make(chan error, 1)
	spawnReq <- func() { errc <- cmd.Start() }
	return <-errc
}

// sweepStale removes directories left by test processes that have died (their
// servers died with them, by the parent-death signal). Once per process.
var sweepOnce sync.Once

func sweepStale() {
	sweepOnce.Do(func() {
		dirs, _ := filepath.Glob(filepath.Join(baseDir(), dirPrefix+"*"))
		for _, d := range dirs {
			data, err := os.ReadFile(filepath.Join(d, "owner.pid"))
			if err != nil {
				continue
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
			if err != nil || pid <= 0 || pid == os.Getpid() {
				continue
			}
			if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
				os.RemoveAll(d)
			}
		}
	})
}

// missing reports absent binaries: a skip naming the package, or a failure
// when RequireEnv is set.
func missing(tb testing.TB, what, pkg string) {
	tb.Helper()
	msg := fmt.Sprintf("dbtest: %s not found (Debian: apt-get install %s)", what, pkg)
	if os.Getenv(RequireEnv) == "1" {
		tb.Fatalf("%s; %s=1 requires it", msg, RequireEnv)
	}
	tb.Skipf("%s; skipping (set %s=1 to fail instead)", msg, RequireEnv)
}

// find runs look and skips (or fails) tb when the server is not installed.
func find[T any](tb testing.TB, look func() (T, *MissingError)) T {
	tb.Helper()
	impl, miss := look()
	if miss != nil {
		missing(tb, miss.What, miss.Package)
	}
	return impl
}

// shared holds a process-wide server, started on first use.
type shared struct {
	mu  sync.Mutex
	srv *Server
	err error // a failed start, reported to every later caller
}

func (sh *shared) get(tb testing.TB, start func() (*Server, error)) *Server {
	tb.Helper()
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.srv == nil && sh.err == nil {
		sh.srv, sh.err = start()
	}
	if sh.err != nil {
		tb.Fatal(sh.err)
	}
	return sh.srv
}

func (sh *shared) stop() {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.srv != nil {
		sh.srv.Close()
	}
	sh.srv, sh.err = nil, nil
}

var sharedPG, sharedMaria shared

// Postgres returns the DSN of a fresh database on the process's shared
// PostgreSQL server, starting it on first use.
func Postgres(tb testing.TB) string {
	tb.Helper()
	impl := find(tb, lookPostgres)
	return sharedPG.get(tb, func() (*Server, error) { return newStartedServer(EnginePostgres, impl) }).DSN(tb)
}

// MariaDB returns the DSN of a fresh database on the process's shared MariaDB
// server, starting it on first use.
func MariaDB(tb testing.TB) string {
	tb.Helper()
	impl := find(tb, lookMariaDB)
	return sharedMaria.get(tb, func() (*Server, error) { return newStartedServer(EngineMariaDB, impl) }).DSN(tb)
}

// NewPostgresServer starts a private PostgreSQL server that tb may stop and
// start again; it is stopped and removed at tb's cleanup.
func NewPostgresServer(tb testing.TB) *Server {
	tb.Helper()
	return private(tb, EnginePostgres, find(tb, lookPostgres))
}

// NewMariaDBServer starts a private MariaDB server that tb may stop and start
// again; it is stopped and removed at tb's cleanup.
func NewMariaDBServer(tb testing.TB) *Server {
	tb.Helper()
	return private(tb, EngineMariaDB, find(tb, lookMariaDB))
}

func private(tb testing.TB, kind Engine, impl engine) *Server {
	tb.Helper()
	s, err := newStartedServer(kind, impl)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// StopPostgres stops and removes the shared PostgreSQL server, if started; a
// later Postgres call starts a new one.
func StopPostgres() { sharedPG.stop() }

// StopMariaDB stops and removes the shared MariaDB server, if started.
func StopMariaDB() { sharedMaria.stop() }

// Main runs the tests and then stops the shared servers and removes their
// directories. Use it as TestMain: func TestMain(m *testing.M) { dbtest.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	StopPostgres()
	StopMariaDB()
	os.Exit(code)
}
