package store

import (
	"context"
	"database/sql"
	"errors"
	"strings"
	"time"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
)

// Rows per multi-row statement. The driver binds parameters in time
// quadratic in their number per statement, and re-prepares each statement
// on every execution, so a few dozen rows per statement is the sweet spot
// (measured: 16 rows x 15 columns inserts 100k keys ~5x faster than 500 rows).
const (
	insertRowsPerStmt = 16
	updateRowsPerStmt = 32
)

// dbConn is what *sql.DB, *sql.Conn and *sql.Tx offer.
type dbConn interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// bound runs queries written with ? placeholders on its engine (see
// dialect.rebind); on SQLite it passes them through.
type bound struct {
	c dbConn
	d *dialect
}

func (b bound) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return b.c.ExecContext(ctx, b.d.rebind(q), args...)
}

func (b bound) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return b.c.QueryContext(ctx, b.d.rebind(q), args...)
}

func (b bound) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return b.c.QueryRowContext(ctx, b.d.rebind(q), args...)
}

// conn is the store's pool, taking ? placeholders.
func (s *Store) conn() bound { return bound{s.sqlDB, s.d} }

// txAttempts bounds the retries of a transaction that a server aborted to
// break a deadlock (two instances writing the same rows in another order).
const txAttempts = 4

// inTx runs fn in one write transaction (on SQLite BEGIN IMMEDIATE, see
// dsnParams). On a server, a transaction chosen as a deadlock victim is run
// again; fn must not keep state across attempts.
func (s *Store) inTx(ctx context.Context, fn func(tx dbConn) error) (err error) {
	for attempt := 1; ; attempt++ {
		err = s.inTxOnce(ctx, fn)
		if err == nil || s.d.sqlite() || attempt == txAttempts || !retryable(err) || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Duration(attempt) * 10 * time.Millisecond)
	}
}

func (s *Store) inTxOnce(ctx context.Context, fn func(tx dbConn) error) (err error) {
	tx, err := s.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			_ = tx.Rollback()
			panic(p)
		}
	}()
	if err = fn(bound{tx, s.d}); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// retryable tells a server's deadlock or serialization failure.
func retryable(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "40P01" || pe.Code == "40001"
	}
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205 // deadlock, lock wait timeout
	}
	return false
}

// execBulk executes head + "(?,…),(?,…)…" + tail for rows [0, n), rowsPerStmt
// rows per statement, filling the parameters of row i with fill, and returns
// the total of the rows affected.
func execBulk(ctx context.Context, tx dbConn, head string, ncols, rowsPerStmt, n int, tail string,
	fill func(i int, args []any) []any) (int64, error) {
	return execBulkRows(ctx, tx, head, "("+strings.Repeat("?,", ncols-1)+"?)", ",", ncols, rowsPerStmt, n, tail, fill)
}

// execBulkRows is execBulk with rows written as tuple and joined by sep.
func execBulkRows(ctx context.Context, tx dbConn, head, tuple, sep string, ncols, rowsPerStmt, n int, tail string,
	fill func(i int, args []any) []any) (int64, error) {
	if n == 0 {
		return 0, nil
	}
	build := func(rows int) string {
		var b strings.Builder
		b.Grow(len(head) + rows*(len(tuple)+len(sep)) + len(tail))
		b.WriteString(head)
		for j := 0; j < rows; j++ {
			if j > 0 {
				b.WriteString(sep)
			}
			b.WriteString(tuple)
		}
		b.WriteString(tail)
		return b.String()
	}
	full := build(min(rowsPerStmt, n))
	args := make([]any, 0, ncols*rowsPerStmt)
	var total int64
	for start := 0; start < n; start += rowsPerStmt {
		end := min(start+rowsPerStmt, n)
		args = args[:0]
		for i := start; i < end; i++ {
			args = fill(i, args)
		}
		q := full
		if end-start != rowsPerStmt && end-start != n {
			q = build(end - start)
		}
		res, err := tx.ExecContext(ctx, q, args...)
		if err != nil {
			return total, err
		}
		if k, err := res.RowsAffected(); err == nil {
			total += k
		}
	}
	return total, nil
}
