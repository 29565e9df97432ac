package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	mysqldrv "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5/pgconn"
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

// Flush waits until every row enqueued before the call has been written, or
// refused by the database, or a write has failed for a reason that may pass
// (the database is away, locked, full): then the rows not written yet stay
// queued, to be retried in the background, and Flush returns that error. It
// returns the first write error met while flushing, ctx's error, or ErrClosed
// if the store is closed.
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

// Retry of the batches the database could not take.
const (
	retryMin = 250 * time.Millisecond
	retryMax = 5 * time.Second
	// attemptTimeout bounds one write attempt, so that a server that stops
	// answering (a connection into a black hole) cannot hold the writer.
	attemptTimeout = 30 * time.Second
	// pingTimeout bounds the check that tells a refused row from a database
	// that went away (see failureOf).
	pingTimeout = 5 * time.Second
)

// writer is the single background goroutine that writes queued log rows.
func (s *Store) writer() {
	defer close(s.writerDone)
	w := &logWriter{s: s, batch: make([]logItem, 0, s.batchSize),
		flushTimer: stoppedTimer(), retryTimer: stoppedTimer()}
	for {
		queue := s.queue
		if w.backoff > 0 {
			// The database is away: new rows wait in the (bounded) queue,
			// which drops the newest once full, until the retry.
			queue = nil
		}
		select {
		case it := <-queue:
			w.batch = append(w.batch, it)
			if len(w.batch) >= s.batchSize {
				_ = w.write()
			} else if !w.armed {
				w.flushTimer.Reset(s.flushInterval)
				w.armed = true
			}

		case <-w.flushTimer.C:
			w.armed = false
			_ = w.write()

		case <-w.retryTimer.C:
			w.fill(s.batchSize)
			_ = w.write()

		case req := <-s.flushCh:
			req.done <- w.flush()

		case <-s.stopCh:
			w.drain()
			return
		}
	}
}

func stoppedTimer() *time.Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return t
}

// logWriter is the state of the writer goroutine.
type logWriter struct {
	s *Store
	// batch holds the rows taken from the queue, oldest first. Rows whose
	// write failed for a reason that may pass stay in it for the next try.
	batch      []logItem
	backoff    time.Duration // wait before the next try; 0 = no failed rows held
	flushTimer *time.Timer   // writes a partial batch after flushInterval
	armed      bool
	retryTimer *time.Timer // fires after backoff
}

// fill moves up to max rows from the queue to the batch, without blocking
// and without growing it past batchSize, and returns how many it moved.
func (w *logWriter) fill(max int) int {
	n := 0
	for n < max && len(w.batch) < w.s.batchSize {
		select {
		case it := <-w.s.queue:
			w.batch = append(w.batch, it)
			n++
		default:
			return n
		}
	}
	return n
}

// write tries the batch once and schedules the retry of what is left.
func (w *logWriter) write() error {
	if w.armed {
		w.flushTimer.Stop()
		w.armed = false
	}
	if len(w.batch) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(w.s.runCtx, attemptTimeout)
	err := w.attempt(ctx)
	cancel()
	if len(w.batch) > 0 {
		w.retryTimer.Reset(w.backoff)
	} else {
		w.retryTimer.Stop()
		w.backoff = 0
	}
	return err
}

// flush writes everything enqueued so far; see Store.Flush. It stops at the
// first failure that keeps rows for a retry.
func (w *logWriter) flush() error {
	// Everything enqueued before Flush was called is in the batch or within
	// the queue's first len() items (FIFO; this goroutine is the only
	// receiver).
	n := len(w.s.queue)
	var first error
	for {
		n -= w.fill(n)
		if len(w.batch) == 0 {
			return first
		}
		if err := w.write(); err != nil {
			if first == nil {
				first = err
			}
			if len(w.batch) > 0 {
				return first
			}
		}
	}
}

// drain writes what is queued at Close, retrying until closeTimeout; rows
// still unwritten then are counted in FailedRows.
func (w *logWriter) drain() {
	s := w.s
	// No enqueue can happen any more (closed is set under s.mu), and this
	// goroutine is the only receiver, so len() is exact.
	deadline := time.Now().Add(s.closeTimeout)
	for {
		w.fill(s.batchSize)
		if len(w.batch) == 0 {
			return
		}
		if s.runCtx.Err() != nil || time.Now().After(deadline) {
			lost := int64(len(w.batch) + len(s.queue))
			w.release(len(w.batch), false)
			s.failedRows.Add(int64(len(s.queue)))
			s.logger.Warn("gave up writing queued log rows at close", zap.Int64("rows", lost))
			return
		}
		if err := w.write(); err != nil && len(w.batch) > 0 {
			w.retryTimer.Stop()
			t := time.NewTimer(min(w.backoff, time.Until(deadline)))
			select {
			case <-t.C:
			case <-s.runCtx.Done():
			}
			t.Stop()
		}
	}
}

// failure is what to do with the rows of a failed write.
type failure int

const (
	retryLater failure = iota // the database is away, locked or full: keep them
	oneByOne                  // some row is refused: write them one at a time
	giveUp                    // nothing will take them (the store's handle is closed)
)

// attempt writes the batch in one transaction. Written rows leave the batch;
// so do rows the database refuses (counted in FailedRows); the others stay
// for a retry and the backoff grows. It returns the batch's error.
func (w *logWriter) attempt(ctx context.Context) error {
	s := w.s
	err := s.writeBatch(ctx, w.batch)
	if err == nil {
		w.release(len(w.batch), true)
		return nil
	}
	w.failed(err)
	switch s.failureOf(ctx, err) {
	case retryLater:
		w.retry()
		return err
	case giveUp:
		w.release(len(w.batch), false)
		return err
	}
	// One transaction per row: keep the rows the database takes, drop only
	// those it refuses, and stop as soon as it looks away again.
	for len(w.batch) > 0 {
		rowErr := s.writeBatch(ctx, w.batch[:1])
		if rowErr == nil {
			w.release(1, true)
			continue
		}
		w.failed(rowErr)
		if s.failureOf(ctx, rowErr) == retryLater {
			w.retry()
			return err
		}
		w.release(1, false)
	}
	return err
}

// failed counts and reports one failed write.
func (w *logWriter) failed(err error) {
	w.s.writeErrors.Add(1)
	w.s.noteWriteError(err)
	w.s.reportError("write_logs", err, zap.Int("rows", len(w.batch)))
}

// retry doubles the backoff, from retryMin up to retryMax.
func (w *logWriter) retry() {
	w.backoff = min(max(2*w.backoff, retryMin), retryMax)
}

// release removes the first n rows of the batch, counting them as written
// or as failed, and frees their share of the queue's memory bound.
func (w *logWriter) release(n int, written bool) {
	var bytes int64
	for _, it := range w.batch[:n] {
		bytes += it.size
	}
	w.s.queueBytes.Add(-bytes)
	if written {
		w.s.written.Add(int64(n))
	} else {
		w.s.failedRows.Add(int64(n))
	}
	rest := copy(w.batch, w.batch[n:])
	clear(w.batch[rest:]) // release rows for GC
	w.batch = w.batch[:rest]
}

// failureOf tells what to do with the rows of a write that failed with err.
func (s *Store) failureOf(ctx context.Context, err error) failure {
	if errors.Is(err, ErrClosed) || strings.Contains(err.Error(), "sql: database is closed") {
		return giveUp
	}
	if refusedRow(err) {
		return oneByOne
	}
	switch classifyError(err) {
	case "locked", "unavailable", "full", "nomem", "readonly", "ioerr", "cantopen", "canceled", "closed":
		return retryLater
	}
	// An error nothing above knows: the rows, if the database answers.
	pctx, cancel := context.WithTimeout(ctx, pingTimeout)
	defer cancel()
	if s.sqlDB.PingContext(pctx) != nil {
		return retryLater
	}
	return oneByOne
}

// refusedRow tells an error about the data of a row (too long, out of
// range, a constraint): writing it again will fail again.
func refusedRow(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		// Class 22: data exception; 23: integrity constraint violation.
		return strings.HasPrefix(pe.Code, "22") || strings.HasPrefix(pe.Code, "23")
	}
	var me *mysqldrv.MySQLError
	if errors.As(err, &me) {
		switch me.Number {
		case 1048, // column cannot be null
			1062,       // duplicate entry
			1264, 1690, // out of range
			1265, 1406, // data truncated, data too long
			1292, 1366, // incorrect value
			1451, 1452, // foreign key
			3819, 4025: // check constraint (MySQL, MariaDB)
			return true
		}
		return false
	}
	var coded interface{ Code() int }
	if errors.As(err, &coded) {
		switch coded.Code() & 0xff {
		case 18, 19, 20, 25: // SQLITE_TOOBIG, SQLITE_CONSTRAINT, SQLITE_MISMATCH, SQLITE_RANGE
			return true
		}
	}
	return false
}

// writeBatch writes the rows in one transaction and returns its error; the
// caller does the accounting. It never panics.
func (s *Store) writeBatch(ctx context.Context, batch []logItem) (err error) {
	var reqs []requestLogRow
	var errs []errorLogRow
	for _, it := range batch {
		if it.req != nil {
			reqs = append(reqs, *it.req)
		} else if it.errl != nil {
			errs = append(errs, *it.errl)
		}
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic while writing logs: %v", p)
		}
	}()
	rollups := newRollupDelta()
	for i := range reqs {
		rollups.add(&reqs[i])
	}
	rowsPerStmt := s.d.rowsPerStmt(insertRowsPerStmt)
	var reqInserts []string // SQLite's: the rows as literals (see requestLogsLiteral)
	if s.d.sqlite() && sqliteLiteralInsert {
		for i := 0; i < len(reqs); i += literalRowsPerStmt {
			reqInserts = append(reqInserts, requestLogsLiteral(reqs[i:min(i+literalRowsPerStmt, len(reqs))]))
		}
	}
	return s.inTx(ctx, func(tx dbConn) error {
		if reqInserts != nil {
			for _, stmt := range reqInserts {
				if _, err := tx.ExecContext(ctx, stmt); err != nil {
					return err
				}
			}
		} else if err := insertRequestLogsBound(ctx, tx, rowsPerStmt, reqs); err != nil {
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

// insertRequestLogsBound inserts reqs with multi-row statements of bound
// parameters (the servers' way; see requestLogsJSON for SQLite's).
func insertRequestLogsBound(ctx context.Context, tx dbConn, rowsPerStmt int, reqs []requestLogRow) error {
	_, err := execBulk(ctx, tx, insertRequestLogsHead, 14, rowsPerStmt, len(reqs), "",
		func(i int, args []any) []any {
			r := &reqs[i]
			return append(args, r.Time, r.Pool, r.Model, r.KeyID, r.KeyMasked, r.Status, r.LatencyMs,
				r.Attempt, r.Stream, r.Route, r.ClientToken, r.PromptTokens, r.CompletionTokens, r.TotalTokens)
		})
	return err
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

var purgeChunk = 5000 // a variable for the tests

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
			cond, args := "id >= ? AND id <= ? AND time < ?", []any{lo, hi, before}
			if table == "gb_request_logs" {
				// Locked first: another instance purging the same rows at
				// once would otherwise take them from live twice (see lockRows).
				if err := s.lockRows(ctx, tx, table, cond, args); err != nil {
					return err
				}
				if err := applyRollupsFromRows(ctx, tx, s.d, cond, args, 0, -1); err != nil {
					return err
				}
			}
			res, err := tx.ExecContext(ctx, "DELETE FROM "+table+s.d.notIndexed()+" WHERE "+cond, args...)
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
