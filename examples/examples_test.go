// Package examples holds runnable configurations, one scenario each. Its
// tests keep them runnable: every Caddyfile here and ../Caddyfile.example must
// adapt without an error or a warning and provision, docker-compose.yml must
// describe a working set-up, and the CORS example is booted in a real Caddy;
// the metrics documentation, the dashboard and prometheus.yml are checked
// against the code and a running Caddy.
package examples

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddytest"
	"go.yaml.in/yaml/v3"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/gemini-balance/gemini_balance/internal/dbtest"
	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/settings"

	_ "github.com/gemini-balance/gemini_balance/caddymodule"
)

// Ports reserved for this package's caddytest server.
const (
	adminPort = 2993
	httpPort  = 9193
	httpsPort = 9493
)

// caddyfiles lists the Caddyfiles under test: every *.Caddyfile here and one
// directory down, and the reference at the repository root.
func caddyfiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := filepath.Glob(filepath.Join("*", "*.Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, sub...)
	files = append(files, filepath.Join("..", "Caddyfile.example"))
	if len(files) < 9 {
		t.Fatalf("found only %v", files)
	}
	return files
}

var envRef = regexp.MustCompile(`\{\$([A-Za-z_][A-Za-z0-9_]*)(?::[^}]*)?\}`)

// envVars returns the environment variables a Caddyfile refers to.
func envVars(src []byte) []string {
	var names []string
	for _, m := range envRef.FindAllSubmatch(src, -1) {
		if n := string(m[1]); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// fakeValue gives each variable a plausible value: a port, a key list (sk-…
// for OpenAI-compatible providers), or a token distinct from every other
// (auth_token must differ from client tokens).
func fakeValue(name string) string {
	switch {
	case name == "PORT":
		return "8123"
	case strings.HasPrefix(name, "DEEPSEEK_") || strings.HasPrefix(name, "OPENAI_"):
		// Keys of OpenAI-compatible providers are shaped sk-….
		return "sk-fake0000000000000000000000000001, sk-fake0000000000000000000000000002"
	case strings.Contains(name, "API_KEYS"):
		return "AIzaSyFAKE0000000000000000000000000001, AIzaSyFAKE0000000000000000000000000002"
	default:
		return "test-" + strings.ToLower(name)
	}
}

// unsetenv removes name from the environment for the rest of the test.
func unsetenv(t *testing.T, name string) {
	t.Setenv(name, "") // registers the restore
	if err := os.Unsetenv(name); err != nil {
		t.Fatal(err)
	}
}

func TestMain(m *testing.M) { dbtest.Main(m) }

// dsnLine matches a database line that holds a DSN rather than a path.
var dsnLine = regexp.MustCompile(`(?m)^(\s*database\s+)([a-z]+)://\S+`)

// realDatabases points every database DSN at a fresh database on a test
// server of the same engine (internal/dbtest), so that provisioning connects
// to a real server, not to the example's host name.
func realDatabases(t *testing.T, src []byte) (out []byte, dsns []string) {
	t.Helper()
	out = dsnLine.ReplaceAllFunc(src, func(line []byte) []byte {
		m := dsnLine.FindSubmatch(line)
		var dsn string
		switch string(m[2]) {
		case "postgres", "postgresql":
			dsn = dbtest.Postgres(t)
		case "mysql":
			dsn = dbtest.MariaDB(t)
		default:
			t.Fatalf("database line with an unknown scheme: %s", line)
		}
		dsns = append(dsns, dsn)
		return []byte(string(m[1]) + dsn)
	})
	return out, dsns
}

// countTables counts the tables in the database of a DSN from internal/dbtest.
func countTables(t *testing.T, dsn string) int {
	t.Helper()
	driver, q := "pgx", "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema()"
	if strings.HasPrefix(dsn, "mysql://") {
		var err error
		if dsn, err = dbtest.MySQLDriverDSN(dsn); err != nil {
			t.Fatal(err)
		}
		driver, q = "mysql", "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE()"
	}
	db, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("count tables: %v", err)
	}
	return n
}

// adapt runs the caddyfile adapter and fails the test on an error or warning.
func adapt(t *testing.T, file string, src []byte) []byte {
	t.Helper()
	out, warnings, err := caddyconfig.GetAdapter("caddyfile").Adapt(src, map[string]any{"filename": file})
	if err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	for _, w := range warnings {
		t.Errorf("%s: warning: %s", file, w.String())
	}
	return out
}

// TestCaddyfilesAdaptAndProvision adapts every Caddyfile twice, with its
// environment variables set and with none of them set (a newcomer's first
// run), and provisions the result without starting it. Provisioning runs the
// module's own checks and opens the databases, in a temporary data directory.
func TestCaddyfilesAdaptAndProvision(t *testing.T) {
	for _, file := range caddyfiles(t) {
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, mode := range []string{"env set", "env unset"} {
			t.Run(filepath.Base(file)+"/"+mode, func(t *testing.T) {
				for _, name := range envVars(src) {
					if mode == "env set" {
						t.Setenv(name, fakeValue(name))
					} else {
						unsetenv(t, name)
					}
				}
				data := t.TempDir()
				t.Setenv("XDG_DATA_HOME", data)
				t.Setenv("XDG_CONFIG_HOME", data)

				out := adapt(t, file, src)
				handler := "gemini_balance"
				if filepath.Base(file) == "lb.Caddyfile" {
					handler = "reverse_proxy" // the load balancer in front of the instances
				}
				if !strings.Contains(string(out), `"handler":"`+handler+`"`) {
					t.Errorf("%s: no %s handler in %s", file, handler, out)
				}
				// A database given as a DSN is provisioned against a real
				// server of its engine; relative paths land in the temp dir.
				var dsns []string
				if dsnLine.Match(src) {
					var real []byte
					real, dsns = realDatabases(t, src)
					out = adapt(t, file, real)
				}
				t.Chdir(data)
				var cfg caddy.Config
				if err := json.Unmarshal(out, &cfg); err != nil {
					t.Fatalf("%s: adapted JSON: %v", file, err)
				}
				if err := caddy.Validate(&cfg); err != nil {
					t.Fatalf("%s: provision: %v", file, err)
				}
				for _, dsn := range dsns {
					if n := countTables(t, dsn); n == 0 {
						t.Errorf("%s: provisioning created no tables in the %s database", file, dsn[:strings.Index(dsn, ":")])
					}
				}
			})
		}
	}
}

// TestReferenceCoversEveryOption checks that Caddyfile.example documents every
// option the module parses, so the reference cannot fall behind: the
// handler's own options (listed in the syntax block of UnmarshalCaddyfile's
// doc comment) and every option of the settings schema.
func TestReferenceCoversEveryOption(t *testing.T) {
	ref, err := os.ReadFile(filepath.Join("..", "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	parser, err := os.ReadFile(filepath.Join("..", "caddymodule", "caddyfile.go"))
	if err != nil {
		t.Fatal(err)
	}
	var options []string
	for _, m := range regexp.MustCompile(`(?m)^//\t    ([a-z_]+)\s`).FindAllSubmatch(parser, -1) {
		options = append(options, string(m[1]))
	}
	if len(options) < 6 {
		t.Fatalf("found only %d options in caddymodule/caddyfile.go", len(options))
	}
	for _, o := range settings.Schema() {
		options = append(options, o.CaddyfileName())
	}
	for _, opt := range options {
		documented := regexp.MustCompile(`(?m)^\s*#?\s*` + opt + `\s`).Match(ref)
		if !documented {
			t.Errorf("Caddyfile.example does not show the option %q", opt)
		}
	}
}

// TestDockerCompose checks that docker-compose.yml is valid YAML and that the
// files and variables it refers to exist.
func TestDockerCompose(t *testing.T) {
	src, err := os.ReadFile("docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Build struct {
				Context    string `yaml:"context"`
				Dockerfile string `yaml:"dockerfile"`
			} `yaml:"build"`
			Environment map[string]string `yaml:"environment"`
			Ports       []string          `yaml:"ports"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
		Volumes map[string]any `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(src, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	if len(compose.Services) != 1 {
		t.Fatalf("want one service, got %d", len(compose.Services))
	}
	for name, svc := range compose.Services {
		dockerfile := filepath.Join(svc.Build.Context, svc.Build.Dockerfile)
		if svc.Build.Dockerfile == "" {
			dockerfile = filepath.Join(svc.Build.Context, "Dockerfile")
		}
		if _, err := os.Stat(dockerfile); err != nil {
			t.Errorf("%s: build: %v", name, err)
		}
		for _, v := range []string{"GEMINI_API_KEYS", "GEMINI_BALANCE_TOKEN"} {
			if !strings.Contains(svc.Environment[v], "${"+v) {
				t.Errorf("%s: environment %s = %q, want it passed from the shell", name, v, svc.Environment[v])
			}
		}
		if !slices.ContainsFunc(svc.Ports, func(p string) bool {
			return strings.HasSuffix(p, ":8000") || strings.HasSuffix(p, ":443")
		}) {
			t.Errorf("%s: ports %v publish neither 8000 nor 443", name, svc.Ports)
		}
		var caddyfile, data bool
		for _, v := range svc.Volumes {
			parts := strings.Split(v, ":")
			if len(parts) < 2 {
				t.Errorf("%s: volume %q has no target", name, v)
				continue
			}
			source, target := parts[0], parts[1]
			switch target {
			case "/etc/caddy/Caddyfile":
				caddyfile = true
				if _, err := os.Stat(source); err != nil {
					t.Errorf("%s: mounted Caddyfile: %v", name, err)
				}
			case "/data":
				data = true
				if _, ok := compose.Volumes[source]; !ok {
					t.Errorf("%s: /data comes from %q, not a named volume declared under volumes:", name, source)
				}
			}
		}
		if !caddyfile || !data {
			t.Errorf("%s: volumes %v: want a Caddyfile at /etc/caddy/Caddyfile and a named volume at /data", name, svc.Volumes)
		}
	}
}

// TestDockerfile checks what can be checked without a Docker engine: the files
// the Dockerfile copies exist and are not excluded by .dockerignore, the
// package it builds exists, and its HEALTHCHECK probes the port the default
// config (Caddyfile.example) listens on.
func TestDockerfile(t *testing.T) {
	df, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	ignore, err := os.ReadFile(filepath.Join("..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	ignored := strings.Fields(string(ignore))
	for _, line := range strings.Split(string(df), "\n") {
		f := strings.Fields(line)
		if len(f) < 3 || f[0] != "COPY" || strings.HasPrefix(f[1], "--from") {
			continue
		}
		for _, s := range f[1 : len(f)-1] {
			if _, err := os.Stat(filepath.Join("..", s)); err != nil {
				t.Errorf("Dockerfile copies %s: %v", s, err)
			}
			if slices.Contains(ignored, s) || slices.Contains(ignored, "/"+s) {
				t.Errorf(".dockerignore excludes %s, which the Dockerfile copies", s)
			}
		}
	}
	build := regexp.MustCompile(`go build .* (\./\S+)`).FindSubmatch(df)
	if build == nil {
		t.Fatal("Dockerfile has no go build of a ./ package")
	}
	if _, err := os.Stat(filepath.Join("..", string(build[1]), "main.go")); err != nil {
		t.Errorf("Dockerfile builds %s: %v", build[1], err)
	}
	if !strings.Contains(string(df), "COPY Caddyfile.example /etc/caddy/Caddyfile") {
		t.Error("the image's default config is not Caddyfile.example")
	}
	if !strings.Contains(string(df), "http://127.0.0.1:8000/health") {
		t.Error("HEALTHCHECK does not probe http://127.0.0.1:8000/health")
	}

	// With PORT unset, as in the image, the reference listens on :8000.
	ref, err := os.ReadFile(filepath.Join("..", "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range envVars(ref) {
		unsetenv(t, name)
	}
	if out := adapt(t, "Caddyfile.example", ref); !strings.Contains(string(out), `"listen":[":8000"]`) {
		t.Errorf("Caddyfile.example does not listen on :8000: %s", out)
	}
}

// corsTestConfig turns cors.Caddyfile into the test's config: the test's
// global options replace the example's, the site address becomes
// http://localhost:9193, and the gemini_balance block gets a fake key, the
// token "tok", a database in dir and an upstream where nothing listens.
// Everything else, the CORS lines above all, stays as the example has it.
func corsTestConfig(src, dir string) (string, error) {
	lines := strings.Split(src, "\n")

	// The example's global options block.
	start := slices.Index(lines, "{")
	if start < 0 {
		return "", fmt.Errorf("no global options block")
	}
	end := slices.Index(lines[start:], "}")
	if end < 0 {
		return "", fmt.Errorf("global options block does not end")
	}
	lines = slices.Delete(lines, start, start+end+1)

	// The site address: the first block opened at the left margin.
	site := slices.IndexFunc(lines, func(l string) bool {
		return l != "" && l[0] != '#' && l[0] != '\t' && l[0] != ' ' && strings.HasSuffix(l, "{")
	})
	if site < 0 {
		return "", fmt.Errorf("no site block")
	}
	lines[site] = fmt.Sprintf("http://localhost:%d {", httpPort)

	// The gemini_balance block's body.
	open := slices.IndexFunc(lines, func(l string) bool {
		l = strings.TrimSpace(l)
		return strings.HasPrefix(l, "gemini_balance") && strings.HasSuffix(l, "{")
	})
	if open < 0 {
		return "", fmt.Errorf("no gemini_balance block")
	}
	indent := lines[open][:len(lines[open])-len(strings.TrimLeft(lines[open], " \t"))]
	closing := slices.Index(lines[open:], indent+"}")
	if closing < 0 {
		return "", fmt.Errorf("gemini_balance block does not end")
	}
	body := []string{
		"api_keys AIzaSyFAKE00000000000000000000000000000",
		"allowed_tokens tok",
		"database " + filepath.Join(dir, "cors.db"),
		"base_url http://127.0.0.1:1/v1beta",
		"check_interval 0",
	}
	for i := range body {
		body[i] = indent + "\t" + body[i]
	}
	lines = slices.Replace(lines, open+1, open+closing, body...)

	global := fmt.Sprintf("{\n\tskip_install_trust\n\tadmin localhost:%d\n\thttp_port %d\n\thttps_port %d\n\tgrace_period 1ns\n}\n",
		adminPort, httpPort, httpsPort)
	return global + strings.Join(lines, "\n"), nil
}

// TestCORSExample boots Caddy with the CORS example's own lines and checks
// what a browser needs: the preflight answered with 204 and the Allow
// headers, and Access-Control-Allow-Origin on every other answer, errors
// included, so the page can read them.
func TestCORSExample(t *testing.T) {
	src, err := os.ReadFile("cors.Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	config, err := corsTestConfig(string(src), dir)
	if err != nil {
		t.Fatalf("cors.Caddyfile: %v", err)
	}
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: adminPort})
	// Runs before the temporary directory goes: unload the config, which
	// closes the pool and its database.
	t.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://localhost:%d/load", adminPort),
			strings.NewReader(fmt.Sprintf(`{"admin":{"listen":"localhost:%d"}}`, adminPort)))
		req.Header.Set("Content-Type", "application/json")
		if res, err := http.DefaultClient.Do(req); err == nil {
			_ = res.Body.Close()
		}
	})
	tester.InitServer(config, "caddyfile")
	if t.Failed() {
		t.Fatalf("config did not load:\n%s", config)
	}

	base := fmt.Sprintf("http://localhost:%d", httpPort)
	const origin = "https://chat.example.com"
	do := func(method, path string, header map[string]string, want ...int) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, base+path, strings.NewReader(`{"contents":[{"parts":[{"text":"hi"}]}]}`))
		if err != nil {
			t.Fatal(err)
		}
		if method == http.MethodGet || method == http.MethodOptions {
			req.Body, req.ContentLength = nil, 0
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		res, err := tester.Client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		if !slices.Contains(want, res.StatusCode) {
			t.Errorf("%s %s: status %d, want %v; body %s", method, path, res.StatusCode, want, body)
		}
		return res, string(body)
	}
	allowsOrigin := func(what string, res *http.Response) {
		t.Helper()
		if got := res.Header.Get("Access-Control-Allow-Origin"); got != "*" && got != origin {
			t.Errorf("%s: Access-Control-Allow-Origin = %q, want * or %s", what, got, origin)
		}
	}

	t.Run("preflight", func(t *testing.T) {
		res, _ := do(http.MethodOptions, "/v1/chat/completions", map[string]string{
			"Origin":                         origin,
			"Access-Control-Request-Method":  "POST",
			"Access-Control-Request-Headers": "authorization,content-type",
		}, http.StatusNoContent)
		allowsOrigin("preflight", res)
		if m := res.Header.Get("Access-Control-Allow-Methods"); !strings.Contains(m, "POST") {
			t.Errorf("Access-Control-Allow-Methods = %q, want POST in it", m)
		}
		allowed := strings.ToLower(res.Header.Get("Access-Control-Allow-Headers"))
		for _, h := range []string{"authorization", "content-type", "x-goog-api-key", "x-goog-api-client", "x-stainless-retry-count"} {
			if !strings.Contains(allowed, h) {
				t.Errorf("Access-Control-Allow-Headers = %q, want %s in it", allowed, h)
			}
		}
		if res.Header.Get("Access-Control-Max-Age") == "" {
			t.Error("no Access-Control-Max-Age")
		}
	})

	t.Run("health", func(t *testing.T) {
		res, body := do(http.MethodGet, "/health", map[string]string{"Origin": origin}, http.StatusOK)
		allowsOrigin("GET /health", res)
		if !strings.Contains(body, `"pool"`) {
			t.Errorf("health body = %s", body)
		}
	})

	t.Run("401 readable by the page", func(t *testing.T) {
		res, body := do(http.MethodPost, "/v1beta/models/gemini-2.5-flash:generateContent", map[string]string{
			"Origin":       origin,
			"Content-Type": "application/json",
		}, http.StatusUnauthorized)
		allowsOrigin("401", res)
		if !strings.Contains(body, `"error"`) || strings.Contains(body, "AIzaSyFAKE") {
			t.Errorf("401 body = %s", body)
		}
	})

	t.Run("upstream error readable by the page", func(t *testing.T) {
		res, body := do(http.MethodPost, "/v1beta/models/gemini-2.5-flash:generateContent", map[string]string{
			"Origin":         origin,
			"Content-Type":   "application/json",
			"x-goog-api-key": "tok",
		}, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout)
		allowsOrigin("upstream error", res)
		if strings.Contains(body, "AIzaSyFAKE00000000000000000000000000000") {
			t.Errorf("the pool key leaked to the client: %s", body)
		}
	})
}

// TestMultiInstanceCompose checks multi-instance/docker-compose.yml without a
// Docker engine: valid YAML; PostgreSQL with a health check; at least two
// instances built from the repository's Dockerfile, each running
// instance.Caddyfile, whose database DSN names the PostgreSQL service, user,
// password variable and database that service creates; and a load balancer,
// the only published service, whose reverse_proxy targets are exactly the
// instances, with /health checks.
func TestMultiInstanceCompose(t *testing.T) {
	dir := "multi-instance"
	src, err := os.ReadFile(filepath.Join(dir, "docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	type service struct {
		Build *struct {
			Context    string `yaml:"context"`
			Dockerfile string `yaml:"dockerfile"`
		} `yaml:"build"`
		Image       string            `yaml:"image"`
		Environment map[string]string `yaml:"environment"`
		Ports       []string          `yaml:"ports"`
		Volumes     []string          `yaml:"volumes"`
		Healthcheck *struct {
			Test []string `yaml:"test"`
		} `yaml:"healthcheck"`
		DependsOn map[string]struct {
			Condition string `yaml:"condition"`
		} `yaml:"depends_on"`
	}
	var compose struct {
		Services map[string]service `yaml:"services"`
		Volumes  map[string]any     `yaml:"volumes"`
	}
	if err := yaml.Unmarshal(src, &compose); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	// mounted returns the host file a service mounts at /etc/caddy/Caddyfile.
	mounted := func(name string, svc service) string {
		for _, v := range svc.Volumes {
			if parts := strings.Split(v, ":"); len(parts) >= 2 && parts[1] == "/etc/caddy/Caddyfile" {
				if _, err := os.Stat(filepath.Join(dir, parts[0])); err != nil {
					t.Errorf("%s: mounted Caddyfile: %v", name, err)
				}
				return filepath.Base(parts[0])
			}
		}
		return ""
	}

	pg, ok := compose.Services["postgres"]
	if !ok || !strings.HasPrefix(pg.Image, "postgres:") || pg.Healthcheck == nil {
		t.Fatalf("want a postgres service from a postgres: image with a healthcheck, got %+v", pg)
	}
	for _, v := range pg.Volumes {
		if name, _, _ := strings.Cut(v, ":"); !strings.HasPrefix(name, ".") {
			if _, ok := compose.Volumes[name]; !ok {
				t.Errorf("postgres: volume %q not declared under volumes:", name)
			}
		}
	}

	instanceCaddyfile, err := os.ReadFile(filepath.Join(dir, "instance.Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	dsn := regexp.MustCompile(`(?m)^\s*database\s+(\S+)`).FindSubmatch(instanceCaddyfile)
	if dsn == nil {
		t.Fatal("instance.Caddyfile has no database line")
	}
	wantDSN := fmt.Sprintf("postgres://%s:{$GB_DB_PASSWORD}@postgres:5432/%s?sslmode=disable",
		pg.Environment["POSTGRES_USER"], pg.Environment["POSTGRES_DB"])
	if string(dsn[1]) != wantDSN {
		t.Errorf("instance.Caddyfile: database %s, want %s (the postgres service's user and database)", dsn[1], wantDSN)
	}
	if !strings.Contains(pg.Environment["POSTGRES_PASSWORD"], "${GB_DB_PASSWORD") {
		t.Errorf("postgres: POSTGRES_PASSWORD = %q, want ${GB_DB_PASSWORD...}", pg.Environment["POSTGRES_PASSWORD"])
	}

	var instances []string
	var lb string
	for name, svc := range compose.Services {
		if name == "postgres" {
			continue
		}
		if svc.Build == nil {
			t.Errorf("%s: not built from the repository", name)
		} else if _, err := os.Stat(filepath.Join(dir, svc.Build.Context, svc.Build.Dockerfile)); err != nil {
			t.Errorf("%s: build: %v", name, err)
		}
		switch mounted(name, svc) {
		case "instance.Caddyfile":
			instances = append(instances, name)
			for _, v := range []string{"GEMINI_API_KEYS", "GEMINI_BALANCE_TOKEN", "GB_DB_PASSWORD"} {
				if !strings.Contains(svc.Environment[v], "${"+v) {
					t.Errorf("%s: environment %s = %q, want it passed from the shell", name, v, svc.Environment[v])
				}
			}
			if svc.DependsOn["postgres"].Condition != "service_healthy" {
				t.Errorf("%s: does not wait for postgres to be healthy", name)
			}
			if len(svc.Ports) > 0 {
				t.Errorf("%s: publishes %v; only the load balancer should", name, svc.Ports)
			}
		case "lb.Caddyfile":
			lb = name
			if !slices.ContainsFunc(svc.Ports, func(p string) bool { return strings.HasSuffix(p, ":8000") }) {
				t.Errorf("%s: ports %v do not publish 8000", name, svc.Ports)
			}
		default:
			t.Errorf("%s: mounts neither instance.Caddyfile nor lb.Caddyfile", name)
		}
	}
	slices.Sort(instances)
	if len(instances) < 2 || lb == "" {
		t.Fatalf("want two instances and a load balancer, got %v and %q", instances, lb)
	}
	for _, in := range instances {
		if _, ok := compose.Services[lb].DependsOn[in]; !ok {
			t.Errorf("%s does not depend on %s", lb, in)
		}
	}

	// Every reverse_proxy of the load balancer targets exactly the instances,
	// on the port instance.Caddyfile listens on, and checks /health.
	lbSrc, err := os.ReadFile(filepath.Join(dir, "lb.Caddyfile"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Apps struct {
			HTTP struct {
				Servers map[string]struct {
					Routes []json.RawMessage `json:"routes"`
				} `json:"servers"`
			} `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(adapt(t, "lb.Caddyfile", lbSrc), &cfg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(instanceCaddyfile), "http://:8000 {") {
		t.Fatal("instance.Caddyfile does not listen on :8000")
	}
	var want []string
	for _, in := range instances {
		want = append(want, in+":8000")
	}
	proxies := 0
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if v["handler"] == "reverse_proxy" {
				proxies++
				var dials []string
				ups, _ := v["upstreams"].([]any)
				for _, u := range ups {
					d, _ := u.(map[string]any)["dial"].(string)
					dials = append(dials, d)
				}
				slices.Sort(dials)
				if !slices.Equal(dials, want) {
					t.Errorf("lb.Caddyfile: reverse_proxy to %v, want %v", dials, want)
				}
				if b, _ := json.Marshal(v["health_checks"]); !strings.Contains(string(b), `"uri":"/health"`) {
					t.Errorf("lb.Caddyfile: reverse_proxy without an active /health check: %s", b)
				}
			}
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	for _, srv := range cfg.Apps.HTTP.Servers {
		for _, r := range srv.Routes {
			var v any
			if err := json.Unmarshal(r, &v); err != nil {
				t.Fatal(err)
			}
			walk(v)
		}
	}
	if proxies == 0 {
		t.Error("lb.Caddyfile has no reverse_proxy")
	}
}

// docMetric is one row of the README's metrics table.
type docMetric struct {
	kind   string // counter, gauge or histogram
	labels []string
}

var (
	metricRow  = regexp.MustCompile("(?m)^\\| `(gemini_balance_[a-z_]+)` \\| (counter|gauge|histogram) \\| ([^|]*) \\|")
	backticked = regexp.MustCompile("`([a-z_]+)`")
)

// documentedMetrics reads the metrics table of the README's "Metrics and
// access logs".
func documentedMetrics(t *testing.T) map[string]docMetric {
	t.Helper()
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]docMetric{}
	for _, m := range metricRow.FindAllSubmatch(readme, -1) {
		d := docMetric{kind: string(m[2])}
		for _, l := range backticked.FindAllSubmatch(m[3], -1) {
			d.labels = append(d.labels, string(l[1]))
		}
		out[string(m[1])] = d
	}
	if len(out) < 5 {
		t.Fatalf("the README's metrics table has %d rows", len(out))
	}
	return out
}

// metricNames are the series names a scrape shows for a documented metric:
// a histogram's _bucket, _sum and _count.
func metricNames(name string, d docMetric) []string {
	if d.kind == "histogram" {
		return []string{name + "_bucket", name + "_sum", name + "_count"}
	}
	return []string{name}
}

// TestMetricsTableMatchesCode checks that the README documents exactly the
// metrics internal/metrics defines, so the table cannot fall behind.
func TestMetricsTableMatchesCode(t *testing.T) {
	src, err := os.ReadFile(filepath.Join("..", "internal", "metrics", "metrics.go"))
	if err != nil {
		t.Fatal(err)
	}
	var defined []string
	for _, m := range regexp.MustCompile(`Name: "([a-z_]+)"`).FindAllSubmatch(src, -1) {
		defined = append(defined, "gemini_balance_"+string(m[1]))
	}
	for _, m := range regexp.MustCompile(`NewDesc\(namespace\+"(_[a-z_]+)"`).FindAllSubmatch(src, -1) {
		defined = append(defined, "gemini_balance"+string(m[1]))
	}
	doc := documentedMetrics(t)
	for _, name := range defined {
		if _, ok := doc[name]; !ok {
			t.Errorf("README does not document %s", name)
		}
	}
	for name := range doc {
		if !slices.Contains(defined, name) {
			t.Errorf("README documents %s, which internal/metrics does not define", name)
		}
	}
}

var (
	seriesRef = regexp.MustCompile(`(gemini_balance_[a-z_]+)(\{[^}]*\})?`)
	matcher   = regexp.MustCompile(`([a-z_]+)\s*(=~|!~|!=|=)`)
	byClause  = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
)

// TestGrafanaDashboard checks examples/grafana-dashboard.json: valid JSON,
// a Prometheus data-source variable that every panel and query uses, and
// queries that name only documented metrics and their labels, covering every
// documented metric.
func TestGrafanaDashboard(t *testing.T) {
	raw, err := os.ReadFile("grafana-dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	type target struct {
		Expr       string         `json:"expr"`
		Datasource map[string]any `json:"datasource"`
	}
	var dash struct {
		Title      string `json:"title"`
		UID        string `json:"uid"`
		Templating struct {
			List []struct {
				Name, Type string
				Query      any `json:"query"`
			} `json:"list"`
		} `json:"templating"`
		Panels []struct {
			ID         int            `json:"id"`
			Title      string         `json:"title"`
			Datasource map[string]any `json:"datasource"`
			Targets    []target       `json:"targets"`
			GridPos    struct{ W, H int }
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	if dash.Title == "" || dash.UID == "" || len(dash.Panels) < 6 {
		t.Fatalf("dashboard title %q, uid %q, %d panels", dash.Title, dash.UID, len(dash.Panels))
	}
	dsVar := ""
	for _, v := range dash.Templating.List {
		if v.Type == "datasource" && v.Query == "prometheus" {
			dsVar = "${" + v.Name + "}"
		}
	}
	if dsVar == "" {
		t.Fatal("no Prometheus data-source variable")
	}
	usesVar := func(ds map[string]any) bool { return ds["type"] == "prometheus" && ds["uid"] == dsVar }

	doc := documentedMetrics(t)
	series := map[string]string{} // series name -> documented metric
	for name, d := range doc {
		for _, s := range metricNames(name, d) {
			series[s] = name
		}
	}
	var allLabels []string
	for _, d := range doc {
		allLabels = append(allLabels, d.labels...)
	}
	used := map[string]bool{}
	ids := map[int]bool{}
	for _, p := range dash.Panels {
		if ids[p.ID] || p.GridPos.W == 0 || p.GridPos.H == 0 {
			t.Errorf("panel %q: id %d repeated or no size", p.Title, p.ID)
		}
		ids[p.ID] = true
		if !usesVar(p.Datasource) {
			t.Errorf("panel %q: data source %v, want the variable %s", p.Title, p.Datasource, dsVar)
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			if !usesVar(tg.Datasource) {
				t.Errorf("panel %q: query data source %v", p.Title, tg.Datasource)
			}
			if strings.Count(tg.Expr, "(") != strings.Count(tg.Expr, ")") {
				t.Errorf("panel %q: unbalanced parentheses in %s", p.Title, tg.Expr)
			}
			refs := seriesRef.FindAllStringSubmatch(tg.Expr, -1)
			if len(refs) == 0 {
				t.Errorf("panel %q: query %s names no gemini_balance metric", p.Title, tg.Expr)
			}
			for _, r := range refs {
				metric, ok := series[r[1]]
				if !ok {
					t.Errorf("panel %q: %s is not a documented metric", p.Title, r[1])
					continue
				}
				used[metric] = true
				labels := doc[metric].labels
				if strings.HasSuffix(r[1], "_bucket") {
					labels = append(slices.Clone(labels), "le")
				}
				for _, m := range matcher.FindAllStringSubmatch(r[2], -1) {
					if !slices.Contains(labels, m[1]) {
						t.Errorf("panel %q: %s has no label %q", p.Title, metric, m[1])
					}
				}
			}
			for _, b := range byClause.FindAllStringSubmatch(tg.Expr, -1) {
				for _, l := range strings.Split(b[1], ",") {
					if l = strings.TrimSpace(l); l != "le" && !slices.Contains(allLabels, l) {
						t.Errorf("panel %q: grouping by %q, not a documented label", p.Title, l)
					}
				}
			}
		}
	}
	for name := range doc {
		if !used[name] {
			t.Errorf("the dashboard shows nothing of %s", name)
		}
	}
}

// TestPrometheusConfig checks examples/prometheus.yml: valid YAML with a job
// that scrapes /metrics on Caddy's admin endpoint, where the reference
// Caddyfile puts it.
func TestPrometheusConfig(t *testing.T) {
	raw, err := os.ReadFile("prometheus.yml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			MetricsPath   string `yaml:"metrics_path"`
			Scheme        string `yaml:"scheme"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatalf("prometheus.yml: %v", err)
	}
	ref, err := os.ReadFile(filepath.Join("..", "Caddyfile.example"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^\s*admin\s+(\S+)`).FindSubmatch(ref)
	if m == nil {
		t.Fatal("Caddyfile.example has no admin option")
	}
	admin := string(m[1])
	found := false
	for _, sc := range cfg.ScrapeConfigs {
		if sc.JobName == "" {
			t.Error("a scrape config without job_name")
		}
		path := sc.MetricsPath
		if path == "" {
			path = "/metrics" // Prometheus's default
		}
		for _, st := range sc.StaticConfigs {
			if path == "/metrics" && (sc.Scheme == "" || sc.Scheme == "http") && slices.Contains(st.Targets, admin) {
				found = true
			}
		}
	}
	if !found {
		t.Errorf("prometheus.yml has no job scraping http://%s/metrics", admin)
	}
}

// TestMetricsAndAccessLogLive boots Caddy with a pool, the access log of the
// README's example and a site metrics handler, and checks what the docs say:
// every documented metric is on the admin endpoint's /metrics with no
// directive enabling it, and on the site's metrics handler too; the access
// log line of a request that went upstream has the gemini_balance fields and
// not the client token.
func TestMetricsAndAccessLogLive(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	// The log block of the README's access-log example.
	_, section, _ := strings.Cut(string(readme), "### Access-log fields")
	_, block, _ := strings.Cut(section, "```caddyfile\n")
	logStart := strings.Index(block, "\tlog {")
	logEnd := strings.Index(block, "\n\t}\n")
	if logStart < 0 || logEnd < logStart {
		t.Fatal("no log block in the README's access-log example")
	}
	dir := t.TempDir()
	access := filepath.Join(dir, "access.log")
	logBlock := regexp.MustCompile(`output file \S+`).ReplaceAllString(block[logStart:logEnd+4], "output file "+access)

	up := fakegemini.New()
	t.Cleanup(up.Close)
	const key, token = "AIzaSyDOCS0000000000000000000000000000001", "docs-client-token-0001"
	up.SetKey(key, fakegemini.OK)
	const pool = "docs_metrics"
	config := fmt.Sprintf("{\n\tskip_install_trust\n\tadmin localhost:%d\n\thttp_port %d\n\thttps_port %d\n\tgrace_period 1ns\n}\n"+
		"http://localhost:%d {\n%s\tmetrics /prom\n\tgemini_balance %s {\n\t\tapi_keys %s\n\t\tallowed_tokens %s\n"+
		"\t\tdatabase %s\n\t\tbase_url %s\n\t\tcheck_interval 0\n\t}\n}\n",
		adminPort, httpPort, httpsPort, httpPort, logBlock, pool, key, token, filepath.Join(dir, "m.db"), up.URL)
	tester := caddytest.NewTester(t).WithDefaultOverrides(caddytest.Config{AdminPort: adminPort})
	t.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://localhost:%d/load", adminPort),
			strings.NewReader(fmt.Sprintf(`{"admin":{"listen":"localhost:%d"}}`, adminPort)))
		req.Header.Set("Content-Type", "application/json")
		if res, err := http.DefaultClient.Do(req); err == nil {
			_ = res.Body.Close()
		}
	})
	tester.InitServer(config, "caddyfile")
	if t.Failed() {
		t.Fatalf("config did not load:\n%s", config)
	}

	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://localhost:%d/v1beta/models/gemini-2.5-flash:generateContent", httpPort),
		strings.NewReader(`{"contents":[{"parts":[{"text":"hi"}]}]}`))
	req.Header.Set("x-goog-api-key", token)
	res, err := tester.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("generateContent: %d %s", res.StatusCode, body)
	}

	doc := documentedMetrics(t)
	for _, url := range []string{
		fmt.Sprintf("http://localhost:%d/metrics", adminPort),
		fmt.Sprintf("http://localhost:%d/prom", httpPort),
	} {
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		text, _ := io.ReadAll(res.Body)
		res.Body.Close()
		for name, d := range doc {
			for _, s := range metricNames(name, d) {
				if !regexp.MustCompile(`(?m)^` + s + `\{[^}]*pool="` + pool + `"`).Match(text) {
					t.Errorf("%s: no %s for the pool", url, s)
				}
			}
		}
		want := `gemini_balance_requests_total{code="200",pool="` + pool + `",route="native",served_by="` + pool + `"} 1`
		if !strings.Contains(string(text), want) {
			t.Errorf("%s: no %s", url, want)
		}
		if strings.Contains(string(text), token) || strings.Contains(string(text), key[len(key)-8:]) {
			t.Errorf("%s shows the client token or the key", url)
		}
	}

	var line map[string]any
	deadline := time.Now().Add(5 * time.Second)
	for line == nil && time.Now().Before(deadline) {
		raw, _ := os.ReadFile(access)
		for _, l := range strings.Split(string(raw), "\n") {
			var m map[string]any
			if json.Unmarshal([]byte(l), &m) == nil && m["gemini_balance.pool"] != nil {
				line = m
				if strings.Contains(l, token) || strings.Contains(l, key) {
					t.Errorf("the access log shows the client token or the key: %s", l)
				}
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	if line == nil {
		t.Fatal("no access-log line with gemini_balance fields")
	}
	for field, want := range map[string]any{
		"gemini_balance.pool": pool, "gemini_balance.provider": "gemini", "gemini_balance.key": "AIzaSy…0001",
		"gemini_balance.model": "gemini-2.5-flash", "gemini_balance.attempts": 1.0, "gemini_balance.upstream_status": 200.0,
	} {
		if line[field] != want {
			t.Errorf("access log %s = %v, want %v", field, line[field], want)
		}
	}
}
