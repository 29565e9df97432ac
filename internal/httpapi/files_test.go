package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/settings"
)

const (
	filesTokenA = "sk-files-token-alpha-0001"
	filesTokenB = "sk-files-token-bravo-0002"
)

var filesKeys = []string{
	"AIzaSyFILES1000000000000000000000000k001",
	"AIzaSyFILES2000000000000000000000000k002",
	"AIzaSyFILES3000000000000000000000000k003",
}

// ownerUpstream is a small stand-in for Google's file, cache and batch
// routes: each resource belongs to the key that created it, other keys get
// a 403, and every request's key is recorded.
type ownerUpstream struct {
	*httptest.Server
	mu       sync.Mutex
	seq      int
	owner    map[string]string // resource or upload id → key
	requests []upReq
	uploaded map[string]int64
}

type upReq struct {
	method, path, query, key string
	header                   http.Header
}

func newOwnerUpstream(t *testing.T) *ownerUpstream {
	u := &ownerUpstream{owner: map[string]string{}, uploaded: map[string]int64{}}
	u.Server = httptest.NewServer(http.HandlerFunc(u.serve))
	t.Cleanup(u.Close)
	return u
}

func (u *ownerUpstream) keysFor(path string) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	var out []string
	for _, r := range u.requests {
		if strings.HasPrefix(r.path, path) {
			out = append(out, r.key)
		}
	}
	return out
}

func (u *ownerUpstream) reset() {
	u.mu.Lock()
	u.requests = nil
	u.mu.Unlock()
}

func (u *ownerUpstream) next(prefix string) string {
	u.seq++
	return fmt.Sprintf("%s%d", prefix, u.seq)
}

func (u *ownerUpstream) serve(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("X-Goog-Api-Key")
	u.mu.Lock()
	u.requests = append(u.requests, upReq{r.Method, r.URL.Path, r.URL.RawQuery, key, r.Header.Clone()})
	u.mu.Unlock()
	denied := func(name string) {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, `{"error":{"code":403,"message":"You do not have permission to access %s or it may not exist.","status":"PERMISSION_DENIED"}}`, name)
	}
	owns := func(name string) bool {
		u.mu.Lock()
		defer u.mu.Unlock()
		return u.owner[name] == key
	}
	create := func(name string) {
		u.mu.Lock()
		u.owner[name] = key
		u.mu.Unlock()
	}
	p := r.URL.Path
	switch {
	case p == "/upload/v1beta/files" && r.URL.Query().Get("upload_id") == "":
		io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		id := u.next("UP_load-")
		u.owner["upload:"+id] = key
		u.mu.Unlock()
		w.Header().Set("X-Goog-Upload-Url", u.URL+"/upload/v1beta/files?upload_id="+id+"&upload_protocol=resumable")
		w.Header().Set("X-Goog-Upload-Status", "active")
		w.WriteHeader(200)
	case p == "/upload/v1beta/files":
		id := r.URL.Query().Get("upload_id")
		if !owns("upload:" + id) {
			denied("upload " + id)
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		u.mu.Lock()
		u.uploaded[id] += n
		name := u.next("files/f")
		u.mu.Unlock()
		if !strings.Contains(r.Header.Get("X-Goog-Upload-Command"), "finalize") {
			w.Header().Set("X-Goog-Upload-Status", "active")
			w.WriteHeader(200)
			return
		}
		create(name)
		w.Header().Set("X-Goog-Upload-Status", "final")
		fmt.Fprintf(w, `{"file":{"name":%q,"uri":"https://generativelanguage.googleapis.com/v1beta/%s","sizeBytes":"%d","expirationTime":%q}}`,
			name, name, n, time.Now().Add(48*time.Hour).UTC().Format(time.RFC3339Nano))
	case p == "/v1beta/cachedContents" && r.Method == http.MethodPost:
		u.mu.Lock()
		name := u.next("cachedContents/c")
		u.mu.Unlock()
		create(name)
		fmt.Fprintf(w, `{"name":%q,"expireTime":%q}`, name, time.Now().Add(time.Hour).UTC().Format(time.RFC3339Nano))
	case strings.HasSuffix(p, ":batchGenerateContent"):
		u.mu.Lock()
		name := u.next("batches/b")
		u.mu.Unlock()
		create(name)
		fmt.Fprintf(w, `{"name":%q,"metadata":{"state":"BATCH_STATE_PENDING"}}`, name)
	case p == "/v1beta/files" || p == "/v1beta/cachedContents" || p == "/v1beta/batches":
		kind := strings.TrimPrefix(p, "/v1beta/")
		field := kind
		if kind == "batches" {
			field = "operations"
		}
		var items []string
		u.mu.Lock()
		for name, k := range u.owner {
			if k == key && strings.HasPrefix(name, kind+"/") {
				items = append(items, fmt.Sprintf(`{"name":%q}`, name))
			}
		}
		u.mu.Unlock()
		fmt.Fprintf(w, `{%q:[%s]}`, field, strings.Join(items, ","))
	case strings.HasPrefix(p, "/v1beta/files/") || strings.HasPrefix(p, "/v1beta/cachedContents/") || strings.HasPrefix(p, "/v1beta/batches/"):
		name := strings.TrimPrefix(p, "/v1beta/")
		if !owns(name) {
			denied(name)
			return
		}
		if r.Method == http.MethodDelete {
			w.Write([]byte(`{}`))
			return
		}
		fmt.Fprintf(w, `{"name":%q}`, name)
	case strings.HasSuffix(p, ":generateContent"):
		body, _ := io.ReadAll(r.Body)
		for _, name := range []string{"files/", "cachedContents/"} {
			if i := strings.Index(string(body), name); i >= 0 {
				end := strings.IndexByte(string(body[i:]), '"')
				if res := string(body[i : i+end]); !owns(res) {
					denied(res)
					return
				}
			}
		}
		w.Write([]byte(`{"candidates":[{"content":{"role":"model","parts":[{"text":"ok"}]},"finishReason":"STOP"}]}`))
	default:
		http.NotFound(w, r)
	}
}

func newFilesHandler(t *testing.T) (*Handler, *ownerUpstream) {
	t.Helper()
	up := newOwnerUpstream(t)
	s := settings.Defaults()
	s.BaseURL = up.URL + "/v1beta"
	s.CheckInterval = 0
	s.AllowedTokens = []string{filesTokenA, filesTokenB}
	b, err := balancer.Open(balancer.Config{Name: "files", Keys: filesKeys, Settings: s}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return &Handler{Balancer: b}, up
}

func serveReq(t *testing.T, h *Handler, method, target, token, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, target, rd)
	r.Host = "proxy.test:8000"
	if token != "" {
		r.Header.Set("X-Goog-Api-Key", token)
	}
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Set(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	if !h.Serve(w, r) {
		w.Code = 599
		w.Body.WriteString("not served")
	}
	return w
}

// upload runs a resumable upload of body through h and returns the file's
// name and the upload URL the client was given.
func upload(t *testing.T, h *Handler, prefix, token, body string) (string, string) {
	t.Helper()
	w := serveReq(t, h, "POST", prefix+"/files", token, `{"file":{"displayName":"x"}}`,
		"X-Goog-Upload-Protocol", "resumable", "X-Goog-Upload-Command", "start", "Content-Type", "application/json")
	if w.Code != 200 {
		t.Fatalf("start: %d %s", w.Code, w.Body)
	}
	uploadURL := w.Header().Get("X-Goog-Upload-Url")
	target := strings.TrimPrefix(uploadURL, "http://proxy.test:8000")
	if target == uploadURL {
		t.Fatalf("upload URL %q does not point at the proxy", uploadURL)
	}
	half := len(body) / 2
	w = serveReq(t, h, "POST", target, token, body[:half], "X-Goog-Upload-Command", "upload", "X-Goog-Upload-Offset", "0")
	if w.Code != 200 || w.Header().Get("X-Goog-Upload-Status") != "active" {
		t.Fatalf("first leg: %d %v %s", w.Code, w.Header(), w.Body)
	}
	w = serveReq(t, h, "POST", target, token, body[half:], "X-Goog-Upload-Command", "upload, finalize", "X-Goog-Upload-Offset", fmt.Sprint(half))
	if w.Code != 200 || w.Header().Get("X-Goog-Upload-Status") != "final" {
		t.Fatalf("finalize: %d %v %s", w.Code, w.Header(), w.Body)
	}
	var answer struct {
		File struct {
			Name string `json:"name"`
		} `json:"file"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &answer); err != nil || answer.File.Name == "" {
		t.Fatalf("finalize answer %s", w.Body)
	}
	return answer.File.Name, uploadURL
}

func TestResumableUploadStaysOnOneKeyAndURLPointsAtProxy(t *testing.T) {
	h, up := newFilesHandler(t)
	for _, prefix := range []string{"/upload/v1beta", "/gemini/upload/v1beta", "/upload/v1"} {
		up.reset()
		name, uploadURL := upload(t, h, prefix, filesTokenA, strings.Repeat("data", 1000))
		if !strings.HasPrefix(uploadURL, "http://proxy.test:8000"+prefix+"/files?upload_id=") ||
			strings.Contains(uploadURL, up.URL) || strings.Contains(uploadURL, "127.0.0.1") || strings.Contains(uploadURL, "AIza") {
			t.Errorf("%s: upload URL %q", prefix, uploadURL)
		}
		keys := up.keysFor("/upload/")
		if len(keys) != 3 || keys[0] != keys[1] || keys[1] != keys[2] {
			t.Errorf("%s: upload legs on keys %v, want one key", prefix, keys)
		}
		for _, r := range up.requests {
			if strings.Contains(r.query, "key=") || r.header.Get("X-Goog-Api-Key") == filesTokenA {
				t.Errorf("client credential upstream: %+v", r)
			}
		}
		if rec, ok := h.Balancer.Resources().Get(name, time.Now()); !ok || rec.KeyID == "" {
			t.Errorf("%s not recorded", name)
		}
	}
	// Another token cannot use the session.
	w := serveReq(t, h, "POST", "/upload/v1beta/files", filesTokenA, `{}`, "X-Goog-Upload-Protocol", "resumable", "X-Goog-Upload-Command", "start")
	target := strings.TrimPrefix(w.Header().Get("X-Goog-Upload-Url"), "http://proxy.test:8000")
	if w := serveReq(t, h, "POST", target, filesTokenB, "abc", "X-Goog-Upload-Command", "upload, finalize"); w.Code != 404 {
		t.Errorf("other token's upload leg: %d %s", w.Code, w.Body)
	}
	if w := serveReq(t, h, "POST", "/upload/v1beta/files?upload_id=a%26key%3Db", filesTokenA, "abc"); w.Code != 400 {
		t.Errorf("bad upload id: %d", w.Code)
	}
	if w := serveReq(t, h, "POST", "/upload/v1beta/files", "", "abc"); w.Code != 401 {
		t.Errorf("no token: %d", w.Code)
	}
}

func TestRequestsNamingAFileGoToItsKey(t *testing.T) {
	h, up := newFilesHandler(t)
	name, _ := upload(t, h, "/upload/v1beta", filesTokenA, "hello")
	owner := up.keysFor("/upload/")[0]
	id := strings.TrimPrefix(name, "files/")
	forms := []string{
		"https://generativelanguage.googleapis.com/v1beta/" + name,
		"http://proxy.test:8000/v1beta/" + name,
		name,
	}
	up.reset()
	for i := 0; i < 6; i++ {
		body := fmt.Sprintf(`{"contents":[{"parts":[{"fileData":{"fileUri":%q}},{"text":"hi"}]}]}`, forms[i%3])
		if w := serveReq(t, h, "POST", "/v1beta/models/gemini-2.5-flash:generateContent", filesTokenA, body); w.Code != 200 {
			t.Fatalf("generate #%d: %d %s", i, w.Code, w.Body)
		}
	}
	if w := serveReq(t, h, "GET", "/v1beta/files/"+id, filesTokenA, ""); w.Code != 200 {
		t.Errorf("get: %d %s", w.Code, w.Body)
	}
	if w := serveReq(t, h, "GET", "/gemini/v1beta/files/"+id, filesTokenA, ""); w.Code != 200 {
		t.Errorf("get under /gemini: %d %s", w.Code, w.Body)
	}
	// The translated chat route: an image_url with the file's URI.
	chat := fmt.Sprintf(`{"model":"gemini-2.5-flash","messages":[{"role":"user","content":[{"type":"text","text":"x"},{"type":"image_url","image_url":{"url":%q}}]}]}`, forms[0])
	if w := serveReq(t, h, "POST", "/v1/chat/completions", filesTokenA, chat); w.Code != 200 {
		t.Errorf("chat: %d %s", w.Code, w.Body)
	}
	for _, k := range up.keysFor("/v1beta/") {
		if k != owner {
			t.Errorf("a request naming %s went to another key", name)
		}
	}
	if n := len(up.keysFor("/v1beta/")); n != 9 {
		t.Errorf("%d upstream requests, want 9", n)
	}

	// A cache made with the file stays on that key; generate with the cache too.
	w := serveReq(t, h, "POST", "/v1beta/cachedContents", filesTokenA,
		fmt.Sprintf(`{"model":"models/gemini-2.5-flash","contents":[{"parts":[{"fileData":{"fileUri":%q}}]}]}`, forms[0]))
	var cache struct{ Name string }
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &cache) != nil {
		t.Fatalf("cache create: %d %s", w.Code, w.Body)
	}
	up.reset()
	if w := serveReq(t, h, "POST", "/v1beta/models/gemini-2.5-flash:generateContent", filesTokenA,
		fmt.Sprintf(`{"cachedContent":%q,"contents":[{"parts":[{"text":"q"}]}]}`, cache.Name)); w.Code != 200 {
		t.Errorf("generate with cache: %d %s", w.Code, w.Body)
	}
	if keys := up.keysFor("/v1beta/"); len(keys) != 1 || keys[0] != owner {
		t.Errorf("cache use went to %v", keys)
	}
}

func TestTokensAreIsolated(t *testing.T) {
	h, up := newFilesHandler(t)
	nameA, _ := upload(t, h, "/upload/v1beta", filesTokenA, "hello")
	nameB, _ := upload(t, h, "/upload/v1beta", filesTokenB, "world")
	_ = up
	listOf := func(token string) string {
		w := serveReq(t, h, "GET", "/v1beta/files", token, "")
		if w.Code != 200 {
			t.Fatalf("list: %d %s", w.Code, w.Body)
		}
		return w.Body.String()
	}
	if l := listOf(filesTokenA); !strings.Contains(l, nameA) || strings.Contains(l, nameB) {
		t.Errorf("A's list: %s", l)
	}
	if l := listOf(filesTokenB); strings.Contains(l, nameA) || !strings.Contains(l, nameB) {
		t.Errorf("B's list: %s", l)
	}
	idA := strings.TrimPrefix(nameA, "files/")
	for _, m := range []string{"GET", "DELETE"} {
		if w := serveReq(t, h, m, "/v1beta/files/"+idA, filesTokenB, ""); w.Code != 404 || !strings.Contains(w.Body.String(), `"NOT_FOUND"`) {
			t.Errorf("B %s A's file: %d %s", m, w.Code, w.Body)
		}
	}
	body := fmt.Sprintf(`{"contents":[{"parts":[{"fileData":{"fileUri":%q}}]}]}`, nameA)
	if w := serveReq(t, h, "POST", "/v1beta/models/gemini-2.5-flash:generateContent", filesTokenB, body); w.Code != 403 {
		t.Errorf("B generating with A's file: %d %s", w.Code, w.Body)
	}
	if w := serveReq(t, h, "DELETE", "/v1beta/files/"+idA, filesTokenA, ""); w.Code != 200 {
		t.Errorf("A deletes its file: %d %s", w.Code, w.Body)
	}
	if _, ok := h.Balancer.Resources().Get(nameA, time.Now()); ok {
		t.Error("deleted file still recorded")
	}
	if w := serveReq(t, h, "GET", "/v1beta/files/..", filesTokenA, ""); w.Code != 400 {
		t.Errorf("dot id: %d", w.Code)
	}
	if w := serveReq(t, h, "GET", "/v1beta/files/a.b", filesTokenA, ""); w.Code != 400 {
		t.Errorf("bad id: %d", w.Code)
	}
	if w := serveReq(t, h, "PUT", "/v1beta/files/abc", filesTokenA, ""); w.Code != 405 {
		t.Errorf("PUT: %d", w.Code)
	}
}

func TestOwnerInvalidAndTwoOwners(t *testing.T) {
	h, up := newFilesHandler(t)
	var names []string
	var owners []string
	// Upload until two files are on two different keys.
	for len(owners) < 2 || owners[0] == owners[len(owners)-1] {
		up.reset()
		n, _ := upload(t, h, "/upload/v1beta", filesTokenA, "x")
		names = append(names, n)
		owners = append(owners, up.keysFor("/upload/")[0])
	}
	first, last := names[0], names[len(names)-1]
	body := fmt.Sprintf(`{"contents":[{"parts":[{"fileData":{"fileUri":%q}},{"fileData":{"fileUri":%q}}]}]}`, first, last)
	up.reset()
	w := serveReq(t, h, "POST", "/v1beta/models/gemini-2.5-flash:generateContent", filesTokenA, body)
	if w.Code != 400 || !strings.Contains(w.Body.String(), "two different API keys") {
		t.Errorf("two owners: %d %s", w.Code, w.Body)
	}
	var ownerKey *keypool.Key
	for _, k := range h.Balancer.Ring().Keys() {
		if k.Secret() == owners[0] {
			ownerKey = k
		}
	}
	ownerKey.MarkInvalid("API key expired", "", time.Now())
	body = fmt.Sprintf(`{"contents":[{"parts":[{"fileData":{"fileUri":%q}}]}]}`, first)
	w = serveReq(t, h, "POST", "/v1beta/models/gemini-2.5-flash:generateContent", filesTokenA, body)
	want := first + " belongs to key " + ownerKey.Masked() + ", which is invalid (API key expired); it cannot be used with another key"
	if w.Code != 503 || !strings.Contains(w.Body.String(), want) {
		t.Errorf("invalid owner: %d %s", w.Code, w.Body)
	}
	if n := len(up.keysFor("/")); n != 0 {
		t.Errorf("%d upstream requests, want none", n)
	}
	// A file the proxy does not know goes over the pool as before.
	w = serveReq(t, h, "POST", "/v1beta/models/gemini-2.5-flash:generateContent", filesTokenA,
		`{"contents":[{"parts":[{"fileData":{"fileUri":"files/unknown1"}}]}]}`)
	if w.Code != 403 || len(up.keysFor("/")) != 1 {
		t.Errorf("unknown file: %d %s, %d requests", w.Code, w.Body, len(up.keysFor("/")))
	}
}

func TestBatchIsRecordedAndPolledOnItsKey(t *testing.T) {
	h, up := newFilesHandler(t)
	w := serveReq(t, h, "POST", "/v1beta/models/gemini-2.5-flash:batchGenerateContent", filesTokenA,
		`{"batch":{"displayName":"b","inputConfig":{"requests":{"requests":[{"request":{"contents":[{"parts":[{"text":"hi"}]}]}}]}}}}`)
	var op struct{ Name string }
	if w.Code != 200 || json.Unmarshal(w.Body.Bytes(), &op) != nil || !strings.HasPrefix(op.Name, "batches/") {
		t.Fatalf("batch create: %d %s", w.Code, w.Body)
	}
	owner := up.keysFor("/v1beta/models/")[0]
	for i := 0; i < 4; i++ {
		if w := serveReq(t, h, "GET", "/v1beta/"+op.Name, filesTokenA, ""); w.Code != 200 {
			t.Fatalf("batch get: %d %s", w.Code, w.Body)
		}
	}
	for _, k := range up.keysFor("/v1beta/batches/") {
		if k != owner {
			t.Error("batch polled on another key")
		}
	}
	if w := serveReq(t, h, "GET", "/v1beta/batches", filesTokenA, ""); !strings.Contains(w.Body.String(), op.Name) {
		t.Errorf("batch list: %s", w.Body)
	}
	if w := serveReq(t, h, "GET", "/v1beta/batches", filesTokenB, ""); w.Body.String() != "{}" {
		t.Errorf("B's batch list: %s", w.Body)
	}
}

// Behind a trusted proxy the upload URL has the host and scheme the client
// used; from any other peer the forwarding headers are ignored.
func TestUploadURLHonoursTrustedProxies(t *testing.T) {
	h, _ := newFilesHandler(t)
	for _, trusted := range []bool{true, false} {
		r := httptest.NewRequest("POST", "/gemini/upload/v1beta/files", strings.NewReader(`{}`))
		r.Host = "10.0.0.5:8000"
		r.Header.Set("X-Goog-Api-Key", filesTokenA)
		r.Header.Set("X-Goog-Upload-Protocol", "resumable")
		r.Header.Set("X-Goog-Upload-Command", "start")
		r.Header.Set("X-Forwarded-Host", "api.example.com")
		r.Header.Set("X-Forwarded-Proto", "https")
		r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{
			caddyhttp.TrustedProxyVarKey: trusted, caddyhttp.ClientIPVarKey: "203.0.113.9",
		}))
		w := httptest.NewRecorder()
		h.Serve(w, r)
		want := "http://10.0.0.5:8000/gemini/upload/v1beta/files?upload_id="
		if trusted {
			want = "https://api.example.com/gemini/upload/v1beta/files?upload_id="
		}
		if u := w.Header().Get("X-Goog-Upload-Url"); !strings.HasPrefix(u, want) {
			t.Errorf("trusted=%v: upload URL %q, want %s…", trusted, u, want)
		}
	}
}
