package httpapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/settings"
)

const fetchTestToken = "sk-fetch-test-token"

// imageHost serves PNG-looking images of the size asked in ?size= (bytes),
// with a Content-Length unless ?chunked is given, and counts its requests.
type imageHost struct {
	*httptest.Server
	hits atomic.Int32
}

func newImageHost(t *testing.T) *imageHost {
	t.Helper()
	ih := &imageHost{}
	ih.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ih.hits.Add(1)
		var size int
		if _, err := fmt.Sscan(r.URL.Query().Get("size"), &size); err != nil || size < 8 {
			size = 64
		}
		w.Header().Set("Content-Type", "image/png")
		if r.URL.Query().Has("chunked") {
			w.(http.Flusher).Flush()
		} else {
			w.Header().Set("Content-Length", fmt.Sprint(size))
		}
		_, _ = w.Write(pngOfSize(size))
	}))
	t.Cleanup(ih.Close)
	return ih
}

var bigPNG = append([]byte("\x89PNG\r\n\x1a\n"), make([]byte, maxFetchedImage+1<<20)...)

func pngOfSize(n int) []byte { return bigPNG[:min(n, len(bigPNG))] }

// newFetchTestHandler is a Handler on a stand-in Gemini whose image fetches
// go through the test hook to a local image host.
func newFetchTestHandler(t *testing.T) (*Handler, *fakegemini.Server, *imageHost) {
	t.Helper()
	up := fakegemini.New()
	t.Cleanup(up.Close)
	up.SetDefault(fakegemini.OK)
	s := settings.Defaults()
	s.BaseURL = up.URL
	s.CheckInterval = 0
	s.AllowedTokens = []string{fetchTestToken}
	b, err := balancer.Open(balancer.Config{Name: "fetch", Keys: []string{"AIzaSyFETCH00000000000000000000000000000"}, Settings: s}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	images := newImageHost(t)
	return &Handler{Balancer: b, ImageFetchClient: images.Client()}, up, images
}

// chatWithImages posts a chat request whose one user message holds a text
// part and an image_url part for each URL.
func chatWithImages(t *testing.T, h *Handler, stream bool, urls ...string) (int, map[string]any) {
	t.Helper()
	content := []any{map[string]any{"type": "text", "text": "describe"}}
	for _, u := range urls {
		content = append(content, map[string]any{"type": "image_url", "image_url": map[string]any{"url": u}})
	}
	body, _ := json.Marshal(map[string]any{
		"model": "gemini-2.5-flash", "stream": stream,
		"messages": []any{map[string]any{"role": "user", "content": content}},
	})
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+fetchTestToken)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	if !h.Serve(rec, req) {
		t.Fatal("route not served")
	}
	var out map[string]any
	if rec.Code != http.StatusOK || !stream {
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatalf("status %d, body not JSON: %v\n%.500s", rec.Code, err, rec.Body.String())
		}
	}
	return rec.Code, out
}

func errorOf(out map[string]any) (message, param string) {
	e, _ := out["error"].(map[string]any)
	message, _ = e["message"].(string)
	param, _ = e["param"].(string)
	return message, param
}

func imageURLs(base string, n int, query string) []string {
	urls := make([]string, n)
	for i := range urls {
		urls[i] = fmt.Sprintf("%s/img/%d.png?%s", base, i, query)
	}
	return urls
}

// Sixteen image URLs are fetched and sent upstream inline; the budget is per
// request, so the next request may fetch sixteen again.
func TestChatFetchesUpToSixteenImageURLs(t *testing.T) {
	h, up, images := newFetchTestHandler(t)
	for round := 1; round <= 2; round++ {
		code, out := chatWithImages(t, h, false, imageURLs(images.URL, maxFetchedImages, "size=100")...)
		if code != http.StatusOK {
			t.Fatalf("round %d: status %d: %v", round, code, out)
		}
	}
	if n := images.hits.Load(); n != 2*maxFetchedImages {
		t.Errorf("image host hit %d times, want %d", n, 2*maxFetchedImages)
	}
	reqs := up.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d upstream requests, want 2", len(reqs))
	}
	if n := bytes.Count(reqs[0].Body, []byte(`"inlineData"`)); n != maxFetchedImages {
		t.Errorf("upstream got %d inline images, want %d", n, maxFetchedImages)
	}
}

// The seventeenth image URL fails the request with a 400 naming the limit,
// before anything is sent upstream; streaming or not.
func TestChatSeventeenthImageURLRefused(t *testing.T) {
	for _, stream := range []bool{false, true} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			h, up, images := newFetchTestHandler(t)
			code, out := chatWithImages(t, h, stream, imageURLs(images.URL, maxFetchedImages+1, "size=100")...)
			msg, param := errorOf(out)
			if code != http.StatusBadRequest || !strings.Contains(msg, "a request may fetch at most 16 image URLs") {
				t.Fatalf("status %d, message %q", code, msg)
			}
			if param != "messages[0].content[17].image_url.url" {
				t.Errorf("param %q", param)
			}
			if n := images.hits.Load(); n != maxFetchedImages {
				t.Errorf("image host hit %d times, want %d (the 17th URL must not be fetched)", n, maxFetchedImages)
			}
			if n := len(up.Requests()); n != 0 {
				t.Errorf("%d upstream requests, want none", n)
			}
		})
	}
}

// Images of 20 MiB each pass one by one, but the fourth would bring the
// request past 64 MiB: 400 naming the total, nothing sent upstream. With a
// Content-Length the fourth is refused before its body is read; without
// one, when the read passes the budget.
func TestChatImagesOverTotalBudgetRefused(t *testing.T) {
	for _, query := range []string{"size=%d", "size=%d&chunked"} {
		t.Run(query, func(t *testing.T) {
			h, up, images := newFetchTestHandler(t)
			code, out := chatWithImages(t, h, false, imageURLs(images.URL, 4, fmt.Sprintf(query, maxFetchedImage))...)
			msg, param := errorOf(out)
			if code != http.StatusBadRequest || !strings.Contains(msg, "a request may fetch at most 64 MiB of images in total") {
				t.Fatalf("status %d, message %q", code, msg)
			}
			if param != "messages[0].content[4].image_url.url" {
				t.Errorf("param %q", param)
			}
			if n := images.hits.Load(); n != 4 {
				t.Errorf("image host hit %d times, want 4", n)
			}
			if n := len(up.Requests()); n != 0 {
				t.Errorf("%d upstream requests, want none", n)
			}
		})
	}
}

func TestChatImageOverPerImageCapRefused(t *testing.T) {
	h, up, images := newFetchTestHandler(t)
	code, out := chatWithImages(t, h, false, imageURLs(images.URL, 1, fmt.Sprintf("size=%d&chunked", maxFetchedImage+1))...)
	if msg, _ := errorOf(out); code != http.StatusBadRequest || !strings.Contains(msg, "image is larger than 20 MiB") {
		t.Fatalf("status %d, message %q", code, msg)
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("%d upstream requests, want none", n)
	}
}

// Without the test hook the shared guarded client is used: an image URL on
// a loopback address (by number or by name) is refused at dial time.
func TestChatImageURLOnLoopbackRefused(t *testing.T) {
	h, up, images := newFetchTestHandler(t)
	h.ImageFetchClient = nil
	port := images.Listener.Addr().(*net.TCPAddr).Port
	for _, u := range []string{images.URL + "/img/0.png", fmt.Sprintf("http://localhost:%d/img/0.png", port)} {
		code, out := chatWithImages(t, h, false, u)
		if msg, _ := errorOf(out); code != http.StatusBadRequest || !strings.Contains(msg, "not public") {
			t.Errorf("%s: status %d, message %q", u, code, msg)
		}
	}
	if n := images.hits.Load(); n != 0 {
		t.Errorf("image host hit %d times", n)
	}
	if n := len(up.Requests()); n != 0 {
		t.Errorf("%d upstream requests, want none", n)
	}
	if imageClient.Transport.(*http.Transport).Proxy != nil {
		t.Error("the shared image client uses a proxy")
	}
}
