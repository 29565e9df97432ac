package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/gemini-balance/gemini_balance/caddymodule"
	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
)

var storedLink = regexp.MustCompile(`!\[image\]\((http://localhost:\d+/gb-images/[0-9a-f]{32}\.png)\)`)

// imagesEnv is a pool with its image store in the test's folder.
func imagesEnv(t *testing.T, extra string) *env {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: []string{k("img1")}, extra: "image_models gemini-2.0-flash\n\t\timage_store " + filepath.Join(e.dir, "images") + "\n\t\t" + extra})
	return e
}

// get fetches a URL through the proxy (no token: image links need none).
func (e *env) get(url string) (int, http.Header, []byte) {
	e.t.Helper()
	resp, err := e.tester.Client.Get(url)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

// An -image answer links to the proxy's own store: the link serves the PNG
// with a long immutable cache; the next turn, carrying that markdown, sends
// the same bytes upstream as inlineData; response_format url and the Imagen
// chat alias link to the store too.
func TestImagesServedFromTheStore(t *testing.T) {
	e := imagesEnv(t, "")
	c := e.openai("/v1")
	ctx := context.Background()
	resp, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model:    "gemini-2.0-flash-image",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("draw a cat")},
	})
	if err != nil {
		t.Fatal(err)
	}
	content := resp.Choices[0].Message.Content
	m := storedLink.FindStringSubmatch(content)
	if m == nil || strings.Contains(content, "base64") {
		t.Fatalf("answer does not link to the store: %.300s", content)
	}
	status, hdr, png := e.get(m[1])
	want, _ := base64.StdEncoding.DecodeString(fakegemini.TinyPNG)
	if status != 200 || string(png) != string(want) || hdr.Get("Content-Type") != "image/png" ||
		!strings.Contains(hdr.Get("Cache-Control"), "immutable") || hdr.Get("ETag") == "" {
		t.Fatalf("image link: %d %v (%d bytes)", status, hdr, len(png))
	}

	// Streamed, the image event links to the store as well.
	stream := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
		Model:    "gemini-2.0-flash-image",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("draw a dog")},
	})
	var streamed strings.Builder
	for stream.Next() {
		for _, ch := range stream.Current().Choices {
			streamed.WriteString(ch.Delta.Content)
		}
	}
	if err := stream.Err(); err != nil || storedLink.FindString(streamed.String()) == "" || strings.Contains(streamed.String(), "base64") {
		t.Errorf("streamed image answer %v: %.300s", err, streamed.String())
	}

	// The next turn edits the image: it goes upstream as the image itself.
	_, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "gemini-2.0-flash-image",
		Messages: []openai.ChatCompletionMessageParamUnion{
			openai.UserMessage("draw a cat"),
			openai.AssistantMessage(content),
			openai.UserMessage("make it blue"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	var sent struct {
		Contents []struct {
			Role  string `json:"role"`
			Parts []struct {
				Text       string `json:"text"`
				InlineData *struct {
					MimeType string `json:"mimeType"`
					Data     string `json:"data"`
				} `json:"inlineData"`
			} `json:"parts"`
		} `json:"contents"`
	}
	reqs := e.up.Requests()
	_ = json.Unmarshal(reqs[len(reqs)-1].Body, &sent)
	found := false
	for _, c := range sent.Contents {
		for _, p := range c.Parts {
			if p.InlineData != nil && c.Role == "model" && p.InlineData.MimeType == "image/png" && p.InlineData.Data == fakegemini.TinyPNG {
				found = true
			}
			if strings.Contains(p.Text, "/gb-images/") {
				t.Errorf("the link went upstream as text: %q", p.Text)
			}
		}
	}
	if !found {
		t.Errorf("the stored image did not go upstream as inlineData: %s", reqs[len(reqs)-1].Body)
	}

	// /v1/images/generations with response_format url.
	img, err := c.Images.Generate(ctx, openai.ImageGenerateParams{Prompt: "a dog", Model: "imagen-3.0-generate-002",
		N: openai.Int(2), ResponseFormat: openai.ImageGenerateParamsResponseFormatURL})
	if err != nil || len(img.Data) != 2 {
		t.Fatalf("images: %v %+v", err, img)
	}
	for _, d := range img.Data {
		if status, _, b := e.get(d.URL); status != 200 || len(b) == 0 || !strings.Contains(d.URL, "/gb-images/") {
			t.Errorf("image URL %s: %d", d.URL, status)
		}
	}

	// The Imagen chat alias.
	resp, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "imagen-3.0-generate-002-chat", N: openai.Int(2),
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("a red fox")},
	})
	if err != nil {
		t.Fatal(err)
	}
	links := storedLink.FindAllStringSubmatch(resp.Choices[0].Message.Content, -1)
	if len(links) != 2 {
		t.Fatalf("imagen chat answer %q", resp.Choices[0].Message.Content)
	}
	last := e.up.Requests()[len(e.up.Requests())-1]
	if !strings.HasSuffix(last.Path, "/models/imagen-3.0-generate-002:predict") || !strings.Contains(string(last.Body), "a red fox") {
		t.Errorf("imagen chat sent %s %s", last.Path, last.Body)
	}
	count, bytes := e.balancer().Images().Usage()
	if count != 7 || bytes == 0 { // three chat answers, two generations, two Imagen chat images
		t.Errorf("store holds %d images, %d bytes; want 7", count, bytes)
	}
}

// Only well-formed names of stored images are served: traversal attempts,
// listings and unknown ids are 404, and nothing outside the store is read.
func TestImagePathRefusesTraversal(t *testing.T) {
	e := imagesEnv(t, "")
	secret := filepath.Join(e.dir, "pool.db")
	if _, err := os.Stat(secret); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{
		"/gb-images/", "/gb-images/../pool.db", "/gb-images/..%2fpool.db", "/gb-images/%2e%2e/pool.db",
		"/gb-images/00000000000000000000000000000000.png", "/gb-images/abc.png", "/gb-images/images",
		"/gb-images/" + strings.Repeat("a", 32) + ".png/", "/gb-images/" + strings.Repeat("A", 32) + ".png",
	} {
		req, _ := http.NewRequest("GET", baseURL+"/", nil)
		req.URL.Opaque = p // sent as written, not cleaned by the client
		resp, err := e.tester.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 404 && resp.StatusCode != 400 {
			t.Errorf("%s: %d %s", p, resp.StatusCode, b)
		}
		if strings.Contains(string(b), "SQLite") {
			t.Errorf("%s served the database", p)
		}
	}
}

// Retention and the size limit are enforced: an expired link answers 404 and
// a later turn naming it gets a 400 that says it expired; a full store drops
// its oldest image.
func TestImageRetentionAndSize(t *testing.T) {
	e := imagesEnv(t, "image_retention 1m\n\t\timage_store_max_size 1048576")
	st := e.balancer().Images()
	old, ok := e.balancer().StoreImage("image/png", fakegemini.TinyPNG, "m", "…tok")
	if !ok {
		t.Fatal("cannot store")
	}
	url := baseURL + "/gb-images/" + old.Name()
	if status, _, _ := e.get(url); status != 200 {
		t.Fatalf("fresh image: %d", status)
	}
	// Age the image past the retention by rewriting its metadata's time.
	meta := filepath.Join(e.dir, "images", old.ID+".json")
	raw, err := os.ReadFile(meta)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	_ = json.Unmarshal(raw, &m)
	m["created"] = time.Now().Add(-2 * time.Minute).Format(time.RFC3339Nano)
	raw, _ = json.Marshal(m)
	_ = os.WriteFile(meta, raw, 0o600)
	// Reopen the store (a reload with another directory and back would do;
	// here the pool is restarted by a config without it and with it).
	e.start(poolOpts{keys: []string{k("img1")}, extra: "image_store off"})
	e.start(poolOpts{keys: []string{k("img1")}, extra: "image_store " + filepath.Join(e.dir, "images") + "\n\t\timage_retention 1m\n\t\timage_store_max_size 1048576"})
	if status, _, _ := e.get(url); status != 404 {
		t.Errorf("expired image: %d", status)
	}
	body := fmt.Sprintf(`{"model":"gemini-2.5-flash","messages":[{"role":"assistant","content":"![image](%s)"},{"role":"user","content":"again"}]}`, url)
	status, _, answer := e.do("POST", "/v1/chat/completions", body, "Authorization", "Bearer "+clientToken)
	if status != 400 || !strings.Contains(answer, "expired") {
		t.Errorf("a turn naming an expired image: %d %s", status, answer)
	}

	// Size: a store of 1 MiB keeps the newest images.
	big := make([]byte, 400<<10)
	copy(big, []byte("\x89PNG\r\n\x1a\n"))
	b64 := base64.StdEncoding.EncodeToString(big)
	var names []string
	for i := 0; i < 4; i++ {
		m, ok := e.balancer().StoreImage("image/png", b64, "m", "…tok")
		if !ok {
			t.Fatal("cannot store")
		}
		names = append(names, m.Name())
	}
	st = e.balancer().Images()
	if _, bytes := st.Usage(); bytes > 1<<20 {
		t.Errorf("store holds %d bytes, over its 1 MiB limit", bytes)
	}
	if status, _, _ := e.get(baseURL + "/gb-images/" + names[0]); status != 404 {
		t.Errorf("the oldest image is still served: %d", status)
	}
	if status, _, _ := e.get(baseURL + "/gb-images/" + names[3]); status != 200 {
		t.Errorf("the newest image is gone: %d", status)
	}
	_ = caddymodule.LookupPool
}

// image_store off keeps today's answers: images inline as data: URLs, and
// no image path is served.
func TestImageStoreOff(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: []string{k("img-off")}, extra: "image_models gemini-2.0-flash\n\t\timage_store off"})
	c := e.openai("/v1")
	resp, err := c.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model:    "gemini-2.0-flash-image",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("draw")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Choices[0].Message.Content; !strings.Contains(got, "![image](data:image/png;base64,"+fakegemini.TinyPNG+")") {
		t.Errorf("answer %.300s", got)
	}
	if e.balancer().Images() != nil {
		t.Error("a store is open")
	}
	if status, _, body := e.do("GET", "/gb-images/"+strings.Repeat("a", 32)+".png", ""); status != 200 || body != "next handler" {
		t.Errorf("with the store off the image path falls through: %d %q", status, body)
	}
}

// The Imagen chat alias calls Imagen with paid_key when one is set, not
// with the pool's keys.
func TestImagenChatUsesPaidKey(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	paid := k("img-paid")
	e.start(poolOpts{keys: []string{k("img-pool")}, extra: "paid_key " + paid + "\n\t\timage_store " + filepath.Join(e.dir, "images")})
	status, _, body := e.do("POST", "/v1/chat/completions", `{"model":"imagen-3.0-generate-002-chat","messages":[{"role":"user","content":"a boat"}],"size":"1792x1024"}`,
		"Authorization", "Bearer "+clientToken)
	if status != 200 || storedLink.FindString(body) == "" {
		t.Fatalf("imagen chat: %d %.300s", status, body)
	}
	last := e.up.Requests()[len(e.up.Requests())-1]
	if last.Key != paid || !strings.Contains(string(last.Body), `"aspectRatio":"16:9"`) {
		t.Errorf("Imagen got key …%s and %s", last.Key[len(last.Key)-4:], last.Body)
	}
}
