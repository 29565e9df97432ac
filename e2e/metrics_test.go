package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
)

// scrape reads Caddy's admin /metrics and returns the gemini_balance
// samples by their line's name and labels, and the whole text.
func scrape(t *testing.T) (map[string]float64, string) {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://localhost:%d/metrics", adminPort))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/metrics: %d %v", resp.StatusCode, err)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(raw)))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "gemini_balance_") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q", line)
		}
		out[line[:i]] = v
	}
	return out, string(raw)
}

// After good, invalid and rate-limited keys have served, /metrics shows the
// requests by route and status, the attempts by outcome, retries, the key
// states, the latency histograms with buckets, the log gauges, and never a
// key or a client token.
func TestMetricsOnCaddysEndpoint(t *testing.T) {
	e := newEnv(t)
	good, bad, limited := k("m-good"), k("m-bad"), k("m-429")
	e.up.SetKey(good, fakegemini.OK)
	e.up.SetKey(bad, fakegemini.Invalid)
	e.up.SetKey(limited, fakegemini.RateLimited)
	e.start(poolOpts{keys: []string{good, bad, limited}})
	before, _ := scrape(t)
	for i := 0; i < 6; i++ {
		if status, _, body := e.do("POST", "/v1beta/models/gemini-2.5-flash:generateContent", helloBody, authed...); status != 200 {
			t.Fatalf("request %d: %d %s", i, status, body)
		}
	}
	if status, _, _ := e.do("POST", "/v1beta/models/gemini-2.5-flash:generateContent", helloBody); status != 401 {
		t.Fatalf("no token: %d", status)
	}
	if status, _, _ := e.do("POST", "/v1/chat/completions", `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}`,
		"Authorization", "Bearer "+clientToken); status != 200 {
		t.Fatalf("openai chat: %d", status)
	}
	got, text := scrape(t)
	p := e.pool
	delta := func(name string) float64 { return got[name] - before[name] }
	for name, want := range map[string]float64{
		`gemini_balance_requests_total{code="200",pool="` + p + `",route="native",served_by="` + p + `"}`: 6,
		`gemini_balance_requests_total{code="401",pool="` + p + `",route="native",served_by="` + p + `"}`: 1,
		`gemini_balance_requests_total{code="200",pool="` + p + `",route="openai",served_by="` + p + `"}`: 1,
		`gemini_balance_upstream_attempts_total{outcome="invalid",pool="` + p + `"}`:                      1,
		`gemini_balance_upstream_attempts_total{outcome="cooldown",pool="` + p + `"}`:                     1,
		`gemini_balance_upstream_attempts_total{outcome="success",pool="` + p + `"}`:                      7,
		`gemini_balance_keys{pool="` + p + `",state="active"}`:                                            1,
		`gemini_balance_keys{pool="` + p + `",state="cooling"}`:                                           1,
		`gemini_balance_keys{pool="` + p + `",state="invalid"}`:                                           1,
		`gemini_balance_log_queue_rows{pool="` + p + `"}`:                                                 -1, // present
		`gemini_balance_log_rows_dropped_total{pool="` + p + `"}`:                                         -1,
		`gemini_balance_database_errors_total{pool="` + p + `"}`:                                          -1,
		`gemini_balance_upstream_first_byte_seconds_count{pool="` + p + `"}`:                              -1,
		`gemini_balance_upstream_duration_seconds_bucket{pool="` + p + `",le="+Inf"}`:                     -1,
	} {
		v, ok := got[name]
		switch {
		case !ok:
			t.Errorf("no %s", name)
		case want >= 0 && strings.HasPrefix(name, "gemini_balance_keys"):
			if v != want {
				t.Errorf("%s = %v, want %v", name, v, want)
			}
		case want >= 0 && delta(name) != want:
			t.Errorf("%s went up by %v, want %v", name, delta(name), want)
		}
	}
	if r := delta(`gemini_balance_retries_total{pool="` + p + `"}`); r < 2 {
		t.Errorf("retries went up by %v, want at least 2 (the invalid and the rate-limited key each made a request retry)", r)
	}
	buckets := regexp.MustCompile(`gemini_balance_upstream_duration_seconds_bucket\{pool="`+regexp.QuoteMeta(p)+`",le="[0-9.]+"\}`).FindAllString(text, -1)
	if len(buckets) < 5 {
		t.Errorf("duration histogram has %d finite buckets", len(buckets))
	}
	// A reload keeps the counts, as it keeps the pool.
	e.start(poolOpts{keys: []string{good, bad, limited}, extra: "timeout 61s"})
	after, _ := scrape(t)
	for _, name := range []string{
		`gemini_balance_requests_total{code="200",pool="` + p + `",route="native",served_by="` + p + `"}`,
		`gemini_balance_upstream_attempts_total{outcome="success",pool="` + p + `"}`,
	} {
		if after[name] != got[name] {
			t.Errorf("after a reload %s = %v, was %v", name, after[name], got[name])
		}
	}
	for _, secret := range []string{good, bad, limited, clientToken} {
		if strings.Contains(text, secret) || strings.Contains(text, secret[len(secret)-8:]) {
			t.Errorf("/metrics shows a key or token (…%s)", secret[len(secret)-4:])
		}
	}
}

// The access log (Caddy's log directive) carries where each answer came
// from: pool, key (masked), model, attempts and the upstream status.
func TestAccessLogFields(t *testing.T) {
	e := newEnv(t)
	good, bad := k("al-good"), k("al-bad")
	e.up.SetKey(good, fakegemini.OK)
	e.up.SetKey(bad, fakegemini.Invalid)
	access := filepath.Join(e.dir, "access.log")
	e.start(poolOpts{keys: []string{bad, good}, extra: "max_retries 3", site: ""})
	// The site's log directive lives outside route{}: reload with it.
	cfg := strings.Replace(e.config(poolOpts{keys: []string{bad, good}}), "\troute {", fmt.Sprintf("\tlog {\n\t\toutput file %s\n\t\tformat json\n\t}\n\troute {", access), 1)
	e.tester.InitServer(cfg, "caddyfile")
	for i := 0; i < 2; i++ {
		if status, _, body := e.do("POST", "/v1beta/models/gemini-2.5-flash:generateContent", helloBody, authed...); status != 200 {
			t.Fatalf("%d %s", status, body)
		}
	}
	// A stream: its fields are added when it has ended (the stream holds
	// none while it runs), and still reach the log.
	if status, _, body := e.do("POST", "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse", helloBody, authed...); status != 200 {
		t.Fatalf("stream: %d %s", status, body)
	}
	var lines []map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for len(lines) < 3 && time.Now().Before(deadline) {
		lines = nil
		raw, _ := os.ReadFile(access)
		for _, l := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["gemini_balance.pool"] != nil {
				lines = append(lines, m)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(lines) < 3 {
		t.Fatalf("access log lines with gemini_balance fields: %v", lines)
	}
	if m := lines[2]; m["gemini_balance.model"] != "gemini-2.5-pro" || m["gemini_balance.upstream_status"] != 200.0 ||
		m["gemini_balance.attempts"] != 1.0 || m["gemini_balance.key"] != e.key(good).Masked() {
		t.Errorf("stream's access log fields %v", m)
	}
	attempts := 0.0
	for _, m := range lines[:2] {
		if m["gemini_balance.pool"] != e.pool || m["gemini_balance.model"] != "gemini-2.5-flash" ||
			m["gemini_balance.upstream_status"] != 200.0 || m["gemini_balance.key"] != e.key(good).Masked() ||
			m["gemini_balance.provider"] != "gemini" {
			t.Errorf("access log fields %v", m)
		}
		attempts += m["gemini_balance.attempts"].(float64)
	}
	if attempts != 3 { // the first request tried the invalid key first
		t.Errorf("attempts %v in all, want 3", attempts)
	}
	raw, _ := os.ReadFile(access)
	if strings.Contains(string(raw), good) || strings.Contains(string(raw), bad) {
		t.Error("a full key in the access log")
	}
}
