package balancer

import (
	"context"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/store"
)

// The operators' key methods: add, list, export, reset and delete by full,
// ID or masked form, against a pool with a database.
func TestOperatorKeyMethods(t *testing.T) {
	ctx := context.Background()
	b := openTestPool(t, filepath.Join(t.TempDir(), "keys.db"), nil, nil)
	base := "AIzaSyLIVE000000000000000000000000000000" // the Caddyfile's key
	a := "AIzaSyAAAA" + strings.Repeat("1", 25) + "wxyz"
	c := "AIzaSyCCCC" + strings.Repeat("2", 25) + "wxyz" // same masked form as a
	res, err := b.AddKeys(ctx, []string{" " + a, c, a, base, "short"}, keypool.SourceAdmin)
	if err != nil {
		t.Fatal(err)
	}
	want := AddResult{Added: 2, Duplicates: 2, Rejected: []string{"*****: too short to be an API key"}, Persisted: true}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("AddKeys = %+v, want %+v", res, want)
	}
	if page, total := b.ListKeys(KeyFilter{}, 1, 1); total != 3 || len(page) != 1 || page[0].Secret() != a {
		t.Errorf("page 2 of 1: %v of %d", page, total)
	}
	if page, total := b.ListKeys(KeyFilter{Q: "wxyz"}, 0, 50); total != 2 || len(page) != 2 {
		t.Errorf("q=wxyz: %d", total)
	}
	if page, total := b.ListKeys(KeyFilter{}, 10, 50); total != 3 || page != nil {
		t.Errorf("past the end: %v of %d", page, total)
	}
	b.KeyByID(keypool.NewKey(c, "").ID()).MarkInvalid("403", "", time.Now())
	if got := b.ExportKeys("invalid"); !reflect.DeepEqual(got, []string{c}) {
		t.Errorf("export invalid: %q", got)
	}
	if page, total := b.ListKeys(KeyFilter{Condition: "invalid"}, 0, 50); total != 1 || page[0].Secret() != c {
		t.Errorf("invalid: %d", total)
	}
	if n, unknown := b.ResetKeys([]string{c, "nope"}); n != 1 || !reflect.DeepEqual(unknown, []string{"****"}) {
		t.Errorf("reset: %d %q", n, unknown)
	}
	if got := b.KeyCounts(); got != (keypool.Counts{Active: 3}) {
		t.Errorf("counts after reset: %+v", got)
	}
	masked := keypool.NewKey(a, "").Masked()
	del, err := b.DeleteKeys(ctx, []string{masked, base})
	if err != nil {
		t.Fatal(err)
	}
	if del.Deleted != 1 || del.FromCaddyfile != 1 || !reflect.DeepEqual(del.Ambiguous, []string{masked}) || len(del.NotFound) != 0 {
		t.Errorf("delete: %+v", del)
	}
	if b.KeyByID(keypool.NewKey(base, "").ID()) != nil || b.Ring().Len() != 2 {
		t.Errorf("left: %d keys", b.Ring().Len())
	}
	if _, err := b.Stats(ctx); err != nil {
		t.Errorf("stats: %v", err)
	}
	if _, _, err := b.ErrorLogs(ctx, store.LogFilter{Limit: 10}); err != nil {
		t.Errorf("error logs: %v", err)
	}
}

// Without a database: keys serve unpersisted, statistics say why they are
// missing, and the log methods answer ErrNoLogs.
func TestOperatorMethodsWithoutDatabase(t *testing.T) {
	ctx := context.Background()
	b := openTestPool(t, "", nil, nil)
	if b.HasLogs() {
		t.Skip("this pool opened a database")
	}
	res, err := b.AddKeys(ctx, []string{"AIzaSyNODB" + strings.Repeat("0", 29)}, keypool.SourceAdmin)
	if err != nil || res.Added != 1 || res.Persisted {
		t.Errorf("add: %+v %v", res, err)
	}
	st, err := b.Stats(ctx)
	if err != nil || st.DatabaseError == "" || st.Keys.Active != 2 {
		t.Errorf("stats: %+v %v", st, err)
	}
	if _, _, err := b.RequestLogs(ctx, store.LogFilter{}); !errors.Is(err, ErrNoLogs) {
		t.Errorf("request logs: %v", err)
	}
	if _, err := b.DeleteErrorLogs(ctx, nil); !errors.Is(err, ErrNoLogs) {
		t.Errorf("delete error logs: %v", err)
	}
}
