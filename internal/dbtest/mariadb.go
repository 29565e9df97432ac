package dbtest

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/go-sql-driver/mysql"
)

// mariadb runs mariadb-install-db once, then mariadbd in the foreground.
type mariadb struct {
	installDB string
	server    string
	root      bool // run with --user=root
}

// lookMariaDB locates the binaries on PATH or in /usr/sbin and /usr/bin.
func lookMariaDB() (*mariadb, *MissingError) {
	m := &mariadb{
		installDB: lookBin("mariadb-install-db", "mysql_install_db"),
		server:    lookBin("mariadbd", "mysqld"),
		root:      os.Geteuid() == 0,
	}
	if m.installDB == "" || m.server == "" {
		return nil, &MissingError{"MariaDB server (mariadbd, mariadb-install-db)", "mariadb-server"}
	}
	return m, nil
}

// binDirs are searched after PATH (a variable for tests).
var binDirs = []string{"/usr/sbin", "/usr/bin"}

// lookBin finds the first of names on PATH, /usr/sbin or /usr/bin.
func lookBin(names ...string) string {
	for _, n := range names {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
		for _, d := range binDirs {
			if p := filepath.Join(d, n); isExec(p) {
				return p
			}
		}
	}
	return ""
}

func (m *mariadb) userArgs() []string {
	if m.root {
		return []string{"--user=root"}
	}
	return nil
}

func (m *mariadb) init(s *Server) error {
	for _, d := range []string{"data", "tmp"} {
		if err := os.Mkdir(filepath.Join(s.dir, d), 0o700); err != nil {
			return err
		}
	}
	// The user with a password is created at every start by an init file
	// (idempotent), so it does not depend on how root may log in.
	init := fmt.Sprintf("CREATE USER IF NOT EXISTS '%s'@'%%' IDENTIFIED BY '%s';\n"+
		"GRANT ALL PRIVILEGES ON *.* TO '%s'@'%%' WITH GRANT OPTION;\n",
		s.user, s.password, s.user)
	if err := os.WriteFile(filepath.Join(s.dir, "init.sql"), []byte(init), 0o600); err != nil {
		return err
	}
	args := append([]string{"--no-defaults"}, m.userArgs()...)
	args = append(args,
		"--datadir="+filepath.Join(s.dir, "data"),
		"--auth-root-authentication-method=normal",
		"--skip-test-db",
		"--skip-name-resolve",
		"--tmpdir="+filepath.Join(s.dir, "tmp"),
	)
	// Without --no-defaults the server below would read /etc/mysql; the
	// installer needs the same for its bootstrap server.
	args = append(args, "--innodb-flush-log-at-trx-commit=0", "--innodb-doublewrite=0")
	c := exec.Command(m.installDB, args...)
	c.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "TZ=UTC"}
	return runLogged(s, c)
}

func (m *mariadb) command(s *Server) *exec.Cmd {
	args := append([]string{"--no-defaults"}, m.userArgs()...)
	args = append(args,
		"--datadir="+filepath.Join(s.dir, "data"),
		"--tmpdir="+filepath.Join(s.dir, "tmp"),
		"--port="+strconv.Itoa(s.port),
		"--bind-address=127.0.0.1",
		"--socket="+filepath.Join(s.dir, "mariadbd.sock"),
		"--pid-file="+filepath.Join(s.dir, "mariadbd.pid"),
		"--log-error="+filepath.Join(s.dir, "mariadbd.err"),
		"--init-file="+filepath.Join(s.dir, "init.sql"),
		"--skip-name-resolve",
		"--skip-log-bin",
		"--max-connections=300",
		"--character-set-server=utf8mb4",
		"--collation-server=utf8mb4_unicode_ci",
		// Speed over durability: the data is thrown away.
		"--innodb-flush-log-at-trx-commit=0",
		"--innodb-doublewrite=0",
		"--innodb-buffer-pool-size=128M",
		"--innodb-log-file-size=64M",
		"--performance-schema=OFF",
	)
	c := exec.Command(m.server, args...)
	c.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "TZ=UTC"}
	return c
}

func (m *mariadb) url(s *Server, db string) string {
	u := url.URL{
		Scheme: "mysql",
		User:   url.UserPassword(s.user, s.password),
		Host:   fmt.Sprintf("127.0.0.1:%d", s.port),
		Path:   "/" + db,
	}
	return u.String()
}

func (m *mariadb) adminDSN(s *Server) (string, string) {
	c := mysql.NewConfig()
	c.User, c.Passwd = s.user, s.password
	c.Net, c.Addr = "tcp", fmt.Sprintf("127.0.0.1:%d", s.port)
	return "mysql", c.FormatDSN()
}

func (m *mariadb) createDB(ctx context.Context, s *Server, admin *sql.DB, name string) (string, error) {
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+" CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"); err != nil {
		return "", err
	}
	return m.url(s, name), nil
}

func (m *mariadb) dropDB(ctx context.Context, admin *sql.DB, name string) {
	// A short lock wait: a connection the test left open in a transaction
	// must not hang its cleanup; the database then goes with the server.
	conn, err := admin.Conn(ctx)
	if err != nil {
		return
	}
	defer conn.Close()
	conn.ExecContext(ctx, "SET SESSION lock_wait_timeout = 2")
	conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name)
}

// SIGTERM is mariadbd's normal shutdown.
func (m *mariadb) stopSignal() syscall.Signal { return syscall.SIGTERM }

func (m *mariadb) logFiles(s *Server) []string {
	return []string{filepath.Join(s.dir, "setup.log"), filepath.Join(s.dir, "mariadbd.err")}
}
