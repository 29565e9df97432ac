package openai

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestDecodeImages(t *testing.T) {
	for _, tc := range []struct {
		name   string
		body   string
		prompt string
		n      int
		ratio  string
		format string
		param  string
		errMsg string
	}{
		{name: "minimal", body: `{"prompt":"a cat"}`, prompt: "a cat", n: 1, ratio: "1:1"},
		{name: "dall-e-3 wide", body: `{"model":"dall-e-3","prompt":"a cat","n":1,"size":"1792x1024","quality":"hd","style":"vivid","response_format":"b64_json"}`, prompt: "a cat", n: 1, ratio: "16:9", format: "b64_json"},
		{name: "tall", body: `{"prompt":"p","size":"1024x1792","n":4}`, prompt: "p", n: 4, ratio: "9:16"},
		{name: "gpt-image landscape", body: `{"prompt":"p","size":"1536x1024"}`, prompt: "p", n: 1, ratio: "4:3"},
		{name: "gpt-image portrait", body: `{"prompt":"p","size":"1024x1536"}`, prompt: "p", n: 1, ratio: "3:4"},
		{name: "auto", body: `{"prompt":"p","size":"auto"}`, prompt: "p", n: 1, ratio: "1:1"},
		{name: "url", body: `{"prompt":"p","response_format":"url"}`, prompt: "p", n: 1, ratio: "1:1", format: "url"},
		{name: "n null", body: `{"prompt":"p","n":null}`, prompt: "p", n: 1, ratio: "1:1"},
		{name: "directives", body: `{"prompt":"a fox {n:3} in snow {ratio:16:9}","size":"1024x1024"}`, prompt: "a fox  in snow", n: 3, ratio: "16:9"},
		{name: "directive beats n", body: `{"prompt":"{n: 2}fox","n":9}`, prompt: "fox", n: 2, ratio: "1:1"},
		{name: "no prompt", body: `{"n":1}`, param: "prompt", errMsg: "prompt is required"},
		{name: "blank prompt", body: `{"prompt":"   "}`, param: "prompt", errMsg: "prompt is required"},
		{name: "only directives", body: `{"prompt":"{n:2}"}`, param: "prompt", errMsg: "prompt is required"},
		{name: "n zero", body: `{"prompt":"p","n":0}`, param: "n", errMsg: "between 1 and 4"},
		{name: "n too big", body: `{"prompt":"p","n":10}`, param: "n", errMsg: "between 1 and 4"},
		{name: "n negative", body: `{"prompt":"p","n":-1}`, param: "n", errMsg: "between 1 and 4"},
		{name: "n string", body: `{"prompt":"p","n":"2"}`, param: "n", errMsg: "integer"},
		{name: "directive n bad", body: `{"prompt":"p {n:7}"}`, param: "prompt", errMsg: "1 to 4"},
		{name: "directive ratio bad", body: `{"prompt":"p {ratio:5:4}"}`, param: "prompt", errMsg: "not one of Imagen's ratios"},
		{name: "size bad", body: `{"prompt":"p","size":"large"}`, param: "size", errMsg: "invalid size"},
		{name: "size zero", body: `{"prompt":"p","size":"0x1024"}`, param: "size", errMsg: "invalid size"},
		{name: "format bad", body: `{"prompt":"p","response_format":"png"}`, param: "response_format", errMsg: `"b64_json" or "url"`},
		{name: "prompt type", body: `{"prompt":["p"]}`, param: "prompt", errMsg: "want a string"},
		{name: "not json", body: `prompt=p`, param: "", errMsg: "JSON object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := DecodeImages([]byte(tc.body))
			if tc.errMsg != "" {
				wantRequestError(t, err, tc.param, tc.errMsg)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Prompt != tc.prompt || r.Count() != tc.n || r.AspectRatio != tc.ratio || r.ResponseFormat != tc.format {
				t.Errorf("got prompt %q n %d ratio %q format %q", r.Prompt, r.Count(), r.AspectRatio, r.ResponseFormat)
			}
		})
	}
}

func TestAspectRatio(t *testing.T) {
	for _, tc := range []struct{ size, want string }{
		{"", "1:1"},
		{"auto", "1:1"},
		{"256x256", "1:1"},
		{"512x512", "1:1"},
		{"1024x1024", "1:1"},
		{"1792x1024", "16:9"},
		{"1024x1792", "9:16"},
		{"1536x1024", "4:3"},
		{"1024x1536", "3:4"},
		{"1920x1080", "16:9"},
		{"1080x1920", "9:16"},
		{"1100x1000", "1:1"},
		{"1200x1000", "4:3"},
		{"1300x1000", "4:3"},
		{"3000x1000", "16:9"},
		{"1000x3000", "9:16"},
		{" 1024 X 768 ", "4:3"},
		{"1024*768", "4:3"},
		{"16:9", "16:9"},
		{"3:4", "3:4"},
	} {
		got, err := AspectRatio(tc.size)
		if err != nil || got != tc.want {
			t.Errorf("AspectRatio(%q) = %q, %v; want %q", tc.size, got, err, tc.want)
		}
	}
	for _, bad := range []string{"big", "1024", "x1024", "1024x", "-1x5", "1024x0", "axb", "5:4", "1024x1024x3"} {
		_, err := AspectRatio(bad)
		wantRequestError(t, err, "size", "invalid size")
	}
}

func TestImagesModel(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "imagen-4.0-generate-001"},
		{"dall-e-3", "imagen-4.0-generate-001"},
		{"gpt-image-1", "imagen-4.0-generate-001"},
		{"imagen-3.0-generate-002", "imagen-3.0-generate-002"},
		{"models/imagen-4.0-ultra-generate-001", "imagen-4.0-ultra-generate-001"},
	} {
		if got := ImagesModel(tc.in, "models/imagen-4.0-generate-001"); got != tc.want {
			t.Errorf("ImagesModel(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestImagesToGemini(t *testing.T) {
	for _, tc := range []struct {
		r    *ImagesRequest
		want string
	}{
		{&ImagesRequest{Prompt: "a cat"},
			`{"instances":[{"prompt":"a cat"}],"parameters":{"sampleCount":1,"aspectRatio":"1:1","includeRaiReason":true}}`},
		{&ImagesRequest{Prompt: `cat & "dog" <3`, N: intp(3), Size: "1792x1024"},
			`{"instances":[{"prompt":"cat & \"dog\" <3"}],"parameters":{"sampleCount":3,"aspectRatio":"16:9","includeRaiReason":true}}`},
		{&ImagesRequest{Prompt: "p", N: intp(2), Size: "1792x1024", AspectRatio: "3:4"},
			`{"instances":[{"prompt":"p"}],"parameters":{"sampleCount":2,"aspectRatio":"3:4","includeRaiReason":true}}`},
		// Not through DecodeImages: out-of-range values are kept in range.
		{&ImagesRequest{Prompt: "p", N: intp(9), Size: "junk"},
			`{"instances":[{"prompt":"p"}],"parameters":{"sampleCount":4,"aspectRatio":"1:1","includeRaiReason":true}}`},
	} {
		if got := string(ImagesToGemini(tc.r)); got != tc.want {
			t.Errorf("\n got %s\nwant %s", got, tc.want)
		}
	}
	r, err := DecodeImages([]byte(`{"prompt":"a red fox","n":2,"size":"1024x1792"}`))
	if err != nil {
		t.Fatal(err)
	}
	want := `{"instances":[{"prompt":"a red fox"}],"parameters":{"sampleCount":2,"aspectRatio":"9:16","includeRaiReason":true}}`
	if got := string(ImagesToGemini(r)); got != want {
		t.Errorf("decoded request\n got %s\nwant %s", got, want)
	}
}

const tinyPNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

type oaImages struct {
	Created int64 `json:"created"`
	Data    []struct {
		B64JSON       string `json:"b64_json"`
		URL           string `json:"url"`
		RevisedPrompt string `json:"revised_prompt"`
	} `json:"data"`
}

func decodeOAImages(t *testing.T, b []byte) oaImages {
	t.Helper()
	var o oaImages
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return o
}

func TestImagesFromGemini(t *testing.T) {
	two := `{"predictions":[{"bytesBase64Encoded":"` + tinyPNG + `","mimeType":"image/png"},{"bytesBase64Encoded":"/9j/4AAQ","mimeType":"image/jpeg","prompt":"a cat, photorealistic"}]}`
	b, err := ImagesFromGemini([]byte(two), 1700000000)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"created":1700000000,"data":[{"b64_json":"` + tinyPNG + `"},{"b64_json":"/9j/4AAQ","revised_prompt":"a cat, photorealistic"}]}`
	if string(b) != want {
		t.Errorf("\n got %s\nwant %s", b, want)
	}
	decodeOAImages(t, b)

	b, err = ImagesFromGeminiAs([]byte(two), 7, "url")
	if err != nil {
		t.Fatal(err)
	}
	o := decodeOAImages(t, b)
	if len(o.Data) != 2 || o.Created != 7 ||
		o.Data[0].URL != "data:image/png;base64,"+tinyPNG || o.Data[0].B64JSON != "" ||
		o.Data[1].URL != "data:image/jpeg;base64,/9j/4AAQ" {
		t.Errorf("url answer %s", b)
	}

	// Partly filtered: the images that are left; no mimeType means PNG.
	partial := `{"predictions":[{"raiFilteredReason":"filtered for violence"},{"bytesBase64Encoded":"` + tinyPNG + `"}]}`
	b, err = ImagesFromGeminiAs([]byte(partial), 1, "url")
	if err != nil {
		t.Fatal(err)
	}
	if o := decodeOAImages(t, b); len(o.Data) != 1 || o.Data[0].URL != "data:image/png;base64,"+tinyPNG {
		t.Errorf("partial answer %s", b)
	}
}

func TestImagesFromGeminiErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body, contains string
		upstream             bool
	}{
		{"all filtered, no reason", `{}`, "blocked by its safety filters", false},
		{"empty predictions", `{"predictions":[]}`, "blocked by its safety filters", false},
		{"filtered with reasons", `{"predictions":[{"raiFilteredReason":"Your current safety filter threshold filtered out 2 generated images."},{"raiFilteredReason":"Your current safety filter threshold filtered out 2 generated images."}]}`, "safety filters: Your current safety filter threshold filtered out 2 generated images.", false},
		{"not json", `<html>`, "not valid JSON", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ImagesFromGemini([]byte(tc.body), 1)
			if tc.upstream {
				wantUpstreamError(t, err, tc.contains)
				return
			}
			wantRequestError(t, err, "prompt", tc.contains)
			re := err.(*RequestError)
			if re.Code != "content_policy_violation" {
				t.Errorf("code %q", re.Code)
			}
			if strings.Count(re.Message, "filtered out") > 1 {
				t.Errorf("reasons not deduplicated: %q", re.Message)
			}
			status, body := ErrorResponse(err)
			e := decodeOAError(t, body)
			if status != 400 || deref(e.Error.Code) != "content_policy_violation" {
				t.Errorf("status %d body %s", status, body)
			}
		})
	}
}
