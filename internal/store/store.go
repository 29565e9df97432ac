// Package store is the persistence layer of gemini_balance.
//
// It keeps the API key pool (one row per key), per-pool settings and the
// request / error logs in one database opened through gorm: an SQLite file
// (the pure-Go github.com/glebarez/sqlite driver, no cgo), PostgreSQL (pgx)
// or MySQL / MariaDB (go-sql-driver). Queries are written once; dialect.go
// adapts them, schema.go holds the servers' DDL.
//
// Design rules:
//   - SQLite runs in WAL mode with a busy timeout, so readers never block
//     the writer and concurrent writers wait instead of failing at once.
//   - Request handling never waits on the database: request and error logs are
//     put on a bounded in-memory queue (LogRequest / LogError never block; a
//     full queue drops the row and counts it) and written in batches, one
//     transaction per batch, by a single background goroutine.
//   - A locked, full or vanished database never crashes the process or blocks
//     callers of the log functions: errors are counted, logged at most once per
//     10 s per kind of error, and the writer keeps going. A batch that failed
//     because the database is away is retried with backoff (new rows wait in
//     the bounded queue meanwhile); only rows the database refuses are lost.
//
// All times are stored in UTC.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/glebarez/sqlite"
	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"
	"gorm.io/gorm"
	gormlogger "gorm.io/gorm/logger"
)

// Defaults used by Open.
const (
	DefaultQueueSize     = 10000
	DefaultBusyTimeout   = 5 * time.Second
	DefaultFlushInterval = 500 * time.Millisecond
	DefaultBatchSize     = 500

	// closeTimeout bounds how long Close waits for the queued logs to be
	// written; closeGrace is the extra time given to the writer to notice.
	closeTimeout = 5 * time.Second
	closeGrace   = 250 * time.Millisecond
	// errorLogInterval is the minimum time between two log lines for the same
	// kind of error.
	errorLogInterval = 10 * time.Second
	// maxQueueBytes bounds the memory held by queued log rows (string payload).
	maxQueueBytes = 64 << 20
	// keyBatchSize is the number of ids per DELETE … IN (…) statement and the
	// default batch size of gorm inserts (bulk inserts use bulk.go).
	keyBatchSize = 500
	// maxOpenConns is the size of the connection pool (WAL: many readers, one
	// writer at a time).
	maxOpenConns = 8
	// maxServerConns is the pool size on PostgreSQL and MySQL.
	maxServerConns = 16
)

// ErrClosed is returned by operations on a closed Store.
var ErrClosed = errors.New("store: closed")

// Options tunes OpenWithOptions. Zero values mean the defaults.
type Options struct {
	// QueueSize is the capacity of the log queue in rows (default 10000).
	QueueSize int
	// BusyTimeout is SQLite's busy timeout (default 5 s).
	BusyTimeout time.Duration
	// FlushInterval is the longest time a queued log row waits before its batch
	// is written (default 500 ms).
	FlushInterval time.Duration
	// BatchSize is the number of log rows that triggers an immediate write
	// (default 500).
	BatchSize int
	// Logger receives the store's own diagnostics (nil = no logging).
	Logger *zap.Logger
}

// Store is an open database plus its background log writer. All methods are
// safe for concurrent use.
type Store struct {
	path   string // SQLite: the absolute path; servers: the URL, password hidden
	loc    *location
	d      *dialect
	db     *gorm.DB
	sqlDB  *sql.DB
	logger *zap.Logger

	flushInterval time.Duration
	batchSize     int
	closeTimeout  time.Duration

	// log queue
	mu         sync.RWMutex // guards closed against concurrent enqueues
	closed     bool
	queue      chan logItem
	queueBytes atomic.Int64
	flushCh    chan *flushRequest
	stopCh     chan struct{}
	writerDone chan struct{}
	runCtx     context.Context // cancelled when Close gives up waiting
	cancelRun  context.CancelFunc

	closeOnce sync.Once
	closeErr  error

	// counters
	queued      atomic.Int64
	written     atomic.Int64
	dropped     atomic.Int64
	failedRows  atomic.Int64
	writeErrors atomic.Int64

	errMu       sync.Mutex
	lastErr     string
	lastErrAt   time.Time
	errLastLog  map[string]time.Time
	errSuppress map[string]int
}

// Open opens the database at location, migrates the schema and starts the
// background log writer. queueSize <= 0 means 10000.
//
// location is a postgres:// or postgresql:// URL (PostgreSQL), a
// mysql://user:pass@host:port/db?params URL (MySQL 8, MariaDB 10.11+), or
// else the path of an SQLite file: parent directories are created with 0700
// and the file with 0600, and it runs with WAL + busy timeout. Errors and
// logs never show the password.
func Open(path string, queueSize int, logger *zap.Logger) (*Store, error) {
	return OpenWithOptions(path, Options{QueueSize: queueSize, Logger: logger})
}

// OpenWithOptions is Open with tunables.
func OpenWithOptions(path string, opts Options) (*Store, error) {
	db, sqlDB, loc, shown, err := openDB(path, &opts)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s := &Store{
		path:          shown,
		loc:           loc,
		d:             &dialect{name: loc.engine},
		db:            db,
		sqlDB:         sqlDB,
		logger:        opts.Logger,
		flushInterval: opts.FlushInterval,
		batchSize:     opts.BatchSize,
		closeTimeout:  closeTimeout,
		queue:         make(chan logItem, opts.QueueSize),
		flushCh:       make(chan *flushRequest),
		stopCh:        make(chan struct{}),
		writerDone:    make(chan struct{}),
		runCtx:        runCtx,
		cancelRun:     cancel,
		errLastLog:    make(map[string]time.Time),
		errSuppress:   make(map[string]int),
	}
	go s.writer()
	return s, nil
}

// openDB opens and migrates the database; it fills opts' defaults.
func openDB(path string, opts *Options) (*gorm.DB, *sql.DB, *location, string, error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = DefaultBusyTimeout
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = DefaultFlushInterval
	}
	if opts.BatchSize <= 0 {
		opts.BatchSize = DefaultBatchSize
	}
	if strings.TrimSpace(path) == "" {
		return nil, nil, nil, "", errors.New("store: empty database path")
	}
	loc, err := parseLocation(path)
	if err != nil {
		return nil, nil, nil, "", err
	}
	if loc.engine != engineSQLite {
		db, sqlDB, err := openServer(loc)
		return db, sqlDB, loc, loc.shown, err
	}
	if strings.ContainsAny(path, "?#") || strings.HasPrefix(path, "file:") || path == ":memory:" {
		return nil, nil, nil, "", fmt.Errorf("store: unsupported database path %q (must be a plain file path without '?' or '#')", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, nil, nil, "", fmt.Errorf("store: resolve path: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o700); err != nil {
		return nil, nil, nil, "", fmt.Errorf("store: create directory: %w", err)
	}
	// Create the file ourselves so that it (and the -wal/-shm files, which
	// SQLite creates with the database file's mode) is private: it holds keys.
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, nil, nil, "", fmt.Errorf("store: create database file: %w", err)
	}
	fi, statErr := f.Stat()
	_ = f.Close()
	if statErr == nil && fi.Mode().Perm()&0o077 != 0 {
		opts.Logger.Warn("database file is readable by group/others; it contains API keys",
			zap.String("path", abs), zap.String("mode", fi.Mode().Perm().String()))
	}

	dsn := abs + "?" + dsnParams(opts.BusyTimeout)
	// Two processes opening a new file at once race to switch it to WAL, and
	// SQLite answers the loser SQLITE_BUSY at once, without its busy timeout:
	// try again for as long as that timeout.
	var db *gorm.DB
	for deadline := time.Now().Add(opts.BusyTimeout); ; time.Sleep(20 * time.Millisecond) {
		db, err = gorm.Open(sqlite.Open(dsn), &gorm.Config{
			Logger:                 gormlogger.Discard,
			SkipDefaultTransaction: true,
			NowFunc:                func() time.Time { return time.Now().UTC() },
			CreateBatchSize:        keyBatchSize,
		})
		if err == nil || !strings.Contains(err.Error(), "SQLITE_BUSY") || time.Now().After(deadline) {
			break
		}
		if db != nil { // gorm keeps the pool it could not ping
			if failed, derr := db.DB(); derr == nil {
				_ = failed.Close()
			}
		}
	}
	if err != nil {
		return nil, nil, nil, "", fmt.Errorf("store: open %s: %w", abs, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, nil, nil, "", fmt.Errorf("store: open %s: %w", abs, err)
	}
	sqlDB.SetMaxOpenConns(maxOpenConns)
	sqlDB.SetMaxIdleConns(maxOpenConns)

	var mode string
	if err := db.Raw("PRAGMA journal_mode").Scan(&mode).Error; err != nil {
		_ = sqlDB.Close()
		return nil, nil, nil, "", fmt.Errorf("store: open %s: %w", abs, err)
	}
	if !strings.EqualFold(mode, "wal") {
		_ = sqlDB.Close()
		return nil, nil, nil, "", fmt.Errorf("store: open %s: journal_mode is %q, want wal", abs, mode)
	}
	err = migrate(db, sqlDB, &dialect{name: engineSQLite})
	if err != nil && strings.Contains(err.Error(), "already exists") {
		// Another process created the same table meanwhile (gorm's
		// AutoMigrate checks, then creates): the second pass finds it.
		err = migrate(db, sqlDB, &dialect{name: engineSQLite})
	}
	if err != nil {
		_ = sqlDB.Close()
		return nil, nil, nil, "", fmt.Errorf("store: migrate %s: %w", abs, err)
	}

	return db, sqlDB, loc, abs, nil
}

// walAutocheckpoint is the WAL size, in pages, at which a commit copies the
// WAL back into the database. SQLite's default, 1,000 pages (4 MB), made the
// log writer checkpoint every other batch, copying the same hot pages (the
// tables' and indexes' last pages) again and again: at 10,000 pages (a WAL file
// of up to 40 MB) each is copied once per checkpoint and a request-log row
// costs about 15 % less CPU (BenchmarkWriteRequestLogs).
const walAutocheckpoint = 10000

// dsnParams are the connection parameters applied to every pooled connection.
// _txlock=immediate makes write transactions take the write lock at BEGIN,
// where the busy timeout applies (a deferred transaction that upgrades from
// read to write can fail with SQLITE_BUSY without waiting).
func dsnParams(busy time.Duration) string {
	return fmt.Sprintf("_pragma=busy_timeout(%d)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=temp_store(MEMORY)&_pragma=wal_autocheckpoint(%d)&_txlock=immediate",
		busy.Milliseconds(), walAutocheckpoint)
}

// openServer opens a PostgreSQL or MySQL database and migrates it. Its
// errors carry the location with the password hidden.
func openServer(loc *location) (*gorm.DB, *sql.DB, error) {
	fail := func(what string, err error) error {
		return fmt.Errorf("store: %s %s: %w", what, loc.shown, loc.redact(err))
	}
	dial, err := loc.dialector()
	if err != nil {
		return nil, nil, fail("open", err)
	}
	db, err := gorm.Open(dial, &gorm.Config{
		Logger:                 gormlogger.Discard,
		SkipDefaultTransaction: true,
		NowFunc:                func() time.Time { return time.Now().UTC() },
		CreateBatchSize:        keyBatchSize,
	})
	if err != nil {
		return nil, nil, fail("open", err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, nil, fail("open", err)
	}
	sqlDB.SetMaxOpenConns(maxServerConns)
	sqlDB.SetMaxIdleConns(maxServerConns)
	// A server may drop idle connections; recycle them before it does.
	sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(ctx); err != nil {
		_ = sqlDB.Close()
		return nil, nil, fail("open", err)
	}
	if err := migrate(db, sqlDB, &dialect{name: loc.engine}); err != nil {
		_ = sqlDB.Close()
		return nil, nil, fail("migrate", err)
	}
	return db, sqlDB, nil
}

// Path returns where the database is: the absolute path of an SQLite file,
// or a server's URL with its password replaced by ***. It is safe to show.
func (s *Store) Path() string { return s.path }

// Location is Path.
func (s *Store) Location() string { return s.path }

// Engine is "sqlite", "postgres" or "mysql".
func (s *Store) Engine() string { return s.d.name }

// DB returns the underlying gorm handle, for queries this package does not
// provide yet. Do not close it.
func (s *Store) DB() *gorm.DB { return s.db }

// Ping runs a cheap query that touches the database file (for /health).
func (s *Store) Ping(ctx context.Context) error {
	if s.isClosed() {
		return ErrClosed
	}
	var n int
	row := s.sqlDB.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM gb_settings LIMIT 1) AS t")
	if err := row.Scan(&n); err != nil {
		return fmt.Errorf("store: ping: %w", s.loc.redact(err))
	}
	return nil
}

// Close stops the log writer after writing what is queued (giving up after
// 5 s; rows not written by then are counted in Stats.FailedRows) and closes the
// database. It is safe to call more than once; later calls return the result
// of the first.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		close(s.stopCh)

		t := time.NewTimer(s.closeTimeout)
		select {
		case <-s.writerDone:
			t.Stop()
		case <-t.C:
			// Interrupt the statement in flight (if the driver can) and stop
			// draining. A writer stuck in a busy wait that cannot be
			// interrupted ends on its own within the busy timeout; the
			// database is closed under it.
			s.cancelRun()
			t.Reset(closeGrace)
			select {
			case <-s.writerDone:
			case <-t.C:
				s.logger.Warn("log writer did not stop in time; closing the database anyway",
					zap.String("path", s.path), zap.Int("pending", len(s.queue)))
			}
			t.Stop()
		}
		s.cancelRun()
		s.closeErr = s.sqlDB.Close()
	})
	return s.closeErr
}

func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}

// Stats are the counters of the log pipeline.
type Stats struct {
	Queued      int64     // rows accepted into the queue since Open
	Written     int64     // rows written to the database
	Dropped     int64     // rows refused because the queue was full (or the store closed)
	WriteErrors int64     // failed write attempts (their rows are retried unless refused)
	LastError   string    // last write error
	LastErrorAt time.Time // when it happened (zero = never)
	Pending     int64     // rows accepted but not written yet (queued, or held for a retry)
	FailedRows  int64     // rows lost: refused by the database, or unwritten when Close gave up
}

// Stats returns a snapshot of the log pipeline counters.
func (s *Store) Stats() Stats {
	st := Stats{
		Queued:      s.queued.Load(),
		Written:     s.written.Load(),
		Dropped:     s.dropped.Load(),
		WriteErrors: s.writeErrors.Load(),
		FailedRows:  s.failedRows.Load(),
	}
	// Loaded after the others: every queued row is written, failed or pending.
	st.Pending = max(s.queued.Load()-st.Written-st.FailedRows, 0)
	s.errMu.Lock()
	st.LastError = s.lastErr
	st.LastErrorAt = s.lastErrAt
	s.errMu.Unlock()
	return st
}

// reportError logs err at most once per errorLogInterval for each (op, class)
// pair, with the number of occurrences suppressed in between.
func (s *Store) reportError(op string, err error, fields ...zap.Field) {
	kind := op + "/" + classifyError(err)
	now := time.Now()
	s.errMu.Lock()
	last, seen := s.errLastLog[kind]
	if seen && now.Sub(last) < errorLogInterval {
		s.errSuppress[kind]++
		s.errMu.Unlock()
		return
	}
	suppressed := s.errSuppress[kind]
	s.errLastLog[kind] = now
	s.errSuppress[kind] = 0
	s.errMu.Unlock()

	fields = append(fields,
		zap.String("op", op),
		zap.String("kind", classifyError(err)),
		zap.String("path", s.path),
		zap.Error(s.loc.redact(err)))
	if suppressed > 0 {
		fields = append(fields, zap.Int("suppressed", suppressed))
	}
	s.logger.Error("database error", fields...)
}

// noteWriteError records err as the last write error.
func (s *Store) noteWriteError(err error) {
	s.errMu.Lock()
	s.lastErr = s.loc.redact(err).Error()
	s.lastErrAt = time.Now().UTC()
	s.errMu.Unlock()
}

// classifyError maps an error to a short kind used for rate limiting and logs.
func classifyError(err error) string {
	if err == nil {
		return "none"
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return "canceled"
	}
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, ErrClosed) || strings.Contains(err.Error(), "database is closed") {
		return "closed"
	}
	if kind := classifyServerError(err); kind != "" {
		return kind
	}
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		switch coded.Code() & 0xff {
		case 5: // SQLITE_BUSY
			return "locked"
		case 6: // SQLITE_LOCKED
			return "locked"
		case 7: // SQLITE_NOMEM
			return "nomem"
		case 8: // SQLITE_READONLY
			return "readonly"
		case 9: // SQLITE_INTERRUPT
			return "canceled"
		case 10: // SQLITE_IOERR
			return "ioerr"
		case 11, 26: // SQLITE_CORRUPT, SQLITE_NOTADB
			return "corrupt"
		case 13: // SQLITE_FULL
			return "full"
		case 14: // SQLITE_CANTOPEN
			return "cantopen"
		}
	}
	return "other"
}

// classifyServerError classifies the errors of PostgreSQL, MySQL and of the
// network between ("" = none of those).
func classifyServerError(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case pe.Code == "40P01" || pe.Code == "40001" || pe.Code == "55P03":
			return "locked"
		case pe.Code == "53100":
			return "full"
		case pe.Code == "53200":
			return "nomem"
		case pe.Code == "25006":
			return "readonly"
		case pe.Code == "57014":
			return "canceled"
		case strings.HasPrefix(pe.Code, "08"), strings.HasPrefix(pe.Code, "57P"), strings.HasPrefix(pe.Code, "53"):
			return "unavailable" // connection failures, server shutting down, too many connections
		case strings.HasPrefix(pe.Code, "XX"):
			return "corrupt"
		}
		return ""
	}
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1205, 1213:
			return "locked"
		case 1114, 1021:
			return "full"
		case 1290, 1792:
			return "readonly"
		case 1317:
			return "canceled"
		case 1040, 1053, 1927, 2002, 2003, 2006, 2013:
			return "unavailable"
		}
		return ""
	}
	var ce *pgconn.ConnectError
	var ne net.Error
	if errors.As(err, &ce) || errors.As(err, &ne) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, mysqldrv.ErrInvalidConn) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.ErrUnexpectedEOF) {
		return "unavailable"
	}
	return ""
}
