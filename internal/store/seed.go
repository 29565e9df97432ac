package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// seedChunk is the number of synthetic rows per transaction of
// SeedRequestLogs (about a second of write lock each) and per statement in
// bulk mode; from seedBulkRows rows on, it seeds in bulk mode.
var (
	seedChunk    = 50000  // variables for the tests
	seedBulkRows = 200000 //
)

// SeedRequestLogs inserts n synthetic request logs into pool, for tests and
// measurements. Row i (0-based) gets the time from + (to-from)*i/n
// (millisecond precision, so the rows are spread evenly over [from, to) in id
// order) and pseudo-random but deterministic values:
//   - key: one of keyIDs, skewed towards the first ones (the minimum of two
//     uniform picks); key_masked is the key's masked form from gb_keys if it
//     is stored there, else "AIzaSy…" + the id's last 4 characters;
//   - status: 86% 200, 7% 429, 3% 403, 2% 400, 2% 500;
//   - model: uniform over models (default two Gemini models), route over
//     four routes, client token over 8 masked tokens, latency 50..3049 ms,
//     token counts, stream and attempt.
//
// The rows are generated inside SQLite (a recursive CTE), seedChunk rows per
// transaction, and the rollups are filled in the same transactions.
func (s *Store) SeedRequestLogs(ctx context.Context, pool string, n int, keyIDs []string, models []string,
	from, to time.Time) error {
	if s.isClosed() {
		return ErrClosed
	}
	if n <= 0 {
		return nil
	}
	if len(keyIDs) == 0 {
		return errors.New("store: seed request logs: no key ids")
	}
	if len(models) == 0 {
		models = []string{"gemini-2.5-flash", "gemini-2.5-pro"}
	}
	if to.Before(from) {
		return errors.New("store: seed request logs: to is before from")
	}
	keysJSON, err := json.Marshal(keyIDs)
	if err != nil {
		return err
	}
	modelsJSON, err := json.Marshal(models)
	if err != nil {
		return err
	}

	conn, err := s.sqlDB.Conn(ctx)
	if err != nil {
		return fmt.Errorf("store: seed request logs: %w", err)
	}
	defer conn.Close()
	exec := func(q string, args ...any) error {
		_, err := conn.ExecContext(ctx, q, args...)
		return err
	}
	cleanup := func() {
		bg := context.Background()
		_, _ = conn.ExecContext(bg, "DROP TABLE IF EXISTS temp.gb_seed_keys")
		_, _ = conn.ExecContext(bg, "DROP TABLE IF EXISTS temp.gb_seed_models")
		_, _ = conn.ExecContext(bg, "PRAGMA threads = 0")
	}
	defer cleanup()
	for _, q := range []string{
		"DROP TABLE IF EXISTS temp.gb_seed_keys",
		"DROP TABLE IF EXISTS temp.gb_seed_models",
		"CREATE TEMP TABLE gb_seed_keys (i INTEGER PRIMARY KEY, key_id TEXT NOT NULL, masked TEXT NOT NULL DEFAULT '')",
		"CREATE TEMP TABLE gb_seed_models (i INTEGER PRIMARY KEY, name TEXT NOT NULL)",
		"PRAGMA threads = 2", // helper threads for the sorts (index builds, GROUP BY)
	} {
		if err := exec(q); err != nil {
			return fmt.Errorf("store: seed request logs: %w", err)
		}
	}
	if err := exec("INSERT INTO temp.gb_seed_keys (i, key_id) SELECT key, value FROM json_each(?)", string(keysJSON)); err != nil {
		return fmt.Errorf("store: seed request logs: %w", err)
	}
	if err := exec(`UPDATE temp.gb_seed_keys SET masked = coalesce(
 (SELECT k.masked FROM main.gb_keys k WHERE k.pool = ? AND k.key_id = gb_seed_keys.key_id AND k.masked <> ''),
 'AIzaSy…' || substr(key_id, -4))`, pool); err != nil {
		return fmt.Errorf("store: seed request logs: %w", err)
	}
	if err := exec("INSERT INTO temp.gb_seed_models (i, name) SELECT key, value FROM json_each(?)", string(modelsJSON)); err != nil {
		return fmt.Errorf("store: seed request logs: %w", err)
	}

	fromMs := from.UTC().UnixMilli()
	spanMs := to.UTC().UnixMilli() - fromMs
	insert := func(lo, hi int) error {
		return exec(seedInsertSQL, pool, lo, hi, n, fromMs, spanMs, len(keyIDs), len(models))
	}
	// inTx runs fn in one write transaction on conn.
	inTx := func(fn func() error) (err error) {
		if err := exec("BEGIN IMMEDIATE"); err != nil {
			return err
		}
		defer func() {
			if err != nil {
				_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
			}
		}()
		if err := fn(); err != nil {
			return err
		}
		return exec("COMMIT")
	}
	lastID := func() (int64, error) {
		var id sql.NullInt64
		err := conn.QueryRowContext(ctx, "SELECT max(id) FROM gb_request_logs").Scan(&id)
		return id.Int64, err
	}

	if n >= seedBulkRows {
		// Bulk: one transaction that drops the secondary indexes, appends
		// the rows to the table, fills the rollups and rebuilds the indexes
		// (a sorted build is several times faster than n random inserts per
		// index). Other connections keep seeing the old snapshot, indexes
		// included, until the commit.
		err := inTx(func() error {
			first, err := lastID()
			if err != nil {
				return err
			}
			var names, defs []string
			rows, err := conn.QueryContext(ctx, `SELECT name, sql FROM sqlite_master
 WHERE type = 'index' AND tbl_name = 'gb_request_logs' AND sql IS NOT NULL`)
			if err != nil {
				return err
			}
			for rows.Next() {
				var name, def string
				if err := rows.Scan(&name, &def); err != nil {
					rows.Close()
					return err
				}
				names, defs = append(names, name), append(defs, def)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			for _, name := range names {
				if err := exec(`DROP INDEX "` + name + `"`); err != nil {
					return err
				}
			}
			for lo := 0; lo < n; lo += seedChunk {
				if err := insert(lo, min(lo+seedChunk, n)); err != nil {
					return err
				}
			}
			if err := applyRollupsFromRows(ctx, conn, "id > ?", []any{first}, 1, 1); err != nil {
				return err
			}
			for _, def := range defs {
				if err := exec(def); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("store: seed request logs: %w", err)
		}
		return nil
	}

	for lo := 0; lo < n; lo += seedChunk {
		hi := min(lo+seedChunk, n)
		err := inTx(func() error {
			first, err := lastID()
			if err != nil {
				return err
			}
			if err := insert(lo, hi); err != nil {
				return err
			}
			return applyRollupsFromRows(ctx, conn, "id > ?", []any{first}, 1, 1)
		})
		if err != nil {
			return fmt.Errorf("store: seed request logs: %w", err)
		}
	}
	return nil
}

// seedInsertSQL generates rows ?2 <= i < ?3 of ?4. Parameters: ?1 pool,
// ?5 from (unix ms), ?6 span (ms), ?7 number of keys, ?8 number of models.
// hN are deterministic pseudo-random values in [0, 2^31-1): a multiplicative
// congruential step per field, made non-linear by x*x + x.
const seedInsertSQL = `WITH RECURSIVE
seq(i) AS (SELECT ?2 UNION ALL SELECT i + 1 FROM seq WHERE i + 1 < ?3),
a AS (SELECT i, ?5 + (?6 * i) / ?4 AS ms,
  (i + 1) * 48271 % 2147483647 AS x1, (i + 1) * 69621 % 2147483647 AS x2,
  (i + 1) * 16807 % 2147483647 AS x3, (i + 1) * 40692 % 2147483647 AS x4,
  (i + 1) * 39373 % 2147483647 AS x5 FROM seq),
b AS (SELECT i, ms, (x1 * x1 + x1) % 2147483647 AS h1, (x2 * x2 + x2) % 2147483647 AS h2,
  (x3 * x3 + x3) % 2147483647 AS h3, (x4 * x4 + x4) % 2147483647 AS h4,
  (x5 * x5 + x5) % 2147483647 AS h5 FROM a)
INSERT INTO gb_request_logs (time, pool, model, key_id, key_masked, status, latency_ms, attempt, stream, route,
 client_token, prompt_tokens, completion_tokens, total_tokens)
SELECT
 strftime('%Y-%m-%d %H:%M:%S', ms / 1000, 'unixepoch')
  || CASE WHEN ms % 1000 = 0 THEN '' ELSE '.' || rtrim(printf('%03d', ms % 1000), '0') END || '+00:00',
 ?1, m.name, k.key_id, k.masked,
 CASE WHEN h3 % 100 < 86 THEN 200 WHEN h3 % 100 < 93 THEN 429 WHEN h3 % 100 < 96 THEN 403
  WHEN h3 % 100 < 98 THEN 400 ELSE 500 END,
 50 + h2 / 7 % 3000,
 1 + h3 / 100 % 2,
 h4 / 7 % 2,
 CASE h5 % 4 WHEN 0 THEN 'gemini.generateContent' WHEN 1 THEN 'gemini.streamGenerateContent'
  WHEN 2 THEN 'openai.chat' ELSE 'openai.embeddings' END,
 'sk-…' || printf('%04d', h5 / 4 % 8),
 h4 / 11 % 4000, h1 / 13 % 1000, h4 / 11 % 4000 + h1 / 13 % 1000
FROM b
JOIN temp.gb_seed_keys k ON k.i = min(h1 % ?7, h2 % ?7)
JOIN temp.gb_seed_models m ON m.i = h4 % ?8
WHERE true`
