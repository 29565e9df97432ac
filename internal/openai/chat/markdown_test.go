package chat

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

const tinyPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

// Markdown images in user and assistant text go upstream as images: a data:
// URL's bytes, or a stored image's; other links and the text around stay
// text; an image the store refuses (expired) fails the request with a 400.
func TestMarkdownImagesBecomeInlineData(t *testing.T) {
	stored := func(url string) (string, []byte, error) {
		switch {
		case strings.HasSuffix(url, "/gb-images/aaaa.png"):
			return "image/png", []byte("PNGDATA"), nil
		case strings.HasSuffix(url, "/gb-images/old.png"):
			return "", nil, errors.New("the image has expired")
		}
		return "", nil, ErrNotStored
	}
	body := `{"model":"m","messages":[
		{"role":"user","content":"draw"},
		{"role":"assistant","content":"Here: ![image](https://p.example/gb-images/aaaa.png) done"},
		{"role":"user","content":[{"type":"text","text":"and this ![x](data:image/png;base64,` + tinyPNG + `) but not ![y](https://other.example/cat.png)"}]}]}`
	req, err := DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	out, err := ToGeminiWith(context.Background(), req, "m", gemini.Features{}, nil, stored)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	for _, want := range []string{`"text":"Here:"`, `"inlineData":{"mimeType":"image/png","data":"UE5HREFUQQ=="}`, `"text":"done"`,
		`"inlineData":{"mimeType":"image/png","data":"` + tinyPNG + `"}`, `![y](https://other.example/cat.png)`} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %s in %s", want, s)
		}
	}
	if strings.Contains(s, "gb-images") {
		t.Errorf("a stored link went as text: %s", s)
	}

	req, _ = DecodeRequest([]byte(`{"model":"m","messages":[{"role":"user","content":"edit ![i](https://p.example/gb-images/old.png)"}]}`))
	_, err = ToGeminiWith(context.Background(), req, "m", gemini.Features{}, nil, stored)
	var re *RequestError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "expired") {
		t.Errorf("an expired image: %v", err)
	}
}
