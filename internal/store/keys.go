package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
	"gorm.io/gorm"
)

// Key statuses.
const (
	StatusActive  = "active"
	StatusInvalid = "invalid"
)

// KeyRecord is one API key of a pool, with its persisted state.
type KeyRecord struct {
	Pool                string
	KeyID               string // stable id (hex), unique per pool
	Key                 string // the full secret key (this table IS the key store)
	Masked              string // e.g. "AIzaSy…abcd"
	Status              string // "active" or "invalid" ("" is stored as "active")
	Reason              string // why invalid / last failure reason
	ConsecutiveFailures int
	TotalFailures       int64
	Cooldowns           map[string]time.Time // model -> cooling until; expired entries are dropped on save; nil when empty after load
	Calls               int64
	LastUsedAt          time.Time // zero = never
	LastError           string
	Source              string // "caddyfile" or "admin"
	CreatedAt           time.Time
}

// loadKeysSQL reads the times on SQLite as plain text (no DATETIME
// decltype, so the driver does not parse them) and parseDBTime parses them
// with a fast path. It reads the table in rowid order (NOT INDEXED): through
// the (pool, key_id) index every row was a random seek plus a sort by id,
// 1.2 s for 100,000 keys against 0.5 s for the scan (TestLoad100kKeys).
func loadKeysSQL(d *dialect) string {
	return `SELECT key_id, api_key, masked, status, reason, consecutive_failures, total_failures,
 cooldowns, calls, ` + d.timeCol("last_used_at") + `, last_error, source, ` + d.timeCol("created_at") + `
 FROM gb_keys` + d.notIndexed() + ` WHERE pool = ? ORDER BY id`
}

// LoadKeys returns all rows of the pool, ordered by id (insertion order).
func (s *Store) LoadKeys(ctx context.Context, pool string) ([]KeyRecord, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	var n int64
	if err := s.conn().QueryRowContext(ctx, "SELECT count(*) FROM gb_keys WHERE pool = ?", pool).Scan(&n); err != nil {
		return nil, fmt.Errorf("store: load keys: %w", err)
	}
	rows, err := s.conn().QueryContext(ctx, loadKeysSQL(s.d), pool)
	if err != nil {
		return nil, fmt.Errorf("store: load keys: %w", err)
	}
	defer rows.Close()
	out := make([]KeyRecord, 0, n)
	var (
		cooldowns string
		lastUsed  dbTime
		created   dbTime
	)
	for rows.Next() {
		rec := KeyRecord{Pool: pool}
		if err := rows.Scan(&rec.KeyID, &rec.Key, &rec.Masked, &rec.Status, &rec.Reason,
			&rec.ConsecutiveFailures, &rec.TotalFailures, &cooldowns, &rec.Calls, &lastUsed, &rec.LastError,
			&rec.Source, &created); err != nil {
			return nil, fmt.Errorf("store: load keys: %w", err)
		}
		rec.LastUsedAt, rec.CreatedAt = lastUsed.t, created.t
		cd, err := decodeCooldowns(cooldowns)
		if err != nil {
			// A damaged cooldown column must not make the pool unloadable.
			s.reportError("load_keys", err, zap.String("pool", pool), zap.String("key_id", rec.KeyID))
		}
		rec.Cooldowns = cd
		out = append(out, rec)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: load keys: %w", err)
	}
	return out, nil
}

// CountKeys returns the number of keys of the pool.
func (s *Store) CountKeys(ctx context.Context, pool string) (int64, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	var n int64
	if err := s.db.WithContext(ctx).Model(&keyRow{}).Where("pool = ?", pool).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("store: count keys: %w", err)
	}
	return n, nil
}

// InsertKeys inserts recs in one transaction (multi-row INSERTs of
// insertRowsPerStmt rows; see bulk.go for why not 500).
// Rows whose (pool, key_id) already exists — in the table or earlier in recs —
// are skipped, not errors. It returns the number of rows actually inserted.
// Pool, KeyID and Key must be non-empty.
func (s *Store) InsertKeys(ctx context.Context, recs []KeyRecord) (inserted int, err error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	if len(recs) == 0 {
		return 0, nil
	}
	now := time.Now().UTC()
	rows := make([]keyRow, len(recs))
	for i := range recs {
		r := &recs[i]
		if r.Pool == "" || r.KeyID == "" || r.Key == "" {
			return 0, fmt.Errorf("store: insert keys: record %d: pool, key id and key must be set", i)
		}
		// The bounds of the MySQL columns, checked on every engine (INSERT
		// IGNORE would cut longer values silently there).
		if len(r.Pool) > maxPoolLen || len(r.KeyID) > maxKeyIDLen || len(r.Source) > maxSourceLen ||
			len(r.Status) > maxStatusLen || len(r.Key) > maxTextLen || len(r.Masked) > maxTextLen ||
			len(r.Reason) > maxTextLen || len(r.LastError) > maxTextLen {
			return 0, fmt.Errorf("store: insert keys: record %d: a field is too long (pool %d bytes, key id %d, "+
				"source %d, status %d, others %d at most)", i, maxPoolLen, maxKeyIDLen, maxSourceLen, maxStatusLen, maxTextLen)
		}
		cd, err := encodeCooldowns(r.Cooldowns, now)
		if err != nil {
			return 0, fmt.Errorf("store: insert keys: record %d: %w", i, err)
		}
		created := r.CreatedAt
		if created.IsZero() {
			created = now
		}
		rows[i] = keyRow{
			Pool:                r.Pool,
			KeyID:               r.KeyID,
			APIKey:              r.Key,
			Masked:              r.Masked,
			Status:              normStatus(r.Status),
			Reason:              r.Reason,
			ConsecutiveFailures: r.ConsecutiveFailures,
			TotalFailures:       r.TotalFailures,
			Cooldowns:           cd,
			Calls:               r.Calls,
			LastUsedAt:          timePtr(r.LastUsedAt),
			LastError:           r.LastError,
			Source:              r.Source,
			CreatedAt:           created.UTC(),
			UpdatedAt:           now,
		}
	}
	if !s.d.sqlite() {
		// On a server, skip the keys that exist with plain reads first: the
		// insert then locks only new rows (on MariaDB, rows locked by a
		// skipped duplicate were slow to update for a while after).
		if rows, err = s.newKeyRows(ctx, rows); err != nil {
			return 0, fmt.Errorf("store: insert keys: %w", err)
		}
		if len(rows) == 0 {
			return 0, nil
		}
	}
	var total int64
	err = s.inTx(ctx, func(tx dbConn) error {
		var err error
		head, tail := s.d.insertIgnoring(insertKeysHead, "pool, key_id")
		total, err = execBulk(ctx, tx, head, 15, s.d.rowsPerStmt(insertRowsPerStmt), len(rows), tail,
			func(i int, args []any) []any {
				r := &rows[i]
				var lastUsed any
				if r.LastUsedAt != nil {
					lastUsed = *r.LastUsedAt
				}
				return append(args, r.Pool, r.KeyID, r.APIKey, r.Masked, r.Status, r.Reason,
					r.ConsecutiveFailures, r.TotalFailures, r.Cooldowns, r.Calls, lastUsed, r.LastError,
					r.Source, r.CreatedAt, r.UpdatedAt)
			})
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: insert keys: %w", err)
	}
	if !s.d.sqlite() && total >= analyzeAfterKeys {
		// Fresh statistics: PostgreSQL plans the next lookups of a table it
		// still believes empty as full scans until autovacuum gets to it
		// (100,000 keys in 10 calls: 44 s instead of 2 s).
		_, _ = s.conn().ExecContext(ctx, s.d.analyze("gb_keys"))
	}
	return int(total), nil
}

// analyzeAfterKeys is the number of new keys after which InsertKeys
// refreshes the table's statistics on a server.
const analyzeAfterKeys = 1000

// newKeyRows returns the rows whose (pool, key_id) is neither in the table
// nor earlier in rows.
func (s *Store) newKeyRows(ctx context.Context, rows []keyRow) ([]keyRow, error) {
	type pk struct{ pool, id string }
	seen := make(map[pk]bool, len(rows))
	byPool := map[string][]string{}
	for i := range rows {
		byPool[rows[i].Pool] = append(byPool[rows[i].Pool], rows[i].KeyID)
	}
	for pool, ids := range byPool {
		for start := 0; start < len(ids); start += keyBatchSize {
			chunk := ids[start:min(start+keyBatchSize, len(ids))]
			args := make([]any, 0, len(chunk)+1)
			args = append(args, pool)
			for _, id := range chunk {
				args = append(args, id)
			}
			found, err := readRows(ctx, s.conn(), "SELECT key_id FROM gb_keys WHERE pool = ? AND key_id IN ("+
				placeholders(len(chunk))+")", args, func(rs *sql.Rows) (string, error) {
				var id string
				return id, rs.Scan(&id)
			})
			if err != nil {
				return nil, err
			}
			for _, id := range found {
				seen[pk{pool, id}] = true
			}
		}
	}
	out := rows[:0]
	for _, r := range rows {
		k := pk{r.Pool, r.KeyID}
		if !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	return out, nil
}

const (
	insertKeysHead = `INSERT INTO gb_keys (pool, key_id, api_key, masked, status, reason, consecutive_failures,
 total_failures, cooldowns, calls, last_used_at, last_error, source, created_at, updated_at) VALUES `
)

// DeleteKeys deletes the given keys of the pool in one transaction and returns
// how many rows were deleted. Unknown ids are ignored.
func (s *Store) DeleteKeys(ctx context.Context, pool string, keyIDs []string) (int, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	if len(keyIDs) == 0 {
		return 0, nil
	}
	var total int64
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for start := 0; start < len(keyIDs); start += keyBatchSize {
			end := min(start+keyBatchSize, len(keyIDs))
			res := tx.Where("pool = ? AND key_id IN ?", pool, keyIDs[start:end]).Delete(&keyRow{})
			if res.Error != nil {
				return res.Error
			}
			total += res.RowsAffected
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: delete keys: %w", err)
	}
	return int(total), nil
}

// updateKeys is the statement that updates up to updateRowsPerStmt keys:
// head + tuple (sep tuple)… + tail. SQLite and PostgreSQL join a VALUES list
// (typed on PostgreSQL, whose VALUES parameters are text otherwise), MySQL
// (whose VALUES lists differ between MySQL and MariaDB) a UNION ALL of
// SELECTs; all go through the (pool, key_id) index.
func updateKeys(d *dialect) (head, tuple, sep, tail string) {
	const set = `status = v.column3, reason = v.column4, consecutive_failures = v.column5,
 total_failures = v.column6, cooldowns = v.column7, calls = v.column8, last_used_at = v.column9,
 last_error = v.column10, source = v.column11, updated_at = v.column12`
	switch d.name {
	case engineMySQL:
		var b strings.Builder
		b.WriteString("SELECT ")
		for i := 1; i <= 12; i++ {
			if i > 1 {
				b.WriteString(", ")
			}
			b.WriteString("? AS column" + itoa(i))
		}
		// STRAIGHT_JOIN: the planner would otherwise scan gb_keys and probe
		// the (unindexed) derived table, 11 s for 100,000 keys.
		return "UPDATE (", b.String(), " UNION ALL ",
			`) AS v STRAIGHT_JOIN gb_keys ON gb_keys.pool = v.column1 AND gb_keys.key_id = v.column2 SET ` +
				strings.ReplaceAll(strings.ReplaceAll(set, "status =", "gb_keys.status ="), "\n ", " ")
	case enginePostgres:
		return "UPDATE gb_keys SET " + set + " FROM (VALUES ",
			"(?::text, ?::text, ?::text, ?::text, ?::integer, ?::bigint, ?::text, ?::bigint, ?::timestamptz, ?::text, ?::text, ?::timestamptz)",
			",", `) AS v WHERE gb_keys.pool = v.column1 AND gb_keys.key_id = v.column2`
	default:
		return "UPDATE gb_keys SET " + set + " FROM (VALUES ", "(" + strings.Repeat("?,", 11) + "?)", ",",
			`) AS v WHERE gb_keys.pool = v.column1 AND gb_keys.key_id = v.column2`
	}
}

// SaveKeyStates updates the state columns (status, reason, failures,
// cooldowns, calls, last_used_at, last_error, source) of existing rows,
// matched by (pool, key_id), in one transaction. Records without a row are
// ignored (if a key appears twice, the last record wins); the key and masked
// columns are not touched. It is synchronous: call it from a background
// persister, never on the request path.
func (s *Store) SaveKeyStates(ctx context.Context, recs []KeyRecord) error {
	if s.isClosed() {
		return ErrClosed
	}
	if len(recs) == 0 {
		return nil
	}
	now := time.Now().UTC()
	// Keep the last record of each (pool, key_id): in UPDATE … FROM the
	// matching source row would be arbitrary.
	type pk struct{ pool, id string }
	last := make(map[pk]int, len(recs))
	for i := range recs {
		last[pk{recs[i].Pool, recs[i].KeyID}] = i
	}
	idx := make([]int, 0, len(last))
	cds := make([]string, 0, len(last))
	for i := range recs {
		if last[pk{recs[i].Pool, recs[i].KeyID}] != i {
			continue
		}
		cd, err := encodeCooldowns(recs[i].Cooldowns, now)
		if err != nil {
			return fmt.Errorf("store: save key states: %s/%s: %w", recs[i].Pool, recs[i].KeyID, err)
		}
		idx = append(idx, i)
		cds = append(cds, cd)
	}
	head, tuple, sep, tail := updateKeys(s.d)
	err := s.inTx(ctx, func(tx dbConn) error {
		_, err := execBulkRows(ctx, tx, head, tuple, sep, 12, s.d.rowsPerStmt(updateRowsPerStmt), len(idx), tail,
			func(j int, args []any) []any {
				r := &recs[idx[j]]
				var lastUsed any
				if !r.LastUsedAt.IsZero() {
					lastUsed = r.LastUsedAt.UTC()
				}
				return append(args, r.Pool, r.KeyID, normStatus(r.Status), r.Reason, r.ConsecutiveFailures,
					r.TotalFailures, cds[j], r.Calls, lastUsed, r.LastError, r.Source, now)
			})
		return err
	})
	if err != nil {
		return fmt.Errorf("store: save key states: %w", err)
	}
	return nil
}

func normStatus(s string) string {
	if s == "" {
		return StatusActive
	}
	return s
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// encodeCooldowns renders the cooldown map as JSON, dropping entries that
// have expired at now.
func encodeCooldowns(m map[string]time.Time, now time.Time) (string, error) {
	if len(m) == 0 {
		return "{}", nil
	}
	live := make(map[string]time.Time, len(m))
	for model, until := range m {
		if until.After(now) {
			live[model] = until.UTC()
		}
	}
	if len(live) == 0 {
		return "{}", nil
	}
	b, err := json.Marshal(live)
	if err != nil {
		return "", fmt.Errorf("encode cooldowns: %w", err)
	}
	return string(b), nil
}

// decodeCooldowns parses the cooldown column; an empty object gives nil.
func decodeCooldowns(s string) (map[string]time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "{}" || s == "null" {
		return nil, nil
	}
	var m map[string]time.Time
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		return nil, errors.Join(errors.New("decode cooldowns"), err)
	}
	if len(m) == 0 {
		return nil, nil
	}
	for k, v := range m {
		m[k] = v.UTC()
	}
	return m, nil
}
