package balancer

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/upstream"
)

// A settings change that builds a new upstream client closes the old one a
// minute later, or when the pool stops: the goroutine that waits for it is
// tied to the pool, not left sleeping after Close.
func TestOldClientClosedWhenThePoolStops(t *testing.T) {
	closed := make(chan *upstream.Client, 1)
	oldClientClosed = func(c *upstream.Client) { closed <- c }
	t.Cleanup(func() { oldClientClosed = func(*upstream.Client) {} })
	b := openTestPool(t, filepath.Join(t.TempDir(), "swap.db"), nil, nil)
	old := b.Client()
	if _, err := b.PatchSettings(context.Background(), map[string]json.RawMessage{"timeout": json.RawMessage(`"42s"`)}); err != nil {
		t.Fatal(err)
	}
	if b.Client() == old {
		t.Fatal("a new timeout built no new client")
	}
	select {
	case <-closed:
		t.Fatal("the old client was closed at once, before requests in flight could finish")
	case <-time.After(50 * time.Millisecond):
	}
	b.Close()
	select {
	case c := <-closed:
		if c != old {
			t.Error("another client was closed")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the old client was not closed when the pool stopped")
	}
}
