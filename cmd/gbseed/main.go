// Command gbseed fills a gemini_balance database with synthetic keys and
// request logs, to measure the console and the admin API at scale:
//
//	go run ./cmd/gbseed -db /tmp/gb/default.db -pool default -keys 100000 -logs 1000000
//
// Then point a Caddyfile's `database` at the file and start Caddy.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/store"
)

func main() {
	db := flag.String("db", "", "database to fill: an SQLite file (created if missing), or a postgres:// or mysql:// URL (keys only: logs are seeded on SQLite only)")
	pool := flag.String("pool", "default", "pool name")
	nKeys := flag.Int("keys", 100000, "keys to add (source admin)")
	nLogs := flag.Int("logs", 1000000, "request logs to add, spread over the last 30 days")
	flag.Parse()
	if *db == "" {
		flag.Usage()
		os.Exit(2)
	}
	st, err := store.Open(*db, 0, nil)
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()

	start := time.Now()
	recs := make([]store.KeyRecord, *nKeys)
	ids := make([]string, *nKeys)
	for i := range recs {
		k := keypool.NewKey(fmt.Sprintf("AIzaSySEED%029d", i), keypool.SourceAdmin)
		ids[i] = k.ID()
		recs[i] = store.KeyRecord{Pool: *pool, KeyID: k.ID(), Key: k.Secret(), Masked: k.Masked(), Status: "active",
			Source: keypool.SourceAdmin, CreatedAt: time.Now()}
	}
	n, err := st.InsertKeys(ctx, recs)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("keys: %d inserted in %v\n", n, time.Since(start).Round(time.Millisecond))

	start = time.Now()
	now := time.Now()
	models := []string{"gemini-2.5-flash", "gemini-2.5-pro", "gemini-2.5-flash-lite", "text-embedding-004"}
	if err := st.SeedRequestLogs(ctx, *pool, *nLogs, ids[:min(len(ids), 1000)], models, now.Add(-30*24*time.Hour), now); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("request logs: %d inserted in %v\n", *nLogs, time.Since(start).Round(time.Millisecond))
}
