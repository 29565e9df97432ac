package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"gorm.io/gorm"
)

// keyRow is a row of gb_keys: one API key of one pool.
type keyRow struct {
	ID                  int64      `gorm:"column:id;primaryKey;autoIncrement"`
	Pool                string     `gorm:"column:pool;type:text;not null;uniqueIndex:ux_gb_keys_pool_key_id,priority:1"`
	KeyID               string     `gorm:"column:key_id;type:text;not null;uniqueIndex:ux_gb_keys_pool_key_id,priority:2"`
	APIKey              string     `gorm:"column:api_key;type:text;not null"`
	Masked              string     `gorm:"column:masked;type:text;not null;default:''"`
	Status              string     `gorm:"column:status;type:text;not null;default:'active'"`
	Reason              string     `gorm:"column:reason;type:text;not null;default:''"`
	ConsecutiveFailures int        `gorm:"column:consecutive_failures;type:integer;not null;default:0"`
	TotalFailures       int64      `gorm:"column:total_failures;type:integer;not null;default:0"`
	Cooldowns           string     `gorm:"column:cooldowns;type:text;not null;default:'{}'"`
	Calls               int64      `gorm:"column:calls;type:integer;not null;default:0"`
	LastUsedAt          *time.Time `gorm:"column:last_used_at;type:datetime"`
	LastError           string     `gorm:"column:last_error;type:text;not null;default:''"`
	Source              string     `gorm:"column:source;type:text;not null;default:''"`
	CreatedAt           time.Time  `gorm:"column:created_at;type:datetime;not null"`
	UpdatedAt           time.Time  `gorm:"column:updated_at;type:datetime;not null"`
}

func (keyRow) TableName() string { return "gb_keys" }

// settingRow is a row of gb_settings: one named JSON value of one pool.
type settingRow struct {
	Pool      string    `gorm:"column:pool;type:text;primaryKey;not null"`
	Name      string    `gorm:"column:name;type:text;primaryKey;not null"`
	Value     string    `gorm:"column:value;type:text;not null"`
	UpdatedAt time.Time `gorm:"column:updated_at;type:datetime;not null"`
}

func (settingRow) TableName() string { return "gb_settings" }

// requestLogRow is a row of gb_request_logs: one upstream attempt.
//
// Indexes (all lead with pool; see query.go for which query uses which):
//   - (pool, time): time windows, newest-first pages, counts; the rows of a
//     key or of a 2xx status, within their hours.
//   - (pool, model, time): model filters and the model sort.
//   - (pool, key_id, time) and (pool, status, time) of the failed (non-2xx)
//     rows only: key and status filters with an error status (on MySQL, which
//     has no partial indexes, both hold every row).
//
// Every index costs the log writer time on every row it holds, most where
// rows land at scattered places (BenchmarkWriteRequestLogsWithout): a
// (pool, latency_ms) index cost 9 of its 30 µs per row, so the latency sort,
// a rare one in the console, reads the rows and sorts them instead (like a
// text search); a full (pool, key_id, time) index cost two thirds of the
// writer's CPU with key ids as the pool makes them (hashes: every row on a
// page of its own), so calls per key and a key's hours come from the rollups'
// "key" dimension (rollups.go); a full (pool, status, time) index cost a
// fifth of it even with 4 keys (the 2xx rows append in the middle of the
// index, where SQLite splits pages half full), so the status sort reads and
// sorts the rows too.
type requestLogRow struct {
	ID               int64     `gorm:"column:id;primaryKey;autoIncrement"`
	Time             time.Time `gorm:"column:time;type:datetime;not null;index:idx_gb_request_logs_pool_time,priority:2;index:idx_gb_request_logs_pool_model_time,priority:3"`
	Pool             string    `gorm:"column:pool;type:text;not null;index:idx_gb_request_logs_pool_time,priority:1;index:idx_gb_request_logs_pool_model_time,priority:1"`
	Model            string    `gorm:"column:model;type:text;not null;default:'';index:idx_gb_request_logs_pool_model_time,priority:2"`
	KeyID            string    `gorm:"column:key_id;type:text;not null;default:''"`
	KeyMasked        string    `gorm:"column:key_masked;type:text;not null;default:''"`
	Status           int       `gorm:"column:status;type:integer;not null;default:0"`
	LatencyMs        int64     `gorm:"column:latency_ms;type:integer;not null;default:0"`
	Attempt          int       `gorm:"column:attempt;type:integer;not null;default:0"`
	Stream           bool      `gorm:"column:stream;type:boolean;not null;default:false"`
	Route            string    `gorm:"column:route;type:text;not null;default:''"`
	ClientToken      string    `gorm:"column:client_token;type:text;not null;default:''"`
	PromptTokens     int       `gorm:"column:prompt_tokens;type:integer;not null;default:0"`
	CompletionTokens int       `gorm:"column:completion_tokens;type:integer;not null;default:0"`
	TotalTokens      int       `gorm:"column:total_tokens;type:integer;not null;default:0"`
}

func (requestLogRow) TableName() string { return "gb_request_logs" }

// errorLogRow is a row of gb_error_logs: one failed upstream attempt.
// Indexes: (pool, time), (pool, key_id, time), (pool, status, time),
// (pool, model, time).
type errorLogRow struct {
	ID          int64     `gorm:"column:id;primaryKey;autoIncrement"`
	Time        time.Time `gorm:"column:time;type:datetime;not null;index:idx_gb_error_logs_pool_time,priority:2;index:idx_gb_error_logs_pool_key_time,priority:3;index:idx_gb_error_logs_pool_status_time,priority:3;index:idx_gb_error_logs_pool_model_time,priority:3"`
	Pool        string    `gorm:"column:pool;type:text;not null;index:idx_gb_error_logs_pool_time,priority:1;index:idx_gb_error_logs_pool_key_time,priority:1;index:idx_gb_error_logs_pool_status_time,priority:1;index:idx_gb_error_logs_pool_model_time,priority:1"`
	Model       string    `gorm:"column:model;type:text;not null;default:'';index:idx_gb_error_logs_pool_model_time,priority:2"`
	KeyID       string    `gorm:"column:key_id;type:text;not null;default:'';index:idx_gb_error_logs_pool_key_time,priority:2"`
	KeyMasked   string    `gorm:"column:key_masked;type:text;not null;default:''"`
	Status      int       `gorm:"column:status;type:integer;not null;default:0;index:idx_gb_error_logs_pool_status_time,priority:2"`
	Kind        string    `gorm:"column:kind;type:text;not null;default:''"`
	Message     string    `gorm:"column:message;type:text;not null;default:''"`
	Body        string    `gorm:"column:body;type:text;not null;default:''"`
	RequestBody string    `gorm:"column:request_body;type:text;not null;default:''"`
}

func (errorLogRow) TableName() string { return "gb_error_logs" }

// portableModels are the tables whose gorm models use portable types
// (integers for times, size:N for indexed strings): gorm's AutoMigrate
// creates them on every engine.
func portableModels() []any {
	return []any{
		&keyEventRow{}, // changes.go
	}
}

// droppedIndexes are indexes of earlier versions that are no longer used
// (see requestLogRow); migrate drops them.
var droppedIndexes = []droppedIndex{
	{"gb_request_logs", "idx_gb_request_logs_pool_latency", false},
	{"gb_request_logs", "idx_gb_request_logs_pool_key_time", true},
	{"gb_request_logs", "idx_gb_request_logs_pool_status_time", true},
}

type droppedIndex struct {
	table, name string
	keptOnMySQL bool
}

// The request logs' key and status indexes: on SQLite and PostgreSQL they
// hold the failed rows only (a small part of the rows, so the writer seldom
// pays for them) and serve a key or status filter with an error status; on
// MySQL, which has no partial indexes, they are the full indexes of earlier
// versions.
var (
	requestLogsFailedKeyIndex = indexDef{name: "idx_gb_request_logs_key_failed", cols: "pool, key_id, time",
		where: failedStatus}
	requestLogsFailedStatusIndex = indexDef{name: "idx_gb_request_logs_status_failed", cols: "pool, status, time",
		where: failedStatus}
	requestLogsMySQLKeyIndex = indexDef{name: "idx_gb_request_logs_pool_key_time", cols: "pool, key_id, time",
		mysqlOnly: true}
	requestLogsMySQLStatusIndex = indexDef{name: "idx_gb_request_logs_pool_status_time", cols: "pool, status, time",
		mysqlOnly: true}
)

// failedStatus is the condition of the failed rows, written as the partial
// index's WHERE: a query must repeat it word for word for SQLite to use the
// index.
const failedStatus = "NOT (status >= 200 AND status <= 299)"

// migrate brings the schema up to date. SQLite keeps gorm's AutoMigrate of
// the models above (the schema existing files have: matching column types
// mean no table rebuild); PostgreSQL and MySQL get schema.go's DDL.
func migrate(db *gorm.DB, sqlDB *sql.DB, d *dialect) error {
	if !d.sqlite() {
		return migrateServer(context.Background(), sqlDB, d, func() error {
			return db.AutoMigrate(portableModels()...)
		})
	}
	if err := db.AutoMigrate(&keyRow{}, &settingRow{}, &requestLogRow{}, &errorLogRow{}, &resourceRow{}); err != nil {
		return err
	}
	if err := db.AutoMigrate(portableModels()...); err != nil {
		return err
	}
	// Indexes of earlier versions that are no longer used (see requestLogRow).
	for _, ix := range droppedIndexes {
		if err := db.Exec(`DROP INDEX IF EXISTS "` + ix.name + `"`).Error; err != nil {
			return err
		}
	}
	if err := migrateRollups(db); err != nil {
		return err
	}
	conn, err := sqlDB.Conn(context.Background())
	if err != nil {
		return err
	}
	defer conn.Close()
	return backfillKeyRollups(context.Background(), conn, d)
}

// migrateRollups creates the SQLite rollup tables (see rollups.go); a table
// that is new is filled from the request logs already stored, in the
// transaction that creates it.
func migrateRollups(db *gorm.DB) error {
	sqliteD := &dialect{name: engineSQLite}
	for _, t := range rollupTables {
		if db.Migrator().HasTable(t.name) {
			continue
		}
		stmt := rollupSQL(sqliteD, "true", 1, 1)[t.name]
		err := db.Transaction(func(tx *gorm.DB) error {
			if err := tx.Exec(t.create).Error; err != nil {
				return err
			}
			return tx.Exec(stmt).Error
		})
		if err != nil {
			return fmt.Errorf("create %s: %w", t.name, err)
		}
	}
	// In a write transaction, like the tables: an instance opening the same
	// file at once waits for it (busy_timeout) instead of failing on a stale
	// read.
	return db.Transaction(func(tx *gorm.DB) error {
		for _, ix := range []indexDef{requestLogsFailedKeyIndex, requestLogsFailedStatusIndex} {
			if err := tx.Exec(ix.createSQL("gb_request_logs")).Error; err != nil {
				return err
			}
		}
		return tx.Exec(rollupNameIndex.createSQL(rollupTable)).Error
	})
}
