package store

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"go.uber.org/zap"
)

// Size caps applied to error log text fields before they are queued.
const (
	maxMessageBytes     = 2 << 10
	maxBodyBytes        = 32 << 10
	maxRequestBodyBytes = 64 << 10
	truncatedMark       = "…[truncated]"
)

// RequestLog is one upstream attempt.
type RequestLog struct {
	ID               int64     `json:"id"`   // row id, filled by readers (ignored when writing)
	Time             time.Time `json:"time"` // zero = now
	Pool             string    `json:"pool"`
	Model            string    `json:"model"`
	KeyID            string    `json:"key_id"`
	KeyMasked        string    `json:"key_masked"`
	Status           int       `json:"status"` // upstream status, or 499 client gone, 502/504 transport error/timeout
	LatencyMs        int64     `json:"latency_ms"`
	Attempt          int       `json:"attempt"`      // 1-based attempt number within the client request
	Stream           bool      `json:"stream"`       // streaming request
	Route            string    `json:"route"`        // e.g. "gemini.generateContent", "openai.chat"
	ClientToken      string    `json:"client_token"` // masked client token
	PromptTokens     int       `json:"prompt_tokens"`
	CompletionTokens int       `json:"completion_tokens"`
	TotalTokens      int       `json:"total_tokens"`
}

// ErrorLog is one failed upstream attempt.
type ErrorLog struct {
	ID          int64     `json:"id"`   // row id, filled by readers (ignored when writing)
	Time        time.Time `json:"time"` // zero = now
	Pool        string    `json:"pool"`
	Model       string    `json:"model"`
	KeyID       string    `json:"key_id"`
	KeyMasked   string    `json:"key_masked"`
	Status      int       `json:"status"`
	Kind        string    `json:"kind"`         // short classification, e.g. "invalid", "rate_limited", "upstream_5xx", "timeout"
	Message     string    `json:"message"`      // short human message (capped at 2 KiB)
	Body        string    `json:"body"`         // upstream error body, ALREADY redacted by the caller (capped at 32 KiB)
	RequestBody string    `json:"request_body"` // optional (capped at 64 KiB)
}

// logItem is one queued row: exactly one of req / errl is set.
type logItem struct {
	req  *requestLogRow
	errl *errorLogRow
	size int64 // approximate payload bytes, for the queue memory bound
}

type flushRequest struct {
	done chan error
}

// LogRequest queues r for the background writer. It never blocks: it returns
// false, and counts the row as dropped, when the queue is full or the store is
// closed.
func (s *Store) LogRequest(r RequestLog) bool {
	t := r.Time
	if t.IsZero() {
		t = time.Now()
	}
	row := &requestLogRow{
		Time:             t.UTC(),
		Pool:             clip(r.Pool, maxPoolLen),
		Model:            clip(r.Model, maxNameLen),
		KeyID:            clip(r.KeyID, maxKeyIDLen),
		KeyMasked:        clip(r.KeyMasked, maxMaskedLen),
		Status:           r.Status,
		LatencyMs:        r.LatencyMs,
		Attempt:          r.Attempt,
		Stream:           r.Stream,
		Route:            clip(r.Route, maxNameLen),
		ClientToken:      clip(r.ClientToken, maxNameLen),
		PromptTokens:     r.PromptTokens,
		CompletionTokens: r.CompletionTokens,
		TotalTokens:      r.TotalTokens,
	}
	size := int64(200 + len(row.Pool) + len(row.Model) + len(row.KeyID) + len(row.KeyMasked) + len(row.Route) + len(row.ClientToken))
	return s.enqueue(logItem{req: row, size: size})
}

// LogError queues e for the background writer; see LogRequest. Long text
// fields are truncated.
func (s *Store) LogError(e ErrorLog) bool {
	t := e.Time
	if t.IsZero() {
		t = time.Now()
	}
	row := &errorLogRow{
		Time:        t.UTC(),
		Pool:        clip(e.Pool, maxPoolLen),
		Model:       clip(e.Model, maxNameLen),
		KeyID:       clip(e.KeyID, maxKeyIDLen),
		KeyMasked:   clip(e.KeyMasked, maxMaskedLen),
		Status:      e.Status,
		Kind:        clip(e.Kind, maxKindLen),
		Message:     truncate(e.Message, maxMessageBytes),
		Body:        truncate(e.Body, maxBodyBytes),
		RequestBody: truncate(e.RequestBody, maxRequestBodyBytes),
	}
	size := int64(200 + len(row.Pool) + len(row.Model) + len(row.KeyID) + len(row.KeyMasked) + len(row.Kind) +
		len(row.Message) + len(row.Body) + len(row.RequestBody))
	return s.enqueue(logItem{errl: row, size: size})
}

func (s *Store) enqueue(it logItem) bool {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		s.dropped.Add(1)
		return false
	}
	if s.queueBytes.Add(it.size) > maxQueueBytes {
		s.queueBytes.Add(-it.size)
		s.mu.RUnlock()
		s.drop("memory")
		return false
	}
	s.queued.Add(1) // before the send, so that Written never exceeds Queued
	select {
	case s.queue <- it:
		s.mu.RUnlock()
		return true
	default:
		s.queued.Add(-1)
		s.queueBytes.Add(-it.size)
		s.mu.RUnlock()
		s.drop("full")
		return false
	}
}

func (s *Store) drop(why string) {
	n := s.dropped.Add(1)
	s.reportDrop(why, n)
}

// reportDrop logs a dropped row at most once per errorLogInterval.
func (s *Store) reportDrop(why string, total int64) {
	kind := "log_queue/" + why
	now := time.Now()
	s.errMu.Lock()
	last, seen := s.errLastLog[kind]
	if seen && now.Sub(last) < errorLogInterval {
		s.errMu.Unlock()
		return
	}
	s.errLastLog[kind] = now
	s.errMu.Unlock()
	s.logger.Warn("log queue "+why+": dropping log rows",
		zap.Int64("dropped_total", total), zap.Int("queue_capacity", cap(s.queue)))
}

// Flush waits until every row enqueued before the call has been written (or
// its write has failed). It returns the first write error met while flushing,
// ctx's error, or ErrClosed if the store is closed.
func (s *Store) Flush(ctx context.Context) error {
	if s.isClosed() {
		return ErrClosed
	}
	req := &flushRequest{done: make(chan error, 1)}
	select {
	case s.flushCh <- req:
	case <-s.writerDone:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// writer is the single background goroutine that writes queued log rows.
func (s *Store) writer() {
	defer close(s.writerDone)
	batch := make([]logItem, 0, s.batchSize)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	armed := false

	write := func() error {
		if armed {
			timer.Stop()
			armed = false
		}
		if len(batch) == 0 {
			return nil
		}
		err := s.writeBatch(s.runCtx, batch)
		clear(batch) // release rows for GC
		batch = batch[:0]
		return err
	}

	for {
		select {
		case it := <-s.queue:
			batch = append(batch, it)
			if len(batch) >= s.batchSize {
				_ = write()
			} else if !armed {
				timer.Reset(s.flushInterval)
				armed = true
			}

		case <-timer.C:
			armed = false
			_ = write()

		case req := <-s.flushCh:
			// Everything enqueued before Flush was called is already in the
			// channel (FIFO), within its first len() items, or in batch.
			var first error
			for n := len(s.queue); n > 0; n-- {
				batch = append(batch, <-s.queue)
				if len(batch) >= s.batchSize {
					if err := write(); err != nil && first == nil {
						first = err
					}
				}
			}
			if err := write(); err != nil && first == nil {
				first = err
			}
			req.done <- first

		case <-s.stopCh:
			// No enqueue can happen any more (closed is set under s.mu), and
			// this goroutine is the only receiver, so len() is exact.
			deadline := time.Now().Add(s.closeTimeout)
			for {
				for len(batch) < s.batchSize && len(s.queue) > 0 {
					batch = append(batch, <-s.queue)
				}
				if len(batch) == 0 {
					return
				}
				if s.runCtx.Err() != nil || time.Now().After(deadline) {
					lost := int64(len(batch) + len(s.queue))
					s.failedRows.Add(lost)
					s.logger.Warn("gave up writing queued log rows at close", zap.Int64("rows", lost))
					return
				}
				_ = write()
			}
		}
	}
}

// writeBatch writes the rows in one transaction. Failures are counted and
// logged (rate limited); the rows of a failed batch are lost. It never panics.
func (s *Store) writeBatch(ctx context.Context, batch []logItem) (err error) {
	var reqs []requestLogRow
	var errs []errorLogRow
	var bytes int64
	for _, it := range batch {
		bytes += it.size
		if it.req != nil {
			reqs = append(reqs, *it.req)
		} else if it.errl != nil {
			errs = append(errs, *it.errl)
		}
	}
	defer s.queueBytes.Add(-bytes)
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic while writing logs: %v", p)
		}
		if err != nil {
			s.writeErrors.Add(1)
			s.failedRows.Add(int64(len(batch)))
			s.noteWriteError(err)
			s.reportError("write_logs", err, zap.Int("rows", len(batch)))
		} else {
			s.written.Add(int64(len(batch)))
		}
	}()
	rollups := newRollupDelta()
	for i := range reqs {
		rollups.add(&reqs[i])
	}
	rowsPerStmt := s.d.rowsPerStmt(insertRowsPerStmt)
	return s.inTx(ctx, func(tx dbConn) error {
		if _, err := execBulk(ctx, tx, insertRequestLogsHead, 14, rowsPerStmt, len(reqs), "",
			func(i int, args []any) []any {
				r := &reqs[i]
				return append(args, r.Time, r.Pool, r.Model, r.KeyID, r.KeyMasked, r.Status, r.LatencyMs,
					r.Attempt, r.Stream, r.Route, r.ClientToken, r.PromptTokens, r.CompletionTokens, r.TotalTokens)
			}); err != nil {
			return err
		}
		// The hourly rollups, in the same transaction (see rollups.go).
		if err := rollups.upsert(ctx, tx, s.d, 1, 1); err != nil {
			return err
		}
		_, err := execBulk(ctx, tx, insertErrorLogsHead, 10, rowsPerStmt, len(errs), "",
			func(i int, args []any) []any {
				e := &errs[i]
				return append(args, e.Time, e.Pool, e.Model, e.KeyID, e.KeyMasked, e.Status, e.Kind,
					e.Message, e.Body, e.RequestBody)
			})
		return err
	})
}

const (
	insertRequestLogsHead = `INSERT INTO gb_request_logs (time, pool, model, key_id, key_masked, status, latency_ms,
 attempt, stream, route, client_token, prompt_tokens, completion_tokens, total_tokens) VALUES `
	insertErrorLogsHead = `INSERT INTO gb_error_logs (time, pool, model, key_id, key_masked, status, kind,
 message, body, request_body) VALUES `
)

// PurgeRequestLogs deletes request logs older than before and returns how
// many rows were deleted. It deletes in short chunks so that it never holds
// the write lock for long. The live counters of the rollups are decremented
// in the same transactions; their count counters (statistics history) are
// kept until PurgeRollups.
func (s *Store) PurgeRequestLogs(ctx context.Context, before time.Time) (int64, error) {
	return s.purge(ctx, "gb_request_logs", before)
}

// PurgeErrorLogs deletes error logs older than before; see PurgeRequestLogs.
func (s *Store) PurgeErrorLogs(ctx context.Context, before time.Time) (int64, error) {
	return s.purge(ctx, "gb_error_logs", before)
}

const purgeChunk = 5000

func (s *Store) purge(ctx context.Context, table string, before time.Time) (int64, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	before = before.UTC()
	var total int64
	var lastID int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		// Find the next chunk by rowid with a plain read (no write lock held);
		// old rows have small ids, so this walks the table once overall.
		var ids []int64
		err := s.db.WithContext(ctx).Table(table).
			Where("id > ? AND time < ?", lastID, before).
			Order("id").Limit(purgeChunk).Pluck("id", &ids).Error
		if err != nil {
			return total, fmt.Errorf("store: purge %s: %w", table, err)
		}
		if len(ids) == 0 {
			return total, nil
		}
		lo, hi := ids[0], ids[len(ids)-1]
		var n int64
		err = s.inTx(ctx, func(tx dbConn) error {
			if table == "gb_request_logs" {
				if err := applyRollupsFromRows(ctx, tx, s.d, "id >= ? AND id <= ? AND time < ?",
					[]any{lo, hi, before}, 0, -1); err != nil {
					return err
				}
			}
			res, err := tx.ExecContext(ctx, "DELETE FROM "+table+s.d.notIndexed()+" WHERE id >= ? AND id <= ? AND time < ?", lo, hi, before)
			if err != nil {
				return err
			}
			n, err = res.RowsAffected()
			return err
		})
		if err != nil {
			return total, fmt.Errorf("store: purge %s: %w", table, err)
		}
		total += n
		lastID = hi
		if len(ids) < purgeChunk {
			return total, nil
		}
	}
}

// CountRequestLogs counts the request logs of the pool at or after since
// ("" = all pools); success counts those with a 2xx status.
func (s *Store) CountRequestLogs(ctx context.Context, pool string, since time.Time) (total, success int64, err error) {
	if s.isClosed() {
		return 0, 0, ErrClosed
	}
	since = since.UTC()
	// Two index-only queries: (pool, time) and (pool, status, time).
	q := s.db.WithContext(ctx).Model(&requestLogRow{})
	if pool != "" {
		q = q.Where("pool = ?", pool)
	}
	if err = q.Where("time >= ?", since).Count(&total).Error; err != nil {
		return 0, 0, fmt.Errorf("store: count request logs: %w", err)
	}
	q = s.db.WithContext(ctx).Model(&requestLogRow{})
	if pool != "" {
		q = q.Where("pool = ?", pool)
	}
	if err = q.Where("status >= 200 AND status <= 299 AND time >= ?", since).Count(&success).Error; err != nil {
		return 0, 0, fmt.Errorf("store: count request logs: %w", err)
	}
	return total, success, nil
}

// ErrorLogs returns the newest error logs of the pool ("" = all pools),
// newest first. limit <= 0 means 100.
func (s *Store) ErrorLogs(ctx context.Context, pool string, limit int) ([]ErrorLog, error) {
	rows, err := newestRows[errorLogRow](ctx, s, pool, limit, "error logs")
	out := make([]ErrorLog, len(rows))
	for i, r := range rows {
		out[i] = ErrorLog{
			ID: r.ID, Time: r.Time.UTC(), Pool: r.Pool, Model: r.Model, KeyID: r.KeyID, KeyMasked: r.KeyMasked,
			Status: r.Status, Kind: r.Kind, Message: r.Message, Body: r.Body, RequestBody: r.RequestBody,
		}
	}
	return out, err
}

// RequestLogs returns the newest request logs of the pool ("" = all pools),
// newest first. limit <= 0 means 100.
func (s *Store) RequestLogs(ctx context.Context, pool string, limit int) ([]RequestLog, error) {
	rows, err := newestRows[requestLogRow](ctx, s, pool, limit, "request logs")
	out := make([]RequestLog, len(rows))
	for i, r := range rows {
		out[i] = RequestLog{
			ID: r.ID, Time: r.Time.UTC(), Pool: r.Pool, Model: r.Model, KeyID: r.KeyID, KeyMasked: r.KeyMasked,
			Status: r.Status, LatencyMs: r.LatencyMs, Attempt: r.Attempt, Stream: r.Stream, Route: r.Route,
			ClientToken: r.ClientToken, PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens,
			TotalTokens: r.TotalTokens,
		}
	}
	return out, err
}

// newestRows reads the newest log rows of one table, newest first.
func newestRows[T any](ctx context.Context, s *Store, pool string, limit int, what string) ([]T, error) {
	if s.isClosed() {
		return nil, ErrClosed
	}
	if limit <= 0 {
		limit = 100
	}
	var rows []T
	q := s.db.WithContext(ctx)
	if pool != "" {
		q = q.Where("pool = ?", pool)
	}
	if err := q.Order("time DESC, id DESC").Limit(limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return rows, nil
}

// clip cuts s to at most max bytes, on a UTF-8 boundary (so at most max
// characters too: the bound of the column on MySQL).
func clip(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}

// truncate cuts s to at most max bytes (on a UTF-8 boundary), marking the cut.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	cut := max - len(truncatedMark)
	if cut < 0 {
		cut = 0
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + truncatedMark
}
