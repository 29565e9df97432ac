package balancer

import (
	"context"

	"github.com/gemini-balance/gemini_balance/internal/keypool"
)

// AddKeys stores new keys and puts them in rotation. Without a database they
// serve until the pool stops (persisted false); when the database refuses
// them, none are added.
func (b *Balancer) AddKeys(ctx context.Context, keys []*keypool.Key) (persisted bool, err error) {
	if err := b.insertKeys(ctx, keys); err != nil {
		return false, err
	}
	b.pool.Add(keys...)
	return b.store != nil, nil
}

// RemoveKeys takes keys out of the pool and the database.
func (b *Balancer) RemoveKeys(ctx context.Context, keys []*keypool.Key) (int, error) {
	ids := make([]string, len(keys))
	for i, k := range keys {
		ids[i] = k.ID()
	}
	if b.store != nil && len(ids) > 0 {
		if _, err := b.store.DeleteKeys(ctx, b.name, ids); err != nil {
			return 0, err
		}
	}
	return len(b.pool.Remove(ids...)), nil
}
