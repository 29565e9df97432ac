package anthropic

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/nodetest"

	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
)

// ccPrompt is the prompt given to Claude Code.
const ccPrompt = "Say hello to the gemini_balance proxy."

// Claude Code headless (claude -p … --output-format json), pointed at the
// proxy by ANTHROPIC_BASE_URL and ANTHROPIC_API_KEY, as the README's set-up
// says, offline (telemetry, non-essential traffic and the auto-updater off),
// with a fresh HOME and working folder.
//
// The stand-in answers a request that declares tools with a call of the
// first declared tool (Claude Code's Agent, called without its required
// prompt, which Claude Code refuses as invalid input: nothing runs), and
// the request carrying the tool's result with FunctionResultPrefix and that
// result. So one prompt makes a whole agent turn: the prompt and tools go
// up, a streamed tool_use comes back, Claude Code answers it with a
// tool_result, and the final text comes back as the JSON result.
func TestClaudeCodeHeadless(t *testing.T) {
	paths := runClaudeCode(t, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1")
	for _, p := range paths {
		if p != "POST /v1/messages?beta=true" {
			t.Errorf("Claude Code sent %s", p)
		}
	}
}

// Without CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC (the README's two-line
// set-up), Claude Code first sends HEAD /api/hello to the base URL, a
// connectivity check the proxy does not serve: it falls through to Caddy's
// empty 200, which Claude Code accepts. Telemetry and the auto-updater stay
// off, so nothing leaves the machine.
func TestClaudeCodeDefaultTraffic(t *testing.T) {
	paths := runClaudeCode(t)
	if len(paths) == 0 || paths[0] != "HEAD /api/hello" {
		t.Errorf("Claude Code's first request was not HEAD /api/hello: %v", paths)
	}
}

// runClaudeCode runs one headless prompt with env added, checks the whole
// exchange and returns the "METHOD URI" of every request Claude Code made
// to the proxy.
func runClaudeCode(t *testing.T, env ...string) []string {
	t.Helper()
	nodetest.Need(t, "e2e/anthropic")
	s := startServer(t)
	home, work := t.TempDir(), t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	bin, err := filepath.Abs(filepath.Join("node_modules", ".bin", "claude"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, bin, "-p", ccPrompt, "--output-format", "json",
		"--model", "claude-sonnet-4-5", "--max-turns", "4")
	cmd.Dir = work
	cmd.Env = append(cleanEnv(), "HOME="+home, "ANTHROPIC_BASE_URL="+rootURL, "ANTHROPIC_API_KEY="+clientToken,
		"DISABLE_TELEMETRY=1", "DISABLE_AUTOUPDATER=1")
	cmd.Env = append(cmd.Env, env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if v, err := exec.Command(bin, "--version").Output(); err == nil {
		t.Logf("claude %s", strings.TrimSpace(string(v)))
	}

	// Every request Claude Code made, served or not. The Messages calls
	// carry the token in x-api-key; HEAD /api/hello (see
	// TestClaudeCodeDefaultTraffic) carries none, and no handler writes to
	// it (status 0 in the access log: Caddy's empty 200).
	var paths []string
	for _, a := range s.accessLog(t) {
		p := a.Method + " " + a.URI
		paths = append(paths, p)
		switch {
		case p == "HEAD /api/hello" && (a.Status == 0 || a.Status == 200):
		case strings.HasPrefix(a.URI, "/v1/messages") && a.Auth == "x-api-key" && a.Status == 200:
		default:
			t.Errorf("Claude Code sent %s (token in %s), answered %d", p, a.Auth, a.Status)
		}
	}
	t.Logf("Claude Code sent:\n  %s", strings.Join(paths, "\n  "))
	if runErr != nil {
		t.Fatalf("claude -p: %v\nstdout: %s\nstderr: %s", runErr, stdout.String(), stderr.String())
	}
	if s := strings.TrimSpace(stderr.String()); s != "" {
		t.Logf("claude stderr: %s", s)
	}

	var res struct {
		Type     string `json:"type"`
		Subtype  string `json:"subtype"`
		IsError  bool   `json:"is_error"`
		Result   string `json:"result"`
		NumTurns int    `json:"num_turns"`
		Usage    struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &res); err != nil {
		t.Fatalf("claude -p output: %v\n%s", err, stdout.String())
	}
	t.Logf("result: type %s/%s, %d turns, usage %+v: %.200s", res.Type, res.Subtype, res.NumTurns, res.Usage, res.Result)
	if res.Type != "result" || res.Subtype != "success" || res.IsError || res.NumTurns != 2 ||
		!strings.HasPrefix(res.Result, fakegemini.FunctionResultPrefix) || res.Usage.InputTokens == 0 {
		t.Errorf("claude -p answered %s", stdout.String())
	}

	gens := generations(t, s.up)
	if len(gens) != 2 {
		t.Fatalf("upstream got %d generations, want the prompt and the tool result", len(gens))
		return paths
	}
	first := gens[0]
	var names []string
	for _, tool := range first.Req.Tools {
		for _, d := range tool.FunctionDeclarations {
			names = append(names, d.Name)
		}
	}
	t.Logf("upstream: %s with %d function declarations: %s", first.Path, len(names), strings.Join(names, " "))
	if first.Path != "/v1beta/models/gemini-2.5-flash:streamGenerateContent" {
		t.Errorf("claude-sonnet went upstream to %s", first.Path)
	}
	if !strings.Contains(first.Body, ccPrompt) || first.Req.SystemInstruction == nil || len(first.Req.SystemInstruction.Parts) == 0 {
		t.Errorf("the prompt or the system prompt did not reach the upstream: %.2000s", first.Body)
	}
	// Claude Code asks for thinking (enabled, budget_tokens 31999 in 2.1).
	if tc := first.Req.GenerationConfig.ThinkingConfig; tc == nil || !tc.IncludeThoughts {
		t.Errorf("Claude Code's thinking did not reach the upstream: %+v", tc)
	}
	for _, want := range []string{"Agent", "Bash", "Read", "Edit", "Write", "ToolSearch"} {
		if !containsString(names, want) {
			t.Errorf("tool %s not declared upstream (got %v)", want, names)
		}
	}
	if len(names) < 8 {
		t.Errorf("only %d tools declared upstream: %v", len(names), names)
	}
	// The second request: Claude Code's tool_result for the stand-in's call.
	second := gens[1].Req
	n := len(second.Contents)
	var call, resp bool
	for _, p := range second.Contents[n-2].Parts {
		call = call || p.FunctionCall != nil && p.FunctionCall.Name == names[0]
	}
	for _, p := range second.Contents[n-1].Parts {
		resp = resp || p.FunctionResponse != nil && p.FunctionResponse.Name == names[0]
	}
	if !call || !resp {
		t.Errorf("the tool loop went upstream as %.3000s", gens[1].Body)
	}
	return paths
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
