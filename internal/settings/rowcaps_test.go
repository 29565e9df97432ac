package settings

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestRowCaps: the log row caps default to 5,000,000 and 1,000,000, take 0
// (no cap) to 1,000,000,000 from the admin API, the JSON config and a
// Caddyfile line, where off is 0.
func TestRowCaps(t *testing.T) {
	d := Defaults()
	if d.RequestLogMaxRows != 5_000_000 || d.ErrorLogMaxRows != 1_000_000 {
		t.Fatalf("defaults %d, %d", d.RequestLogMaxRows, d.ErrorLogMaxRows)
	}
	s, err := Apply(d, map[string]json.RawMessage{"request_log_max_rows": raw(`1000`), "error_log_max_rows": raw(`0`)})
	if err != nil || s.RequestLogMaxRows != 1000 || s.ErrorLogMaxRows != 0 {
		t.Fatalf("Apply: %d, %d, %v", s.RequestLogMaxRows, s.ErrorLogMaxRows, err)
	}
	for _, bad := range []string{`-1`, `1000000001`, `"many"`, `1.5`} {
		if _, err := Apply(d, map[string]json.RawMessage{"request_log_max_rows": raw(bad)}); err == nil {
			t.Errorf("request_log_max_rows %s was taken", bad)
		}
	}
	if s, err = ApplyConfig(d, map[string]json.RawMessage{"error_log_max_rows": raw(`250000`)}); err != nil || s.ErrorLogMaxRows != 250000 {
		t.Errorf("ApplyConfig: %d, %v", s.ErrorLogMaxRows, err)
	}
	o, _ := Lookup("request_log_max_rows")
	for args, want := range map[string]string{"off": "0", "0": "0", "20000": "20000"} {
		got, err := o.ParseArgs(nil, []string{args})
		if err != nil || string(got) != want {
			t.Errorf("request_log_max_rows %s = %s, %v; want %s", args, got, err, want)
		}
	}
	if _, err := o.ParseArgs(nil, []string{"1000000001"}); err == nil || !strings.Contains(err.Error(), "between 0 and 1000000000") {
		t.Errorf("over the bound: %v", err)
	}
	// Other int options still refuse off.
	days, _ := Lookup("request_log_days")
	if _, err := days.ParseArgs(nil, []string{"off"}); err == nil {
		t.Error("request_log_days off was taken")
	}
}
