package fakegemini

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

const fileURI = "https://generativelanguage.googleapis.com/v1beta/files/"

func fileBody(id string) string {
	return `{"contents":[{"role":"user","parts":[{"text":"describe"},{"fileData":{"mimeType":"application/pdf","fileUri":"` + fileURI + id + `"}}]}]}`
}

func cacheBody(name string) string {
	return `{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"cachedContent":"` + name + `"}`
}

func TestResourceOwnership(t *testing.T) {
	s := newServer(t)
	s.SetDefault(OK)
	gen := s.URL + "/models/gemini-2.5-flash:generateContent"

	// Until an owner is declared, any name is accepted (as before).
	for _, body := range []string{fileBody("abc123"), cacheBody("cachedContents/xyz")} {
		if resp, b := call(t, "POST", gen, body, "x-goog-api-key", "k2"); resp.StatusCode != 200 {
			t.Fatalf("before SetOwner: %d %s", resp.StatusCode, b)
		}
	}

	s.SetOwner("files/abc123", "k1")
	s.SetOwner("cachedContents/xyz", "k1")
	s.SetOwner("files/nobodys")
	for _, body := range []string{fileBody("abc123"), cacheBody("cachedContents/xyz")} {
		if resp, b := call(t, "POST", gen, body, "x-goog-api-key", "k1"); resp.StatusCode != 200 {
			t.Errorf("owner: %d %s", resp.StatusCode, b)
		}
	}
	fileWant := "{\n  \"error\": {\n    \"code\": 403,\n    \"message\": \"You do not have permission to access the File abc123 or it may not exist.\",\n    \"status\": \"PERMISSION_DENIED\"\n  }\n}\n"
	if resp, b := call(t, "POST", gen, fileBody("abc123"), "x-goog-api-key", "k2"); resp.StatusCode != 403 || string(b) != fileWant {
		t.Errorf("other key's file: %d %q", resp.StatusCode, b)
	}
	for _, id := range []string{"nobodys", "never-declared"} {
		resp, b := call(t, "POST", gen, fileBody(id), "x-goog-api-key", "k1")
		if e := decodeJSON[rpcBody](t, b); resp.StatusCode != 403 || e.Error.Status != "PERMISSION_DENIED" ||
			e.Error.Message != "You do not have permission to access the File "+id+" or it may not exist." || len(e.Error.Details) != 0 {
			t.Errorf("file %s: %d %s", id, resp.StatusCode, b)
		}
	}
	for _, c := range []struct{ key, cache string }{{"k2", "cachedContents/xyz"}, {"k1", "cachedContents/unknown"}} {
		resp, b := call(t, "POST", gen, cacheBody(c.cache), "x-goog-api-key", c.key)
		if e := decodeJSON[rpcBody](t, b); resp.StatusCode != 403 || e.Error.Status != "PERMISSION_DENIED" ||
			e.Error.Message != "CachedContent not found (or permission denied)" || len(e.Error.Details) != 0 {
			t.Errorf("cache %s by %s: %d %s", c.cache, c.key, resp.StatusCode, b)
		}
	}
	// Streams and countTokens (also a wrapped GenerateContentRequest) check too.
	resp, b := call(t, "POST", s.URL+"/models/gemini-2.5-flash:streamGenerateContent?alt=sse", fileBody("abc123"), "x-goog-api-key", "k2")
	if resp.StatusCode != 403 || !strings.Contains(string(b), "File abc123") {
		t.Errorf("sse stream: %d %s", resp.StatusCode, b)
	}
	resp, b = call(t, "POST", s.URL+"/models/gemini-2.5-flash:streamGenerateContent", fileBody("abc123"), "x-goog-api-key", "k2")
	if e := decodeJSON[[]rpcBody](t, b); resp.StatusCode != 403 || len(e) != 1 || e[0].Error.Code != 403 {
		t.Errorf("array stream: %d %s", resp.StatusCode, b)
	}
	ct := s.URL + "/models/gemini-2.5-flash:countTokens"
	if resp, b := call(t, "POST", ct, fileBody("abc123"), "x-goog-api-key", "k2"); resp.StatusCode != 403 {
		t.Errorf("countTokens: %d %s", resp.StatusCode, b)
	}
	if resp, b := call(t, "POST", ct, `{"generateContentRequest":`+cacheBody("cachedContents/xyz")+`}`, "x-goog-api-key", "k2"); resp.StatusCode != 403 {
		t.Errorf("countTokens generateContentRequest: %d %s", resp.StatusCode, b)
	}
	if resp, b := call(t, "POST", ct, fileBody("abc123"), "x-goog-api-key", "k1"); resp.StatusCode != 200 {
		t.Errorf("countTokens by the owner: %d %s", resp.StatusCode, b)
	}
	// A file URI that is no file of the API is not checked.
	body := `{"contents":[{"parts":[{"fileData":{"fileUri":"https://www.youtube.com/watch?v=x"}}]}]}`
	if resp, b := call(t, "POST", gen, body, "x-goog-api-key", "k2"); resp.StatusCode != 200 {
		t.Errorf("youtube URI: %d %s", resp.StatusCode, b)
	}
	// A key's files and caches: listed for it alone.
	_, b = call(t, "GET", s.URL+"/files", "", "x-goog-api-key", "k1")
	if !strings.Contains(string(b), `"name": "files/abc123"`) || strings.Contains(string(b), "nobodys") {
		t.Errorf("k1 files: %s", b)
	}
	if _, b := call(t, "GET", s.URL+"/files", "", "x-goog-api-key", "k2"); string(b) != "{}\n" {
		t.Errorf("k2 files: %q", b)
	}
	if _, b := call(t, "GET", s.URL+"/cachedContents", "", "x-goog-api-key", "k1"); !strings.Contains(string(b), "cachedContents/xyz") {
		t.Errorf("k1 caches: %s", b)
	}
	if resp, b := call(t, "GET", s.URL+"/files/abc123", "", "x-goog-api-key", "k1"); resp.StatusCode != 200 || !strings.Contains(string(b), fileURI+"abc123") {
		t.Errorf("get own file: %d %s", resp.StatusCode, b)
	}
	if resp, _ := call(t, "GET", s.URL+"/files/abc123", "", "x-goog-api-key", "k2"); resp.StatusCode != 403 {
		t.Errorf("get other's file: %d", resp.StatusCode)
	}
	if resp, _ := call(t, "GET", s.URL+"/cachedContents/xyz", "", "x-goog-api-key", "k2"); resp.StatusCode != 403 {
		t.Errorf("get other's cache: %d", resp.StatusCode)
	}
}

func TestResolvePath(t *testing.T) {
	for raw, want := range map[string]string{
		"/v1beta/models/gemini-2.5-flash:generateContent":                "/v1beta/models/gemini-2.5-flash:generateContent",
		"/v1beta/models/x:y/../../../../v1alpha/auth_tokens":             "/v1alpha/auth_tokens",
		"/v1beta/models/gemini-2.5-flash:generateContent/../../../files": "/files",
		"/v1beta/models/../../files":                                     "/files",
		"/v1beta/models/%2e%2e/%2E%2E/files":                             "/files",
		"/v1beta/models/..%2F..%2Ffiles":                                 "/files",
		"/v1beta/models/%2E%2E%2Fcachedcontents":                         "/v1beta/cachedcontents",
		"/v1beta/models/./gemini-2.5-flash:generateContent":              "/v1beta/models/gemini-2.5-flash:generateContent",
		"/v1beta/models/gemini-2.5-flash%3Fx=1":                          "/v1beta/models/gemini-2.5-flash?x=1",
		"/v1beta/models/a%2Fb:generateContent":                           "/v1beta/models/a/b:generateContent",
		"/v1beta/models/gemini-2.5-flash:generateContent/../../files":    "/v1beta/files",
		"/a/b/c/./../../g":                                               "/a/g",
		"/../../..":                                                      "/",
		"/v1beta/models/..":                                              "/v1beta/",
		"/v1beta//models":                                                "/v1beta//models",
		"/v1beta/models/bad%zz":                                          "/v1beta/models/bad%zz",
		"/v1beta/models/a..b/.c":                                         "/v1beta/models/a..b/.c",
	} {
		if got := ResolvePath(raw); got != want {
			t.Errorf("ResolvePath(%q) = %q, want %q", raw, got, want)
		}
	}
}

// rawCall sends a request line as it is, bypassing any client-side cleaning.
func rawCall(t *testing.T, s *Server, method, target, body, key string) (*http.Response, string) {
	t.Helper()
	host := strings.TrimPrefix(s.Root(), "http://")
	c, err := net.Dial("tcp", host)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: %s\r\nX-Goog-Api-Key: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s",
		method, target, host, key, len(body), body)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestRoutesOnTheResolvedPath(t *testing.T) {
	s := newServer(t)
	s.SetDefault(OK)
	s.SetOwner("files/f1", "k")
	resp, b := rawCall(t, s, "POST", "/v1beta/models/x:y/../../../../v1alpha/auth_tokens", "{}", "k")
	if resp.StatusCode != 200 || !strings.Contains(b, `"name": "auth_tokens/minted-`) {
		t.Errorf("smuggled auth_tokens: %d %s", resp.StatusCode, b)
	}
	resp, b = rawCall(t, s, "GET", "/v1beta/models/%2e%2e/files", "", "k")
	if resp.StatusCode != 200 || !strings.Contains(b, "files/f1") {
		t.Errorf("smuggled files list: %d %s", resp.StatusCode, b)
	}
	resp, _ = rawCall(t, s, "POST", "/v1beta/models/./gemini-2.5-flash:generateContent", hello, "k")
	if resp.StatusCode != 200 {
		t.Errorf("dot segment generateContent: %d", resp.StatusCode)
	}
	resp, _ = rawCall(t, s, "POST", "/v1beta/models/a%2Fb:generateContent", hello, "k")
	if resp.StatusCode != 404 {
		t.Errorf("encoded slash in the model: %d, want 404", resp.StatusCode)
	}
	reqs := s.Requests()
	if len(reqs) != 4 {
		t.Fatalf("%d requests", len(reqs))
	}
	want := []struct{ path, raw, resolved string }{
		{"/v1beta/models/x:y/../../../../v1alpha/auth_tokens", "/v1beta/models/x:y/../../../../v1alpha/auth_tokens", "/v1alpha/auth_tokens"},
		{"/v1beta/models/../files", "/v1beta/models/%2e%2e/files", "/v1beta/files"},
		{"/v1beta/models/./gemini-2.5-flash:generateContent", "/v1beta/models/./gemini-2.5-flash:generateContent", "/v1beta/models/gemini-2.5-flash:generateContent"},
		{"/v1beta/models/a/b:generateContent", "/v1beta/models/a%2Fb:generateContent", "/v1beta/models/a/b:generateContent"},
	}
	for i, w := range want {
		if r := reqs[i]; r.Path != w.path || r.RawPath != w.raw || r.Resolved != w.resolved {
			t.Errorf("request %d: Path %q RawPath %q Resolved %q, want %q %q %q", i, r.Path, r.RawPath, r.Resolved, w.path, w.raw, w.resolved)
		}
	}
	// A plain request's three paths are the same.
	call(t, "GET", s.URL+"/models", "", "x-goog-api-key", "k")
	if r := s.Requests()[4]; r.Path != "/v1beta/models" || r.RawPath != r.Path || r.Resolved != r.Path {
		t.Errorf("plain request: %+v", r)
	}
	// Behaviors apply to these routes too.
	s.SetKey("bad", Invalid)
	if resp, _ := rawCall(t, s, "POST", "/v1alpha/auth_tokens", "{}", "bad"); resp.StatusCode != 400 {
		t.Errorf("invalid key on auth_tokens: %d", resp.StatusCode)
	}
}

func TestAddModel(t *testing.T) {
	s := newServer(t)
	s.SetDefault(OK)
	other := newServer(t)
	other.SetDefault(OK)
	s.AddModel(Model{Name: "gemini-hidden"})
	s.AddModel(Model{Name: "models/gemini-hidden", DisplayName: "Hidden"}) // replaces
	listed := s.ListedModels()
	if len(listed) != len(Models())+1 || listed[len(listed)-1].Name != "models/gemini-hidden" || listed[len(listed)-1].DisplayName != "Hidden" {
		t.Fatalf("ListedModels: %+v", listed)
	}
	_, b := call(t, "GET", s.URL+"/models?pageSize=1000", "", "x-goog-api-key", "k")
	if !strings.Contains(string(b), `"name": "models/gemini-hidden"`) {
		t.Errorf("list: %s", b)
	}
	// Paging reaches it too.
	var names []string
	token := ""
	for i := 0; i < 10; i++ {
		url := s.URL + "/models?pageSize=2"
		if token != "" {
			url += "&pageToken=" + token
		}
		_, b := call(t, "GET", url, "", "x-goog-api-key", "k")
		p := decodeJSON[modelList](t, b)
		for _, m := range p.Models {
			names = append(names, m.Name)
		}
		if token = p.NextPageToken; token == "" {
			break
		}
	}
	if len(names) != len(Models())+1 || names[len(names)-1] != "models/gemini-hidden" {
		t.Errorf("paged names %q", names)
	}
	if resp, b := call(t, "GET", s.URL+"/models/gemini-hidden", "", "x-goog-api-key", "k"); resp.StatusCode != 200 || decodeJSON[Model](t, b).InputTokenLimit == 0 {
		t.Errorf("get: %d %s", resp.StatusCode, b)
	}
	if resp, b := call(t, "POST", s.URL+"/models/gemini-hidden:generateContent", hello, "x-goog-api-key", "k"); resp.StatusCode != 200 || !strings.Contains(string(b), ReplyText("gemini-hidden")) {
		t.Errorf("generate: %d %s", resp.StatusCode, b)
	}
	if _, b := call(t, "GET", s.URL+"/openai/models", "", "Authorization", "Bearer k"); !strings.Contains(string(b), `"models/gemini-hidden"`) {
		t.Errorf("openai models: %s", b)
	}
	if resp, b := call(t, "POST", s.URL+"/openai/chat/completions", `{"model":"gemini-hidden","messages":[{"role":"user","content":"hi"}]}`, "Authorization", "Bearer k"); resp.StatusCode != 200 {
		t.Errorf("openai chat: %d %s", resp.StatusCode, b)
	}
	// Another server does not know it.
	if resp, _ := call(t, "GET", other.URL+"/models/gemini-hidden", "", "x-goog-api-key", "k"); resp.StatusCode != 404 {
		t.Errorf("other server: %d", resp.StatusCode)
	}
	if len(other.ListedModels()) != len(Models()) {
		t.Error("AddModel changed another server")
	}
}
