// Package nodetest is what the Go tests that drive npm packages (the
// JavaScript SDKs, Claude Code) share: finding node and the packages pinned
// in the test folder's package.json, and an environment that does not steer
// the clients by itself.
package nodetest

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
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
