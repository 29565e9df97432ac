package store

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/dbtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

func TestParseLocationAndRedact(t *testing.T) {
	for _, c := range []struct{ in, engine, shown, password string }{
		{"/var/lib/gb.db", engineSQLite, "/var/lib/gb.db", ""},
		{"postgres://gb:S3cret@db:5432/gb?sslmode=disable", enginePostgres, "postgres://gb:***@db:5432/gb?sslmode=disable", "S3cret"},
		{"postgresql://gb:p%40ss%2Fw@db/gb", enginePostgres, "postgresql://gb:***@db/gb", "p@ss/w"},
		{"POSTGRES://gb@db/gb?password=S3cret&sslmode=require", enginePostgres, "postgres://gb@db/gb?password=***&sslmode=require", "S3cret"},
		{"mysql://root:S3cret@127.0.0.1:3306/gb?tls=false", engineMySQL, "mysql://root:***@127.0.0.1:3306/gb?tls=false", "S3cret"},
	} {
		loc, err := parseLocation(c.in)
		if err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		if loc.engine != c.engine || loc.shown != c.shown || loc.password != c.password {
			t.Errorf("%s: engine %s shown %s password %q", c.in, loc.engine, loc.shown, loc.password)
		}
		if c.password != "" {
			err := loc.redact(fmt.Errorf("dial %s: user gb password %s (%s)", c.in, c.password, "x"))
			if strings.Contains(err.Error(), c.password) {
				t.Errorf("redacted error shows the password: %v", err)
			}
		}
	}
	for _, bad := range []string{"mysql://gb:S3cret@/gb", "mysql://gb:S3cret@db/", "postgres://gb:S3cret@db:5432/gb\x7f%zz"} {
		_, err := parseLocation(bad)
		if err == nil {
			t.Errorf("%q accepted", bad)
		} else if strings.Contains(err.Error(), "S3cret") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestMySQLConfig(t *testing.T) {
	cfg, err := mysqlConfig("mysql://u:p%40ss@db.example:3307/gb?timeout=3s&charset=utf8mb4&loc=Local&tls=skip-verify")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.User != "u" || cfg.Passwd != "p@ss" || cfg.Addr != "db.example:3307" || cfg.DBName != "gb" || !cfg.ParseTime ||
		cfg.Loc != time.UTC || cfg.Timeout != 3*time.Second || !cfg.InterpolateParams || cfg.TLSConfig != "skip-verify" {
		t.Fatalf("config %+v", cfg)
	}
	cfg, err = mysqlConfig("mysql://u@db/gb")
	if err != nil || cfg.Addr != "db:3306" {
		t.Fatalf("default port: %+v %v", cfg, err)
	}
}

// closedPort is a local port where nothing listens.
func closedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	return port
}

// A failing connection says where, never with the password, and classifies
// as "unavailable".
func TestOpenClosedPortHidesPassword(t *testing.T) {
	const pw = "Pa55-word_XYZ"
	port := closedPort(t)
	for _, dsn := range []string{
		fmt.Sprintf("postgres://gb:%s@127.0.0.1:%d/gb?sslmode=disable&connect_timeout=5", pw, port),
		fmt.Sprintf("mysql://gb:%s@127.0.0.1:%d/gb?timeout=5s", pw, port),
		fmt.Sprintf("postgres://gb@127.0.0.1:%d/gb?sslmode=disable&password=%s", port, pw),
	} {
		s, err := Open(dsn, 0, nil)
		if err == nil {
			s.Close()
			t.Fatalf("%s: opened", RedactDSN(dsn))
		}
		msg := err.Error()
		if strings.Contains(msg, pw) || !strings.Contains(msg, "***") || !strings.Contains(msg, fmt.Sprint(port)) {
			t.Errorf("error: %s", msg)
		}
		if k := classifyError(err); k != "unavailable" {
			t.Errorf("%s: kind %q, want unavailable (%v)", RedactDSN(dsn), k, err)
		}
	}
}

// A server stopped under an open Store: writes fail without the password in
// errors or logs, Ping and the errors classify as "unavailable", and the
// Store works again once the server is back.
func TestServerStoppedAndBack(t *testing.T) {
	for _, engine := range []string{enginePostgres, "mariadb"} {
		t.Run(engine, func(t *testing.T) {
			if !strings.Contains(","+strings.Join(testEngines(), ",")+",", ","+engine+",") {
				t.Skip("engine not selected")
			}
			var srv *dbtest.Server
			if engine == enginePostgres {
				srv = dbtest.NewPostgresServer(t)
			} else {
				srv = dbtest.NewMariaDBServer(t)
			}
			dsn := srv.DSN(t)
			core, logs := observer.New(zap.ErrorLevel)
			s, err := OpenWithOptions(dsn, Options{FlushInterval: time.Hour, Logger: zap.New(core)})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if strings.Contains(s.Path(), srv.Password()) || !strings.Contains(s.Path(), "***") {
				t.Fatalf("Path() = %s", s.Path())
			}
			ctx := ctxT(t)
			if _, err := s.InsertKeys(ctx, []KeyRecord{{Pool: "p", KeyID: "k1", Key: "AIzaSyK1"}}); err != nil {
				t.Fatal(err)
			}
			if err := srv.Stop(); err != nil {
				t.Fatal(err)
			}
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			err = s.Ping(pctx)
			cancel()
			if err == nil || classifyError(err) != "unavailable" || strings.Contains(err.Error(), srv.Password()) {
				t.Fatalf("ping with the server stopped: %v (kind %s)", err, classifyError(err))
			}
			s.LogRequest(RequestLog{Pool: "p", Status: 200})
			if err := s.Flush(ctx); err == nil {
				t.Fatal("flush with the server stopped succeeded")
			} else if k := classifyError(err); k != "unavailable" {
				t.Fatalf("flush error kind %q: %v", k, err)
			}
			st := s.Stats()
			if st.WriteErrors != 1 || strings.Contains(st.LastError, srv.Password()) {
				t.Fatalf("stats %+v", st)
			}
			for _, e := range logs.All() {
				line := e.Message
				for k, v := range e.ContextMap() {
					line += fmt.Sprintf(" %s=%v", k, v)
				}
				if strings.Contains(line, srv.Password()) {
					t.Fatalf("log shows the password: %s", line)
				}
				if e.ContextMap()["kind"] != "unavailable" {
					t.Errorf("logged kind: %s", line)
				}
			}
			if logs.Len() == 0 {
				t.Fatal("nothing logged")
			}
			if err := srv.Start(); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for s.Ping(ctx) != nil {
				if time.Now().After(deadline) {
					t.Fatalf("no ping after restart: %v", s.Ping(ctx))
				}
				time.Sleep(100 * time.Millisecond)
			}
			s.LogRequest(RequestLog{Pool: "p", Status: 200})
			if err := s.Flush(ctx); err != nil {
				t.Fatal(err)
			}
			if keys, err := s.LoadKeys(ctx, "p"); err != nil || len(keys) != 1 {
				t.Fatalf("keys after restart: %v %v", keys, err)
			}
		})
	}
}

// A second Open of an existing server database migrates nothing away, and
// two instances opening a new database at once both succeed.
func TestReopenAndConcurrentOpen(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		dsn := testDSN(t, engine)
		var wg sync.WaitGroup
		stores := make([]*Store, 2)
		errs := make([]error, 2)
		for i := range stores {
			wg.Add(1)
			go func() {
				defer wg.Done()
				stores[i], errs[i] = Open(dsn, 0, nil)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("open %d: %v", i, err)
			}
		}
		ctx := ctxT(t)
		if _, err := stores[0].InsertKeys(ctx, []KeyRecord{{Pool: "p", KeyID: "k1", Key: "AIzaSyK1"}}); err != nil {
			t.Fatal(err)
		}
		stores[1].LogRequest(RequestLog{Pool: "p", KeyID: "k1", Status: 200})
		if err := stores[1].Flush(ctx); err != nil {
			t.Fatal(err)
		}
		schema := func(s *Store) string {
			var q string
			switch s.d.name {
			case enginePostgres:
				q = `SELECT table_name || '.' || column_name || ':' || data_type FROM information_schema.columns
 WHERE table_schema = current_schema() ORDER BY 1`
			case engineMySQL:
				q = `SELECT concat(table_name, '.', column_name, ':', column_type) FROM information_schema.columns
 WHERE table_schema = DATABASE() ORDER BY 1`
			default:
				q = `SELECT type || ' ' || name || ' ' || coalesce(sql, '') FROM sqlite_master ORDER BY 1`
			}
			rows, err := readRows(ctx, s.conn(), q, nil, func(rs *sql.Rows) (string, error) {
				var v string
				return v, rs.Scan(&v)
			})
			if err != nil {
				t.Fatal(err)
			}
			return strings.Join(rows, "\n")
		}
		before := schema(stores[0])
		for _, s := range stores {
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}
		s, err := Open(dsn, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if after := schema(s); after != before {
			t.Fatalf("schema changed by the second migration:\n%s\n---\n%s", before, after)
		}
		keys, err := s.LoadKeys(ctx, "p")
		if err != nil || len(keys) != 1 {
			t.Fatalf("keys: %v %v", keys, err)
		}
		if n, _, err := s.CountRequestLogs(ctx, "p", time.Time{}); err != nil || n != 1 {
			t.Fatalf("logs: %d %v", n, err)
		}
	})
}

// Two Stores on one database insert overlapping keys at once (in opposite
// orders) and write logs for the same buckets: no key row is duplicated or
// lost, and the rollups add up.
func TestTwoWritersAtOnce(t *testing.T) {
	forEngines(t, func(t *testing.T, engine string) {
		dsn := testDSN(t, engine)
		a, err := Open(dsn, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer a.Close()
		b, err := Open(dsn, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		ctx := ctxT(t)
		const n = 3000
		recs := make([]KeyRecord, n)
		for i := range recs {
			recs[i] = KeyRecord{Pool: "p", KeyID: fmt.Sprintf("%016x", i), Key: fmt.Sprintf("AIzaSy%033d", i)}
		}
		// a: keys [0, 2000) in order; b: keys [1000, 3000) in reverse, in
		// chunks, so that the two transactions meet in the middle.
		rev := append([]KeyRecord(nil), recs[1000:]...)
		for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
			rev[i], rev[j] = rev[j], rev[i]
		}
		var wg sync.WaitGroup
		var insA, insB int
		var errA, errB error
		now := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
		wg.Add(2)
		go func() {
			defer wg.Done()
			for off := 0; off < 2000 && errA == nil; off += 500 {
				var k int
				k, errA = a.InsertKeys(ctx, recs[off:off+500])
				insA += k
			}
			for i := 0; i < 2000; i++ {
				a.LogRequest(RequestLog{Time: now.Add(time.Duration(i) * time.Second), Pool: "p", Model: "m",
					KeyID: recs[i%7].KeyID, Status: []int{200, 429}[i%2]})
				if i%500 == 0 {
					_ = a.Flush(ctx)
				}
			}
		}()
		go func() {
			defer wg.Done()
			for off := 0; off < 2000 && errB == nil; off += 500 {
				var k int
				k, errB = b.InsertKeys(ctx, rev[off:off+500])
				insB += k
			}
			for i := 0; i < 2000; i++ {
				b.LogRequest(RequestLog{Time: now.Add(time.Duration(i) * time.Second), Pool: "p", Model: "m",
					KeyID: recs[i%7].KeyID, Status: []int{200, 429}[i%2]})
				if i%500 == 0 {
					_ = b.Flush(ctx)
				}
			}
		}()
		wg.Wait()
		if errA != nil || errB != nil {
			t.Fatalf("insert: %v / %v", errA, errB)
		}
		if err := a.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if err := b.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if insA+insB != n {
			t.Fatalf("inserted %d + %d, want %d in all", insA, insB, n)
		}
		keys, err := a.LoadKeys(ctx, "p")
		if err != nil || len(keys) != n {
			t.Fatalf("load: %d %v", len(keys), err)
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k.KeyID] {
				t.Fatalf("duplicate key row %s", k.KeyID)
			}
			seen[k.KeyID] = true
		}
		for _, s := range []*Store{a, b} {
			if st := s.Stats(); st.WriteErrors != 0 || st.Written != 2000 {
				t.Fatalf("writer stats %+v", st)
			}
		}
		assertRollupsMatchRows(t, a)
		st, err := b.UsageStats(ctx, "p", now.Add(3*time.Hour))
		if err != nil || st.Day.Total != 4000 || st.Day.Failure != 2000 {
			t.Fatalf("stats: %+v %v", st.Day, err)
		}
	})
}

// InsertKeys takes 20,000 keys in one call (one admin request).
func TestInsert20kKeysInOneCall(t *testing.T) {
	if testing.Short() {
		t.Skip("-short")
	}
	forEngines(t, func(t *testing.T, engine string) {
		s := openEngine(t, engine, Options{})
		ctx := ctxT(t)
		recs := make([]KeyRecord, 20_000)
		for i := range recs {
			recs[i] = KeyRecord{Pool: "p", KeyID: fmt.Sprintf("%016x", i), Key: fmt.Sprintf("AIzaSy%033d", i),
				Masked: "AIzaSy…" + fmt.Sprintf("%04d", i%10000), Source: "admin"}
		}
		start := time.Now()
		n, err := s.InsertKeys(ctx, recs)
		if err != nil || n != len(recs) {
			t.Fatalf("insert: %d %v", n, err)
		}
		ins := time.Since(start)
		start = time.Now()
		keys, err := s.LoadKeys(ctx, "p")
		if err != nil || len(keys) != len(recs) {
			t.Fatalf("load: %d %v", len(keys), err)
		}
		t.Logf("%s: 20,000 keys in one InsertKeys call: %v; LoadKeys: %v", engine, ins.Round(time.Millisecond),
			time.Since(start).Round(time.Millisecond))
	})
}

// An SQLite file made by the schema before PostgreSQL/MySQL support
// (testdata/v0.sqlite, written by that version's own code: 5 keys, a
// setting, 100 request logs with their rollups, 7 error logs, a resource)
// opens, keeps its data, and its tables are not rebuilt.
func TestUpgradeSQLiteFixture(t *testing.T) {
	src, err := os.Open(filepath.Join("testdata", "v0.sqlite"))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	path := filepath.Join(t.TempDir(), "gb.db")
	dst, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	dst.Close()
	master := func() map[string]string {
		db, err := sql.Open("sqlite", path)
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.Query("SELECT type || ' ' || name, coalesce(sql, '') FROM sqlite_master")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		out := map[string]string{}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			out[k] = v
		}
		return out
	}
	before := master()
	if len(before) < 10 {
		t.Fatalf("fixture schema: %v", before)
	}
	ctx := ctxT(t)
	for round := 0; round < 2; round++ { // the second open migrates an upgraded file
		s, err := Open(path, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		keys, err := s.LoadKeys(ctx, "default")
		if err != nil || len(keys) != 5+round {
			t.Fatalf("keys: %d %v", len(keys), err)
		}
		k1, k2 := keys[1], keys[2]
		if k1.Status != StatusInvalid || k1.Reason != "API key not valid" || keys[4].Calls != 4 ||
			!keys[4].LastUsedAt.Equal(time.Date(2026, 11, 30, 10, 4, 0, 0, time.UTC)) || keys[0].Key != "AIzaSyFIXTURE"+fmt.Sprintf("%026d", 0) ||
			len(k2.Cooldowns) != 1 || keys[0].Source != "caddyfile" {
			t.Fatalf("keys: %+v", keys)
		}
		set, err := s.LoadSettings(ctx, "default")
		if err != nil || string(set["max_retries"]) != "5" {
			t.Fatalf("settings: %v %v", set, err)
		}
		_, total, err := s.QueryRequestLogs(ctx, "default", LogFilter{})
		if err != nil || total != int64(100+round) {
			t.Fatalf("request logs: %d %v", total, err)
		}
		errs, total, err := s.QueryErrorLogs(ctx, "default", LogFilter{})
		if err != nil || total != 7 || errs[0].Message != "quota 6" {
			t.Fatalf("error logs: %d %v", total, err)
		}
		res, err := s.LoadResources(ctx, "default", time.Now())
		if err != nil || len(res) != 1 || res[0].Name != "files/abc" {
			t.Fatalf("resources: %v %v", res, err)
		}
		st, err := s.UsageStats(ctx, "default", time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC))
		if err != nil || st.Day.Total != 100 || st.Day.Failure != 10 || st.TopKeys[429][0].Count != 10 {
			t.Fatalf("stats: %+v %v", st.Day, err)
		}
		assertRollupsMatchRows(t, s)
		// New rows still go in.
		s.LogRequest(RequestLog{Pool: "default", Status: 200})
		if err := s.Flush(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := s.InsertKeys(ctx, []KeyRecord{{Pool: "default", KeyID: fmt.Sprintf("new%d", round), Key: "AIzaSyNEW"}}); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		after := master()
		for k, v := range before {
			if after[k] == "" && slices.ContainsFunc(droppedIndexes, func(ix droppedIndex) bool {
				return k == "index "+ix.name
			}) {
				continue // dropped on purpose (see droppedIndexes)
			}
			if after[k] != v {
				t.Fatalf("%s changed by the migration:\n%s\n---\n%s", k, v, after[k])
			}
		}
		if round == 0 {
			// Logs written above: the second round sees 101 rows.
			before = after
		}
	}
}
