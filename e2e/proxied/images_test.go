package proxied

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// imageURL asks for one image with response_format url and returns the link.
func (s *server) imageURL(header ...string) string {
	s.t.Helper()
	req, _ := http.NewRequest("POST", siteURL+"/v1/images/generations",
		strings.NewReader(`{"model":"imagen-3.0-generate-002","prompt":"a cat","response_format":"url"}`))
	req.Header.Set("Authorization", "Bearer "+clientToken)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := s.client.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out struct {
		Data []struct {
			URL string `json:"url"`
		} `json:"data"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &out) != nil || len(out.Data) != 1 {
		s.t.Fatalf("images: %d %s", resp.StatusCode, b)
	}
	return out.Data[0].URL
}

// Image links use the scheme and host the client used: a trusted proxy's
// X-Forwarded-Proto and X-Forwarded-Host count, an untrusted peer's do not.
func TestImageLinksFollowTrustedProxies(t *testing.T) {
	forwarded := []string{"X-Forwarded-Proto", "https", "X-Forwarded-Host", "gb.example.com", "X-Forwarded-For", "203.0.113.9"}
	s := startServer(t, "images-trusted", trusted)
	if u := s.imageURL(forwarded...); !strings.HasPrefix(u, "https://gb.example.com/gb-images/") {
		t.Errorf("behind a trusted proxy the link is %s", u)
	}
	s.stop()
	s = startServer(t, "images-untrusted", untrusted)
	u := s.imageURL(forwarded...)
	if want := fmt.Sprintf("http://localhost:%d/gb-images/", httpPort); !strings.HasPrefix(u, want) {
		t.Errorf("from an untrusted peer the link is %s, want %s…", u, want)
	}
	// And it serves the image.
	resp, err := s.client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Errorf("GET %s: %d %s", u, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}
