package fakegemini

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"image/png"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

const hello = `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`

func newServer(t *testing.T) *Server {
	t.Helper()
	s := New()
	t.Cleanup(s.Close)
	return s
}

// call sends a request; headers come as name, value pairs.
func call(t *testing.T, method, url, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	return callCtx(t, context.Background(), method, url, body, headers...)
}

func callCtx(t *testing.T, ctx context.Context, method, url, body string, headers ...string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: reading body: %v", method, url, err)
	}
	return resp, b
}

func decodeJSON[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decoding %q: %v", b, err)
	}
	return v
}

type rpcBody struct {
	Error struct {
		Code    int               `json:"code"`
		Message string            `json:"message"`
		Status  string            `json:"status"`
		Details []json.RawMessage `json:"details"`
	} `json:"error"`
}

type detail struct {
	Type       string            `json:"@type"`
	Reason     string            `json:"reason"`
	Domain     string            `json:"domain"`
	Metadata   map[string]string `json:"metadata"`
	RetryDelay string            `json:"retryDelay"`
	Links      []helpLink        `json:"links"`
	Violations []quotaViolation  `json:"violations"`
}

func details(t *testing.T, b rpcBody) map[string]detail {
	t.Helper()
	out := map[string]detail{}
	for _, raw := range b.Error.Details {
		d := decodeJSON[detail](t, raw)
		out[strings.TrimPrefix(d.Type, rpcPrefix)] = d
	}
	return out
}

func TestBehaviors(t *testing.T) {
	s := newServer(t)
	cases := []struct {
		b       Behavior
		status  string
		reason  string
		message string
	}{
		{Invalid, "INVALID_ARGUMENT", "API_KEY_INVALID", "API key not valid. Please pass a valid API key."},
		{Expired, "INVALID_ARGUMENT", "API_KEY_INVALID", "API key expired. Please renew the API key."},
		{Suspended, "PERMISSION_DENIED", "CONSUMER_SUSPENDED", "Permission denied: Consumer 'api_key:key-Suspended' has been suspended."},
		{ServiceDisabled, "PERMISSION_DENIED", "SERVICE_DISABLED", "Generative Language API has not been used in project "},
		{Unauthenticated, "UNAUTHENTICATED", "ACCESS_TOKEN_TYPE_UNSUPPORTED", "Request had invalid authentication credentials."},
		{ReferrerBlocked, "PERMISSION_DENIED", "API_KEY_HTTP_REFERRER_BLOCKED", "Requests from referer <empty> are blocked."},
		{RateLimited, "RESOURCE_EXHAUSTED", "", "You exceeded your current quota"},
		{DailyQuota, "RESOURCE_EXHAUSTED", "", "You exceeded your current quota"},
		{RetryAfterHeader, "RESOURCE_EXHAUSTED", "", "Resource has been exhausted (e.g. check quota)."},
		{ServerError, "INTERNAL", "", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"},
		{Unavailable, "UNAVAILABLE", "", "The model is overloaded. Please try again later."},
		{ServiceBlocked, "PERMISSION_DENIED", "API_KEY_SERVICE_BLOCKED", "Requests to this API generativelanguage.googleapis.com method google.ai.generativelanguage.v1beta.GenerativeService.GenerateContent are blocked."},
	}
	for _, c := range cases {
		t.Run(c.b.String(), func(t *testing.T) {
			key := "key-" + c.b.String()
			s.SetKey(key, c.b)
			resp, b := call(t, "POST", s.URL+"/models/gemini-2.5-flash:generateContent", hello, "x-goog-api-key", key)
			if resp.StatusCode != c.b.Status() {
				t.Fatalf("status %d, want %d; body %s", resp.StatusCode, c.b.Status(), b)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json; charset=UTF-8" {
				t.Errorf("Content-Type %q", ct)
			}
			if want := "{\n  \"error\": {\n    \"code\": " + itoa(c.b.Status()) + ",\n    \"message\": "; !bytes.HasPrefix(b, []byte(want)) {
				t.Errorf("body not pretty-printed like Google:\n%s", b)
			}
			if !bytes.HasSuffix(b, []byte("\n  }\n}\n")) {
				t.Errorf("body does not end like Google's: %q", b[max(0, len(b)-20):])
			}
			e := decodeJSON[rpcBody](t, b)
			if e.Error.Code != c.b.Status() || e.Error.Status != c.status || !strings.HasPrefix(e.Error.Message, c.message) {
				t.Errorf("error = %d %s %q", e.Error.Code, e.Error.Status, e.Error.Message)
			}
			d := details(t, e)
			if c.reason != "" {
				info, ok := d["ErrorInfo"]
				if !ok || info.Reason != c.reason || info.Domain != "googleapis.com" || info.Metadata["service"] != service {
					t.Errorf("ErrorInfo = %+v", info)
				}
			}
			switch c.b {
			case RateLimited, DailyQuota:
				wantID, wantDelay := "GenerateRequestsPerMinutePerProjectPerModel-FreeTier", "17s"
				if c.b == DailyQuota {
					wantID, wantDelay = "GenerateRequestsPerDayPerProjectPerModel-FreeTier", "43s"
				}
				q := d["QuotaFailure"]
				if len(q.Violations) != 1 || q.Violations[0].QuotaID != wantID ||
					q.Violations[0].QuotaDimensions["model"] != "gemini-2.5-flash" ||
					q.Violations[0].QuotaDimensions["location"] != "global" || q.Violations[0].QuotaMetric == "" {
					t.Errorf("QuotaFailure = %+v", q)
				}
				if d["RetryInfo"].RetryDelay != wantDelay {
					t.Errorf("RetryInfo = %+v", d["RetryInfo"])
				}
				if len(d["Help"].Links) == 0 || d["Help"].Links[0].URL == "" {
					t.Errorf("Help = %+v", d["Help"])
				}
			case RetryAfterHeader:
				if resp.Header.Get("Retry-After") != "120" || len(e.Error.Details) != 0 {
					t.Errorf("Retry-After %q, details %s", resp.Header.Get("Retry-After"), e.Error.Details)
				}
			case ServiceDisabled:
				if d["ErrorInfo"].Metadata["activationUrl"] == "" || d["ErrorInfo"].Metadata["consumer"] == "" {
					t.Errorf("SERVICE_DISABLED metadata = %v", d["ErrorInfo"].Metadata)
				}
			case ServiceBlocked:
				md := d["ErrorInfo"].Metadata
				if md["methodName"] != "google.ai.generativelanguage.v1beta.GenerativeService.GenerateContent" ||
					md["apiName"] != service || !strings.HasPrefix(md["consumer"], "projects/") {
					t.Errorf("API_KEY_SERVICE_BLOCKED metadata = %v", md)
				}
				if e.Error.Message != c.message {
					t.Errorf("message %q", e.Error.Message)
				}
				// The method named is the one called.
				_, b := call(t, "POST", s.URL+"/models/gemini-2.5-flash:countTokens", hello, "x-goog-api-key", key)
				if e := decodeJSON[rpcBody](t, b); !strings.Contains(e.Error.Message, "GenerativeService.CountTokens are blocked.") {
					t.Errorf("countTokens: %s", b)
				}
			}
		})
	}
}

func TestKeyRules(t *testing.T) {
	s := newServer(t)
	s.SetKey("good", OK)
	url := s.URL + "/models/gemini-2.5-flash:generateContent"

	resp, b := call(t, "POST", url, hello)
	e := decodeJSON[rpcBody](t, b)
	if resp.StatusCode != 403 || e.Error.Status != "PERMISSION_DENIED" ||
		!strings.HasPrefix(e.Error.Message, "Method doesn't allow unregistered callers") {
		t.Errorf("missing key: %d %s", resp.StatusCode, b)
	}
	if resp, _ := call(t, "POST", url, hello, "x-goog-api-key", "stranger"); resp.StatusCode != 400 {
		t.Errorf("unknown key: status %d, want 400 (Invalid)", resp.StatusCode)
	}
	s.SetDefault(ServerError)
	if resp, _ := call(t, "POST", url, hello, "x-goog-api-key", "stranger"); resp.StatusCode != 500 {
		t.Errorf("unknown key after SetDefault(ServerError): status %d", resp.StatusCode)
	}

	s.Reset()
	call(t, "POST", url, hello, "x-goog-api-key", "good")
	call(t, "POST", url+"?key=good", hello)
	call(t, "POST", url, hello, "Authorization", "Bearer good")
	call(t, "POST", url+"?key=q", hello, "x-goog-api-key", "h", "Authorization", "Bearer b")
	call(t, "POST", url+"?key=q", hello, "Authorization", "Bearer b")
	if got, want := s.KeysUsed(), []string{"good", "good", "good", "h", "q"}; !slices.Equal(got, want) {
		t.Errorf("KeysUsed = %q, want %q", got, want)
	}
	reqs := s.Requests()
	if len(reqs) != 5 || reqs[1].RawQuery != "key=good" || reqs[0].Method != "POST" ||
		reqs[0].Path != "/v1beta/models/gemini-2.5-flash:generateContent" || string(reqs[0].Body) != hello ||
		reqs[0].Header.Get("X-Goog-Api-Key") != "good" || reqs[0].Time.IsZero() {
		t.Errorf("Requests = %+v", reqs)
	}
	reqs[0].Body[0] = 'X'
	if s.Requests()[0].Body[0] == 'X' {
		t.Error("Requests does not copy bodies")
	}
	s.Reset()
	if len(s.Requests()) != 0 || len(s.KeysUsed()) != 0 {
		t.Error("Reset kept requests")
	}
}

func TestKeyCheckedBeforeModel(t *testing.T) {
	s := newServer(t)
	resp, _ := call(t, "POST", s.URL+"/models/no-such-model:generateContent", "{bad", "x-goog-api-key", "bad")
	if resp.StatusCode != 400 {
		t.Errorf("status %d, want the key's 400 before the model's 404", resp.StatusCode)
	}
}

func TestReferrer(t *testing.T) {
	s := newServer(t)
	s.AllowedReferer = "https://allowed.example/"
	s.SetKey("ref", ReferrerBlocked)
	url := s.URL + "/models/gemini-2.5-flash:generateContent"
	if resp, _ := call(t, "POST", url, hello, "x-goog-api-key", "ref", "Referer", "https://allowed.example/"); resp.StatusCode != 200 {
		t.Errorf("allowed referer: status %d", resp.StatusCode)
	}
	resp, b := call(t, "POST", url, hello, "x-goog-api-key", "ref", "Referer", "https://other.example/")
	if e := decodeJSON[rpcBody](t, b); resp.StatusCode != 403 || e.Error.Message != "Requests from referer https://other.example/ are blocked." {
		t.Errorf("other referer: %d %s", resp.StatusCode, b)
	}
}

func TestRetryDelaySetting(t *testing.T) {
	s := newServer(t)
	s.RetryDelay = "3s"
	s.SetKey("k", RateLimited)
	_, b := call(t, "POST", s.URL+"/models/gemini-2.5-pro:generateContent", hello, "x-goog-api-key", "k")
	e := decodeJSON[rpcBody](t, b)
	d := details(t, e)
	if d["RetryInfo"].RetryDelay != "3s" || !strings.Contains(e.Error.Message, "Please retry in 3s.") ||
		d["QuotaFailure"].Violations[0].QuotaDimensions["model"] != "gemini-2.5-pro" {
		t.Errorf("429 body %s", b)
	}
}

func TestPagination(t *testing.T) {
	s := newServer(t)
	s.SetKey("k", OK)
	type page struct {
		Models        []Model `json:"models"`
		NextPageToken *string `json:"nextPageToken"`
	}
	var names []string
	token, pages := "", 0
	for {
		url := s.URL + "/models?key=k"
		if token != "" {
			url += "&pageToken=" + token
		}
		resp, b := call(t, "GET", url, "")
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
		if !bytes.HasPrefix(b, []byte("{\n  \"models\": [\n    {\n      \"name\": \"models/")) {
			t.Errorf("page not pretty-printed:\n%s", b)
		}
		p := decodeJSON[page](t, b)
		pages++
		if len(p.Models) > 3 {
			t.Errorf("page of %d models, want at most 3", len(p.Models))
		}
		for _, m := range p.Models {
			names = append(names, m.Name)
			if m.DisplayName == "" || m.Version == "" || m.InputTokenLimit == 0 || len(m.SupportedGenerationMethods) == 0 {
				t.Errorf("model lacks fields: %+v", m)
			}
		}
		if p.NextPageToken == nil {
			break
		}
		token = *p.NextPageToken
	}
	if pages != 3 || len(names) != len(Models()) || names[0] != "models/gemini-2.5-flash" {
		t.Errorf("%d pages, names %q", pages, names)
	}

	_, b := call(t, "GET", s.URL+"/models?pageSize=5", "", "x-goog-api-key", "k")
	if p := decodeJSON[page](t, b); len(p.Models) != 5 || p.NextPageToken == nil {
		t.Errorf("pageSize=5: %d models", len(p.Models))
	}
	_, b = call(t, "GET", s.URL+"/models?pageSize=100", "", "x-goog-api-key", "k")
	if p := decodeJSON[page](t, b); len(p.Models) != 8 || p.NextPageToken != nil {
		t.Errorf("pageSize=100: %d models, token %v", len(p.Models), p.NextPageToken)
	}
	s.ModelsPageSize = 4
	_, b = call(t, "GET", s.URL+"/models", "", "x-goog-api-key", "k")
	if p := decodeJSON[page](t, b); len(p.Models) != 4 {
		t.Errorf("ModelsPageSize=4: %d models", len(p.Models))
	}
	for _, q := range []string{"pageToken=garbage", "pageToken=" + base64.StdEncoding.EncodeToString([]byte("\n\x0bmodels/nope")), "pageSize=abc"} {
		resp, b := call(t, "GET", s.URL+"/models?"+q, "", "x-goog-api-key", "k")
		if e := decodeJSON[rpcBody](t, b); resp.StatusCode != 400 || e.Error.Status != "INVALID_ARGUMENT" {
			t.Errorf("%s: %d %s", q, resp.StatusCode, b)
		}
	}
}

func TestGetModel(t *testing.T) {
	s := newServer(t)
	s.SetKey("k", OK)
	resp, b := call(t, "GET", s.URL+"/models/gemini-2.5-pro", "", "x-goog-api-key", "k")
	if m := decodeJSON[Model](t, b); resp.StatusCode != 200 || m.Name != "models/gemini-2.5-pro" || m.OutputTokenLimit == 0 {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
	resp, b = call(t, "GET", s.URL+"/models/xyz", "", "x-goog-api-key", "k")
	if e := decodeJSON[rpcBody](t, b); resp.StatusCode != 404 || e.Error.Status != "NOT_FOUND" ||
		!strings.HasPrefix(e.Error.Message, "models/xyz is not found for API version v1beta, or is not supported for generateContent.") {
		t.Errorf("%d %s", resp.StatusCode, b)
	}
}

func TestGenerateContent(t *testing.T) {
	s := newServer(t)
	s.SetKey("k", OK)
	resp, b := call(t, "POST", s.URL+"/models/gemini-2.5-flash:generateContent", hello, "x-goog-api-key", "k")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != jsonType {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	if !bytes.HasPrefix(b, []byte("{\n  \"candidates\": [\n    {\n      \"content\": {\n        \"parts\": [\n          {\n            \"text\": \"Hello from gemini-2.5-flash\"")) {
		t.Errorf("unexpected body:\n%s", b)
	}
	r := decodeJSON[generateResponse](t, b)
	c := r.Candidates[0]
	u := r.UsageMetadata
	if c.Content.Role != "model" || c.FinishReason != "STOP" || c.Index != 0 || r.ModelVersion != "gemini-2.5-flash" || r.ResponseID == "" ||
		u.PromptTokenCount == 0 || u.CandidatesTokenCount == 0 || u.TotalTokenCount != u.PromptTokenCount+u.CandidatesTokenCount {
		t.Errorf("response %+v", r)
	}

	s.SetKey("empty", EmptyAnswer)
	_, b = call(t, "POST", s.URL+"/models/gemini-2.5-flash:generateContent", hello, "x-goog-api-key", "empty")
	if r := decodeJSON[generateResponse](t, b); len(r.Candidates[0].Content.Parts) != 0 || r.Candidates[0].FinishReason != "STOP" {
		t.Errorf("EmptyAnswer: %s", b)
	}
}

func TestRequestErrors(t *testing.T) {
	s := newServer(t)
	s.SetKey("k", OK)
	cases := []struct {
		name, path, body string
		status           int
		message          string
	}{
		{"unknown model", "/models/xyz:generateContent", hello, 404, "models/xyz is not found for API version v1beta, or is not supported for generateContent. Call ListModels"},
		{"unsupported method", "/models/text-embedding-004:generateContent", hello, 404, "models/text-embedding-004 is not found"},
		{"malformed JSON", "/models/gemini-2.5-flash:generateContent", `{"contents": [}`, 400, "Invalid JSON payload received. Unexpected token.\n{\"contents\": [}\n              ^"},
		{"no contents", "/models/gemini-2.5-flash:generateContent", `{}`, 400, "* GenerateContentRequest.contents: contents is not specified\n"},
		{"empty body", "/models/gemini-2.5-flash:generateContent", ``, 400, "* GenerateContentRequest.contents: contents is not specified\n"},
		{"embed without content", "/models/text-embedding-004:embedContent", `{}`, 400, "* EmbedContentRequest.content"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			resp, b := call(t, "POST", s.URL+c.path, c.body, "x-goog-api-key", "k")
			e := decodeJSON[rpcBody](t, b)
			if resp.StatusCode != c.status || e.Error.Code != c.status || !strings.HasPrefix(e.Error.Message, c.message) {
				t.Errorf("%d %s", resp.StatusCode, b)
			}
		})
	}
	resp, b := call(t, "POST", s.URL+"/models/gemini-2.5-flash:generateContent", "nope", "x-goog-api-key", "k")
	if d := details(t, decodeJSON[rpcBody](t, b)); resp.StatusCode != 400 || len(d["BadRequest"].Type) == 0 {
		t.Errorf("invalid JSON lacks BadRequest: %s", b)
	}
	resp, b = call(t, "GET", s.URL+"/nothing/here", "", "x-goog-api-key", "k")
	if resp.StatusCode != 404 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !bytes.Contains(b, []byte("/v1beta/nothing/here")) {
		t.Errorf("unknown path: %d %s", resp.StatusCode, b)
	}
}

// readEvents reads SSE events framed "data: ...\r\n\r\n" until the body ends.
func readEvents(t *testing.T, body io.Reader) ([]string, error) {
	t.Helper()
	r := bufio.NewReader(body)
	var events []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			if err == io.EOF && line == "" {
				return events, nil
			}
			return events, err
		}
		if !strings.HasPrefix(line, "data: ") || !strings.HasSuffix(line, "\r\n") {
			t.Fatalf("bad event line %q", line)
		}
		if blank, err := r.ReadString('\n'); err != nil || blank != "\r\n" {
			t.Fatalf("event not followed by a blank CRLF line: %q, %v", blank, err)
		}
		events = append(events, strings.TrimSuffix(strings.TrimPrefix(line, "data: "), "\r\n"))
	}
}

func stream(t *testing.T, ctx context.Context, url, key string) *http.Response {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(hello))
	req.Header.Set("x-goog-api-key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestSSE(t *testing.T) {
	s := newServer(t)
	s.SetKey("k", OK)
	s.StreamEvents = 4
	resp := stream(t, context.Background(), s.URL+"/models/gemini-2.5-flash:streamGenerateContent?alt=sse", "k")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events, err := readEvents(t, resp.Body)
	if err != nil || len(events) != 4 {
		t.Fatalf("%d events, %v", len(events), err)
	}
	if want := `{"candidates": [{"content": {"parts": [{"text": "Hello"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": `; !strings.HasPrefix(events[0], want) {
		t.Errorf("event not in Google's one-line format:\n%s\nwant prefix\n%s", events[0], want)
	}
	var text strings.Builder
	for i, ev := range events {
		r := decodeJSON[generateResponse](t, []byte(ev))
		text.WriteString(r.Candidates[0].Content.Parts[0].Text)
		last := i == len(events)-1
		if (r.Candidates[0].FinishReason == "STOP") != last || (r.UsageMetadata.CandidatesTokenCount > 0) != last {
			t.Errorf("event %d: %s", i, ev)
		}
	}
	if got := text.String(); got != "Hello from gemini-2.5-flash #4" {
		t.Errorf("text %q", got)
	}
}

func TestArrayStream(t *testing.T) {
	s := newServer(t)
	s.SetKey("k", OK)
	_, b := call(t, "POST", s.URL+"/models/gemini-2.0-flash:streamGenerateContent", hello, "x-goog-api-key", "k")
	if !bytes.HasPrefix(b, []byte("[{\n  \"candidates\": [\n")) || !bytes.HasSuffix(b, []byte("}\n]")) ||
		bytes.Count(b, []byte("\n}\n,\r\n{\n  \"candidates\"")) != 2 {
		t.Errorf("not framed like Google's array stream:\n%q", b)
	}
	rs := decodeJSON[[]generateResponse](t, b)
	if len(rs) != 3 || rs[2].Candidates[0].FinishReason != "STOP" {
		t.Errorf("%d elements", len(rs))
	}

	// Errors on the array stream come inside an array, as Google sends them.
	resp, b := call(t, "POST", s.URL+"/models/gemini-2.0-flash:streamGenerateContent", hello, "x-goog-api-key", "bad")
	if resp.StatusCode != 400 || !bytes.HasPrefix(b, []byte("[{\n  \"error\": {\n    \"code\": 400,")) || !bytes.HasSuffix(b, []byte("\n}\n]")) {
		t.Errorf("array stream error:\n%s", b)
	}
	if e := decodeJSON[[]rpcBody](t, b); e[0].Error.Status != "INVALID_ARGUMENT" {
		t.Errorf("%+v", e)
	}
	// With alt=sse errors are plain objects.
	_, b = call(t, "POST", s.URL+"/models/gemini-2.0-flash:streamGenerateContent?alt=sse", hello, "x-goog-api-key", "bad")
	if !bytes.HasPrefix(b, []byte("{\n  \"error\"")) {
		t.Errorf("SSE error:\n%s", b)
	}
}

func TestStreamFlushesEachEvent(t *testing.T) {
	s := newServer(t)
	s.SetKey("k", OK)
	s.StreamDelay = 20 * time.Second
	for _, path := range []string{":streamGenerateContent?alt=sse", ":streamGenerateContent"} {
		ctx, cancel := context.WithCancel(context.Background())
		start := time.Now()
		resp := stream(t, ctx, s.URL+"/models/gemini-2.5-flash"+path, "k")
		buf := make([]byte, 64)
		n, err := io.ReadAtLeast(resp.Body, buf, 20)
		if err != nil || time.Since(start) > 5*time.Second {
			t.Errorf("%s: first event not flushed: %q %v after %v", path, buf[:n], err, time.Since(start))
		}
		cancel()
	}
}

func TestCutStream(t *testing.T) {
	s := newServer(t)
	s.SetKey("cut", CutStream)
	resp := stream(t, context.Background(), s.URL+"/models/gemini-2.5-flash:streamGenerateContent?alt=sse", "cut")
	events, err := readEvents(t, resp.Body)
	if len(events) != 2 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("SSE: %d events, err %v; want 2 and unexpected EOF", len(events), err)
	}
	for _, ev := range events {
		if r := decodeJSON[generateResponse](t, []byte(ev)); r.Candidates[0].FinishReason != "" {
			t.Errorf("cut stream sent a final event: %s", ev)
		}
	}

	resp = stream(t, context.Background(), s.URL+"/models/gemini-2.5-flash:streamGenerateContent", "cut")
	b, err := io.ReadAll(resp.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) || bytes.Count(b, []byte(arraySep)) != 1 || bytes.HasSuffix(b, []byte("]")) {
		t.Errorf("array: err %v, body %q", err, b)
	}

	req, _ := http.NewRequest("POST", s.URL+"/models/gemini-2.5-flash:generateContent", strings.NewReader(hello))
	req.Header.Set("x-goog-api-key", "cut")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("non-stream: got status %d, want a broken connection", resp.StatusCode)
	}
}

func TestHang(t *testing.T) {
	s := New()
	s.SetKey("hang", Hang)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", s.URL+"/models/gemini-2.5-flash:generateContent", strings.NewReader(hello))
	req.Header.Set("x-goog-api-key", "hang")
	start := time.Now()
	_, err := http.DefaultClient.Do(req)
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) < 150*time.Millisecond {
		t.Errorf("err %v after %v", err, time.Since(start))
	}

	// Close releases a request that hangs without deadline.
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("GET", s.URL+"/models", nil)
		req.Header.Set("x-goog-api-key", "hang")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		errc <- err
	}()
	for len(s.Requests()) < 2 {
		time.Sleep(5 * time.Millisecond)
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked on a hanging request")
	}
	select {
	case <-errc:
	case <-time.After(5 * time.Second):
		t.Fatal("hanging request not released by Close")
	}
}

func TestPrefix(t *testing.T) {
	s := NewWithPrefix("/relay/abc")
	defer s.Close()
	s.SetKey("k", OK)
	if !strings.HasSuffix(s.URL, "/relay/abc/v1beta") || s.Root()+"/v1beta" != s.URL {
		t.Fatalf("URL %q, Root %q", s.URL, s.Root())
	}
	if resp, b := call(t, "POST", s.URL+"/models/gemini-2.5-flash:generateContent", hello, "x-goog-api-key", "k"); resp.StatusCode != 200 {
		t.Errorf("under prefix: %d %s", resp.StatusCode, b)
	}
	if resp, _ := call(t, "GET", s.URL+"/openai/models", "", "Authorization", "Bearer k"); resp.StatusCode != 200 {
		t.Errorf("openai under prefix: %d", resp.StatusCode)
	}
	bare := strings.TrimSuffix(s.URL, "/relay/abc/v1beta") + "/v1beta/models"
	if resp, _ := call(t, "GET", bare, "", "x-goog-api-key", "k"); resp.StatusCode != 404 {
		t.Errorf("without prefix: %d, want 404", resp.StatusCode)
	}
	if got := s.Requests()[0].Path; got != "/relay/abc/v1beta/models/gemini-2.5-flash:generateContent" {
		t.Errorf("recorded path %q", got)
	}
}

func TestOtherNativeRoutes(t *testing.T) {
	s := newServer(t)
	s.SetKey("k", OK)
	_, b := call(t, "POST", s.URL+"/models/gemini-2.5-flash:countTokens", hello, "x-goog-api-key", "k")
	ct := decodeJSON[struct {
		TotalTokens         int           `json:"totalTokens"`
		PromptTokensDetails []tokenDetail `json:"promptTokensDetails"`
	}](t, b)
	if ct.TotalTokens != tokens([]byte(hello)) || len(ct.PromptTokensDetails) != 1 {
		t.Errorf("countTokens %s", b)
	}

	_, b = call(t, "POST", s.URL+"/models/text-embedding-004:embedContent", `{"content":{"parts":[{"text":"a"}]}}`, "x-goog-api-key", "k")
	e1 := decodeJSON[struct{ Embedding embeddingValues }](t, b)
	_, b = call(t, "POST", s.URL+"/models/gemini-embedding-001:embedContent", `{"content":{"parts":[{"text":"a"}]},"outputDimensionality":5}`, "x-goog-api-key", "k")
	e2 := decodeJSON[struct{ Embedding embeddingValues }](t, b)
	if len(e1.Embedding.Values) != DefaultEmbeddingSize || len(e2.Embedding.Values) != 5 || e1.Embedding.Values[0] != e2.Embedding.Values[0] {
		t.Errorf("embedContent: %v %v", e1, e2)
	}

	_, b = call(t, "POST", s.URL+"/models/text-embedding-004:batchEmbedContents",
		`{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"a"}]}},{"model":"models/text-embedding-004","content":{"parts":[{"text":"b"}]},"outputDimensionality":2}]}`,
		"x-goog-api-key", "k")
	be := decodeJSON[struct{ Embeddings []embeddingValues }](t, b)
	if len(be.Embeddings) != 2 || len(be.Embeddings[1].Values) != 2 || be.Embeddings[0].Values[0] != e1.Embedding.Values[0] {
		t.Errorf("batchEmbedContents %s", b)
	}

	_, b = call(t, "POST", s.URL+"/models/imagen-3.0-generate-002:predict", `{"instances":[{"prompt":"cat"}],"parameters":{"sampleCount":2}}`, "x-goog-api-key", "k")
	p := decodeJSON[struct {
		Predictions []struct{ BytesBase64Encoded, MimeType string }
	}](t, b)
	if len(p.Predictions) != 2 || p.Predictions[0].MimeType != "image/png" {
		t.Fatalf("predict %s", b)
	}
	raw, err := base64.StdEncoding.DecodeString(p.Predictions[0].BytesBase64Encoded)
	if err != nil {
		t.Fatal(err)
	}
	if img, err := png.Decode(bytes.NewReader(raw)); err != nil || img.Bounds().Dx() != 1 {
		t.Errorf("prediction is not a 1x1 PNG: %v", err)
	}
}

func TestOpenAI(t *testing.T) {
	s := newServer(t)
	s.SetKey("k", OK)
	base := s.URL + "/openai"
	auth := []string{"Authorization", "Bearer k"}

	_, b := call(t, "GET", base+"/models", "", auth...)
	list := decodeJSON[struct {
		Object string
		Data   []struct{ ID, Object, OwnedBy string }
	}](t, b)
	if list.Object != "list" || len(list.Data) != len(Models()) || list.Data[0].ID != "models/gemini-2.5-flash" || list.Data[0].Object != "model" {
		t.Errorf("models %s", b)
	}

	chatBody := `{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}]}`
	resp, b := call(t, "POST", base+"/chat/completions", chatBody, auth...)
	type choice struct {
		Index        int
		FinishReason *string `json:"finish_reason"`
		Message      struct{ Role, Content string }
		Delta        struct{ Role, Content string }
	}
	type completion struct {
		ID, Object, Model string
		Created           int64
		Choices           []choice
		Usage             *struct {
			PromptTokens     int `json:"prompt_tokens"`
			CompletionTokens int `json:"completion_tokens"`
			TotalTokens      int `json:"total_tokens"`
		}
	}
	c := decodeJSON[completion](t, b)
	if resp.StatusCode != 200 || c.Object != "chat.completion" || c.Choices[0].Message.Content != "Hello from gemini-2.5-flash" ||
		*c.Choices[0].FinishReason != "stop" || c.Usage.TotalTokens != c.Usage.PromptTokens+c.Usage.CompletionTokens {
		t.Errorf("chat %s", b)
	}

	resp, b = call(t, "POST", base+"/chat/completions", `{"model":"models/gemini-2.5-pro","stream":true,"messages":[{"role":"user","content":"hi"}]}`, auth...)
	if resp.Header.Get("Content-Type") != "text/event-stream" || !bytes.HasSuffix(b, []byte("data: [DONE]\n\n")) {
		t.Errorf("chat stream:\n%s", b)
	}
	var text strings.Builder
	frames := strings.Split(strings.TrimSuffix(string(b), "\n\n"), "\n\n")
	for i, f := range frames[:len(frames)-1] {
		ch := decodeJSON[completion](t, []byte(strings.TrimPrefix(f, "data: ")))
		text.WriteString(ch.Choices[0].Delta.Content)
		if last := i == len(frames)-2; ch.Object != "chat.completion.chunk" || (ch.Choices[0].FinishReason != nil) != last || (ch.Usage != nil) != last {
			t.Errorf("chunk %d: %s", i, f)
		}
	}
	if text.String() != "Hello from gemini-2.5-pro" {
		t.Errorf("streamed text %q", text.String())
	}

	_, b = call(t, "POST", base+"/embeddings", `{"model":"text-embedding-004","input":["a","b"],"dimensions":3}`, auth...)
	emb := decodeJSON[struct {
		Object string
		Data   []struct {
			Embedding []float64
			Index     int
		}
	}](t, b)
	if emb.Object != "list" || len(emb.Data) != 2 || len(emb.Data[1].Embedding) != 3 || emb.Data[1].Index != 1 {
		t.Errorf("embeddings %s", b)
	}

	// Errors on the OpenAI endpoint are a one-element array of the rpc error.
	resp, b = call(t, "POST", base+"/chat/completions", chatBody, "Authorization", "Bearer bad")
	e := decodeJSON[[]rpcBody](t, b)
	if resp.StatusCode != 400 || len(e) != 1 || e[0].Error.Message != "API key not valid. Please pass a valid API key." {
		t.Errorf("openai error %d %s", resp.StatusCode, b)
	}
	resp, b = call(t, "POST", base+"/chat/completions", `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`, auth...)
	if e := decodeJSON[[]rpcBody](t, b); resp.StatusCode != 404 || !strings.Contains(e[0].Error.Message, "v1main") {
		t.Errorf("openai unknown model %d %s", resp.StatusCode, b)
	}

	s.SetKey("cut", CutStream)
	req, _ := http.NewRequest("POST", base+"/chat/completions", strings.NewReader(`{"model":"gemini-2.5-flash","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Authorization", "Bearer cut")
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, err = io.ReadAll(r.Body)
	if !errors.Is(err, io.ErrUnexpectedEOF) || bytes.Count(b, []byte("data: ")) != 2 {
		t.Errorf("openai cut stream: %v %q", err, b)
	}
}

func TestBehaviorString(t *testing.T) {
	if OK.String() != "OK" || EmptyAnswer.String() != "EmptyAnswer" || ServiceBlocked.String() != "ServiceBlocked" ||
		Behavior(99).String() != "Behavior(99)" {
		t.Error("Behavior.String")
	}
}

func TestTLSSpeaksHTTP2(t *testing.T) {
	s := NewTLS()
	defer s.Close()
	s.SetDefault(OK)
	pool := x509.NewCertPool()
	pool.AddCert(s.Certificate())
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/models/gemini-2.5-flash:generateContent", strings.NewReader(`{"contents":[{"parts":[{"text":"hi"}]}]}`))
	req.Header.Set("X-Goog-Api-Key", "AIzaSyTLS")
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 2 {
		t.Fatalf("status %d over %s, want 200 over HTTP/2", resp.StatusCode, resp.Proto)
	}
}
