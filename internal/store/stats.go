package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"sync"
	"time"
)

// Window counts the request logs of a time window. Success is a 2xx status;
// Failure is everything else (Total = Success + Failure).
type Window struct {
	Total   int64 `json:"total"`
	Success int64 `json:"success"`
	Failure int64 `json:"failure"`
}

// TrendPoint is one hourly bucket: [Start, Start+1h), Start in UTC.
type TrendPoint struct {
	Start   time.Time `json:"start"`
	Total   int64     `json:"total"`
	Success int64     `json:"success"`
	Failure int64     `json:"failure"`
}

// NamedCount is the traffic of one model or client token.
type NamedCount struct {
	Name    string `json:"name"`
	Total   int64  `json:"total"`
	Failure int64  `json:"failure"`
}

// KeyCount is the number of answers with one status for one key.
type KeyCount struct {
	KeyID     string `json:"key_id"`
	KeyMasked string `json:"key_masked"`
	Count     int64  `json:"count"`
}

// TopKeyStatuses are the statuses for which UsageStats ranks the keys.
var TopKeyStatuses = []int{429, 403, 400}

// Statistics sizes.
const (
	trendHours   = 24
	monthHours   = 30 * 24
	topNames     = 20
	topKeysCount = 10
)

// UsageStats is the traffic summary of a pool for the admin console.
//
// Minute and Hour are exact sliding windows over the rows: [now-1m, now] and
// [now-1h, now]. Day, Month, Trend, ByModel and ByToken come from the hourly
// rollups and are hour-aligned: Day is the sum of the 24 Trend buckets (the
// current, partial hour and the 23 before it) and Month the same over 720
// buckets; they count rows written and not deleted explicitly, including rows
// already removed by the retention purge (until PurgeRollups). TopKeys covers
// the same 24 buckets (from the per-key error rollups).
type UsageStats struct {
	Minute  Window             `json:"minute"`
	Hour    Window             `json:"hour"`
	Day     Window             `json:"day"`
	Month   Window             `json:"month"`
	Trend   []TrendPoint       `json:"trend"`    // 24 hourly buckets, oldest first, empty ones included
	ByModel []NamedCount       `json:"by_model"` // Day range, top 20 models by total
	ByToken []NamedCount       `json:"by_token"` // Day range, top 20 masked client tokens by total
	TopKeys map[int][]KeyCount `json:"top_keys"` // Day range: for 429, 403 and 400, the 10 keys with most such answers
}

// UsageStats computes the pool's statistics as of now (zero = time.Now()).
// Its queries run concurrently on several connections, each one reading an
// index range or the rollups; nothing scans the whole log table.
func (s *Store) UsageStats(ctx context.Context, pool string, now time.Time) (UsageStats, error) {
	if s.isClosed() {
		return UsageStats{}, ErrClosed
	}
	if now.IsZero() {
		now = time.Now()
	}
	now = now.UTC()
	nowHour := hourOf(now)
	dayStart := nowHour - (trendHours-1)*hourSeconds
	monthStart := nowHour - (monthHours-1)*hourSeconds

	var st UsageStats
	st.TopKeys = make(map[int][]KeyCount, len(TopKeyStatuses))
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
	)
	run := func(what string, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = fmt.Errorf("store: usage stats: %s: %w", what, err)
				}
				mu.Unlock()
			}
		}()
	}

	run("windows", func() error {
		// One range of the time index counts both windows; the failures are
		// counted with one seek per non-2xx status of the last two hours
		// (taken from the rollups) in the status index, which is cheaper
		// than checking the status of every row (most are 2xx).
		minuteAgo, hourAgo := now.Add(-time.Minute), now.Add(-time.Hour)
		var total, minute int64
		db, d := s.conn(), s.d
		err := db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(CASE WHEN time >= ? THEN 1 ELSE 0 END), 0)
 FROM gb_request_logs`+d.indexedBy("idx_gb_request_logs_pool_time")+` WHERE pool = ? AND time >= ? AND time <= ?`,
			minuteAgo, pool, hourAgo, now).Scan(&total, &minute)
		if err != nil {
			return err
		}
		var failed, minuteFailed int64
		statuses, err := readRows(ctx, db, `SELECT DISTINCT status
 FROM gb_request_rollups WHERE pool = ? AND dim = '' AND hour >= ? AND hour <= ? AND NOT (status >= 200 AND status <= 299)`,
			[]any{pool, hourOf(hourAgo), nowHour}, func(rs *sql.Rows) (int, error) {
				var v int
				return v, rs.Scan(&v)
			})
		if err != nil {
			return err
		}
		if len(statuses) > 0 {
			args := []any{minuteAgo, pool}
			for _, v := range statuses {
				args = append(args, v)
			}
			args = append(args, hourAgo, now)
			_, statusIdx, _ := requestLogs(d).filterIndexes(statuses[0])
			err = db.QueryRowContext(ctx, `SELECT count(*), coalesce(sum(CASE WHEN time >= ? THEN 1 ELSE 0 END), 0)
 FROM gb_request_logs`+d.indexedBy(statusIdx)+`
 WHERE pool = ? AND status IN (`+placeholders(len(args)-4)+`) AND `+failedStatus+` AND time >= ? AND time <= ?`,
				args...).Scan(&failed, &minuteFailed)
			if err != nil {
				return err
			}
		}
		st.Hour = Window{Total: total, Success: total - failed, Failure: failed}
		st.Minute = Window{Total: minute, Success: minute - minuteFailed, Failure: minuteFailed}
		return nil
	})

	run("trend", func() error {
		rows, err := s.conn().QueryContext(ctx, `SELECT hour, status >= 200 AND status <= 299, sum(count)
 FROM gb_request_rollups WHERE pool = ? AND dim = '' AND hour >= ? AND hour <= ? GROUP BY 1, 2`,
			pool, monthStart, nowHour)
		if err != nil {
			return err
		}
		defer rows.Close()
		trend := make([]TrendPoint, trendHours)
		for i := range trend {
			trend[i].Start = time.Unix(dayStart+int64(i)*hourSeconds, 0).UTC()
		}
		var month, day Window
		for rows.Next() {
			var hour, n int64
			var ok bool
			if err := rows.Scan(&hour, &ok, &n); err != nil {
				return err
			}
			add := func(w *Window) {
				w.Total += n
				if ok {
					w.Success += n
				} else {
					w.Failure += n
				}
			}
			add(&month)
			if hour >= dayStart {
				add(&day)
				p := &trend[(hour-dayStart)/hourSeconds]
				p.Total += n
				if ok {
					p.Success += n
				} else {
					p.Failure += n
				}
			}
		}
		if err := rows.Err(); err != nil {
			return err
		}
		st.Month, st.Day, st.Trend = month, day, trend
		return nil
	})

	run("by name", func() error {
		var err error
		if st.ByModel, err = s.topNames(ctx, pool, dimModel, dayStart, nowHour); err != nil {
			return err
		}
		st.ByToken, err = s.topNames(ctx, pool, dimToken, dayStart, nowHour)
		return err
	})

	topKeys := make([][]KeyCount, len(TopKeyStatuses))
	for i, status := range TopKeyStatuses {
		run(fmt.Sprintf("top keys %d", status), func() error {
			// The key rollups are ordered by (pool, status, key_id, hour):
			// the GROUP BY streams, only the top 10 are sorted.
			rows, err := s.conn().QueryContext(ctx, `SELECT key_id, sum(count) AS n FROM gb_key_error_rollups
 WHERE pool = ? AND status = ? AND hour >= ? AND hour <= ?
 GROUP BY key_id HAVING sum(count) > 0 ORDER BY n DESC, key_id LIMIT ?`, pool, status, dayStart, nowHour, topKeysCount)
			if err != nil {
				return err
			}
			defer rows.Close()
			out := []KeyCount{}
			for rows.Next() {
				var kc KeyCount
				if err := rows.Scan(&kc.KeyID, &kc.Count); err != nil {
					return err
				}
				out = append(out, kc)
			}
			topKeys[i] = out
			return rows.Err()
		})
	}
	wg.Wait()
	if firstErr != nil {
		return UsageStats{}, firstErr
	}

	// Masked forms of the top keys, from their newest row.
	ids := map[string]string{}
	for _, list := range topKeys {
		for _, kc := range list {
			ids[kc.KeyID] = ""
		}
	}
	if len(ids) > 0 {
		masked, err := s.maskedKeys(ctx, pool, ids)
		if err != nil {
			return UsageStats{}, fmt.Errorf("store: usage stats: masked keys: %w", err)
		}
		for i := range topKeys {
			for j := range topKeys[i] {
				topKeys[i][j].KeyMasked = masked[topKeys[i][j].KeyID]
			}
		}
	}
	for i, status := range TopKeyStatuses {
		st.TopKeys[status] = topKeys[i]
	}
	return st, nil
}

// topNames returns the top names of one rollup dimension over [from, to]
// (hour starts).
func (s *Store) topNames(ctx context.Context, pool, dim string, from, to int64) ([]NamedCount, error) {
	rows, err := s.conn().QueryContext(ctx, `SELECT name, sum(count) AS total,
 sum(CASE WHEN status >= 200 AND status <= 299 THEN 0 ELSE count END)
 FROM gb_request_rollups WHERE pool = ? AND dim = ? AND hour >= ? AND hour <= ?
 GROUP BY name HAVING sum(count) > 0 ORDER BY total DESC, name LIMIT ?`, pool, dim, from, to, topNames)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []NamedCount{}
	for rows.Next() {
		var nc NamedCount
		if err := rows.Scan(&nc.Name, &nc.Total, &nc.Failure); err != nil {
			return nil, err
		}
		out = append(out, nc)
	}
	return out, rows.Err()
}

// maskedKeys fills ids (key id -> masked) from each key's newest failed
// request log (the top keys are keys with failed answers): one seek in the
// key index per key (a handful). A key whose failed rows are gone is looked up
// in its newest hour with rows (rollups), read through (pool, time).
func (s *Store) maskedKeys(ctx context.Context, pool string, ids map[string]string) (map[string]string, error) {
	keyIdx, _, _ := requestLogs(s.d).filterIndexes(http.StatusTooManyRequests)
	failed := `SELECT key_masked FROM gb_request_logs` + s.d.indexedBy(keyIdx) +
		` WHERE pool = ? AND key_id = ? AND ` + failedStatus + ` ORDER BY time DESC LIMIT 1`
	newestHour := `SELECT max(hour) FROM ` + rollupTable + s.d.indexedBy(rollupNameIndex.name) +
		` WHERE pool = ? AND dim = ? AND name = ? AND live > 0`
	inHour := `SELECT key_masked FROM gb_request_logs` + s.d.indexedBy(requestLogTable.idxTime) +
		` WHERE pool = ? AND time >= ? AND time < ? AND key_id = ? ORDER BY time DESC LIMIT 1`
	db := s.conn()
	for id := range ids {
		var masked string
		err := db.QueryRowContext(ctx, failed, pool, id).Scan(&masked)
		if errors.Is(err, sql.ErrNoRows) {
			var h sql.NullInt64
			if err = db.QueryRowContext(ctx, newestHour, pool, dimKey, id).Scan(&h); err != nil || !h.Valid {
				if err != nil {
					return nil, err
				}
				continue
			}
			err = db.QueryRowContext(ctx, inHour, pool, time.Unix(h.Int64, 0).UTC(),
				time.Unix(h.Int64+hourSeconds, 0).UTC(), id).Scan(&masked)
		}
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			return nil, err
		}
		ids[id] = masked
	}
	return ids, nil
}

// KeyCalls returns the number of request logs per key id of the pool at or
// after since (zero = all rows). Keys without calls are absent. See keyCalls.
func (s *Store) KeyCalls(ctx context.Context, pool string, since time.Time) (map[string]int64, error) {
	return s.keyCalls(ctx, pool, since, nil)
}

// KeyCallsFor returns the number of request logs at or after since (zero =
// all rows) for each of keyIDs that has any (use it for a page of keys: it
// reads only their buckets).
func (s *Store) KeyCallsFor(ctx context.Context, pool string, since time.Time, keyIDs []string) (map[string]int64, error) {
	out := make(map[string]int64, len(keyIDs))
	for start := 0; start < len(keyIDs); start += keyBatchSize {
		m, err := s.keyCalls(ctx, pool, since, keyIDs[start:min(start+keyBatchSize, len(keyIDs))])
		if err != nil {
			return nil, err
		}
		maps.Copy(out, m)
	}
	return out, nil
}

// keyCalls counts the request logs per key at or after since, of the keys
// keyIDs (nil = all), in one snapshot: the whole hours from the rollups'
// "key" buckets (live counters), the partial hour at since from the rows of
// that hour, read through (pool, time).
func (s *Store) keyCalls(ctx context.Context, pool string, since time.Time, keyIDs []string) (map[string]int64, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	since = since.UTC()
	h1 := int64(math.MinInt64) // first whole hour
	if !since.IsZero() {
		h1 = hourOf(since)
		if !since.Equal(time.Unix(h1, 0)) {
			h1 += hourSeconds
		}
	}
	in, inArgs := "", []any{}
	if keyIDs != nil {
		if len(keyIDs) == 0 {
			return map[string]int64{}, nil
		}
		in = " IN (" + placeholders(len(keyIDs)) + ")"
		for _, id := range keyIDs {
			inArgs = append(inArgs, id)
		}
	}
	out := make(map[string]int64)
	add := func(db querier, q string, args []any) error {
		counts, err := readRows(ctx, db, q, args, func(rs *sql.Rows) (NamedCount, error) {
			var nc NamedCount
			return nc, rs.Scan(&nc.Name, &nc.Total)
		})
		for _, nc := range counts {
			out[nc.Name] += nc.Total
		}
		return err
	}
	err := s.readSnapshot(ctx, func(db querier) error {
		q := `SELECT name, sum(live) FROM ` + rollupTable + ` WHERE pool = ? AND dim = ? AND hour >= ?`
		if in != "" {
			q = `SELECT name, sum(live) FROM ` + rollupTable + s.d.indexedBy(rollupNameIndex.name) +
				` WHERE pool = ? AND dim = ? AND hour >= ? AND name` + in
		}
		if err := add(db, q+` GROUP BY name`, append([]any{pool, dimKey, h1}, inArgs...)); err != nil {
			return err
		}
		if since.IsZero() || !since.Before(time.Unix(h1, 0)) {
			return nil
		}
		q = `SELECT key_id, count(*) FROM gb_request_logs` + s.d.indexedBy(requestLogTable.idxTime) +
			` WHERE pool = ? AND time >= ? AND time < ?`
		if in != "" {
			q += ` AND key_id` + in
		}
		return add(db, q+` GROUP BY key_id`, append([]any{pool, since, time.Unix(h1, 0).UTC()}, inArgs...))
	})
	if err != nil {
		return nil, fmt.Errorf("store: key calls: %w", err)
	}
	maps.DeleteFunc(out, func(_ string, n int64) bool { return n <= 0 })
	return out, nil
}
