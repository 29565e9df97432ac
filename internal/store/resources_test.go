package store

import (
	"context"
	"testing"
	"time"
)

func TestResourcesSaveLoadDeletePurge(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		path := testDSN(t, engine)
		s, err := Open(path, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		now := time.Now()
		recs := []ResourceRecord{
			{Name: "files/a", KeyID: "k1", TokenHash: "t1", ExpiresAt: now.Add(48 * time.Hour)},
			{Name: "cachedContents/b", KeyID: "k2", TokenHash: "t1", ExpiresAt: now.Add(time.Minute)},
			{Name: "batches/c", KeyID: "k2", TokenHash: "t2", ExpiresAt: now.Add(-time.Minute)},
		}
		if err := s.SaveResources(ctx, "p", recs, nil); err != nil {
			t.Fatal(err)
		}
		// Upsert: a second save of a name replaces it.
		recs[0].KeyID = "k3"
		if err := s.SaveResources(ctx, "p", recs[:1], nil); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveResources(ctx, "other", recs[:1], nil); err != nil {
			t.Fatal(err)
		}
		got, err := s.LoadResources(ctx, "p", now)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 {
			t.Fatalf("loaded %+v, want the two live ones", got)
		}
		for _, r := range got {
			if r.Name == "files/a" && r.KeyID != "k3" {
				t.Errorf("upsert lost: %+v", r)
			}
		}
		if err := s.SaveResources(ctx, "p", nil, []string{"files/a"}); err != nil {
			t.Fatal(err)
		}
		n, err := s.PurgeResources(ctx, "p", now.Add(2*time.Minute))
		if err != nil || n != 2 {
			t.Errorf("purge = %d, %v; want 2 (the expired batch and the cache)", n, err)
		}
		if got, _ := s.LoadResources(ctx, "p", now); len(got) != 0 {
			t.Errorf("left %+v", got)
		}
		s.Close()
		// Reopening migrates an existing database again without harm.
		s2, err := Open(path, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s2.Close()
		if got, _ := s2.LoadResources(ctx, "other", now); len(got) != 1 {
			t.Errorf("other pool: %+v", got)
		}
	})
}
