package fakegemini

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/genai"
)

// Vertex AI express mode: the official SDK, with an API key and the Vertex
// backend, reaches {root}/v1/publishers/google/models/{m}:{verb} with the
// key in x-goog-api-key; the stand-in answers like the Gemini API.
func TestVertexExpressPaths(t *testing.T) {
	s := New()
	defer s.Close()
	s.SetKey("vertex-good", OK)
	s.SetKey("vertex-limited", RateLimited)

	newClient := func(key string) *genai.Client {
		c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
			APIKey:      key,
			Backend:     genai.BackendVertexAI,
			HTTPOptions: genai.HTTPOptions{BaseURL: s.Root() + "/", APIVersion: "v1"},
		})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	ctx := context.Background()
	res, err := newClient("vertex-good").Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("hi"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Text() == "" {
		t.Error("empty answer")
	}
	var n int
	for r, err := range newClient("vertex-good").Models.GenerateContentStream(ctx, "gemini-2.5-flash", genai.Text("hi"), nil) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Text() != "" {
			n++
		}
	}
	if n == 0 {
		t.Error("stream: no text events")
	}
	reqs := s.Requests()
	if len(reqs) != 2 {
		t.Fatalf("%d requests", len(reqs))
	}
	if reqs[0].Path != "/v1/publishers/google/models/gemini-2.5-flash:generateContent" || reqs[0].Header.Get("X-Goog-Api-Key") != "vertex-good" || reqs[0].Key != "vertex-good" {
		t.Errorf("generate: %s key %q", reqs[0].Path, reqs[0].Header.Get("X-Goog-Api-Key"))
	}
	if reqs[1].Path != "/v1/publishers/google/models/gemini-2.5-flash:streamGenerateContent" || reqs[1].RawQuery != "alt=sse" {
		t.Errorf("stream: %s?%s", reqs[1].Path, reqs[1].RawQuery)
	}

	// Errors keep Google's shape and statuses.
	_, err = newClient("vertex-bad").Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("hi"), nil)
	var apiErr genai.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 400 || apiErr.Status != "INVALID_ARGUMENT" {
		t.Errorf("invalid key: %v", err)
	}
	_, err = newClient("vertex-limited").Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("hi"), nil)
	if !errors.As(err, &apiErr) || apiErr.Code != 429 {
		t.Errorf("rate limited: %v", err)
	}

	// Only model methods live there: anything else under /v1/publishers is a 404.
	req, _ := http.NewRequest(http.MethodGet, s.VertexURL()+"/publishers/google/models/gemini-2.5-flash", nil)
	req.Header.Set("X-Goog-Api-Key", "vertex-good")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 404 || !strings.Contains(string(body), "404") {
		t.Errorf("GET model under /v1/publishers: %d", resp.StatusCode)
	}
}
