package store

import (
	"encoding/hex"
	"strconv"
	"strings"
)

// SQLite's request-log insert: up to literalRowsPerStmt rows written into one
// multi-row INSERT as SQL literals. The SQLite driver prepares every
// statement again on each execution and binds parameters in time quadratic
// in their number, so a multi-row statement of bound parameters spent about a
// quarter of the writer's CPU parsing SQL and binding 14 parameters per row;
// one JSON parameter unpacked by jsonb_each (the form before this one) cost
// 7.3–7.8 µs per row for the table's insert alone, literals 4.7–4.9 µs (the
// table without its indexes, 2 cores, 2026-12-03): the JSON functions copy
// every value out again.
//
// A literal is exactly the value the driver would bind (TestRequestLogsLiteral):
// the time as the driver's text (sqliteTimeLayout), booleans as 0/1, numbers
// in decimal, text between single quotes with each quote doubled (the only
// escape in an SQLite string literal; every other byte, invalid UTF-8
// included, stands for itself) or, when it holds a NUL byte (which would end
// the statement's C text), as CAST(X'…' AS TEXT). FuzzRequestLogsLiteral
// checks that any text comes back unchanged as one row.
const literalRowsPerStmt = 64

// sqliteLiteralInsert turns the literal insert on (a variable for the
// benchmarks).
var sqliteLiteralInsert = true

// sqliteTimeLayout is the layout the SQLite driver writes a time.Time in
// (the first of its parse layouts; see dbTimeLayouts).
const sqliteTimeLayout = "2006-01-02 15:04:05.999999999-07:00"

// requestLogsLiteral is the INSERT of rows with their values as literals.
func requestLogsLiteral(rows []requestLogRow) string {
	b := make([]byte, 0, len(insertRequestLogsHead)+len(rows)*176)
	b = append(b, insertRequestLogsHead...)
	text := func(s string) { b = append(appendSQLText(b, s), ',') }
	num := func(n int64) { b = append(strconv.AppendInt(b, n, 10), ',') }
	for i := range rows {
		r := &rows[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '(', '\'')
		b = append(r.Time.AppendFormat(b, sqliteTimeLayout), '\'', ',')
		text(r.Pool)
		text(r.Model)
		text(r.KeyID)
		text(r.KeyMasked)
		num(int64(r.Status))
		num(r.LatencyMs)
		num(int64(r.Attempt))
		stream := int64(0)
		if r.Stream {
			stream = 1
		}
		num(stream)
		text(r.Route)
		text(r.ClientToken)
		num(int64(r.PromptTokens))
		num(int64(r.CompletionTokens))
		b = append(strconv.AppendInt(b, int64(r.TotalTokens), 10), ')')
	}
	return string(b)
}

// appendSQLText appends s as an SQLite text literal (see requestLogsLiteral).
func appendSQLText(b []byte, s string) []byte {
	if strings.IndexByte(s, 0) >= 0 {
		b = append(b, "CAST(X'"...)
		b = hex.AppendEncode(b, []byte(s))
		return append(b, "' AS TEXT)"...)
	}
	b = append(b, '\'')
	for {
		i := strings.IndexByte(s, '\'')
		if i < 0 {
			break
		}
		b = append(b, s[:i+1]...)
		b = append(b, '\'')
		s = s[i+1:]
	}
	b = append(b, s...)
	return append(b, '\'')
}
