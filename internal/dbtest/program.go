package dbtest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// For programs that are not tests (the benchmark): the same servers, with
// errors instead of testing.TB. The caller owns the Server and must Close it;
// the parent-death signal still stops it if the program dies first.

// MissingError says that a server's binaries (or, for PostgreSQL run as
// root, the postgres OS user) are not installed.
type MissingError struct {
	What    string // what was not found
	Package string // the Debian package that provides it
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("dbtest: %s not found (Debian: apt-get install %s)", e.What, e.Package)
}

// IsMissing reports whether err is (or wraps) a *MissingError.
func IsMissing(err error) bool {
	var m *MissingError
	return errors.As(err, &m)
}

// StartPostgres starts a private PostgreSQL server; Close stops and removes it.
// Without the binaries the error is a *MissingError.
func StartPostgres() (*Server, error) {
	impl, miss := lookPostgres()
	if miss != nil {
		return nil, miss
	}
	return newStartedServer(EnginePostgres, impl)
}

// StartMariaDB starts a private MariaDB server; Close stops and removes it.
// Without the binaries the error is a *MissingError.
func StartMariaDB() (*Server, error) {
	impl, miss := lookMariaDB()
	if miss != nil {
		return nil, miss
	}
	return newStartedServer(EngineMariaDB, impl)
}

// NewDatabase creates a fresh, empty database on the running server, its name
// made from label, and returns its DSN (as DSN does). The database lives until
// the server is closed.
func (s *Server) NewDatabase(label string) (string, error) {
	s.mu.Lock()
	admin := s.admin
	s.mu.Unlock()
	if admin == nil {
		return "", fmt.Errorf("dbtest: %s server is not running", s.engine)
	}
	name := dbName(label)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dsn, err := s.impl.createDB(ctx, s, admin, name)
	if err != nil {
		return "", fmt.Errorf("dbtest: create database %s on %s: %w", name, s.engine, err)
	}
	return dsn, nil
}

// Version is the running server's version, e.g. "15.8 (Debian 15.8-0+deb12u1)"
// or "10.11.6-MariaDB-0+deb12u1".
func (s *Server) Version() (string, error) {
	s.mu.Lock()
	admin := s.admin
	s.mu.Unlock()
	if admin == nil {
		return "", fmt.Errorf("dbtest: %s server is not running", s.engine)
	}
	q := "SELECT VERSION()"
	if s.engine == EnginePostgres {
		q = "SHOW server_version" // version() adds the compiler and platform
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var v string
	if err := admin.QueryRowContext(ctx, q).Scan(&v); err != nil {
		return "", fmt.Errorf("dbtest: %s version: %w", s.engine, err)
	}
	return strings.TrimSpace(v), nil
}
