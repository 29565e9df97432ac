// Package testcaddy is what the integration test packages share to boot the
// real Caddy with caddytest: each package has its own ports (two packages
// on one admin or HTTP port clash when go test runs them in parallel), and
// the same global options.
package testcaddy

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddytest"
)

// Ports are one test package's Caddy ports.
type Ports struct{ Admin, HTTP, HTTPS int }

// Tester is a caddytest tester on p's admin port.
func (p Ports) Tester(t testing.TB) *caddytest.Tester {
	return caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{
		AdminPort: p.Admin, TestRequestTimeout: 30 * time.Second, LoadRequestTimeout: 30 * time.Second,
	})
}

// Global is the Caddyfile's global options block for p: no trust store, a
// one-nanosecond grace period (reloads do not wait for old connections),
// logs at level into logFile, and extra lines (server options and the like).
func (p Ports) Global(logFile, level, extra string) string {
	return fmt.Sprintf(`{
	skip_install_trust
	admin localhost:%d
	http_port %d
	https_port %d
	grace_period 1ns
%s
	log {
		output file %s
		level %s
	}
}
`, p.Admin, p.HTTP, p.HTTPS, extra, logFile, level)
}

// Unload replaces the running config by an empty one (keeping the admin
// endpoint) and waits up to 10 s for gone to report true, e.g. for a pool
// to stop so its database is closed before its folder is removed.
func (p Ports) Unload(t testing.TB, gone func() bool) {
	cfg := fmt.Sprintf(`{"admin":{"listen":"localhost:%d"}}`, p.Admin)
	req, _ := http.NewRequest("POST", fmt.Sprintf("http://localhost:%d/load", p.Admin), strings.NewReader(cfg))
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Logf("unloading the config: %v", err)
		return
	}
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for !gone() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}

// LastLines is the end of a log file, n lines at most.
func LastLines(file string, n int) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
