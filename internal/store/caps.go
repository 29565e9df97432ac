package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Row caps of the log tables (request_log_max_rows, error_log_max_rows).
//
// A cap keeps the newest maxRows rows of one pool and deletes the older ones,
// oldest first, in id (insertion) order. It is meant to run often (the
// balancer's upkeep calls it every minute), so it first answers from bounds
// that cost an index lookup or two:
//
//  1. max(id) - min(id) + 1 of the whole table bounds every pool's rows: at or
//     under the cap, nothing to do (two primary-key lookups).
//  2. The pool's exact number of rows: for request logs the sum of the live
//     counters of the pool's rollups (a few hundred rollup rows), for error
//     logs a count over the (pool, time) index.
//  3. The cutoff: the id of the excess-th oldest row of the pool. Rows with
//     ids up to it are deleted, in chunks of capChunk rows, one short write
//     transaction each, like the retention purge.
//
// Deleting up to a cutoff id, not "excess rows", keeps two instances capping
// one pool at once from deleting twice as much: both find about the same
// cutoff, and a chunk the other deleted already deletes nothing (and, with
// lockRows, takes nothing from the rollups).
//
// The request-log rollups lose the rows from their live counters only (as
// with the retention purge): count, which the dashboard's day, month, trend
// and top figures read, still counts them until PurgeRollups ages the bucket
// out. UsageStats' exact minute and hour windows read the rows themselves, so
// a cap below an hour of traffic shortens those.

// capChunk is the number of rows deleted per transaction.
var capChunk = purgeChunk // a variable for the tests

// poolCond matches the rows of one pool in a way no engine answers from an
// index on pool: each cap query walks ids in order from the oldest, and the
// engines' planners (SQLite's without statistics above all) would otherwise
// read every row of the pool in a pool index and sort them by id first.
const poolCond = `(CASE WHEN pool = ? THEN 1 ELSE 0 END) = 1`

// CapRequestLogs deletes the pool's oldest request logs beyond the newest
// maxRows and returns how many it deleted; maxRows <= 0 keeps them all.
func (s *Store) CapRequestLogs(ctx context.Context, pool string, maxRows int64) (int64, error) {
	n, err := s.capLogs(ctx, "gb_request_logs", pool, maxRows)
	if err != nil {
		return n, fmt.Errorf("store: cap request logs: %w", err)
	}
	return n, nil
}

// CapErrorLogs is CapRequestLogs for the error logs.
func (s *Store) CapErrorLogs(ctx context.Context, pool string, maxRows int64) (int64, error) {
	n, err := s.capLogs(ctx, "gb_error_logs", pool, maxRows)
	if err != nil {
		return n, fmt.Errorf("store: cap error logs: %w", err)
	}
	return n, nil
}

func (s *Store) capLogs(ctx context.Context, table, pool string, maxRows int64) (int64, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	if maxRows <= 0 {
		return 0, nil
	}
	db := s.db.WithContext(ctx)
	var lo, hi sql.NullInt64
	// Two subqueries: SQLite answers min or max from the primary key only
	// when it is the query's one aggregate (both at once scan the table).
	if err := db.Raw("SELECT (SELECT min(id) FROM "+table+"), (SELECT max(id) FROM "+table+")").Row().Scan(&lo, &hi); err != nil {
		return 0, err
	}
	if !lo.Valid || hi.Int64-lo.Int64+1 <= maxRows {
		return 0, nil
	}
	// The count and the cutoff must come from one snapshot: read apart, a
	// chunk another capper deletes in between moves the cutoff up by a chunk
	// and the pool keeps fewer than maxRows rows.
	var cutoff sql.NullInt64
	err := s.readSnapshot(ctx, func(q querier) error {
		rows, err := poolRows(ctx, q, table, pool)
		if err != nil || rows <= maxRows {
			return err
		}
		// The newest maxRows rows have ids above the cutoff.
		err = q.QueryRowContext(ctx, "SELECT id FROM "+table+" WHERE "+poolCond+" ORDER BY id LIMIT 1 OFFSET ?",
			pool, rows-maxRows-1).Scan(&cutoff)
		if errors.Is(err, sql.ErrNoRows) {
			return nil // fewer rows than the live counters say: nothing to do
		}
		return err
	})
	if err != nil || !cutoff.Valid {
		return 0, err
	}
	return s.deleteUpTo(ctx, table, pool, cutoff.Int64)
}

// poolRows is the exact number of the pool's rows in table.
func poolRows(ctx context.Context, q querier, table, pool string) (int64, error) {
	var n sql.NullInt64
	query := "SELECT count(*) FROM " + table + " WHERE pool = ?"
	if table == "gb_request_logs" {
		// The live counters count the rows stored (see rollups.go); the
		// pool-wide dimension has a row per hour and status only.
		query = "SELECT sum(live) FROM " + rollupTable + " WHERE pool = ? AND dim = ''"
	}
	err := q.QueryRowContext(ctx, query, pool).Scan(&n)
	return n.Int64, err
}

// deleteUpTo deletes the pool's rows with ids up to cutoff, oldest first, in
// transactions of at most capChunk rows.
func (s *Store) deleteUpTo(ctx context.Context, table, pool string, cutoff int64) (int64, error) {
	var total, last int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		// The next chunk, read without the write lock.
		var ids []int64
		err := s.db.WithContext(ctx).Raw("SELECT id FROM "+table+" WHERE "+poolCond+" AND id > ? AND id <= ? ORDER BY id LIMIT ?",
			pool, last, cutoff, capChunk).Scan(&ids).Error
		if err != nil || len(ids) == 0 {
			return total, err
		}
		cond := poolCond + " AND id >= ? AND id <= ?"
		args := []any{pool, ids[0], ids[len(ids)-1]}
		var n int64
		err = s.inTx(ctx, func(tx dbConn) error {
			if table == "gb_request_logs" {
				if err := s.lockRows(ctx, tx, table, cond, args); err != nil {
					return err
				}
				// As the retention purge: the rows leave live, not count.
				if err := applyRollupsFromRows(ctx, tx, s.d, cond, args, 0, -1); err != nil {
					return err
				}
			}
			res, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE "+cond, args...)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, err
		}
		total += n
		last = ids[len(ids)-1]
		if len(ids) < capChunk {
			return total, nil
		}
	}
}

// lockRows takes the write locks of the rows matching cond before their
// rollups are read, on a server: there a transaction sees rows that another
// one is deleting, and two cappers (two instances of one pool) would both
// take them from the live counters. Waiting for the lock, the second sees
// them gone. SQLite's write lock serializes whole transactions already.
func (s *Store) lockRows(ctx context.Context, tx dbConn, table, cond string, args []any) error {
	if s.d.sqlite() {
		return nil
	}
	rows, err := tx.QueryContext(ctx, "SELECT id FROM "+table+" WHERE "+cond+" FOR UPDATE", args...)
	if err != nil {
		return err
	}
	for rows.Next() { // the locks are what is wanted, not the ids
	}
	rows.Close()
	return rows.Err()
}
