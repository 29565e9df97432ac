package upstream

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestURLKeepsRelayPrefixAndDropsNothing(t *testing.T) {
	c, err := New(Options{BaseURL: "https://relay.example.com/secret/v1beta/"})
	if err != nil {
		t.Fatal(err)
	}
	got := c.URL(&Request{Path: "/models/gemini-2.5-flash:streamGenerateContent", Query: url.Values{"alt": {"sse"}}})
	if want := "https://relay.example.com/secret/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"; got != want {
		t.Errorf("URL = %s, want %s", got, want)
	}
}

func TestBadOptions(t *testing.T) {
	for _, o := range []Options{
		{BaseURL: "generativelanguage.googleapis.com/v1beta"},
		{BaseURL: "https://x/v1beta?key=1"},
		{Proxies: []string{"ftp://p:21"}},
		{Proxies: []string{"socks5://"}},
	} {
		if _, err := New(o); err == nil {
			t.Errorf("New(%+v) accepted", o)
		}
	}
	for _, p := range []string{"http://p:8080", "https://user:pw@p:443", "socks5://127.0.0.1:1080", "socks5h://p:1"} {
		if _, err := New(Options{Proxies: []string{p}}); err != nil {
			t.Errorf("proxy %s refused: %v", p, err)
		}
	}
}

func TestProxyPinningIsStableAndSpread(t *testing.T) {
	// Fixed expectations: the pinning must not change between releases or restarts.
	if got := ProxyIndexFor("AIzaSyStableKey", 3); got != ProxyIndexFor("AIzaSyStableKey", 3) {
		t.Fatal("not deterministic")
	}
	counts := make([]int, 4)
	for i := 0; i < 4000; i++ {
		counts[ProxyIndexFor(fmt.Sprintf("AIzaSyKey%05d", i), 4)]++
	}
	for i, n := range counts {
		if n < 850 || n > 1150 {
			t.Errorf("proxy %d got %d of 4000 keys: uneven", i, n)
		}
	}
	c, _ := New(Options{})
	if c.ProxyIndex("k") != -1 {
		t.Error("proxy index without proxies")
	}
}

func TestDoSendsKeyInHeaderWithExtraHeadersAndReferer(t *testing.T) {
	var got *http.Request
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.WriteHeader(204)
	}))
	defer srv.Close()
	h := http.Header{}
	h.Set("X-Extra", "1")
	c, err := New(Options{BaseURL: srv.URL + "/v1beta", Referer: "https://site/", Headers: h})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(context.Background(), &Request{Method: "POST", Path: "/models/m:generateContent", Body: []byte("{}"),
		Header: http.Header{"Content-Type": {"application/json"}}}, "AIzaSyPOOLKEY")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got.Header.Get("X-Goog-Api-Key") != "AIzaSyPOOLKEY" || strings.Contains(got.URL.RawQuery, "key") {
		t.Errorf("key not in header only: %v %s", got.Header, got.URL.RawQuery)
	}
	if got.Header.Get("Referer") != "https://site/" || got.Header.Get("X-Extra") != "1" {
		t.Errorf("headers %v", got.Header)
	}
	resp, err = c.Do(context.Background(), &Request{Method: "GET", Path: "/openai/models", Bearer: true}, "AIzaSyPOOLKEY")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got.Header.Get("Authorization") != "Bearer AIzaSyPOOLKEY" || got.Header.Get("X-Goog-Api-Key") != "" {
		t.Errorf("bearer mode headers %v", got.Header)
	}
}

// The connection buffers are small (1 KiB); header lines, header blocks,
// bodies and chunks far larger than that must still go through whole.
func TestLargeHeadersAndBodiesPassTheSmallBuffers(t *testing.T) {
	long := strings.Repeat("v", 5000)
	answer := strings.Repeat("0123456789", 20000) // 200 kB
	var gotBody []byte
	var gotHeader string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHeader = r.Header.Get("X-Long")
		gotBody, _ = io.ReadAll(r.Body)
		w.Header().Set("X-Long-Answer", long)
		for i := range 40 {
			w.Header().Set(fmt.Sprintf("X-Header-%d", i), strings.Repeat("h", 60))
		}
		if r.URL.Query().Get("chunked") != "" {
			fl := http.NewResponseController(w)
			for i := 0; i < len(answer); i += 7000 {
				_, _ = io.WriteString(w, answer[i:min(i+7000, len(answer))])
				_ = fl.Flush()
			}
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(answer)))
		_, _ = io.WriteString(w, answer)
	}))
	defer srv.Close()
	c, err := New(Options{BaseURL: srv.URL, Headers: http.Header{"X-Long": {long}}})
	if err != nil {
		t.Fatal(err)
	}
	body := []byte(strings.Repeat("b", 300000))
	// "/x" goes through the transport; a stream to this plain-HTTP upstream
	// goes on a connection of its own (stream1.go), with buffers as small.
	for _, path := range []string{"/x", "/models/m:streamGenerateContent"} {
		for _, q := range []url.Values{nil, {"chunked": {"1"}}} {
			resp, err := c.Do(context.Background(), &Request{Method: "POST", Path: path, Query: q, Body: body}, "AIzaSyPOOLKEY")
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(got) != answer {
				t.Fatalf("%s query %v: answer of %d bytes (%v), want %d", path, q, len(got), err, len(answer))
			}
			if resp.Header.Get("X-Long-Answer") != long || resp.Header.Get("X-Header-39") == "" {
				t.Errorf("%s query %v: long answer headers lost", path, q)
			}
			if string(gotBody) != string(body) || gotHeader != long {
				t.Errorf("%s query %v: upstream got a body of %d bytes and a header of %d", path, q, len(gotBody), len(gotHeader))
			}
		}
	}
}
