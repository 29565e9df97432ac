package upstream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
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

// sseServer answers every request with the events, flushed one by one, then
// waits for release (nil: ends at once).
func sseServer(t *testing.T, events []string, release chan struct{}, seen func(*http.Request), state func(net.Conn, http.ConnState)) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen != nil {
			seen(r)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusEarlyHints) // an informational answer first
		w.WriteHeader(http.StatusOK)
		for _, e := range events {
			_, _ = io.WriteString(w, e)
			w.(http.Flusher).Flush()
		}
		if release != nil {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	srv.Config.ConnState = state
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func TestPlainHTTPStreamOnItsOwnConnection(t *testing.T) {
	var (
		mu     sync.Mutex
		closed int
		gotReq *http.Request
		body   []byte
	)
	events := []string{"data: {\"a\":1}\n\n", "data: {\"b\":2}\n\n"}
	srv := sseServer(t, events, nil, func(r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		gotReq, body = r, b
		mu.Unlock()
	}, func(_ net.Conn, s http.ConnState) {
		if s == http.StateClosed {
			mu.Lock()
			closed++
			mu.Unlock()
		}
	})
	c, err := New(Options{BaseURL: srv.URL + "/v1beta", Referer: "https://app.example"})
	if err != nil {
		t.Fatal(err)
	}
	r := &Request{Method: http.MethodPost, Path: "/models/m:streamGenerateContent", Query: url.Values{"alt": {"sse"}},
		Header: http.Header{"X-Extra": {"1"}}, Body: []byte(`{"contents":[]}`)}
	if !c.directStream(r) {
		t.Fatal("a plain-HTTP stream does not go on a connection of its own")
	}
	resp, err := c.Do(context.Background(), r, "the-key")
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(got) != strings.Join(events, "") {
		t.Fatalf("status %d, body %q", resp.StatusCode, got)
	}
	mu.Lock()
	defer mu.Unlock()
	if gotReq.Header.Get("X-Goog-Api-Key") != "the-key" || gotReq.Header.Get("X-Extra") != "1" ||
		gotReq.Header.Get("Referer") != "https://app.example" || gotReq.URL.RawQuery != "alt=sse" ||
		string(body) != `{"contents":[]}` || !gotReq.Close || gotReq.ContentLength != int64(len(body)) {
		t.Errorf("upstream got %s %s close=%v len=%d headers %v body %q", gotReq.Method, gotReq.URL, gotReq.Close,
			gotReq.ContentLength, gotReq.Header, body)
	}
	if closed == 0 {
		// ConnState runs after the server saw the connection close.
		mu.Unlock()
		deadline := time.Now().Add(2 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			n := closed
			mu.Unlock()
			if n > 0 {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		mu.Lock()
		if closed == 0 {
			t.Error("the stream's connection was not closed after the answer")
		}
	}
}

func TestPlainHTTPStreamEndsWithItsContext(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv := sseServer(t, []string{"data: {}\n\n"}, release, nil, nil)
	c, err := New(Options{BaseURL: srv.URL + "/v1beta"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp, err := c.Do(ctx, &Request{Method: http.MethodPost, Path: "/models/m:streamGenerateContent", Body: []byte("{}")}, "k")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 64)
	if n, err := resp.Body.Read(buf); err != nil || string(buf[:n]) != "data: {}\n\n" {
		t.Fatalf("first read: %q, %v", buf[:n], err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(buf)
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("read after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a blocked read did not end with its context")
	}
}

func TestPlainHTTPStreamConnectErrorAndCancelledWait(t *testing.T) {
	// Nothing listens on the port once the server is closed.
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	c, _ := New(Options{BaseURL: base + "/v1beta"})
	if _, err := c.Do(context.Background(), &Request{Method: http.MethodPost, Path: "/models/m:streamGenerateContent"}, "k"); err == nil {
		t.Error("a stream to a closed port did not fail")
	}
	// An upstream that never answers: the context ends the wait for headers.
	hang := make(chan struct{})
	defer close(hang)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	c, _ = New(Options{BaseURL: slow.URL + "/v1beta"})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Do(ctx, &Request{Method: http.MethodPost, Path: "/models/m:streamGenerateContent"}, "k")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("waiting for headers past the deadline: %v, want context.DeadlineExceeded", err)
	}
}

func TestOnlyPlainUnproxiedStreamsGoDirect(t *testing.T) {
	stream := &Request{Method: http.MethodPost, Path: "/models/m:streamGenerateContent"}
	for _, tc := range []struct {
		opts   Options
		r      *Request
		direct bool
	}{
		{Options{BaseURL: "http://127.0.0.1:1/v1beta"}, stream, true},
		{Options{BaseURL: "https://127.0.0.1:1/v1beta"}, stream, false},
		{Options{BaseURL: "http://127.0.0.1:1/v1beta", Proxies: []string{"http://127.0.0.1:2"}}, stream, false},
		{Options{BaseURL: "http://127.0.0.1:1/v1beta"}, &Request{Method: http.MethodPost, Path: "/models/m:generateContent"}, false},
		{Options{BaseURL: "http://127.0.0.1:1/v1beta"}, &Request{Method: http.MethodPost, Path: "/models/m:streamGenerateContent",
			BodyReader: strings.NewReader("x"), ContentLength: 1}, false},
	} {
		c, err := New(tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := c.directStream(tc.r); got != tc.direct {
			t.Errorf("%+v %s: direct = %v, want %v", tc.opts, tc.r.Path, got, tc.direct)
		}
	}
}
