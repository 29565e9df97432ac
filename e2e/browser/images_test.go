package browser

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/imagestore"
)

// startImageServer is startServer with the pool's image store in a folder of
// the test (imageStore is that folder, or "off").
func startImageServer(t *testing.T, key, imageStore string) *server {
	t.Helper()
	up := fakegemini.New()
	t.Cleanup(up.Close)
	s := &server{up: up, dir: t.TempDir()}
	s.logs = filepath.Join(s.dir, "caddy.log")
	s.tester = ports.Tester(t)
	s.tester.InitServer(imageConfig(s, key, imageStore), "caddyfile")
	if t.Failed() {
		t.FailNow()
	}
	t.Cleanup(func() { s.stop(t) })
	return s
}

func imageConfig(s *server, key, imageStore string) string {
	return ports.Global(s.logs, "INFO", "") + fmt.Sprintf(`
http://localhost:%d {
	route {
		gemini_balance %s {
			api_keys %s
			allowed_tokens %s
			auth_token %s
			database %s
			base_url %s
			check_interval 0
			image_store %s
		}
	}
}
`, httpPort, poolName, key, clientToken, authToken, filepath.Join(s.dir, "pool.db"), s.up.URL, imageStore)
}

// testPNG is a w×h PNG of one colour, base64-encoded as the upstream sends it.
func testPNG(t *testing.T, w, h int, c color.Color) string {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, c)
		}
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// imageCard is what the images page shows of one image.
type imageCard struct {
	ID      string `json:"id"`
	Model   string `json:"model"`
	Token   string `json:"token"`
	Time    string `json:"time"`
	Size    string `json:"size"`
	Src     string `json:"src"`
	Width   int    `json:"width"`
	Loaded  bool   `json:"loaded"`
	Checked bool   `json:"checked"`
}

const cardsJS = `JSON.stringify(Array.from(document.querySelectorAll('#img-grid .img-card')).map(function (f) {
	var img = f.querySelector('img');
	return { id: f.getAttribute('data-id'), model: f.querySelector('.img-model').textContent,
		token: f.querySelector('.img-token').textContent, time: f.querySelector('.img-time').textContent,
		size: f.querySelector('.img-size').textContent, src: img.getAttribute('src'),
		width: img.naturalWidth, loaded: img.complete && img.naturalWidth > 0,
		checked: f.querySelector('.img-check').checked };
}))`

// TestImagesPageInBrowser: with two images in the pool's store, the
// dashboard shows the store's count and size; the images page shows both,
// newest first, as thumbnails that load from the site's image path, with
// their model, masked client token, time and size; deleting one (after the
// confirmation) removes it from the page, the store and the site; the page
// reads in Chinese; deleting the last leaves the empty state; and with
// image_store off the page says how to turn it on.
func TestImagesPageInBrowser(t *testing.T) {
	chrome := chromiumPath(t)
	key := fakeKey("images")
	storeDir := t.TempDir()
	s := startImageServer(t, key, storeDir)
	s.up.SetKey(key, fakegemini.OK)
	pool := s.pool(t)

	// Two images as the translated routes keep them: the older one red 2×2
	// from gemini-2.0-flash, the newer one blue 3×3 from another model.
	older, ok := pool.StoreImage("image/png", testPNG(t, 2, 2, color.RGBA{200, 30, 30, 255}), "gemini-2.0-flash", "tok…abcd")
	if !ok {
		t.Fatal("the pool did not store the first image")
	}
	time.Sleep(20 * time.Millisecond) // distinct creation times, so the order is certain
	newer, ok := pool.StoreImage("image/png", testPNG(t, 3, 3, color.RGBA{30, 30, 200, 255}), "gemini-2.5-flash-image", "sk-…wxyz")
	if !ok {
		t.Fatal("the pool did not store the second image")
	}
	if n, size := pool.Images().Usage(); n != 2 || size != older.Size+newer.Size {
		t.Fatalf("store holds %d images, %d bytes; want 2, %d", n, size, older.Size+newer.Size)
	}
	if older.Size+newer.Size >= 1000 {
		t.Fatalf("test images of %d bytes: the expected text below assumes under 1000 B", older.Size+newer.Size)
	}
	totalText := fmt.Sprintf("%d B", older.Size+newer.Size)

	b := startBrowser(t, chrome)
	b.shots = screenshotDir(t)
	b.keep = os.Getenv("GEMINI_BALANCE_SCREENSHOTS") != ""
	console := siteURL + consolePath

	b.do(t, "opening the console", chromedp.Navigate(console+"/"))
	b.waitFor(t, "the login page", `location.pathname === '/admin/login' && document.getElementById('auth_token')`)
	b.do(t, "logging in",
		chromedp.SendKeys(chromedp.CSS("#auth_token"), authToken),
		chromedp.Click(chromedp.CSS(`#login-form button[type="submit"]`)))
	// The language is fixed, so the texts below do not depend on the machine's.
	b.waitFor(t, "the dashboard", `location.pathname === '/admin/' && window.GB && GB.setLang`)
	b.text(t, `(GB.setLang('en'), 'en')`)

	t.Run("Dashboard", func(t *testing.T) {
		b.waitFor(t, "the image store on the dashboard",
			`location.pathname === '/admin/' && document.getElementById('img-count').textContent === '2'`)
		if got := b.text(t, `document.getElementById('img-bytes').textContent`); got != totalText {
			t.Errorf("dashboard shows the store's size as %q, want %q", got, totalText)
		}
		if got := b.text(t, `document.getElementById('img-state').textContent`); got != "kept 7 days" {
			t.Errorf("dashboard shows the retention as %q, want the default 168h", got)
		}
	})

	var cards []imageCard
	readCards := func(t *testing.T) {
		t.Helper()
		raw := b.text(t, cardsJS)
		cards = nil
		if err := json.Unmarshal([]byte(raw), &cards); err != nil {
			t.Fatalf("reading the cards %s: %v", raw, err)
		}
	}

	t.Run("List", func(t *testing.T) {
		b.do(t, "following the nav to the images page", chromedp.Click(chromedp.CSS(`nav a[href="/admin/images"]`)))
		b.waitFor(t, "both thumbnails loaded",
			`location.pathname === '/admin/images' && document.querySelectorAll('#img-grid .img-card img').length === 2 &&
			 Array.from(document.querySelectorAll('#img-grid .img-card img')).every(function (i) { return i.complete && i.naturalWidth > 0; })`)
		if cur := b.text(t, `document.querySelector('nav a[aria-current="page"]').textContent`); cur != "Images" {
			t.Errorf("the nav marks %q as the current page, want Images", cur)
		}
		readCards(t)
		want := []struct {
			m            imagestore.Meta
			width        int
			model, token string
		}{{newer, 3, "gemini-2.5-flash-image", "sk-…wxyz"}, {older, 2, "gemini-2.0-flash", "tok…abcd"}}
		if len(cards) != 2 {
			t.Fatalf("%d cards, want 2", len(cards))
		}
		for i, w := range want {
			c := cards[i]
			if c.ID != w.m.ID || c.Src != "/gb-images/"+w.m.Name() || !c.Loaded || c.Width != w.width {
				t.Errorf("card %d: %+v, want image %s (%d px wide) loaded from /gb-images/%s", i, c, w.m.ID, w.width, w.m.Name())
			}
			if c.Model != w.model || c.Token != w.token || c.Size != fmt.Sprintf("%d B", w.m.Size) {
				t.Errorf("card %d shows model %q, token %q, size %q; want %q, %q, %d B", i, c.Model, c.Token, c.Size, w.model, w.token, w.m.Size)
			}
			if !strings.HasPrefix(c.Time, w.m.Created.Local().Format("2006-01-02 15:04")) {
				t.Errorf("card %d shows the time %q, want %s", i, c.Time, w.m.Created.Local().Format("2006-01-02 15:04:05"))
			}
		}
		usage := b.text(t, `document.getElementById('img-usage').textContent`)
		if !strings.Contains(usage, "2 images, "+totalText+" of 1 GiB") {
			t.Errorf("usage line %q, want 2 images, %s of 1 GiB", usage, totalText)
		}
		b.screenshot(t, "images.png")
	})

	t.Run("Delete", func(t *testing.T) {
		b.do(t, "selecting the older image", chromedp.Click(chromedp.CSS(`.img-card[data-id="`+older.ID+`"] .img-check`)))
		b.waitFor(t, "the delete button counting one", `!document.getElementById('img-del-sel').disabled &&
			document.getElementById('img-del-sel').textContent === 'Delete 1 selected'`)
		b.do(t, "asking to delete", chromedp.Click(chromedp.CSS("#img-del-sel")))
		b.waitFor(t, "the confirmation", `document.getElementById('modal').open && document.getElementById('img-confirm')`)
		// Cancelling deletes nothing.
		b.do(t, "cancelling", chromedp.Click(chromedp.CSS("#img-cancel")))
		b.waitFor(t, "the dialog closed", `!document.getElementById('modal').open`)
		if n, _ := pool.Images().Usage(); n != 2 {
			t.Fatalf("cancelling left %d images in the store, want 2", n)
		}
		b.do(t, "asking again", chromedp.Click(chromedp.CSS("#img-del-sel")))
		b.waitFor(t, "the confirmation", `document.getElementById('modal').open && document.getElementById('img-confirm')`)
		b.do(t, "confirming", chromedp.Click(chromedp.CSS("#img-confirm")))
		b.waitFor(t, "one card left", `!document.getElementById('modal').open && document.querySelectorAll('#img-grid .img-card').length === 1 &&
			document.querySelector('#img-result .alert-ok')`)
		readCards(t)
		if cards[0].ID != newer.ID {
			t.Errorf("the page kept image %s, want %s", cards[0].ID, newer.ID)
		}
		if got := b.text(t, `document.getElementById('img-result').textContent`); got != "Images deleted: 1." {
			t.Errorf("result %q, want Images deleted: 1.", got)
		}
		if n, size := pool.Images().Usage(); n != 1 || size != newer.Size {
			t.Errorf("store holds %d images, %d bytes after the deletion; want 1, %d", n, size, newer.Size)
		}
		for name, want := range map[string]int{older.Name(): http.StatusNotFound, newer.Name(): http.StatusOK} {
			resp, err := s.tester.Client.Get(siteURL + "/gb-images/" + name)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("GET /gb-images/%s: %d, want %d", name, resp.StatusCode, want)
			}
		}
	})

	t.Run("Chinese", func(t *testing.T) {
		b.do(t, "switching to Chinese", chromedp.SetValue(chromedp.CSS("#lang"), "zh"))
		b.text(t, `(document.getElementById('lang').dispatchEvent(new Event('change')), '')`)
		b.waitFor(t, "the page in Chinese", `document.documentElement.lang === 'zh-CN' &&
			document.querySelector('h1').textContent === '图片'`)
		checks := map[string]string{
			`document.querySelector('nav a[href="/admin/images"]').textContent`: "图片",
			`document.getElementById('img-usage').textContent`:                  "1 张图片",
			`document.getElementById('img-del-sel').textContent`:                "删除所选",
			`document.querySelector('#img-grid figcaption .muted').textContent`: "客户端令牌",
		}
		for expr, want := range checks {
			if got := b.text(t, expr); !strings.Contains(got, want) {
				t.Errorf("%s = %q, want it to contain %q", expr, got, want)
			}
		}
		b.screenshot(t, "images-zh.png")
		b.text(t, `(GB.setLang('en'), 'en')`)
	})

	t.Run("EmptyState", func(t *testing.T) {
		b.do(t, "selecting the page", chromedp.Click(chromedp.CSS("#img-sel-page")))
		b.do(t, "asking to delete", chromedp.Click(chromedp.CSS("#img-del-sel")))
		b.waitFor(t, "the confirmation", `document.getElementById('modal').open && document.getElementById('img-confirm')`)
		b.do(t, "confirming", chromedp.Click(chromedp.CSS("#img-confirm")))
		b.waitFor(t, "the empty state", `document.getElementById('img-empty') && !document.querySelector('#img-grid .img-card')`)
		if n, _ := pool.Images().Usage(); n != 0 {
			t.Errorf("store holds %d images, want none", n)
		}
	})

	t.Run("Settings", func(t *testing.T) {
		b.do(t, "opening the settings", chromedp.Navigate(console+"/settings"))
		b.waitFor(t, "the image options", `document.getElementById('f-image_store_max_size') && document.getElementById('f-image_retention')`)
		// Both sit in the models group, after image_model, in this order.
		order := b.text(t, `Array.from(document.querySelectorAll('#group-models .field')).map(function (f) { return f.id.slice(2); }).join(',')`)
		if !strings.Contains(order, "image_model,image_retention,image_store_max_size") {
			t.Errorf("models group lists %s; want image_model, image_retention, image_store_max_size together", order)
		}
		if got := b.text(t, `document.getElementById('in-image_retention').value`); got != "168h0m0s" {
			t.Errorf("image_retention shows %q, want the default 168h0m0s", got)
		}
		if got := b.text(t, `document.getElementById('in-image_store_max_size').value + ' ' + document.getElementById('bytes-image_store_max_size').textContent`); got != "1073741824 = 1 GiB" {
			t.Errorf("image_store_max_size shows %q, want 1073741824 = 1 GiB", got)
		}
		if got := b.text(t, `document.querySelector('#f-image_retention .help').textContent`); !strings.Contains(got, "How long generated images stay") {
			t.Errorf("image_retention help %q", got)
		}
	})

	t.Run("StoreOff", func(t *testing.T) {
		s.tester.InitServer(imageConfig(s, key, "off"), "caddyfile")
		if t.Failed() {
			t.FailNow()
		}
		b.do(t, "reloading the images page", chromedp.Navigate(console+"/images"))
		b.waitFor(t, "the store-off notice", `document.querySelector('#img-status .img-off')`)
		notice := b.text(t, `document.getElementById('img-status').innerText`)
		if !strings.Contains(notice, "The image store is off") || !strings.Contains(notice, "image_store /") {
			t.Errorf("store-off notice %q does not say how to turn it on", notice)
		}
		if b.text(t, `String(document.getElementById('img-main').hidden)`) != "true" {
			t.Error("the image list shows while the store is off")
		}
		b.screenshot(t, "images-off.png")
		b.do(t, "opening the dashboard", chromedp.Navigate(console+"/"))
		b.waitFor(t, "the store shown off", `document.getElementById('img-count').textContent === 'off'`)
	})

	if errs := b.pageErrors(); len(errs) > 0 {
		t.Errorf("the pages reported errors:\n%s", strings.Join(errs, "\n"))
	}
}
