package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// resourceRow is a row of gb_resources: a Files API file, cached content,
// batch, operation or upload session, the pool key that owns it and the
// client token that created it (as a hash, never the token).
type resourceRow struct {
	Pool      string    `gorm:"column:pool;type:text;primaryKey;not null"`
	Name      string    `gorm:"column:name;type:text;primaryKey;not null"`
	KeyID     string    `gorm:"column:key_id;type:text;not null;default:''"`
	TokenHash string    `gorm:"column:token_hash;type:text;not null;default:''"`
	ExpiresAt time.Time `gorm:"column:expires_at;type:datetime;not null;index:idx_gb_resources_expires"`
	CreatedAt time.Time `gorm:"column:created_at;type:datetime;not null"`
}

func (resourceRow) TableName() string { return "gb_resources" }

// ResourceRecord is one owned resource of a pool.
type ResourceRecord struct {
	Name      string
	KeyID     string
	TokenHash string
	ExpiresAt time.Time
	CreatedAt time.Time
}

// LoadResources returns the pool's resources that have not expired at now.
func (s *Store) LoadResources(ctx context.Context, pool string, now time.Time) ([]ResourceRecord, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	var rows []resourceRow
	if err := s.db.WithContext(ctx).Where("pool = ? AND expires_at > ?", pool, now.UTC()).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: load resources: %w", err)
	}
	out := make([]ResourceRecord, len(rows))
	for i, r := range rows {
		out[i] = ResourceRecord{Name: r.Name, KeyID: r.KeyID, TokenHash: r.TokenHash, ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt}
	}
	return out, nil
}

// SaveResources upserts recs and deletes the names in deleted, in one transaction.
func (s *Store) SaveResources(ctx context.Context, pool string, recs []ResourceRecord, deleted []string) error {
	if s.isClosed() {
		return ErrClosed
	}
	if len(recs) == 0 && len(deleted) == 0 {
		return nil
	}
	rows := make([]resourceRow, len(recs))
	for i, r := range recs {
		created := r.CreatedAt
		if created.IsZero() {
			created = time.Now()
		}
		rows[i] = resourceRow{Pool: pool, Name: r.Name, KeyID: r.KeyID, TokenHash: r.TokenHash,
			ExpiresAt: r.ExpiresAt.UTC(), CreatedAt: created.UTC()}
	}
	tx := s.db.WithContext(ctx).Begin()
	if tx.Error != nil {
		return fmt.Errorf("store: save resources: %w", tx.Error)
	}
	if len(rows) > 0 {
		err := tx.Clauses(clause.OnConflict{
			Columns:   []clause.Column{{Name: "pool"}, {Name: "name"}},
			DoUpdates: clause.AssignmentColumns([]string{"key_id", "token_hash", "expires_at"}),
		}).CreateInBatches(rows, keyBatchSize).Error
		if err != nil {
			tx.Rollback()
			return fmt.Errorf("store: save resources: %w", err)
		}
	}
	for start := 0; start < len(deleted); start += keyBatchSize {
		end := min(start+keyBatchSize, len(deleted))
		if err := tx.Where("pool = ? AND name IN ?", pool, deleted[start:end]).Delete(&resourceRow{}).Error; err != nil {
			tx.Rollback()
			return fmt.Errorf("store: delete resources: %w", err)
		}
	}
	if err := tx.Commit().Error; err != nil {
		return fmt.Errorf("store: save resources: %w", err)
	}
	return nil
}

// PurgeResources deletes the pool's resources expired at now.
func (s *Store) PurgeResources(ctx context.Context, pool string, now time.Time) (int64, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	res := s.db.WithContext(ctx).Where("pool = ? AND expires_at <= ?", pool, now.UTC()).Delete(&resourceRow{})
	if res.Error != nil {
		return 0, fmt.Errorf("store: purge resources: %w", res.Error)
	}
	return res.RowsAffected, nil
}
