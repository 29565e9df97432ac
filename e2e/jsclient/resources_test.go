package jsclient

// resources.mjs drives the Files API, cached contents and batches with
// @google/genai 3.x and its defaults: a resumable upload from a path (one
// leg) and from a Blob (two 8 MiB-chunked legs), files.get and files.list,
// generateContent naming the file, a cached content holding the file, used,
// updated, listed and deleted, a batch of inlined requests (one naming the
// file) polled until done, and the files deleted.
//
// TestResourcesDirect runs it against the stand-in itself (a key as the API
// key), which checks that the script and the stand-in agree. TestResources
// runs it through the proxy over a pool of three keys and checks, besides
// the answers, key affinity (every upstream request naming a file, the
// cache or the batch went with the key that made it, as the stand-in's
// Owner tells), that the upload URL the SDK got and used points at the
// proxy (no upstream host, no key), and that the client token never reached
// the upstream.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/nodetest"

	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
)

const (
	// Sizes of the two uploads of resources.mjs.
	pathUploadBytes = 3<<20 + 123
	blobUploadBytes = 8<<20 + 4096
	resourcesModel  = "gemini-2.5-flash"
)

// poolKeys are n keys of the real shape, distinct from poolKey.
func poolKeys(n int) []string {
	var out []string
	for i := range n {
		s := fmt.Sprintf("AIzaSyjsclientres%d", i)
		for len(s) < 35 {
			s += "y"
		}
		h := fnv.New32a()
		h.Write([]byte(s))
		out = append(out, s[:35]+fmt.Sprintf("%04x", h.Sum32()&0xffff))
	}
	return out
}

// made are the resources the script made, as it wrote them to GB_PAUSE.
type made struct {
	Files []string `json:"files"`
	Cache string   `json:"cache"`
	Batch string   `json:"batch"`
}

func (m made) names() []string {
	var out []string
	for _, n := range append(append([]string{}, m.Files...), m.Cache, m.Batch) {
		if n != "" {
			out = append(out, n)
		}
	}
	return out
}

// ownership is what the stand-in said about the script's resources while
// they existed (before the deletes).
type ownership struct {
	made   made
	owners map[string]string // resource → owning key
	sha    map[string][]byte // file → SHA-256 of the bytes the stand-in received
}

// runResources runs resources.mjs, pausing it before the deletes to ask
// the stand-in who owns what and to call paused (when not nil) with what
// the script made.
func runResources(t *testing.T, node, base string, up *fakegemini.Server, paused func(made), env ...string) (*nodetest.Report, *ownership) {
	t.Helper()
	pause := filepath.Join(t.TempDir(), "pause.json")
	own := &ownership{owners: map[string]string{}, sha: map[string][]byte{}}
	done := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-done:
				return
			case <-time.After(20 * time.Millisecond):
			}
			b, err := os.ReadFile(pause)
			if err != nil || json.Unmarshal(b, &own.made) != nil {
				continue // not yet, or still being written
			}
			for _, n := range own.made.names() {
				if k, ok := up.Owner(n); ok {
					own.owners[n] = k
				}
			}
			for _, f := range own.made.Files {
				own.sha[f] = up.FileSHA256(f)
			}
			if paused != nil {
				paused(own.made)
			}
			_ = os.Remove(pause)
			return
		}
	}()
	r := func() *nodetest.Report {
		defer func() { close(done); <-watched }()
		return runScript(t, node, "resources.mjs", base, append(env, "GB_PAUSE="+pause)...)
	}()
	t.Logf("made %+v, owners %s", own.made, maskOwners(own.owners))
	return r, own
}

func maskOwners(m map[string]string) string {
	var parts []string
	for n, k := range m {
		parts = append(parts, n+"→"+mask(k))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func mask(k string) string {
	if len(k) < 12 {
		return k
	}
	return k[:6] + "…" + k[len(k)-4:]
}

// resourcesCase is where a run of resources.mjs sends its requests.
type resourcesCase struct {
	// api and upload are the path prefixes of the SDK's API calls and
	// upload starts ("/v1/", "/upload/v1/").
	api, upload string
	// uploadBase is what the upload URL the SDK gets must start with.
	uploadBase string
	// upstreamHost must not appear in the upload URL ("" when the SDK talks
	// to the upstream itself).
	upstreamHost string
	// noGeneration: the generation calls get a 404 (the stand-in serves
	// files, caches and batches under /v1 but generateContent only under
	// /v1beta, so a direct run with the SDK's default v1 cannot generate).
	noGeneration bool
}

type uploadResult struct {
	Name, URI, MimeType, SizeBytes, DisplayName, State string
	// ContentSHA256 is the hex SHA-256 of what the script uploaded.
	ContentSHA256                   string
	UploadURL, ControlURL, StartURL string
	// StartHeaders are the response headers of the upload start.
	StartHeaders map[string]string
	Legs         []struct {
		URL, Method, Command, Offset string
		Status                       int
		UploadStatus                 string
		Headers                      map[string]string
	}
}

// checkResources checks the report of resources.mjs; own is what the
// stand-in said about the resources before the deletes.
func checkResources(t *testing.T, r *nodetest.Report, c resourcesCase, own *ownership) {
	t.Helper()
	for _, call := range r.Calls {
		for _, s := range call.Sent {
			if !strings.HasPrefix(s.Path, c.api) && !strings.HasPrefix(s.Path, c.upload) {
				t.Errorf("%s sent %s %s, want a path under %s or %s", call.Name, s.Method, s.Path, c.api, c.upload)
			}
			if strings.Contains(s.Path, "key=") {
				t.Errorf("%s sent a key in the URL: %s", call.Name, s.Path)
			}
			if s.Auth != "x-goog-api-key" {
				t.Errorf("%s sent %s %s with its key in %s", call.Name, s.Method, s.Path, s.Auth)
			}
		}
	}

	var files []uploadResult
	for _, u := range []struct {
		call  string
		size  int
		legs  []string
		title string
	}{
		{"files.upload path", pathUploadBytes, []string{"upload, finalize"}, "notes from a path"},
		{"files.upload blob", blobUploadBytes, []string{"upload", "upload, finalize"}, "notes from a blob"},
	} {
		var f uploadResult
		if !r.Call(t, u.call).Decode(t, &f) {
			continue
		}
		files = append(files, f)
		t.Logf("%s: %s, %s bytes, upload URL %s, legs:", u.call, f.Name, f.SizeBytes, f.UploadURL)
		for _, l := range f.Legs {
			t.Logf("    %s %s command=%q offset=%s -> %d upload status %q", l.Method, l.URL, l.Command, l.Offset, l.Status, l.UploadStatus)
		}
		if !strings.HasPrefix(f.Name, "files/") || f.SizeBytes != fmt.Sprint(u.size) || f.MimeType != "text/plain" ||
			f.DisplayName != u.title || f.State != "ACTIVE" || !strings.HasSuffix(f.URI, "/"+f.Name) {
			t.Errorf("%s: got %+v", u.call, f)
		}
		if got := hex.EncodeToString(own.sha[f.Name]); got != f.ContentSHA256 {
			t.Errorf("%s: the stand-in received bytes of SHA-256 %q, the script uploaded %q", u.call, got, f.ContentSHA256)
		}
		checkUploadURL(t, u.call+": upload URL (X-Goog-Upload-URL)", f.UploadURL, c)
		checkHeaders(t, u.call+": upload start answer", f.StartHeaders, c)
		var cmds []string
		for _, l := range f.Legs {
			checkHeaders(t, fmt.Sprintf("%s: answer to leg %q", u.call, l.Command), l.Headers, c)
			cmds = append(cmds, l.Command)
			checkUploadURL(t, u.call+": leg URL the SDK sent", l.URL, c)
			if l.Status != 200 {
				t.Errorf("%s: leg %q answered %d", u.call, l.Command, l.Status)
			}
		}
		if !slices.Equal(cmds, u.legs) {
			t.Errorf("%s: legs %q, want %q", u.call, cmds, u.legs)
		}
		if n := len(f.Legs); n > 0 && f.Legs[n-1].UploadStatus != "final" {
			t.Errorf("%s: last leg's upload status %q, want final", u.call, f.Legs[n-1].UploadStatus)
		}
	}
	if len(files) != 2 {
		return // the rest names the files
	}
	a, b := files[0], files[1]

	var got struct{ Name, URI, SizeBytes, MimeType, DisplayName, State string }
	if r.Call(t, "files.get").Decode(t, &got) && (got.Name != a.Name || got.SizeBytes != a.SizeBytes || got.URI != a.URI || got.State != "ACTIVE") {
		t.Errorf("files.get: %+v, want %s", got, a.Name)
	}
	for _, name := range []string{"files.list", "files.list pageSize 1"} {
		var list struct{ Names []string }
		if r.Call(t, name).Decode(t, &list) {
			sort.Strings(list.Names)
			want := []string{a.Name, b.Name}
			sort.Strings(want)
			if !slices.Equal(list.Names, want) {
				t.Errorf("%s: %v, want exactly the two uploaded files %v", name, list.Names, want)
			}
			t.Logf("%s: %v in %d request(s)", name, list.Names, len(r.Call(t, name).Sent))
		}
	}
	generation := func(name string, v any) bool {
		t.Helper()
		call := r.Call(t, name)
		if !c.noGeneration {
			return call.Decode(t, v)
		}
		if call.OK || call.Error == nil || call.Error.Status != 404 {
			t.Errorf("%s: want the stand-in's 404 for generation under /v1, got ok=%v %+v", name, call.OK, call.Error)
		} else {
			t.Logf("%s: 404 as expected (the stand-in serves generateContent under /v1beta only)", name)
		}
		return false
	}
	for _, name := range []string{"generateContent file", "generateContent file blob"} {
		var text struct{ Text string }
		if generation(name, &text) && text.Text != fakegemini.ReplyText(resourcesModel) {
			t.Errorf("%s: %q", name, text.Text)
		}
	}

	var cache struct{ Name, Model, DisplayName, ExpireTime string }
	if !r.Call(t, "caches.create").Decode(t, &cache) {
		return
	}
	if !strings.HasPrefix(cache.Name, "cachedContents/") || cache.Model != "models/"+resourcesModel {
		t.Errorf("caches.create: %+v", cache)
	}
	var cached struct {
		Text                    string
		CachedContentTokenCount int
	}
	if generation("generateContent cachedContent", &cached) &&
		(cached.Text != fakegemini.ReplyText(resourcesModel) || cached.CachedContentTokenCount != fakegemini.CachedTokenCount) {
		t.Errorf("generateContent cachedContent: %+v", cached)
	}
	var cget struct{ Name, Model string }
	if r.Call(t, "caches.get").Decode(t, &cget) && cget.Name != cache.Name {
		t.Errorf("caches.get: %+v, want %s", cget, cache.Name)
	}
	var upd struct{ Name, ExpireTime, Before string }
	if r.Call(t, "caches.update").Decode(t, &upd) {
		before, err1 := time.Parse(time.RFC3339Nano, upd.Before)
		after, err2 := time.Parse(time.RFC3339Nano, upd.ExpireTime)
		if upd.Name != cache.Name || err1 != nil || err2 != nil || after.Sub(before) < 250*time.Second {
			t.Errorf("caches.update (ttl 300s → 600s): %+v", upd)
		}
	}
	var clist struct{ Names []string }
	if r.Call(t, "caches.list").Decode(t, &clist) && !slices.Equal(clist.Names, []string{cache.Name}) {
		t.Errorf("caches.list: %v, want exactly [%s]", clist.Names, cache.Name)
	}

	var batch struct{ Name, State, DisplayName string }
	if r.Call(t, "batches.create").Decode(t, &batch) && !strings.HasPrefix(batch.Name, "batches/") {
		t.Errorf("batches.create: %+v", batch)
	}
	var polled struct {
		Name, State string
		States      []string
		Polls       int
		Texts       []*string
		Errors      []json.RawMessage
	}
	if r.Call(t, "batches.get until done").Decode(t, &polled) {
		t.Logf("batches.get: %s after %d polls, states %v", polled.State, polled.Polls, polled.States)
		ok := polled.Name == batch.Name && polled.State == "JOB_STATE_SUCCEEDED" && len(polled.Texts) == 2 && len(polled.Errors) == 0
		for _, tx := range polled.Texts {
			ok = ok && tx != nil && *tx == fakegemini.ReplyText(resourcesModel)
		}
		if !ok {
			b, _ := json.Marshal(polled)
			t.Errorf("batches.get until done: %s", b)
		}
	}
	var blist struct{ Names []string }
	if r.Call(t, "batches.list").Decode(t, &blist) && !slices.Equal(blist.Names, []string{batch.Name}) {
		t.Errorf("batches.list: %v, want exactly [%s]", blist.Names, batch.Name)
	}

	var deleted struct{ Name string }
	for _, name := range []string{"batches.delete", "caches.delete", "files.delete", "files.delete blob"} {
		r.Call(t, name).Decode(t, &deleted)
	}
	gone := r.Call(t, "files.get deleted")
	if gone.OK || gone.Error == nil || gone.Error.Name != "ApiError" || (gone.Error.Status != 403 && gone.Error.Status != 404) {
		t.Errorf("files.get of a deleted file: want an ApiError 403 or 404, got ok=%v %+v\nsent:\n%s", gone.OK, gone.Error, gone.Describe())
	} else {
		t.Logf("files.get of a deleted file: %s %d", gone.Error.Name, gone.Error.Status)
	}
}

// checkHeaders checks that no response header names the upstream host or
// carries a key.
func checkHeaders(t *testing.T, what string, h map[string]string, c resourcesCase) {
	t.Helper()
	for name, v := range h {
		if c.upstreamHost != "" && strings.Contains(v, c.upstreamHost) {
			t.Errorf("%s: header %s names the upstream host %s: %s", what, name, c.upstreamHost, v)
		}
		if strings.Contains(v, "key=") || strings.Contains(v, "AIza") {
			t.Errorf("%s: header %s carries a key: %s", what, name, v)
		}
	}
}

// checkUploadURL checks an upload URL points where c says, with an
// upload_id and no key.
func checkUploadURL(t *testing.T, what, raw string, c resourcesCase) {
	t.Helper()
	u, err := url.Parse(raw)
	switch {
	case raw == "" || err != nil:
		t.Errorf("%s: %q: %v", what, raw, err)
	case !strings.HasPrefix(raw, c.uploadBase):
		t.Errorf("%s: %s does not start with %s", what, raw, c.uploadBase)
	case u.Query().Get("upload_id") == "":
		t.Errorf("%s: %s has no upload_id", what, raw)
	case u.Query().Has("key") || strings.Contains(raw, "AIza"):
		t.Errorf("%s: %s carries a key", what, raw)
	case c.upstreamHost != "" && strings.Contains(raw, c.upstreamHost):
		t.Errorf("%s: %s names the upstream host %s", what, raw, c.upstreamHost)
	}
}

// checkAffinity checks that every upstream request that names one of the
// script's resources went with the key that owns it, upload legs included
// (they go with the key of their upload's start, which owns the file), and
// returns the upstream requests as "METHOD path?query".
func checkAffinity(t testing.TB, up *fakegemini.Server, own *ownership, keys []string, token string) []string {
	t.Helper()
	if len(own.made.Files) != 2 || own.made.Cache == "" || own.made.Batch == "" {
		t.Errorf("the script made %+v before the deletes, want two files, a cache and a batch", own.made)
	}
	for _, n := range own.made.names() {
		if own.owners[n] == "" {
			t.Errorf("the stand-in knows no owner of %s", n)
		}
	}
	// A cached content or batch naming file A must be on A's key.
	if len(own.made.Files) > 0 {
		fa := own.owners[own.made.Files[0]]
		for _, n := range []string{own.made.Cache, own.made.Batch} {
			if k := own.owners[n]; k != "" && fa != "" && k != fa {
				t.Errorf("%s (naming %s) belongs to %s, the file to %s", n, own.made.Files[0], mask(k), mask(fa))
			}
		}
	}
	var paths []string
	upload := -1 // index in own.made.Files of the upload under way
	deleted := map[string]bool{}
	perKey := map[string]int{}
	naming := map[string][]string{} // resource → "METHOD path key" of each request naming it
	for _, r := range up.Requests() {
		p := r.Method + " " + r.Path
		if r.RawQuery != "" {
			p += "?" + r.RawQuery
		}
		paths = append(paths, p)
		perKey[mask(r.Key)]++
		if !slices.Contains(keys, r.Key) {
			t.Errorf("upstream %s used key %q, not one of the pool's", p, mask(r.Key))
		}
		if token != "" {
			if strings.Contains(r.RawQuery, token) || bytes.Contains(r.Body, []byte(token)) {
				t.Errorf("client token forwarded upstream in %s", p)
			}
			for name, vals := range r.Header {
				for _, v := range vals {
					if strings.Contains(v, token) {
						t.Errorf("client token forwarded upstream in header %s of %s", name, p)
					}
				}
			}
		}
		path := r.Resolved
		if path == "" {
			path = r.Path
		}
		var named []string
		q, _ := url.ParseQuery(r.RawQuery)
		switch {
		case strings.Contains(path, "/upload/") && q.Get("upload_id") == "":
			upload++
			if upload < len(own.made.Files) {
				named = append(named, own.made.Files[upload])
			}
		case strings.Contains(path, "/upload/"):
			if upload >= 0 && upload < len(own.made.Files) {
				named = append(named, own.made.Files[upload])
			}
		default:
			for _, n := range own.made.names() {
				if strings.HasSuffix(path, "/"+n) || strings.Contains(path, "/"+n+":") || bytes.Contains(r.Body, []byte(n)) {
					named = append(named, n)
				}
			}
		}
		for _, n := range named {
			naming[n] = append(naming[n], fmt.Sprintf("%s %s (%s)", r.Method, strings.SplitN(path, "?", 2)[0], mask(r.Key)))
			want := own.owners[n]
			switch {
			case deleted[n]:
				t.Logf("upstream %s names %s after its deletion, with key %s", p, n, mask(r.Key))
			case want != "" && r.Key != want:
				t.Errorf("upstream %s names %s with key %s; it belongs to %s", p, n, mask(r.Key), mask(want))
			}
			if r.Method == "DELETE" && strings.HasSuffix(path, "/"+n) {
				deleted[n] = true
			}
		}
	}
	for _, n := range own.made.names() {
		t.Logf("upstream requests naming %s (owner %s):\n    %s", n, mask(own.owners[n]), strings.Join(naming[n], "\n    "))
	}
	t.Logf("upstream received (requests per key %v):\n  %s", perKey, strings.Join(paths, "\n  "))
	return paths
}

var resourcesVersions = []struct{ name, version string }{
	{"default", ""},
	{"v1beta", "v1beta"},
}

// TestResourcesDirect runs resources.mjs against the stand-in itself, so
// that a failure of TestResources is the proxy's, not the script's.
func TestResourcesDirect(t *testing.T) {
	node := nodetest.Need(t, "e2e/jsclient")
	for _, v := range resourcesVersions {
		t.Run(v.name, func(t *testing.T) {
			up := fakegemini.New()
			t.Cleanup(up.Close)
			up.SetDefault(fakegemini.OK)
			key := poolKeys(1)[0]
			env := []string{"GB_TOKEN=" + key}
			ver := "v1"
			if v.version != "" {
				env = append(env, "GB_API_VERSION="+v.version)
				ver = v.version
			}
			r, own := runResources(t, node, up.Root(), up, nil, env...)
			checkResources(t, r, resourcesCase{
				api: "/" + ver + "/", upload: "/upload/" + ver + "/",
				uploadBase:   up.Root() + "/upload/" + ver + "/files?",
				noGeneration: ver == "v1",
			}, own)
			got := checkAffinity(t, up, own, []string{key}, "")
			wantUpstream(t, got, resourcesUpstream(ver)...)
		})
	}
}

// resourcesUpstream are the upstream requests resources.mjs must cause.
func resourcesUpstream(ver string) []string {
	return []string{
		"POST /upload/" + ver + "/files",
		"POST /upload/" + ver + "/files?upload_id=",
		"GET /" + ver + "/files/",
		"POST /" + ver + "/models/" + resourcesModel + ":generateContent",
		"POST /" + ver + "/cachedContents",
		"GET /" + ver + "/cachedContents/",
		"PATCH /" + ver + "/cachedContents/",
		"DELETE /" + ver + "/cachedContents/",
		"POST /" + ver + "/models/" + resourcesModel + ":batchGenerateContent",
		"GET /" + ver + "/batches/",
		"DELETE /" + ver + "/batches/",
		"DELETE /" + ver + "/files/",
	}
}

// TestResources runs resources.mjs through the proxy, over a pool of three
// keys.
func TestResources(t *testing.T) {
	node := nodetest.Need(t, "e2e/jsclient")
	keys := poolKeys(3)
	s := startServer(t, keys...)
	upURL, err := url.Parse(s.up.Root())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, version, prefix string
	}{
		{"default", "", ""},
		{"v1beta", "v1beta", ""},
		{"gemini default", "", "/gemini"},
	} {
		t.Run(c.name, func(t *testing.T) {
			s.up.Reset()
			var env []string
			ver := "v1"
			if c.version != "" {
				env = append(env, "GB_API_VERSION="+c.version)
				ver = c.version
			}
			r, own := runResources(t, node, rootURL+c.prefix, s.up, func(m made) { checkIsolation(t, m) }, env...)
			checkResources(t, r, resourcesCase{
				api:          c.prefix + "/" + ver + "/",
				upload:       c.prefix + "/upload/" + ver + "/",
				uploadBase:   rootURL + c.prefix + "/upload/",
				upstreamHost: upURL.Host,
			}, own)
			got := checkAffinity(t, s.up, own, s.keys, clientToken)
			wantUpstream(t, got, resourcesUpstream("v1beta")...)
		})
	}
}

// errorsOf is a testing.TB that collects errors instead of failing.
type errorsOf struct {
	testing.TB
	errs []string
}

func (e *errorsOf) Errorf(format string, args ...any) {
	e.errs = append(e.errs, fmt.Sprintf(format, args...))
}
func (e *errorsOf) Helper() {}

// TestAffinityCheck checks that checkAffinity catches a request naming a
// file with a key that does not own it, and a client token sent upstream.
func TestAffinityCheck(t *testing.T) {
	up := fakegemini.New()
	t.Cleanup(up.Close)
	keys := poolKeys(2)
	up.SetOwner("files/abc", keys[0])
	for _, h := range []map[string]string{
		{"x-goog-api-key": keys[1]},
		{"x-goog-api-key": keys[0], "X-Leak": "Bearer " + clientToken},
	} {
		req, err := http.NewRequest(http.MethodGet, up.URL+"/files/abc", nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	}
	own := &ownership{
		made:   made{Files: []string{"files/abc", "files/def"}, Cache: "cachedContents/c", Batch: "batches/b"},
		owners: map[string]string{"files/abc": keys[0], "files/def": keys[0], "cachedContents/c": keys[0], "batches/b": keys[0]},
	}
	e := &errorsOf{TB: t}
	checkAffinity(e, up, own, keys, clientToken)
	var wrongKey, leak bool
	for _, msg := range e.errs {
		wrongKey = wrongKey || strings.Contains(msg, "names files/abc with key "+mask(keys[1]))
		leak = leak || strings.Contains(msg, "client token forwarded upstream in header X-Leak")
	}
	if !wrongKey || !leak || len(e.errs) != 2 {
		t.Errorf("checkAffinity reported %q, want the wrong key and the leaked token", e.errs)
	}
}

// checkIsolation checks, while the script's resources exist, that another
// client token of the pool neither sees nor touches them: its lists leave
// them out, getting or deleting one answers 404, naming the file in a
// generation request 403. It runs on the watcher goroutine: Errorf only.
func checkIsolation(t *testing.T, m made) {
	if len(m.Files) != 2 || m.Cache == "" || m.Batch == "" {
		t.Errorf("isolation: nothing to check, the script made %+v", m)
		return
	}
	fileURI := rootURL + "/v1beta/" + m.Files[0]
	for _, c := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/v1beta/files", "", 200},
		{"GET", "/v1beta/cachedContents", "", 200},
		{"GET", "/v1beta/batches", "", 200},
		{"GET", "/v1beta/" + m.Files[0], "", 404},
		{"GET", "/v1beta/" + m.Cache, "", 404},
		{"GET", "/v1beta/" + m.Batch, "", 404},
		{"DELETE", "/v1beta/" + m.Files[1], "", 404},
		{"DELETE", "/v1beta/" + m.Cache, "", 404},
		{"POST", "/v1beta/models/" + resourcesModel + ":generateContent",
			`{"contents":[{"role":"user","parts":[{"fileData":{"mimeType":"text/plain","fileUri":"` + fileURI + `"}},{"text":"hi"}]}]}`, 403},
	} {
		req, err := http.NewRequest(c.method, rootURL+c.path, strings.NewReader(c.body))
		if err != nil {
			t.Errorf("isolation: %v", err)
			continue
		}
		req.Header.Set("x-goog-api-key", otherToken)
		if c.body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Errorf("isolation: %s %s: %v", c.method, c.path, err)
			continue
		}
		var b bytes.Buffer
		_, _ = b.ReadFrom(resp.Body)
		resp.Body.Close()
		body := strings.Join(strings.Fields(b.String()), " ")
		if len(body) > 300 {
			body = body[:300] + "…"
		}
		if resp.StatusCode != c.status {
			t.Errorf("isolation: another token's %s %s answered %d, want %d: %s", c.method, c.path, resp.StatusCode, c.status, body)
		} else {
			t.Logf("isolation: another token's %s %s: %d %s", c.method, c.path, resp.StatusCode, body)
		}
		for _, n := range m.names() {
			if c.status == 200 && strings.Contains(b.String(), n) {
				t.Errorf("isolation: another token's %s %s lists %s: %s", c.method, c.path, n, body)
			}
		}
	}
}
