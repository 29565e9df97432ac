package console

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/gemini-balance/gemini_balance/internal/settings"
)

// onePixelPNG is a 1×1 PNG.
const onePixelPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="

// TestImagesPage: the images page is in the nav, tells the browser where the
// site serves images, always shows the console's own pool, and its API
// lists and deletes the store's images behind the session and CSRF token.
func TestImagesPage(t *testing.T) {
	e := setup(t, options{authToken: adminToken, lockedAuth: true, imageDir: t.TempDir()})
	ck, tok := e.login(adminToken)
	get := func(path string) (int, string) {
		resp, body := e.do(req{method: "GET", path: path, cookies: []*http.Cookie{ck}})
		return resp.StatusCode, body
	}

	status, body := get(prefix + "/images")
	for _, want := range []string{
		`<meta name="gb-image-path" content="/gb-images/">`,
		`<a href="/admin/images" aria-current="page" data-i18n="nav.images">Images</a>`,
		`<meta name="gb-page" content="images">`,
	} {
		if status != http.StatusOK || !strings.Contains(body, want) {
			t.Fatalf("images page: %d, lacks %s\n%s", status, want, body)
		}
	}
	if !regexp.MustCompile(`src="/admin/assets/images\.[0-9a-f]{10}\.js"`).MatchString(body) {
		t.Error("the images page does not load images.js")
	}
	// Other pages link to it too.
	if _, body := get(prefix + "/keys"); !strings.Contains(body, `<a href="/admin/images" data-i18n="nav.images">`) {
		t.Error("the keys page has no link to the images page")
	}

	// The site's image_path reaches the page.
	e.c.SetImagePath("/pics/")
	if _, body := get(prefix + "/images"); !strings.Contains(body, `<meta name="gb-image-path" content="/pics/">`) {
		t.Errorf("after SetImagePath(/pics/) the page says\n%s", body)
	}

	// The site serves only its own pool's images, so ?pool= is ignored.
	if _, body := get(prefix + "/images?pool=elsewhere"); !strings.Contains(body, `<meta name="gb-pool" content="`+e.b.Name()+`">`) {
		t.Errorf("images page with ?pool= does not show the console's own pool\n%s", body)
	}

	m, ok := e.b.StoreImage("image/png", onePixelPNG, "gemini-2.0-flash", "tok…abcd")
	if !ok {
		t.Fatal("the pool did not store the image")
	}
	status, body = get(e.api("/images"))
	var list struct {
		Enabled bool  `json:"enabled"`
		Count   int   `json:"count"`
		Bytes   int64 `json:"bytes"`
		Images  []struct {
			ID, Name, Model, Token string
		} `json:"images"`
	}
	if err := json.Unmarshal([]byte(body), &list); status != http.StatusOK || err != nil {
		t.Fatalf("image list: %d %s", status, body)
	}
	raw, _ := base64.StdEncoding.DecodeString(onePixelPNG)
	if !list.Enabled || list.Count != 1 || list.Bytes != int64(len(raw)) || len(list.Images) != 1 ||
		list.Images[0].Name != m.Name() || list.Images[0].Model != "gemini-2.0-flash" || list.Images[0].Token != "tok…abcd" {
		t.Fatalf("image list: %s", body)
	}

	del := func(csrf string) (int, string) {
		h := http.Header{}
		if csrf != "" {
			h.Set(csrfHeader, csrf)
		}
		resp, body := e.do(req{method: "DELETE", path: e.api("/images"), body: `{"ids": ["` + m.ID + `"]}`, header: h, cookies: []*http.Cookie{ck}})
		return resp.StatusCode, body
	}
	if status, _ := del(""); status != http.StatusForbidden {
		t.Fatalf("delete without the CSRF token: %d, want 403", status)
	}
	if n, _ := e.b.Images().Usage(); n != 1 {
		t.Fatal("a refused delete removed the image")
	}
	if status, body := del(tok); status != http.StatusOK || !strings.Contains(body, `"deleted":1`) {
		t.Fatalf("delete: %d %s", status, body)
	}
	if n, _ := e.b.Images().Usage(); n != 0 {
		t.Fatalf("the store still holds %d images", n)
	}
}

// TestImagesPageWithTheStoreOff: the page still opens; the API says the
// store is off, which the page turns into how to turn it on.
func TestImagesPageWithTheStoreOff(t *testing.T) {
	e := defaultSetup(t)
	ck, _ := e.login(adminToken)
	resp, body := e.do(req{method: "GET", path: prefix + "/images", cookies: []*http.Cookie{ck}})
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("images page: %d", resp.StatusCode)
	}
	resp, body = e.do(req{method: "GET", path: e.api("/images"), cookies: []*http.Cookie{ck}})
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"enabled":false`) {
		t.Fatalf("image list with the store off: %d %s", resp.StatusCode, body)
	}
	js, _ := files.ReadFile("assets/i18n.js")
	if !strings.Contains(string(js), "set image_store <dir>") {
		t.Error("the store-off text does not name image_store <dir>")
	}
}

// TestSettingsListTheImageOptions: the settings page places the image
// store's options after image_model, in a group it knows.
func TestSettingsListTheImageOptions(t *testing.T) {
	js, err := files.ReadFile("assets/settings.js")
	if err != nil {
		t.Fatal(err)
	}
	src := string(js)
	if !strings.Contains(src, `'image_model', 'image_retention', 'image_store_max_size',`) {
		t.Error("settings.js ORDER does not list image_retention and image_store_max_size after image_model")
	}
	groups := regexp.MustCompile(`var GROUPS = \[([^\]]*)\]`).FindStringSubmatch(src)
	if groups == nil {
		t.Fatal("no GROUPS in settings.js")
	}
	for _, name := range []string{"image_retention", "image_store_max_size"} {
		o, ok := settings.Lookup(name)
		if !ok {
			t.Fatalf("no option %s in the schema", name)
		}
		if !strings.Contains(groups[1], "'"+o.Group+"'") {
			t.Errorf("%s is in group %q, which the settings page does not know (%s)", name, o.Group, groups[1])
		}
	}
}
