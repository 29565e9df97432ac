package e2e

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/glebarez/go-sqlite"

	"github.com/gemini-balance/gemini_balance/caddymodule"
	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/upstream"
)

func TestKeyStateSurvivesReloadAndRestart(t *testing.T) {
	e := newEnv(t)
	bad, limited, good, later := k("rbad"), k("rlimited"), k("rgood"), k("rlater")
	e.up.SetKey(bad, fakegemini.Invalid)
	e.up.SetKey(limited, fakegemini.RateLimited)
	e.up.SetKey(good, fakegemini.OK)
	e.up.SetKey(later, fakegemini.OK)
	e.start(poolOpts{keys: []string{bad, limited, good}})
	for i := 0; i < 3; i++ {
		if status, _, body := e.do("POST", genPath, helloBody, authed...); status != 200 {
			t.Fatalf("%d %s", status, body)
		}
	}
	before := e.balancer()
	coolUntil := e.key(limited).CoolingUntil("gemini-2.5-flash", time.Now())
	if e.key(bad).Status() != keypool.Invalid || coolUntil.IsZero() {
		t.Fatal("setup: keys not invalid / cooling")
	}
	goodCalls := e.key(good).Snapshot(time.Now()).Calls

	// caddy reload with a changed Caddyfile: `good` leaves, `later` joins.
	e.start(poolOpts{keys: []string{bad, limited, later}, extra: "max_failures 4"})
	if e.balancer() != before {
		t.Fatal("reload replaced the pool instead of keeping it")
	}
	if e.key(bad).Status() != keypool.Invalid || !e.key(limited).CoolingUntil("gemini-2.5-flash", time.Now()).Equal(coolUntil) {
		t.Fatal("reload lost key state")
	}
	if caddymodule.LookupPool(e.pool).Ring().Len() != 3 {
		t.Fatalf("pool has %d keys after reload, want 3", e.balancer().Ring().Len())
	}
	for _, kk := range e.balancer().Ring().Keys() {
		if kk.Secret() == good {
			t.Fatal("key removed from the Caddyfile is still in the pool")
		}
	}
	if s := e.balancer().Settings(); s.MaxFailures != 4 {
		t.Errorf("reload did not apply max_failures: %d", s.MaxFailures)
	}
	_ = goodCalls

	// A restart: a config without the pool stops it (state saved, database
	// closed); loading the pool again starts from the database alone.
	other := newEnv(t)
	other.pool += "-other"
	other.start(poolOpts{keys: []string{k("other")}})
	// Old servers stop in the background; the pool closes when they have.
	eventually(t, 5*time.Second, "the unused pool to close", func() bool { return caddymodule.LookupPool(e.pool) == nil })
	e.start(poolOpts{keys: []string{bad, limited, later}})
	if e.balancer() == before {
		t.Fatal("pool was not restarted")
	}
	if s := e.key(bad).Snapshot(time.Now()); s.Status != keypool.Invalid || !strings.Contains(s.Reason, "invalid") {
		t.Errorf("invalid key restored as %+v", s)
	}
	if got := e.key(limited).CoolingUntil("gemini-2.5-flash", time.Now()); got.Sub(coolUntil).Abs() > time.Millisecond {
		t.Errorf("cooldown restored as %v, want %v", got, coolUntil)
	}
	e.up.Reset()
	if status, _, _ := e.do("POST", genPath, helloBody, authed...); status != 200 {
		t.Fatalf("after restart: %d", status)
	}
	if used := e.up.KeysUsed(); len(used) != 1 || used[0] != later {
		t.Errorf("after restart used %v, want only the healthy key", used)
	}
}

func TestKeysNeverLeakToClientsOrLogs(t *testing.T) {
	e := newEnv(t)
	behaviors := map[string]fakegemini.Behavior{
		k("leakinvalid"): fakegemini.Invalid, k("leaksuspend"): fakegemini.Suspended,
		k("leakref"): fakegemini.ReferrerBlocked, k("leak429"): fakegemini.RateLimited,
		k("leak500"): fakegemini.ServerError, k("leakcut"): fakegemini.CutStream,
		k("leakhang"): fakegemini.Hang, k("leakdisabled"): fakegemini.ServiceDisabled,
	}
	var keys []string
	for key, b := range behaviors {
		keys = append(keys, key)
		e.up.SetKey(key, b)
	}
	var responses []string
	record := func(status int, h http.Header, body string) {
		responses = append(responses, fmt.Sprint(status, h, body))
	}
	for key, b := range behaviors {
		// One pool key at a time, so every error path is the client's answer.
		e.start(poolOpts{keys: []string{key}, extra: "timeout 200ms\n\t\tmax_failures 1"})
		record(e.do("POST", genPath, helloBody, authed...))
		record(e.do("POST", ssePath, helloBody, authed...))
		record(e.do("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", helloBody, authed...))
		record(e.do("GET", "/v1beta/models", "", authed...))
		record(e.do("GET", "/health", ""))
		_ = b
	}
	// A transport error carries the URL: it must not carry the key.
	e.start(poolOpts{keys: keys[:1], baseURL: "http://127.0.0.1:1/v1beta"})
	record(e.do("POST", genPath, helloBody, authed...))
	b := e.balancer()
	b.Persist()
	if err := b.Store().Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	logs := e.readLogs()
	if !strings.Contains(logs, "key invalid") {
		t.Fatalf("log capture is not working: %s", logs)
	}
	errorLogs, err := b.Store().ErrorLogs(context.Background(), e.pool, 1000)
	if err != nil || len(errorLogs) == 0 {
		t.Fatalf("error logs: %v (%d)", err, len(errorLogs))
	}
	for _, key := range keys {
		for _, r := range responses {
			if strings.Contains(r, key) {
				t.Errorf("key %s… reached a client: %s", key[:10], r)
			}
		}
		if strings.Contains(logs, key) {
			t.Errorf("key %s… appears in the log", key[:10])
		}
		for _, el := range errorLogs {
			if strings.Contains(el.Body+el.Message+el.RequestBody, key) {
				t.Errorf("key %s… appears in a stored error log: %s", key[:10], el.Body)
			}
		}
	}
	// The suspended key's body really did carry the key (so the redaction was needed).
	found := false
	for _, el := range errorLogs {
		found = found || strings.Contains(el.Body, "has been suspended")
	}
	if !found {
		t.Error("suspended key error not logged")
	}
}

func TestDatabaseGoneKeepsServing(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: []string{k("dbgone")}})
	// Break the database underneath the running pool.
	db, err := sql.Open("sqlite", filepath.Join(e.dir, "pool.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec("DROP TABLE gb_request_logs; DROP TABLE gb_error_logs; DROP TABLE gb_keys"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 20; i++ {
		if status, _, body := e.do("POST", genPath, helloBody, authed...); status != 200 {
			t.Fatalf("call %d with a broken database: %d %s", i, status, body)
		}
	}
	eventually(t, 5*time.Second, "health to report the database", func() bool {
		_, _, body := e.do("GET", "/health", "")
		return strings.Contains(body, `"status":"degraded"`)
	})
}

func TestDatabaseUnopenableRunsInMemory(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	cfg := strings.Replace(e.config(poolOpts{keys: []string{k("nodb")}}), filepath.Join(e.dir, "pool.db"), "/proc/forbidden/x.db", 1)
	e.tester.InitServer(cfg, "caddyfile")
	if status, _, body := e.do("POST", genPath, helloBody, authed...); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	_, _, body := e.do("GET", "/health", "")
	if !strings.Contains(body, `"degraded"`) || !strings.Contains(body, "database /proc/forbidden/x.db unavailable") {
		t.Errorf("health does not report the database: %s", body)
	}
}

// forwardProxy is a minimal HTTP forward proxy that counts what each key sends through it.
type forwardProxy struct {
	*httptest.Server
	mu   sync.Mutex
	keys map[string]int
}

func newForwardProxy(t *testing.T) *forwardProxy {
	p := &forwardProxy{keys: map[string]int{}}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.keys[r.Header.Get("X-Goog-Api-Key")]++
		p.mu.Unlock()
		out, _ := http.NewRequest(r.Method, r.URL.String(), r.Body)
		out.Header = r.Header.Clone()
		resp, err := http.DefaultTransport.RoundTrip(out)
		if err != nil {
			http.Error(w, err.Error(), 502)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		_, _ = io.Copy(w, resp.Body)
	}))
	t.Cleanup(p.Close)
	return p
}

func TestProxiesPinEachKeyToOneProxy(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	p1, p2 := newForwardProxy(t), newForwardProxy(t)
	var keys []string
	for i := 0; i < 6; i++ {
		keys = append(keys, k(fmt.Sprintf("proxy%d", i)))
	}
	e.start(poolOpts{keys: keys, extra: "proxies " + p1.URL + " " + p2.URL})
	for i := 0; i < 24; i++ {
		if status, _, body := e.do("POST", genPath, helloBody, authed...); status != 200 {
			t.Fatalf("%d %s", status, body)
		}
	}
	proxies := []*forwardProxy{p1, p2}
	total := 0
	for _, key := range keys {
		want := upstream.ProxyIndexFor(key, 2)
		for i, p := range proxies {
			p.mu.Lock()
			n := p.keys[key]
			p.mu.Unlock()
			total += n
			if i == want && n != 4 {
				t.Errorf("key %d: %d calls through its proxy %d, want 4", i, n, want)
			}
			if i != want && n != 0 {
				t.Errorf("key went through proxy %d, but is pinned to %d", i, want)
			}
		}
	}
	if total != 24 {
		t.Errorf("%d calls went through the proxies, want all 24", total)
	}
}
