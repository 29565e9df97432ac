package upstream

import (
	"context"
	"fmt"
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
