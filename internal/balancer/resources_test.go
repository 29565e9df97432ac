package balancer

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/affinity"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/secret"
	"github.com/gemini-balance/gemini_balance/internal/settings"
	"github.com/gemini-balance/gemini_balance/internal/store"
	"github.com/gemini-balance/gemini_balance/internal/upstream"
)

const (
	ownerKey = "AIzaSyOWNER00000000000000000000000wxyz"
	otherKey = "AIzaSyOTHER00000000000000000000000abcd"
)

func ownerPool(t *testing.T, db string, handler http.HandlerFunc) *Balancer {
	t.Helper()
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	s := settings.Defaults()
	s.BaseURL = srv.URL + "/v1beta"
	s.CheckInterval = 0
	b, err := Open(Config{Name: "owners", DatabasePath: db, Keys: []string{ownerKey, otherKey}, Settings: s}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestOwnerKeyIsTheOnlyKeyTried(t *testing.T) {
	var mu sync.Mutex
	var used []string
	b := ownerPool(t, filepath.Join(t.TempDir(), "o.db"), func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		used = append(used, r.Header.Get("X-Goog-Api-Key"))
		mu.Unlock()
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"error":{"code":503,"message":"overloaded","status":"UNAVAILABLE"}}`))
	})
	var owner *keypool.Key
	for _, k := range b.Ring().Keys() {
		if k.Secret() == ownerKey {
			owner = k
		}
	}
	call := &Call{Model: "gemini-2.5-flash", OwnerKey: owner, Resource: "files/abc",
		Request: upstream.Request{Method: http.MethodGet, Path: "/files/abc"}}
	_, f := b.Do(context.Background(), call)
	if f == nil || f.Status != http.StatusServiceUnavailable {
		t.Fatalf("failure = %+v", f)
	}
	if len(used) != 1 || used[0] != ownerKey {
		t.Errorf("keys used = %d (%v), want the owner once", len(used), len(used) == 1 && used[0] == ownerKey)
	}

	// Cooling for the model: 429 naming the resource, nothing sent.
	now := time.Now()
	owner.CoolDown("gemini-2.5-flash", now.Add(time.Minute), "rate limited", "", now)
	used = nil
	_, f = b.Do(context.Background(), call)
	if f == nil || f.Status != http.StatusTooManyRequests || f.Header.Get("Retry-After") == "" ||
		!strings.Contains(f.Message(), "files/abc belongs to key AIzaSy…wxyz") || len(used) != 0 {
		t.Errorf("cooling owner: %+v %q, sent %d", f, f.Message(), len(used))
	}
	// Invalid: 503 naming the resource and the reason.
	owner.MarkInvalid("API key expired", "", now)
	_, f = b.Do(context.Background(), call)
	if f == nil || f.Status != http.StatusServiceUnavailable || len(used) != 0 ||
		f.Message() != "files/abc belongs to key AIzaSy…wxyz, which is invalid (API key expired); it cannot be used with another key" {
		t.Errorf("invalid owner: %+v %q", f, f.Message())
	}
	if strings.Contains(string(f.Body), ownerKey) {
		t.Error("key in the answer")
	}
}

func TestResourcesPersistAndExpire(t *testing.T) {
	db := filepath.Join(t.TempDir(), "r.db")
	b := ownerPool(t, db, func(w http.ResponseWriter, r *http.Request) {})
	now := time.Now()
	b.Resources().Put(affinity.Record{Name: "files/keep", KeyID: "k1", TokenHash: "t", Expires: now.Add(time.Hour), Created: now})
	b.Resources().Put(affinity.Record{Name: "batches/soon", KeyID: "k1", TokenHash: "t", Expires: now.Add(50 * time.Millisecond), Created: now})
	b.FlushResources()
	time.Sleep(100 * time.Millisecond)
	if n := b.PurgeResources(context.Background()); n != 1 {
		t.Errorf("purged %d rows, want 1", n)
	}
	b.Close()
	b2 := ownerPool(t, db, func(w http.ResponseWriter, r *http.Request) {})
	if rec, ok := b2.Resources().Get("files/keep", time.Now()); !ok || rec.KeyID != "k1" {
		t.Errorf("restored = %+v %v", rec, ok)
	}
	if b2.Resources().Len() != 1 {
		t.Errorf("restored %d records", b2.Resources().Len())
	}
}

// A resource recorded or deleted on one instance reaches the other's
// registry (in memory: what the request path reads) within about half a
// second, per engine.
func TestSharedResourceOwners(t *testing.T) { syncEngines(t, testSharedResourceOwners) }

func testSharedResourceOwners(t *testing.T, db string) {
	p := newSyncPair(t, db, 3, nil)
	now := time.Now()
	owner := secret.ID(p.keys[2])
	tok := affinity.HashToken("client-token")
	p.a.Resources().Put(affinity.Record{Name: "files/shared-1", KeyID: owner, TokenHash: tok, Expires: now.Add(time.Hour), Created: now})
	p.a.Resources().Put(affinity.Record{Name: "cachedContents/c-1", KeyID: owner, TokenHash: tok, Expires: now.Add(time.Hour), Created: now})
	eventually(t, "file owner on b", func() bool {
		rec, ok := p.b.Resources().Get("files/shared-1", time.Now())
		return ok && rec.KeyID == owner && rec.TokenHash == tok
	})
	rec, _ := p.b.Resources().Get("files/shared-1", time.Now())
	if d := rec.Expires.Sub(now.Add(time.Hour)); d > time.Millisecond || d < -time.Millisecond {
		t.Errorf("expiry on b = %v, want %v", rec.Expires, now.Add(time.Hour))
	}
	if got := p.b.Resources().Owned(tok, affinity.Files, time.Now()); len(got) != 1 {
		t.Errorf("b lists %d files of the token, want 1", len(got))
	}
	// What b received is not written again by b.
	if puts, dels := p.b.Resources().TakeChanges(); puts != nil || dels != nil {
		t.Errorf("b queued %v %v", puts, dels)
	}
	// A delete through b reaches a; the row goes too (a's write of it
	// may come after b's delete: b deletes again, so wait for a's flush).
	p.a.FlushResources()
	p.b.Resources().Delete("files/shared-1")
	eventually(t, "deletion on a", func() bool {
		_, ok := p.a.Resources().Get("files/shared-1", time.Now())
		return !ok
	})
	if _, ok := p.b.Resources().Get("cachedContents/c-1", time.Now()); !ok {
		t.Error("the cache went with the file")
	}
	p.b.FlushResources()
	recs, err := p.a.Store().LoadResources(context.Background(), syncPool, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Name != "cachedContents/c-1" {
		t.Errorf("stored after the delete: %+v", recs)
	}
	// The order guard (last: explicit ids leave PostgreSQL's sequence
	// behind): a put found late does not bring back a resource that a
	// later event deleted.
	st := p.a.Store()
	base, err := st.LastKeyEventID(context.Background(), syncPool)
	if err != nil {
		t.Fatal(err)
	}
	base += 100
	insertResourceEvent(t, st, base+2, store.EventResourceGone, "", "files/x", now)
	insertResourceEvent(t, st, base+3, store.EventResource, owner, "files/y", now.Add(time.Hour))
	eventually(t, "the events committed first apply", func() bool {
		_, ok := p.a.Resources().Get("files/y", time.Now())
		return ok
	})
	insertResourceEvent(t, st, base+1, store.EventResource, owner, "files/x", now.Add(time.Hour))
	time.Sleep(4 * eventPollEvery)
	if _, ok := p.a.Resources().Get("files/x", time.Now()); ok {
		t.Error("a late put undid a newer delete")
	}
}

func insertResourceEvent(t *testing.T, st *store.Store, id int64, kind, keyID, name string, until time.Time) {
	t.Helper()
	err := st.DB().Exec(`INSERT INTO gb_key_events (id, pool, instance_id, kind, key_ids, model, until_ms, reason, at_ms)
 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, id, syncPool, "elsewhere", kind, keyID, "tok", until.UnixMilli(), name, time.Now().UnixMilli()).Error
	if err != nil {
		t.Fatal(err)
	}
}

// An instance that starts between another's event and its row (so it sees
// neither) finds the row on its catch-up read.
func TestSharedResourceCatchUp(t *testing.T) {
	p := newSyncPair(t, "", 2, nil)
	now := time.Now()
	owner := secret.ID(p.keys[1])
	// A row written with no event, as if its event predated b's cursor.
	err := p.a.Store().SaveResources(context.Background(), syncPool, []store.ResourceRecord{
		{Name: "files/late", KeyID: owner, TokenHash: "t", ExpiresAt: now.Add(time.Hour), CreatedAt: now}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	p.b.Resources().Put(affinity.Record{Name: "files/mine", KeyID: "newer", Expires: now.Add(time.Hour)})
	p.b.catchUpResources()
	if rec, ok := p.b.Resources().Get("files/late", time.Now()); !ok || rec.KeyID != owner {
		t.Errorf("after catch-up: %+v %v", rec, ok)
	}
	if rec, _ := p.b.Resources().Get("files/mine", time.Now()); rec.KeyID != "newer" {
		t.Error("catch-up replaced a record held")
	}
}

// Recording a resource on the request path: the registry alone, and with
// the change queued for the other instances.
func BenchmarkResourcePut(b *testing.B) {
	now := time.Now()
	rec := affinity.Record{Name: "files/bench", KeyID: "k", TokenHash: "t", Expires: now.Add(time.Hour), Created: now}
	b.Run("registry", func(b *testing.B) {
		r := affinity.New()
		for b.Loop() {
			r.Put(rec)
		}
	})
	b.Run("shared", func(b *testing.B) {
		s := settings.Defaults()
		s.CheckInterval = 0
		bal, err := Open(Config{Name: syncPool, DatabasePath: filepath.Join(b.TempDir(), "bench.db"), Keys: syncKeys(1), Settings: s}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer bal.Close()
		for b.Loop() {
			bal.Resources().Put(rec)
		}
	})
}
