// Package httpapi serves the client-facing routes of one pool: the Gemini
// native API (files, caches and batches included), the OpenAI families and
// /health. It refuses paths a front end could read as another, checks client
// tokens, forwards over the balancer and relays answers, streams included.
package httpapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"go.uber.org/zap"

	"github.com/gemini-balance/gemini_balance/internal/anthropic"
	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/gemini"
	"github.com/gemini-balance/gemini_balance/internal/gemini/fromopenai"
	"github.com/gemini-balance/gemini_balance/internal/metrics"
	"github.com/gemini-balance/gemini_balance/internal/openai"
	"github.com/gemini-balance/gemini_balance/internal/pathguard"
	"github.com/gemini-balance/gemini_balance/internal/readall"
)

// DefaultMaxBodyBytes bounds a client request body: Gemini accepts 20 MB of
// inline data, which is about 27 MB once base64-encoded, plus the JSON.
const DefaultMaxBodyBytes = 64 << 20

// Handler serves one pool's routes.
type Handler struct {
	Balancer     *balancer.Balancer
	MaxBodyBytes int64
	// MaxUploadBytes bounds one Files API upload leg (default
	// DefaultMaxUploadBytes, 2 GiB); upload legs are streamed, not held.
	MaxUploadBytes int64
	Logger         *zap.Logger
	// ImageFetchClient replaces the client that fetches image URLs of chat
	// messages (tests use it to reach a local server).
	ImageFetchClient *http.Client
	// Observe, when set, is told where each request that went upstream was
	// answered from (for access-log fields and metrics), at once unless the
	// ResponseWriter is a ServedRecorder.
	Observe func(r *http.Request, s Served)
	// ImagePath is where the pool's image store is served ("" does not
	// serve it); it starts and ends with "/".
	ImagePath string
}

// Served says where a request's answer came from: the pool whose key
// answered (or whose attempts failed last), the key (masked), the model
// sent upstream, the upstream attempts in all pools and the status of the
// last one.
type Served struct {
	Pool           string
	Provider       string
	Key            string
	Model          string
	Attempts       int
	UpstreamStatus int
}

// ServedRecorder is a ResponseWriter that keeps the request's Served record
// for its owner to report when the answer has ended, in place of Observe: a
// stream then holds no access-log fields for its life.
type ServedRecorder interface {
	RecordServed(Served)
}

// observe reports s: to w when it records it, else to Observe.
func (h *Handler) observe(w http.ResponseWriter, r *http.Request, s Served) {
	if rec, ok := w.(ServedRecorder); ok {
		rec.RecordServed(s)
	} else if h.Observe != nil {
		h.Observe(r, s)
	}
}

// Serve answers r if its path belongs to the module and reports whether it
// did; other paths are left for the next handler.
func (h *Handler) Serve(w http.ResponseWriter, r *http.Request) bool {
	p := r.URL.Path
	if p == "/health" {
		h.serveHealth(w, r)
		return true
	}
	if h.ImagePath != "" && h.Balancer.Images() != nil {
		if name, ok := strings.CutPrefix(p, h.ImagePath); ok {
			h.serveImage(w, r, name)
			return true
		}
	}
	fam, rest, ok := familyOf(p)
	if !ok {
		if isMisdirected(p) {
			h.serveMisdirected(w, r)
			return true
		}
		return false
	}
	// Before anything else (and before a key is chosen): a path a front
	// end could read as another path is refused.
	if err := pathguard.CheckPath(r.URL); err != nil {
		fam.dialect.writeError(w, http.StatusBadRequest, err.Error()+": send the path without dot segments or encoded separators", "")
		return true
	}
	switch fam.kind {
	case uploadFamily:
		return h.serveUpload(w, r, fam.prefix, rest)
	case nativeFamily:
		if isResourcePath(rest) {
			return h.serveResource(w, r, rest)
		}
		return h.serveNative(w, r, rest)
	case openaiFamily:
		if fam.prefix == "/v1" && isAnthropicPath(rest) {
			// Anthropic's Messages API (Claude Code, the Anthropic SDKs).
			return h.serveAnthropic(w, r, rest)
		}
		if fam.prefix == "/v1" && isResourcePath(rest) {
			// Files, caches, batches and operations are Gemini's on /v1.
			return h.serveResource(w, r, rest)
		}
		if speaksGemini(r, rest) {
			return h.serveNative(w, r, rest)
		}
		return h.serveOpenAI(w, r, rest)
	default:
		return h.servePassthrough(w, r, rest)
	}
}

// RouteOf is the route family of a request Serve answered, for metrics:
// native, openai, passthrough, files (Files API, caches, batches,
// operations and uploads), images (the image store's links) or health.
func (h *Handler) RouteOf(r *http.Request) string {
	p := r.URL.Path
	if p == "/health" {
		return metrics.RouteHealth
	}
	if h.ImagePath != "" && strings.HasPrefix(p, h.ImagePath) {
		return metrics.RouteImages
	}
	fam, rest, ok := familyOf(p)
	switch {
	case !ok:
		return metrics.RouteOpenAI // a misdirected OpenAI path
	case fam.kind == uploadFamily || (fam.kind != passthroughFamily && isResourcePath(rest) && (fam.kind == nativeFamily || fam.prefix == "/v1")):
		return metrics.RouteFiles
	case fam.kind == nativeFamily || (fam.kind == openaiFamily && speaksGemini(r, rest)):
		return metrics.RouteNative
	case fam.kind == openaiFamily && fam.prefix == "/v1" && isAnthropicPath(rest):
		return metrics.RouteAnthropic
	case fam.kind == openaiFamily:
		return metrics.RouteOpenAI
	}
	return metrics.RoutePassthrough
}

// speaksGemini tells a Gemini call on /v1 (the Google GenAI SDKs' default
// API version) from an OpenAI one: a model method (/models/{m}:{action}) is
// Gemini's; a model list or get is Gemini's when the credential came in one
// of Google's carriers (x-goog-api-key, ?key=) or with x-goog-api-client,
// and OpenAI's with Authorization: Bearer.
func speaksGemini(r *http.Request, rest string) bool {
	if m, ok := strings.CutPrefix(rest, "/models/"); ok && strings.Contains(m, ":") {
		return true
	}
	if rest != "/models" && !strings.HasPrefix(rest, "/models/") {
		return false
	}
	return r.Header.Get("X-Goog-Api-Key") != "" || r.Header.Get("X-Goog-Api-Client") != "" || r.URL.Query().Has("key")
}

type familyKind int

const (
	nativeFamily familyKind = iota
	openaiFamily
	passthroughFamily
	uploadFamily // the Files API's media uploads: {prefix}/files
)

// family is one route family: a path prefix, what it serves and its dialect.
type family struct {
	prefix  string
	kind    familyKind
	dialect dialect
}

var families = []family{
	{"/upload/v1beta", uploadFamily, nativeDialect},
	{"/upload/v1", uploadFamily, nativeDialect},
	{"/gemini/upload/v1beta", uploadFamily, nativeDialect},
	{"/gemini/upload/v1", uploadFamily, nativeDialect},
	{"/v1beta", nativeFamily, nativeDialect},
	{"/gemini/v1beta", nativeFamily, nativeDialect},
	{"/gemini/v1", nativeFamily, nativeDialect},
	{"/v1", openaiFamily, openaiDialect},
	{"/hf/v1", openaiFamily, openaiDialect},
	{"/openai/v1", passthroughFamily, openaiDialect},
}

// familyOf finds the family p belongs to and the path below its prefix
// (starting with "/").
func familyOf(p string) (family, string, bool) {
	for _, f := range families {
		if rest, ok := strings.CutPrefix(p, f.prefix); ok && strings.HasPrefix(rest, "/") {
			return f, rest, true
		}
	}
	return family{}, "", false
}

func (h *Handler) serveHealth(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, gemini.ErrorBody(http.StatusMethodNotAllowed, "use GET /health"))
		return
	}
	body, _ := json.Marshal(h.Balancer.Health(r.Context()))
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, body)
}

// clientToken finds the token a client sent: ?key=, x-goog-api-key or a Bearer token.
func clientToken(r *http.Request) string {
	if v := r.URL.Query().Get("key"); v != "" {
		return v
	}
	if v := r.Header.Get("X-Goog-Api-Key"); v != "" {
		return v
	}
	if v := r.Header.Get("Authorization"); len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:])
	}
	return ""
}

// authenticate checks the client token; on failure it writes a 401 in
// the dialect's error shape and returns "".
func (h *Handler) authenticate(w http.ResponseWriter, r *http.Request, d dialect) (string, bool) {
	return h.authenticateToken(w, clientToken(r), d)
}

// authenticateToken checks tok as authenticate does.
func (h *Handler) authenticateToken(w http.ResponseWriter, tok string, d dialect) (string, bool) {
	tokens := h.Balancer.Tokens()
	var msg string
	switch {
	case tokens.Len() == 0:
		msg = "this server has no client tokens configured (allowed_tokens), so it accepts no API requests"
	case tok == "":
		msg = "missing client token: send it as ?key=, the x-goog-api-key header or Authorization: Bearer"
	case !tokens.Contains(tok):
		msg = "invalid client token"
	default:
		return tok, true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="gemini_balance"`)
	d.writeError(w, http.StatusUnauthorized, msg, "")
	return "", false
}

// readBody reads a client body within the size limit; on failure it writes
// the answer and returns false.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request, d dialect) ([]byte, bool) {
	limit := h.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	var err error
	var body []byte
	if r.ContentLength > limit {
		// Refused before a byte is read: the client need not send it all.
		err = &http.MaxBytesError{Limit: limit}
	} else {
		// Read as it arrives: the announced length reserves nothing.
		body, err = readall.Sized(http.MaxBytesReader(w, r.Body, limit), r.ContentLength, limit)
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			d.writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body is larger than the limit of %d bytes", limit), "")
		} else {
			d.writeError(w, http.StatusBadRequest, "cannot read the request body: "+err.Error(), "")
		}
		return nil, false
	}
	return body, true
}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// dialect is the API family a route speaks, which decides the error shape.
type dialect int

const (
	nativeDialect    dialect = iota // Google's {"error":{"code","message","status"}}
	openaiDialect                   // OpenAI's {"error":{"message","type","param","code"}}
	anthropicDialect                // Anthropic's {"type":"error","error":{"type","message"}}
)

func (d dialect) writeError(w http.ResponseWriter, status int, msg, param string) {
	switch d {
	case openaiDialect:
		writeJSON(w, status, openai.ErrorBody(status, msg, param))
	case anthropicDialect:
		writeJSON(w, status, anthropic.ErrorBody(status, msg))
	default:
		writeJSON(w, status, gemini.ErrorBody(status, msg))
	}
}

// writeFailure gives the client the answer for a request no pool could
// serve: the upstream's status and body, in the dialect's shape (a
// provider's OpenAI error reaches an OpenAI client as it came), with what
// earlier pools of a fallback chain answered added to the message.
func (d dialect) writeFailure(w http.ResponseWriter, f *balancer.Failure) {
	if f.ClientGone {
		return
	}
	for name, vals := range f.Header {
		w.Header()[name] = vals
	}
	body := f.Body
	fromOpenAI := f.Dialect == balancer.DialectOpenAI
	if d == anthropicDialect {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.Status)
		_, _ = w.Write(anthropicFailure(f))
		return
	}
	switch {
	case d == openaiDialect && !fromOpenAI:
		body = openai.FromGoogleError(f.Status, f.Body)
		w.Header().Set("Content-Type", "application/json")
	case d == nativeDialect && fromOpenAI:
		body = fromopenai.Error(f.Status, f.Body)
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	}
	if f.Note != "" {
		body = addToMessage(body, f.Note)
	}
	if w.Header().Get("Content-Type") == "" {
		w.Header().Set("Content-Type", "application/json; charset=UTF-8")
	}
	w.WriteHeader(f.Status)
	_, _ = w.Write(body)
}

// addToMessage appends note to error.message of a JSON error body (Google's
// and OpenAI's shapes both have it), keeping everything else.
func addToMessage(body []byte, note string) []byte {
	var doc map[string]json.RawMessage
	var e map[string]json.RawMessage
	var msg string
	if json.Unmarshal(body, &doc) != nil || json.Unmarshal(doc["error"], &e) != nil || json.Unmarshal(e["message"], &msg) != nil {
		return body
	}
	e["message"], _ = json.Marshal(msg + " (" + note + ")")
	doc["error"], _ = json.Marshal(e)
	out, err := json.Marshal(doc)
	if err != nil {
		return body
	}
	return out
}

// hopHeaders are not copied from the upstream answer.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Authenticate": true, "Proxy-Authorization": true,
	"Te": true, "Trailer": true, "Transfer-Encoding": true, "Upgrade": true, "Alt-Svc": true, "Set-Cookie": true,
}

func copyHeaders(dst, src http.Header) {
	for name, vals := range src {
		if !hopHeaders[name] {
			dst[name] = vals
		}
	}
}

// forwardHeaders are the client headers passed upstream; credentials never are.
var forwardHeaders = []string{"Content-Type", "Accept", "Accept-Language", "User-Agent", "X-Goog-Api-Client"}

func forwardedHeader(r *http.Request) http.Header {
	n := 0
	for _, name := range forwardHeaders {
		if _, ok := r.Header[name]; ok {
			n++
		}
	}
	h := make(http.Header, n) // sized exactly: a stream holds it to its end
	for _, name := range forwardHeaders {
		if v, ok := r.Header[name]; ok {
			h[name] = v
		}
	}
	return h
}
