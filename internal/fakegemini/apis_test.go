package fakegemini

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genai"
)

// sdk is the official Go SDK pointed at the stand-in with key.
func sdk(t *testing.T, s *Server, key string) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: key, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: s.Root() + "/"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// apiCode is the HTTP status of a genai error, 0 when it is none.
func apiCode(err error) (int, string) {
	var e genai.APIError
	if errors.As(err, &e) {
		return e.Code, e.Message
	}
	var p *genai.APIError
	if errors.As(err, &p) {
		return p.Code, p.Message
	}
	return 0, ""
}

// pattern is deterministic bytes, i.e. not all zeros.
type pattern struct{ n, left int64 }

func (p *pattern) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	n := int64(len(b))
	if n > p.left {
		n = p.left
	}
	for i := range b[:n] {
		b[i] = byte((p.n + int64(i)) * 7 % 251)
	}
	p.n += n
	p.left -= n
	return int(n), nil
}

func patternSum(n int64) string {
	h := sha256.New()
	_, _ = io.Copy(h, &pattern{left: n})
	return hex.EncodeToString(h.Sum(nil))
}

func TestSDKFiles(t *testing.T) {
	s := newServer(t)
	s.SetDefault(OK)
	ctx := context.Background()
	c1, c2 := sdk(t, s, "k1"), sdk(t, s, "k2")

	const size = 5<<20 + 12345 // one 8 MiB chunk of the SDK
	f, err := c1.Files.Upload(ctx, &pattern{left: size}, &genai.UploadFileConfig{MIMEType: "application/pdf", DisplayName: "doc one"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(f.Name, "files/") || f.DisplayName != "doc one" || f.MIMEType != "application/pdf" ||
		f.SizeBytes == nil || *f.SizeBytes != size || f.State != genai.FileStateActive || f.Source != genai.FileSourceUploaded ||
		f.URI != s.URL+"/"+f.Name || f.CreateTime.IsZero() || f.ExpirationTime.Sub(f.CreateTime) != FileTTL {
		t.Fatalf("uploaded file: %+v", f)
	}
	hexSum, _ := base64.StdEncoding.DecodeString(f.Sha256Hash)
	if string(hexSum) != patternSum(size) || hex.EncodeToString(s.FileSHA256(f.Name)) != patternSum(size) {
		t.Errorf("sha256Hash %q", f.Sha256Hash)
	}
	if got := s.UploadedBytes(f.Name); got != size {
		t.Errorf("UploadedBytes = %d", got)
	}
	if k, ok := s.Owner(f.Name); !ok || k != "k1" {
		t.Errorf("Owner = %q %v", k, ok)
	}

	// An upload in two chunks (the SDK sends 8 MiB chunks with offsets).
	const big = 9 << 20
	f2, err := c1.Files.Upload(ctx, &pattern{left: big}, &genai.UploadFileConfig{MIMEType: "video/mp4"})
	if err != nil {
		t.Fatal(err)
	}
	if *f2.SizeBytes != big || hex.EncodeToString(s.FileSHA256(f2.Name)) != patternSum(big) {
		t.Errorf("chunked upload: %+v", f2)
	}
	var legs []Request
	for _, r := range s.Requests() {
		if strings.HasPrefix(r.Path, "/upload/") {
			legs = append(legs, r)
		}
	}
	// start, one leg; start, two legs.
	if len(legs) != 5 {
		t.Fatalf("%d upload requests", len(legs))
	}
	for i, r := range legs {
		if r.Key != "k1" {
			t.Errorf("leg %d key %q", i, r.Key)
		}
		if r.BodySize > MaxRecordedUpload && r.Body != nil {
			t.Errorf("leg %d: %d bytes kept", i, len(r.Body))
		}
	}
	if legs[3].BodySize != 8<<20 || legs[3].Header.Get("X-Goog-Upload-Command") != "upload" ||
		legs[4].BodySize != 1<<20 || legs[4].Header.Get("X-Goog-Upload-Offset") != strconv.Itoa(8<<20) || string(legs[4].Body[:3]) != string([]byte{byte((8 << 20) * 7 % 251), byte((8<<20 + 1) * 7 % 251), byte((8<<20 + 2) * 7 % 251)}) {
		t.Errorf("legs: %d %q, %d %q", legs[3].BodySize, legs[3].Header.Get("X-Goog-Upload-Command"), legs[4].BodySize, legs[4].Header.Get("X-Goog-Upload-Offset"))
	}

	got, err := c1.Files.Get(ctx, f.Name, nil)
	if err != nil || got.Name != f.Name || *got.SizeBytes != size || got.Sha256Hash != f.Sha256Hash {
		t.Errorf("Get: %+v %v", got, err)
	}
	if _, err := c2.Files.Get(ctx, f.Name, nil); !strings.Contains(errString(err), "You do not have permission to access the File "+strings.TrimPrefix(f.Name, "files/")+" or it may not exist.") {
		t.Errorf("Get by another key: %v", err)
	} else if code, _ := apiCode(err); code != 403 {
		t.Errorf("Get by another key: %d", code)
	}
	if _, err := c2.Files.Delete(ctx, f.Name, nil); err == nil {
		t.Error("Delete by another key succeeded")
	}

	// Listing: the key's own, newest first, paged.
	for i := range 3 {
		if _, err := c1.Files.Upload(ctx, strings.NewReader("x"+strconv.Itoa(i)), &genai.UploadFileConfig{MIMEType: "text/plain"}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c2.Files.Upload(ctx, strings.NewReader("theirs"), &genai.UploadFileConfig{MIMEType: "text/plain"}); err != nil {
		t.Fatal(err)
	}
	page, err := c1.Files.List(ctx, &genai.ListFilesConfig{PageSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for {
		if len(page.Items) > 2 {
			t.Fatalf("page of %d", len(page.Items))
		}
		for _, it := range page.Items {
			names = append(names, it.Name)
		}
		if page, err = page.Next(ctx); errors.Is(err, genai.ErrPageDone) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
	}
	if own := s.Files("k1"); len(names) != 5 || len(own) != 5 || names[4] != f.Name || own[0] != f.Name || names[0] != own[4] {
		t.Errorf("listed %v, Files %v", names, own)
	}
	if other := s.Files("k2"); len(other) != 1 {
		t.Errorf("k2 files %v", other)
	}

	// A file is usable in generateContent by its owner only, in any URI form.
	for _, uri := range []string{f.URI, "https://generativelanguage.googleapis.com/v1beta/" + f.Name, f.Name} {
		parts := []*genai.Part{genai.NewPartFromText("describe"), genai.NewPartFromURI(uri, "application/pdf")}
		if _, err := c1.Models.GenerateContent(ctx, "gemini-2.5-flash", []*genai.Content{genai.NewContentFromParts(parts, genai.RoleUser)}, nil); err != nil {
			t.Errorf("owner generateContent with %s: %v", uri, err)
		}
		if _, err := c2.Models.GenerateContent(ctx, "gemini-2.5-flash", []*genai.Content{genai.NewContentFromParts(parts, genai.RoleUser)}, nil); !strings.Contains(errString(err), "You do not have permission to access the File") {
			t.Errorf("other generateContent with %s: %v", uri, err)
		}
	}

	if _, err := c1.Files.Delete(ctx, f.Name, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Files.Get(ctx, f.Name, nil); err == nil {
		t.Error("Get after Delete succeeded")
	}
	if _, ok := s.Owner(f.Name); ok {
		t.Error("deleted file still owned")
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestUploadProtocol(t *testing.T) {
	s := NewWithPrefix("/relay")
	t.Cleanup(s.Close)
	s.SetDefault(OK)
	up := s.Root() + "/upload/v1beta/files"

	resp, b := call(t, "POST", up, `{"file":{"display_name":"by hand"}}`, "x-goog-api-key", "k1",
		"X-Goog-Upload-Protocol", "resumable", "X-Goog-Upload-Command", "start",
		"X-Goog-Upload-Header-Content-Length", "10", "X-Goog-Upload-Header-Content-Type", "text/plain",
		"Content-Type", "application/json")
	url := resp.Header.Get("X-Goog-Upload-Url")
	if resp.StatusCode != 200 || len(b) != 0 || resp.Header.Get("X-Goog-Upload-Status") != "active" ||
		!strings.HasPrefix(url, s.Root()+"/upload/v1beta/files?upload_id=") || !strings.HasSuffix(url, "&upload_protocol=resumable") {
		t.Fatalf("start: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	id := strings.TrimSuffix(strings.TrimPrefix(url, s.Root()+"/upload/v1beta/files?upload_id="), "&upload_protocol=resumable")
	// Upload then finalize, without a key (the upload_id authorises), then
	// with a wrong offset.
	resp, b = call(t, "POST", url, "hello", "X-Goog-Upload-Command", "upload", "X-Goog-Upload-Offset", "0")
	if resp.StatusCode != 200 || resp.Header.Get("X-Goog-Upload-Status") != "active" || len(b) != 0 {
		t.Fatalf("upload: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	if s.UploadedBytes(id) != 5 {
		t.Errorf("UploadedBytes(upload_id) = %d", s.UploadedBytes(id))
	}
	if resp, b := call(t, "POST", url, "xx", "X-Goog-Upload-Command", "upload", "X-Goog-Upload-Offset", "3"); resp.StatusCode != 400 {
		t.Errorf("bad offset: %d %s", resp.StatusCode, b)
	}
	resp, b = call(t, "POST", url, "world", "X-Goog-Upload-Command", "upload, finalize", "X-Goog-Upload-Offset", "5", "x-goog-api-key", "k9")
	if resp.StatusCode != 200 || resp.Header.Get("X-Goog-Upload-Status") != "final" {
		t.Fatalf("finalize: %d %v %s", resp.StatusCode, resp.Header, b)
	}
	type fileBody struct {
		File map[string]string `json:"file"`
	}
	file := decodeJSON[fileBody](t, b).File
	sum := sha256.Sum256([]byte("helloworld"))
	if file["displayName"] != "by hand" || file["mimeType"] != "text/plain" || file["sizeBytes"] != "10" ||
		file["state"] != "ACTIVE" || file["source"] != "UPLOADED" || file["uri"] != s.URL+"/"+file["name"] ||
		file["sha256Hash"] != base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(sum[:]))) ||
		file["createTime"] == "" || file["updateTime"] == "" || file["expirationTime"] == "" {
		t.Errorf("file: %s", b)
	}
	if k, _ := s.Owner(file["name"]); k != "k1" {
		t.Errorf("owner %q, want the key of the start", k)
	}
	reqs := s.Requests()
	if last := reqs[len(reqs)-1]; last.Key != "k9" || string(last.Body) != "world" || last.BodySize != 5 {
		t.Errorf("recorded leg: %+v", last)
	}
	// A retried finalize answers the same file; query says final.
	if resp, b2 := call(t, "POST", url, "", "X-Goog-Upload-Command", "finalize"); resp.StatusCode != 200 || !bytes.Equal(b, b2) {
		t.Errorf("finalize again: %d %s", resp.StatusCode, b2)
	}
	// Unknown upload_id: Google-shaped 404.
	resp, b = call(t, "POST", up+"?upload_id=nope&upload_protocol=resumable", "x", "X-Goog-Upload-Command", "upload, finalize")
	if e := decodeJSON[rpcBody](t, b); resp.StatusCode != 404 || e.Error.Status != "NOT_FOUND" {
		t.Errorf("unknown upload_id: %d %s", resp.StatusCode, b)
	}
	// The start needs a key.
	if resp, _ := call(t, "POST", up, `{}`, "X-Goog-Upload-Protocol", "resumable", "X-Goog-Upload-Command", "start"); resp.StatusCode != 403 {
		t.Errorf("start without key: %d", resp.StatusCode)
	}
	// A key's behavior applies to the start.
	s.SetKey("bad", Invalid)
	if resp, _ := call(t, "POST", up, `{}`, "x-goog-api-key", "bad", "X-Goog-Upload-Protocol", "resumable", "X-Goog-Upload-Command", "start"); resp.StatusCode != 400 {
		t.Errorf("start with an invalid key: %d", resp.StatusCode)
	}

	// Multipart.
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mh := textproto.MIMEHeader{}
	mh.Set("Content-Type", "application/json; charset=UTF-8")
	p, _ := mw.CreatePart(mh)
	_, _ = p.Write([]byte(`{"file":{"displayName":"multi","name":"files/my-file-1"}}`))
	mh = textproto.MIMEHeader{}
	mh.Set("Content-Type", "image/png")
	p, _ = mw.CreatePart(mh)
	_, _ = p.Write([]byte("PNGDATA"))
	_ = mw.Close()
	resp, b = call(t, "POST", up, body.String(), "x-goog-api-key", "k2", "X-Goog-Upload-Protocol", "multipart",
		"Content-Type", "multipart/related; boundary="+mw.Boundary())
	file = decodeJSON[fileBody](t, b).File
	if resp.StatusCode != 200 || file["name"] != "files/my-file-1" || file["displayName"] != "multi" ||
		file["mimeType"] != "image/png" || file["sizeBytes"] != "7" {
		t.Errorf("multipart: %d %s", resp.StatusCode, b)
	}
	if k, _ := s.Owner("files/my-file-1"); k != "k2" {
		t.Errorf("multipart owner %q", k)
	}
	// The same name again: 409.
	if resp, b := call(t, "POST", up, body.String(), "x-goog-api-key", "k2", "X-Goog-Upload-Protocol", "multipart",
		"Content-Type", "multipart/related; boundary="+mw.Boundary()); resp.StatusCode != 409 {
		t.Errorf("existing name: %d %s", resp.StatusCode, b)
	}
	// Files under /v1 too, and the 403 of another key.
	if resp, b := call(t, "GET", s.Root()+"/v1/files/my-file-1", "", "x-goog-api-key", "k2"); resp.StatusCode != 200 {
		t.Errorf("/v1 get: %d %s", resp.StatusCode, b)
	}
	resp, b = call(t, "DELETE", s.URL+"/files/my-file-1", "", "x-goog-api-key", "k1")
	if e := decodeJSON[rpcBody](t, b); resp.StatusCode != 403 || e.Error.Message != "You do not have permission to access the File my-file-1 or it may not exist." {
		t.Errorf("delete by another: %d %s", resp.StatusCode, b)
	}
	if resp, b := call(t, "DELETE", s.URL+"/files/my-file-1", "", "x-goog-api-key", "k2"); resp.StatusCode != 200 || string(b) != "{}\n" {
		t.Errorf("delete: %d %q", resp.StatusCode, b)
	}
}

// TestUploadMemory uploads 200 MB in one streamed leg: the stand-in hashes
// and counts it without holding it, and records no body.
func TestUploadMemory(t *testing.T) {
	s := newServer(t)
	s.SetDefault(OK)
	resp, _ := call(t, "POST", s.Root()+"/upload/v1beta/files", `{"file":{"displayName":"big"}}`, "x-goog-api-key", "k1",
		"X-Goog-Upload-Protocol", "resumable", "X-Goog-Upload-Command", "start", "X-Goog-Upload-Header-Content-Type", "video/mp4")
	url := resp.Header.Get("X-Goog-Upload-Url")

	const size = 200 << 20
	runtime.GC()
	var before, peak runtime.MemStats
	runtime.ReadMemStats(&before)
	stop := make(chan struct{})
	sampled := make(chan uint64)
	go func() {
		var m runtime.MemStats
		var max uint64
		for {
			runtime.ReadMemStats(&m)
			if m.HeapInuse > max {
				max = m.HeapInuse
			}
			select {
			case <-stop:
				sampled <- max
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	req, _ := http.NewRequest("POST", url, &pattern{left: size})
	req.ContentLength = size
	req.Header.Set("X-Goog-Upload-Command", "upload, finalize")
	req.Header.Set("X-Goog-Upload-Offset", "0")
	req.Header.Set("x-goog-api-key", "k1")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
	close(stop)
	max := <-sampled
	runtime.ReadMemStats(&peak)
	if r.StatusCode != 200 || r.Header.Get("X-Goog-Upload-Status") != "final" {
		t.Fatalf("%d %s", r.StatusCode, b)
	}
	growth := int64(max) - int64(before.HeapInuse)
	t.Logf("HeapInuse growth during a %d MiB upload: %.1f MiB", size>>20, float64(growth)/(1<<20))
	if growth > 32<<20 {
		t.Errorf("HeapInuse grew by %d MiB", growth>>20)
	}
	f := decodeJSON[struct {
		File struct{ Name, SizeBytes string }
	}](t, b)
	if f.File.SizeBytes != strconv.Itoa(size) || s.UploadedBytes(f.File.Name) != size ||
		hex.EncodeToString(s.FileSHA256(f.File.Name)) != patternSum(size) {
		t.Errorf("file %s, %d bytes", b, s.UploadedBytes(f.File.Name))
	}
	reqs := s.Requests()
	if last := reqs[len(reqs)-1]; last.BodySize != size || last.Body != nil {
		t.Errorf("recorded %d bytes of %d", len(last.Body), last.BodySize)
	}
}

func TestSDKCaches(t *testing.T) {
	s := newServer(t)
	s.SetDefault(OK)
	ctx := context.Background()
	c1, c2 := sdk(t, s, "k1"), sdk(t, s, "k2")
	f, err := c1.Files.Upload(ctx, strings.NewReader("a document"), &genai.UploadFileConfig{MIMEType: "application/pdf"})
	if err != nil {
		t.Fatal(err)
	}
	contents := []*genai.Content{genai.NewContentFromParts([]*genai.Part{
		genai.NewPartFromText("the text"), genai.NewPartFromURI(f.URI, "application/pdf")}, genai.RoleUser)}
	cfg := &genai.CreateCachedContentConfig{TTL: 5 * time.Minute, DisplayName: "my cache", Contents: contents,
		SystemInstruction: genai.NewContentFromText("be brief", genai.RoleUser)}
	cc, err := c1.Caches.Create(ctx, "gemini-2.5-flash", cfg)
	if err != nil {
		t.Fatal(err)
	}
	if d := cc.ExpireTime.Sub(cc.CreateTime); !strings.HasPrefix(cc.Name, "cachedContents/") || cc.Model != "models/gemini-2.5-flash" || cc.DisplayName != "my cache" ||
		cc.UsageMetadata == nil || cc.UsageMetadata.TotalTokenCount <= 0 || d < 299*time.Second || d > 301*time.Second {
		t.Fatalf("cache: %+v", cc)
	}
	// Another key may not cache the file.
	if _, err := c2.Caches.Create(ctx, "gemini-2.5-flash", cfg); !strings.Contains(errString(err), "You do not have permission to access the File") {
		t.Errorf("other key's file in a cache: %v", err)
	}
	got, err := c1.Caches.Get(ctx, cc.Name, nil)
	if err != nil || got.Name != cc.Name || !got.ExpireTime.Equal(cc.ExpireTime) {
		t.Errorf("Get: %+v %v", got, err)
	}
	if _, err := c2.Caches.Get(ctx, cc.Name, nil); !strings.Contains(errString(err), "CachedContent not found (or permission denied)") {
		t.Errorf("Get by another key: %v", err)
	}
	up, err := c1.Caches.Update(ctx, cc.Name, &genai.UpdateCachedContentConfig{TTL: time.Hour})
	if err != nil || up.ExpireTime.Sub(cc.ExpireTime) < 50*time.Minute {
		t.Errorf("Update: %+v %v", up, err)
	}
	if _, err := c2.Caches.Update(ctx, cc.Name, &genai.UpdateCachedContentConfig{TTL: time.Hour}); err == nil {
		t.Error("Update by another key succeeded")
	}
	// PATCH by hand with an updateMask.
	exp := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	if resp, b := call(t, "PATCH", s.URL+"/"+cc.Name+"?updateMask=expireTime", `{"expireTime":"`+exp+`"}`, "x-goog-api-key", "k1"); resp.StatusCode != 200 || !strings.Contains(string(b), `"expireTime": "`+strings.TrimSuffix(exp, "Z")) {
		t.Errorf("PATCH expireTime: %d %s", resp.StatusCode, b)
	}
	if resp, b := call(t, "PATCH", s.URL+"/"+cc.Name+"?updateMask=model", `{"model":"x"}`, "x-goog-api-key", "k1"); resp.StatusCode != 400 {
		t.Errorf("PATCH model: %d %s", resp.StatusCode, b)
	}
	// The owner generates with it; another key may not.
	gc := &genai.GenerateContentConfig{CachedContent: cc.Name}
	res, err := c1.Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("hi"), gc)
	if err != nil || res.UsageMetadata == nil || res.UsageMetadata.CachedContentTokenCount != CachedTokenCount {
		t.Errorf("generate with cache: %v", err)
	}
	if _, err := c2.Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("hi"), gc); !strings.Contains(errString(err), "CachedContent not found") {
		t.Errorf("generate with another key's cache: %v", err)
	}
	for range 2 {
		if _, err := c1.Caches.Create(ctx, "gemini-2.5-flash", &genai.CreateCachedContentConfig{Contents: genai.Text("more")}); err != nil {
			t.Fatal(err)
		}
	}
	page, err := c1.Caches.List(ctx, &genai.ListCachedContentsConfig{PageSize: 2})
	if err != nil || len(page.Items) != 2 || page.NextPageToken == "" {
		t.Fatalf("List: %d %v", len(page.Items), err)
	}
	next, err := page.Next(ctx)
	if err != nil || len(next.Items) != 1 || next.Items[0].Name != cc.Name || next.NextPageToken != "" {
		t.Errorf("List page 2: %+v %v", next.Items, err)
	}
	if p2, err := c2.Caches.List(ctx, nil); err != nil || len(p2.Items) != 0 {
		t.Errorf("k2 caches: %d %v", len(p2.Items), err)
	}
	if _, err := c2.Caches.Delete(ctx, cc.Name, nil); err == nil {
		t.Error("Delete by another key succeeded")
	}
	if _, err := c1.Caches.Delete(ctx, cc.Name, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Caches.Get(ctx, cc.Name, nil); err == nil {
		t.Error("Get after Delete succeeded")
	}
}

func TestSDKBatches(t *testing.T) {
	s := newServer(t)
	s.SetDefault(OK)
	ctx := context.Background()
	c1, c2 := sdk(t, s, "k1"), sdk(t, s, "k2")
	src := &genai.BatchJobSource{InlinedRequests: []*genai.InlinedRequest{
		{Contents: genai.Text("one"), Metadata: map[string]string{"key": "r1"}},
		{Contents: genai.Text("two"), Metadata: map[string]string{"key": "r2"}},
	}}
	job, err := c1.Batches.Create(ctx, "gemini-2.5-flash", src, &genai.CreateBatchJobConfig{DisplayName: "nightly"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(job.Name, "batches/") || job.State != genai.JobStatePending || job.DisplayName != "nightly" || job.Model != "models/gemini-2.5-flash" {
		t.Fatalf("created: %+v", job)
	}
	if _, err := c2.Batches.Get(ctx, job.Name, nil); err == nil {
		t.Error("Get by another key succeeded")
	} else if code, _ := apiCode(err); code != 403 {
		t.Errorf("Get by another key: %v", err)
	}
	var states []genai.JobState
	for i := 0; i < 5 && job.State != genai.JobStateSucceeded; i++ {
		if job, err = c1.Batches.Get(ctx, job.Name, nil); err != nil {
			t.Fatal(err)
		}
		states = append(states, job.State)
	}
	if len(states) != 2 || states[0] != genai.JobStateRunning || job.Dest == nil || len(job.Dest.InlinedResponses) != 2 || job.EndTime.IsZero() {
		t.Fatalf("states %v, job %+v", states, job)
	}
	for i, r := range job.Dest.InlinedResponses {
		if r.Metadata["key"] != "r"+strconv.Itoa(i+1) || r.Response == nil || r.Response.Text() != ReplyText("gemini-2.5-flash") {
			t.Errorf("response %d: %+v", i, r)
		}
	}
	// Listing, cancel and delete.
	job2, err := c1.Batches.Create(ctx, "gemini-2.5-flash", src, nil)
	if err != nil {
		t.Fatal(err)
	}
	page, err := c1.Batches.List(ctx, nil)
	if err != nil || len(page.Items) != 2 || page.Items[0].Name != job2.Name {
		t.Errorf("List: %+v %v", page.Items, err)
	}
	if p2, err := c2.Batches.List(ctx, nil); err != nil || len(p2.Items) != 0 {
		t.Errorf("k2 List: %v %v", p2.Items, err)
	}
	if err := c2.Batches.Cancel(ctx, job2.Name, nil); err == nil {
		t.Error("Cancel by another key succeeded")
	}
	if err := c1.Batches.Cancel(ctx, job2.Name, nil); err != nil {
		t.Fatal(err)
	}
	if j, err := c1.Batches.Get(ctx, job2.Name, nil); err != nil || j.State != genai.JobStateCancelled {
		t.Errorf("after Cancel: %+v %v", j, err)
	}
	if _, err := c1.Batches.Delete(ctx, job2.Name, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Batches.Get(ctx, job2.Name, nil); err == nil {
		t.Error("Get after Delete succeeded")
	}
	// A file input must be the caller's; the output is a file of the caller.
	f, err := c1.Files.Upload(ctx, strings.NewReader(`{"key":"a","request":{"contents":[{"parts":[{"text":"x"}]}]}}`), &genai.UploadFileConfig{MIMEType: "application/jsonl"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Batches.Create(ctx, "gemini-2.5-flash", &genai.BatchJobSource{FileName: f.Name}, nil); !strings.Contains(errString(err), "You do not have permission to access the File") {
		t.Errorf("another key's input file: %v", err)
	}
	fj, err := c1.Batches.Create(ctx, "gemini-2.5-flash", &genai.BatchJobSource{FileName: f.Name}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for fj.State != genai.JobStateSucceeded {
		if fj, err = c1.Batches.Get(ctx, fj.Name, nil); err != nil {
			t.Fatal(err)
		}
	}
	if fj.Dest == nil || fj.Dest.FileName == "" {
		t.Fatalf("file batch: %+v", fj)
	}
	if k, _ := s.Owner(fj.Dest.FileName); k != "k1" {
		t.Errorf("responses file owner %q", k)
	}
	// Raw: the Operation shape.
	resp, b := call(t, "GET", s.URL+"/"+job.Name, "", "x-goog-api-key", "k1")
	for _, want := range []string{`"@type": "` + batchType + `"`, `"state": "BATCH_STATE_SUCCEEDED"`, `"done": true`,
		`"@type": "` + batchOutputType + `"`, `"successfulRequestCount": "2"`} {
		if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Errorf("raw batch lacks %s: %s", want, b)
		}
	}
}

func TestSDKVideos(t *testing.T) {
	s := newServer(t)
	s.SetDefault(OK)
	ctx := context.Background()
	c1, c2 := sdk(t, s, "k1"), sdk(t, s, "k2")
	op, err := c1.Models.GenerateVideos(ctx, "veo-3.0-generate-001", "a cat", nil, &genai.GenerateVideosConfig{NumberOfVideos: 2})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(op.Name, "models/veo-3.0-generate-001/operations/") || op.Done {
		t.Fatalf("operation: %+v", op)
	}
	if _, err := c2.Operations.GetVideosOperation(ctx, op, nil); err == nil {
		t.Error("another key polled the operation")
	} else if code, _ := apiCode(err); code != 403 {
		t.Errorf("another key: %v", err)
	}
	polls := 0
	for !op.Done && polls < 5 {
		if op, err = c1.Operations.GetVideosOperation(ctx, op, nil); err != nil {
			t.Fatal(err)
		}
		polls++
	}
	if polls != 2 || op.Response == nil || len(op.Response.GeneratedVideos) != 2 {
		t.Fatalf("after %d polls: %+v", polls, op)
	}
	uri := op.Response.GeneratedVideos[0].Video.URI
	if !strings.HasPrefix(uri, s.URL+"/files/") || !strings.HasSuffix(uri, ":download?alt=media") {
		t.Errorf("video uri %q", uri)
	}
	name := strings.TrimSuffix(strings.TrimPrefix(uri, s.URL+"/"), ":download?alt=media")
	if k, _ := s.Owner(name); k != "k1" {
		t.Errorf("video owner %q", k)
	}
	if resp, b := call(t, "GET", uri, "", "x-goog-api-key", "k1"); resp.StatusCode != 200 || string(b) != VideoBytes {
		t.Errorf("download: %d %q", resp.StatusCode, b)
	}
	if resp, _ := call(t, "GET", uri, "", "x-goog-api-key", "k2"); resp.StatusCode != 403 {
		t.Errorf("download by another key: %d", resp.StatusCode)
	}
	// The short form of the operation's name, and the raw shape.
	short := "/operations/" + op.Name[strings.LastIndex(op.Name, "/")+1:]
	resp, b := call(t, "GET", s.URL+short, "", "x-goog-api-key", "k1")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"@type": "`+videoOpType+`"`) || !strings.Contains(string(b), `"generatedSamples"`) {
		t.Errorf("short form: %d %s", resp.StatusCode, b)
	}
	if resp, _ := call(t, "GET", s.URL+short, "", "x-goog-api-key", "k2"); resp.StatusCode != 403 {
		t.Errorf("short form by another key: %d", resp.StatusCode)
	}
	if resp, b := call(t, "POST", s.URL+"/models/gemini-2.5-flash:predictLongRunning", `{"instances":[{"prompt":"x"}]}`, "x-goog-api-key", "k1"); resp.StatusCode != 404 {
		t.Errorf("predictLongRunning on a chat model: %d %s", resp.StatusCode, b)
	}
}

func TestResourceAPIEdges(t *testing.T) {
	s := newServer(t)
	s.SetDefault(OK)
	ctx := context.Background()
	c1 := sdk(t, s, "k1")

	// Concurrent uploads by several keys, each owning its own.
	errs := make(chan error, 8)
	for i := range 8 {
		go func() {
			c := sdk(t, s, "key"+strconv.Itoa(i%2))
			_, err := c.Files.Upload(ctx, &pattern{left: int64(100000 + i)}, &genai.UploadFileConfig{MIMEType: "text/plain"})
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if a, b := s.Files("key0"), s.Files("key1"); len(a) != 4 || len(b) != 4 {
		t.Errorf("files %v %v", a, b)
	}

	// A key's behavior applies to the resource routes.
	s.SetKey("limited", RateLimited)
	for _, r := range [][2]string{{"GET", "/files"}, {"GET", "/cachedContents"}, {"GET", "/batches"}, {"POST", "/models/gemini-2.5-flash:batchGenerateContent"}} {
		if resp, b := call(t, r[0], s.URL+r[1], `{}`, "x-goog-api-key", "limited"); resp.StatusCode != 429 {
			t.Errorf("%s %s: %d %s", r[0], r[1], resp.StatusCode, b)
		}
	}
	// Bad page token, pageSize capped at 100.
	if resp, b := call(t, "GET", s.URL+"/files?pageToken=zzz", "", "x-goog-api-key", "k1"); resp.StatusCode != 400 {
		t.Errorf("bad page token: %d %s", resp.StatusCode, b)
	}
	if resp, _ := call(t, "GET", s.URL+"/files?pageSize=1000", "", "x-goog-api-key", "key0"); resp.StatusCode != 200 {
		t.Errorf("big pageSize: %d", resp.StatusCode)
	}

	// A batch request naming another key's file fails alone.
	other := s.Files("key0")[0]
	src := &genai.BatchJobSource{InlinedRequests: []*genai.InlinedRequest{
		{Contents: genai.Text("fine")},
		{Contents: []*genai.Content{genai.NewContentFromParts([]*genai.Part{genai.NewPartFromURI(other, "text/plain")}, genai.RoleUser)}},
	}}
	job, err := c1.Batches.Create(ctx, "gemini-2.5-flash", src, nil)
	if err != nil {
		t.Fatal(err)
	}
	for job.State != genai.JobStateSucceeded {
		if job, err = c1.Batches.Get(ctx, job.Name, nil); err != nil {
			t.Fatal(err)
		}
	}
	if rs := job.Dest.InlinedResponses; len(rs) != 2 || rs[0].Response == nil || rs[1].Error == nil || rs[1].Error.Code == nil || *rs[1].Error.Code != 403 {
		t.Errorf("responses %+v %+v", rs[0], rs[1])
	}
	// Unknown batch or operation, unknown model for a batch.
	if resp, _ := call(t, "GET", s.URL+"/batches/nope", "", "x-goog-api-key", "k1"); resp.StatusCode != 403 {
		t.Errorf("unknown batch: %d", resp.StatusCode)
	}
	if resp, _ := call(t, "GET", s.URL+"/models/veo-3.0-generate-001/operations/nope", "", "x-goog-api-key", "k1"); resp.StatusCode != 403 {
		t.Errorf("unknown operation: %d", resp.StatusCode)
	}
	if resp, _ := call(t, "POST", s.URL+"/models/nope:batchGenerateContent", `{}`, "x-goog-api-key", "k1"); resp.StatusCode != 404 {
		t.Errorf("unknown model: %d", resp.StatusCode)
	}
	// /v1 upload and a raw (uploadType=media) one.
	resp, b := call(t, "POST", s.Root()+"/upload/v1/files?uploadType=media", "raw bytes", "x-goog-api-key", "k1", "Content-Type", "text/csv")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `"mimeType": "text/csv"`) || !strings.Contains(string(b), s.Root()+"/v1/files/") {
		t.Errorf("raw /v1 upload: %d %s", resp.StatusCode, b)
	}
	// SetOwner'd resources still list and get as before, next to made ones.
	s.SetOwner("files/declared", "k1")
	if _, ok := s.Owner("files/declared"); !ok {
		t.Error("declared file has no owner")
	}
	if resp, b := call(t, "GET", s.URL+"/files/declared", "", "x-goog-api-key", "k1"); resp.StatusCode != 200 {
		t.Errorf("declared file: %d %s", resp.StatusCode, b)
	}
}
