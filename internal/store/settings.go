package store

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
)

// LoadSettings returns all settings of the pool (name -> JSON value). The map
// is empty, not nil, when the pool has none.
func (s *Store) LoadSettings(ctx context.Context, pool string) (map[string]json.RawMessage, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	var rows []settingRow
	if err := s.db.WithContext(ctx).Where("pool = ?", pool).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: load settings: %w", err)
	}
	out := make(map[string]json.RawMessage, len(rows))
	for _, r := range rows {
		out[r.Name] = json.RawMessage(r.Value)
	}
	return out, nil
}

// SaveSettings upserts all values of the pool in one transaction. Each value
// must be valid JSON (a nil value is stored as null).
func (s *Store) SaveSettings(ctx context.Context, pool string, values map[string]json.RawMessage) error {
	if s.isClosed() {
		return ErrClosed
	}
	if len(values) == 0 {
		return nil
	}
	names := make([]string, 0, len(values))
	for name := range values {
		names = append(names, name)
	}
	sort.Strings(names)
	now := time.Now().UTC()
	rows := make([]settingRow, 0, len(values))
	for _, name := range names {
		if name == "" {
			return fmt.Errorf("store: save settings: empty setting name")
		}
		v := values[name]
		if len(v) == 0 {
			v = json.RawMessage("null")
		}
		if !json.Valid(v) {
			return fmt.Errorf("store: save settings: %q: value is not valid JSON", name)
		}
		rows = append(rows, settingRow{Pool: pool, Name: name, Value: string(v), UpdatedAt: now})
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		return tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "pool"}, {Name: "name"}},
			DoUpdates: clause.AssignmentColumns([]string{"value", "updated_at"}),
		}).CreateInBatches(&rows, 500).Error
	})
	if err != nil {
		return fmt.Errorf("store: save settings: %w", err)
	}
	return nil
}

// DeleteSettings deletes the named settings of the pool. Unknown names are
// ignored.
func (s *Store) DeleteSettings(ctx context.Context, pool string, names []string) error {
	if s.isClosed() {
		return ErrClosed
	}
	if len(names) == 0 {
		return nil
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for start := 0; start < len(names); start += 500 {
			end := min(start+500, len(names))
			if err := tx.Where("pool = ? AND name IN ?", pool, names[start:end]).Delete(&settingRow{}).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: delete settings: %w", err)
	}
	return nil
}
