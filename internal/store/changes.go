package store

import (
	"context"
	"fmt"
	"strings"
	"time"

	"gorm.io/gorm"
)

// Key events: how instances of one pool on one database tell each other
// about key state changes (a key found invalid, a cooldown, a reset, keys
// added or deleted). Each instance appends its own changes to gb_key_events
// in batches and polls the table for the others'. An event carries the state
// itself, because gb_keys rows may be overwritten by another instance's
// persist pass with that instance's older view of the key.
//
// Everything here is written with gorm's builder or ? placeholders and
// portable types (integers for times, bounded varchar for indexed strings),
// so it runs unchanged on SQLite, PostgreSQL and MySQL/MariaDB.

// Kinds of key events.
const (
	EventInvalid  = "invalid"  // the keys are invalid (Reason says why)
	EventCooldown = "cooldown" // the keys rest for Model until Until
	EventReset    = "reset"    // the keys are active with no cooldowns (an operator's reset)
	EventChecked  = "checked"  // the keys passed a check: active with no cooldowns
	EventAdded    = "added"    // the keys were added (their rows are in gb_keys)
	EventDeleted  = "deleted"  // the keys were deleted

	// Resource events share key affinity (gb_resources) between instances:
	// KeyIDs holds the owning key, Model the token hash, Reason the
	// resource's name, Until its expiry, At its creation.
	EventResource     = "resource"      // a resource was recorded
	EventResourceGone = "resource_gone" // a resource was deleted (Reason names it)
)

// MaxEventKeys is the most key IDs one event row carries (16 hex digits and
// a comma each: 17 KB, inside MySQL's 64 KB TEXT).
const MaxEventKeys = 1000

// KeyEvent is one change to one or more keys of a pool, made by one instance.
type KeyEvent struct {
	ID       int64 // assigned by the database; ignored when appending
	Pool     string
	Instance string // the instance that made the change
	Kind     string
	KeyIDs   []string // at most MaxEventKeys
	Model    string   // EventCooldown
	Until    time.Time
	Reason   string
	At       time.Time // when the change was made
}

// keyEventRow is a row of gb_key_events. Times are unix milliseconds (the
// same integer on every engine; until is a reserved word in MySQL).
type keyEventRow struct {
	ID       int64  `gorm:"column:id;primaryKey;autoIncrement;index:idx_gb_key_events_pool_id,priority:2"`
	Pool     string `gorm:"column:pool;size:191;not null;index:idx_gb_key_events_pool_id,priority:1"`
	Instance string `gorm:"column:instance_id;size:64;not null"`
	Kind     string `gorm:"column:kind;size:16;not null"`
	KeyIDs   string `gorm:"column:key_ids;type:text;not null"` // comma-separated
	Model    string `gorm:"column:model;size:191;not null"`
	UntilMs  int64  `gorm:"column:until_ms;not null"`
	Reason   string `gorm:"column:reason;size:1000;not null"`
	AtMs     int64  `gorm:"column:at_ms;not null"`
}

func (keyEventRow) TableName() string { return "gb_key_events" }

func toMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMs(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

func (r *keyEventRow) event() KeyEvent {
	e := KeyEvent{ID: r.ID, Pool: r.Pool, Instance: r.Instance, Kind: r.Kind, Model: r.Model,
		Until: fromMs(r.UntilMs), Reason: r.Reason, At: fromMs(r.AtMs)}
	if r.KeyIDs != "" {
		e.KeyIDs = strings.Split(r.KeyIDs, ",")
	}
	return e
}

// AppendKeyEvents writes evs in one transaction, in order (so their ids
// ascend in that order).
func (s *Store) AppendKeyEvents(ctx context.Context, evs []KeyEvent) error {
	if s.isClosed() {
		return ErrClosed
	}
	if len(evs) == 0 {
		return nil
	}
	rows := make([]keyEventRow, len(evs))
	for i, e := range evs {
		if e.Pool == "" || e.Kind == "" || len(e.KeyIDs) > MaxEventKeys {
			return fmt.Errorf("store: append key events: event %d: pool and kind must be set, at most %d keys", i, MaxEventKeys)
		}
		rows[i] = keyEventRow{Pool: e.Pool, Instance: e.Instance, Kind: e.Kind, KeyIDs: strings.Join(e.KeyIDs, ","),
			Model: e.Model, UntilMs: toMs(e.Until), Reason: truncate(e.Reason, 1000), AtMs: toMs(e.At)}
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return tx.CreateInBatches(rows, 100).Error
	})
	if err != nil {
		return fmt.Errorf("store: append key events: %w", err)
	}
	return nil
}

// KeyEventsAfter returns up to limit events of the pool with an id above
// after, in id order.
func (s *Store) KeyEventsAfter(ctx context.Context, pool string, after int64, limit int) ([]KeyEvent, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	var rows []keyEventRow
	err := s.db.WithContext(ctx).Where("pool = ? AND id > ?", pool, after).Order("id").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("store: read key events: %w", err)
	}
	return events(rows), nil
}

// KeyEventsByID returns the events of the pool among ids, in id order (ids
// that name no event of the pool are left out).
func (s *Store) KeyEventsByID(ctx context.Context, pool string, ids []int64) ([]KeyEvent, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	var out []KeyEvent
	for start := 0; start < len(ids); start += keyBatchSize {
		var rows []keyEventRow
		err := s.db.WithContext(ctx).Where("pool = ? AND id IN ?", pool, ids[start:min(start+keyBatchSize, len(ids))]).
			Order("id").Find(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("store: read key events: %w", err)
		}
		out = append(out, events(rows)...)
	}
	return out, nil
}

func events(rows []keyEventRow) []KeyEvent {
	out := make([]KeyEvent, len(rows))
	for i := range rows {
		out[i] = rows[i].event()
	}
	return out
}

// LastKeyEventID is the highest event id of the pool (0 when none).
func (s *Store) LastKeyEventID(ctx context.Context, pool string) (int64, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	var id *int64
	if err := s.db.WithContext(ctx).Model(&keyEventRow{}).Where("pool = ?", pool).Select("MAX(id)").Scan(&id).Error; err != nil {
		return 0, fmt.Errorf("store: read key events: %w", err)
	}
	if id == nil {
		return 0, nil
	}
	return *id, nil
}

// PurgeKeyEvents deletes the pool's events made before the given time.
func (s *Store) PurgeKeyEvents(ctx context.Context, pool string, before time.Time) (int64, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	res := s.db.WithContext(ctx).Where("pool = ? AND at_ms < ?", pool, toMs(before)).Delete(&keyEventRow{})
	if res.Error != nil {
		return 0, fmt.Errorf("store: purge key events: %w", res.Error)
	}
	return res.RowsAffected, nil
}

// KeysByID reads the pool's keys among ids (those another instance added).
func (s *Store) KeysByID(ctx context.Context, pool string, ids []string) ([]KeyRecord, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	var out []KeyRecord
	for start := 0; start < len(ids); start += keyBatchSize {
		var rows []keyRow
		err := s.db.WithContext(ctx).Where("pool = ? AND key_id IN ?", pool, ids[start:min(start+keyBatchSize, len(ids))]).
			Order("id").Find(&rows).Error
		if err != nil {
			return nil, fmt.Errorf("store: read keys: %w", err)
		}
		for _, r := range rows {
			rec := KeyRecord{Pool: r.Pool, KeyID: r.KeyID, Key: r.APIKey, Masked: r.Masked, Status: r.Status,
				Reason: r.Reason, ConsecutiveFailures: r.ConsecutiveFailures, TotalFailures: r.TotalFailures,
				Calls: r.Calls, LastError: r.LastError, Source: r.Source, CreatedAt: r.CreatedAt.UTC()}
			if r.LastUsedAt != nil {
				rec.LastUsedAt = r.LastUsedAt.UTC()
			}
			// A damaged cooldown column leaves the key without cooldowns.
			rec.Cooldowns, _ = decodeCooldowns(r.Cooldowns)
			out = append(out, rec)
		}
	}
	return out, nil
}
