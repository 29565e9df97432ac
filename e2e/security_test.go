package e2e

// The security issue: a public endpoint whose client tokens are shared with
// other people must be safe against a client holding a token. Each attack
// runs through the real Caddy against the stand-in upstream; after each, the
// pool's keys must be as they were and the upstream must never have seen a
// path outside the API the proxy serves.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
)

// secKeyState is what an attack must not change about a key.
type secKeyState struct {
	Status      keypool.Status
	Consecutive int
	Total       int64
	Cooling     int // models the key rests for
}

// secKeyStates snapshots every key of the pool, by secret.
func secKeyStates(t *testing.T, e *env) map[string]secKeyState {
	t.Helper()
	out := map[string]secKeyState{}
	at := time.Now()
	for _, key := range e.balancer().Ring().Keys() {
		s := key.Snapshot(at)
		out[key.Secret()] = secKeyState{s.Status, s.ConsecutiveFailures, s.TotalFailures, len(s.Cooldowns)}
	}
	return out
}

// secAssertKeysUnchanged checks every key is as in before.
func secAssertKeysUnchanged(t *testing.T, e *env, before map[string]secKeyState, what string) {
	t.Helper()
	after := secKeyStates(t, e)
	if len(after) != len(before) {
		t.Errorf("%s: the pool has %d keys, had %d", what, len(after), len(before))
	}
	for secret, b := range before {
		if a, ok := after[secret]; !ok || a != b {
			t.Errorf("%s: key %s… changed: %+v -> %+v", what, secret[:10], b, a)
		}
	}
}

var (
	secModelName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,255}$`)
	secActions   = map[string]bool{
		"generateContent": true, "streamGenerateContent": true, "countTokens": true,
		"embedContent": true, "batchEmbedContents": true, "predict": true,
	}
)

// secInsideAPI reports whether an upstream request's method and path lie
// inside the API the proxy serves, below base ("/v1beta").
func secInsideAPI(base, method, p string) bool {
	rest, ok := strings.CutPrefix(p, base)
	if !ok {
		return false
	}
	switch rest {
	case "/models", "/openai/models", "/openai/chat/completions", "/openai/embeddings", "/openai/images/generations":
		return true
	}
	if m, ok := strings.CutPrefix(rest, "/openai/models/"); ok {
		return secModelName.MatchString(m)
	}
	if m, ok := strings.CutPrefix(rest, "/models/"); ok {
		name, action, hasAction := strings.Cut(m, ":")
		if !secModelName.MatchString(name) {
			return false
		}
		if !hasAction {
			return method == http.MethodGet || method == http.MethodHead
		}
		return method == http.MethodPost && secActions[action]
	}
	return false
}

// secAssertUpstreamInsideAPI checks every path the upstream saw, as a front
// end resolves it, is inside the served API, and that there was nothing to
// resolve (no dot segment, no encoded dot or slash).
func secAssertUpstreamInsideAPI(t *testing.T, e *env, what string) {
	t.Helper()
	u, err := url.Parse(e.up.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range e.up.Requests() {
		if !secInsideAPI(u.Path, r.Method, r.Resolved) {
			t.Errorf("%s: the upstream got %s %s (raw %s), outside the served API", what, r.Method, r.Resolved, secShort(r.RawPath))
		}
		if r.Path != r.Resolved {
			t.Errorf("%s: the upstream got a path with something to resolve: raw %s, resolves to %s", what, secShort(r.RawPath), secShort(r.Resolved))
		}
	}
}

// secShort cuts a long string for messages.
func secShort(s string) string {
	if len(s) > 200 {
		return s[:200] + fmt.Sprintf("…(%d bytes)", len(s))
	}
	return s
}

// secRaw sends a request with its target written on the wire exactly as
// given (Go's client would clean or re-encode some), and returns the answer.
func secRaw(t *testing.T, method, target, body string, header ...string) (int, http.Header, string) {
	t.Helper()
	c, err := net.Dial("tcp", fmt.Sprintf("localhost:%d", httpPort))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	var req strings.Builder
	fmt.Fprintf(&req, "%s %s HTTP/1.1\r\nHost: localhost:%d\r\nConnection: close\r\n", method, target, httpPort)
	for i := 0; i+1 < len(header); i += 2 {
		fmt.Fprintf(&req, "%s: %s\r\n", header[i], header[i+1])
	}
	if body != "" || method == http.MethodPost {
		fmt.Fprintf(&req, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	}
	req.WriteString("\r\n")
	req.WriteString(body)
	if _, err := io.WriteString(c, req.String()); err != nil {
		t.Fatalf("%s %s: %v", method, secShort(target), err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%s %s: %v", method, secShort(target), err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, secShort(target), err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// secGoogleError is Google's error shape.
type secGoogleError struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
	} `json:"error"`
}

// secOpenAIError is OpenAI's error shape.
type secOpenAIError struct {
	Error struct {
		Message *string `json:"message"`
		Type    string  `json:"type"`
	} `json:"error"`
}

// secGoogleShape checks body is Google's error shape with code and status
// (status unchecked when empty).
func secGoogleShape(t *testing.T, what, body string, code int, status string) secGoogleError {
	t.Helper()
	var g secGoogleError
	if err := json.Unmarshal([]byte(body), &g); err != nil || g.Error.Code != code || g.Error.Message == "" ||
		(status != "" && g.Error.Status != status) {
		t.Errorf("%s: body is not Google's %d %s error: %s", what, code, status, secShort(body))
	}
	return g
}

// secOpenAIShape checks body is OpenAI's error shape, with typ unless empty.
func secOpenAIShape(t *testing.T, what, body, typ string) secOpenAIError {
	t.Helper()
	var o secOpenAIError
	if err := json.Unmarshal([]byte(body), &o); err != nil || o.Error.Message == nil || *o.Error.Message == "" ||
		o.Error.Type == "" || (typ != "" && o.Error.Type != typ) {
		t.Errorf("%s: body is not OpenAI's error shape (type %q): %s", what, typ, secShort(body))
	}
	return o
}

const secFileURI = "https://generativelanguage.googleapis.com/v1beta/files/"

func secFileBody(id string) string {
	return `{"contents":[{"role":"user","parts":[{"text":"what does it say?"},` +
		`{"fileData":{"mimeType":"application/pdf","fileUri":"` + secFileURI + id + `"}}]}]}`
}

func secCacheBody(name string) string {
	return `{"contents":[{"role":"user","parts":[{"text":"and then?"}]}],"cachedContent":"` + name + `"}`
}

func secChatFileBody(id string) string {
	return `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":[{"type":"text","text":"what is this?"},` +
		`{"type":"image_url","image_url":{"url":"` + secFileURI + id + `"}}]}]}`
}

var bearer = []string{"Authorization", "Bearer " + clientToken}

// Attack 1: a client names a file or a cached content of another key (or of
// nobody). Google's 403 is the client's fault: no retry on another key, no
// failure for the key, Google's answer to the client.
func TestSecurityForeignFileOrCacheIsTheClientsFault(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	keys := []string{k("sec-ff1"), k("sec-ff2"), k("sec-ff3"), k("sec-ff4")}
	outsider := k("sec-outsider")
	e.up.SetOwner("files/abc123", outsider)
	e.up.SetOwner("files/nobodys")
	e.up.SetOwner("cachedContents/xyz", outsider)
	e.up.SetOwner("files/shared", keys...)
	e.up.SetOwner("cachedContents/shared", keys...)
	e.start(poolOpts{keys: keys, extra: "max_failures 2"})
	before := secKeyStates(t, e)

	fileMsg := func(id string) string {
		return "You do not have permission to access the File " + id + " or it may not exist."
	}
	const cacheMsg = "CachedContent not found (or permission denied)"
	cases := []struct{ name, path, body, msg string }{
		{"other key's file #1", genPath, secFileBody("abc123"), fileMsg("abc123")},
		{"other key's file #2", genPath, secFileBody("abc123"), fileMsg("abc123")},
		{"other key's file #3", genPath, secFileBody("abc123"), fileMsg("abc123")},
		{"nobody's file", genPath, secFileBody("nobodys"), fileMsg("nobodys")},
		{"unknown file", genPath, secFileBody("never-made"), fileMsg("never-made")},
		{"other key's cache #1", genPath, secCacheBody("cachedContents/xyz"), cacheMsg},
		{"other key's cache #2", genPath, secCacheBody("cachedContents/xyz"), cacheMsg},
		{"other key's cache #3", genPath, secCacheBody("cachedContents/xyz"), cacheMsg},
		{"unknown cache", genPath, secCacheBody("cachedContents/never-made"), cacheMsg},
		{"file in an SSE stream", ssePath, secFileBody("abc123"), fileMsg("abc123")},
		{"file in countTokens", "/v1beta/models/gemini-2.5-flash:countTokens", secFileBody("abc123"), fileMsg("abc123")},
		{"file under /gemini/v1beta", "/gemini" + genPath, secFileBody("abc123"), fileMsg("abc123")},
	}
	for _, c := range cases {
		e.up.Reset()
		status, _, body := e.do("POST", c.path, c.body, authed...)
		if status != http.StatusForbidden {
			t.Errorf("%s: client got %d %s, want Google's 403", c.name, status, secShort(body))
		} else if g := secGoogleShape(t, c.name, body, 403, "PERMISSION_DENIED"); g.Error.Message != c.msg {
			t.Errorf("%s: message %q, want Google's %q", c.name, g.Error.Message, c.msg)
		}
		if used := e.up.KeysUsed(); len(used) != 1 {
			t.Errorf("%s: %d upstream attempts, want exactly 1 (a client's 403 is not retried on another key)", c.name, len(used))
		}
		secAssertKeysUnchanged(t, e, before, c.name)
	}

	// The translated OpenAI route sends such a URL as fileData: the same
	// 403, in OpenAI's shape.
	for i := 1; i <= 3; i++ {
		what := fmt.Sprintf("/v1/chat/completions with another key's file #%d", i)
		e.up.Reset()
		status, _, body := e.do("POST", "/v1/chat/completions", secChatFileBody("abc123"), bearer...)
		if status != http.StatusForbidden {
			t.Errorf("%s: client got %d %s, want 403", what, status, secShort(body))
		} else if o := secOpenAIShape(t, what, body, ""); o.Error.Message != nil && !strings.Contains(*o.Error.Message, fileMsg("abc123")) {
			t.Errorf("%s: message %q, want Google's", what, *o.Error.Message)
		}
		reqs := e.up.Requests()
		if len(reqs) != 1 {
			t.Errorf("%s: %d upstream attempts, want exactly 1", what, len(reqs))
		} else if !strings.Contains(string(reqs[0].Body), `"fileUri":"`+secFileURI+`abc123"`) {
			t.Errorf("%s: the upstream did not get the file as fileData: %s", what, secShort(string(reqs[0].Body)))
		}
		secAssertKeysUnchanged(t, e, before, what)
	}

	// A file or cache the serving key owns works, whichever key serves.
	for i := range keys {
		for _, c := range []struct{ path, body string }{
			{genPath, secFileBody("shared")},
			{genPath, secCacheBody("cachedContents/shared")},
			{"/v1/chat/completions", secChatFileBody("shared")},
		} {
			hdr := authed
			if strings.HasPrefix(c.path, "/v1/") {
				hdr = bearer
			}
			if status, _, body := e.do("POST", c.path, c.body, hdr...); status != 200 {
				t.Errorf("own resource (round %d) on %s: %d %s", i, c.path, status, secShort(body))
			}
		}
	}
	secAssertKeysUnchanged(t, e, before, "own resources")
	secAssertUpstreamInsideAPI(t, e, "foreign resources")
}

// Attack 2 is a regression guard for the new rule: a 401/403 whose reason
// names the key or its project still counts against the key, and the request
// moves on to a good key.
func TestSecurityKeyReasonsStillCountAgainstTheKey(t *testing.T) {
	cases := []struct {
		behavior fakegemini.Behavior
		invalid  bool // invalid at once; else one failure per attempt
	}{
		{fakegemini.ServiceDisabled, false},
		{fakegemini.Suspended, true},
		{fakegemini.ServiceBlocked, false},
		{fakegemini.ReferrerBlocked, false},
	}
	for _, c := range cases {
		t.Run(c.behavior.String(), func(t *testing.T) {
			e := newEnv(t)
			bad, good := k("sec-bad-"+c.behavior.String()), k("sec-good-"+c.behavior.String())
			e.up.SetKey(bad, c.behavior)
			e.up.SetKey(good, fakegemini.OK)
			e.start(poolOpts{keys: []string{bad, good}, extra: "max_failures 5"})
			for i := 0; i < 2; i++ {
				if status, _, body := e.do("POST", genPath, helloBody, authed...); status != 200 {
					t.Fatalf("request %d: %d %s, want 200 from the good key", i, status, secShort(body))
				}
			}
			tried := count(e.up.KeysUsed(), bad)
			if tried == 0 {
				t.Fatalf("the bad key was never tried: %v", e.up.KeysUsed())
			}
			s := e.key(bad).Snapshot(time.Now())
			switch {
			case c.invalid && s.Status != keypool.Invalid:
				t.Errorf("%s key: %s (%s), want invalid at once", c.behavior, s.Status, s.Reason)
			case !c.invalid && (s.Status != keypool.Active || s.ConsecutiveFailures != tried):
				t.Errorf("%s key: %s with %d failures (%s) after %d attempts, want active with %d",
					c.behavior, s.Status, s.ConsecutiveFailures, s.Reason, tried, tried)
			}
			if g := e.key(good).Snapshot(time.Now()); g.Status != keypool.Active || g.ConsecutiveFailures != 0 {
				t.Errorf("good key: %+v", g)
			}
		})
	}
}

// secSmuggled are paths that try to leave /models through dot segments,
// encoded dots and slashes, or to end the path early, after a family prefix.
var secSmuggled = []struct{ method, suffix string }{
	{"POST", "/models/x:y/../../../../v1alpha/auth_tokens"},
	{"POST", "/models/gemini-2.5-flash:generateContent/../../../files"},
	{"GET", "/models/../../files"},
	{"GET", "/models/%2e%2e/%2e%2e/files"},
	{"GET", "/models/..%2F..%2Ffiles"},
	{"GET", "/models/%2E%2E%2Fcachedcontents"},
	{"GET", "/models/gemini-2.5-flash%3Fx=1"},
	{"GET", "/models/gemini-2.5-flash%23frag"},
	{"POST", "/models/a%2Fb:generateContent"},
	{"POST", "/models/./gemini-2.5-flash:generateContent"},
}

// Attack 3: path smuggling, written raw on the wire.
func TestSecurityPathSmugglingIsRefused(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	keys := []string{k("sec-ps1"), k("sec-ps2")}
	e.up.SetOwner("files/secret-file", keys...) // what a smuggled GET /files would list
	e.start(poolOpts{keys: keys})
	before := secKeyStates(t, e)

	// The wire check: the stand-in, reached the same raw way, records the
	// target exactly as written.
	{
		host := strings.TrimPrefix(e.up.Root(), "http://")
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		target := "/v1beta/models/%2e%2e/..%2Ffiles"
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nX-Goog-Api-Key: %s\r\nConnection: close\r\n\r\n", target, host, keys[0])
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		c.Close()
		if r := e.up.Requests(); len(r) != 1 || r[0].RawPath != target || r[0].Resolved != "/files" {
			t.Fatalf("raw requests do not reach a server as written: %+v", r)
		}
		e.up.Reset()
	}

	families := []struct {
		prefix string
		openai bool
	}{
		{"/v1beta", false}, {"/gemini/v1beta", false}, {"/v1", true}, {"/hf/v1", true}, {"/openai/v1", true},
	}
	for _, f := range families {
		for _, s := range secSmuggled {
			target := f.prefix + s.suffix
			what := s.method + " " + target
			body := ""
			if s.method == "POST" {
				body = helloBody
			}
			e.up.Reset()
			hdr := authed
			if f.openai {
				hdr = bearer
			}
			status, _, resp := secRaw(t, s.method, target, body, hdr...)
			if status != http.StatusBadRequest {
				t.Errorf("%s: client got %d %s, want 400", what, status, secShort(resp))
			} else if f.openai {
				secOpenAIShape(t, what, resp, "invalid_request_error")
			} else {
				secGoogleShape(t, what, resp, 400, "INVALID_ARGUMENT")
			}
			if reqs := e.up.Requests(); len(reqs) != 0 {
				t.Errorf("%s: reached the upstream %d times, first as %s %s (resolves to %s)", what, len(reqs), reqs[0].Method, reqs[0].RawPath, reqs[0].Resolved)
				secAssertUpstreamInsideAPI(t, e, what)
			}
			secAssertKeysUnchanged(t, e, before, what)

			// Without a token, or with a wrong one: a 4xx, nothing upstream.
			for _, h := range [][]string{nil, {"x-goog-api-key", "sk-wrong-token"}} {
				e.up.Reset()
				status, _, resp := secRaw(t, s.method, target, body, h...)
				if status < 400 || status > 499 {
					t.Errorf("%s with token %v: client got %d %s, want a 4xx", what, h, status, secShort(resp))
				}
				if n := len(e.up.Requests()); n != 0 {
					t.Errorf("%s with token %v: reached the upstream %d times", what, h, n)
					secAssertUpstreamInsideAPI(t, e, what)
				}
			}
		}
	}
	secAssertKeysUnchanged(t, e, before, "path smuggling")
}

// Attack 4: model names and actions are validated before anything is sent,
// and a huge name never reaches the log.
func TestSecurityModelNamesAndActionsAreValidated(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	keys := []string{k("sec-mn1"), k("sec-mn2")}
	e.start(poolOpts{keys: keys})
	before := secKeyStates(t, e)

	chat := func(model string) string {
		b, _ := json.Marshal(map[string]any{"model": model, "messages": []any{map[string]any{"role": "user", "content": "hi"}}})
		return string(b)
	}
	long := strings.Repeat("gemini-x", (1<<20)/len("gemini-x")) // 1 MiB, a valid character set
	check := func(what string, status int, body string, want int, openaiShape bool) {
		t.Helper()
		if want == 0 {
			if status < 400 || status > 499 {
				t.Errorf("%s: client got %d %s, want a 4xx", what, status, secShort(body))
			}
		} else if status != want {
			t.Errorf("%s: client got %d %s, want %d", what, status, secShort(body), want)
		} else if openaiShape {
			secOpenAIShape(t, what, body, "invalid_request_error")
		} else {
			secGoogleShape(t, what, body, want, "")
		}
		if reqs := e.up.Requests(); len(reqs) != 0 {
			t.Errorf("%s: reached the upstream %d times, first as %s %s", what, len(reqs), reqs[0].Method, secShort(reqs[0].RawPath))
			secAssertUpstreamInsideAPI(t, e, what)
		}
		secAssertKeysUnchanged(t, e, before, what)
		e.up.Reset()
	}

	// A 1 MiB model name.
	e.up.Reset()
	for _, p := range []string{"/v1/chat/completions", "/hf/v1/chat/completions", "/openai/v1/chat/completions"} {
		status, _, body := e.do("POST", p, chat(long), bearer...)
		check("1 MiB model on "+p, status, body, 400, true)
	}
	status, _, body := e.do("POST", "/v1/embeddings", `{"model":"`+long+`","input":"hi"}`, bearer...)
	check("1 MiB model on /v1/embeddings", status, body, 400, true)
	// In a native path, Caddy itself refuses a request line and headers over
	// 16 KiB (its default max_header_size) with a 431: any 4xx will do for
	// 1 MiB; 8 KiB reaches the module.
	status, _, body = secRaw(t, "POST", "/v1beta/models/"+long+":generateContent", helloBody, authed...)
	check("1 MiB model in a native path", status, body, 0, false)
	status, _, body = secRaw(t, "POST", "/v1beta/models/"+long[:8<<10]+":generateContent", helloBody, authed...)
	check("8 KiB model in a native path", status, body, 400, false)
	status, _, body = secRaw(t, "GET", "/v1beta/models/"+long[:8<<10], "", authed...)
	check("8 KiB model in a native GET", status, body, 400, false)
	status, _, body = secRaw(t, "GET", "/v1/models/"+long[:8<<10], "", bearer...)
	check("8 KiB model in GET /v1/models/{m}", status, body, 400, true)
	if logs := e.readLogs(); strings.Contains(logs, long[:1000]) {
		i := strings.Index(logs, long[:1000])
		t.Errorf("the log holds the long model name (at byte %d of %d)", i, len(logs))
	}

	// Names with a space, or starting with "-" or ".".
	for _, m := range []struct{ json, path string }{
		{"gemini 2.5-flash", "gemini%202.5-flash"},
		{"-gemini-2.5-flash", "-gemini-2.5-flash"},
		{".gemini-2.5-flash", ".gemini-2.5-flash"},
	} {
		for _, p := range []string{"/v1/chat/completions", "/openai/v1/chat/completions"} {
			status, _, body := e.do("POST", p, chat(m.json), bearer...)
			check(fmt.Sprintf("model %q on %s", m.json, p), status, body, 400, true)
		}
		status, _, body := secRaw(t, "POST", "/v1beta/models/"+m.path+":generateContent", helloBody, authed...)
		check(fmt.Sprintf("model %q in a native path", m.json), status, body, 400, false)
		status, _, body = secRaw(t, "GET", "/v1beta/models/"+m.path, "", authed...)
		check(fmt.Sprintf("model %q in a native GET", m.json), status, body, 400, false)
	}

	// An unknown action is refused here; a known one works.
	for _, a := range []string{"fooBar", "createCachedContent", "delete"} {
		status, _, body := e.do("POST", "/v1beta/models/gemini-2.5-flash:"+a, helloBody, authed...)
		check("action :"+a, status, body, 0, false)
	}
	if status, _, body := e.do("POST", genPath, helloBody, authed...); status != 200 {
		t.Errorf(":generateContent: %d %s", status, secShort(body))
	}
	if n := len(e.up.Requests()); n != 1 {
		t.Errorf(":generateContent: %d upstream requests, want 1", n)
	}
	secAssertUpstreamInsideAPI(t, e, ":generateContent")
	secAssertKeysUnchanged(t, e, before, "model names")
}

// Attack 5: a filtered model is hidden from every list and refused on every
// route, native, translated and passed through.
func TestSecurityFilteredModelsOnEveryRoute(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	const hidden = "gemini-hidden"
	e.up.AddModel(fakegemini.Model{Name: hidden})
	keys := []string{k("sec-fm1"), k("sec-fm2")}
	e.start(poolOpts{keys: keys, extra: "filtered_models " + hidden})
	before := secKeyStates(t, e)

	// The stand-in does list it, so the checks below mean something.
	{
		host := e.up.URL + "/models?pageSize=1000"
		req, _ := http.NewRequest("GET", host, nil)
		req.Header.Set("x-goog-api-key", keys[0])
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(b), "models/"+hidden) {
			t.Fatalf("the stand-in does not list %s: %s", hidden, b)
		}
		e.up.Reset()
	}

	// Lists.
	listed := func(what string, status int, body string) {
		t.Helper()
		if status != 200 {
			t.Errorf("%s: %d %s", what, status, secShort(body))
			return
		}
		if strings.Contains(body, hidden) {
			t.Errorf("%s lists %s: %s", what, hidden, secShort(body))
		}
		if !strings.Contains(body, "gemini-2.5-flash") {
			t.Errorf("%s does not list gemini-2.5-flash: %s", what, secShort(body))
		}
	}
	status, _, body := e.do("GET", "/v1beta/models", "", authed...)
	listed("GET /v1beta/models", status, body)
	status, _, body = e.do("GET", "/gemini/v1beta/models", "", authed...)
	listed("GET /gemini/v1beta/models", status, body)
	// Forwarded pages.
	var names []string
	token := ""
	for page := 0; page < 20; page++ {
		p := "/v1beta/models?pageSize=2"
		if token != "" {
			p += "&pageToken=" + url.QueryEscape(token)
		}
		status, _, body := e.do("GET", p, "", authed...)
		if status != 200 {
			t.Errorf("GET %s: %d %s", p, status, secShort(body))
			break
		}
		var pg struct {
			Models []struct {
				Name string `json:"name"`
			} `json:"models"`
			NextPageToken string `json:"nextPageToken"`
		}
		if err := json.Unmarshal([]byte(body), &pg); err != nil {
			t.Errorf("GET %s: %v", p, err)
			break
		}
		for _, m := range pg.Models {
			names = append(names, m.Name)
		}
		if token = pg.NextPageToken; token == "" {
			break
		}
	}
	if strings.Contains(strings.Join(names, " "), hidden) || !strings.Contains(strings.Join(names, " "), "models/gemini-2.5-flash") {
		t.Errorf("paged listing (pageSize=2): %v", names)
	}
	status, _, body = e.do("GET", "/v1/models", "", bearer...)
	listed("GET /v1/models", status, body)
	status, _, body = e.do("GET", "/hf/v1/models", "", bearer...)
	listed("GET /hf/v1/models", status, body)
	status, _, body = e.do("GET", "/openai/v1/models", "", bearer...)
	listed("GET /openai/v1/models", status, body)

	// Refusals: 404 in the family's shape, and no upstream request names it.
	refused := func(what string, status int, body string, openaiShape bool) {
		t.Helper()
		if status != http.StatusNotFound {
			t.Errorf("%s: client got %d %s, want 404", what, status, secShort(body))
		} else if openaiShape {
			secOpenAIShape(t, what, body, "")
		} else {
			secGoogleShape(t, what, body, 404, "NOT_FOUND")
		}
		for _, r := range e.up.Requests() {
			if strings.Contains(r.Resolved+"?"+r.RawQuery+" "+string(r.Body), hidden) {
				t.Errorf("%s: the upstream got %s %s naming %s", what, r.Method, r.Resolved, hidden)
			}
		}
		secAssertUpstreamInsideAPI(t, e, what)
		secAssertKeysUnchanged(t, e, before, what)
		e.up.Reset()
	}
	chat := `{"model":"` + hidden + `","messages":[{"role":"user","content":"hi"}]}`
	e.up.Reset()
	for _, c := range []struct {
		method, path, body string
		openai             bool
	}{
		{"GET", "/v1beta/models/" + hidden, "", false},
		{"GET", "/gemini/v1beta/models/" + hidden, "", false},
		{"POST", "/v1beta/models/" + hidden + ":generateContent", helloBody, false},
		{"POST", "/v1beta/models/" + hidden + ":streamGenerateContent?alt=sse", helloBody, false},
		{"POST", "/v1beta/models/" + hidden + ":countTokens", helloBody, false},
		{"POST", "/gemini/v1beta/models/" + hidden + ":generateContent", helloBody, false},
		{"GET", "/v1/models/" + hidden, "", true},
		{"GET", "/hf/v1/models/" + hidden, "", true},
		{"POST", "/v1/chat/completions", chat, true},
		{"POST", "/v1/chat/completions", `{"model":"` + hidden + `","stream":true,"messages":[{"role":"user","content":"hi"}]}`, true},
		{"POST", "/hf/v1/chat/completions", chat, true},
		{"POST", "/v1/embeddings", `{"model":"` + hidden + `","input":"hi"}`, true},
		{"GET", "/openai/v1/models/" + hidden, "", true},
		{"POST", "/openai/v1/chat/completions", chat, true},
		{"POST", "/openai/v1/chat/completions", `{"model":"models/` + hidden + `","messages":[{"role":"user","content":"hi"}]}`, true},
		{"POST", "/openai/v1/embeddings", `{"model":"` + hidden + `","input":"hi"}`, true},
		{"POST", "/v1beta/cachedContents", `{"model":"models/` + hidden + `","contents":[{"role":"user","parts":[{"text":"hi"}]}]}`, false},
		{"POST", "/v1beta/models/" + hidden + ":batchGenerateContent", `{"batch":{"inputConfig":{"requests":{"requests":[]}}}}`, false},
	} {
		hdr := authed
		if c.openai {
			hdr = bearer
		}
		status, _, body := e.do(c.method, c.path, c.body, hdr...)
		refused(c.method+" "+c.path+" "+secShort(c.body), status, body, c.openai)
	}
	secAssertKeysUnchanged(t, e, before, "filtered models")
}

// Images and speech name their model through settings (image_model,
// tts_model) or the request: a filtered one is refused there too.
func TestSecurityFilteredModelsOnImagesAndSpeech(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.start(poolOpts{keys: []string{k("sec-fi1")}, extra: "filtered_models imagen-3.0-generate-002 gemini-2.5-flash-preview-tts imagen-4.0-generate-001"})
	for _, c := range []struct{ path, body string }{
		{"/v1/images/generations", `{"prompt":"a cat"}`},                                   // image_model's default
		{"/v1/images/generations", `{"prompt":"a cat","model":"imagen-4.0-generate-001"}`}, // named
		{"/v1/audio/speech", `{"input":"hi","voice":"alloy"}`},                             // tts_model's default
		{"/v1/audio/speech", `{"input":"hi","voice":"alloy","model":"gemini-2.5-flash-preview-tts"}`},
	} {
		status, _, body := e.do("POST", c.path, c.body, bearer...)
		if status != http.StatusNotFound {
			t.Errorf("%s %s: %d %s, want 404", c.path, c.body, status, secShort(body))
			continue
		}
		secOpenAIShape(t, c.path, body, "")
	}
	if n := len(e.up.Requests()); n != 0 {
		t.Errorf("%d upstream requests for filtered models", n)
	}
}
