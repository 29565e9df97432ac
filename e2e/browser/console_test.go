package browser

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
)

// TestConsoleInBrowser walks the console the way an operator does, in one
// browser session against one Caddy: log in, paste keys, find a failed key's
// error in the logs, change a setting and see the next API request follow
// it, switch to Chinese, log out. The steps depend on each other, so the
// first one that fails ends the test.
func TestConsoleInBrowser(t *testing.T) {
	chrome := chromiumPath(t)
	caddyKey, pastedA, pastedB := fakeKey("caddyfile"), fakeKey("pastedone"), fakeKey("pastedtwo")
	allKeys := []string{caddyKey, pastedA, pastedB}

	s := startServer(t, caddyKey)
	for _, k := range allKeys {
		s.up.SetKey(k, fakegemini.OK)
	}
	// A few calls, so the dashboard has something to show.
	for range 3 {
		if status, body, _ := s.generate(t); status != http.StatusOK {
			t.Fatalf("warm-up API request: %d %s", status, body)
		}
	}
	s.flush(t)

	b := startBrowser(t, chrome)
	b.shots = screenshotDir(t)
	b.keep = os.Getenv("GEMINI_BALANCE_SCREENSHOTS") != ""
	t.Logf("screenshots go to %s", b.shots)
	console := siteURL + consolePath

	steps := []struct {
		name string
		run  func(t *testing.T)
	}{
		{"LogIn", func(t *testing.T) {
			b.do(t, "opening the console", chromedp.Navigate(console+"/"))
			b.waitFor(t, "the login page", `location.pathname === '/admin/login' && document.getElementById('auth_token')`)
			if loc := b.location(t); !strings.Contains(loc, "next=") {
				t.Errorf("login page %s does not remember the page asked for", loc)
			}
			b.do(t, "logging in",
				chromedp.SendKeys(chromedp.CSS("#auth_token"), authToken),
				chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)))
			b.waitFor(t, "the dashboard with its numbers",
				`location.pathname === '/admin/' && document.body.classList.contains('page-dashboard') &&
				 document.getElementById('k-total').textContent === '1' &&
				 document.querySelectorAll('#call-cards .card').length === 4 &&
				 document.querySelector('#trend svg') && document.querySelector('#by-model td.num')`)
			if got := b.text(t, `document.getElementById('k-active').textContent`); got != "1" {
				t.Errorf("dashboard shows %s active keys, want 1", got)
			}
			// The session cookie is HttpOnly and SameSite=Strict, as the issue asks.
			c := b.sessionCookie(t)
			if c == nil {
				t.Fatal("no session cookie after login")
			}
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != consolePath {
				t.Errorf("session cookie: HttpOnly %v, SameSite %q, Path %q; want HttpOnly, Strict, %s", c.HTTPOnly, c.SameSite, c.Path, consolePath)
			}
			b.assertNoFullKey(t, allKeys...)
			b.screenshot(t, "dashboard.png")
		}},

		{"PasteKeys", func(t *testing.T) {
			b.do(t, "opening the keys page", chromedp.Navigate(console+"/keys"))
			b.waitFor(t, "the key list", `document.querySelectorAll('#keys-body tr .badge').length === 1`)
			b.do(t, "opening the add dialog", chromedp.Click(chromedp.CSS("#add-toggle")), chromedp.WaitVisible(chromedp.CSS("#add-text")))
			// Pasted text as an operator has it: two new keys among other
			// words, and the key the Caddyfile already has.
			pasted := fmt.Sprintf("new keys from the team sheet:\n  %s,\n  %s\n(old one: %s) thanks!", pastedA, pastedB, caddyKey)
			b.do(t, "pasting the keys",
				chromedp.Focus(chromedp.CSS("#add-text")),
				chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
					_, err := cdp.Call(ctx, tg, input.InsertText, input.InsertTextParams{Text: pasted})
					return err
				}))
			b.waitFor(t, "the count of keys found in the text", `document.getElementById('add-found').textContent.indexOf('3 keys found') >= 0`)
			b.do(t, "adding the keys", chromedp.Click(chromedp.CSS("#add-submit")))
			b.waitFor(t, "the result of adding", `document.querySelector('#add-result .alert')`)
			result := b.text(t, `document.getElementById('add-result').innerText`)
			if !strings.Contains(result, "2 added") || !strings.Contains(result, "1 duplicates") || !strings.Contains(result, "0 rejected") {
				t.Errorf("add result %q, want 2 added, 1 duplicate, 0 rejected", result)
			}
			b.waitFor(t, "the three keys listed", `document.querySelectorAll('#keys-body tr .badge').length === 3`)
			for _, k := range []string{pastedA, pastedB} {
				status := b.text(t, fmt.Sprintf(`(function () {
					var rows = document.querySelectorAll('#keys-body tr');
					for (var i = 0; i < rows.length; i++) {
						if (rows[i].querySelector('.key').textContent === %q) return rows[i].querySelector('.badge').textContent;
					}
					return 'not listed';
				})()`, masked(k)))
				if status != "active" {
					t.Errorf("key %s: status %q on the keys page, want active", masked(k), status)
				}
			}
			if got := b.text(t, `document.getElementById('add-text').value`); got != "" {
				t.Errorf("the add box still holds %q after adding", got)
			}
			b.assertNoFullKey(t, allKeys...)
			if n := s.pool(t).Ring().Len(); n != 3 {
				t.Errorf("the pool has %d keys after adding, want 3", n)
			}
			b.screenshot(t, "keys.png")
		}},

		{"FailedKeyInLogs", func(t *testing.T) {
			// The stand-in now answers 403 CONSUMER_SUSPENDED for one of the
			// pasted keys, with the key in the message as Google does.
			s.up.SetKey(pastedA, fakegemini.Suspended)
			hit := false
			for i := 0; i < 4 && !hit; i++ {
				status, body, reqs := s.generate(t)
				if status != http.StatusOK {
					t.Fatalf("API request %d: %d %s (a failed key must be retried on another)", i, status, body)
				}
				hit = len(reqs) > 0 && reqs[0].Key == pastedA
			}
			if !hit {
				t.Fatal("no API request reached the suspended key")
			}
			for _, k := range s.pool(t).Ring().Keys() {
				if k.Secret() == pastedA && k.Status() != keypool.Invalid {
					t.Errorf("suspended key is %s, want invalid", k.Status())
				}
			}
			s.flush(t)

			b.do(t, "opening the logs page", chromedp.Navigate(console+"/logs"))
			b.waitFor(t, "the error log table", `document.querySelector('#logs-body tr.clickable')`)
			row := b.text(t, `document.querySelector('#logs-body tr.clickable').innerText`)
			if !strings.Contains(row, masked(pastedA)) || !strings.Contains(row, "403") || !strings.Contains(row, "gemini-2.5-flash") {
				t.Errorf("error log row %q, want the masked key %s, status 403 and the model", row, masked(pastedA))
			}
			if got := b.text(t, `document.getElementById('logs-total').textContent`); !strings.HasPrefix(got, "1 ") {
				t.Errorf("logs total %q, want 1 error", got)
			}
			b.assertNoFullKey(t, allKeys...)
			b.screenshot(t, "logs.png")

			b.do(t, "opening the error's detail", chromedp.Click(chromedp.CSS(`#logs-body tr.clickable button.btn`)))
			b.waitFor(t, "the upstream error body in the detail view",
				`document.getElementById('modal').open && document.querySelector('#modal-body pre.code-block')`)
			detail := b.text(t, `document.getElementById('modal').innerText`)
			for _, want := range []string{"has been suspended", "PERMISSION_DENIED", "CONSUMER_SUSPENDED", masked(pastedA), "403"} {
				if !strings.Contains(detail, want) {
					t.Errorf("error detail does not show %q:\n%s", want, detail)
				}
			}
			b.assertNoFullKey(t, allKeys...)
			b.screenshot(t, "log-detail.png")
			b.do(t, "closing the detail", chromedp.Click(chromedp.CSS("#modal-close")))
			b.waitFor(t, "the detail to close", `!document.getElementById('modal').open`)
		}},

		{"SettingAppliesToNextRequest", func(t *testing.T) {
			// The other pasted key now answers 503: with max_retries 3 (the
			// default) a request that lands on it is retried on the
			// Caddyfile key and succeeds.
			s.up.SetKey(pastedB, fakegemini.Unavailable)
			landOnB := func(what string) (int, string, []fakegemini.Request) {
				for range 3 {
					status, body, reqs := s.generate(t)
					if len(reqs) > 0 && reqs[0].Key == pastedB {
						return status, body, reqs
					}
					if status != http.StatusOK {
						t.Fatalf("%s: a request on the good key answered %d %s", what, status, body)
					}
				}
				t.Fatalf("%s: no request reached the failing key", what)
				return 0, "", nil
			}
			status, body, reqs := landOnB("before the change")
			if status != http.StatusOK || len(reqs) != 2 || reqs[1].Key != caddyKey {
				t.Fatalf("before the change: %d %s after %d upstream attempts; want 200 after a retry on the Caddyfile key", status, body, len(reqs))
			}

			b.do(t, "opening the settings page", chromedp.Navigate(console+"/settings"))
			b.waitFor(t, "the max_retries field", `document.getElementById('in-max_retries')`)
			if src := b.text(t, `document.querySelector('#f-max_retries .badge').textContent`); src != "default" {
				t.Errorf("max_retries source %q, want default (it is not in the Caddyfile)", src)
			}
			if v := b.text(t, `document.getElementById('in-max_retries').value`); v != "3" {
				t.Errorf("max_retries shows %q, want 3", v)
			}
			if locked := b.text(t, `String(document.getElementById('in-allowed_tokens').disabled) + ' ' + document.querySelector('#f-allowed_tokens .badge').textContent`); locked != "true set in Caddyfile" {
				t.Errorf("allowed_tokens, set in the Caddyfile: disabled and source %q, want \"true set in Caddyfile\"", locked)
			}
			b.do(t, "changing max_retries to 0",
				chromedp.Focus(chromedp.CSS("#in-max_retries")),
				chromedp.Evaluate[chromedp.Void](`document.getElementById('in-max_retries').select()`),
				chromedp.SendKeys(chromedp.CSS("#in-max_retries"), "0"+kb.Enter))
			b.waitFor(t, "the save confirmation", `document.querySelector('#msg-max_retries .field-msg-ok') && document.querySelector('#set-status .alert-ok')`)
			if msg := b.text(t, `document.getElementById('msg-max_retries').innerText`); msg != "saved: max_retries 3 → 0" {
				t.Errorf("save message %q, want %q", msg, "saved: max_retries 3 → 0")
			}
			if src := b.text(t, `document.querySelector('#f-max_retries .badge').textContent`); src != "saved in database" {
				t.Errorf("after saving, max_retries source %q, want saved in database", src)
			}
			b.do(t, "scrolling to the top", chromedp.Evaluate[chromedp.Void](`window.scrollTo(0, 0)`))
			b.assertNoFullKey(t, allKeys...)
			b.screenshot(t, "settings.png")

			// The very next request that lands on the failing key is not
			// retried: one upstream attempt, and the client gets the 503.
			if got := s.pool(t).Settings().MaxRetries; got != 0 {
				t.Fatalf("the pool runs with max_retries %d after the change", got)
			}
			status, body, reqs = landOnB("after the change")
			if status != http.StatusServiceUnavailable || len(reqs) != 1 {
				t.Fatalf("after the change: %d %s after %d upstream attempts; want 503 after 1 attempt", status, body, len(reqs))
			}
			if !strings.Contains(body, "overloaded") {
				t.Errorf("the client did not get the upstream's error: %s", body)
			}
			s.up.SetKey(pastedB, fakegemini.OK)
		}},

		{"Chinese", func(t *testing.T) {
			s.flush(t)
			b.do(t, "opening the dashboard", chromedp.Navigate(console+"/"))
			b.waitFor(t, "the dashboard's numbers", `document.getElementById('k-total').textContent === '3' && document.querySelector('#top-keys .topkeys')`)
			b.do(t, "choosing 中文",
				chromedp.SetValue(chromedp.CSS("#lang"), "zh"),
				chromedp.Evaluate[chromedp.Void](`document.getElementById('lang').dispatchEvent(new Event('change'))`))
			b.waitFor(t, "the dashboard in Chinese",
				`document.documentElement.lang === 'zh-CN' && document.querySelector('h1').textContent === '仪表盘' &&
				 document.querySelector('.nav a[href="/admin/keys"]').textContent === '密钥'`)
			b.screenshot(t, "dashboard-zh.png")
			// The choice is remembered: a reload keeps it.
			b.do(t, "reloading", chromedp.Reload())
			b.waitFor(t, "the reloaded dashboard in Chinese", `document.querySelector('h1').textContent === '仪表盘'`)
			// Back to English for the rest.
			b.do(t, "choosing English",
				chromedp.SetValue(chromedp.CSS("#lang"), "en"),
				chromedp.Evaluate[chromedp.Void](`document.getElementById('lang').dispatchEvent(new Event('change'))`))
			b.waitFor(t, "the dashboard in English", `document.querySelector('h1').textContent === 'Dashboard'`)
		}},

		{"LogOut", func(t *testing.T) {
			c := b.sessionCookie(t)
			if c == nil {
				t.Fatal("no session cookie before logout")
			}
			if status, body := consoleAPI(t, "/keys", c.Value); status != http.StatusOK {
				t.Fatalf("console API with the live session: %d %s", status, body)
			}
			b.do(t, "logging out", chromedp.Click(chromedp.CSS("#logout")))
			b.waitFor(t, "the login page", `location.pathname === '/admin/login' && document.getElementById('auth_token')`)
			if after := b.sessionCookie(t); after != nil {
				t.Errorf("the browser still holds a session cookie after logout")
			}
			status, body := consoleAPI(t, "/keys", c.Value)
			if status != http.StatusUnauthorized {
				t.Errorf("console API with the old session cookie: %d %s, want 401", status, body)
			}
			if strings.Contains(body, caddyKey[:20]) {
				t.Errorf("refusal leaks key material: %s", body)
			}
			// A console page sends the browser back to the login page too.
			b.do(t, "opening the keys page", chromedp.Navigate(console+"/keys"))
			b.waitFor(t, "the login page", `location.pathname === '/admin/login' && document.getElementById('auth_token')`)
			if loc := b.location(t); loc != "/admin/login?next=%2Fkeys" {
				t.Errorf("sent to %s, want the login page that returns to /keys", loc)
			}
			b.screenshot(t, "login.png")
		}},
	}
	start := time.Now()
	for _, st := range steps {
		if !t.Run(st.name, st.run) {
			t.FailNow()
		}
	}
	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("the pages reported errors:\n%s", strings.Join(errs, "\n"))
	}
	t.Logf("browser walk took %s", time.Since(start).Round(time.Millisecond))
}
