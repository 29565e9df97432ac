package store

import (
	"strings"
)

// Engines the store runs on.
const (
	engineSQLite   = "sqlite"
	enginePostgres = "postgres"
	engineMySQL    = "mysql"
)

// dialect is what differs between the engines, so that each query is written
// once, with ? placeholders and SQLite's planner hints, and adapted here.
type dialect struct {
	name string
}

func (d *dialect) sqlite() bool   { return d.name == engineSQLite }
func (d *dialect) postgres() bool { return d.name == enginePostgres }
func (d *dialect) mysql() bool    { return d.name == engineMySQL }

// rebind rewrites the ? placeholders of q as $1, $2, … on PostgreSQL (pgx
// takes no ?); ? inside quoted strings and identifiers is left alone.
func (d *dialect) rebind(q string) string {
	if !d.postgres() || strings.IndexByte(q, '?') < 0 {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	var quote byte
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '\'' || c == '"':
			quote = c
		case c == '?':
			n++
			b.WriteByte('$')
			b.WriteString(itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

func itoa(n int) string {
	var buf [20]byte
	i := len(buf)
	for n >= 10 {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
	}
	i--
	buf[i] = byte('0' + n)
	return string(buf[i:])
}

// indexedBy is SQLite's "INDEXED BY idx" (its planner picks badly on these
// tables without it); the other planners choose for themselves.
func (d *dialect) indexedBy(idx string) string {
	if d.sqlite() {
		return " INDEXED BY " + idx
	}
	return ""
}

// notIndexed is SQLite's NOT INDEXED (a rowid-order scan beat the index).
func (d *dialect) notIndexed() string {
	if d.sqlite() {
		return " NOT INDEXED"
	}
	return ""
}

// timeCol is the select-list form of a time column: SQLite's text (read
// without its DATETIME decltype, parsed by parseDBTime's fast path), the
// native type elsewhere; dbTime scans both.
func (d *dialect) timeCol(col string) string {
	if d.sqlite() {
		return "CAST(" + col + " AS TEXT)"
	}
	return col
}

// hourExpr is the start of the UTC hour of the time column col, in unix
// seconds, as an integer.
func (d *dialect) hourExpr(col string) string {
	switch d.name {
	case enginePostgres:
		return "(CAST(floor(extract(epoch FROM " + col + ") / 3600) AS BIGINT) * 3600)"
	case engineMySQL:
		// TIMESTAMPDIFF does not depend on the session time zone (UNIX_TIMESTAMP does).
		return "(FLOOR(TIMESTAMPDIFF(SECOND, '1970-01-01 00:00:00', " + col + ") / 3600) * 3600)"
	default:
		// strftime honours the offset of the stored text.
		return "(CAST(strftime('%s', " + col + ") AS INTEGER) / 3600) * 3600"
	}
}

// like is a case-insensitive (at least for ASCII letters) LIKE of col
// against a pattern escaped by escapeLike.
func (d *dialect) like(col string) string {
	switch d.name {
	case enginePostgres:
		return col + ` ILIKE ? ESCAPE '\'`
	case engineMySQL:
		// utf8mb4_bin compares case-sensitively; backslash is MySQL's default
		// LIKE escape (and '\' would open a string there).
		return "LOWER(" + col + ") LIKE LOWER(?)"
	default:
		return col + ` LIKE ? ESCAPE '\'`
	}
}

// addCounts is the tail of an INSERT into a rollup table that adds count and
// live to an existing bucket whose primary key is pk.
func (d *dialect) addCounts(table, pk string) string {
	if d.mysql() {
		return " ON DUPLICATE KEY UPDATE count = count + VALUES(count), live = live + VALUES(live)"
	}
	return " ON CONFLICT (" + pk + ") DO UPDATE SET count = " + table + ".count + excluded.count, live = " +
		table + ".live + excluded.live"
}

// insertIgnoring turns "INSERT INTO …" (head) and its tail into a statement
// that skips rows whose unique key (cols) exists. On MySQL that is INSERT
// IGNORE: a no-op ON DUPLICATE KEY UPDATE left the rows it touched slow to
// update afterwards (20,000 key states took 16 s instead of 0.6 s). IGNORE
// also turns "value too long" into a warning, so callers check lengths.
func (d *dialect) insertIgnoring(head, cols string) (string, string) {
	if d.mysql() {
		return strings.Replace(head, "INSERT INTO", "INSERT IGNORE INTO", 1), ""
	}
	return head, " ON CONFLICT (" + cols + ") DO NOTHING"
}

// rowsPerStmt is the number of rows per multi-row statement: SQLite's driver
// binds in time quadratic in the parameters (see bulk.go), the servers pay a
// round trip per statement instead.
func (d *dialect) rowsPerStmt(sqliteRows int) int {
	if d.sqlite() {
		return sqliteRows
	}
	return 200
}

// analyze is the statement that refreshes a table's planner statistics.
func (d *dialect) analyze(table string) string {
	if d.mysql() {
		return "ANALYZE TABLE " + table
	}
	return "ANALYZE " + table
}
