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
	"github.com/gemini-balance/gemini_balance/internal/settings"
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
