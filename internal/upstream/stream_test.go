package upstream

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestUploadURLGoesBeforeTheVersion(t *testing.T) {
	for base, want := range map[string]string{
		"https://generativelanguage.googleapis.com/v1beta": "https://generativelanguage.googleapis.com/upload/v1beta/files?upload_id=abc",
		"https://relay.example.com/secret/v1beta/":         "https://relay.example.com/secret/upload/v1beta/files?upload_id=abc",
	} {
		c, err := New(Options{BaseURL: base})
		if err != nil {
			t.Fatal(err)
		}
		got := c.URL(&Request{Path: "/files", Upload: true, Query: url.Values{"upload_id": {"abc"}}})
		if got != want {
			t.Errorf("%s: URL = %s, want %s", base, got, want)
		}
	}
}

// countingReader yields n bytes without holding them.
type countingReader struct{ left, read int64 }

func (r *countingReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	n := int64(len(p))
	if n > r.left {
		n = r.left
	}
	for i := range p[:n] {
		p[i] = 'x'
	}
	r.left -= n
	r.read += n
	return int(n), nil
}

func TestBodyReaderIsStreamedWithItsLength(t *testing.T) {
	const size = 5 << 20
	var gotLen int64
	var gotBytes int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotLen = r.ContentLength
		gotBytes, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(200)
	}))
	defer srv.Close()
	c, err := New(Options{BaseURL: srv.URL + "/v1beta"})
	if err != nil {
		t.Fatal(err)
	}
	src := &countingReader{left: size}
	resp, err := c.Do(context.Background(), &Request{Method: http.MethodPost, Path: "/files", Upload: true, BodyReader: src, ContentLength: size}, "k")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if gotLen != size || gotBytes != size || src.read != size {
		t.Errorf("upstream got Content-Length %d and %d bytes (read %d), want %d", gotLen, gotBytes, src.read, size)
	}
}
