// Package fakegemini is an in-process stand-in for Google's Gemini API
// (generativelanguage.googleapis.com/v1beta) for integration tests and
// benchmarks.
//
// It answers like Google does, byte shape included: status codes, JSON error
// bodies with google.rpc details (pretty-printed, two-space indentation), SSE
// framing ("data: <json>\r\n\r\n") and the chunked JSON array of
// streamGenerateContent without alt=sse. How it answers depends on the API key
// of each request: see Behavior, Server.SetKey and Server.SetDefault.
//
// What a generation answers depends on the request, as with Google: function
// calling (with Gemini 3 thought signatures, and the 400 when a call in the
// current turn comes back without one), thoughts, structured output, images,
// speech, Google Search grounding and cached content; see features.go for
// the exact answers.
package fakegemini

import (
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Behavior says how the stand-in answers for one API key.
type Behavior int

const (
	// OK answers normally.
	OK Behavior = iota
	// Invalid answers 400 INVALID_ARGUMENT, reason API_KEY_INVALID,
	// "API key not valid. Please pass a valid API key.".
	Invalid
	// Expired answers 400 INVALID_ARGUMENT, reason API_KEY_INVALID,
	// "API key expired. Please renew the API key.".
	Expired
	// Suspended answers 403 PERMISSION_DENIED, reason CONSUMER_SUSPENDED, with
	// the key echoed in the message as Google does.
	Suspended
	// ServiceDisabled answers 403 PERMISSION_DENIED, reason SERVICE_DISABLED.
	ServiceDisabled
	// Unauthenticated answers 401 UNAUTHENTICATED, reason
	// ACCESS_TOKEN_TYPE_UNSUPPORTED.
	Unauthenticated
	// ReferrerBlocked answers 403 PERMISSION_DENIED, reason
	// API_KEY_HTTP_REFERRER_BLOCKED, unless the request's Referer equals
	// Server.AllowedReferer, in which case it answers like OK.
	ReferrerBlocked
	// RateLimited answers 429 RESOURCE_EXHAUSTED with a per-minute
	// QuotaFailure, Help and RetryInfo (Server.RetryDelay).
	RateLimited
	// DailyQuota answers 429 RESOURCE_EXHAUSTED with a per-day QuotaFailure,
	// Help and RetryInfo "43s".
	DailyQuota
	// RetryAfterHeader answers 429 RESOURCE_EXHAUSTED with no details and a
	// "Retry-After: 120" header.
	RetryAfterHeader
	// ServerError answers 500 INTERNAL.
	ServerError
	// Unavailable answers 503 UNAVAILABLE "The model is overloaded. ...".
	Unavailable
	// Hang never answers, until the request's context ends or the server is
	// closed.
	Hang
	// CutStream sends two stream events and then aborts the connection
	// without ending the chunked body; on routes that do not stream it aborts
	// the connection before answering.
	CutStream
	// EmptyAnswer answers 200 with a candidate that has no parts and
	// finishReason STOP (generation routes; other routes answer like OK). A
	// native stream sends StreamEvents events without parts, the last with
	// finishReason STOP; the OpenAI-compatible stream sends one.
	EmptyAnswer
	// PromptBlocked answers 200 the way Google answers a prompt its safety
	// filters block: no candidates, promptFeedback with blockReason SAFETY and
	// safetyRatings, and usageMetadata; a stream is one such event. Native
	// generation routes only; other routes answer like OK.
	PromptBlocked
)

var behaviorNames = [...]string{
	OK: "OK", Invalid: "Invalid", Expired: "Expired", Suspended: "Suspended",
	ServiceDisabled: "ServiceDisabled", Unauthenticated: "Unauthenticated",
	ReferrerBlocked: "ReferrerBlocked", RateLimited: "RateLimited",
	DailyQuota: "DailyQuota", RetryAfterHeader: "RetryAfterHeader",
	ServerError: "ServerError", Unavailable: "Unavailable", Hang: "Hang",
	CutStream: "CutStream", EmptyAnswer: "EmptyAnswer", PromptBlocked: "PromptBlocked",
}

func (b Behavior) String() string {
	if b >= 0 && int(b) < len(behaviorNames) {
		return behaviorNames[b]
	}
	return "Behavior(" + itoa(int(b)) + ")"
}

// Status is the HTTP status code of the answer for b: 200 for OK,
// EmptyAnswer and PromptBlocked (and for ReferrerBlocked with the allowed referer, which this
// does not know about), 0 for Hang and CutStream, which never answer fully.
func (b Behavior) Status() int {
	switch b {
	case OK, EmptyAnswer, PromptBlocked:
		return http.StatusOK
	case Invalid, Expired:
		return http.StatusBadRequest
	case Suspended, ServiceDisabled, ReferrerBlocked:
		return http.StatusForbidden
	case Unauthenticated:
		return http.StatusUnauthorized
	case RateLimited, DailyQuota, RetryAfterHeader:
		return http.StatusTooManyRequests
	case ServerError:
		return http.StatusInternalServerError
	case Unavailable:
		return http.StatusServiceUnavailable
	}
	return 0
}

// Request is what the stand-in received, for assertions.
type Request struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
	// Key is the API key used: from the x-goog-api-key header, else the key
	// query parameter, else "Authorization: Bearer".
	Key  string
	Time time.Time
}

// Server is a running stand-in. Its settings fields may be changed after New
// and before requests are sent.
type Server struct {
	// URL is the base URL to give the proxy as base_url, e.g.
	// "http://127.0.0.1:PORT/v1beta" (with the prefix, if any, before /v1beta).
	URL string
	// AllowedReferer lets requests with this Referer through for keys set to
	// ReferrerBlocked.
	AllowedReferer string
	// RetryDelay is the RetryInfo delay for RateLimited; "17s" when empty.
	RetryDelay string
	// ModelsPageSize is the page size of GET /v1beta/models when the client
	// sends none; 3 when not positive.
	ModelsPageSize int
	// MaxPageSize caps the page size a client may ask for (Google: 1000).
	MaxPageSize int
	// StreamEvents is the number of events of a streamed answer; 3 when not
	// positive.
	StreamEvents int
	// StreamDelay is the gap between stream events.
	StreamDelay time.Duration

	root   string // base URL with the prefix, without /v1beta
	prefix string
	ts     *httptest.Server
	done   chan struct{} // closed by Close, releases hanging handlers
	once   sync.Once
	seq    atomic.Uint64 // for response ids

	mu        sync.Mutex
	behaviors map[string]Behavior
	def       Behavior
	reqs      []Request
}

// New starts a stand-in on 127.0.0.1 with default settings.
func New() *Server { return NewWithPrefix("") }

// NewWithPrefix starts a stand-in whose routes all live under prefix (e.g.
// "/relay/abc"), imitating a relay such as a Deno or Cloudflare Worker proxy.
// URL is then base+prefix+"/v1beta".
func NewWithPrefix(prefix string) *Server { return start(prefix, false) }

// NewTLS starts a stand-in that, like Google, speaks HTTP/2 over TLS (and
// HTTP/1.1 to clients that do not offer h2). Its certificate is Certificate.
func NewTLS() *Server { return start("", true) }

// Certificate is the certificate of a NewTLS stand-in, nil otherwise.
func (s *Server) Certificate() *x509.Certificate { return s.ts.Certificate() }

func start(prefix string, useTLS bool) *Server {
	prefix = "/" + strings.Trim(prefix, "/")
	if prefix == "/" {
		prefix = ""
	}
	s := &Server{
		RetryDelay:     "17s",
		ModelsPageSize: 3,
		StreamEvents:   3,
		prefix:         prefix,
		done:           make(chan struct{}),
		behaviors:      map[string]Behavior{},
		def:            Invalid,
	}
	s.ts = httptest.NewUnstartedServer(http.HandlerFunc(s.serveHTTP))
	if useTLS {
		s.ts.EnableHTTP2 = true
		s.ts.StartTLS()
	} else {
		s.ts.Start()
	}
	s.root = s.ts.URL + prefix
	s.URL = s.root + "/v1beta"
	return s
}

// Root is the base URL with the prefix but without "/v1beta".
func (s *Server) Root() string { return s.root }

// Close releases hanging requests and shuts the server down.
func (s *Server) Close() {
	s.once.Do(func() { close(s.done) })
	s.ts.Close()
}

// SetKey sets the behavior for one key.
func (s *Server) SetKey(key string, b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.behaviors[key] = b
}

// SetDefault sets the behavior for keys not set with SetKey (Invalid unless
// changed).
func (s *Server) SetDefault(b Behavior) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.def = b
}

// Requests returns a copy of every request received, in order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.reqs))
	for i, r := range s.reqs {
		r.Header = r.Header.Clone()
		r.Body = append([]byte(nil), r.Body...)
		out[i] = r
	}
	return out
}

// Reset forgets the recorded requests.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = nil
}

// KeysUsed returns the Key of each recorded request, in order.
func (s *Server) KeysUsed() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, len(s.reqs))
	for i, r := range s.reqs {
		keys[i] = r.Key
	}
	return keys
}

// settings is a snapshot of the exported settings, defaults applied.
type settings struct {
	allowedReferer string
	retryDelay     string
	pageSize       int
	maxPageSize    int
	streamEvents   int
	streamDelay    time.Duration
}

func (s *Server) snapshot() settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := settings{s.AllowedReferer, s.RetryDelay, s.ModelsPageSize, s.MaxPageSize, s.StreamEvents, s.StreamDelay}
	if c.maxPageSize <= 0 {
		c.maxPageSize = 1000
	}
	if c.retryDelay == "" {
		c.retryDelay = "17s"
	}
	if c.pageSize <= 0 {
		c.pageSize = 3
	}
	if c.streamEvents <= 0 {
		c.streamEvents = 3
	}
	return c
}

func (s *Server) behaviorFor(key string) Behavior {
	s.mu.Lock()
	defer s.mu.Unlock()
	if b, ok := s.behaviors[key]; ok {
		return b
	}
	return s.def
}

// apiKey finds the key the way Google does: header, then query, then bearer.
func apiKey(r *http.Request) string {
	if k := r.Header.Get("X-Goog-Api-Key"); k != "" {
		return k
	}
	if k := r.URL.Query().Get("key"); k != "" {
		return k
	}
	auth := r.Header.Get("Authorization")
	if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
		return strings.TrimSpace(auth[7:])
	}
	return ""
}

// route is a parsed request path.
type route struct {
	openai bool   // under /v1beta/openai/
	op     string // see parseRoute
	model  string // model id without "models/"; openai chat/embeddings fill it from the body
	sse    bool   // alt=sse
}

// streams reports whether the route answers with a stream.
func (rt route) streams() bool { return rt.op == "streamGenerateContent" || rt.op == "chat" }

// parseRoute maps method and path (prefix removed) to a route.
func parseRoute(method, path string, sse bool) (route, bool) {
	rest, ok := strings.CutPrefix(path, "/v1beta/")
	if !ok {
		return route{}, false
	}
	get, post := method == http.MethodGet, method == http.MethodPost
	if o, ok := strings.CutPrefix(rest, "openai/"); ok {
		switch {
		case get && o == "models":
			return route{openai: true, op: "models"}, true
		case get && strings.HasPrefix(o, "models/") && len(o) > len("models/"):
			return route{openai: true, op: "model", model: strings.TrimPrefix(o, "models/")}, true
		case post && o == "chat/completions":
			return route{openai: true, op: "chat"}, true
		case post && o == "embeddings":
			return route{openai: true, op: "embeddings"}, true
		}
		return route{}, false
	}
	if get && rest == "models" {
		return route{op: "listModels"}, true
	}
	name, ok := strings.CutPrefix(rest, "models/")
	if !ok || name == "" || strings.Contains(name, "/") {
		return route{}, false
	}
	model, verb, hasVerb := strings.Cut(name, ":")
	if model == "" {
		return route{}, false
	}
	if !hasVerb {
		return route{op: "getModel", model: model}, get
	}
	switch verb {
	case "generateContent", "streamGenerateContent", "countTokens",
		"embedContent", "batchEmbedContents", "predict":
		return route{op: verb, model: model, sse: sse && verb == "streamGenerateContent"}, post
	}
	return route{}, false
}

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	key := apiKey(r)
	s.mu.Lock()
	s.reqs = append(s.reqs, Request{
		Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Body: body, Key: key, Time: time.Now(),
	})
	s.mu.Unlock()

	x := &exchange{s: s, w: w, r: r, body: body, cfg: s.snapshot()}
	path, ok := strings.CutPrefix(r.URL.Path, s.prefix)
	if ok {
		x.rt, ok = parseRoute(r.Method, path, r.URL.Query().Get("alt") == "sse")
	}
	if !ok {
		writeNotFoundPage(w, r.URL.Path)
		return
	}
	if key == "" {
		x.fail(unregisteredError())
		return
	}
	b := s.behaviorFor(key)
	if b == ReferrerBlocked && x.cfg.allowedReferer != "" && r.Referer() == x.cfg.allowedReferer {
		b = OK
	}
	switch b {
	case OK, EmptyAnswer, PromptBlocked:
	case Hang:
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		return
	case CutStream:
		if !x.rt.streams() {
			panic(http.ErrAbortHandler)
		}
	default:
		if b == RetryAfterHeader {
			w.Header().Set("Retry-After", "120")
		}
		if b == Unauthenticated {
			w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/"`)
		}
		x.fail(behaviorError(b, key, r.Referer(), x.quotaModel(), x.cfg.retryDelay))
		return
	}
	x.behavior = b
	x.serve()
}

// exchange is one request being answered.
type exchange struct {
	s        *Server
	w        http.ResponseWriter
	r        *http.Request
	body     []byte
	cfg      settings
	rt       route
	behavior Behavior
}

func (x *exchange) serve() {
	switch x.rt.op {
	case "listModels":
		x.listModels()
	case "getModel":
		x.getModel()
	case "generateContent":
		x.generateContent()
	case "streamGenerateContent":
		x.streamGenerateContent()
	case "countTokens":
		x.countTokens()
	case "embedContent":
		x.embedContent()
	case "batchEmbedContents":
		x.batchEmbedContents()
	case "predict":
		x.predict()
	case "models":
		x.openaiModels()
	case "model":
		x.openaiModel()
	case "chat":
		x.openaiChat()
	case "embeddings":
		x.openaiEmbeddings()
	}
}

// fail writes a google.rpc error in the shape of the route: an object, a
// one-element JSON array for streamGenerateContent without alt=sse (as Google
// does inside its array stream) and for the OpenAI-compatible endpoint.
func (x *exchange) fail(e *rpcError) {
	h := x.w.Header()
	h.Set("Content-Type", jsonType)
	h.Set("Vary", "Origin, X-Origin, Referer")
	x.w.WriteHeader(e.Code)
	env := errorEnvelope{Error: e}
	switch {
	case x.rt.openai:
		_, _ = x.w.Write(prettyJSON([]errorEnvelope{env}))
	case x.rt.op == "streamGenerateContent" && !x.rt.sse:
		_, _ = x.w.Write(arrayOpen(env))
		_, _ = x.w.Write([]byte(arrayClose))
	default:
		_, _ = x.w.Write(prettyJSON(env))
	}
}

// ok writes a 200 JSON answer, pretty-printed like Google (compact for the
// OpenAI-compatible endpoint).
func (x *exchange) ok(v any) {
	h := x.w.Header()
	h.Set("Content-Type", jsonType)
	h.Set("Vary", "Origin, X-Origin, Referer")
	x.w.WriteHeader(http.StatusOK)
	if x.rt.openai {
		_, _ = x.w.Write(compactJSON(v))
		return
	}
	_, _ = x.w.Write(prettyJSON(v))
}

// flush sends what was written so far.
func (x *exchange) flush() { _ = http.NewResponseController(x.w).Flush() }

// pause waits StreamDelay; false when the client went away or the server is
// closing.
func (x *exchange) pause() bool {
	select {
	case <-x.r.Context().Done():
		return false
	case <-x.s.done:
		return false
	default:
	}
	if x.cfg.streamDelay <= 0 {
		return true
	}
	t := time.NewTimer(x.cfg.streamDelay)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-x.r.Context().Done():
	case <-x.s.done:
	}
	return false
}

// events is how many events the OpenAI-compatible stream sends, and whether
// to cut after them (native streams plan theirs in streamGenerateContent).
func (x *exchange) events() (n int, cut bool) {
	if x.behavior == CutStream {
		return 2, true
	}
	if x.behavior == EmptyAnswer {
		return 1, false
	}
	return x.cfg.streamEvents, false
}

// quotaModel is the model named in QuotaFailure dimensions.
func (x *exchange) quotaModel() string {
	if x.rt.model != "" {
		return x.rt.model
	}
	if x.rt.openai {
		if m := openaiModelField(x.body); m != "" {
			return m
		}
	}
	return "gemini-2.5-flash"
}

func (x *exchange) nextResponseID() string { return responseID(x.s.seq.Add(1)) }

func writeNotFoundPage(w http.ResponseWriter, path string) {
	w.Header().Set("Content-Type", "text/html; charset=UTF-8")
	w.WriteHeader(http.StatusNotFound)
	_, _ = io.WriteString(w, notFoundPage(path))
}
