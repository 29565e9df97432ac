package dbtest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// postgres runs PostgreSQL's own binaries: initdb once, then postgres in the
// foreground (not pg_ctl, which daemonizes and would escape the parent-death
// signal).
type postgres struct {
	bin  string              // directory holding initdb and postgres
	cred *syscall.Credential // the postgres OS user when we are root
	uid  int                 // owner of the server directory; -1 to keep
	gid  int
}

// pgBinGlob finds Debian's PostgreSQL installations (a variable for tests).
var pgBinGlob = "/usr/lib/postgresql/*/bin"

// lookPostgres locates the binaries (newest /usr/lib/postgresql/N/bin, else
// PATH) and, as root, the postgres OS user.
func lookPostgres() (*postgres, *MissingError) {
	p := &postgres{uid: -1, gid: -1}
	dirs, _ := filepath.Glob(pgBinGlob)
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if isExec(filepath.Join(d, "initdb")) && isExec(filepath.Join(d, "postgres")) {
			p.bin = d
			break
		}
	}
	if p.bin == "" {
		if initdb, err := exec.LookPath("initdb"); err == nil && isExec(filepath.Join(filepath.Dir(initdb), "postgres")) {
			p.bin = filepath.Dir(initdb)
		}
	}
	if p.bin == "" {
		return nil, &MissingError{"PostgreSQL server (initdb, postgres)", "postgresql"}
	}
	if os.Geteuid() == 0 {
		// PostgreSQL refuses to run as root.
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, &MissingError{"OS user postgres (needed to run PostgreSQL as root)", "postgresql"}
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}
		p.uid, p.gid = uid, gid
	}
	return p, nil
}

// pgVersion is N of /usr/lib/postgresql/N/bin.
func pgVersion(binDir string) float64 {
	v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(binDir)), 64)
	return v
}

func isExec(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// cmd builds a command run as the postgres user, with a clean environment so
// the caller's PG* variables do not interfere.
func (p *postgres) cmd(name string, args ...string) *exec.Cmd {
	c := exec.Command(filepath.Join(p.bin, name), args...)
	c.Env = []string{"PATH=/usr/bin:/bin", "LC_ALL=C", "TZ=UTC"}
	c.SysProcAttr = &syscall.SysProcAttr{Credential: p.cred}
	return c
}

func (p *postgres) init(s *Server) error {
	if p.uid >= 0 {
		if err := os.Chown(s.dir, p.uid, p.gid); err != nil {
			return err
		}
	}
	pwfile := filepath.Join(s.dir, "pwfile")
	if err := os.WriteFile(pwfile, []byte(s.password+"\n"), 0o600); err != nil {
		return err
	}
	if p.uid >= 0 {
		if err := os.Chown(pwfile, p.uid, p.gid); err != nil {
			return err
		}
	}
	defer os.Remove(pwfile)
	if err := os.Mkdir(filepath.Join(s.dir, "sock"), 0o700); err != nil {
		return err
	}
	if p.uid >= 0 {
		if err := os.Chown(filepath.Join(s.dir, "sock"), p.uid, p.gid); err != nil {
			return err
		}
	}
	// Password authentication everywhere, so DSNs carry a password as users'
	// do.
	return runLogged(s, p.cmd("initdb",
		"-D", filepath.Join(s.dir, "data"),
		"-U", s.user, "--pwfile="+pwfile, "--auth=scram-sha-256",
		"-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"))
}

func (p *postgres) command(s *Server) *exec.Cmd {
	return p.cmd("postgres",
		"-D", filepath.Join(s.dir, "data"),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "port="+strconv.Itoa(s.port),
		"-c", "unix_socket_directories="+filepath.Join(s.dir, "sock"),
		// Speed over durability: the data is thrown away.
		"-c", "fsync=off",
		"-c", "synchronous_commit=off",
		"-c", "full_page_writes=off",
		"-c", "max_connections=300",
		"-c", "shared_buffers=64MB",
		"-c", "logging_collector=off",
		"-c", "log_min_messages=warning",
		"-c", "log_destination=stderr",
	)
}

func (p *postgres) dsn(s *Server, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(s.user, s.password),
		Host:     fmt.Sprintf("127.0.0.1:%d", s.port),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

func (p *postgres) adminDSN(s *Server) (string, string) {
	return "pgx", p.dsn(s, "postgres")
}

func (p *postgres) createDB(ctx context.Context, s *Server, admin *sql.DB, name string) (string, error) {
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return p.dsn(s, name), nil
}

func (p *postgres) dropDB(ctx context.Context, admin *sql.DB, name string) {
	// FORCE: a test may leave connections open until its own cleanups run.
	admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
}

// SIGINT is PostgreSQL's fast shutdown: clients are disconnected, open
// transactions rolled back.
func (p *postgres) stopSignal() syscall.Signal { return syscall.SIGINT }

func (p *postgres) logFiles(s *Server) []string {
	return []string{filepath.Join(s.dir, "setup.log")}
}
