package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
)

// secondToken is another client of the same pool.
const secondToken = "sk-second-client-e2e-0002"

var fileKeys = []string{k("files1"), k("files2"), k("files3")}

func (e *env) genaiWith(token, base string) *genai.Client {
	e.t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: token, Backend: genai.BackendGeminiAPI, HTTPOptions: genai.HTTPOptions{BaseURL: base},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// requestsTo lists the stand-in's requests whose path contains part.
func (e *env) requestsTo(part string) []string {
	var keys []string
	for _, r := range e.up.Requests() {
		if strings.Contains(r.Path, part) {
			keys = append(keys, r.Key)
		}
	}
	return keys
}

func uploadSmall(t *testing.T, c *genai.Client, text string) *genai.File {
	t.Helper()
	f, err := c.Files.Upload(context.Background(), strings.NewReader(text), &genai.UploadFileConfig{MIMEType: "text/plain", DisplayName: "notes"})
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	if !strings.HasPrefix(f.Name, "files/") {
		t.Fatalf("uploaded file %+v", f)
	}
	return f
}

func fileContents(uri string) []*genai.Content {
	return []*genai.Content{{Role: "user", Parts: []*genai.Part{genai.NewPartFromURI(uri, "text/plain"), genai.NewPartFromText("summarise")}}}
}

// The Files API, caches and batches through the SDK: every request that
// names a resource reaches the key that created it, among three.
func TestFilesCachesBatchesStayOnTheirKey(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: fileKeys})
	ctx := context.Background()
	for _, base := range []string{baseURL + "/", baseURL + "/gemini/"} {
		t.Run("base "+strings.TrimPrefix(base, baseURL), func(t *testing.T) {
			c := e.genaiWith(clientToken, base)
			f := uploadSmall(t, c, "hello file")
			owner, ok := e.up.Owner(f.Name)
			if !ok || e.up.UploadedBytes(f.Name) != int64(len("hello file")) {
				t.Fatalf("stand-in: owner %v, %d bytes", ok, e.up.UploadedBytes(f.Name))
			}
			for _, key := range e.requestsTo("/upload/") {
				if key != owner {
					t.Errorf("an upload leg went to another key")
				}
			}
			e.up.Reset()
			id := strings.TrimPrefix(f.Name, "files/")
			forms := []string{f.URI, f.Name, baseURL + "/v1beta/files/" + id}
			for i := 0; i < 6; i++ {
				uri := forms[i%3]
				if _, err := c.Models.GenerateContent(ctx, "gemini-2.5-flash", fileContents(uri), nil); err != nil {
					t.Fatalf("generate #%d with %s: %v", i, uri, err)
				}
			}
			if _, err := c.Models.CountTokens(ctx, "gemini-2.5-flash", fileContents(f.URI), nil); err != nil {
				t.Fatalf("countTokens: %v", err)
			}
			got, err := c.Files.Get(ctx, f.Name, nil)
			if err != nil || got.Name != f.Name {
				t.Fatalf("get: %+v %v", got, err)
			}
			listed := false
			for file, err := range c.Files.All(ctx) {
				if err != nil {
					t.Fatalf("list: %v", err)
				}
				listed = listed || file.Name == f.Name
			}
			if !listed {
				t.Error("the file is not in the list")
			}
			cache, err := c.Caches.Create(ctx, "gemini-2.5-flash", &genai.CreateCachedContentConfig{Contents: fileContents(f.URI)})
			if err != nil {
				t.Fatalf("cache: %v", err)
			}
			if k, _ := e.up.Owner(cache.Name); k != owner {
				t.Errorf("the cache was made on another key than its file's")
			}
			for i := 0; i < 3; i++ {
				if _, err := c.Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("and then?"), &genai.GenerateContentConfig{CachedContent: cache.Name}); err != nil {
					t.Fatalf("generate with the cache: %v", err)
				}
			}
			if _, err := c.Caches.Get(ctx, cache.Name, nil); err != nil {
				t.Fatalf("cache get: %v", err)
			}
			if _, err := c.Caches.Update(ctx, cache.Name, &genai.UpdateCachedContentConfig{TTL: 2 * time.Hour}); err != nil {
				t.Fatalf("cache update: %v", err)
			}
			if rec, ok := e.balancer().Resources().Get(cache.Name, time.Now()); !ok || time.Until(rec.Expires) < 90*time.Minute {
				t.Errorf("the cache's record did not follow its new expiry: %+v", rec)
			}
			for _, key := range append(e.requestsTo(":generateContent"), e.requestsTo(":countTokens")...) {
				if key != owner {
					t.Fatalf("a request naming %s went to another key (%d requests)", f.Name, len(e.requestsTo(":generateContent")))
				}
			}
			if n := len(e.requestsTo(":generateContent")); n != 9 {
				t.Errorf("%d generateContent requests upstream, want 9", n)
			}
			for _, key := range append(e.requestsTo("/files"), e.requestsTo("/cachedContents")...) {
				if key != owner {
					t.Errorf("a file or cache request went to another key")
				}
			}

			job, err := c.Batches.Create(ctx, "gemini-2.5-flash", &genai.BatchJobSource{InlinedRequests: []*genai.InlinedRequest{
				{Contents: fileContents(f.URI)}, {Contents: genai.Text("plain")},
			}}, nil)
			if err != nil {
				t.Fatalf("batch: %v", err)
			}
			jobOwner, _ := e.up.Owner(job.Name)
			if jobOwner != owner {
				t.Error("a batch naming the file was made on another key")
			}
			e.up.Reset()
			for i := 0; i < 3; i++ {
				if got, err := c.Batches.Get(ctx, job.Name, nil); err != nil || got.Name != job.Name {
					t.Fatalf("batch get: %+v %v", got, err)
				}
			}
			listed = false
			for j, err := range c.Batches.All(ctx) {
				if err != nil {
					t.Fatalf("batch list: %v", err)
				}
				listed = listed || j.Name == job.Name
			}
			if !listed {
				t.Error("the batch is not in the list")
			}
			if err := c.Batches.Cancel(ctx, job.Name, nil); err != nil {
				t.Fatalf("batch cancel: %v", err)
			}
			for _, key := range e.requestsTo("/batches/") {
				if key != jobOwner {
					t.Error("a batch poll or cancel went to another key")
				}
			}
			if _, err := c.Caches.Delete(ctx, cache.Name, nil); err != nil {
				t.Fatalf("cache delete: %v", err)
			}
			if _, err := c.Files.Delete(ctx, f.Name, nil); err != nil {
				t.Fatalf("delete: %v", err)
			}
			if _, ok := e.up.Owner(f.Name); ok {
				t.Error("the file is still at the stand-in")
			}
		})
	}
	e.assertNoClientToken()
}

// Long-running operations (predictLongRunning) are polled on their key.
func TestOperationsArePolledOnTheirKey(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: fileKeys, extra: "allowed_tokens " + secondToken})
	st, _, body := e.do("POST", "/v1beta/models/veo-3.0-generate-001:predictLongRunning", `{"instances":[{"prompt":"a cat"}]}`, authed...)
	if st != 200 {
		t.Fatalf("predictLongRunning: %d %s", st, body)
	}
	name := jsonField(t, body, "name")
	owner, ok := e.up.Owner(name)
	if !ok || !strings.Contains(name, "/operations/") {
		t.Fatalf("operation %q (owner known: %v)", name, ok)
	}
	e.up.Reset()
	for i := 0; i < 4; i++ {
		if st, _, body := e.do("GET", "/v1beta/"+name, "", authed...); st != 200 {
			t.Fatalf("poll: %d %s", st, body)
		}
	}
	for _, key := range e.requestsTo("/operations/") {
		if key != owner {
			t.Error("an operation poll went to another key")
		}
	}
	// Another token does not see it.
	if st, _, body := e.do("GET", "/v1beta/"+name, "", "x-goog-api-key", secondToken); st != 404 || !strings.Contains(body, "NOT_FOUND") {
		t.Errorf("another token polls the operation: %d %s", st, body)
	}
}

func jsonField(t *testing.T, body, field string) string {
	t.Helper()
	i := strings.Index(body, `"`+field+`"`)
	if i < 0 {
		t.Fatalf("no %s in %s", field, body)
	}
	rest := body[i+len(field)+2:]
	rest = rest[strings.Index(rest, `"`)+1:]
	return rest[:strings.Index(rest, `"`)]
}

// Another client token lists none of the first token's files and caches and
// gets 404 for them.
func TestFilesAreIsolatedPerToken(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: fileKeys, extra: "allowed_tokens " + secondToken})
	ctx := context.Background()
	a := e.genaiWith(clientToken, baseURL+"/")
	b := e.genaiWith(secondToken, baseURL+"/")
	fa := uploadSmall(t, a, "alpha's")
	fb := uploadSmall(t, b, "bravo's")
	cache, err := a.Caches.Create(ctx, "gemini-2.5-flash", &genai.CreateCachedContentConfig{Contents: fileContents(fa.URI)})
	if err != nil {
		t.Fatal(err)
	}
	for file, err := range b.Files.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		if file.Name != fb.Name {
			t.Errorf("the second token lists %s", file.Name)
		}
	}
	for c, err := range b.Caches.All(ctx) {
		if err != nil {
			t.Fatal(err)
		}
		t.Errorf("the second token lists cache %s", c.Name)
	}
	var apiErr genai.APIError
	if _, err := b.Files.Get(ctx, fa.Name, nil); !errors.As(err, &apiErr) || apiErr.Code != 404 {
		t.Errorf("second token gets the first's file: %v", err)
	}
	if _, err := b.Files.Delete(ctx, fa.Name, nil); !errors.As(err, &apiErr) || apiErr.Code != 404 {
		t.Errorf("second token deletes the first's file: %v", err)
	}
	if _, err := b.Caches.Get(ctx, cache.Name, nil); !errors.As(err, &apiErr) || apiErr.Code != 404 {
		t.Errorf("second token gets the first's cache: %v", err)
	}
	if _, err := b.Models.GenerateContent(ctx, "gemini-2.5-flash", fileContents(fa.URI), nil); !errors.As(err, &apiErr) || apiErr.Code != 403 {
		t.Errorf("second token uses the first's file: %v", err)
	}
	if _, ok := e.up.Owner(fa.Name); !ok {
		t.Error("the first token's file was deleted")
	}
	if _, err := a.Files.Get(ctx, fa.Name, nil); err != nil {
		t.Errorf("the first token lost its file: %v", err)
	}
}

// An owner that is invalid answers a clear error and no other key is tried;
// two owners in one request answer 400.
func TestFileOwnerInvalidAndTwoOwners(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: fileKeys})
	ctx := context.Background()
	c := e.genai()
	var files []*genai.File
	owners := map[string]*genai.File{}
	for len(owners) < 2 {
		f := uploadSmall(t, c, "x")
		o, _ := e.up.Owner(f.Name)
		owners[o] = f
		files = append(files, f)
	}
	var f1, f2 *genai.File
	var o1 string
	for o, f := range owners {
		if f1 == nil {
			f1, o1 = f, o
		} else {
			f2 = f
		}
	}
	two := fmt.Sprintf(`{"contents":[{"parts":[{"fileData":{"fileUri":%q}},{"fileData":{"fileUri":%q}}]}]}`, f1.URI, f2.URI)
	e.up.Reset()
	st, _, body := e.do("POST", "/v1beta/models/gemini-2.5-flash:generateContent", two, authed...)
	if st != 400 || !strings.Contains(body, "two different API keys") || len(e.up.Requests()) != 0 {
		t.Errorf("two owners: %d %s (%d upstream requests)", st, body, len(e.up.Requests()))
	}
	key := e.key(o1)
	key.MarkInvalid("API key expired", "", time.Now())
	_, err := c.Models.GenerateContent(ctx, "gemini-2.5-flash", fileContents(f1.URI), nil)
	var apiErr genai.APIError
	want := f1.Name + " belongs to key " + key.Masked() + ", which is invalid (API key expired); it cannot be used with another key"
	if !errors.As(err, &apiErr) || apiErr.Code != 503 || apiErr.Message != want {
		t.Errorf("invalid owner: %v\nwant 503 %s", err, want)
	}
	if n := len(e.up.Requests()); n != 0 {
		t.Errorf("%d upstream requests, want none", n)
	}
	if strings.Contains(fmt.Sprint(err), o1) {
		t.Error("the key is in the answer")
	}
	// A file the proxy never saw goes over the pool as before: Google's 403
	// is the client's and changes no key.
	e.up.SetOwner("files/madeelsewhere", k("outside"))
	st, _, body = e.do("POST", "/v1beta/models/gemini-2.5-flash:generateContent",
		`{"contents":[{"parts":[{"fileData":{"fileUri":"files/madeelsewhere"}}]}]}`, authed...)
	if st != 403 || len(e.up.Requests()) != 1 {
		t.Errorf("unknown file: %d %s, %d upstream requests", st, body, len(e.up.Requests()))
	}
	_ = files
}

// The start of a resumable upload answers an upload URL on the proxy: the
// client's scheme and host, no upstream host, no key.
func TestUploadURLPointsAtTheProxy(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: fileKeys})
	for _, prefix := range []string{"/upload/v1beta", "/gemini/upload/v1beta"} {
		st, h, body := e.do("POST", prefix+"/files", `{"file":{"displayName":"a"}}`, "x-goog-api-key", clientToken,
			"X-Goog-Upload-Protocol", "resumable", "X-Goog-Upload-Command", "start",
			"X-Goog-Upload-Header-Content-Length", "3", "X-Goog-Upload-Header-Content-Type", "text/plain")
		u := h.Get("X-Goog-Upload-Url")
		if st != 200 || !strings.HasPrefix(u, baseURL+prefix+"/files?upload_id=") || !strings.HasSuffix(u, "&upload_protocol=resumable") {
			t.Fatalf("%s: %d %q %s", prefix, st, u, body)
		}
		upURL, _ := url.Parse(e.up.URL)
		upHost := upURL.Host
		if strings.Contains(u, upHost) || strings.Contains(u, "AIza") || strings.Contains(u, "key=") {
			t.Errorf("upload URL %q shows the upstream or a key", u)
		}
		for name, vals := range h {
			for _, v := range vals {
				if strings.Contains(v, upHost) || strings.Contains(v, "AIza") {
					t.Errorf("answer header %s: %s", name, v)
				}
			}
		}
		st, h, body = e.do("POST", strings.TrimPrefix(u, baseURL), "abc", "x-goog-api-key", clientToken,
			"X-Goog-Upload-Command", "upload, finalize", "X-Goog-Upload-Offset", "0", "Content-Type", "text/plain")
		if st != 200 || h.Get("X-Goog-Upload-Status") != "final" || !strings.Contains(body, `"files/`) {
			t.Errorf("finalize: %d %v %s", st, h, body)
		}
	}
	// Without a token: 401, nothing upstream.
	e.up.Reset()
	if st, _, _ := e.do("POST", "/upload/v1beta/files", `{}`, "X-Goog-Upload-Protocol", "resumable", "X-Goog-Upload-Command", "start"); st != 401 || len(e.up.Requests()) != 0 {
		t.Errorf("no token: %d", st)
	}
	e.assertNoClientToken()
}

// patternReader yields size bytes of a repeating pattern, hashing them.
type patternReader struct {
	left int64
	h    hash.Hash
}

func (r *patternReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > r.left {
		n = r.left
	}
	for i := range p[:n] {
		p[i] = byte(i*7 + int(r.left))
	}
	r.left -= n
	r.h.Write(p[:n])
	return int(n), nil
}

// rssBytes is the process's resident set size.
func rssBytes(t *testing.T) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skip("no /proc/self/status")
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// A 200 MB upload through the real Caddy is streamed: the process (client,
// Caddy and stand-in together, none of which holds the body) grows by at
// most 32 MiB.
func TestLargeUploadIsStreamed(t *testing.T) {
	if testing.Short() {
		t.Skip("200 MB upload")
	}
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: fileKeys})
	const size = 200 << 20
	st, h, body := e.do("POST", "/upload/v1beta/files", `{"file":{"displayName":"big"}}`, "x-goog-api-key", clientToken,
		"X-Goog-Upload-Protocol", "resumable", "X-Goog-Upload-Command", "start",
		"X-Goog-Upload-Header-Content-Length", strconv.Itoa(size), "X-Goog-Upload-Header-Content-Type", "application/octet-stream")
	if st != 200 {
		t.Fatalf("start: %d %s", st, body)
	}
	target := h.Get("X-Goog-Upload-Url")

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapInuse
	baseRSS := rssBytes(t)
	var peakRSS, peakHeap atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if r := rssBytes(t); r > peakRSS.Load() {
					peakRSS.Store(r)
				}
				var m runtime.MemStats
				runtime.ReadMemStats(&m)
				if hi := int64(m.HeapInuse); hi > peakHeap.Load() {
					peakHeap.Store(hi)
				}
			}
		}
	}()
	src := &patternReader{left: size, h: sha256.New()}
	req, _ := http.NewRequest("POST", target, src)
	req.ContentLength = size
	req.Header.Set("x-goog-api-key", clientToken)
	req.Header.Set("X-Goog-Upload-Command", "upload, finalize")
	req.Header.Set("X-Goog-Upload-Offset", "0")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	if resp.StatusCode != 200 || resp.Header.Get("X-Goog-Upload-Status") != "final" {
		t.Fatalf("upload: %d %s", resp.StatusCode, answer)
	}
	name := jsonField(t, string(answer), "name")
	if got := e.up.UploadedBytes(name); got != size {
		t.Errorf("the stand-in got %d bytes, want %d", got, size)
	}
	if !bytes.Equal(e.up.FileSHA256(name), src.h.Sum(nil)) {
		t.Error("the uploaded bytes differ")
	}
	rssGrowth := peakRSS.Load() - baseRSS
	heapGrowth := peakHeap.Load() - int64(baseHeap)
	t.Logf("200 MiB upload in %v: peak RSS +%.1f MiB (from %.1f MiB), peak heap in use +%.1f MiB",
		elapsed.Round(time.Millisecond), float64(rssGrowth)/(1<<20), float64(baseRSS)/(1<<20), float64(heapGrowth)/(1<<20))
	if rssGrowth > 32<<20 {
		t.Errorf("RSS grew by %d MiB during the upload, want at most 32", rssGrowth>>20)
	}
}

// A multipart upload is streamed in one attempt and its file recorded; a
// generated video is downloaded on the key that ran the operation.
func TestMultipartUploadAndVideoDownload(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: fileKeys})
	const boundary = "gb-boundary-1"
	body := "--" + boundary + "\r\nContent-Type: application/json\r\n\r\n" + `{"file":{"displayName":"mp"}}` +
		"\r\n--" + boundary + "\r\nContent-Type: text/plain\r\n\r\n" + "multipart bytes" + "\r\n--" + boundary + "--\r\n"
	st, _, answer := e.do("POST", "/upload/v1beta/files?uploadType=multipart&access_token=leak", body, "x-goog-api-key", clientToken,
		"Content-Type", "multipart/related; boundary="+boundary)
	if st != 200 {
		t.Fatalf("multipart: %d %s", st, answer)
	}
	name := jsonField(t, answer, "name")
	owner, _ := e.up.Owner(name)
	if e.up.UploadedBytes(name) != int64(len("multipart bytes")) {
		t.Errorf("stand-in got %d bytes", e.up.UploadedBytes(name))
	}
	if rec, ok := e.balancer().Resources().Get(name, time.Now()); !ok || rec.KeyID != e.key(owner).ID() {
		t.Errorf("multipart file not recorded: %+v", rec)
	}
	for _, r := range e.up.Requests() {
		if strings.Contains(r.RawQuery, "leak") || !strings.Contains(r.RawQuery, "uploadType=multipart") && strings.HasPrefix(r.Path, "/upload/") {
			t.Errorf("query forwarded: %s", r.RawQuery)
		}
	}

	// predictLongRunning, polled until done; the video is downloaded through
	// the proxy on the operation's key.
	st, _, answer = e.do("POST", "/v1beta/models/veo-3.0-generate-001:predictLongRunning", `{"instances":[{"prompt":"a cat"}]}`, authed...)
	if st != 200 {
		t.Fatalf("predictLongRunning: %d %s", st, answer)
	}
	op := jsonField(t, answer, "name")
	opOwner, _ := e.up.Owner(op)
	var uri string
	for i := 0; i < 5 && uri == ""; i++ {
		st, _, answer = e.do("GET", "/v1beta/"+op, "", authed...)
		if st != 200 {
			t.Fatalf("poll: %d %s", st, answer)
		}
		if strings.Contains(answer, `"uri"`) {
			uri = jsonField(t, answer, "uri")
		}
	}
	if uri == "" {
		t.Fatalf("the operation never finished: %s", answer)
	}
	i := strings.Index(uri, "/files/")
	e.up.Reset()
	for n := 0; n < 3; n++ {
		st, _, video := e.do("GET", "/v1beta"+uri[i:], "", authed...)
		if st != 200 || video != fakegemini.VideoBytes {
			t.Fatalf("download %s: %d %q", uri[i:], st, video)
		}
	}
	for _, key := range e.requestsTo("/files/") {
		if key != opOwner {
			t.Error("a video download went to another key")
		}
	}
	e.assertNoClientToken()
}
