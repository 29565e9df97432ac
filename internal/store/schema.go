package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// The schema on PostgreSQL and MySQL/MariaDB, written out rather than left to
// gorm's AutoMigrate: MySQL needs bounded types for indexed strings, times
// are timestamptz / datetime(6), and CREATE … IF NOT EXISTS makes a second
// migration a no-op. SQLite keeps the AutoMigrate schema of earlier versions
// (models.go), so that existing files open unchanged.
//
// Column types are written as tokens:
//
//	{id}      auto-increment primary key
//	{str N}   short string: TEXT on PostgreSQL, VARCHAR(N) on MySQL (indexed
//	          columns must be bounded there: 3072 bytes per index, 4 per char)
//	{text}    TEXT (up to 64 KiB on MySQL)
//	{long}    large text: TEXT / MEDIUMTEXT
//	{time}    TIMESTAMPTZ / DATETIME(6) (UTC; microseconds)
//
// MySQL's TEXT columns take no plain DEFAULT, so text columns have none on
// either engine: every insert names them.
type tableDef struct {
	name    string
	cols    []string
	pk      string // primary key columns ("" = the {id} column)
	indexes []indexDef
}

type indexDef struct {
	name   string
	unique bool
	cols   string
	// where makes the index partial; MySQL has no partial indexes and
	// skips such an index.
	where string
	// mysqlOnly is an index only MySQL gets (in place of a partial one).
	mysqlOnly bool
}

// on reports whether d's engine has the index.
func (ix indexDef) on(d *dialect) bool {
	if d.mysql() {
		return ix.where == ""
	}
	return !ix.mysqlOnly
}

// createSQL is the index's CREATE statement on a PostgreSQL or SQLite table.
func (ix indexDef) createSQL(table string) string {
	kind := "INDEX "
	if ix.unique {
		kind = "UNIQUE INDEX "
	}
	stmt := "CREATE " + kind + "IF NOT EXISTS " + ix.name + " ON " + table + " (" + ix.cols + ")"
	if ix.where != "" {
		stmt += " WHERE " + ix.where
	}
	return stmt
}

var serverTables = []tableDef{
	{name: "gb_keys", cols: []string{
		"id {id}",
		"pool {str 128} NOT NULL",
		"key_id {str 64} NOT NULL",
		"api_key {text} NOT NULL", // never indexed: keys can be long
		"masked {text} NOT NULL",
		"status {str 32} NOT NULL DEFAULT 'active'",
		"reason {text} NOT NULL",
		"consecutive_failures INTEGER NOT NULL DEFAULT 0",
		"total_failures BIGINT NOT NULL DEFAULT 0",
		"cooldowns {text} NOT NULL",
		"calls BIGINT NOT NULL DEFAULT 0",
		"last_used_at {time} NULL",
		"last_error {text} NOT NULL",
		"source {str 64} NOT NULL DEFAULT ''",
		"created_at {time} NOT NULL",
		"updated_at {time} NOT NULL",
	}, indexes: []indexDef{{name: "ux_gb_keys_pool_key_id", unique: true, cols: "pool, key_id"}}},
	{name: "gb_settings", cols: []string{
		"pool {str 128} NOT NULL",
		"name {str 128} NOT NULL",
		"value {long} NOT NULL",
		"updated_at {time} NOT NULL",
	}, pk: "pool, name"},
	{name: "gb_request_logs", cols: []string{
		"id {id}",
		"time {time} NOT NULL",
		"pool {str 128} NOT NULL",
		"model {str 128} NOT NULL DEFAULT ''",
		"key_id {str 64} NOT NULL DEFAULT ''",
		"key_masked {str 64} NOT NULL DEFAULT ''",
		"status INTEGER NOT NULL DEFAULT 0",
		"latency_ms BIGINT NOT NULL DEFAULT 0",
		"attempt INTEGER NOT NULL DEFAULT 0",
		"stream BOOLEAN NOT NULL DEFAULT FALSE",
		"route {str 128} NOT NULL DEFAULT ''",
		"client_token {str 128} NOT NULL DEFAULT ''",
		"prompt_tokens INTEGER NOT NULL DEFAULT 0",
		"completion_tokens INTEGER NOT NULL DEFAULT 0",
		"total_tokens INTEGER NOT NULL DEFAULT 0",
	}, indexes: []indexDef{
		{name: "idx_gb_request_logs_pool_time", cols: "pool, time"},
		{name: "idx_gb_request_logs_pool_model_time", cols: "pool, model, time"},
		requestLogsFailedKeyIndex,
		requestLogsFailedStatusIndex,
		requestLogsMySQLKeyIndex,
		requestLogsMySQLStatusIndex,
	}},
	{name: "gb_error_logs", cols: []string{
		"id {id}",
		"time {time} NOT NULL",
		"pool {str 128} NOT NULL",
		"model {str 128} NOT NULL DEFAULT ''",
		"key_id {str 64} NOT NULL DEFAULT ''",
		"key_masked {str 64} NOT NULL DEFAULT ''",
		"status INTEGER NOT NULL DEFAULT 0",
		"kind {str 64} NOT NULL DEFAULT ''",
		"message {text} NOT NULL",
		"body {long} NOT NULL",
		"request_body {long} NOT NULL",
	}, indexes: []indexDef{
		{name: "idx_gb_error_logs_pool_time", cols: "pool, time"},
		{name: "idx_gb_error_logs_pool_key_time", cols: "pool, key_id, time"},
		{name: "idx_gb_error_logs_pool_status_time", cols: "pool, status, time"},
		{name: "idx_gb_error_logs_pool_model_time", cols: "pool, model, time"},
	}},
	{name: "gb_resources", cols: []string{
		"pool {str 128} NOT NULL",
		"name {str 512} NOT NULL",
		"key_id {str 64} NOT NULL DEFAULT ''",
		"token_hash {str 128} NOT NULL DEFAULT ''",
		"expires_at {time} NOT NULL",
		"created_at {time} NOT NULL",
	}, pk: "pool, name", indexes: []indexDef{{name: "idx_gb_resources_expires", cols: "expires_at"}}},
	// Rollups (rollups.go); on SQLite they are WITHOUT ROWID tables.
	{name: rollupTable, cols: []string{
		"pool {str 128} NOT NULL",
		"dim {str 16} NOT NULL",
		"hour BIGINT NOT NULL",
		"name {str 128} NOT NULL",
		"status INTEGER NOT NULL",
		"count BIGINT NOT NULL DEFAULT 0",
		"live BIGINT NOT NULL DEFAULT 0",
	}, pk: "pool, dim, hour, name, status", indexes: []indexDef{rollupNameIndex}},
	{name: keyRollupTable, cols: []string{
		"pool {str 128} NOT NULL",
		"status INTEGER NOT NULL",
		"key_id {str 64} NOT NULL",
		"hour BIGINT NOT NULL",
		"count BIGINT NOT NULL DEFAULT 0",
		"live BIGINT NOT NULL DEFAULT 0",
	}, pk: "pool, status, key_id, hour"},
}

// Bounds of the short string columns on MySQL, enforced on every engine
// (log fields are clipped, key fields checked) so that the engines agree.
const (
	maxPoolLen   = 128
	maxKeyIDLen  = 64
	maxNameLen   = 128 // model, route, client token, rollup names
	maxMaskedLen = 64
	maxKindLen   = 64
	maxSourceLen = 64
	maxStatusLen = 32
	maxTextLen   = 65535 // TEXT
)

// expandType replaces the type tokens of a column definition.
func (d *dialect) expandType(col string) string {
	r := strings.NewReplacer()
	if d.mysql() {
		r = strings.NewReplacer("{id}", "BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY", "{text}", "TEXT",
			"{long}", "MEDIUMTEXT", "{time}", "DATETIME(6)")
	} else {
		r = strings.NewReplacer("{id}", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY", "{text}", "TEXT",
			"{long}", "TEXT", "{time}", "TIMESTAMPTZ")
	}
	col = r.Replace(col)
	for {
		i := strings.Index(col, "{str ")
		if i < 0 {
			return col
		}
		j := strings.IndexByte(col[i:], '}') + i
		n := col[i+len("{str ") : j]
		typ := "TEXT"
		if d.mysql() {
			typ = "VARCHAR(" + n + ")"
		}
		col = col[:i] + typ + col[j+1:]
	}
}

// createStatements returns the DDL of t on d's engine.
func (d *dialect) createStatements(t tableDef) []string {
	parts := make([]string, 0, len(t.cols)+len(t.indexes)+1)
	for _, c := range t.cols {
		parts = append(parts, d.expandType(c))
	}
	if t.pk != "" {
		parts = append(parts, "PRIMARY KEY ("+t.pk+")")
	}
	var out []string
	if d.mysql() {
		// MySQL has no CREATE INDEX IF NOT EXISTS: the indexes are part of
		// the table.
		for _, ix := range t.indexes {
			if !ix.on(d) {
				continue
			}
			kind := "INDEX "
			if ix.unique {
				kind = "UNIQUE INDEX "
			}
			parts = append(parts, kind+ix.name+" ("+ix.cols+")")
		}
		out = append(out, "CREATE TABLE IF NOT EXISTS "+t.name+" (\n "+strings.Join(parts, ",\n ")+
			"\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
		return out
	}
	out = append(out, "CREATE TABLE IF NOT EXISTS "+t.name+" (\n "+strings.Join(parts, ",\n ")+"\n)")
	for _, ix := range t.indexes {
		if ix.on(d) {
			out = append(out, ix.createSQL(t.name))
		}
	}
	return out
}

// migrateServer creates the schema on PostgreSQL or MySQL, holding the
// engine's advisory lock so that instances starting together do not race
// (concurrent CREATE TABLE IF NOT EXISTS can fail on PostgreSQL).
// more runs under the lock too.
func migrateServer(ctx context.Context, db *sql.DB, d *dialect, more func() error) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if d.postgres() {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock(7243590218)"); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		defer conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock(7243590218)")
	} else {
		var got sql.NullInt64
		if err := conn.QueryRowContext(ctx, "SELECT GET_LOCK('gemini_balance_migrate', 60)").Scan(&got); err != nil {
			return fmt.Errorf("migration lock: %w", err)
		}
		if got.Int64 != 1 {
			return fmt.Errorf("migration lock: not granted within 60 s")
		}
		defer conn.ExecContext(context.Background(), "SELECT RELEASE_LOCK('gemini_balance_migrate')")
	}
	for _, t := range serverTables {
		for _, stmt := range d.createStatements(t) {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("create %s: %w", t.name, err)
			}
		}
	}
	if err := reconcileServerIndexes(ctx, conn, d); err != nil {
		return err
	}
	if err := backfillKeyRollups(ctx, conn, d); err != nil {
		return err
	}
	return more()
}

// reconcileServerIndexes drops the indexes of earlier versions and, on MySQL
// (whose indexes are created only with their table), adds the indexes a table
// of an earlier version lacks.
func reconcileServerIndexes(ctx context.Context, conn *sql.Conn, d *dialect) error {
	has := func(table, index string) (bool, error) {
		var n int
		err := conn.QueryRowContext(ctx, `SELECT count(*) FROM information_schema.statistics
 WHERE table_schema = DATABASE() AND table_name = ? AND index_name = ?`, table, index).Scan(&n)
		return n > 0, err
	}
	for _, ix := range droppedIndexes {
		if d.mysql() && ix.keptOnMySQL {
			continue
		}
		stmt := "DROP INDEX IF EXISTS " + ix.name
		if d.mysql() {
			found, err := has(ix.table, ix.name)
			if err != nil || !found {
				if err != nil {
					return fmt.Errorf("drop index %s: %w", ix.name, err)
				}
				continue
			}
			stmt = "DROP INDEX " + ix.name + " ON " + ix.table
		}
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("drop index %s: %w", ix.name, err)
		}
	}
	if !d.mysql() {
		return nil
	}
	for _, t := range serverTables {
		for _, ix := range t.indexes {
			if !ix.on(d) {
				continue
			}
			found, err := has(t.name, ix.name)
			if err != nil {
				return fmt.Errorf("index %s: %w", ix.name, err)
			}
			if found {
				continue
			}
			kind := "INDEX "
			if ix.unique {
				kind = "UNIQUE INDEX "
			}
			if _, err := conn.ExecContext(ctx, "CREATE "+kind+ix.name+" ON "+t.name+" ("+ix.cols+")"); err != nil {
				return fmt.Errorf("create index %s: %w", ix.name, err)
			}
		}
	}
	return nil
}
