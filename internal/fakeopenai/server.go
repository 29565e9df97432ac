// Package fakeopenai is an in-process stand-in for an OpenAI-compatible API
// (OpenAI, DeepSeek, Groq, OpenRouter, ...) for integration tests: chat
// completions (plain, streamed, with tool calls), the model list and
// embeddings, under a configurable base path such as "/v1".
//
// How it answers depends on the Bearer key of each request (see Behavior,
// Server.SetKey and Server.SetDefault); its error bodies and headers are the
// ones OpenAI documents and sends, so that a failure classifier can be tested
// against them. Every request is recorded (Requests, KeysUsed).
//
// What a chat completion answers depends on the request: when it offers
// tools and its last message is the user's, a tool call (whose arguments a
// stream sends in fragments, as OpenAI does); after a tool message, a text
// that quotes the tool's result; otherwise a text that quotes the user.
package fakeopenai

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/fakeupstream"
)

// Behavior says how the stand-in answers for one key.
type Behavior int

const (
	// OK answers normally.
	OK Behavior = iota
	// Invalid answers 401 with OpenAI's invalid_api_key body, the key quoted
	// masked as OpenAI does.
	Invalid
	// RateLimited answers 429 rate_limit_exceeded with Retry-After and the
	// x-ratelimit-* headers (Server.RetryAfter, ResetRequests, ResetTokens).
	RateLimited
	// InsufficientQuota answers 429 insufficient_quota, as OpenAI does when
	// the credit is used up.
	InsufficientQuota
	// InsufficientBalance answers 402 "Insufficient Balance", as DeepSeek
	// does.
	InsufficientBalance
	// ServerError answers 500 server_error.
	ServerError
	// Unavailable answers 503 "The server is overloaded or not ready yet.".
	Unavailable
	// Hang never answers, until the request's context ends or the server is
	// closed.
	Hang
	// CutStream sends the first two chunks of a stream and then aborts the
	// connection without "data: [DONE]"; on a request that does not stream
	// it aborts the connection before answering.
	CutStream
)

var behaviorNames = [...]string{
	OK: "OK", Invalid: "Invalid", RateLimited: "RateLimited", InsufficientQuota: "InsufficientQuota",
	InsufficientBalance: "InsufficientBalance", ServerError: "ServerError", Unavailable: "Unavailable",
	Hang: "Hang", CutStream: "CutStream",
}

func (b Behavior) String() string {
	if b >= 0 && int(b) < len(behaviorNames) {
		return behaviorNames[b]
	}
	return "Behavior(?)"
}

// Status is the HTTP status of the answer for b; 0 for Hang and CutStream,
// which never answer fully.
func (b Behavior) Status() int {
	switch b {
	case OK:
		return http.StatusOK
	case Invalid:
		return http.StatusUnauthorized
	case RateLimited, InsufficientQuota:
		return http.StatusTooManyRequests
	case InsufficientBalance:
		return http.StatusPaymentRequired
	case ServerError:
		return http.StatusInternalServerError
	case Unavailable:
		return http.StatusServiceUnavailable
	}
	return 0
}

// Request is what the stand-in received, for assertions.
type Request struct {
	Method string
	// Path is the request path, base path included ("/v1/chat/completions").
	Path   string
	Header http.Header
	Body   []byte
	// Key is the Bearer token ("" when there was none).
	Key string
	// Model is the body's "model" (chat, embeddings) or the id of GET
	// /models/{id}.
	Model string
	Time  time.Time
}

// Copy is the request sharing nothing with the recorded one.
func (r Request) Copy() Request {
	r.Header = r.Header.Clone()
	r.Body = append([]byte(nil), r.Body...)
	return r
}

// APIKey is the key the request carried.
func (r Request) APIKey() string { return r.Key }

// Server is a running stand-in. Its settings fields may be changed after New
// and before requests are sent.
type Server struct {
	// URL is the base URL to give a client or the proxy as base_url, e.g.
	// "http://127.0.0.1:PORT/v1".
	URL string
	// Reply, when set, is the text of every chat answer that is not a tool
	// call.
	Reply string
	// ToolArguments are the arguments of the tool calls it makes (JSON);
	// `{"location":"Paris","unit":"celsius"}` when empty.
	ToolArguments string
	// StreamChunks is how many content chunks a streamed text is cut into,
	// and how many fragments tool arguments are; 3 when not positive.
	StreamChunks int
	// StreamDelay is the gap between stream chunks.
	StreamDelay time.Duration
	// RetryAfter is the Retry-After header of RateLimited ("20" when
	// empty); ResetRequests and ResetTokens its x-ratelimit-reset-requests
	// and -tokens ("20s" and "6m0s" when empty).
	RetryAfter, ResetRequests, ResetTokens string

	base string // "/v1"
	ts   *httptest.Server
	done chan struct{}
	once sync.Once
	seq  atomic.Uint64

	// How each key is answered (SetKey; SetDefault, Invalid until
	// changed), and what was received (Requests, KeysUsed, Reset).
	fakeupstream.Keys[Behavior]
	fakeupstream.Log[Request]

	mu     sync.Mutex
	models []string
}

// DefaultModels are the models a new stand-in lists and accepts.
var DefaultModels = []string{"gpt-4o-mini", "gpt-4o", "deepseek-chat", "deepseek-reasoner", "text-embedding-3-small"}

// New starts a stand-in on 127.0.0.1 whose routes live under "/v1", like
// OpenAI's.
func New() *Server { return NewWithBase("/v1") }

// NewWithBase starts a stand-in whose routes live under base ("" for the
// root, "/v1", "/api/v1" as OpenRouter, "/openai/v1" as Groq).
func NewWithBase(base string) *Server {
	base = "/" + strings.Trim(base, "/")
	if base == "/" {
		base = ""
	}
	s := &Server{
		base:   base,
		done:   make(chan struct{}),
		models: append([]string(nil), DefaultModels...),
	}
	s.SetDefault(Invalid)
	s.ts = httptest.NewServer(http.HandlerFunc(s.serveHTTP))
	s.URL = s.ts.URL + base
	return s
}

// Root is the server's URL without the base path.
func (s *Server) Root() string { return s.ts.URL }

// Close releases hanging requests and shuts the server down.
func (s *Server) Close() {
	s.once.Do(func() { close(s.done) })
	s.ts.Close()
}

// SetModels replaces the models listed and accepted.
func (s *Server) SetModels(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.models = append([]string(nil), ids...)
}

// Models returns the models listed.
func (s *Server) Models() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.models...)
}

func (s *Server) knows(model string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.models {
		if m == model {
			return true
		}
	}
	return false
}

// bearer reads "Authorization: Bearer <key>".
func bearer(r *http.Request) string {
	auth := r.Header.Get("Authorization")
	if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		return strings.TrimSpace(auth[7:])
	}
	return ""
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key := bearer(r)
	path, inBase := strings.CutPrefix(r.URL.Path, s.base)
	if !inBase || s.base != "" && path != "" && path[0] != '/' {
		path = "" // not under the base
	}
	var probe struct {
		Model string `json:"model"`
	}
	_ = json.Unmarshal(body, &probe)
	model := probe.Model
	if id, ok := strings.CutPrefix(path, "/models/"); ok && r.Method == http.MethodGet {
		model = id
	}
	s.Record(Request{
		Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body,
		Key: key, Model: model, Time: time.Now(),
	})

	x := &exchange{s: s, w: w, r: r, body: body, key: key}
	get, post := r.Method == http.MethodGet, r.Method == http.MethodPost
	var serve func()
	switch {
	case post && path == "/chat/completions":
		serve = x.chat
	case get && path == "/models":
		serve = x.listModels
	case get && strings.HasPrefix(path, "/models/") && len(path) > len("/models/"):
		serve = func() { x.getModel(model) }
	case post && path == "/embeddings":
		serve = x.embeddings
	default:
		x.fail(http.StatusNotFound, apiError{Message: "Invalid URL (" + r.Method + " " + r.URL.Path + ")", Type: "invalid_request_error"})
		return
	}
	if key == "" {
		x.fail(http.StatusUnauthorized, apiError{
			Message: "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username and password. You can obtain an API key from https://platform.openai.com/account/api-keys.",
			Type:    "invalid_request_error",
		})
		return
	}
	if x.admit() {
		serve()
	}
}

// admit applies the key's behavior: false when it answered (or hung), true
// when the route is to be served.
func (x *exchange) admit() bool {
	b := x.s.BehaviorOf(x.key)
	x.behavior = b
	switch b {
	case OK:
		return true
	case CutStream:
		if x.streaming() {
			return true
		}
		panic(http.ErrAbortHandler)
	case Hang:
		select {
		case <-x.r.Context().Done():
		case <-x.s.done:
		}
		return false
	case Invalid:
		x.fail(http.StatusUnauthorized, apiError{
			Message: "Incorrect API key provided: " + maskKey(x.key) + ". You can find your API key at https://platform.openai.com/account/api-keys.",
			Type:    "invalid_request_error", Code: "invalid_api_key",
		})
	case RateLimited:
		h := x.w.Header()
		h.Set("Retry-After", or(x.s.RetryAfter, "20"))
		h.Set("X-Ratelimit-Limit-Requests", "500")
		h.Set("X-Ratelimit-Remaining-Requests", "0")
		h.Set("X-Ratelimit-Reset-Requests", or(x.s.ResetRequests, "20s"))
		h.Set("X-Ratelimit-Limit-Tokens", "200000")
		h.Set("X-Ratelimit-Remaining-Tokens", "0")
		h.Set("X-Ratelimit-Reset-Tokens", or(x.s.ResetTokens, "6m0s"))
		x.fail(http.StatusTooManyRequests, apiError{
			Message: "Rate limit reached for " + or(x.model(), "gpt-4o-mini") + " in organization org-fake on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in 20s. Visit https://platform.openai.com/account/rate-limits to learn more.",
			Type:    "requests", Code: "rate_limit_exceeded",
		})
	case InsufficientQuota:
		x.fail(http.StatusTooManyRequests, apiError{
			Message: "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
			Type:    "insufficient_quota", Code: "insufficient_quota",
		})
	case InsufficientBalance:
		x.failCompact(http.StatusPaymentRequired, apiError{Message: "Insufficient Balance", Type: "unknown_error", Code: "invalid_request_error"})
	case ServerError:
		x.fail(http.StatusInternalServerError, apiError{
			Message: "The server had an error while processing your request. Sorry about that!", Type: "server_error",
		})
	case Unavailable:
		x.fail(http.StatusServiceUnavailable, apiError{Message: "The server is overloaded or not ready yet.", Type: "server_error"})
	}
	return false
}

// maskKey shows a key the way OpenAI's message does: its first and last
// characters, the middle starred.
func maskKey(k string) string {
	if len(k) <= 8 {
		return strings.Repeat("*", len(k))
	}
	head := 3
	if strings.HasPrefix(k, "sk-proj-") {
		head = 8
	}
	if len(k) < head+8 {
		head = 3
	}
	return k[:head] + strings.Repeat("*", len(k)-head-4) + k[len(k)-4:]
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// exchange is one request being answered.
type exchange struct {
	s        *Server
	w        http.ResponseWriter
	r        *http.Request
	body     []byte
	key      string
	behavior Behavior
}

func (x *exchange) model() string {
	var p struct {
		Model string `json:"model"`
	}
	_ = json.Unmarshal(x.body, &p)
	return p.Model
}

func (x *exchange) streaming() bool {
	var p struct {
		Stream bool `json:"stream"`
	}
	_ = json.Unmarshal(x.body, &p)
	return p.Stream && strings.HasSuffix(x.r.URL.Path, "/chat/completions")
}

// apiError is OpenAI's error object; field order as OpenAI sends it.
type apiError struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    any     `json:"code"`
}

// fail writes an error as OpenAI does: pretty-printed with four spaces, a
// final newline. A Code of "" is sent as null.
func (x *exchange) fail(status int, e apiError) {
	if e.Code == "" {
		e.Code = nil
	}
	b, _ := json.MarshalIndent(map[string]apiError{"error": e}, "", "    ")
	x.write(status, append(b, '\n'))
}

// failCompact writes an error in one line, as DeepSeek does.
func (x *exchange) failCompact(status int, e apiError) {
	if e.Code == "" {
		e.Code = nil
	}
	b, _ := json.Marshal(map[string]apiError{"error": e})
	x.write(status, b)
}

func (x *exchange) ok(v any) {
	b, _ := json.Marshal(v)
	x.write(http.StatusOK, b)
}

func (x *exchange) write(status int, body []byte) {
	h := x.w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Request-Id", "req_"+itoa(x.s.seq.Add(1)))
	x.w.WriteHeader(status)
	_, _ = x.w.Write(body)
}

func itoa(n uint64) string {
	if n == 0 {
		return "0"
	}
	var b [20]byte
	i := len(b)
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}

// pause waits StreamDelay; false when the client went away or the server is
// closing.
func (x *exchange) pause() bool {
	d := x.s.StreamDelay
	if d <= 0 {
		select {
		case <-x.r.Context().Done():
			return false
		case <-x.s.done:
			return false
		default:
			return true
		}
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-x.r.Context().Done():
	case <-x.s.done:
	}
	return false
}
