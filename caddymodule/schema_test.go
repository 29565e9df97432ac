package caddymodule

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/gemini-balance/gemini_balance/internal/settings"
)

// schemaCase is a good and a bad Caddyfile line of an option, and the bad
// value as the admin API's PATCH would send it (settings.Apply).
type schemaCase struct {
	good, bad string
	badJSON   string // "" when the option has no bad value a Caddyfile can write
}

// caseFor derives the lines from the option's type; a few options whose
// values are checked further have their own.
func caseFor(o *settings.Option) schemaCase {
	dir := o.CaddyfileName()
	own := map[string]schemaCase{
		"base_url":       {"https://relay.example.com/v1beta", "ftp://x", `"ftp://x"`},
		"referer":        {"https://my.site/", "ftp://x", `"ftp://x"`},
		"proxies":        {"http://p1:8080 socks5://p2:1080", "gopher://p:1", `["gopher://p:1"]`},
		"allowed_tokens": {"sk-a sk-b", "…abcd", `["…abcd"]`},
		"test_model":     {"gemini-2.0-flash", `""`, `""`},
		"image_model":    {"imagen-4", `""`, `""`},
		"tts_model":      {"tts-1", `""`, `""`},
		"tts_voice":      {"Puck", `""`, `""`},
	}
	if c, ok := own[o.Name]; ok {
		c.good, c.bad = dir+" "+c.good, dir+" "+c.bad
		return c
	}
	switch o.Type {
	case "int":
		return schemaCase{fmt.Sprintf("%s %d", dir, o.Min+1), fmt.Sprintf("%s %d", dir, o.Max+1), fmt.Sprint(o.Max + 1)}
	case "bool":
		return schemaCase{dir + " on", dir + " maybe", `"maybe"`}
	case "duration":
		return schemaCase{dir + " 90s", dir + " soon", `"soon"`}
	case "list":
		return schemaCase{good: dir + " model-a model-b"}
	case "map":
		return schemaCase{dir + " X-Extra one", dir + ` "Bad Name" v`, `{"Bad Name":"v"}`}
	case "modelmap":
		return schemaCase{dir + " gemini-2.5-flash deepseek-chat", dir + " gemini-2.5-flash ../x", `{"gemini-2.5-flash":"../x"}`}
	case "budgets":
		return schemaCase{dir + " gemini-2.5-pro 1024", dir + " m 99999", `{"m":99999}`}
	case "safety":
		return schemaCase{dir + " HARM_CATEGORY_HARASSMENT BLOCK_NONE", dir + " FOO OFF", `[{"category":"FOO","threshold":"OFF"}]`}
	case "enum":
		return schemaCase{dir + " " + o.Choice[0], dir + " loud", `"loud"`}
	}
	return schemaCase{good: dir + " s3cret-value"} // secrets take any string
}

// TestEveryOptionFromCaddyfile walks the whole schema: each option parses
// from a Caddyfile, survives `caddy adapt` and the JSON config, reaches the
// pool with source "caddyfile", and a bad value is refused with the same
// message by the Caddyfile and by settings.Apply (the admin API's PATCH).
func TestEveryOptionFromCaddyfile(t *testing.T) {
	for _, o := range settings.Schema() {
		t.Run(o.Name, func(t *testing.T) {
			c := caseFor(o)
			block := "gemini_balance schema-" + o.Name + " {\n\tapi_keys k1\n\t" + c.good + "\n}"
			var h Handler
			if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(block)); err != nil {
				t.Fatalf("%s: %v", c.good, err)
			}
			if h.Options[o.Name] == nil {
				t.Fatalf("%s set no %s: %v", c.good, o.Name, h.Options)
			}

			// caddy adapt, then the JSON config as Caddy loads it.
			adapted, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(":8080 {\n"+block+"\n}"), nil)
			if err != nil {
				t.Fatal(err)
			}
			var fromJSON Handler
			if err := json.Unmarshal(findHandler(t, adapted), &fromJSON); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(fromJSON.Options, h.Options) {
				t.Errorf("adapted options = %s, want %s", fmt.Sprint(fromJSON.Options), fmt.Sprint(h.Options))
			}

			// Provisioned, the pool shows it as set by the Caddyfile.
			ctx, cancel := caddy.NewContext(caddy.Context{Context: t.Context()})
			defer cancel()
			fromJSON.Database = filepath.Join(t.TempDir(), "x.db")
			if err := fromJSON.Provision(ctx); err != nil {
				t.Fatal(err)
			}
			defer fromJSON.Cleanup()
			view := fromJSON.api.Balancer.SettingsView()[o.Name]
			if view.Source != "caddyfile" {
				t.Errorf("source = %q, want caddyfile", view.Source)
			}
			want, _ := settings.ApplyConfig(settings.Defaults(), h.Options)
			if got := fromJSON.api.Balancer.Settings(); !reflect.DeepEqual(o.Show(&got), o.Show(&want)) {
				t.Errorf("value = %v, want %v", o.Show(&got), o.Show(&want))
			}

			if c.badJSON == "" {
				return
			}
			bad := "gemini_balance {\n\t" + c.bad + "\n}"
			cfErr := new(Handler).UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad))
			_, applyErr := settings.Apply(settings.Defaults(), map[string]json.RawMessage{o.Name: json.RawMessage(c.badJSON)})
			if cfErr == nil || applyErr == nil {
				t.Fatalf("%s: Caddyfile error %v, Apply error %v", c.bad, cfErr, applyErr)
			}
			if want := applyErr.Error() + ", at Testfile:2"; !strings.HasPrefix(cfErr.Error(), want) {
				t.Errorf("Caddyfile: %v\nApply:     %v", cfErr, applyErr)
			}
		})
	}
}

// findHandler digs the gemini_balance handler out of adapted JSON.
func findHandler(t *testing.T, cfg []byte) []byte {
	t.Helper()
	var walk func(v any) map[string]any
	walk = func(v any) map[string]any {
		switch v := v.(type) {
		case map[string]any:
			if v["handler"] == "gemini_balance" {
				return v
			}
			for _, e := range v {
				if m := walk(e); m != nil {
					return m
				}
			}
		case []any:
			for _, e := range v {
				if m := walk(e); m != nil {
					return m
				}
			}
		}
		return nil
	}
	var root any
	if err := json.Unmarshal(cfg, &root); err != nil {
		t.Fatal(err)
	}
	m := walk(root)
	if m == nil {
		t.Fatalf("no gemini_balance handler in %s", cfg)
	}
	delete(m, "handler") // Caddy takes the module name off before decoding
	b, _ := json.Marshal(m)
	return b
}

// TestOffEverywhere: for every option, `off` either means what the schema
// declares (false, an empty list, a zero duration) or is refused while the
// Caddyfile is read; it never adapts and then fails in Provision.
func TestOffEverywhere(t *testing.T) {
	for _, o := range settings.Schema() {
		t.Run(o.Name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("gemini_balance {\n\t" + o.CaddyfileName() + " off\n}"))
			if err != nil {
				if o.Off != nil {
					t.Fatalf("off is declared (%s) but refused: %v", o.Off, err)
				}
				return
			}
			set, err := settings.ApplyConfig(settings.Defaults(), h.Options)
			if err != nil {
				t.Fatalf("off adapted, then failed: %v", err)
			}
			if o.Off != nil {
				var want settings.Settings
				if want, err = settings.Apply(settings.Defaults(), map[string]json.RawMessage{o.Name: o.Off}); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(o.Get(&set), o.Get(&want)) {
					t.Errorf("off = %v, want %v", o.Get(&set), o.Get(&want))
				}
			}
		})
	}
	for name, want := range map[string]string{"timeout": "timeout: cannot be off: must be at least 1ms", "fake_stream_interval": "cannot be off"} {
		err := new(Handler).UnmarshalCaddyfile(caddyfile.NewTestDispenser("gemini_balance {\n\t" + name + " off\n}"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s off: %v, want %q", name, err, want)
		}
	}
}

// TestManyRetries: max_retries goes past the old ceiling of 7, up to 50.
func TestManyRetries(t *testing.T) {
	var h Handler
	if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser("gemini_balance {\n\tmax_retries 50\n}")); err != nil {
		t.Fatal(err)
	}
	set, err := settings.ApplyConfig(settings.Defaults(), h.Options)
	if err != nil || set.MaxRetries != 50 || settings.MaxRetriesCeiling < 20 {
		t.Fatalf("max_retries 50: %v, %d", err, set.MaxRetries)
	}
}
