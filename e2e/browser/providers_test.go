package browser

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cdpbrowser "github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/gemini-balance/gemini_balance/caddymodule"
	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/fakeopenai"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
)

// fallbackPool is the OpenAI-compatible pool of the global options that the
// site's pool falls back to.
const fallbackPool = "deepseek"

// Keys of the fallback pool: one the stand-in accepts, one it answers 401
// (invalid_api_key), and one pasted on its keys page.
const (
	dsGoodKey   = "sk-proj-goodkey000000000000000000000001a2b"
	dsBadKey    = "sk-proj-badkey0000000000000000000000009f8e"
	dsPastedKey = "sk-pasted-00000000000000000000000000077aa"
)

// chainServer is a Caddy whose site pool (poolName, Gemini) falls back to a
// global-options pool on the OpenAI stand-in.
type chainServer struct {
	*server
	oa *fakeopenai.Server
}

func startChainServer(t *testing.T, geminiKey string) *chainServer {
	t.Helper()
	up := fakegemini.New()
	t.Cleanup(up.Close)
	oa := fakeopenai.New()
	t.Cleanup(oa.Close)
	oa.SetKey(dsGoodKey, fakeopenai.OK)
	oa.SetKey(dsBadKey, fakeopenai.Invalid)
	oa.SetKey(dsPastedKey, fakeopenai.OK)
	s := &server{up: up, dir: t.TempDir()}
	s.logs = filepath.Join(s.dir, "caddy.log")
	s.tester = ports.Tester(t)
	global := fmt.Sprintf(`	gemini_balance %s {
		provider openai
		base_url %s
		api_keys %s %s
		database %s
		check_interval 0
	}`, fallbackPool, oa.URL, dsGoodKey, dsBadKey, filepath.Join(s.dir, "deepseek.db"))
	config := ports.Global(s.logs, "INFO", global) + fmt.Sprintf(`
http://localhost:%d {
	route {
		gemini_balance %s {
			api_keys %s
			allowed_tokens %s
			auth_token %s
			database %s
			base_url %s
			check_interval 0
			fallback %s
		}
	}
}
`, httpPort, poolName, geminiKey, clientToken, authToken,
		filepath.Join(s.dir, "pool.db"), up.URL, fallbackPool)
	s.tester.InitServer(config, "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	t.Cleanup(func() {
		ports.Unload(t, func() bool {
			return caddymodule.LookupPool(poolName) == nil && caddymodule.LookupPool(fallbackPool) == nil
		})
		if t.Failed() {
			t.Logf("last lines of Caddy's log:\n%s", lastLog(s.logs))
		}
	})
	return &chainServer{server: s, oa: oa}
}

func lastLog(file string) string {
	b, _ := os.ReadFile(file)
	lines := strings.Split(string(b), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// probeRow is what a key's row on the providers page shows.
type probeRow struct {
	Key    string `json:"key"`
	ID     string `json:"id"`
	Status string `json:"status"`
	Body   string `json:"body"`
	Copy   bool   `json:"copy"`
}

// TestProvidersPageInBrowser: the providers page lists the console's pool
// and its fallback in chain order; testing the fallback shows each key's
// upstream status and the stand-in's exact error; Copy puts that error on the
// clipboard; and the fallback's keys page takes a pasted sk- key.
func TestProvidersPageInBrowser(t *testing.T) {
	chrome := chromiumPath(t)
	geminiKey := fakeKey("providers")
	s := startChainServer(t, geminiKey)
	s.up.SetKey(geminiKey, fakegemini.OK)

	b := startBrowser(t, chrome)
	b.shots = screenshotDir(t)
	b.keep = os.Getenv("GEMINI_BALANCE_SCREENSHOTS") != ""
	console := siteURL + consolePath
	allKeys := []string{geminiKey, dsGoodKey, dsBadKey, dsPastedKey}

	// The page may use the asynchronous clipboard (localhost is a secure
	// context); a headless tab needs the permission and the focus for it.
	b.do(t, "granting the clipboard", chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
		for _, name := range []string{"clipboard-read", "clipboard-write"} {
			if _, err := cdp.Call(ctx, tg, cdpbrowser.SetPermission, cdpbrowser.SetPermissionParams{
				Permission: &cdpbrowser.PermissionDescriptor{Name: name, AllowWithoutSanitization: true},
				Setting:    cdpbrowser.PermissionSettingGranted, Origin: siteURL,
			}); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		_, err := cdp.Call(ctx, tg, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true})
		return err
	}))

	b.do(t, "opening the providers page", chromedp.Navigate(console+"/providers"))
	b.waitFor(t, "the login page", `location.pathname === '/admin/login' && document.getElementById('auth_token')`)
	b.do(t, "logging in",
		chromedp.SendKeys(chromedp.CSS("#auth_token"), authToken),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)))
	b.waitFor(t, "both pools with their keys",
		`location.pathname === '/admin/providers' && document.querySelectorAll('section.provider').length === 2 &&
		 document.querySelectorAll('section.provider[data-pool="deepseek"] tr[data-key-id]').length === 2`)

	t.Run("ChainOrder", func(t *testing.T) {
		chain := b.text(t, `document.getElementById('prov-chain').textContent.replace(/\s+/g, ' ').trim()`)
		if want := "1. " + poolName + " (gemini) → 2. " + fallbackPool + " (openai)"; chain != want {
			t.Errorf("fallback order %q, want %q", chain, want)
		}
		order := b.text(t, `Array.from(document.querySelectorAll('section.provider')).map(function (s) {
			return s.getAttribute('data-pool') + ':' + s.querySelector('.pool-provider').textContent; }).join(',')`)
		if want := poolName + ":gemini," + fallbackPool + ":openai"; order != want {
			t.Errorf("pools listed as %q, want %q", order, want)
		}
		fb := b.text(t, `document.querySelector('section.provider[data-pool="browser"] .pool-fallback').textContent`)
		if fb != fallbackPool {
			t.Errorf("the site pool falls back to %q on the page, want %s", fb, fallbackPool)
		}
		base := b.text(t, `document.querySelector('section.provider[data-pool="deepseek"] .pool-base-url').textContent`)
		if base != s.oa.URL {
			t.Errorf("deepseek base URL shown as %q, want %s", base, s.oa.URL)
		}
	})

	var rows map[string]probeRow
	t.Run("TestPool", func(t *testing.T) {
		b.do(t, "testing the deepseek pool", chromedp.Click(chromedp.CSS(`section.provider[data-pool="deepseek"] .test-pool`)))
		b.waitFor(t, "both keys' results",
			`document.querySelectorAll('section.provider[data-pool="deepseek"] tr[data-key-id] .probe-status').length === 2 &&
			 document.querySelector('section.provider[data-pool="deepseek"] .pool-test-result')`)
		raw := b.text(t, `JSON.stringify(Array.from(document.querySelectorAll('section.provider[data-pool="deepseek"] tr[data-key-id]')).map(function (r) {
			return { key: r.querySelector('.key').textContent, id: r.getAttribute('data-key-id'),
				status: r.querySelector('.probe-status').textContent, body: r.querySelector('.probe-body').textContent,
				copy: !!r.querySelector('.copy-error') };
		}))`)
		var list []probeRow
		if err := json.Unmarshal([]byte(raw), &list); err != nil {
			t.Fatalf("reading the rows %s: %v", raw, err)
		}
		rows = map[string]probeRow{}
		for _, r := range list {
			rows[r.Key] = r
		}
		good, bad := keypool.NewKey(dsGoodKey, ""), keypool.NewKey(dsBadKey, "")
		g, ok := rows[good.Masked()]
		if !ok || g.Status != "200" || g.Copy || g.ID != good.ID() || !strings.Contains(g.Body, `"object"`) {
			t.Errorf("good key %s: row %+v, want status 200 with the model list and no Copy", good.Masked(), g)
		}
		r, ok := rows[bad.Masked()]
		if !ok || r.Status != "401" || !r.Copy {
			t.Fatalf("bad key %s: row %+v, want status 401 with Copy", bad.Masked(), r)
		}
		// The stand-in's own error, as OpenAI words it (the key in it masked
		// by the stand-in, and redacted again by the module).
		for _, part := range []string{"Incorrect API key provided: ", "You can find your API key at https://platform.openai.com/account/api-keys.",
			`"code": "invalid_api_key"`} {
			if !strings.Contains(r.Body, part) {
				t.Errorf("the 401 body shown lacks %q:\n%s", part, r.Body)
			}
		}
		// It is exactly what the admin API answers for the same key.
		status, body := consolePost(t, b, "/api/pools/"+fallbackPool+"/test", `{"keys":["`+bad.ID()+`"]}`)
		var answer struct {
			Results []struct {
				Status int    `json:"status"`
				Body   string `json:"body"`
			} `json:"results"`
		}
		if status != 200 || json.Unmarshal([]byte(body), &answer) != nil || len(answer.Results) != 1 {
			t.Fatalf("test of the bad key through the API: %d %s", status, body)
		}
		if answer.Results[0].Body != r.Body {
			t.Errorf("page shows body %q, the API answers %q", r.Body, answer.Results[0].Body)
		}
		summary := b.text(t, `document.querySelector('section.provider[data-pool="deepseek"] .pool-test-result').innerText`)
		if !strings.Contains(summary, "1 of 2 tested keys answered 2xx") {
			t.Errorf("test summary %q", summary)
		}
		b.assertNoFullKey(t, allKeys...)
		b.screenshot(t, "providers.png")
	})
	if t.Failed() {
		t.FailNow()
	}

	t.Run("CopyError", func(t *testing.T) {
		bad := keypool.NewKey(dsBadKey, "")
		sel := fmt.Sprintf(`section.provider[data-pool="deepseek"] tr[data-key-id=%q] .copy-error`, bad.ID())
		b.do(t, "copying the error", chromedp.Click(chromedp.CSS(sel)))
		b.waitFor(t, "the Copied feedback", fmt.Sprintf(`document.querySelector(%q).textContent === 'Copied'`, sel))
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer cancel()
		clip, err := chromedp.Run(ctx, chromedp.Evaluate[string](`navigator.clipboard.readText()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatalf("reading the clipboard: %v", err)
		}
		want := "HTTP 401\n" + rows[bad.Masked()].Body
		if clip != want {
			t.Errorf("clipboard holds %q, want %q", clip, want)
		}
		if !strings.Contains(clip, "Incorrect API key provided") || strings.Contains(clip, dsBadKey) {
			t.Errorf("clipboard %q: want the upstream message without the full key", clip)
		}

		// Over plain HTTP (no navigator.clipboard) the page copies from a
		// hidden text area with execCommand('copy').
		if _, err := eval[bool](b, `(function () {
			window.__copied = null;
			Object.defineProperty(navigator, 'clipboard', { value: undefined, configurable: true });
			var orig = document.execCommand;
			document.execCommand = function (cmd) {
				var ta = document.querySelector('textarea.offscreen');
				if (cmd === 'copy' && ta) window.__copied = ta.value.slice(ta.selectionStart, ta.selectionEnd);
				return orig.apply(document, arguments);
			};
			return true;
		})()`); err != nil {
			t.Fatalf("taking the clipboard API away: %v", err)
		}
		b.do(t, "copying the error without the clipboard API", chromedp.Click(chromedp.CSS(sel)))
		b.waitFor(t, "the copy through the text area", `window.__copied !== null`)
		if got := b.text(t, `window.__copied`); got != want {
			t.Errorf("the text area copy selected %q, want %q", got, want)
		}
		if n := b.text(t, `String(document.querySelectorAll('textarea.offscreen').length)`); n != "0" {
			t.Errorf("%s hidden text areas left in the page", n)
		}
		if got := b.text(t, `document.querySelector(`+fmt.Sprintf("%q", sel)+`).textContent`); got != "Copied" {
			t.Errorf("after the text area copy the button says %q, want Copied", got)
		}
	})

	t.Run("KeyTest", func(t *testing.T) {
		good := keypool.NewKey(dsGoodKey, "")
		row := fmt.Sprintf(`section.provider[data-pool="deepseek"] tr[data-key-id=%q]`, good.ID())
		before := len(s.oa.Requests())
		b.do(t, "testing one key", chromedp.Click(chromedp.CSS(row+" .test-key")))
		b.waitFor(t, "the key's result after its own test", fmt.Sprintf(
			`document.querySelector(%q) && !document.querySelector(%q).disabled && document.querySelector(%q).textContent === '200'`,
			row+" .test-key", row+" .test-key", row+" .probe-status"))
		reqs := s.oa.Requests()[before:]
		if len(reqs) != 1 || reqs[0].Path != "/v1/models" {
			t.Errorf("testing one key sent %+v upstream, want one GET /v1/models", reqs)
		}
	})

	t.Run("ModelMapSetting", func(t *testing.T) {
		b.do(t, "opening the deepseek settings", chromedp.Navigate(console+"/settings?pool="+fallbackPool))
		b.waitFor(t, "the model_map editor", `document.querySelector('#f-model_map textarea#in-model_map')`)
		help := b.text(t, `document.querySelector('#f-model_map .help').textContent`)
		if !strings.Contains(help, "from=to per line") {
			t.Errorf("model_map help %q", help)
		}
		b.do(t, "writing a model map",
			chromedp.Focus(chromedp.CSS("#in-model_map")),
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: "gemini-2.5-flash = deepseek-chat\ngemini-2.5-pro=deepseek-reasoner"})
				return err
			}),
			chromedp.Click(chromedp.CSS("#f-model_map .btn-primary")))
		b.waitFor(t, "the saved message", `document.querySelector('#msg-model_map .field-msg-ok')`)
		p := caddymodule.LookupPool(fallbackPool)
		if p == nil {
			t.Fatal("no deepseek pool")
		}
		got := p.Settings().ModelMap
		if len(got) != 2 || got["gemini-2.5-flash"] != "deepseek-chat" || got["gemini-2.5-pro"] != "deepseek-reasoner" {
			t.Errorf("deepseek's model_map is %v", got)
		}
		if site := caddymodule.LookupPool(poolName); site != nil && len(site.Settings().ModelMap) != 0 {
			t.Errorf("the site pool's model_map changed too: %v", site.Settings().ModelMap)
		}
		b.do(t, "reloading the settings", chromedp.Reload())
		b.waitFor(t, "the model map as saved", `document.querySelector('#in-model_map') &&
			document.querySelector('#in-model_map').value === 'gemini-2.5-flash=deepseek-chat\ngemini-2.5-pro=deepseek-reasoner'`)
	})

	t.Run("PasteOpenAIKey", func(t *testing.T) {
		b.do(t, "opening the deepseek keys page", chromedp.Navigate(console+"/keys?pool="+fallbackPool))
		b.waitFor(t, "the deepseek key list", `document.querySelectorAll('#keys-body tr .badge').length === 2`)
		if got := b.text(t, `document.querySelector('.pool-name b').textContent`); got != fallbackPool {
			t.Errorf("the keys page manages %q, want %s", got, fallbackPool)
		}
		b.do(t, "opening the add box", chromedp.Click(chromedp.CSS("#add-toggle")), chromedp.WaitVisible(chromedp.CSS("#add-text")))
		pasted := fmt.Sprintf("new DeepSeek key:\n  %s,\n(old one: %s)", dsPastedKey, dsGoodKey)
		b.do(t, "pasting the key",
			chromedp.Focus(chromedp.CSS("#add-text")),
			chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
				_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: pasted})
				return err
			}))
		b.waitFor(t, "the count of keys found", `document.getElementById('add-found').textContent.indexOf('2 keys found') >= 0`)
		b.do(t, "adding the key", chromedp.Click(chromedp.CSS("#add-submit")))
		b.waitFor(t, "the result of adding", `document.querySelector('#add-result .alert')`)
		result := b.text(t, `document.getElementById('add-result').innerText`)
		if !strings.Contains(result, "1 added") || !strings.Contains(result, "1 duplicates") || !strings.Contains(result, "0 rejected") {
			t.Errorf("add result %q, want 1 added, 1 duplicate, 0 rejected", result)
		}
		b.waitFor(t, "three keys listed", `document.querySelectorAll('#keys-body tr .badge').length === 3`)
		if !strings.Contains(b.location(t), "pool="+fallbackPool) {
			t.Errorf("the keys page lost its pool: %s", b.location(t))
		}
		p := caddymodule.LookupPool(fallbackPool)
		if p == nil || p.Ring().Len() != 3 || p.Ring().Get(keypool.NewKey(dsPastedKey, "").ID()) == nil {
			t.Errorf("the deepseek pool does not hold the pasted key")
		}
		if site := caddymodule.LookupPool(poolName); site == nil || site.Ring().Len() != 1 {
			t.Errorf("the pasted key went to the site's pool too")
		}
		b.assertNoFullKey(t, allKeys...)
	})

	t.Run("Chinese", func(t *testing.T) {
		b.do(t, "opening the providers page", chromedp.Navigate(console+"/providers"))
		b.waitFor(t, "the pools", `document.querySelectorAll('section.provider').length === 2`)
		b.do(t, "switching to Chinese", chromedp.SetValue(chromedp.CSS("#lang"), "zh"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById('lang').dispatchEvent(new Event('change'))`))
		b.waitFor(t, "the page in Chinese", `document.querySelector('h1').textContent === '服务商' &&
			document.querySelector('section.provider[data-pool="deepseek"] .test-pool').textContent === '测试号池'`)
		b.do(t, "back to English", chromedp.SetValue(chromedp.CSS("#lang"), "en"),
			chromedp.Evaluate[chromedp.Void](`document.getElementById('lang').dispatchEvent(new Event('change'))`))
	})

	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("the pages reported errors:\n%s", strings.Join(errs, "\n"))
	}
}

// consolePost calls a console JSON route from the page, with its session and
// CSRF token, and returns the status and body.
func consolePost(t *testing.T, b *browser, path, body string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	js := fmt.Sprintf(`fetch(GB.prefix + %q, {method: 'POST', credentials: 'same-origin',
		headers: {'Content-Type': 'application/json', 'X-CSRF-Token': GB.csrf}, body: %q})
		.then(function (r) { return r.text().then(function (t) { return JSON.stringify({status: r.status, body: t}); }); })`, path, body)
	raw, err := chromedp.Run(ctx, chromedp.Evaluate[string](js, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	var out struct {
		Status int    `json:"status"`
		Body   string `json:"body"`
	}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	return out.Status, out.Body
}
