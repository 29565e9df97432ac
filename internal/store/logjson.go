package store

import "strconv"

// SQLite's request-log insert: up to jsonRowsPerStmt rows are one JSON array
// of rows, bound as one text parameter and unpacked by jsonb_each. The SQLite
// driver prepares every statement again on each execution and binds
// parameters in time quadratic in their number, so the multi-row VALUES
// statement spent about a quarter of the writer's CPU parsing SQL and binding
// 14 parameters per row (CPU profile of BenchmarkWriteRequestLogs); taking the
// values out of the JSON costs less (jsonb_each hands each row over as JSONB,
// so ->> does not parse text again).
//
// Rows are inserted in jsonb_each's order, the order of the batch, so ids keep
// following the queue. Values are stored exactly as the driver would bind
// them (TestRequestLogsJSON): the time as the driver's text
// (sqliteTimeLayout), the booleans as 0/1.
const insertRequestLogsJSON = `INSERT INTO gb_request_logs (time, pool, model, key_id, key_masked, status, latency_ms,
 attempt, stream, route, client_token, prompt_tokens, completion_tokens, total_tokens)
SELECT r->>0, r->>1, r->>2, r->>3, r->>4, r->>5, r->>6, r->>7, r->>8, r->>9, r->>10, r->>11, r->>12, r->>13
FROM (SELECT value AS r FROM jsonb_each(?))`

// jsonRowsPerStmt bounds the rows of one insertRequestLogsJSON: its cost per
// row grows with the length of the JSON (measured per row: 2.2x at 2,000 rows
// as at 500, and 500 rows ~15 % above 50); a few dozen rows is the sweet spot.
var jsonRowsPerStmt = 64

// sqliteJSONInsert turns the JSON insert on (a variable for the benchmarks).
var sqliteJSONInsert = true

// sqliteTimeLayout is the layout the SQLite driver writes a time.Time in
// (the first of its parse layouts; see dbTimeLayouts).
const sqliteTimeLayout = "2006-01-02 15:04:05.999999999-07:00"

// requestLogsJSON encodes rows for insertRequestLogsJSON.
func requestLogsJSON(rows []requestLogRow) string {
	b := make([]byte, 0, len(rows)*192)
	b = append(b, '[')
	for i := range rows {
		r := &rows[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '[', '"')
		b = r.Time.AppendFormat(b, sqliteTimeLayout)
		b = append(b, '"', ',')
		b = appendJSONString(b, r.Pool)
		b = append(b, ',')
		b = appendJSONString(b, r.Model)
		b = append(b, ',')
		b = appendJSONString(b, r.KeyID)
		b = append(b, ',')
		b = appendJSONString(b, r.KeyMasked)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(r.Status), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, r.LatencyMs, 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(r.Attempt), 10)
		if r.Stream {
			b = append(b, ",1,"...)
		} else {
			b = append(b, ",0,"...)
		}
		b = appendJSONString(b, r.Route)
		b = append(b, ',')
		b = appendJSONString(b, r.ClientToken)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(r.PromptTokens), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(r.CompletionTokens), 10)
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(r.TotalTokens), 10)
		b = append(b, ']')
	}
	b = append(b, ']')
	return string(b)
}

// appendJSONString appends s as a JSON string. Only '"', '\\' and control
// characters are escaped; other bytes, invalid UTF-8 included, are copied, and
// SQLite's JSON functions give them back as they were (TestRequestLogsJSON).
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigit[c>>4], hexDigit[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

const hexDigit = "0123456789abcdef"
