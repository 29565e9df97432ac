package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.uber.org/zap"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"
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

// LoadKeys returns all rows of the pool, ordered by id (insertion order).
func (s *Store) LoadKeys(ctx context.Context, pool string) ([]KeyRecord, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	var rows []keyRow
	if err := s.db.WithContext(ctx).Where("pool = ?", pool).Order("id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: load keys: %w", err)
	}
	out := make([]KeyRecord, len(rows))
	for i := range rows {
		r := &rows[i]
		rec := KeyRecord{
			Pool:                r.Pool,
			KeyID:               r.KeyID,
			Key:                 r.APIKey,
			Masked:              r.Masked,
			Status:              r.Status,
			Reason:              r.Reason,
			ConsecutiveFailures: r.ConsecutiveFailures,
			TotalFailures:       r.TotalFailures,
			Calls:               r.Calls,
			LastError:           r.LastError,
			Source:              r.Source,
			CreatedAt:           r.CreatedAt.UTC(),
		}
		if r.LastUsedAt != nil {
			rec.LastUsedAt = r.LastUsedAt.UTC()
		}
		cd, err := decodeCooldowns(r.Cooldowns)
		if err != nil {
			// A damaged cooldown column must not make the pool unloadable.
			s.reportError("load_keys", err, zap.String("pool", pool), zap.String("key_id", r.KeyID))
		}
		rec.Cooldowns = cd
		out[i] = rec
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

// InsertKeys inserts recs in one transaction (multi-row INSERTs of 500 rows).
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
	var total int64
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for start := 0; start < len(rows); start += keyBatchSize {
			end := min(start+keyBatchSize, len(rows))
			batch := rows[start:end]
			res := tx.Clauses(clause.OnConflict{
				Columns:   []clause.Column{{Name: "pool"}, {Name: "key_id"}},
				DoNothing: true,
			}).Create(&batch)
			if res.Error != nil {
				return res.Error
			}
			total += res.RowsAffected
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: insert keys: %w", err)
	}
	return int(total), nil
}

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

const updateKeyStateSQL = `UPDATE gb_keys SET status = ?, reason = ?, consecutive_failures = ?, total_failures = ?,
 cooldowns = ?, calls = ?, last_used_at = ?, last_error = ?, source = ?, updated_at = ?
 WHERE pool = ? AND key_id = ?`

// SaveKeyStates updates the state columns (status, reason, failures,
// cooldowns, calls, last_used_at, last_error, source) of existing rows,
// matched by (pool, key_id), in one transaction. Records without a row are
// ignored; the key and masked columns are not touched. It is synchronous: call
// it from a background persister, never on the request path.
func (s *Store) SaveKeyStates(ctx context.Context, recs []KeyRecord) error {
	if s.isClosed() {
		return ErrClosed
	}
	if len(recs) == 0 {
		return nil
	}
	now := time.Now().UTC()
	tx, err := s.sqlDB.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: save key states: %w", err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	stmt, err := tx.PrepareContext(ctx, updateKeyStateSQL)
	if err != nil {
		return fmt.Errorf("store: save key states: %w", err)
	}
	defer stmt.Close()
	for i := range recs {
		r := &recs[i]
		cd, cerr := encodeCooldowns(r.Cooldowns, now)
		if cerr != nil {
			err = fmt.Errorf("store: save key states: %s/%s: %w", r.Pool, r.KeyID, cerr)
			return err
		}
		var lastUsed any
		if !r.LastUsedAt.IsZero() {
			lastUsed = r.LastUsedAt.UTC()
		}
		if _, err = stmt.ExecContext(ctx, normStatus(r.Status), r.Reason, r.ConsecutiveFailures, r.TotalFailures,
			cd, r.Calls, lastUsed, r.LastError, r.Source, now, r.Pool, r.KeyID); err != nil {
			err = fmt.Errorf("store: save key states: %w", err)
			return err
		}
	}
	if err = tx.Commit(); err != nil {
		err = fmt.Errorf("store: save key states: %w", err)
		return err
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
