package store

import "time"

// dbTimeLayouts are the layouts the driver writes and reads (it writes the
// first one; the others cover values written by other tools).
var dbTimeLayouts = []string{
	"2006-01-02 15:04:05.999999999-07:00",
	"2006-01-02T15:04:05.999999999-07:00",
	"2006-01-02 15:04:05.999999999",
	"2006-01-02T15:04:05.999999999",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04",
	"2006-01-02T15:04",
	"2006-01-02",
}

// parseDBTime parses a time stored as text by the driver and returns it in
// UTC. The common form "2006-01-02 15:04:05[.fffffffff]+00:00" is parsed
// without time.Parse; anything else falls back to the layouts above.
func parseDBTime(s string) (time.Time, bool) {
	if t, ok := parseUTCFast(s); ok {
		return t, true
	}
	if n := len(s); n > 0 && s[n-1] == 'Z' {
		s = s[:n-1]
	}
	for _, layout := range dbTimeLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

func parseUTCFast(s string) (time.Time, bool) {
	// 2006-01-02 15:04:05 = 19 bytes, then optional .f{1,9}, then +00:00.
	if len(s) < 25 || s[4] != '-' || s[7] != '-' || s[10] != ' ' || s[13] != ':' || s[16] != ':' {
		return time.Time{}, false
	}
	if s[len(s)-6:] != "+00:00" {
		return time.Time{}, false
	}
	num := func(b string) (int, bool) {
		n := 0
		for i := 0; i < len(b); i++ {
			c := b[i]
			if c < '0' || c > '9' {
				return 0, false
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	year, ok1 := num(s[0:4])
	month, ok2 := num(s[5:7])
	day, ok3 := num(s[8:10])
	hour, ok4 := num(s[11:13])
	minute, ok5 := num(s[14:16])
	sec, ok6 := num(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 || day > 31 ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	nsec := 0
	frac := s[19 : len(s)-6]
	if frac != "" {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		f, ok := num(frac[1:])
		if !ok {
			return time.Time{}, false
		}
		for i := len(frac) - 1; i < 9; i++ {
			f *= 10
		}
		nsec = f
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if t.Day() != day { // e.g. February 30
		return time.Time{}, false
	}
	return t, true
}

// dbTime scans a time column as any engine returns it: SQLite's text (see
// dialect.timeCol), or a time.Time from PostgreSQL and MySQL (parseTime).
// NULL and unparseable text leave the zero time; t is in UTC.
type dbTime struct {
	t     time.Time
	valid bool // not NULL
}

func (d *dbTime) Scan(src any) error {
	d.t, d.valid = time.Time{}, src != nil
	switch v := src.(type) {
	case string:
		d.t, _ = parseDBTime(v)
	case []byte:
		d.t, _ = parseDBTime(string(v))
	case time.Time:
		d.t = v.UTC()
	}
	return nil
}
