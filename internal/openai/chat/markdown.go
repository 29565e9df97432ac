package chat

import (
	"encoding/base64"
	"errors"
	"regexp"
	"strings"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

// Images in chat text. Clients show an image the proxy answered as markdown
// (![image](url)) and send that markdown back in later turns, as text. To
// let a model edit the image it drew, a markdown image in a user or
// assistant message goes upstream as the image itself: a data: URL's bytes,
// or the bytes of an image this proxy stored (StoredImage). Other markdown
// images, and the text around them, stay text.

// StoredImage reads an image of the proxy's own image store by the URL a
// client sent back: ErrNotStored when url is not one of the store's, or
// another error (an expired image) that the request is refused with.
type StoredImage func(url string) (mime string, data []byte, err error)

// ErrNotStored says a URL is not the image store's.
var ErrNotStored = errors.New("not a stored image")

// markdownImage matches ![alt](url) with a url without spaces or ")".
var markdownImage = regexp.MustCompile(`!\[[^\]\n]*\]\(([^)\s]+)\)`)

// textWithImages splits a message's text into text and image parts; ok is
// false when there is no image to take out.
func (b *converter) textWithImages(text, at string) ([]gemini.RequestPart, bool, error) {
	if !strings.Contains(text, "![") {
		return nil, false, nil
	}
	matches := markdownImage.FindAllStringSubmatchIndex(text, -1)
	var out []gemini.RequestPart
	last := 0
	found := false
	for _, m := range matches {
		url := text[m[2]:m[3]]
		part, ok, err := b.markdownImagePart(url, at)
		if err != nil {
			return nil, false, err
		}
		if !ok {
			continue
		}
		found = true
		if t := strings.TrimSpace(text[last:m[0]]); t != "" {
			out = append(out, gemini.RequestPart{Text: t})
		}
		out = append(out, part)
		last = m[1]
	}
	if !found {
		return nil, false, nil
	}
	if t := strings.TrimSpace(text[last:]); t != "" {
		out = append(out, gemini.RequestPart{Text: t})
	}
	return out, true, nil
}

// markdownImagePart is the inline image a markdown image's url stands for:
// a base64 data: URL of an image, or an image of the store.
func (b *converter) markdownImagePart(url, at string) (gemini.RequestPart, bool, error) {
	if hasPrefixFold(url, "data:image/") {
		src, rerr := parseDataURL(url)
		if rerr != nil {
			return gemini.RequestPart{}, false, nil // not an image we can send: leave the text
		}
		return gemini.RequestPart{InlineData: &gemini.RequestBlob{MimeType: src.mime, Data: src.data}}, true, nil
	}
	if b.stored == nil {
		return gemini.RequestPart{}, false, nil
	}
	mime, data, err := b.stored(url)
	switch {
	case errors.Is(err, ErrNotStored):
		return gemini.RequestPart{}, false, nil
	case err != nil:
		return gemini.RequestPart{}, false, reqErr(at, "%v", err)
	}
	return gemini.RequestPart{InlineData: &gemini.RequestBlob{MimeType: mime, Data: base64.StdEncoding.EncodeToString(data)}}, true, nil
}
