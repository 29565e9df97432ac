package balancer

import (
	"context"
	"encoding/json"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/settings"
	"github.com/gemini-balance/gemini_balance/internal/store"
)

// TestUpkeepCapsLogs: the upkeep loop keeps the newest request_log_max_rows
// request logs and error_log_max_rows error logs of its pool, leaves another
// pool's rows and the dashboard's figures alone, and follows a change of the
// cap made while it runs.
func TestUpkeepCapsLogs(t *testing.T) {
	old := capEvery
	t.Cleanup(func() { capEvery = old }) // after the pool below has closed
	capEvery = 20 * time.Millisecond
	b := openTestPool(t, filepath.Join(t.TempDir(), "caps.db"), nil, func(s *settings.Settings) {
		s.RequestLogMaxRows, s.ErrorLogMaxRows = 1000, 100
	})
	st := b.Store()
	ctx := context.Background()
	start := time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	at := func(i int) time.Time { return start.Add(time.Duration(i) * time.Second) }
	for i := 0; i < 5000; i++ {
		st.LogRequest(store.RequestLog{Time: at(i), Pool: "live", Model: "m", Status: []int{200, 429}[i%2]})
		if i%10 == 0 {
			st.LogRequest(store.RequestLog{Time: at(i), Pool: "other", Model: "m", Status: 200})
		}
		if i < 500 {
			st.LogError(store.ErrorLog{Time: at(i), Pool: "live", Status: 429, Kind: "rate_limited"})
			st.LogError(store.ErrorLog{Time: at(i), Pool: "other", Status: 429, Kind: "rate_limited"})
		}
		if i%1000 == 999 {
			if err := st.Flush(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	// The rollups count every row written, capped or not, so the figures
	// read now are those from before any capping.
	now := time.Now()
	before, err := st.UsageStats(ctx, "live", now)
	if err != nil || before.Month.Total != 5000 {
		t.Fatalf("month total %d, %v", before.Month.Total, err)
	}

	waitTotals := func(reqs, errs int64) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			_, r, err1 := st.QueryRequestLogs(ctx, "live", store.LogFilter{})
			_, e, err2 := st.QueryErrorLogs(ctx, "live", store.LogFilter{})
			if err1 == nil && err2 == nil && r == reqs && e == errs {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%d request logs and %d error logs, want %d and %d (%v, %v)", r, e, reqs, errs, err1, err2)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitTotals(1000, 100)
	oldest := func() time.Time {
		rows, _, err := st.QueryRequestLogs(ctx, "live", store.LogFilter{Sort: "time", Limit: 1})
		if err != nil || len(rows) != 1 {
			t.Fatalf("%v %v", rows, err)
		}
		return rows[0].Time
	}
	if got := oldest(); !got.Equal(at(4000)) {
		t.Errorf("oldest request log left at %v, want %v (the newest 1000 kept)", got, at(4000))
	}
	if _, n, _ := st.QueryRequestLogs(ctx, "other", store.LogFilter{}); n != 500 {
		t.Errorf("other pool: %d request logs, want 500", n)
	}
	if _, n, _ := st.QueryErrorLogs(ctx, "other", store.LogFilter{}); n != 500 {
		t.Errorf("other pool: %d error logs, want 500", n)
	}
	after, err := st.UsageStats(ctx, "live", now)
	if err != nil || !reflect.DeepEqual(after, before) {
		t.Errorf("statistics changed by capping (%v):\nbefore %+v\nafter  %+v", err, before, after)
	}

	// A new cap applies at the next check; 0 (or off) caps nothing.
	if _, err := b.PatchSettings(ctx, map[string]json.RawMessage{"request_log_max_rows": json.RawMessage(`500`), "error_log_max_rows": json.RawMessage(`0`)}); err != nil {
		t.Fatal(err)
	}
	waitTotals(500, 100)
	if got := oldest(); !got.Equal(at(4500)) {
		t.Errorf("oldest request log left at %v, want %v", got, at(4500))
	}
}
