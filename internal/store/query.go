package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// ErrNotFound is returned when the requested row does not exist (in the
// given pool).
var ErrNotFound = errors.New("store: not found")

// ErrInvalidFilter is wrapped by the errors returned for a LogFilter that
// cannot be applied (an unknown sort field).
var ErrInvalidFilter = errors.New("store: invalid log filter")

// Page sizes of QueryRequestLogs / QueryErrorLogs.
const (
	DefaultPageSize = 50
	MaxPageSize     = 500
)

// LogFilter selects and orders log rows for QueryRequestLogs and
// QueryErrorLogs. The zero value means the newest DefaultPageSize rows.
type LogFilter struct {
	KeyID  string // exact key id ("" = any)
	Model  string // exact model ("" = any)
	Status int    // exact status; 0 = any
	// Text is a case-insensitive (ASCII letters; PostgreSQL and MySQL may
	// fold other letters too) substring matched against
	// message, body and kind (error logs) or route and model (request logs).
	// It cannot use an index: the total of a text search reads every row of
	// the pool in the other filters' range.
	Text string
	// From (inclusive) and To (exclusive) bound the time; zero = open.
	From, To time.Time
	// Sort is "time" (default), "status", "model" or "latency" (request logs
	// only), with a "-" prefix for descending; "" means "-time". Ties are
	// broken by time then id in the same direction (latency: by id).
	Sort string
	// Offset skips rows (< 0 = 0); Limit is the page size: <= 0 means
	// DefaultPageSize, more than MaxPageSize means MaxPageSize.
	Offset, Limit int
}

// sortThreshold: when the filtered set has at most this many rows, it is
// read through the filter's index and sorted; above it, the rows are read in
// the order of the sort's index and filtered on the way (the page is then
// found after about (offset+limit) * total/selected index entries).
var sortThreshold int64 = 20000 // a variable for the tests

// logTable describes one log table for the query builder.
type logTable struct {
	name      string
	what      string // for error messages
	cols      string // select list; {time} is the time column (dialect.timeCol)
	textCols  []string
	idxTime   string
	idxKey    string // "" = none for every row (see idxKeyFailed)
	idxStatus string // "" = none for every row (see idxStatusFailed)
	idxModel  string
	// Partial indexes of the failed rows, for a filter with an error status
	// (the query repeats failedStatus).
	idxKeyFailed    string
	idxStatusFailed string
	sortIdx         map[string]string // sort field -> index giving that order
	sortColumn      map[string]string // sort field -> ORDER BY column
}

// requestLogTable is the request logs on SQLite and PostgreSQL: key and status
// indexes of the failed rows only (see requestLogRow); the rows of a key or
// of a 2xx status are read through (pool, time) within their hours
// (narrowToHours), and the status sort, like the latency sort, sorts the rows.
var requestLogTable = logTable{
	name: "gb_request_logs",
	what: "request logs",
	cols: `id, {time}, pool, model, key_id, key_masked, status, latency_ms, attempt, stream, route,
 client_token, prompt_tokens, completion_tokens, total_tokens`,
	textCols:        []string{"route", "model"},
	idxTime:         "idx_gb_request_logs_pool_time",
	idxModel:        "idx_gb_request_logs_pool_model_time",
	idxKeyFailed:    requestLogsFailedKeyIndex.name,
	idxStatusFailed: requestLogsFailedStatusIndex.name,
	sortIdx: map[string]string{
		"time":  "idx_gb_request_logs_pool_time",
		"model": "idx_gb_request_logs_pool_model_time",
	},
	sortColumn: map[string]string{"time": "time", "status": "status", "model": "model", "latency": "latency_ms"},
}

// requestLogTableMySQL is the request logs on MySQL, which has no partial
// indexes: full key and status indexes.
var requestLogTableMySQL = func() logTable {
	t := requestLogTable
	t.idxKey, t.idxStatus = requestLogsMySQLKeyIndex.name, requestLogsMySQLStatusIndex.name
	t.idxKeyFailed, t.idxStatusFailed = "", ""
	t.sortIdx = map[string]string{"time": t.idxTime, "model": t.idxModel, "status": t.idxStatus}
	return t
}()

// requestLogs is the request-log table as d's engine has it.
func requestLogs(d *dialect) *logTable {
	if d.mysql() {
		return &requestLogTableMySQL
	}
	return &requestLogTable
}

var errorLogTable = logTable{
	name:      "gb_error_logs",
	what:      "error logs",
	cols:      `id, {time}, pool, model, key_id, key_masked, status, kind, message, body, request_body`,
	textCols:  []string{"message", "body", "kind"},
	idxTime:   "idx_gb_error_logs_pool_time",
	idxKey:    "idx_gb_error_logs_pool_key_time",
	idxStatus: "idx_gb_error_logs_pool_status_time",
	idxModel:  "idx_gb_error_logs_pool_model_time",
	sortIdx: map[string]string{
		"time":   "idx_gb_error_logs_pool_time",
		"status": "idx_gb_error_logs_pool_status_time",
		"model":  "idx_gb_error_logs_pool_model_time",
	},
	sortColumn: map[string]string{"time": "time", "status": "status", "model": "model"},
}

// filterIndexes returns the indexes that serve a key and a status filter
// (status 0 = none; "" = no index) and whether the query must repeat the
// partial indexes' condition.
func (t *logTable) filterIndexes(status int) (key, stat string, partial bool) {
	key, stat = t.idxKey, t.idxStatus
	if status != 0 && !is2xx(status) {
		if key == "" && t.idxKeyFailed != "" {
			key, partial = t.idxKeyFailed, true
		}
		if stat == "" && t.idxStatusFailed != "" {
			stat, partial = t.idxStatusFailed, true
		}
	}
	return key, stat, partial
}

// selectList is t's select list on d's engine.
func (t *logTable) selectList(d *dialect) string {
	return strings.Replace(t.cols, "{time}", d.timeCol("time"), 1)
}

// logQuery is a normalized filter with its SQL pieces.
type logQuery struct {
	d      *dialect
	t      *logTable
	f      LogFilter
	field  string // sort field
	desc   bool
	where  string // conditions, "pool = ?" first
	args   []any
	filter string // index serving the equality filters ("" = none)
	// scanDim and scanName: a key or status filter that no index serves is
	// read through another index within the hours whose rollup buckets
	// (dimension scanDim, name scanName) hold its rows (narrowToHours).
	scanDim, scanName string
	scan              bool
	partial           bool // the conditions repeat failedStatus for a partial index
}

func newLogQuery(d *dialect, t *logTable, pool string, f LogFilter) (*logQuery, error) {
	q := &logQuery{d: d, t: t, f: f}
	sortSpec := strings.TrimSpace(f.Sort)
	if sortSpec == "" {
		sortSpec = "-time"
	}
	if strings.HasPrefix(sortSpec, "-") {
		q.desc = true
		sortSpec = sortSpec[1:]
	} else {
		sortSpec = strings.TrimPrefix(sortSpec, "+")
	}
	if _, ok := t.sortColumn[sortSpec]; !ok {
		return nil, fmt.Errorf("%w: unknown sort %q for %s", ErrInvalidFilter, f.Sort, t.what)
	}
	q.field = sortSpec
	if q.f.Limit <= 0 {
		q.f.Limit = DefaultPageSize
	}
	if q.f.Limit > MaxPageSize {
		q.f.Limit = MaxPageSize
	}
	if q.f.Offset < 0 {
		q.f.Offset = 0
	}
	q.f.From, q.f.To = q.f.From.UTC(), q.f.To.UTC()

	conds := []string{"pool = ?"}
	q.args = []any{pool}
	keyIdx, statusIdx, partial := t.filterIndexes(f.Status)
	if f.KeyID != "" {
		conds = append(conds, "key_id = ?")
		q.args = append(q.args, f.KeyID)
	}
	if f.Model != "" {
		conds = append(conds, "model = ?")
		q.args = append(q.args, f.Model)
	}
	if f.Status != 0 {
		conds = append(conds, "status = ?")
		q.args = append(q.args, f.Status)
		if partial {
			conds = append(conds, failedStatus)
			q.partial = true
		}
	}
	if !q.f.From.IsZero() {
		conds = append(conds, "time >= ?")
		q.args = append(q.args, q.f.From)
	}
	if !q.f.To.IsZero() {
		conds = append(conds, "time < ?")
		q.args = append(q.args, q.f.To)
	}
	if f.Text != "" {
		pat := "%" + escapeLike(f.Text) + "%"
		var ors []string
		for _, c := range t.textCols {
			ors = append(ors, d.like(c))
			q.args = append(q.args, pat)
		}
		conds = append(conds, "("+strings.Join(ors, " OR ")+")")
	}
	q.where = strings.Join(conds, " AND ")

	// The index for the equality filters: the key (most selective in a pool
	// of many keys), else model or status. With both model and status, a
	// 2xx status is usually the bulk of the rows, so the model is narrower;
	// an error status is usually narrower than any model.
	switch {
	case f.KeyID != "" && keyIdx != "":
		q.filter = keyIdx
	case f.Model != "" && f.Status != 0:
		if is2xx(f.Status) || statusIdx == "" {
			q.filter = t.idxModel
		} else {
			q.filter = statusIdx
		}
	case f.Model != "":
		q.filter = t.idxModel
	case f.Status != 0:
		q.filter = statusIdx
	}
	switch {
	case f.KeyID != "" && keyIdx == "":
		q.scan, q.scanDim, q.scanName = true, dimKey, f.KeyID
	case f.Status != 0 && q.filter == "":
		q.scan, q.scanDim, q.scanName = true, dimTotal, ""
	}
	return q, nil
}

func is2xx(status int) bool { return status >= 200 && status <= 299 }

// escapeLike escapes the LIKE wildcards of s for ESCAPE '\'.
func escapeLike(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s)
}

// countIndex is the index used to count the filtered rows.
func (q *logQuery) countIndex() string {
	if q.filter != "" {
		return q.filter
	}
	return q.t.idxTime
}

// rowsIndex is the index used to read the page, given the filtered total.
func (q *logQuery) rowsIndex(total int64) string {
	sortIdx, ok := q.t.sortIdx[q.field]
	if !ok { // no index in this order: read the narrowest set and sort it
		if q.filter != "" {
			return q.filter
		}
		return q.t.idxTime
	}
	hasRange := !q.f.From.IsZero() || !q.f.To.IsZero()
	switch {
	case q.filter == "":
		if q.field == "time" || !hasRange || total > sortThreshold {
			return sortIdx
		}
		return q.t.idxTime // narrow time range: read it and sort
	case q.field == "time":
		return q.filter // equality prefix, then time order
	case q.field == "status" && q.filter == q.t.idxStatus, q.field == "model" && q.filter == q.t.idxModel:
		return q.filter
	case total <= sortThreshold:
		return q.filter
	default:
		return sortIdx
	}
}

func (q *logQuery) orderBy() string {
	dir := " ASC"
	if q.desc {
		dir = " DESC"
	}
	col := q.t.sortColumn[q.field]
	switch q.field {
	case "time":
		return "time" + dir + ", id" + dir
	case "latency":
		return col + dir + ", id" + dir
	default:
		return col + dir + ", time" + dir + ", id" + dir
	}
}

// querier is what both *sql.DB and *sql.Conn offer.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// readSnapshot runs fn on one connection inside a read transaction, so that
// all of fn's queries see the same snapshot of the database (on SQLite a
// plain BeginTx would take the write lock: see dsnParams; the servers get a
// read-only repeatable-read transaction).
func (s *Store) readSnapshot(ctx context.Context, fn func(q querier) error) error {
	if !s.d.sqlite() {
		tx, err := s.sqlDB.BeginTx(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true})
		if err != nil {
			return err
		}
		defer tx.Rollback()
		return fn(bound{tx, s.d})
	}
	conn, err := s.sqlDB.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "BEGIN DEFERRED"); err != nil {
		return err
	}
	ferr := fn(conn)
	if _, err := conn.ExecContext(context.Background(), "ROLLBACK"); err != nil {
		// Never hand a connection with an open transaction back to the pool.
		_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		if ferr == nil {
			ferr = err
		}
	}
	return ferr
}

// QueryRequestLogs returns one page of the pool's request logs matching f and
// the exact number of matching rows. Rows have their ID set.
//
// Without KeyID and Text, the total is read from the rollups' live counters
// (whole hours) plus index counts of the partial hours at the edges of
// [From, To), so it costs the same for 1,000 or 1,000,000 rows.
func (s *Store) QueryRequestLogs(ctx context.Context, pool string, f LogFilter) (rows []RequestLog, total int64, err error) {
	return queryLogs(ctx, s, requestLogs(s.d), pool, f, "request logs",
		func(ctx context.Context, db querier, q *logQuery) (total int64, err error) {
			if q.f.Text == "" && (q.f.KeyID == "" || q.f.Model == "") {
				total, err = liveTotal(ctx, db, pool, q)
			} else {
				total, err = rawCount(ctx, db, q.d, q.t, q.countIndex(), q.where, q.args)
			}
			if err == nil && q.scan && total > int64(q.f.Offset) {
				err = q.narrowToHours(ctx, db, pool)
			}
			return total, err
		}, readRequestLogs)
}

// narrowToHours bounds the time of q, a key or status filter read without
// its index, to the hours that can hold the page, from the rollups' buckets
// (q.scanDim, q.scanName, and the status): the first to last hour with stored
// rows and, in time order, only as many hours from the page's end as hold
// offset + limit of its rows (counting only hours wholly inside [From, To)
// and, with a filter the buckets do not count by, none: their counts may
// include rows the filter leaves out).
func (q *logQuery) narrowToHours(ctx context.Context, db querier, pool string) error {
	qs := "SELECT hour, sum(live) FROM " + rollupTable + q.d.indexedBy(rollupNameIndex.name) +
		" WHERE pool = ? AND dim = ? AND name = ? AND live > 0"
	args := []any{pool, q.scanDim, q.scanName}
	if q.f.Status != 0 {
		qs += " AND status = ?"
		args = append(args, q.f.Status)
	}
	type bucket struct{ hour, n int64 }
	buckets, err := readRows(ctx, db, qs+" GROUP BY hour ORDER BY hour", args, func(rs *sql.Rows) (bucket, error) {
		var b bucket
		return b, rs.Scan(&b.hour, &b.n)
	})
	if err != nil || len(buckets) == 0 {
		return err
	}
	lo, hi := buckets[0].hour, buckets[len(buckets)-1].hour+hourSeconds
	if q.field == "time" && q.f.Model == "" && q.f.Text == "" && (q.scanDim == dimKey || q.f.KeyID == "") {
		need := int64(q.f.Offset + q.f.Limit)
		whole := func(h int64) bool {
			return (q.f.From.IsZero() || !time.Unix(h, 0).Before(q.f.From)) &&
				(q.f.To.IsZero() || !time.Unix(h+hourSeconds, 0).After(q.f.To))
		}
		var seen int64
		for i := range buckets {
			b := buckets[i]
			if q.desc {
				b = buckets[len(buckets)-1-i]
			}
			if whole(b.hour) {
				seen += b.n
			}
			if seen >= need {
				if q.desc {
					lo = b.hour
				} else {
					hi = b.hour + hourSeconds
				}
				break
			}
		}
	}
	q.where += " AND time >= ? AND time < ?"
	q.args = append(q.args, time.Unix(lo, 0).UTC(), time.Unix(hi, 0).UTC())
	return nil
}

// QueryErrorLogs returns one page of the pool's error logs matching f and
// the exact number of matching rows. Rows have their ID set.
func (s *Store) QueryErrorLogs(ctx context.Context, pool string, f LogFilter) (rows []ErrorLog, total int64, err error) {
	return queryLogs(ctx, s, &errorLogTable, pool, f, "error logs",
		func(ctx context.Context, db querier, q *logQuery) (int64, error) {
			return rawCount(ctx, db, q.d, q.t, q.countIndex(), q.where, q.args)
		}, readErrorLogs)
}

// queryLogs reads one page of a log table and the exact number of matching
// rows in one snapshot; count and read are the table's own ways to do so.
func queryLogs[T any](ctx context.Context, s *Store, t *logTable, pool string, f LogFilter, what string,
	count func(context.Context, querier, *logQuery) (int64, error),
	read func(context.Context, querier, string, []any) ([]T, error)) (rows []T, total int64, err error) {
	if s.isClosed() {
		return nil, 0, ErrClosed
	}
	q, err := newLogQuery(s.d, t, pool, f)
	if err != nil {
		return nil, 0, err
	}
	err = s.readSnapshot(ctx, func(db querier) error {
		var err error
		if total, err = count(ctx, db, q); err != nil || total <= int64(q.f.Offset) {
			return err
		}
		rows, err = read(ctx, db, q.selectSQL(total), q.pageArgs())
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("store: query %s: %w", what, err)
	}
	if rows == nil {
		rows = []T{}
	}
	return rows, total, nil
}

func (q *logQuery) selectSQL(total int64) string {
	return "SELECT " + q.t.selectList(q.d) + " FROM " + q.t.name + q.d.indexedBy(q.rowsIndex(total)) +
		" WHERE " + q.where + " ORDER BY " + q.orderBy() + " LIMIT ? OFFSET ?"
}

func (q *logQuery) pageArgs() []any {
	args := make([]any, 0, len(q.args)+2)
	args = append(args, q.args...)
	return append(args, q.f.Limit, q.f.Offset)
}

// rawCount counts the rows matching where through index.
func rawCount(ctx context.Context, db querier, d *dialect, t *logTable, index, where string, args []any) (int64, error) {
	var n int64
	err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+t.name+d.indexedBy(index)+" WHERE "+where, args...).Scan(&n)
	return n, err
}

// liveTotal counts the request logs matching q (no text; a key or a model,
// not both) from the rollups' live counters for the whole hours inside
// [From, To) and from the rows themselves for the partial hours at its edges.
func liveTotal(ctx context.Context, db querier, pool string, q *logQuery) (int64, error) {
	f := q.f
	h1, h2 := int64(math.MinInt64), int64(math.MaxInt64) // whole hours: [h1, h2)
	if !f.From.IsZero() {
		h1 = hourOf(f.From)
		if !f.From.Equal(time.Unix(h1, 0)) {
			h1 += hourSeconds
		}
	}
	if !f.To.IsZero() {
		h2 = hourOf(f.To)
	}
	// Raw counts over [lo, hi) with the equality filters.
	raw := func(lo, hi time.Time) (int64, error) {
		conds := []string{"pool = ?"}
		args := []any{pool}
		if f.KeyID != "" {
			conds = append(conds, "key_id = ?")
			args = append(args, f.KeyID)
		}
		if f.Model != "" {
			conds = append(conds, "model = ?")
			args = append(args, f.Model)
		}
		if f.Status != 0 {
			conds = append(conds, "status = ?")
			args = append(args, f.Status)
			if q.partial {
				conds = append(conds, failedStatus)
			}
		}
		conds = append(conds, "time >= ?", "time < ?")
		args = append(args, lo, hi)
		return rawCount(ctx, db, q.d, q.t, q.countIndex(), strings.Join(conds, " AND "), args)
	}
	if !f.From.IsZero() && !f.To.IsZero() && h1 >= h2 {
		if !f.From.Before(f.To) {
			return 0, nil
		}
		return raw(f.From, f.To) // within one or two partial hours
	}
	var total int64
	qs := "SELECT coalesce(sum(live), 0) FROM gb_request_rollups WHERE pool = ? AND dim = ? AND hour >= ? AND hour < ?"
	args := []any{pool, dimTotal, h1, h2}
	// One name's buckets: through the name index (SQLite's planner prefers
	// the primary key, which reads every name's).
	byName := "SELECT coalesce(sum(live), 0) FROM gb_request_rollups" + q.d.indexedBy(rollupNameIndex.name) +
		" WHERE pool = ? AND dim = ? AND name = ? AND hour >= ? AND hour < ?"
	switch {
	case f.KeyID != "":
		qs, args = byName, []any{pool, dimKey, f.KeyID, h1, h2}
	case f.Model != "":
		qs, args = byName, []any{pool, dimModel, f.Model, h1, h2}
	}
	if f.Status != 0 {
		qs += " AND status = ?"
		args = append(args, f.Status)
	}
	if err := db.QueryRowContext(ctx, qs, args...).Scan(&total); err != nil {
		return 0, err
	}
	if !f.From.IsZero() && f.From.Before(time.Unix(h1, 0)) {
		n, err := raw(f.From, time.Unix(h1, 0).UTC())
		if err != nil {
			return 0, err
		}
		total += n
	}
	if !f.To.IsZero() && time.Unix(h2, 0).Before(f.To) {
		n, err := raw(time.Unix(h2, 0).UTC(), f.To)
		if err != nil {
			return 0, err
		}
		total += n
	}
	return total, nil
}

// readRows runs query and scans each of its rows with scan.
func readRows[T any](ctx context.Context, db querier, query string, args []any, scan func(*sql.Rows) (T, error)) ([]T, error) {
	rs, err := db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rs.Close()
	var out []T
	for rs.Next() {
		v, err := scan(rs)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rs.Err()
}

func readRequestLogs(ctx context.Context, db querier, query string, args []any) ([]RequestLog, error) {
	return readRows(ctx, db, query, args, func(rs *sql.Rows) (RequestLog, error) {
		var r RequestLog
		var ts dbTime
		err := rs.Scan(&r.ID, &ts, &r.Pool, &r.Model, &r.KeyID, &r.KeyMasked, &r.Status, &r.LatencyMs,
			&r.Attempt, &r.Stream, &r.Route, &r.ClientToken, &r.PromptTokens, &r.CompletionTokens, &r.TotalTokens)
		r.Time = ts.t
		return r, err
	})
}

func readErrorLogs(ctx context.Context, db querier, query string, args []any) ([]ErrorLog, error) {
	return readRows(ctx, db, query, args, func(rs *sql.Rows) (ErrorLog, error) {
		var e ErrorLog
		var ts dbTime
		err := rs.Scan(&e.ID, &ts, &e.Pool, &e.Model, &e.KeyID, &e.KeyMasked, &e.Status, &e.Kind,
			&e.Message, &e.Body, &e.RequestBody)
		e.Time = ts.t
		return e, err
	})
}

// ErrorLogByID returns one error log of the pool, or ErrNotFound.
func (s *Store) ErrorLogByID(ctx context.Context, pool string, id int64) (ErrorLog, error) {
	if s.isClosed() {
		return ErrorLog{}, ErrClosed
	}
	rows, err := readErrorLogs(ctx, s.conn(),
		"SELECT "+errorLogTable.selectList(s.d)+" FROM gb_error_logs WHERE id = ? AND pool = ?", []any{id, pool})
	if err != nil {
		return ErrorLog{}, fmt.Errorf("store: error log %d: %w", id, err)
	}
	if len(rows) == 0 {
		return ErrorLog{}, ErrNotFound
	}
	return rows[0], nil
}

// deleteChunk is the number of rows deleted per transaction by the "all of
// the pool" deletes, so that the write lock is never held for long.
var deleteChunk = 5000 // a variable for the tests

// DeleteErrorLogs deletes the given error logs of the pool and returns how
// many rows were deleted; ids of other pools or unknown ids are ignored.
// ids == nil deletes all of the pool's error logs (those present when the
// call starts), in chunks of short transactions; an empty non-nil slice
// deletes nothing.
func (s *Store) DeleteErrorLogs(ctx context.Context, pool string, ids []int64) (int64, error) {
	n, err := s.deleteLogs(ctx, "gb_error_logs", pool, ids, false)
	if err != nil {
		return n, fmt.Errorf("store: delete error logs: %w", err)
	}
	return n, nil
}

// DeleteRequestLogs deletes request logs like DeleteErrorLogs. Both rollup
// counters are decremented for the deleted rows, in the same transaction;
// deleting all of the pool also drops the pool's statistics history (rollup
// buckets whose rows were purged already).
func (s *Store) DeleteRequestLogs(ctx context.Context, pool string, ids []int64) (int64, error) {
	n, err := s.deleteLogs(ctx, "gb_request_logs", pool, ids, true)
	if err != nil {
		return n, fmt.Errorf("store: delete request logs: %w", err)
	}
	return n, nil
}

func (s *Store) deleteLogs(ctx context.Context, table, pool string, ids []int64, rollups bool) (int64, error) {
	if s.isClosed() {
		return 0, ErrClosed
	}
	if ids == nil {
		return s.deleteAllLogs(ctx, table, pool, rollups)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	type part struct {
		cond string
		args []any
	}
	var parts []part
	for start := 0; start < len(ids); start += keyBatchSize {
		chunk := ids[start:min(start+keyBatchSize, len(ids))]
		args := make([]any, 0, len(chunk)+1)
		args = append(args, pool)
		for _, id := range chunk {
			args = append(args, id)
		}
		parts = append(parts, part{"pool = ? AND id IN (" + placeholders(len(chunk)) + ")", args})
	}
	var total int64
	err := s.inTx(ctx, func(tx dbConn) error {
		total = 0
		if rollups {
			// All rows locked before any is read for the rollups: a second
			// delete of the same ids waits, then finds them gone, instead of
			// taking them from the counters twice (see lockRows; MySQL reads
			// from the snapshot of the transaction's first plain read).
			for _, p := range parts {
				if err := s.lockRows(ctx, tx, table, p.cond, p.args); err != nil {
					return err
				}
			}
		}
		for _, p := range parts {
			cond, args := p.cond, p.args
			if rollups {
				if err := applyRollupsFromRows(ctx, tx, s.d, cond, args, -1, -1); err != nil {
					return err
				}
			}
			res, err := tx.ExecContext(ctx, "DELETE FROM "+table+s.d.notIndexed()+" WHERE "+cond, args...)
			if err != nil {
				return err
			}
			n, err := res.RowsAffected()
			if err != nil {
				return err
			}
			total += n
		}
		if rollups && total > 0 {
			return dropEmptyRollups(ctx, tx, pool, false)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}

// deleteAllLogs deletes the pool's rows that exist when it starts, walking
// the table by rowid in chunks of deleteChunk rows, one transaction each.
func (s *Store) deleteAllLogs(ctx context.Context, table, pool string, rollups bool) (int64, error) {
	var maxID sql.NullInt64
	if err := s.conn().QueryRowContext(ctx, "SELECT max(id) FROM "+table).Scan(&maxID); err != nil {
		return 0, err
	}
	var total int64
	if maxID.Valid {
		var lastID int64
		for {
			if err := ctx.Err(); err != nil {
				return total, err
			}
			// The next chunk of the pool's ids, read without the write lock.
			var lo, hi sql.NullInt64
			var k int
			err := s.conn().QueryRowContext(ctx, "SELECT min(id), max(id), count(*) FROM (SELECT id FROM "+table+
				s.d.notIndexed()+" WHERE id > ? AND id <= ? AND pool = ? ORDER BY id LIMIT ?) AS c",
				lastID, maxID.Int64, pool, deleteChunk).Scan(&lo, &hi, &k)
			if err != nil {
				return total, err
			}
			if k == 0 {
				break
			}
			cond := "id >= ? AND id <= ? AND pool = ?"
			args := []any{lo.Int64, hi.Int64, pool}
			var n int64
			err = s.inTx(ctx, func(tx dbConn) error {
				if rollups {
					if err := s.lockRows(ctx, tx, table, cond, args); err != nil {
						return err
					}
					if err := applyRollupsFromRows(ctx, tx, s.d, cond, args, -1, -1); err != nil {
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
				return total, err
			}
			total += n
			lastID = hi.Int64
			if k < deleteChunk {
				break
			}
		}
	}
	if rollups {
		err := s.inTx(ctx, func(tx dbConn) error { return dropEmptyRollups(ctx, tx, pool, true) })
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
