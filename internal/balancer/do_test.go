package balancer

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/settings"
	"github.com/gemini-balance/gemini_balance/internal/upstream"
)

// Tests of Balancer.Do, the retry loop, against a stand-in upstream: an
// httptest.Server whose handler answers from a script given the key (the
// X-Goog-Api-Key header) and the request's index. One row per line of the
// failure policy table (README "Keys and the failure policy").

const doModel = "gemini-2.5-flash"

// Google-shaped error bodies (the shapes of internal/failure's test bodies).
func googleErr(code int, status, message string, details ...string) string {
	d := ""
	if len(details) > 0 {
		d = `,"details":[` + strings.Join(details, ",") + `]`
	}
	return fmt.Sprintf(`{"error":{"code":%d,"message":%q,"status":%q%s}}`, code, message, status, d)
}

func errorInfo(reason string) string {
	return fmt.Sprintf(`{"@type":"type.googleapis.com/google.rpc.ErrorInfo","reason":%q,"domain":"googleapis.com","metadata":{"service":"generativelanguage.googleapis.com"}}`, reason)
}

func retryInfo(d time.Duration) string {
	return fmt.Sprintf(`{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"%ds"}`, int(d.Seconds()))
}

var (
	doBodyKeyInvalid = googleErr(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", errorInfo("API_KEY_INVALID"))
	doBodyDisabled   = googleErr(403, "PERMISSION_DENIED", "Generative Language API has not been used in project 411082643095 before or it is disabled.", errorInfo("SERVICE_DISABLED"))
	doBodyReferrer   = googleErr(403, "PERMISSION_DENIED", "Requests from referer <empty> are blocked.", errorInfo("API_KEY_HTTP_REFERRER_BLOCKED"))
	doBodyForeign    = googleErr(403, "PERMISSION_DENIED", "You do not have permission to access the File abc123 or it may not exist.")
	doBodyInternal   = googleErr(500, "INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting")
	doBodyOverloaded = googleErr(503, "UNAVAILABLE", "The model is overloaded. Please try again later.")
	doBodyBadRequest = googleErr(400, "INVALID_ARGUMENT", `Invalid JSON payload received. Unknown name "contentz": Cannot find field.`)
	doBodyNoModel    = googleErr(404, "NOT_FOUND", "models/gemini-9.9-ultra is not found for API version v1beta, or is not supported for generateContent.")
	doBodyOK         = `{"candidates":[{"content":{"parts":[{"text":"hi"}],"role":"model"}}]}`
)

func doBodySuspended(key string) string {
	msg := "Permission denied: Consumer 'api_key:" + key + "' has been suspended."
	return googleErr(403, "PERMISSION_DENIED", msg, errorInfo("CONSUMER_SUSPENDED"))
}

func doBody429(d time.Duration) string {
	return googleErr(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details.", retryInfo(d))
}

func doKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("AIzaSyDOTEST%027d", i) // AIza + 35, like a real key
	}
	return keys
}

// doScript answers one upstream request: key is the key it carries, n the
// index (0-based) of the request among all those the server received.
type doScript func(w http.ResponseWriter, r *http.Request, key string, n int)

func reply(status int, body string) doScript {
	return func(w http.ResponseWriter, _ *http.Request, _ string, _ int) {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

// firstThen answers the first request with first and every later one with rest.
func firstThen(first, rest doScript) doScript {
	return func(w http.ResponseWriter, r *http.Request, key string, n int) {
		if n == 0 {
			first(w, r, key, n)
			return
		}
		rest(w, r, key, n)
	}
}

type doHarness struct {
	b    *Balancer
	keys []string

	mu    sync.Mutex
	tried []string // keys in the order the upstream saw them
}

func (h *doHarness) seen() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.tried...)
}

func newDoHarness(t *testing.T, n int, script doScript, mutate func(*settings.Settings)) *doHarness {
	t.Helper()
	h := &doHarness{keys: doKeys(n)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("X-Goog-Api-Key")
		io.Copy(io.Discard, r.Body)
		h.mu.Lock()
		i := len(h.tried)
		h.tried = append(h.tried, key)
		h.mu.Unlock()
		script(w, r, key, i)
	}))
	t.Cleanup(srv.Close)
	s := settings.Defaults()
	s.BaseURL = srv.URL + "/v1beta"
	s.CheckInterval = 0
	s.MaxRetries = 3
	s.MaxFailures = 3
	s.Timeout = 5 * time.Second
	if mutate != nil {
		mutate(&s)
	}
	b, err := Open(Config{Name: "do", Keys: h.keys, Settings: s}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	h.b = b
	return h
}

func (h *doHarness) call(model string) *Call {
	return &Call{
		Route: "gemini.generateContent", Model: model,
		Request: upstream.Request{
			Method: http.MethodPost, Path: "/models/" + model + ":generateContent",
			Header: http.Header{"Content-Type": {"application/json"}},
			Body:   []byte(`{"contents":[{"parts":[{"text":"hi"}]}]}`),
		},
	}
}

func (h *doHarness) do(ctx context.Context, model string) (*Outcome, *Failure) {
	o, f := h.b.Do(ctx, h.call(model))
	if o != nil {
		io.Copy(io.Discard, o.Body)
		o.Finish(nil, nil, gemini.Usage{})
	}
	return o, f
}

// state is each key's state by its secret.
func (h *doHarness) state() map[string]keypool.State {
	now := time.Now()
	m := map[string]keypool.State{}
	for _, k := range h.b.Ring().Keys() {
		m[k.Secret()] = k.Snapshot(now)
	}
	return m
}

// doResult is what one row observed.
type doResult struct {
	h       *doHarness
	out     *Outcome
	fail    *Failure
	tried   []string
	before  map[string]keypool.State
	after   map[string]keypool.State
	started time.Time
	body    []byte // the outcome's body, read to its end
}

// unchanged fails unless no key's health (status, failure counts, cooldowns) changed.
func (r *doResult) unchanged(t *testing.T) {
	t.Helper()
	for k, a := range r.after {
		b := r.before[k]
		if a.Status != b.Status || a.ConsecutiveFailures != b.ConsecutiveFailures || a.TotalFailures != b.TotalFailures || len(a.Cooldowns) != len(b.Cooldowns) {
			t.Errorf("key %s changed: %v/%d/%d/%v → %v/%d/%d/%v", a.Masked, b.Status, b.ConsecutiveFailures, b.TotalFailures, b.Cooldowns,
				a.Status, a.ConsecutiveFailures, a.TotalFailures, a.Cooldowns)
		}
	}
}

func (r *doResult) failure(t *testing.T, status int) *Failure {
	t.Helper()
	if r.out != nil {
		t.Fatalf("got an outcome (key %s), want a failure %d", r.out.Key.Masked(), status)
	}
	if r.fail == nil {
		t.Fatal("neither outcome nor failure")
	}
	if r.fail.Status != status {
		t.Fatalf("failure status %d (%s), want %d; body %s", r.fail.Status, r.fail.Kind, status, r.fail.Body)
	}
	return r.fail
}

func (r *doResult) distinct(t *testing.T, want int) {
	t.Helper()
	if len(r.tried) != want {
		t.Fatalf("%d attempts (%v), want %d", len(r.tried), r.tried, want)
	}
	set := map[string]bool{}
	for _, k := range r.tried {
		if set[k] {
			t.Fatalf("key tried twice: %v", r.tried)
		}
		set[k] = true
	}
}

func (r *doResult) retryAfterAbout(t *testing.T, d time.Duration) {
	t.Helper()
	ra := r.fail.Header.Get("Retry-After")
	s, err := strconv.Atoi(ra)
	if err != nil {
		t.Fatalf("Retry-After %q", ra)
	}
	// Ceil of the time left; the call itself took a moment.
	if max, min := int(d.Seconds()), int(d.Seconds())-2; s > max || s < min {
		t.Errorf("Retry-After %d, want about %v", s, d)
	}
}

func TestDoPolicy(t *testing.T) {
	tests := []struct {
		name    string
		keys    int
		script  doScript
		mutate  func(*settings.Settings)
		prepare func(h *doHarness)
		call    func(c *Call) // changes the call, e.g. a stream
		check   func(t *testing.T, r *doResult)
	}{
		{
			name: "2xx first try resets consecutive failures", keys: 3,
			script: reply(200, doBodyOK),
			prepare: func(h *doHarness) {
				for _, k := range h.b.Ring().Keys() {
					k.MarkFailure("earlier", "", 0, time.Now())
				}
			},
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 1)
				if r.out == nil || r.out.Resp.StatusCode != 200 || r.out.Attempt != 1 || r.out.Key.Secret() != r.tried[0] {
					t.Fatalf("outcome %+v failure %+v", r.out, r.fail)
				}
				for k, s := range r.after {
					want := 1
					if k == r.tried[0] {
						want = 0
					}
					if s.ConsecutiveFailures != want || s.Status != keypool.Active {
						t.Errorf("key %s: %d consecutive failures, %v; want %d, active", s.Masked, s.ConsecutiveFailures, s.Status, want)
					}
				}
			},
		},
		{
			name: "400 API_KEY_INVALID: invalid at once, retried", keys: 3,
			script: firstThen(reply(400, doBodyKeyInvalid), reply(200, doBodyOK)),
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 2)
				if r.out == nil || r.out.Attempt != 2 || r.out.Key.Secret() != r.tried[1] {
					t.Fatalf("outcome %+v failure %+v", r.out, r.fail)
				}
				if s := r.after[r.tried[0]]; s.Status != keypool.Invalid {
					t.Errorf("first key %v, want invalid", s.Status)
				}
				if s := r.after[r.tried[1]]; s.Status != keypool.Active || s.ConsecutiveFailures != 0 {
					t.Errorf("second key %v/%d", s.Status, s.ConsecutiveFailures)
				}
			},
		},
		{
			name: "400 API_KEY_INVALID on every key: last upstream status and body", keys: 2,
			script: reply(400, doBodyKeyInvalid),
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 2)
				f := r.failure(t, 400)
				if string(f.Body) != doBodyKeyInvalid {
					t.Errorf("body %s", f.Body)
				}
				for _, s := range r.after {
					if s.Status != keypool.Invalid {
						t.Errorf("key %s %v", s.Masked, s.Status)
					}
				}
			},
		},
		{
			name: "403 SERVICE_DISABLED: failure +1, retried", keys: 3,
			script: firstThen(reply(403, doBodyDisabled), reply(200, doBodyOK)),
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 2)
				if r.out == nil {
					t.Fatalf("failure %+v", r.fail)
				}
				if s := r.after[r.tried[0]]; s.Status != keypool.Active || s.ConsecutiveFailures != 1 || s.TotalFailures != 1 {
					t.Errorf("first key %v/%d/%d, want active with 1 failure", s.Status, s.ConsecutiveFailures, s.TotalFailures)
				}
			},
		},
		{
			name: "403 SERVICE_DISABLED: invalid at max_failures", keys: 2,
			script: reply(403, doBodyDisabled),
			mutate: func(s *settings.Settings) { s.MaxFailures = 2 },
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 2)
				f := r.failure(t, 403)
				if string(f.Body) != doBodyDisabled {
					t.Errorf("body %s", f.Body)
				}
				for _, s := range r.after {
					if s.Status != keypool.Active || s.ConsecutiveFailures != 1 {
						t.Errorf("after one call: key %s %v/%d", s.Masked, s.Status, s.ConsecutiveFailures)
					}
				}
				// A second call: each key's second failure reaches max_failures.
				_, f = r.h.do(context.Background(), doModel)
				if f == nil || f.Status != 403 {
					t.Fatalf("second call: %+v", f)
				}
				for _, s := range r.h.state() {
					if s.Status != keypool.Invalid || s.ConsecutiveFailures != 2 {
						t.Errorf("after two calls: key %s %v/%d, want invalid", s.Masked, s.Status, s.ConsecutiveFailures)
					}
				}
				// No key left: 503 saying all keys are invalid.
				n := len(r.h.seen())
				_, f = r.h.do(context.Background(), doModel)
				if f == nil || f.Status != 503 || !strings.Contains(f.Message(), "invalid") {
					t.Fatalf("third call: %+v", f)
				}
				if len(r.h.seen()) != n {
					t.Error("an invalid key was tried")
				}
			},
		},
		{
			name: "403 API_KEY_HTTP_REFERRER_BLOCKED: failure +1, hint when all fail", keys: 2,
			script: reply(403, doBodyReferrer),
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 2)
				f := r.failure(t, 403)
				if msg := f.Message(); !strings.Contains(msg, "Requests from referer") || !strings.Contains(msg, "referer") || msg == "Requests from referer <empty> are blocked." {
					t.Errorf("message without the referer hint: %q", msg)
				}
				if !strings.Contains(string(f.Body), "API_KEY_HTTP_REFERRER_BLOCKED") {
					t.Errorf("details lost: %s", f.Body)
				}
				for _, s := range r.after {
					if s.Status != keypool.Active || s.ConsecutiveFailures != 1 {
						t.Errorf("key %s %v/%d, want active with 1 failure", s.Masked, s.Status, s.ConsecutiveFailures)
					}
					if !strings.Contains(s.Reason, "referer") {
						t.Errorf("key %s reason %q does not say to set referer", s.Masked, s.Reason)
					}
				}
			},
		},
		{
			name: "403 PERMISSION_DENIED without a key reason: the client's", keys: 3,
			script: reply(403, doBodyForeign),
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 1)
				f := r.failure(t, 403)
				if string(f.Body) != doBodyForeign {
					t.Errorf("body %s", f.Body)
				}
				r.unchanged(t)
			},
		},
		{
			name: "401 UNAUTHENTICATED without a key reason: the client's", keys: 3,
			script: reply(401, googleErr(401, "UNAUTHENTICATED", "unauthorized")),
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 1)
				f := r.failure(t, 401)
				if !strings.Contains(f.Message(), "unauthorized") {
					t.Errorf("body %s", f.Body)
				}
				r.unchanged(t)
			},
		},
		{
			name: "429 RetryInfo: cooling for that model only, not a failure, retried", keys: 2,
			script: firstThen(reply(429, doBody429(30*time.Second)), reply(200, doBodyOK)),
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 2)
				if r.out == nil {
					t.Fatalf("failure %+v", r.fail)
				}
				s := r.after[r.tried[0]]
				if s.Status != keypool.Active || s.ConsecutiveFailures != 0 || s.TotalFailures != 0 {
					t.Errorf("cooling key %v/%d/%d: a 429 is not a failure", s.Status, s.ConsecutiveFailures, s.TotalFailures)
				}
				u, ok := s.Cooldowns[doModel]
				if !ok || len(s.Cooldowns) != 1 {
					t.Fatalf("cooldowns %v, want %s only", s.Cooldowns, doModel)
				}
				if d := u.Sub(r.started); d < 29*time.Second || d > 31*time.Second {
					t.Errorf("cooling for %v, want 30s", d)
				}
				var cooled, other *keypool.Key
				for _, k := range r.h.b.Ring().Keys() {
					if k.Secret() == r.tried[0] {
						cooled = k
					} else {
						other = k
					}
				}
				now := time.Now()
				if _, err := r.h.b.Ring().Pick(doModel, now, []*keypool.Key{other}); err == nil {
					t.Error("the cooling key was picked for its model")
				}
				if k, err := r.h.b.Ring().Pick("gemini-2.5-pro", now, []*keypool.Key{other}); err != nil || k != cooled {
					t.Errorf("another model: %v %v, want the cooling key", k, err)
				}
			},
		},
		{
			name: "429 on every key: all cooling, Retry-After of the earliest return", keys: 2,
			script: func(w http.ResponseWriter, r *http.Request, key string, n int) {
				d := 40 * time.Second
				if n == 1 {
					d = 20 * time.Second
				}
				reply(429, doBody429(d))(w, r, key, n)
			},
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 2)
				f := r.failure(t, 429)
				r.retryAfterAbout(t, 20*time.Second)
				if msg := f.Message(); !strings.Contains(msg, "all API keys are cooling") {
					t.Errorf("message %q does not say all keys are cooling", msg)
				}
				for _, s := range r.after {
					if s.Status != keypool.Active || s.ConsecutiveFailures != 0 || len(s.Cooldowns) != 1 {
						t.Errorf("key %s %v/%d/%v", s.Masked, s.Status, s.ConsecutiveFailures, s.Cooldowns)
					}
				}
			},
		},
		{
			name: "429 until max_retries with keys left: 429 with Retry-After", keys: 4,
			mutate: func(s *settings.Settings) { s.MaxRetries = 1 },
			script: reply(429, doBody429(45*time.Second)),
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 2)
				f := r.failure(t, 429)
				r.retryAfterAbout(t, 45*time.Second)
				if !strings.Contains(string(f.Body), "RESOURCE_EXHAUSTED") {
					t.Errorf("body %s", f.Body)
				}
			},
		},
		{
			name: "5xx: transient, retried, no key change", keys: 3,
			script: firstThen(reply(503, doBodyOverloaded), reply(200, doBodyOK)),
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 2)
				if r.out == nil {
					t.Fatalf("failure %+v", r.fail)
				}
				s := r.after[r.tried[0]]
				if s.Status != keypool.Active || s.ConsecutiveFailures != 0 || s.TotalFailures != 0 || len(s.Cooldowns) != 0 {
					t.Errorf("first key %v/%d/%d/%v", s.Status, s.ConsecutiveFailures, s.TotalFailures, s.Cooldowns)
				}
			},
		},
		{
			name: "5xx on every key: the upstream's own status and body", keys: 2,
			script: func(w http.ResponseWriter, r *http.Request, key string, n int) {
				if n == 0 {
					reply(503, doBodyOverloaded)(w, r, key, n)
				} else {
					reply(500, doBodyInternal)(w, r, key, n)
				}
			},
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 2)
				f := r.failure(t, 500) // the last attempt's
				if string(f.Body) != doBodyInternal {
					t.Errorf("body %s", f.Body)
				}
				r.unchanged(t)
			},
		},
		{
			name: "timeout: 504, retried, no key change", keys: 2,
			mutate: func(s *settings.Settings) { s.Timeout = 150 * time.Millisecond },
			script: func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			},
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 2)
				f := r.failure(t, 504)
				if f.Kind != "timeout" || !strings.Contains(f.Message(), "150ms") {
					t.Errorf("kind %q message %q, want a timeout naming 150ms", f.Kind, f.Message())
				}
				r.unchanged(t)
			},
		},
		{
			name: "connection error: 502, retried, no key change", keys: 2,
			script: func(w http.ResponseWriter, _ *http.Request, _ string, _ int) {
				c, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					c.Close()
				}
			},
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 2)
				f := r.failure(t, 502)
				if !strings.Contains(f.Message(), "upstream request failed") {
					t.Errorf("message %q", f.Message())
				}
				r.unchanged(t)
			},
		},
		{
			name: "400 bad request: no retry, no key change, as is", keys: 3,
			script: reply(400, doBodyBadRequest),
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 1)
				f := r.failure(t, 400)
				if string(f.Body) != doBodyBadRequest || !strings.HasPrefix(f.Header.Get("Content-Type"), "application/json") {
					t.Errorf("body %s, header %v", f.Body, f.Header)
				}
				r.unchanged(t)
			},
		},
		{
			name: "404 unknown model: no retry, no key change, as is", keys: 3,
			script: reply(404, doBodyNoModel),
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 1)
				f := r.failure(t, 404)
				if string(f.Body) != doBodyNoModel {
					t.Errorf("body %s", f.Body)
				}
				r.unchanged(t)
			},
		},
		{
			name: "max_retries bounds the attempts: 5 failing keys, max_retries 2", keys: 5,
			mutate: func(s *settings.Settings) { s.MaxRetries = 2 },
			script: reply(503, doBodyOverloaded),
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 3)
				r.failure(t, 503)
			},
		},
		{
			// More attempts than the 8 a request's stack buffer holds.
			name: "max_retries above 8: 40 failing keys, max_retries 25", keys: 40,
			mutate: func(s *settings.Settings) { s.MaxRetries = 25 },
			script: reply(503, doBodyOverloaded),
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 26)
				r.failure(t, 503)
			},
		},
		{
			name: "never the same key twice, max_retries larger than the pool", keys: 3,
			mutate: func(s *settings.Settings) { s.MaxRetries = 10 },
			script: reply(500, doBodyInternal),
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 3)
				f := r.failure(t, 500)
				if string(f.Body) != doBodyInternal {
					t.Errorf("body %s", f.Body)
				}
			},
		},
		{
			name: "a key in the body never reaches the client", keys: 2,
			script: func(w http.ResponseWriter, r *http.Request, key string, n int) {
				reply(403, doBodySuspended(key))(w, r, key, n)
			},
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 2)
				f := r.failure(t, 403)
				for _, k := range r.h.keys {
					if strings.Contains(string(f.Body), k) {
						t.Errorf("body holds a key: %s", f.Body)
					}
				}
				if strings.Contains(string(f.Body), "AIzaSyDOTEST") {
					t.Errorf("body holds a key's prefix beyond its mask: %s", f.Body)
				}
				t.Logf("client's body: %s", f.Body)
				if !strings.Contains(f.Message(), "has been suspended") {
					t.Errorf("message %q", f.Message())
				}
				for _, s := range r.after {
					if s.Status != keypool.Invalid {
						t.Errorf("suspended key %s %v, want invalid", s.Masked, s.Status)
					}
					if strings.Contains(s.LastError, s.Key) {
						t.Errorf("last error holds the key: %q", s.LastError)
					}
				}
			},
		},
		{
			name: "max_retries 0: one attempt", keys: 3,
			mutate: func(s *settings.Settings) { s.MaxRetries = 0 },
			script: reply(503, doBodyOverloaded),
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 1)
				r.failure(t, 503)
				r.unchanged(t)
			},
		},
		{
			name: "one key invalid, the other cooling: all cooling", keys: 2,
			script: firstThen(reply(400, doBodyKeyInvalid), reply(429, doBody429(25*time.Second))),
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 2)
				f := r.failure(t, 429)
				r.retryAfterAbout(t, 25*time.Second)
				if !strings.Contains(f.Message(), "all API keys are cooling") {
					t.Errorf("message %q", f.Message())
				}
			},
		},
		{
			name: "empty answer (Accept never accepts): retried, costs the key nothing", keys: 3,
			script: firstThen(reply(200, `{"candidates":[]}`), reply(200, doBodyOK)),
			call: func(c *Call) {
				c.Accept = func(body []byte) bool { return strings.Contains(string(body), `"text"`) }
			},
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 2)
				if r.out == nil || r.out.Key.Secret() != r.tried[1] || string(r.body) != doBodyOK {
					t.Fatalf("outcome %+v body %s failure %+v", r.out, r.body, r.fail)
				}
				r.unchanged(t)
			},
		},
		{
			name: "empty answer on every key: 502", keys: 2,
			script: reply(200, `{"candidates":[]}`),
			call: func(c *Call) {
				c.Accept = func(body []byte) bool { return strings.Contains(string(body), `"text"`) }
			},
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 2)
				if f := r.failure(t, 502); f.Kind != "empty" {
					t.Errorf("kind %q", f.Kind)
				}
				r.unchanged(t)
			},
		},
		{
			name: "stream cut before its first byte: retried, no key change", keys: 3,
			script: firstThen(func(w http.ResponseWriter, _ *http.Request, _ string, _ int) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
				c, _, err := w.(http.Hijacker).Hijack()
				if err == nil {
					c.Close()
				}
			}, func(w http.ResponseWriter, _ *http.Request, _ string, _ int) {
				w.Header().Set("Content-Type", "text/event-stream")
				io.WriteString(w, "data: "+doBodyOK+"\r\n\r\n")
			}),
			call: func(c *Call) { c.Stream = true },
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 2)
				if r.out == nil || r.out.Attempt != 2 || !strings.Contains(string(r.body), `"hi"`) {
					t.Fatalf("outcome %+v body %q failure %+v", r.out, r.body, r.fail)
				}
				r.unchanged(t)
			},
		},
		{
			name: "stream silent past the timeout before its first byte: 504, retried", keys: 2,
			mutate: func(s *settings.Settings) { s.Timeout = 150 * time.Millisecond },
			script: func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
				w.Header().Set("Content-Type", "text/event-stream")
				w.WriteHeader(200)
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
				case <-time.After(5 * time.Second):
				}
			},
			call: func(c *Call) { c.Stream = true },
			check: func(t *testing.T, r *doResult) {
				r.distinct(t, 2)
				if f := r.failure(t, 504); f.Kind != "timeout" {
					t.Errorf("kind %q", f.Kind)
				}
				r.unchanged(t)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newDoHarness(t, tt.keys, tt.script, tt.mutate)
			if tt.prepare != nil {
				tt.prepare(h)
			}
			r := &doResult{h: h, before: h.state(), started: time.Now()}
			c := h.call(doModel)
			if tt.call != nil {
				tt.call(c)
			}
			r.out, r.fail = h.b.Do(context.Background(), c)
			if r.out != nil {
				r.body, _ = io.ReadAll(r.out.Body)
				r.out.Finish(nil, nil, gemini.Usage{})
			}
			r.tried = h.seen()
			r.after = h.state()
			tt.check(t, r)
		})
	}
}

// The client leaving mid-attempt: no key change, no retry, nothing to write.
func TestDoClientGone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	reached := make(chan struct{}, 8)
	h := newDoHarness(t, 3, func(w http.ResponseWriter, r *http.Request, _ string, _ int) {
		reached <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}, nil)
	go func() {
		<-reached
		cancel()
	}()
	before := h.state()
	o, f := h.b.Do(ctx, h.call(doModel))
	if o != nil {
		t.Fatal("an outcome")
	}
	if f == nil || !f.ClientGone {
		t.Fatalf("failure %+v, want ClientGone", f)
	}
	r := &doResult{h: h, tried: h.seen(), before: before, after: h.state()}
	r.distinct(t, 1)
	r.unchanged(t)
}

// Every key rests after the last allowed attempt (pool size = 1+max_retries,
// the common default of 4 keys and max_retries 3): README's rule is still
// "when every key rests, a message saying so and Retry-After of the earliest
// return".
func TestDoAllCoolingOnTheLastAttempt(t *testing.T) {
	h := newDoHarness(t, 2, func(w http.ResponseWriter, r *http.Request, key string, n int) {
		d := 40 * time.Second
		if n == 0 {
			d = 20 * time.Second
		}
		reply(429, doBody429(d))(w, r, key, n)
	}, func(s *settings.Settings) { s.MaxRetries = 1 })
	o, f := h.do(context.Background(), doModel)
	r := &doResult{h: h, out: o, fail: f, tried: h.seen()}
	r.distinct(t, 2)
	r.failure(t, 429)
	r.retryAfterAbout(t, 20*time.Second)
	if msg := f.Message(); !strings.Contains(msg, "all API keys are cooling") {
		t.Errorf("message %q does not say all keys are cooling", msg)
	}
}
