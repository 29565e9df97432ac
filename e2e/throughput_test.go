package e2e

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
)

// BenchmarkProxyVsBareReverseProxy compares generateContent through
// gemini_balance with a bare Caddy reverse_proxy that injects one key, both in
// the same Caddy, against the same stand-in upstream. Run with
//
//	go test -run '^$' -bench ProxyVsBare -benchtime 5s ./e2e
//
// ns/op under RunParallel is wall time per request, so requests per second =
// 1e9 / ns/op.
func BenchmarkProxyVsBareReverseProxy(b *testing.B) {
	up := fakegemini.New()
	defer up.Close()
	up.SetDefault(fakegemini.OK)
	keys := []string{k("bench1"), k("bench2"), k("bench3"), k("bench4")}
	e := &env{up: up, pool: "bench", dir: b.TempDir()}
	e.logs = e.dir + "/caddy.log"
	cfg := e.config(poolOpts{keys: keys})
	// A second site: the floor, a bare reverse_proxy injecting one key.
	upHost := strings.TrimSuffix(strings.TrimPrefix(up.URL, "http://"), "/v1beta")
	cfg = strings.Replace(cfg, "level DEBUG", "level ERROR", 1)
	cfg += fmt.Sprintf(`
http://localhost:%d {
	rewrite * /v1beta{uri}
	reverse_proxy %s {
		header_up X-Goog-Api-Key %s
		header_up -Authorization
	}
}
`, httpPort+1, upHost, keys[0])
	tester := newBenchTester(b)
	tester.InitServer(cfg, "caddyfile")

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	run := func(b *testing.B, url string) {
		b.SetParallelism(16) // 16 x GOMAXPROCS(2) = 32 concurrent clients
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, _ := http.NewRequest("POST", url, strings.NewReader(helloBody))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("x-goog-api-key", clientToken)
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Fatalf("status %d", resp.StatusCode)
				}
			}
		})
	}
	b.Run("direct", func(b *testing.B) { run(b, up.URL+"/models/gemini-2.5-flash:generateContent") })
	b.Run("bare_reverse_proxy", func(b *testing.B) {
		run(b, fmt.Sprintf("http://localhost:%d/models/gemini-2.5-flash:generateContent", httpPort+1))
	})
	b.Run("gemini_balance", func(b *testing.B) { run(b, baseURL+genPath) })
}
