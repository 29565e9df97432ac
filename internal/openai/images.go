package openai

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
)

// MaxImages is the most images one Imagen :predict call makes (sampleCount
// 1..4).
const MaxImages = 4

// ImagenAspectRatios are the aspect ratios Imagen accepts.
var ImagenAspectRatios = []string{"1:1", "3:4", "4:3", "9:16", "16:9"}

// ImagesRequest is the body of POST /v1/images/generations.
type ImagesRequest struct {
	Model          string `json:"model,omitempty"`
	Prompt         string `json:"prompt"`
	N              *int   `json:"n,omitempty"`
	Size           string `json:"size,omitempty"`
	ResponseFormat string `json:"response_format,omitempty"` // "b64_json" (default here) or "url" (a link to the image store, or a data: URL without one)
	Quality        string `json:"quality,omitempty"`         // accepted, no Imagen counterpart
	Style          string `json:"style,omitempty"`           // accepted, no Imagen counterpart
	User           string `json:"user,omitempty"`

	// AspectRatio is the Imagen ratio DecodeImages chose, from size or from
	// a {ratio:W:H} directive in the prompt. Not part of OpenAI's request.
	AspectRatio string `json:"-"`
}

// Count is the number of images asked for: N, or 1 when absent.
func (r *ImagesRequest) Count() int {
	if r.N == nil {
		return 1
	}
	return *r.N
}

var (
	promptCount = regexp.MustCompile(`\{n:\s*(\d+)\s*\}`)
	promptRatio = regexp.MustCompile(`\{ratio:\s*(\d+)\s*:\s*(\d+)\s*\}`)
)

// DecodeImages parses and checks an image generation request. prompt is
// required; n must be 1..MaxImages (absent means 1); size may be any "WxH"
// (mapped to the nearest Imagen ratio, see AspectRatio), "auto" or absent
// (1:1); response_format is "b64_json", "url" (a link to the image store,
// or a data: URL when there is none)
// or absent (b64_json). gemini-balance's prompt directives {n:N} and
// {ratio:W:H} override n and size and are removed from the prompt. Every
// error is a *RequestError.
func DecodeImages(body []byte) (*ImagesRequest, error) {
	var r ImagesRequest
	if err := decodeRequest(body, &r); err != nil {
		return nil, err
	}
	if m := promptCount.FindStringSubmatch(r.Prompt); m != nil {
		n, err := strconv.Atoi(m[1])
		if err != nil || n < 1 || n > MaxImages {
			return nil, &RequestError{Param: "prompt", Message: fmt.Sprintf("the {n:%s} directive must ask for 1 to %d images", m[1], MaxImages)}
		}
		r.N = &n
		r.Prompt = promptCount.ReplaceAllString(r.Prompt, "")
	}
	if m := promptRatio.FindStringSubmatch(r.Prompt); m != nil {
		ratio := m[1] + ":" + m[2]
		if !isImagenRatio(ratio) {
			return nil, &RequestError{Param: "prompt", Message: fmt.Sprintf("the {ratio:%s} directive is not one of Imagen's ratios %s", ratio, strings.Join(ImagenAspectRatios, ", "))}
		}
		r.AspectRatio = ratio
		r.Prompt = promptRatio.ReplaceAllString(r.Prompt, "")
	}
	r.Prompt = strings.TrimSpace(r.Prompt)
	if r.Prompt == "" {
		return nil, &RequestError{Param: "prompt", Message: "prompt is required"}
	}
	if n := r.Count(); n < 1 || n > MaxImages {
		return nil, &RequestError{Param: "n", Message: fmt.Sprintf("n must be between 1 and %d (Imagen makes at most %d images per request)", MaxImages, MaxImages)}
	}
	if r.AspectRatio == "" {
		ratio, err := AspectRatio(r.Size)
		if err != nil {
			return nil, err
		}
		r.AspectRatio = ratio
	}
	switch r.ResponseFormat {
	case "", "b64_json", "url":
	default:
		return nil, &RequestError{Param: "response_format", Message: fmt.Sprintf("unsupported response_format %q: use \"b64_json\" or \"url\"", r.ResponseFormat)}
	}
	return &r, nil
}

func isImagenRatio(s string) bool {
	for _, r := range ImagenAspectRatios {
		if r == s {
			return true
		}
	}
	return false
}

// AspectRatio maps an OpenAI size to the Imagen aspect ratio nearest to it
// (by the logarithm of width/height): 1024x1024 → 1:1, 1792x1024 → 16:9,
// 1024x1792 → 9:16, 1536x1024 → 4:3, 1024x1536 → 3:4. "", "auto" and any
// square size give 1:1; an Imagen ratio written "W:H" is taken as is.
// Anything else is a *RequestError naming "size".
func AspectRatio(size string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(size))
	if s == "" || s == "auto" {
		return "1:1", nil
	}
	if isImagenRatio(s) {
		return s, nil
	}
	ws, hs, ok := strings.Cut(s, "x")
	if !ok {
		ws, hs, ok = strings.Cut(s, "*")
	}
	w, errW := strconv.Atoi(strings.TrimSpace(ws))
	h, errH := strconv.Atoi(strings.TrimSpace(hs))
	if !ok || errW != nil || errH != nil || w <= 0 || h <= 0 {
		return "", &RequestError{Param: "size", Message: fmt.Sprintf("invalid size %q: use WIDTHxHEIGHT, e.g. 1024x1024, 1792x1024 or 1024x1792", size)}
	}
	want := math.Log(float64(w) / float64(h))
	best, bestDist := "1:1", math.Inf(1)
	for _, r := range ImagenAspectRatios {
		a, b, _ := strings.Cut(r, ":")
		rw, _ := strconv.Atoi(a)
		rh, _ := strconv.Atoi(b)
		if d := math.Abs(want - math.Log(float64(rw)/float64(rh))); d < bestDist {
			best, bestDist = r, d
		}
	}
	return best, nil
}

// ImagesModel is the Imagen model for a requested image model: a name
// starting with "imagen-" is used as asked (without "models/"); anything
// else (dall-e-3, gpt-image-1, empty) becomes def.
func ImagesModel(requested, def string) string {
	if m := ModelID(requested); strings.HasPrefix(m, "imagen-") {
		return m
	}
	return ModelID(def)
}

type imagenInstance struct {
	Prompt string `json:"prompt"`
}

type imagenParameters struct {
	SampleCount      int    `json:"sampleCount"`
	AspectRatio      string `json:"aspectRatio"`
	IncludeRaiReason bool   `json:"includeRaiReason"`
}

// ImagesToGemini is the Imagen :predict body for r:
//
//	{"instances":[{"prompt":"..."}],"parameters":{"sampleCount":N,"aspectRatio":"16:9","includeRaiReason":true}}
//
// sampleCount is always sent (Imagen's own default is 4, OpenAI's is 1);
// includeRaiReason makes Imagen say why it filtered an image. The model goes
// in the URL, not the body.
func ImagesToGemini(r *ImagesRequest) []byte {
	ratio := r.AspectRatio
	if ratio == "" {
		var err error
		if ratio, err = AspectRatio(r.Size); err != nil {
			ratio = "1:1"
		}
	}
	n := r.Count()
	if n < 1 {
		n = 1
	}
	if n > MaxImages {
		n = MaxImages
	}
	return marshal(struct {
		Instances  []imagenInstance `json:"instances"`
		Parameters imagenParameters `json:"parameters"`
	}{
		Instances:  []imagenInstance{{Prompt: r.Prompt}},
		Parameters: imagenParameters{SampleCount: n, AspectRatio: ratio, IncludeRaiReason: true},
	})
}

type imageData struct {
	B64JSON       string `json:"b64_json,omitempty"`
	URL           string `json:"url,omitempty"`
	RevisedPrompt string `json:"revised_prompt,omitempty"`
}

type imagesResponse struct {
	Created int64       `json:"created"`
	Data    []imageData `json:"data"`
}

// ImagesFromGemini converts an Imagen :predict answer to OpenAI's images
// answer with b64_json data: {"created":<created>,"data":[{"b64_json":"..."}]}.
// It is ImagesFromGeminiAs with format "b64_json".
func ImagesFromGemini(body []byte, created int64) ([]byte, error) {
	return ImagesFromGeminiAs(body, created, "b64_json")
}

// ImagesFromGeminiAs converts an Imagen :predict answer
// {"predictions":[{"bytesBase64Encoded","mimeType"}, ...]} to OpenAI's images
// answer. format "url" puts a data: URL (data:image/png;base64,...) in each
// entry's url; anything else puts the base64 in b64_json. An enhanced prompt
// Imagen reports becomes revised_prompt. Predictions Imagen filtered are
// skipped; when none is left the error is a *RequestError with code
// "content_policy_violation" carrying Imagen's reason, as OpenAI answers a
// refused prompt. An answer that is not JSON is an *UpstreamError.
func ImagesFromGeminiAs(body []byte, created int64, format string) ([]byte, error) {
	return ImagesFromGeminiWith(body, created, format, nil)
}

// ImagesFromGeminiWith is ImagesFromGeminiAs where, for format "url", store
// (when set) keeps each image (MIME type, base64) and returns its URL; ""
// keeps the data: URL.
func ImagesFromGeminiWith(body []byte, created int64, format string, store func(mime, b64 string) string) ([]byte, error) {
	data, err := imagesFromGemini(body, format, store)
	if err != nil {
		return nil, err
	}
	return marshal(imagesResponse{Created: created, Data: data}), nil
}

// ImageURLsFromGemini is the URL of each image of an Imagen :predict
// answer, as ImagesFromGeminiWith gives them for format "url".
func ImageURLsFromGemini(body []byte, store func(mime, b64 string) string) ([]string, error) {
	data, err := imagesFromGemini(body, "url", store)
	if err != nil {
		return nil, err
	}
	urls := make([]string, len(data))
	for i, d := range data {
		urls[i] = d.URL
	}
	return urls, nil
}

// imagesFromGemini reads the images of an Imagen :predict answer (see
// ImagesFromGeminiAs).
func imagesFromGemini(body []byte, format string, store func(mime, b64 string) string) ([]imageData, error) {
	var resp struct {
		Predictions []struct {
			BytesBase64Encoded string `json:"bytesBase64Encoded"`
			MimeType           string `json:"mimeType"`
			RaiFilteredReason  string `json:"raiFilteredReason"`
			Prompt             string `json:"prompt"`
		} `json:"predictions"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, &UpstreamError{Message: "the Imagen answer is not valid JSON: " + err.Error()}
	}
	var data []imageData
	var reasons []string
	for _, p := range resp.Predictions {
		if p.BytesBase64Encoded == "" {
			if p.RaiFilteredReason != "" {
				reasons = append(reasons, p.RaiFilteredReason)
			}
			continue
		}
		d := imageData{RevisedPrompt: p.Prompt}
		if format == "url" {
			mt := p.MimeType
			if mt == "" {
				mt = "image/png"
			}
			if store != nil {
				d.URL = store(mt, p.BytesBase64Encoded)
			}
			if d.URL == "" {
				d.URL = "data:" + mt + ";base64," + p.BytesBase64Encoded
			}
		} else {
			d.B64JSON = p.BytesBase64Encoded
		}
		data = append(data, d)
	}
	if len(data) == 0 {
		msg := "Imagen returned no image: the prompt or every generated image was blocked by its safety filters"
		if len(reasons) > 0 {
			msg += ": " + strings.Join(dedupe(reasons), "; ")
		}
		return nil, &RequestError{Param: "prompt", Message: msg, Code: "content_policy_violation"}
	}
	return data, nil
}

func dedupe(ss []string) []string {
	seen := make(map[string]bool, len(ss))
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

// decodeBase64 accepts standard and URL-safe base64, padded or not.
func decodeBase64(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, fmt.Errorf("not valid base64")
}
