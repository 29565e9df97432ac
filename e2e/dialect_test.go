package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"google.golang.org/genai"

	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
)

// genaiAt is a Google GenAI client for the proxy at base with API version v.
func (e *env) genaiAt(base, v string) *genai.Client {
	e.t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: clientToken, Backend: genai.BackendGeminiAPI,
		HTTPOptions: genai.HTTPOptions{BaseURL: base, APIVersion: v},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// The Google GenAI SDKs may use API version v1, which shares /v1 with the
// OpenAI family: model methods there are Gemini's, and model lists and gets
// answer in the caller's dialect. Upstream, every call goes to base_url's
// version (v1beta accepts every v1 request).
func TestGeminiDialectOnV1(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: []string{k("d1")}})
	ctx := context.Background()

	for _, base := range []string{baseURL + "/", baseURL + "/gemini/"} {
		e.up.Reset()
		c := e.genaiAt(base, "v1")
		resp, err := c.Models.GenerateContent(ctx, "gemini-2.5-flash", genai.Text("hi"), nil)
		if err != nil || resp.Text() == "" {
			t.Fatalf("%s v1 generateContent: %v", base, err)
		}
		var streamed int
		for chunk, err := range c.Models.GenerateContentStream(ctx, "gemini-2.5-flash", genai.Text("hi"), nil) {
			if err != nil {
				t.Fatalf("%s v1 stream: %v", base, err)
			}
			streamed += len(chunk.Text())
		}
		if streamed == 0 {
			t.Errorf("%s v1 stream: no text", base)
		}
		m, err := c.Models.Get(ctx, "gemini-2.5-pro", nil)
		if err != nil || m.Name != "models/gemini-2.5-pro" {
			t.Fatalf("%s v1 get model: %v %+v", base, err, m)
		}
		reqs := e.up.Requests()
		if len(reqs) != 3 {
			t.Fatalf("%s: %d upstream requests, want 3", base, len(reqs))
		}
		for _, r := range reqs {
			if !strings.HasPrefix(r.Path, "/v1beta/models/") || r.Key != k("d1") {
				t.Errorf("%s: upstream got %s %s with key %s", base, r.Method, r.Path, r.Key)
			}
		}
	}

	// Lists and gets on /v1: Google's carriers get Gemini's shape, a Bearer
	// token OpenAI's.
	for _, c := range []struct {
		name   string
		path   string
		header []string
		gemini bool
	}{
		{"x-goog-api-key", "/v1/models", []string{"x-goog-api-key", clientToken}, true},
		{"?key=", "/v1/models?key=" + clientToken, nil, true},
		{"x-goog-api-client with Bearer", "/v1/models", []string{"Authorization", "Bearer " + clientToken, "x-goog-api-client", "google-genai-sdk/1.0"}, true},
		{"Bearer", "/v1/models", []string{"Authorization", "Bearer " + clientToken}, false},
		{"Bearer on /hf/v1", "/hf/v1/models", []string{"Authorization", "Bearer " + clientToken}, false},
	} {
		status, _, body := e.do("GET", c.path, "", c.header...)
		var shape map[string]json.RawMessage
		if status != 200 || json.Unmarshal([]byte(body), &shape) != nil {
			t.Fatalf("%s: %d %s", c.name, status, body)
		}
		_, isGemini := shape["models"]
		_, isOpenAI := shape["data"]
		if isGemini != c.gemini || isOpenAI == c.gemini {
			t.Errorf("%s: got %s, want gemini shape %v", c.name, shorten(body), c.gemini)
		}
	}
	status, _, body := e.do("GET", "/v1/models/gemini-2.5-flash", "", "x-goog-api-key", clientToken)
	if status != 200 || !strings.Contains(body, `"name":"models/gemini-2.5-flash"`) && !strings.Contains(body, `"name": "models/gemini-2.5-flash"`) {
		t.Errorf("gemini get on /v1: %d %s", status, body)
	}
	status, _, body = e.do("GET", "/v1/models/gemini-2.5-flash", "", "Authorization", "Bearer "+clientToken)
	if status != 200 || !strings.Contains(body, `"object":"model"`) {
		t.Errorf("openai get on /v1: %d %s", status, body)
	}
	// A Gemini method with the wrong HTTP method: Gemini's 405.
	status, _, body = e.do("GET", "/v1/models/gemini-2.5-flash:generateContent", "", "x-goog-api-key", clientToken)
	if status != 405 || !strings.Contains(body, `"status"`) {
		t.Errorf("GET of a method on /v1: %d %s", status, body)
	}
}

// The native model list shows each alias as a model of its own, and a get
// of an alias answers its base model under the alias's name.
func TestNativeModelListHasAliases(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: []string{k("d2")}, extra: "thinking_models gemini-2.5-flash\n\t\tfiltered_models gemini-2.0-flash"})
	var list struct {
		Models []struct {
			Name        string `json:"name"`
			DisplayName string `json:"displayName"`
		} `json:"models"`
	}
	for _, path := range []string{"/v1beta/models", "/v1beta/models?pageSize=50", "/v1/models"} {
		status, _, body := e.do("GET", path, "", authed...)
		if err := json.Unmarshal([]byte(body), &list); status != 200 || err != nil {
			t.Fatalf("%s: %d %s", path, status, body)
		}
		names := map[string]bool{}
		for _, m := range list.Models {
			names[m.Name] = true
		}
		for _, want := range []string{"models/gemini-2.5-flash", "models/gemini-2.5-flash-search", "models/gemini-2.5-flash-non-thinking", "models/gemini-2.5-pro-search"} {
			if !names[want] {
				t.Errorf("%s: %s missing from %v", path, want, names)
			}
		}
		if names["models/gemini-2.0-flash"] {
			t.Errorf("%s: lists the filtered gemini-2.0-flash", path)
		}
	}
	e.up.Reset()
	status, _, body := e.do("GET", "/v1beta/models/gemini-2.5-flash-non-thinking", "", authed...)
	var m struct {
		Name        string `json:"name"`
		DisplayName string `json:"displayName"`
	}
	if err := json.Unmarshal([]byte(body), &m); status != 200 || err != nil || m.Name != "models/gemini-2.5-flash-non-thinking" || !strings.HasSuffix(m.DisplayName, "(non-thinking)") {
		t.Fatalf("get alias: %d %s", status, body)
	}
	if reqs := e.up.Requests(); len(reqs) != 1 || reqs[0].Path != "/v1beta/models/gemini-2.5-flash" {
		t.Errorf("get alias went upstream as %+v", reqs)
	}
	if status, _, body := e.do("GET", "/v1beta/models/gemini-2.0-flash", "", authed...); status != 404 {
		t.Errorf("get filtered: %d %s", status, body)
	}
}

func shorten(s string) string {
	if len(s) > 300 {
		return s[:300] + "…"
	}
	return s
}
