package store

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"
)

func eventIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("%016x", i)
	}
	return ids
}

func TestKeyEventsRoundTrip(t *testing.T) { forEngines(t, testKeyEventsRoundTrip) }

func testKeyEventsRoundTrip(t *testing.T, engine string) {
	s := openEngine(t, engine, Options{})
	ctx := context.Background()
	if id, err := s.LastKeyEventID(ctx, "p"); err != nil || id != 0 {
		t.Fatalf("empty table: last id %d, %v", id, err)
	}
	until := time.Now().Add(time.Minute).Truncate(time.Millisecond).UTC()
	at := time.Now().Truncate(time.Millisecond).UTC()
	want := []KeyEvent{
		{Pool: "p", Instance: "a", Kind: EventCooldown, KeyIDs: []string{"00000000000000aa"}, Model: "gemini-2.5-flash", Until: until, Reason: "rate limited", At: at},
		{Pool: "q", Instance: "a", Kind: EventInvalid, KeyIDs: []string{"00000000000000bb"}, Reason: "other pool", At: at},
		{Pool: "p", Instance: "b", Kind: EventAdded, KeyIDs: eventIDs(MaxEventKeys), At: at},
		{Pool: "p", Instance: "b", Kind: EventInvalid, KeyIDs: []string{"00000000000000cc"}, Reason: "API key not valid", At: at},
	}
	if err := s.AppendKeyEvents(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.KeyEventsAfter(ctx, "p", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("%d events of pool p, want 3", len(got))
	}
	for i, w := range []KeyEvent{want[0], want[2], want[3]} {
		g := got[i]
		if i > 0 && g.ID <= got[i-1].ID {
			t.Errorf("ids not ascending: %d after %d", g.ID, got[i-1].ID)
		}
		w.ID = g.ID
		if !reflect.DeepEqual(g, w) {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, g, w)
		}
	}
	if last, _ := s.LastKeyEventID(ctx, "p"); last != got[2].ID {
		t.Errorf("last id %d, want %d", last, got[2].ID)
	}
	if after, _ := s.KeyEventsAfter(ctx, "p", got[0].ID, 1); len(after) != 1 || after[0].ID != got[1].ID {
		t.Errorf("after %d, limit 1: %+v", got[0].ID, after)
	}
	// By id: only the pool's own, in id order.
	byID, err := s.KeyEventsByID(ctx, "p", []int64{got[2].ID, got[0].ID, got[0].ID + 1, 999})
	if err != nil || len(byID) != 2 || byID[0].ID != got[0].ID || byID[1].ID != got[2].ID {
		t.Errorf("by id: %+v, %v", byID, err)
	}
	// Purge keeps what is younger than the cut.
	if n, err := s.PurgeKeyEvents(ctx, "p", at.Add(-time.Second)); err != nil || n != 0 {
		t.Errorf("purge of nothing: %d, %v", n, err)
	}
	if n, err := s.PurgeKeyEvents(ctx, "p", at.Add(time.Second)); err != nil || n != 3 {
		t.Errorf("purge: %d, %v", n, err)
	}
	if left, _ := s.KeyEventsAfter(ctx, "q", 0, 100); len(left) != 1 {
		t.Errorf("the other pool's event was purged: %+v", left)
	}
}

func TestAppendKeyEventsRefusesOversizedEvents(t *testing.T) {
	forEngines(t, testAppendKeyEventsRefusesOversizedEvents)
}

func testAppendKeyEventsRefusesOversizedEvents(t *testing.T, engine string) {
	s := openEngine(t, engine, Options{})
	err := s.AppendKeyEvents(context.Background(), []KeyEvent{{Pool: "p", Kind: EventReset, KeyIDs: eventIDs(MaxEventKeys + 1)}})
	if err == nil {
		t.Fatal("an event with too many keys was written")
	}
	if got, _ := s.KeyEventsAfter(context.Background(), "p", 0, 10); len(got) != 0 {
		t.Errorf("%d events written", len(got))
	}
}

func TestKeysByID(t *testing.T) { forEngines(t, testKeysByID) }

func testKeysByID(t *testing.T, engine string) {
	s := openEngine(t, engine, Options{})
	ctx := context.Background()
	used := time.Now().Add(-time.Hour).Truncate(time.Second).UTC()
	cool := time.Now().Add(time.Hour).Truncate(time.Second).UTC()
	recs := []KeyRecord{
		{Pool: "p", KeyID: "k1", Key: "AIzaSyK1", Masked: "AIzaSy…K1", Source: "admin", Status: StatusInvalid, Reason: "bad",
			Calls: 7, LastUsedAt: used, Cooldowns: map[string]time.Time{"m": cool}},
		{Pool: "p", KeyID: "k2", Key: "AIzaSyK2", Source: "caddyfile"},
		{Pool: "q", KeyID: "k1", Key: "AIzaSyQ1"},
	}
	if _, err := s.InsertKeys(ctx, recs); err != nil {
		t.Fatal(err)
	}
	got, err := s.KeysByID(ctx, "p", []string{"k1", "k9"})
	if err != nil || len(got) != 1 {
		t.Fatalf("%+v, %v", got, err)
	}
	g := got[0]
	if g.Key != "AIzaSyK1" || g.Status != StatusInvalid || g.Reason != "bad" || g.Calls != 7 || g.Source != "admin" ||
		!g.LastUsedAt.Equal(used) || !g.Cooldowns["m"].Equal(cool) {
		t.Errorf("record %+v", g)
	}
}
