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
//
// Files, cached contents, batches and long-running operations belong to keys,
// as they belong to the project of the key that made them at Google: those
// made through the API (see apis.go: resumable, multipart and raw uploads to
// /upload/v1beta/files, POST /v1beta/cachedContents,
// models/{m}:batchGenerateContent, models/{m}:predictLongRunning) belong to
// the key that made them, and Server.SetOwner declares others. Any other key
// gets Google's 403. Uploaded bytes are hashed and counted, never kept.
//
// Every request is routed on the path a front end would act on, dot segments
// and encoded dots and slashes resolved (Request.Resolved), so a path that
// escapes /v1beta/models reaches what it points at: POST /v1alpha/auth_tokens
// answers with a minted token, GET /v1beta/files and /v1beta/cachedContents
// list the key's own.
package fakegemini

import (
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/fakeupstream"
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
	// ServiceBlocked answers 403 PERMISSION_DENIED, reason
	// API_KEY_SERVICE_BLOCKED, as Google does for a key whose API
	// restrictions leave out the Generative Language API: "Requests to this
	// API generativelanguage.googleapis.com method
	// google.ai.generativelanguage.v1beta.GenerativeService.GenerateContent
	// are blocked." (the method named is the one called).
	ServiceBlocked
)

var behaviorNames = [...]string{
	OK: "OK", Invalid: "Invalid", Expired: "Expired", Suspended: "Suspended",
	ServiceDisabled: "ServiceDisabled", Unauthenticated: "Unauthenticated",
	ReferrerBlocked: "ReferrerBlocked", RateLimited: "RateLimited",
	DailyQuota: "DailyQuota", RetryAfterHeader: "RetryAfterHeader",
	ServerError: "ServerError", Unavailable: "Unavailable", Hang: "Hang",
	CutStream: "CutStream", EmptyAnswer: "EmptyAnswer", PromptBlocked: "PromptBlocked",
	ServiceBlocked: "ServiceBlocked",
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
	case Suspended, ServiceDisabled, ReferrerBlocked, ServiceBlocked:
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
	// Path is the request's path, percent-decoded (net/url's URL.Path), dot
	// segments left as they came.
	Method, Path, RawQuery string
	// RawPath is the path as it came on the wire, escapes kept
	// (URL.EscapedPath).
	RawPath string
	// Resolved is the path a front end such as Google's acts on, and the one
	// the stand-in routes on: RawPath with %2E/%2e read as "." and %2F/%2f as
	// "/", dot segments removed (RFC 3986 §5.2.4), the other escapes then
	// decoded. "/v1beta/models/x:y/../../../../v1alpha/auth_tokens" resolves
	// to "/v1alpha/auth_tokens".
	Resolved string
	Header   http.Header
	// Body is the request body. The body of an upload (POST
	// /upload/v1beta/files) is streamed, never held whole: it is kept only
	// when it is at most MaxRecordedUpload bytes long, and is nil otherwise.
	Body []byte
	// BodySize is the length of the body received, kept or not.
	BodySize int64
	// Key is the API key used: from the x-goog-api-key header, else the key
	// query parameter, else "Authorization: Bearer".
	Key  string
	Time time.Time
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

	// How each key is answered (SetKey; SetDefault, Invalid until
	// changed), and what was received (Requests, KeysUsed, Reset).
	fakeupstream.Keys[Behavior]
	fakeupstream.Log[Request]

	mu sync.Mutex
	// owners maps a resource ("files/abc", "cachedContents/xyz") to the keys
	// that own it; enforced once ownership is set (see SetOwner).
	owners    map[string]map[string]bool
	ownership bool
	models    []Model // the listing: catalogue, then AddModel's

	// The resources made through the API (apis.go): uploaded files, upload
	// sessions, cached contents, batches and long-running operations, keyed
	// by name (upload sessions by upload_id).
	files    map[string]*fileRec
	uploads  map[string]*uploadSession
	caches   map[string]*cacheRec
	batches  map[string]*batchRec
	ops      map[string]*opRec
	creators map[string]string // resource → key that made it through the API
	order    map[string]uint64 // resource → sequence of creation, for listings
	orderSeq uint64
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
		owners:         map[string]map[string]bool{},
		models:         Models(),
		files:          map[string]*fileRec{},
		uploads:        map[string]*uploadSession{},
		caches:         map[string]*cacheRec{},
		batches:        map[string]*batchRec{},
		ops:            map[string]*opRec{},
		creators:       map[string]string{},
		order:          map[string]uint64{},
	}
	s.SetDefault(Invalid)
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

// VertexURL is the base URL of the Vertex AI express-mode routes,
// Root()+"/v1": {VertexURL}/publishers/google/models/{m}:generateContent.
func (s *Server) VertexURL() string { return s.root + "/v1" }

// Root is the base URL with the prefix but without "/v1beta".
func (s *Server) Root() string { return s.root }

// Close releases hanging requests and shuts the server down.
func (s *Server) Close() {
	s.once.Do(func() { close(s.done) })
	s.ts.Close()
}

// SetOwner declares that keys own resource, a file ("files/abc123") or a
// cached content ("cachedContents/xyz"), as Google ties each to the project
// of the key that created it; with no keys the resource exists but no key
// owns it. The first call turns ownership checks on: from then on a
// generateContent, streamGenerateContent or countTokens request that names a
// file (contents[].parts[].fileData.fileUri) or a cachedContent its key does
// not own, or one never declared, gets Google's 403 PERMISSION_DENIED ("You
// do not have permission to access the File abc123 or it may not exist.",
// "CachedContent not found (or permission denied)"), without ErrorInfo. Until
// then any name is accepted, as before. Creating a file, cached content,
// batch or operation through the API turns the checks on too.
func (s *Server) SetOwner(resource string, keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ownership = true
	set := s.owners[resource]
	if set == nil {
		set = map[string]bool{}
		s.owners[resource] = set
	}
	if _, ok := s.order[resource]; !ok {
		s.orderSeq++
		s.order[resource] = s.orderSeq
	}
	for _, k := range keys {
		set[k] = true
	}
}

// owns reports whether key may use resource; true while ownership is off.
func (s *Server) owns(key, resource string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.ownership || s.owners[resource][key] && !s.expired(resource)
}

// ownedBy reports whether key owns resource, ownership checks on or off.
func (s *Server) ownedBy(key, resource string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.owners[resource][key] && !s.expired(resource)
}

// AddModel lists one more model on this server, after the built-in ones (or
// replaces the listed model of the same name): GET /models, GET
// /models/{m}, the generation routes and the OpenAI-compatible endpoint then
// know it. Name may be given with or without "models/"; empty fields get
// defaults (the generation methods of gemini-2.5-flash, the name as display
// name, the version "001").
func (s *Server) AddModel(m Model) {
	if !strings.HasPrefix(m.Name, "models/") {
		m.Name = "models/" + m.Name
	}
	id := strings.TrimPrefix(m.Name, "models/")
	if m.Version == "" {
		m.Version = "001"
	}
	if m.DisplayName == "" {
		m.DisplayName = id
	}
	if m.Description == "" {
		m.Description = m.DisplayName
	}
	if m.InputTokenLimit == 0 {
		m.InputTokenLimit = 1048576
	}
	if m.OutputTokenLimit == 0 {
		m.OutputTokenLimit = 65536
	}
	if len(m.SupportedGenerationMethods) == 0 {
		m.SupportedGenerationMethods = chatMethods
	}
	m.SupportedGenerationMethods = append([]string(nil), m.SupportedGenerationMethods...)
	s.mu.Lock()
	defer s.mu.Unlock()
	models := append([]Model(nil), s.models...) // snapshots share the old slice
	for i, old := range models {
		if old.Name == m.Name {
			models[i] = m
			s.models = models
			return
		}
	}
	s.models = append(models, m)
}

// ListedModels returns the models this server lists, in list order: Models
// and those added with AddModel.
func (s *Server) ListedModels() []Model {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Model, len(s.models))
	for i, m := range s.models {
		m.SupportedGenerationMethods = append([]string(nil), m.SupportedGenerationMethods...)
		out[i] = m
	}
	return out
}

// settings is a snapshot of the exported settings, defaults applied.
type settings struct {
	allowedReferer string
	retryDelay     string
	pageSize       int
	maxPageSize    int
	streamEvents   int
	streamDelay    time.Duration
	models         []Model // the listing; never modified (AddModel copies)
}

func (s *Server) snapshot() settings {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := settings{s.AllowedReferer, s.RetryDelay, s.ModelsPageSize, s.MaxPageSize, s.StreamEvents, s.StreamDelay, s.models}
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
	// id is the resource a files, cachedContents, batches or operations
	// route names: the part after "files/" etc., the whole operation name
	// for operations.
	id      string
	version string // "v1beta" or "v1" for the routes of apis.go
}

// method is the RPC method Google names in errors for the route, e.g.
// "google.ai.generativelanguage.v1beta.GenerativeService.GenerateContent".
func (rt route) method() string {
	const v1beta = "google.ai.generativelanguage.v1beta."
	switch rt.op {
	case "listModels":
		return v1beta + "ModelService.ListModels"
	case "getModel":
		return v1beta + "ModelService.GetModel"
	case "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents":
		return v1beta + "GenerativeService." + strings.ToUpper(rt.op[:1]) + rt.op[1:]
	case "predict":
		return v1beta + "PredictionService.Predict"
	case "createAuthToken":
		return "google.ai.generativelanguage.v1alpha.AuthTokenService.CreateToken"
	case "list:files":
		return v1beta + "FileService.ListFiles"
	case "get:files":
		return v1beta + "FileService.GetFile"
	case "list:cachedContents":
		return v1beta + "CacheService.ListCachedContents"
	case "get:cachedContents":
		return v1beta + "CacheService.GetCachedContent"
	case "create:cachedContents":
		return v1beta + "CacheService.CreateCachedContent"
	case "patch:cachedContents":
		return v1beta + "CacheService.UpdateCachedContent"
	case "delete:cachedContents":
		return v1beta + "CacheService.DeleteCachedContent"
	case "upload", "delete:files", "download:files":
		return v1beta + "FileService." + map[string]string{
			"upload": "CreateFile", "delete:files": "DeleteFile", "download:files": "DownloadFile"}[rt.op]
	case "batchGenerateContent":
		return v1beta + "GenerativeService.BatchGenerateContent"
	case "predictLongRunning":
		return v1beta + "PredictionService.PredictLongRunning"
	case "list:batches", "get:batches", "cancel:batches", "delete:batches", "get:operations":
		return "google.longrunning.Operations." + map[string]string{
			"list:batches": "ListOperations", "get:batches": "GetOperation", "cancel:batches": "CancelOperation",
			"delete:batches": "DeleteOperation", "get:operations": "GetOperation"}[rt.op]
	}
	return v1beta + "GenerativeService.GenerateContent"
}

// streams reports whether the route answers with a stream.
func (rt route) streams() bool { return rt.op == "streamGenerateContent" || rt.op == "chat" }

// parseRoute maps method and path (prefix removed, resolved) to a route.
func parseRoute(method, path string, sse bool) (route, bool) {
	get, post := method == http.MethodGet, method == http.MethodPost
	if path == "/v1alpha/auth_tokens" {
		// Live API ephemeral tokens: what a path that escapes /v1beta/models
		// could reach (answered, so that a test sees the danger).
		return route{op: "createAuthToken"}, post
	}
	// Vertex AI express mode, {root}/v1/publishers/google/models/{m}:{verb}:
	// the same methods and answers as the Gemini API's models/{m}:{verb}.
	if m, ok := strings.CutPrefix(path, "/v1/publishers/google/models/"); ok && strings.Contains(m, ":") {
		path = "/v1beta/models/" + m
	}
	if rt, ok, matched := parseAPIRoute(method, path); matched {
		return rt, ok
	}
	rest, ok := strings.CutPrefix(path, "/v1beta/")
	if !ok {
		return route{}, false
	}
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

// ResolvePath is the path a front end acts on for a raw (escaped) request
// path: %2E/%2e read as "." and %2F/%2f as "/", dot segments removed as RFC
// 3986 §5.2.4 says, then the other escapes decoded (left as they are when
// they are malformed).
func ResolvePath(raw string) string {
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		if raw[i] == '%' && i+2 < len(raw) {
			switch strings.ToLower(raw[i+1 : i+3]) {
			case "2e":
				b.WriteByte('.')
				i += 2
				continue
			case "2f":
				b.WriteByte('/')
				i += 2
				continue
			}
		}
		b.WriteByte(raw[i])
	}
	p := removeDotSegments(b.String())
	if d, err := url.PathUnescape(p); err == nil {
		p = d
	}
	return p
}

// removeDotSegments is RFC 3986 §5.2.4's algorithm.
func removeDotSegments(in string) string {
	var out []string // output segments, each with its leading "/" if any
	for in != "" {
		switch {
		case strings.HasPrefix(in, "../"):
			in = in[3:]
		case strings.HasPrefix(in, "./"):
			in = in[2:]
		case strings.HasPrefix(in, "/./"):
			in = in[2:]
		case in == "/.":
			in = "/"
		case strings.HasPrefix(in, "/../"):
			in = in[3:]
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "/..":
			in = "/"
			if len(out) > 0 {
				out = out[:len(out)-1]
			}
		case in == "." || in == "..":
			in = ""
		default:
			// Move the first segment, with its leading "/" if any, to the
			// output.
			end := len(in)
			if j := strings.IndexByte(in[1:], '/'); j >= 0 {
				end = j + 1
			}
			out = append(out, in[:end])
			in = in[end:]
		}
	}
	return strings.Join(out, "")
}

// MaxRecordedUpload is the largest upload body Requests keeps; the body of a
// larger one is left out (Request.BodySize still says how long it was).
const MaxRecordedUpload = 1 << 20

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	key := apiKey(r)
	raw := r.URL.EscapedPath()
	resolved := ResolvePath(raw)
	rec := Request{
		Method: r.Method, Path: r.URL.Path, RawPath: raw, Resolved: resolved, RawQuery: r.URL.RawQuery,
		Header: r.Header.Clone(), Key: key, Time: time.Now(),
	}
	path, inPrefix := strings.CutPrefix(resolved, s.prefix)
	if version, ok := uploadPath(path); inPrefix && ok && r.Method == http.MethodPost {
		s.serveUpload(w, r, rec, version)
		return
	}
	body, _ := io.ReadAll(r.Body)
	rec.Body, rec.BodySize = body, int64(len(body))
	s.Record(rec)

	x := &exchange{s: s, w: w, r: r, body: body, cfg: s.snapshot(), key: key}
	ok := inPrefix
	if ok {
		x.rt, ok = parseRoute(r.Method, path, r.URL.Query().Get("alt") == "sse")
	}
	if !ok {
		writeNotFoundPage(w, resolved)
		return
	}
	if key == "" {
		x.fail(unregisteredError())
		return
	}
	if x.admit() {
		x.serve()
	}
}

// admit applies the behavior of the request's key: false when it answered
// (an error, or nothing for Hang), true when the route is to be served.
func (x *exchange) admit() bool {
	s, r, w := x.s, x.r, x.w
	b := s.BehaviorOf(x.key)
	if b == ReferrerBlocked && x.cfg.allowedReferer != "" && r.Referer() == x.cfg.allowedReferer {
		b = OK
	}
	switch b {
	case OK, EmptyAnswer, PromptBlocked:
	case Hang:
		x.commit()
		select {
		case <-r.Context().Done():
		case <-s.done:
		}
		return false
	case CutStream:
		if !x.rt.streams() {
			x.commit()
			panic(http.ErrAbortHandler)
		}
	default:
		if b == RetryAfterHeader {
			w.Header().Set("Retry-After", "120")
		}
		if b == Unauthenticated {
			w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/"`)
		}
		x.fail(behaviorError(b, x.key, r.Referer(), x.quotaModel(), x.cfg.retryDelay, x.rt.method()))
		return false
	}
	x.behavior = b
	return true
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
	key      string
	// pending, for uploads, is the request still to be recorded once its
	// body has been read (see commit).
	pending *pendingUpload
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
	case "createAuthToken":
		x.createAuthToken()
	case "list:files", "list:cachedContents":
		x.listResources(strings.TrimPrefix(x.rt.op, "list:"))
	case "get:files", "get:cachedContents":
		x.getResource(strings.TrimPrefix(x.rt.op, "get:"))
	default:
		x.serveAPI()
	}
}

// fail writes a google.rpc error in the shape of the route: an object, a
// one-element JSON array for streamGenerateContent without alt=sse (as Google
// does inside its array stream) and for the OpenAI-compatible endpoint.
func (x *exchange) fail(e *rpcError) {
	x.commit()
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
	x.commit()
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
