package store

import (
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"gorm.io/driver/mysql"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
)

// location is what the user wrote after `database`, parsed.
type location struct {
	engine   string
	raw      string // as written (holds the password: never print it)
	shown    string // raw with the password replaced by ***
	password string // "" = none
}

// parseLocation tells a PostgreSQL or MySQL URL from an SQLite path.
func parseLocation(raw string) (*location, error) {
	lower := strings.ToLower(raw)
	var engine string
	switch {
	case strings.HasPrefix(lower, "postgres://"), strings.HasPrefix(lower, "postgresql://"):
		engine = enginePostgres
	case strings.HasPrefix(lower, "mysql://"):
		engine = engineMySQL
	default:
		return &location{engine: engineSQLite, raw: raw, shown: raw}, nil
	}
	loc := &location{engine: engine, raw: raw}
	u, err := url.Parse(raw)
	if err != nil {
		// url's error quotes the input: say nothing of it.
		return nil, fmt.Errorf("store: database URL %s: not a valid URL", RedactDSN(raw))
	}
	if u.User != nil {
		loc.password, _ = u.User.Password()
	}
	for k, vs := range u.Query() {
		if isPasswordParam(k) && len(vs) > 0 && vs[0] != "" && loc.password == "" {
			loc.password = vs[0]
		}
	}
	loc.shown = RedactDSN(raw)
	// PostgreSQL may take the host from ?host= (a socket directory) and
	// the database from the user name; MySQL's URL must name both.
	if engine == engineMySQL && u.Host == "" {
		return nil, fmt.Errorf("store: database URL %s: no host", loc.shown)
	}
	if engine == engineMySQL && strings.Trim(u.Path, "/") == "" {
		return nil, fmt.Errorf("store: database URL %s: no database name", loc.shown)
	}
	return loc, nil
}

func isPasswordParam(k string) bool {
	switch strings.ToLower(k) {
	case "password", "pass", "passwd", "pwd", "sslpassword":
		return true
	}
	return false
}

// RedactDSN returns a database location fit for logs, errors and views: a
// URL's password (in the user info or a password= parameter) is replaced by
// ***; an SQLite path is returned as is.
func RedactDSN(dsn string) string {
	i := strings.Index(dsn, "://")
	if i < 0 {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		// Unparseable: keep the scheme, hide the user info and the query.
		rest := dsn[i+3:]
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			rest = "***@" + rest[at+1:]
		}
		if q := strings.IndexByte(rest, '?'); q >= 0 {
			rest = rest[:q] + "?***"
		}
		return dsn[:i+3] + rest
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "***")
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k := range q {
			if isPasswordParam(k) {
				q[k] = []string{"***"}
			}
		}
		u.RawQuery = q.Encode()
	}
	return strings.Replace(u.String(), "%2A%2A%2A", "***", -1)
}

// redactError hides the password inside a driver error (pgx and the MySQL
// driver may quote the connection string) while errors.Is / As still see
// the original.
type redactError struct {
	msg string
	err error
}

func (e *redactError) Error() string { return e.msg }
func (e *redactError) Unwrap() error { return e.err }

// redact returns err with every form of the password replaced by ***.
func (l *location) redact(err error) error {
	if err == nil || l == nil || l.password == "" {
		return err
	}
	msg := err.Error()
	out := msg
	userinfo := strings.TrimPrefix(url.UserPassword("", l.password).String(), ":")
	for _, form := range []string{l.password, url.QueryEscape(l.password), url.PathEscape(l.password), userinfo} {
		if form != "" {
			out = strings.ReplaceAll(out, form, "***")
		}
	}
	if out == msg {
		return err
	}
	return &redactError{msg: out, err: err}
}

// dialector returns gorm's dialector for a server location, with the *sql.DB
// it opens (nil: gorm opens it).
func (l *location) dialector() (gorm.Dialector, error) {
	switch l.engine {
	case enginePostgres:
		return postgres.New(postgres.Config{DSN: l.raw}), nil
	case engineMySQL:
		cfg, err := mysqlConfig(l.raw)
		if err != nil {
			return nil, err
		}
		conn, err := mysqldrv.NewConnector(cfg)
		if err != nil {
			return nil, l.redact(err)
		}
		return mysql.New(mysql.Config{Conn: sql.OpenDB(conn)}), nil
	}
	return nil, fmt.Errorf("store: no server engine %q", l.engine)
}

// mysqlConfig turns mysql://user:pass@host:port/db?params into the MySQL
// driver's configuration: times as UTC time.Time (parseTime, loc=UTC),
// utf8mb4, parameters interpolated client-side (one round trip per
// statement instead of prepare + execute + close), unless the user's
// parameters say otherwise (parseTime and loc are required).
func mysqlConfig(raw string) (*mysqldrv.Config, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, errors.New("store: MySQL URL: not a valid URL")
	}
	host := u.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		host = net.JoinHostPort(strings.Trim(host, "[]"), "3306")
	}
	params := url.Values{}
	for k, vs := range u.Query() {
		if isPasswordParam(k) || len(vs) == 0 {
			continue
		}
		params.Set(k, vs[len(vs)-1])
	}
	if params.Get("charset") == "" && params.Get("collation") == "" {
		params.Set("charset", "utf8mb4")
	}
	if params.Get("interpolateParams") == "" {
		params.Set("interpolateParams", "true")
	}
	if params.Get("timeout") == "" {
		params.Set("timeout", "10s")
	}
	params.Set("parseTime", "true")
	params.Set("loc", "UTC")
	// The driver's own DSN form, without the password (it takes no escaping
	// there); the password is set on the parsed configuration.
	var b strings.Builder
	if u.User != nil {
		b.WriteString(u.User.Username())
		b.WriteByte('@')
	}
	b.WriteString("tcp(" + host + ")/" + strings.TrimPrefix(u.Path, "/") + "?")
	first := true
	for k, vs := range params {
		if !first {
			b.WriteByte('&')
		}
		first = false
		b.WriteString(k + "=" + url.QueryEscape(vs[0]))
	}
	cfg, err := mysqldrv.ParseDSN(b.String())
	if err != nil {
		return nil, fmt.Errorf("store: MySQL URL %s: %w", RedactDSN(raw), err)
	}
	if u.User != nil {
		cfg.Passwd, _ = u.User.Password()
	}
	if cfg.Passwd == "" {
		for k, vs := range u.Query() {
			if isPasswordParam(k) && len(vs) > 0 {
				cfg.Passwd = vs[0]
			}
		}
	}
	cfg.Loc = time.UTC
	cfg.ParseTime = true
	return cfg, nil
}
