package store

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Hourly rollups of the request logs.
//
// gb_request_rollups holds, per pool and UTC hour, the number of request-log
// rows by status along three dimensions (dim):
//
//	dim ""      name ""             the whole pool
//	dim "model" name = model        per model
//	dim "token" name = client token per (masked) client token
//	dim "key"   name = key id       per key
//
// Its primary key (pool, dim, hour, name, status) makes every statistics
// query a short primary-key range, and keeps the buckets the writer touches
// (the current hour's) together. The index (pool, dim, name, hour) finds one
// key's (or model's) hours; it gets an entry only when a bucket is new, so
// the writer pays for it once per key and hour, not per row.
//
// The "key" dimension replaces an index (pool, key_id, time) of the request
// logs: with key ids spread over the whole index, every row landed on a page
// of its own, about two thirds of the writer's CPU per row
// (BenchmarkWriteRequestLogsWithout). Calls per key and a key's hours are
// read from here; a key's rows are read through (pool, time), within the
// hours that hold them (QueryRequestLogs).
//
// gb_key_error_rollups holds, per pool, non-2xx status, key id and hour, the
// number of such answers. Its primary key (pool, status, key_id, hour) lets
// the top keys for a status be aggregated in key order without a sort (the
// per-key GROUP BY over raw rows was the most expensive part of UsageStats).
// 2xx rows are left out of this one (the "key" dimension above counts them).
//
// Each bucket of both tables has two counters:
//
//	count  rows written, minus rows deleted explicitly (DeleteRequestLogs).
//	       It survives the retention purge, so statistics can cover more
//	       than the retention of the raw rows; PurgeRollups ages it out.
//	live   rows currently stored: count minus the rows removed by
//	       PurgeRequestLogs. It makes exact page totals cheap (QueryRequestLogs).
//
// Both are maintained in the same transaction as the change to the rows:
// the log writer (writeBatch), SeedRequestLogs, PurgeRequestLogs and
// DeleteRequestLogs. An existing database is backfilled once, when a table
// is created.
const (
	rollupTable    = "gb_request_rollups"
	keyRollupTable = "gb_key_error_rollups"
	dimTotal       = ""
	dimModel       = "model"
	dimToken       = "token"
	dimKey         = "key"
	hourSeconds    = int64(3600)
)

// rollupTables are the rollup tables and their definitions on SQLite (the
// servers' are in schema.go).
var rollupTables = []struct{ name, create string }{
	{rollupTable, `CREATE TABLE IF NOT EXISTS gb_request_rollups (
 pool TEXT NOT NULL,
 dim TEXT NOT NULL,
 hour INTEGER NOT NULL,
 name TEXT NOT NULL,
 status INTEGER NOT NULL,
 count INTEGER NOT NULL DEFAULT 0,
 live INTEGER NOT NULL DEFAULT 0,
 PRIMARY KEY (pool, dim, hour, name, status)
) WITHOUT ROWID`},
	{keyRollupTable, `CREATE TABLE IF NOT EXISTS gb_key_error_rollups (
 pool TEXT NOT NULL,
 status INTEGER NOT NULL,
 key_id TEXT NOT NULL,
 hour INTEGER NOT NULL,
 count INTEGER NOT NULL DEFAULT 0,
 live INTEGER NOT NULL DEFAULT 0,
 PRIMARY KEY (pool, status, key_id, hour)
) WITHOUT ROWID`},
}

// rollupNameIndex finds one name's buckets of a dimension (a key's hours).
var rollupNameIndex = indexDef{name: "idx_gb_request_rollups_name", cols: "pool, dim, name, hour"}

// backfillKeyRollups fills the rollups' "key" dimension from the stored
// request logs when it has no bucket but there are logs: a database of a
// version before that dimension (whose request logs had a key index instead).
// It runs once, at migration; instances of an earlier version must not write
// to the database afterwards, or their rows are missing from the key counts.
func backfillKeyRollups(ctx context.Context, conn *sql.Conn, d *dialect) error {
	// The check runs in the write transaction: an instance opening the same
	// SQLite file at once waits for it instead of failing on a stale read.
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("backfill key rollups: %w", err)
	}
	defer tx.Rollback()
	var keyBuckets, logs int
	err = tx.QueryRowContext(ctx, `SELECT
 (SELECT count(*) FROM (SELECT 1 AS one FROM gb_request_rollups WHERE dim = 'key' LIMIT 1) AS k),
 (SELECT count(*) FROM (SELECT 1 AS one FROM gb_request_logs LIMIT 1) AS l)`).Scan(&keyBuckets, &logs)
	if err == nil && keyBuckets == 0 && logs > 0 {
		_, err = tx.ExecContext(ctx, `INSERT INTO gb_request_rollups (pool, dim, hour, name, status, count, live)
SELECT pool, 'key', `+d.hourExpr("time")+`, key_id, status, count(*), count(*) FROM gb_request_logs GROUP BY 1, 3, 4, 5`)
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		return fmt.Errorf("backfill key rollups: %w", err)
	}
	return nil
}

// rollupSQL returns the statements that add countSign / liveSign times the
// rollups of the request-log rows matching where (a condition on
// gb_request_logs, with positional parameters) to the rollup tables, keyed by
// table name. It is SQLite's form (MATERIALIZED, the upsert of an
// INSERT … SELECT); the servers aggregate in Go (rollupsFromRows).
func rollupSQL(d *dialect, where string, countSign, liveSign int) map[string]string {
	hourExprSQL := d.hourExpr("time")
	times := func(sign int, n string) string {
		switch sign {
		case 0:
			return "0"
		case 1:
			return n
		default:
			return fmt.Sprintf("%d * %s", sign, n)
		}
	}
	cs, ls := times(countSign, "sum(c)"), times(liveSign, "sum(c)")
	return map[string]string{
		rollupTable: `WITH agg AS MATERIALIZED (
 SELECT pool, ` + hourExprSQL + ` AS hour, model, client_token, key_id, status, count(*) AS c
 FROM gb_request_logs NOT INDEXED WHERE ` + where + ` GROUP BY 1, 2, 3, 4, 5, 6)
INSERT INTO gb_request_rollups (pool, dim, hour, name, status, count, live)
SELECT pool, '', hour, '', status, ` + cs + `, ` + ls + ` FROM agg WHERE true GROUP BY pool, hour, status
UNION ALL SELECT pool, 'model', hour, model, status, ` + cs + `, ` + ls + ` FROM agg WHERE true GROUP BY pool, hour, model, status
UNION ALL SELECT pool, 'token', hour, client_token, status, ` + cs + `, ` + ls + ` FROM agg WHERE true GROUP BY pool, hour, client_token, status
UNION ALL SELECT pool, 'key', hour, key_id, status, ` + cs + `, ` + ls + ` FROM agg WHERE true GROUP BY pool, hour, key_id, status
` + d.addCounts(rollupTable, "pool, dim, hour, name, status"),
		keyRollupTable: `INSERT INTO gb_key_error_rollups (pool, status, key_id, hour, count, live)
SELECT pool, status, key_id, ` + hourExprSQL + `, ` + times(countSign, "count(*)") + `, ` + times(liveSign, "count(*)") + `
FROM gb_request_logs NOT INDEXED WHERE (` + where + `) AND NOT (status >= 200 AND status <= 299) GROUP BY 1, 2, 3, 4
` + d.addCounts(keyRollupTable, "pool, status, key_id, hour"),
	}
}

// applyRollupsFromRows adds the rollups of the rows matching where (see
// rollupSQL) to both rollup tables. Run it in the transaction that changes
// the rows: before a delete, after an insert.
func applyRollupsFromRows(ctx context.Context, tx dbConn, d *dialect, where string, args []any, countSign, liveSign int) error {
	if !d.sqlite() {
		delta, err := rollupsFromRows(ctx, tx, d, where, args)
		if err != nil {
			return err
		}
		return delta.upsert(ctx, tx, d, countSign, liveSign)
	}
	stmts := rollupSQL(d, where, countSign, liveSign)
	for _, table := range []string{rollupTable, keyRollupTable} {
		if _, err := tx.ExecContext(ctx, stmts[table], args...); err != nil {
			return err
		}
	}
	return nil
}

// rollupsFromRows reads the rollups of the request-log rows matching where,
// aggregated by the database.
func rollupsFromRows(ctx context.Context, tx dbConn, d *dialect, where string, args []any) (*rollupDelta, error) {
	delta := newRollupDelta()
	hour := d.hourExpr("time")
	rows, err := tx.QueryContext(ctx, `SELECT pool, `+hour+`, model, client_token, key_id, status, count(*)
 FROM gb_request_logs WHERE `+where+` GROUP BY 1, 2, 3, 4, 5, 6`, args...)
	if err != nil {
		return nil, err
	}
	for rows.Next() {
		var pool, model, token, keyID string
		var h, n int64
		var status int
		if err := rows.Scan(&pool, &h, &model, &token, &keyID, &status, &n); err != nil {
			rows.Close()
			return nil, err
		}
		delta.all[rollupKey{pool, dimTotal, h, "", status}] += n
		delta.all[rollupKey{pool, dimModel, h, model, status}] += n
		delta.all[rollupKey{pool, dimToken, h, token, status}] += n
		delta.all[rollupKey{pool, dimKey, h, keyID, status}] += n
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = tx.QueryContext(ctx, `SELECT pool, status, key_id, `+hour+`, count(*)
 FROM gb_request_logs WHERE (`+where+`) AND NOT (status >= 200 AND status <= 299) GROUP BY 1, 2, 3, 4`, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var k keyRollupKey
		var n int64
		if err := rows.Scan(&k.pool, &k.status, &k.keyID, &k.hour, &n); err != nil {
			return nil, err
		}
		delta.keys[k] += n
	}
	return delta, rows.Err()
}

// rollupKey identifies one bucket of gb_request_rollups.
type rollupKey struct {
	pool   string
	dim    string
	hour   int64
	name   string
	status int
}

// keyRollupKey identifies one bucket of gb_key_error_rollups.
type keyRollupKey struct {
	pool   string
	status int
	keyID  string
	hour   int64
}

// rollupDelta accumulates the rollups of a batch of rows.
type rollupDelta struct {
	all  map[rollupKey]int64
	keys map[keyRollupKey]int64
}

func newRollupDelta() *rollupDelta {
	return &rollupDelta{all: make(map[rollupKey]int64), keys: make(map[keyRollupKey]int64)}
}

// hourOf returns the start of t's UTC hour in unix seconds.
func hourOf(t time.Time) int64 {
	u := t.Unix()
	h := u - u%hourSeconds
	if u < 0 && u%hourSeconds != 0 {
		h -= hourSeconds
	}
	return h
}

// add counts row r.
func (d *rollupDelta) add(r *requestLogRow) {
	h := hourOf(r.Time)
	d.all[rollupKey{r.Pool, dimTotal, h, "", r.Status}]++
	d.all[rollupKey{r.Pool, dimModel, h, r.Model, r.Status}]++
	d.all[rollupKey{r.Pool, dimToken, h, r.ClientToken, r.Status}]++
	d.all[rollupKey{r.Pool, dimKey, h, r.KeyID, r.Status}]++
	if !is2xx(r.Status) {
		d.keys[keyRollupKey{r.Pool, r.Status, r.KeyID, h}]++
	}
}

const (
	upsertRollupsHead    = `INSERT INTO gb_request_rollups (pool, dim, hour, name, status, count, live) VALUES `
	upsertKeyRollupsHead = `INSERT INTO gb_key_error_rollups (pool, status, key_id, hour, count, live) VALUES `
)

// upsert adds countSign / liveSign times the counts to the two counters of
// both tables, in tx. On a server the buckets are written in key order, so
// that two instances' transactions lock them in the same order.
func (rd *rollupDelta) upsert(ctx context.Context, tx dbConn, d *dialect, countSign, liveSign int) error {
	cs, ls := int64(countSign), int64(liveSign)
	if len(rd.all) > 0 {
		keys := make([]rollupKey, 0, len(rd.all))
		for k := range rd.all {
			keys = append(keys, k)
		}
		if !d.sqlite() {
			slices.SortFunc(keys, func(a, b rollupKey) int {
				return cmp.Or(cmp.Compare(a.pool, b.pool), cmp.Compare(a.dim, b.dim), cmp.Compare(a.hour, b.hour),
					cmp.Compare(a.name, b.name), cmp.Compare(a.status, b.status))
			})
		}
		_, err := execBulk(ctx, tx, upsertRollupsHead, 7, d.rowsPerStmt(insertRowsPerStmt), len(keys),
			d.addCounts(rollupTable, "pool, dim, hour, name, status"),
			func(i int, args []any) []any {
				k := &keys[i]
				n := rd.all[*k]
				return append(args, k.pool, k.dim, k.hour, k.name, k.status, cs*n, ls*n)
			})
		if err != nil {
			return err
		}
	}
	if len(rd.keys) > 0 {
		keys := make([]keyRollupKey, 0, len(rd.keys))
		for k := range rd.keys {
			keys = append(keys, k)
		}
		if !d.sqlite() {
			slices.SortFunc(keys, func(a, b keyRollupKey) int {
				return cmp.Or(cmp.Compare(a.pool, b.pool), cmp.Compare(a.status, b.status),
					cmp.Compare(a.keyID, b.keyID), cmp.Compare(a.hour, b.hour))
			})
		}
		_, err := execBulk(ctx, tx, upsertKeyRollupsHead, 6, d.rowsPerStmt(insertRowsPerStmt), len(keys),
			d.addCounts(keyRollupTable, "pool, status, key_id, hour"),
			func(i int, args []any) []any {
				k := &keys[i]
				n := rd.keys[*k]
				return append(args, k.pool, k.status, k.keyID, k.hour, cs*n, ls*n)
			})
		if err != nil {
			return err
		}
	}
	return nil
}

// PurgeRollups deletes the rollup buckets that ended at or before before
// (hour + 1h <= before), across all pools, and returns how many buckets were
// deleted. Buckets that still count stored rows (live > 0, rows not purged
// yet) are kept: page totals rely on them. Call it with the cut-off of
// PurgeRequestLogs, or an older one to keep statistics longer than the rows.
func (s *Store) PurgeRollups(ctx context.Context, before time.Time) (int64, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	limit := before.UTC().Unix() - hourSeconds // last bucket start that has ended by before
	type pd struct{ pool, dim string }
	var pairs []pd
	rows, err := s.conn().QueryContext(ctx,
		`SELECT DISTINCT pool, dim FROM gb_request_rollups WHERE hour <= ? AND live <= 0`, limit)
	if err != nil {
		return 0, fmt.Errorf("store: purge rollups: %w", err)
	}
	for rows.Next() {
		var p pd
		if err := rows.Scan(&p.pool, &p.dim); err != nil {
			rows.Close()
			return 0, fmt.Errorf("store: purge rollups: %w", err)
		}
		pairs = append(pairs, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("store: purge rollups: %w", err)
	}
	var total int64
	for _, p := range pairs {
		// One short transaction per (pool, dim): a primary-key range.
		res, err := s.conn().ExecContext(ctx,
			`DELETE FROM gb_request_rollups WHERE pool = ? AND dim = ? AND hour <= ? AND live <= 0`, p.pool, p.dim, limit)
		if err != nil {
			return total, fmt.Errorf("store: purge rollups: %w", err)
		}
		if n, err := res.RowsAffected(); err == nil {
			total += n
		}
	}
	res, err := s.conn().ExecContext(ctx, `DELETE FROM gb_key_error_rollups WHERE hour <= ? AND live <= 0`, limit)
	if err != nil {
		return total, fmt.Errorf("store: purge rollups: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil {
		total += n
	}
	return total, nil
}

// dropEmptyRollups deletes the pool's buckets that no longer count anything
// (historyToo: also those that only count rows removed by the purge).
func dropEmptyRollups(ctx context.Context, tx dbConn, pool string, historyToo bool) error {
	cond := `pool = ? AND live <= 0 AND count <= 0`
	if historyToo {
		cond = `pool = ? AND live <= 0`
	}
	for _, table := range []string{rollupTable, keyRollupTable} {
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE "+cond, pool); err != nil {
			return err
		}
	}
	return nil
}

// placeholders returns "?,?,…" with n marks.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?,", n-1) + "?"
}
