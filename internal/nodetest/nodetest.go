// Package nodetest is what the Go tests that drive npm packages (the
// JavaScript SDKs, Claude Code) share: finding node and the packages pinned
// in the test folder's package.json, and an environment that does not steer
// the clients by itself.
package nodetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Need skips the test (fails it when GEMINI_BALANCE_REQUIRE_NODE=1, as in
// CI) unless node is on PATH and node_modules holds every package of
// ./package.json at its pinned version; it returns node's path. npmDir is
// the folder to name in the hint (e.g. "e2e/jsclient").
func Need(t testing.TB, npmDir string) string {
	t.Helper()
	miss := func(why string) {
		t.Helper()
		if os.Getenv("GEMINI_BALANCE_REQUIRE_NODE") == "1" {
			t.Fatalf("%s (GEMINI_BALANCE_REQUIRE_NODE=1)", why)
		}
		t.Skip(why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		miss("node is not on PATH")
	}
	var pins struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	b, err := os.ReadFile("package.json")
	if err != nil || json.Unmarshal(b, &pins) != nil {
		t.Fatalf("reading package.json: %v", err)
	}
	for pkg, want := range pins.Dependencies {
		b, err := os.ReadFile(filepath.Join("node_modules", pkg, "package.json"))
		if err != nil {
			miss(fmt.Sprintf("%s is not installed: run npm ci --prefix %s", pkg, npmDir))
		}
		var got struct {
			Version string `json:"version"`
		}
		if json.Unmarshal(b, &got) != nil || got.Version != want {
			miss(fmt.Sprintf("node_modules has %s %q, package.json pins %q: run npm ci --prefix %s", pkg, got.Version, want, npmDir))
		}
	}
	return node
}

// CleanEnv is the process environment without what would redirect or
// authenticate the clients by itself (GOOGLE_*, GEMINI_API*, OPENAI_*,
// ANTHROPIC_*, NODE_OPTIONS).
func CleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(name, "GOOGLE_"), strings.HasPrefix(name, "GEMINI_API"),
			strings.HasPrefix(name, "OPENAI_"), strings.HasPrefix(name, "ANTHROPIC_"), strings.HasPrefix(name, "NODE_OPTIONS"):
			continue
		}
		out = append(out, kv)
	}
	return out
}

// Sent is one HTTP request a client sent, as the script's recorder wrote it.
type Sent struct {
	Method  string            `json:"method"`
	Path    string            `json:"path"`
	Auth    string            `json:"auth"`
	Headers map[string]string `json:"headers"`
	Body    string            `json:"body"`
	Status  int               `json:"status"`
	Answer  string            `json:"answer"`
	Error   string            `json:"error"`
}

// CallError is what a failed call raised.
type CallError struct {
	Name       string `json:"name"`
	Class      string `json:"class"`
	Status     int    `json:"status"`
	Type       string `json:"type"`
	RetryAfter string `json:"retryAfter"`
	Message    string `json:"message"`
}

// CallReport is one client call of a script's report.
type CallReport struct {
	Name   string          `json:"name"`
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  *CallError      `json:"error"`
	Sent   []Sent          `json:"sent"`
}

// Report is what a script prints: the client, its version, and its calls.
type Report struct {
	SDK        string       `json:"sdk"`
	Version    string       `json:"version"`
	Node       string       `json:"node"`
	APIVersion string       `json:"apiVersion"`
	Calls      []CallReport `json:"calls"`
}

// Call finds a call of the report by name.
func (r *Report) Call(t testing.TB, name string) *CallReport {
	t.Helper()
	for i := range r.Calls {
		if r.Calls[i].Name == name {
			return &r.Calls[i]
		}
	}
	t.Fatalf("%s: no call %q in the report", r.SDK, name)
	return nil
}

// Decode decodes a successful call's result into v; a failed call fails the
// test with what the client sent and got.
func (c *CallReport) Decode(t testing.TB, v any) bool {
	t.Helper()
	if !c.OK {
		msg := ""
		if c.Error != nil {
			msg = fmt.Sprintf("%s %s (status %d): %s", c.Error.Name, c.Error.Class, c.Error.Status, c.Error.Message)
		}
		t.Errorf("%s failed: %s\nsent:\n%s", c.Name, msg, c.Describe())
		return false
	}
	if err := json.Unmarshal(c.Result, v); err != nil {
		t.Errorf("%s: result %s: %v", c.Name, c.Result, err)
		return false
	}
	return true
}

// Raised returns the error a call raised, failing the test when it did not.
func (c *CallReport) Raised(t testing.TB) *CallError {
	t.Helper()
	if c.OK || c.Error == nil {
		t.Errorf("%s did not fail: %s", c.Name, c.Result)
		return &CallError{}
	}
	return c.Error
}

// Describe lists what the call sent and got, for a failure message.
func (c *CallReport) Describe() string {
	var b strings.Builder
	for _, s := range c.Sent {
		fmt.Fprintf(&b, "  %s %s auth=%s headers=%v -> %d %s", s.Method, s.Path, s.Auth, s.Headers, s.Status, s.Error)
		if s.Body != "" {
			fmt.Fprintf(&b, "\n    body: %s", s.Body)
		}
		if s.Answer != "" {
			fmt.Fprintf(&b, "\n    answer: %s", s.Answer)
		}
		b.WriteByte('\n')
	}
	return b.String()
}

// Paths are the "METHOD path" of what a call sent.
func (c *CallReport) Paths() []string {
	var out []string
	for _, s := range c.Sent {
		out = append(out, s.Method+" "+s.Path)
	}
	return out
}

// Run runs node script in the environment env (within 2 minutes) and
// returns the report it printed, logging each call.
func Run(t testing.TB, node, script string, env []string) *Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, script)
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("node %s: %v\nstdout: %s\nstderr: %s", script, err, stdout.String(), stderr.String())
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Logf("node %s stderr: %s", script, s)
	}
	var r Report
	if err := json.Unmarshal(stdout.Bytes(), &r); err != nil {
		t.Fatalf("node %s: report: %v\n%s", script, err, stdout.String())
	}
	t.Logf("%s %s on node %s", r.SDK, r.Version, r.Node)
	if len(r.Calls) > 0 && len(r.Calls[0].Sent) > 0 {
		s := r.Calls[0].Sent[0]
		t.Logf("  first request: %s %s, key in %s, headers %v, body %s", s.Method, s.Path, s.Auth, s.Headers, s.Body)
	}
	for _, c := range r.Calls {
		status := "ok"
		if !c.OK && c.Error != nil {
			status = fmt.Sprintf("raised %s status %d", c.Error.Class, c.Error.Status)
		}
		t.Logf("  %-45s %-28s sent %s", c.Name, status, strings.Join(c.Paths(), ", "))
	}
	return &r
}
