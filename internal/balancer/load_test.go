package balancer

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/settings"
)

// rssBytes reads this process's resident set size.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			f := strings.Fields(line)
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n << 10
		}
	}
	return 0
}

func heapBytes() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// TestLoad100kKeys measures a first start with 100,000 configured keys (all
// inserted into a new database) and a restart that restores them from it.
func TestLoad100kKeys(t *testing.T) {
	if testing.Short() {
		t.Skip("large")
	}
	n := 100000
	if raceEnabled {
		n = 10000 // SQLite under the race detector is about 50 times slower
	}
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("AIzaSyLOADTEST%025d", i)
	}
	db := filepath.Join(t.TempDir(), "keys.db")
	cfg := Config{Name: "load", DatabasePath: db, Keys: keys, Settings: settings.Defaults()}
	cfg.Settings.BaseURL = "http://127.0.0.1:1/v1beta"
	heap0, rss0 := heapBytes(), rssBytes()

	start := time.Now()
	b, err := Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	first := time.Since(start)
	if b.Ring().Len() != n {
		t.Fatalf("%d keys", b.Ring().Len())
	}
	heap1, rss1 := heapBytes(), rssBytes()
	b.Ring().Keys()[7].MarkInvalid("test", "", time.Now())
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}

	start = time.Now()
	b, err = Open(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	restart := time.Since(start)
	defer b.Close()
	if b.Ring().Len() != n || b.Ring().Keys()[7].Status() != keypool.Invalid {
		t.Fatalf("restart restored %d keys, key 7 %s", b.Ring().Len(), b.Ring().Keys()[7].Status())
	}
	start = time.Now()
	const picks = 100000
	for i := 0; i < picks; i++ {
		if _, err := b.Ring().Pick("m", time.Now(), nil); err != nil {
			t.Fatal(err)
		}
	}
	pick := time.Since(start) / picks
	t.Logf("%d keys: first start (insert) %v, restart (load from SQLite) %v, heap +%.1f MiB, RSS +%.1f MiB, pick %v",
		n, first.Round(time.Millisecond), restart.Round(time.Millisecond),
		float64(heap1-heap0)/(1<<20), float64(rss1-rss0)/(1<<20), pick)
	// The target is 2 s. Timing depends on the machine (a busy CI runner,
	// other tests, the race detector), so it is a logged figure, never a
	// failure; the functional checks above are what this test asserts.
	if !raceEnabled && restart > 2*time.Second {
		t.Logf("note: restoring %d keys took %v, over the 2 s target (machine busy?)", n, restart)
	}
}
