package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// moduleRoot finds the directory holding go.mod, from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
}

// goTool is the go command, from PATH or from the running toolchain.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// buildCaddy builds ./cmd/caddy into dir.
func buildCaddy(ctx context.Context, root, dir string) (string, error) {
	bin := filepath.Join(dir, "caddy")
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", bin, "./cmd/caddy")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/caddy: %v\n%s", err, out)
	}
	return bin, nil
}

// freePort asks the kernel for a free loopback port.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func freePorts(n int) ([]int, error) {
	// Hold them all open until every port is chosen, so none repeats.
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

// globalOptions is the Caddyfile's global block: admin on loopback (pprof
// included), errors only in the log, nothing written outside the temp dir.
func globalOptions(adminPort int) string {
	return fmt.Sprintf(`{
	admin localhost:%d
	persist_config off
	auto_https off
	grace_period 2s
	log {
		level ERROR
	}
}
`, adminPort)
}

// poolSite is a site serving one gemini_balance pool.
type poolSite struct {
	port     int
	pool     string
	keys     []string // inline api_keys
	keysFile string   // api_keys_file
	db       string
	baseURL  string
}

func (s poolSite) caddyfile() string {
	var b strings.Builder
	fmt.Fprintf(&b, "\nhttp://127.0.0.1:%d {\n\tbind 127.0.0.1\n\tgemini_balance %s {\n", s.port, s.pool)
	if len(s.keys) > 0 {
		fmt.Fprintf(&b, "\t\tapi_keys %s\n", strings.Join(s.keys, " "))
	}
	if s.keysFile != "" {
		fmt.Fprintf(&b, "\t\tapi_keys_file %s\n", s.keysFile)
	}
	fmt.Fprintf(&b, "\t\tallowed_tokens %s\n\t\tdatabase %s\n\t\tbase_url %s\n\t\tcheck_interval 0\n\t\tsafety_settings off\n\t}\n}\n",
		clientToken, s.db, s.baseURL)
	return b.String()
}

// bareSite is the floor: Caddy's own reverse_proxy to the stand-in, putting
// one key on every request, with no other work. upstream is host:port, or
// https://host:port for a TLS stand-in.
func bareSite(port int, upstream string) string {
	return fmt.Sprintf(`
http://127.0.0.1:%d {
	bind 127.0.0.1
	reverse_proxy %s {
		header_up X-Goog-Api-Key %s
		header_up -Authorization
	}
}
`, port, upstream, floorKey)
}

// caddyProc is a running Caddy.
type caddyProc struct {
	name      string
	cmd       *exec.Cmd
	adminPort int
	logPath   string
	exited    chan struct{}
	waitErr   error
	started   time.Time
}

// startCaddy writes the Caddyfile into dir and runs bin on it.
func startCaddy(bin, dir, name, caddyfile string, adminPort int, env []string) (*caddyProc, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	cfg := filepath.Join(dir, name+".Caddyfile")
	if err := os.WriteFile(cfg, []byte(caddyfile), 0o644); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, name+".log")
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "run", "--config", cfg, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Env = append(os.Environ(),
		"XDG_CONFIG_HOME="+filepath.Join(dir, "config"),
		"XDG_DATA_HOME="+filepath.Join(dir, "data"),
	)
	cmd.Env = append(cmd.Env, env...)
	// Its own process group, so a Ctrl-C reaches the benchmark, which stops
	// Caddy in order; and killed with the benchmark if that dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	p := &caddyProc{name: name, cmd: cmd, adminPort: adminPort, logPath: logPath, exited: make(chan struct{})}
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	go func() {
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	return p, nil
}

func (p *caddyProc) pid() int { return p.cmd.Process.Pid }

func (p *caddyProc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// stop asks Caddy to stop (SIGINT) and kills it if it has not after 10 s.
func (p *caddyProc) stop() {
	if p == nil || !p.running() {
		return
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
	}
}

// logTail is the end of Caddy's output, for error messages.
func (p *caddyProc) logTail() string {
	b, _ := os.ReadFile(p.logPath)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// waitReady polls until ready reports true, Caddy exits, or the timeout.
func (p *caddyProc) waitReady(ctx context.Context, timeout time.Duration, ready func() bool) error {
	deadline := time.Now().Add(timeout)
	for {
		if ready() {
			return nil
		}
		if !p.running() {
			return fmt.Errorf("caddy %s exited (%v):\n%s", p.name, p.waitErr, p.logTail())
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("caddy %s not ready after %s:\n%s", p.name, timeout, p.logTail())
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

var probeClient = &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// answers reports whether anything answers HTTP at url.
func answers(url string) bool {
	resp, err := probeClient.Get(url)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return true
}

// health is the part of /health the benchmark reads.
type health struct {
	Status string `json:"status"`
	Keys   struct {
		Active  int `json:"active"`
		Cooling int `json:"cooling"`
		Invalid int `json:"invalid"`
	} `json:"keys"`
}

// healthKeys is the number of keys /health reports, -1 when it does not answer.
func healthKeys(base string) int {
	resp, err := probeClient.Get(base + "/health")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var h health
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&h) != nil {
		return -1
	}
	return h.Keys.Active + h.Keys.Cooling + h.Keys.Invalid
}

// memory is the resident set of the process: now and its peak, in bytes.
// memory is a process's VmRSS and VmHWM, and RSS's parts: anonymous memory
// (heap, stacks) and file-backed pages (mostly the binary's code and data,
// which vary with what code has run).
type memory struct{ rss, hwm, anon, file int64 }

func (p *caddyProc) memory() memory {
	return procMemory(p.pid())
}

func procMemory(pid int) memory {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}
	}
	defer f.Close()
	var m memory
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, val, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(val)
		if len(fields) == 0 {
			continue
		}
		kb, _ := strconv.ParseInt(fields[0], 10, 64)
		switch name {
		case "VmRSS":
			m.rss = kb << 10
		case "VmHWM":
			m.hwm = kb << 10
		case "RssAnon":
			m.anon = kb << 10
		case "RssFile":
			m.file = kb << 10
		}
	}
	return m
}

// goroutines reads the total from the admin endpoint's goroutine profile.
func (p *caddyProc) goroutines() (int, error) {
	resp, err := probeClient.Get(fmt.Sprintf("http://localhost:%d/debug/pprof/goroutine?debug=1", p.adminPort))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil {
		return 0, err
	}
	// "goroutine profile: total 123"
	f := strings.Fields(line)
	if len(f) == 0 || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("unexpected goroutine profile: %q", line)
	}
	return strconv.Atoi(f[len(f)-1])
}

// fetchProfile fetches a profile of kind ("profile" for CPU, "allocs" for
// the allocations made) over d from the admin endpoint into path.
func (p *caddyProc) fetchProfile(ctx context.Context, kind string, d time.Duration, path string) error {
	url := fmt.Sprintf("http://localhost:%d/debug/pprof/%s?seconds=%d", p.adminPort, kind, int(d.Seconds()))
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := (&http.Client{Timeout: d + 30*time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("profile: status %d: %s", resp.StatusCode, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
