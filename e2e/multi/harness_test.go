// Package multi runs two Caddy processes with gemini_balance serving one pool
// on one database (SQLite file, PostgreSQL, MariaDB) against the in-process
// stand-in upstream, and checks that they behave as one pool.
package multi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/gemini-balance/gemini_balance/internal/dbtest"
	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
)

// caddyBin is the Caddy binary with gemini_balance, built once by TestMain.
var caddyBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "gb-multi-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	caddyBin = filepath.Join(dir, "caddy")
	build := exec.Command("go", "build", "-o", caddyBin, "github.com/gemini-balance/gemini_balance/cmd/caddy")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building caddy:", err)
		os.Exit(1)
	}
	code := m.Run()
	dbtest.StopPostgres()
	dbtest.StopMariaDB()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

const (
	clientToken = "sk-multi-client-0001"
	adminToken  = "multi-admin-token-0001"
	poolName    = "shared"
	model       = "gemini-2.5-flash"
)

// engine is a database the two instances share.
type engine struct {
	name string
	dsn  func(t *testing.T) string
}

func engines() []engine {
	return []engine{
		{"sqlite", func(t *testing.T) string { return filepath.Join(t.TempDir(), "shared.db") }},
		{"postgres", func(t *testing.T) string { return dbtest.Postgres(t) }},
		{"mariadb", func(t *testing.T) string { return dbtest.MariaDB(t) }},
	}
}

// forEngine runs f once per engine as a subtest.
func forEngine(t *testing.T, f func(t *testing.T, dsn string)) {
	for _, e := range engines() {
		t.Run(e.name, func(t *testing.T) { f(t, e.dsn(t)) })
	}
}

// instance is one Caddy process.
type instance struct {
	t       *testing.T
	name    string
	dir     string
	http    int
	admin   int
	config  string
	cmd     *exec.Cmd
	logFile string
	client  *http.Client
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// cluster is two instances of one pool and the stand-in upstream.
type cluster struct {
	t    *testing.T
	up   *fakegemini.Server
	a, b *instance
}

// newCluster starts two instances of poolName on dsn with keys.
func newCluster(t *testing.T, dsn string, keys []string, extra string) *cluster {
	t.Helper()
	up := fakegemini.New()
	t.Cleanup(up.Close)
	c := &cluster{t: t, up: up}
	c.a = newInstance(t, "a", dsn, up.URL, keys, extra)
	c.b = newInstance(t, "b", dsn, up.URL, keys, extra)
	c.a.start()
	c.b.start()
	return c
}

func newInstance(t *testing.T, name, dsn, upstream string, keys []string, extra string) *instance {
	dir := t.TempDir()
	in := &instance{t: t, name: name, dir: dir, http: freePort(t), admin: freePort(t),
		logFile: filepath.Join(dir, "caddy.log"), client: &http.Client{Timeout: 30 * time.Second}}
	in.config = fmt.Sprintf(`{
	admin 127.0.0.1:%d
	http_port %d
	auto_https off
	persist_config off
	storage file_system %s
	log {
		output file %s
		level INFO
	}
}

http://127.0.0.1:%d {
	gemini_balance %s {
		api_keys %s
		allowed_tokens %s
		auth_token %s
		database "%s"
		base_url %s
		check_interval 0
		max_retries 5
		%s
	}
}
`, in.admin, in.http, filepath.Join(dir, "data"), in.logFile, in.http, poolName,
		strings.Join(keys, " "), clientToken, adminToken, dsn, upstream, extra)
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(in.config), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(in.stop)
	return in
}

// start runs the process and waits until it serves /health.
func (in *instance) start() {
	t := in.t
	t.Helper()
	cmd := exec.Command(caddyBin, "run", "--config", filepath.Join(in.dir, "Caddyfile"), "--adapter", "caddyfile")
	cmd.Env = append(os.Environ(), "HOME="+in.dir, "XDG_DATA_HOME="+filepath.Join(in.dir, "xdg-data"),
		"XDG_CONFIG_HOME="+filepath.Join(in.dir, "xdg-config"))
	out, err := os.OpenFile(filepath.Join(in.dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := in.client.Get(in.url("/health"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 || resp.StatusCode == 503 {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	in.stop()
	t.Fatalf("instance %s did not start:\n%s", in.name, in.tail())
}

// stop ends the process gracefully (Caddy writes queued state on shutdown).
func (in *instance) stop() {
	if in.cmd == nil || in.cmd.Process == nil {
		return
	}
	_ = in.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan struct{})
	go func() { _ = in.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = in.cmd.Process.Kill()
		<-done
	}
	in.cmd = nil
}

// tail is the end of the instance's logs, for failure messages.
func (in *instance) tail() string {
	var b strings.Builder
	for _, f := range []string{"stdout.log", "caddy.log"} {
		data, _ := os.ReadFile(filepath.Join(in.dir, f))
		if len(data) > 4000 {
			data = data[len(data)-4000:]
		}
		fmt.Fprintf(&b, "--- %s %s\n%s\n", in.name, f, data)
	}
	return b.String()
}

func (in *instance) url(path string) string {
	return fmt.Sprintf("http://127.0.0.1:%d%s", in.http, path)
}

// generate sends one native generateContent through the official SDK and
// returns the error, if any.
func (in *instance) generate(m string) error {
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey:      clientToken,
		Backend:     genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: in.url("/")},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = c.Models.GenerateContent(ctx, m, genai.Text("hello"), nil)
	return err
}

// adminCall calls the instance's admin API and decodes the JSON answer.
func (in *instance) adminCall(method, path string, body any, out any) int {
	in.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d/gemini_balance/pools/%s%s", in.admin, poolName, path), rd)
	if err != nil {
		in.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+adminToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := in.client.Do(req)
	if err != nil {
		in.t.Fatalf("%s %s on %s: %v", method, path, in.name, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			in.t.Fatalf("%s %s on %s: %d %s", method, path, in.name, resp.StatusCode, data)
		}
	}
	return resp.StatusCode
}

// keyView is the part of the admin API's key view the tests read.
type keyView struct {
	ID        string `json:"id"`
	Key       string `json:"key"`
	Status    string `json:"status"`
	Cooldowns []struct {
		Model string `json:"model"`
	} `json:"cooldowns"`
}

// keys lists the instance's keys as its admin API shows them.
func (in *instance) keys() []keyView {
	in.t.Helper()
	var out struct {
		Keys []keyView `json:"keys"`
	}
	if code := in.adminCall("GET", "/keys?limit=1000", nil, &out); code != 200 {
		in.t.Fatalf("list keys on %s: %d", in.name, code)
	}
	return out.Keys
}

// statusOf is the admin API's status of the key whose masked form ends like secret.
func (in *instance) statusOf(secret string) string {
	for _, k := range in.keys() {
		if strings.HasSuffix(k.Key, secret[len(secret)-4:]) {
			return k.Status
		}
	}
	return "absent"
}

// eventually polls cond every 50 ms until it holds or d passes.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s", what, d)
	return 0
}

// usedKeys is the set of keys the upstream saw since its last Reset.
func usedKeys(up *fakegemini.Server) map[string]int {
	out := map[string]int{}
	for _, k := range up.KeysUsed() {
		out[k]++
	}
	return out
}
