package caddymodule

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

func adaptCaddyfile(t *testing.T, text string) ([]byte, error) {
	t.Helper()
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(text), nil)
	return out, err
}

func TestGlobalPoolsAdapt(t *testing.T) {
	out, err := adaptCaddyfile(t, `{
	gemini_balance deepseek {
		provider openai
		base_url https://api.deepseek.com/v1
		api_keys sk-one sk-two
		model_map gemini-2.5-flash deepseek-chat
		model_map gemini-2.5-pro deepseek-reasoner
	}
	gemini_balance vertex {
		provider vertex_express
		api_keys AQ.vertex
		fallback deepseek
	}
}

:8080 {
	gemini_balance main {
		api_keys AIzaSyMAIN
		fallback vertex deepseek
	}
}
`)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Apps struct {
			GeminiBalance struct {
				Pools []map[string]json.RawMessage `json:"pools"`
			} `json:"gemini_balance"`
			HTTP json.RawMessage `json:"http"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	pools := cfg.Apps.GeminiBalance.Pools
	if len(pools) != 2 {
		t.Fatalf("apps.gemini_balance.pools = %d, want 2:\n%s", len(pools), out)
	}
	want := []map[string]string{
		{"pool": `"deepseek"`, "provider": `"openai"`, "base_url": `"https://api.deepseek.com/v1"`, "api_keys": `["sk-one","sk-two"]`,
			"model_map": `{"gemini-2.5-flash":"deepseek-chat","gemini-2.5-pro":"deepseek-reasoner"}`},
		{"pool": `"vertex"`, "provider": `"vertex_express"`, "api_keys": `["AQ.vertex"]`, "fallback": `["deepseek"]`},
	}
	for i, w := range want {
		for field, v := range w {
			if got := string(pools[i][field]); got != v {
				t.Errorf("pool %d %s = %s, want %s", i, field, got, v)
			}
		}
	}
	// The site's handler keeps its own pool and its fallback names.
	if !strings.Contains(string(cfg.Apps.HTTP), `"handler":"gemini_balance"`) || !strings.Contains(string(cfg.Apps.HTTP), `"fallback":["vertex","deepseek"]`) {
		t.Errorf("site handler:\n%s", cfg.Apps.HTTP)
	}
	// The adapted pools read back as the app's Handlers.
	var app App
	raw, _ := json.Marshal(cfg.Apps.GeminiBalance)
	if err := json.Unmarshal(raw, &app); err != nil || len(app.Pools) != 2 || app.Pools[0].Provider != "openai" ||
		app.Pools[1].Fallback[0] != "deepseek" || len(app.Pools[0].Options) == 0 {
		t.Errorf("app = %+v, %v", app, err)
	}
}

func TestGlobalPoolErrors(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"duplicate name", "{\n\tgemini_balance a {\n\t\tapi_keys k\n\t}\n\tgemini_balance a {\n\t\tapi_keys j\n\t}\n}\n:8080 {\n\trespond ok\n}\n",
			`pool "a" is declared twice in the global options`},
		{"no name", "{\n\tgemini_balance {\n\t\tapi_keys k\n\t}\n}\n:8080 {\n\trespond ok\n}\n",
			"a pool in the global options needs a name: gemini_balance <name>"},
		{"bogus provider", "{\n\tgemini_balance a {\n\t\tprovider bogus\n\t}\n}\n:8080 {\n\trespond ok\n}\n",
			`provider "bogus": use gemini, vertex_express or openai`},
		{"bogus provider in a site", ":8080 {\n\tgemini_balance {\n\t\tprovider bogus\n\t}\n}\n",
			`provider "bogus": use gemini, vertex_express or openai`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := adaptCaddyfile(t, c.text)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

// The app refuses what the Caddyfile cannot express but JSON can.
func TestAppProvisionRefuses(t *testing.T) {
	db := func(t *testing.T) string { return filepath.Join(t.TempDir(), "p.db") }
	cases := []struct {
		name  string
		pools func(t *testing.T) []*Handler
		want  string
	}{
		{"no name", func(t *testing.T) []*Handler { return []*Handler{{Database: db(t)}} }, "needs a name"},
		{"duplicate", func(t *testing.T) []*Handler {
			return []*Handler{{Pool: "dupapp", Database: db(t)}, {Pool: "dupapp", Database: db(t)}}
		}, `pool "dupapp" is declared twice`},
		{"console", func(t *testing.T) []*Handler { return []*Handler{{Pool: "c", Console: "/x"}} }, "belong in a site's gemini_balance block"},
		{"bogus provider", func(t *testing.T) []*Handler { return []*Handler{{Pool: "bp", Provider: "bogus"}} }, `provider "bogus"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
			defer cancel()
			a := &App{Pools: c.pools(t)}
			err := a.Provision(ctx)
			defer a.Cleanup()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

// Start resolves fallback names: an unknown name or a pool naming itself
// fails the load; otherwise each pool's chain follows the names.
func TestAppStartResolvesFallbacks(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	defer cancel()
	dir := t.TempDir()
	a := &App{Pools: []*Handler{
		{Pool: "appa", APIKeys: []string{"ka"}, Fallback: []string{"appb"}, Database: filepath.Join(dir, "a.db")},
		{Pool: "appb", APIKeys: []string{"kb"}, Provider: "openai", Fallback: []string{"appa"}, Database: filepath.Join(dir, "b.db")},
	}}
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Cleanup()
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	chain := a.declaredPool("appa").Chain()
	if len(chain) != 2 || chain[1].Name() != "appb" {
		t.Errorf("appa's chain = %v", chain)
	}
}

func TestAppStartRefusesUnknownFallback(t *testing.T) {
	ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
	defer cancel()
	a := &App{Pools: []*Handler{{Pool: "appc", APIKeys: []string{"kc"}, Fallback: []string{"nope"}, Database: filepath.Join(t.TempDir(), "c.db")}}}
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Cleanup()
	if err := a.Start(); err == nil || !strings.Contains(err.Error(), `pool "appc": fallback "nope" is not a pool of this configuration`) {
		t.Errorf("err = %v", err)
	}
}
