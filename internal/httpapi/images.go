package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/clientinfo"
	"github.com/gemini-balance/gemini_balance/internal/imagestore"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/openai"
	"github.com/gemini-balance/gemini_balance/internal/openai/chat"
	"github.com/gemini-balance/gemini_balance/internal/upstream"
)

// DefaultImagePath is where the image store's images are served.
const DefaultImagePath = "/gb-images/"

// Generated images are kept in the pool's image store and linked by URL
// (ImagePath + "<id>.<ext>" on the host the client used): chat clients
// render a link, and a 1 MB image is no longer 1.4 MB of text in every
// later turn. The ids are 128 random bits, so the links need no token.

// serveImage answers GET {ImagePath}{id}.{ext} from the store: the image
// with its type, an ETag and a long immutable cache; 404 for anything else.
func (h *Handler) serveImage(w http.ResponseWriter, r *http.Request, name string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	st := h.Balancer.Images()
	if st == nil {
		http.NotFound(w, r)
		return
	}
	meta, f, err := st.Get(name)
	switch {
	case errors.Is(err, imagestore.ErrExpired):
		http.Error(w, "this image has expired", http.StatusNotFound)
		return
	case err != nil:
		http.NotFound(w, r)
		return
	}
	defer f.Close()
	left := st.Retention() - time.Since(meta.Created)
	hdr := w.Header()
	hdr.Set("Content-Type", meta.MIME)
	hdr.Set("Cache-Control", "public, max-age="+strconv.Itoa(int(math.Max(0, left.Seconds())))+", immutable")
	hdr.Set("ETag", `"`+meta.ID+`"`)
	hdr.Set("X-Content-Type-Options", "nosniff")
	http.ServeContent(w, r, meta.Name(), meta.Created, f)
}

// imageURL returns the function that stores an image of an answer and
// gives its URL on the host the client used (honouring trusted proxies);
// nil when the pool has no image store, so images stay inline.
func (h *Handler) imageURL(r *http.Request, model, token string) func(mime, b64 string) string {
	if h.Balancer.Images() == nil || h.ImagePath == "" {
		return nil
	}
	origin := clientinfo.Origin(r)
	return func(mime, b64 string) string {
		m, ok := h.Balancer.StoreImage(mime, b64, model, token)
		if !ok {
			return ""
		}
		return origin + h.ImagePath + m.Name()
	}
}

// storedImage returns the function that reads back, for the next turn, an
// image of this pool's store that a client's markdown links to: a URL on
// the host the client uses (or a path alone) under ImagePath.
func (h *Handler) storedImage(r *http.Request) chat.StoredImage {
	st := h.Balancer.Images()
	if st == nil || h.ImagePath == "" {
		return nil
	}
	host := clientinfo.Host(r)
	return func(raw string) (string, []byte, error) {
		u, err := url.Parse(raw)
		if err != nil || (u.Host != "" && !strings.EqualFold(u.Host, host)) {
			return "", nil, chat.ErrNotStored
		}
		name, ok := strings.CutPrefix(u.Path, h.ImagePath)
		if !ok || !imagestore.ValidName(name) {
			return "", nil, chat.ErrNotStored
		}
		meta, data, err := st.Read(name)
		switch {
		case errors.Is(err, imagestore.ErrExpired):
			return "", nil, fmt.Errorf("the image %s has expired: generated images are kept for %s; send the image again", shorten(raw), st.Retention())
		case err != nil:
			return "", nil, fmt.Errorf("the image %s is no longer in this server's image store: it has expired (images are kept for %s) or was deleted; send the image again", shorten(raw), st.Retention())
		}
		return meta.MIME, data, nil
	}
}

// imagenChatSuffix makes an Imagen model a chat model: <imagen model>-chat.
const imagenChatSuffix = "-chat"

// isImagenChat reports a chat completion on the Imagen chat alias.
func isImagenChat(model string) bool {
	m := strings.TrimPrefix(model, "models/")
	return strings.HasPrefix(m, "imagen-") && strings.HasSuffix(m, imagenChatSuffix)
}

// imagenChat answers a chat completion on <imagen model>-chat: the last user
// text is the prompt of an Imagen call (n and size as on
// /v1/images/generations), and the answer is the images as markdown links
// to the store (or data: URLs when the store is off).
func (h *Handler) imagenChat(w http.ResponseWriter, r *http.Request, token string, body []byte, req *chat.Request) {
	model := strings.TrimSuffix(strings.TrimPrefix(req.Model, "models/"), imagenChatSuffix)
	if !h.allowModel(w, model, req.Model) {
		return
	}
	prompt := ""
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if m := &req.Messages[i]; m.Role == "user" {
			prompt = strings.TrimSpace(lastUserText(m.Content))
			break
		}
	}
	var extra struct {
		Size string `json:"size"`
	}
	_ = json.Unmarshal(body, &extra)
	ireqBody, _ := json.Marshal(map[string]any{"model": model, "prompt": prompt, "n": req.N, "size": extra.Size})
	ireq, err := openai.DecodeImages(ireqBody)
	if err != nil {
		writeTranslated(w, nil, err)
		return
	}
	call := &balancer.Call{Route: "openai.imagenChat", Model: model, ClientToken: token, Request: upstream.Request{
		Method: http.MethodPost, Path: "/models/" + url.PathEscape(model) + ":predict",
		Body: openai.ImagesToGemini(ireq), Header: http.Header{"Content-Type": {"application/json"}},
	}}
	if paid := h.Balancer.Settings().Models.PaidKey; paid != "" {
		call.FixedKey = keypool.NewKey(paid, "paid_key")
	}
	raw, ok := h.doTranslated(w, r, call)
	if !ok {
		return
	}
	created := time.Now().Unix()
	urls, err := openai.ImageURLsFromGemini(raw, h.imageURL(r, model, token))
	if err != nil {
		writeTranslated(w, nil, err)
		return
	}
	md := make([]string, len(urls))
	for i, u := range urls {
		md[i] = "![image](" + u + ")"
	}
	content := strings.Join(md, "\n\n")
	id := "chatcmpl-" + randomHex(12)
	if !req.Stream {
		out, _ := json.Marshal(map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": content}, "finish_reason": "stop"}},
			"usage":   map[string]int{"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0},
		})
		writeJSON(w, http.StatusOK, out)
		return
	}
	chunk := func(delta map[string]any, finish any) []byte {
		b, _ := json.Marshal(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "finish_reason": finish}}})
		return b
	}
	sse := startSSE(w)
	_ = sse.data(chunk(map[string]any{"role": "assistant", "content": content}, nil), chunk(map[string]any{}, "stop"), []byte("[DONE]"))
}

// lastUserText is a user message's text parts joined.
func lastUserText(c chat.Content) string {
	if c.Parts == nil {
		return c.Text
	}
	var sb strings.Builder
	for _, p := range c.Parts {
		if p.Type == "text" {
			if sb.Len() > 0 {
				sb.WriteByte('\n')
			}
			sb.WriteString(p.Text)
		}
	}
	return sb.String()
}
