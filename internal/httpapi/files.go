package httpapi

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/gemini-balance/gemini_balance/internal/affinity"
	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/clientinfo"
	"github.com/gemini-balance/gemini_balance/internal/gemini"
	"github.com/gemini-balance/gemini_balance/internal/models"
	"github.com/gemini-balance/gemini_balance/internal/pathguard"
	"github.com/gemini-balance/gemini_balance/internal/secret"
	"github.com/gemini-balance/gemini_balance/internal/upstream"
)

// Files API, cached contents, batches and operations.
//
// Each of these belongs to the key that created it (Google ties it to that
// key's project). The proxy records the owner when the creating call answers
// (affinity.Registry: resource → key id, hash of the client token, expiry)
// and sends every later request that names the resource to that key only.
// A token sees only what it created: lists are made on each owning key and
// filtered to the token's records; another token's resource is answered 404.

// DefaultMaxUploadBytes bounds one upload leg (the body of an "upload" or
// "upload, finalize" command, or a multipart upload): Google accepts files of
// up to 2 GB. Upload legs are streamed to the upstream, never held.
const DefaultMaxUploadBytes = 2 << 30

// maxListPages bounds the pages read from one owning key for a list.
const maxListPages = 20

// uploadRequestHeaders are the client headers an upload start or leg passes
// upstream (besides forwardHeaders); credentials never are.
var uploadRequestHeaders = []string{
	"X-Goog-Upload-Protocol", "X-Goog-Upload-Command", "X-Goog-Upload-Offset",
	"X-Goog-Upload-Header-Content-Type", "X-Goog-Upload-Header-Content-Length", "X-Goog-Upload-File-Name",
}

// resourceQuery is the query passed upstream on resource routes: the usual
// allowlist plus the given parameters (e.g. updateMask of a PATCH).
func resourceQuery(q url.Values, extra ...string) url.Values {
	out := url.Values{}
	for name, vals := range q {
		ok := forwardedQuery[name]
		for _, e := range extra {
			ok = ok || name == e
		}
		if ok {
			out[name] = vals
		}
	}
	return out
}

// resourceRoute is a parsed path below a family prefix.
type resourceRoute struct {
	kind string // affinity kind
	id   string // "" for a collection
	verb string // "cancel" of batches/{id}:cancel
	name string // the resource name, e.g. "files/abc", "models/veo/operations/x"
}

// parseResourcePath reads rest ("/files", "/files/{id}", "/cachedContents[/{id}]",
// "/batches[/{id}[:cancel]]", "/models/{m}/operations/{id}"); ok is false for
// other paths. Ids are validated by the caller.
func parseResourcePath(rest string) (resourceRoute, bool) {
	for _, kind := range []string{affinity.Files, affinity.CachedContents, affinity.Batches} {
		if rest == "/"+kind {
			return resourceRoute{kind: kind}, true
		}
		if id, ok := strings.CutPrefix(rest, "/"+kind+"/"); ok {
			rt := resourceRoute{kind: kind, id: id}
			if kind != affinity.CachedContents {
				if i := strings.LastIndexByte(id, ':'); i >= 0 {
					rt.id, rt.verb = id[:i], id[i+1:]
				}
			}
			rt.name = kind + "/" + rt.id
			return rt, true
		}
	}
	if m, ok := strings.CutPrefix(rest, "/models/"); ok {
		if model, id, ok := strings.Cut(m, "/operations/"); ok {
			return resourceRoute{kind: affinity.Operations, id: id, name: "models/" + model + "/operations/" + id}, true
		}
	}
	return resourceRoute{}, false
}

// isResourcePath reports whether rest is one of the resource routes.
func isResourcePath(rest string) bool {
	_, ok := parseResourcePath(rest)
	return ok
}

// serveResource answers the resource routes of the native family.
func (h *Handler) serveResource(w http.ResponseWriter, r *http.Request, rest string) bool {
	rt, _ := parseResourcePath(rest)
	allow := "GET"
	switch {
	case rt.id == "" && rt.kind == affinity.CachedContents:
		allow = "GET, POST"
	case rt.verb == "download":
		allow = "GET"
	case rt.verb != "":
		allow = "POST"
	case rt.kind == affinity.CachedContents:
		allow = "GET, PATCH, DELETE"
	case rt.kind == affinity.Files || rt.kind == affinity.Batches:
		allow = "GET, DELETE"
	}
	if !slices.Contains(strings.Split(allow, ", "), r.Method) {
		w.Header().Set("Allow", allow)
		writeJSON(w, http.StatusMethodNotAllowed, gemini.ErrorBody(http.StatusMethodNotAllowed,
			fmt.Sprintf("%s %s is not supported; use %s", r.Method, shorten(r.URL.Path), allow)))
		return true
	}
	token, ok := h.authenticate(w, r, nativeDialect)
	if !ok {
		return true
	}
	if rt.id != "" || rt.kind == affinity.Operations {
		if !affinity.ValidID(rt.id) {
			writeJSON(w, http.StatusBadRequest, gemini.ErrorBody(http.StatusBadRequest,
				fmt.Sprintf("%s id %q is not valid: an id is letters, digits and '-', at most 128 characters", rt.kind, shortenTo(rt.id, 64))))
			return true
		}
		if rt.verb != "" && !(rt.kind == affinity.Batches && rt.verb == "cancel") && !(rt.kind == affinity.Files && rt.verb == "download") {
			writeJSON(w, http.StatusNotFound, gemini.ErrorBody(http.StatusNotFound,
				fmt.Sprintf("unknown method %s; files have :download, batches :cancel", shortenTo(rt.verb, 64))))
			return true
		}
		if rt.kind == affinity.Operations {
			model := strings.TrimSuffix(strings.TrimPrefix(rt.name, "models/"), "/operations/"+rt.id)
			if !pathguard.ValidModel(model) {
				writeJSON(w, http.StatusBadRequest, gemini.ErrorBody(http.StatusBadRequest, pathguard.ModelError(model)))
				return true
			}
		}
	}
	call := &balancer.Call{
		Route: "gemini." + rt.kind, ClientToken: secret.MaskToken(token),
		Request: upstream.Request{Method: r.Method, Header: forwardedHeader(r)},
	}
	switch {
	case rt.id == "" && r.Method == http.MethodGet:
		h.listOwned(w, r, rt.kind, token, call)
		return true
	case rt.id == "": // POST /cachedContents
		body, ok := h.readJSONBody(w, r)
		if !ok {
			return true
		}
		var head struct {
			Model string `json:"model"`
		}
		_ = json.Unmarshal(body, &head)
		if m := models.Bare(head.Model); h.Balancer.Aliases().Filtered(m) {
			writeJSON(w, http.StatusNotFound, gemini.ErrorBody(http.StatusNotFound,
				fmt.Sprintf("model %s is not available on this server (filtered_models)", m)))
			return true
		}
		call.Route = "gemini.cachedContents.create"
		call.Request.Path = "/" + rt.kind
		call.Request.Query = resourceQuery(r.URL.Query())
		call.Request.Body = body
		if h.pinBody(w, r, call, nativeDialect) {
			return true
		}
		h.forwardRecording(w, r, call, token)
		return true
	}
	// One named resource: on its owner's key when the proxy knows it.
	if !h.pinNamed(w, r, call, rt.name, token) {
		return true
	}
	call.Request.Path = "/" + rt.name
	if rt.verb != "" {
		call.Request.Path += ":" + rt.verb
	}
	call.Request.Query = resourceQuery(r.URL.Query())
	if r.Method == http.MethodPatch {
		call.Request.Query = resourceQuery(r.URL.Query(), "updateMask")
	}
	if r.Method == http.MethodPost || r.Method == http.MethodPatch {
		body, ok := h.readJSONBody(w, r)
		if !ok {
			return true
		}
		call.Request.Body = body
	}
	call.Route = "gemini." + rt.kind + "." + strings.ToLower(r.Method)
	if rt.verb == "download" {
		// A file's content (a generated video) is relayed as it comes.
		call.Route = "gemini.files.download"
		h.forwardAs(w, r, call, nativeDialect)
		return true
	}
	h.forwardOwned(w, r, call, rt.name, token)
	return true
}

// readJSONBody reads a body that must be JSON when present (an empty body
// is sent as {}).
func (h *Handler) readJSONBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	body, ok := h.readBody(w, r, nativeDialect)
	if !ok {
		return nil, false
	}
	if len(body) == 0 {
		return []byte("{}"), true
	}
	if !json.Valid(body) {
		writeJSON(w, http.StatusBadRequest, gemini.ErrorBody(http.StatusBadRequest, "request body is not valid JSON"))
		return nil, false
	}
	return body, true
}

// pinNamed sets call's key for a request that names one resource in its
// path. A resource the proxy does not know goes over the pool as any
// request; another token's is answered 404 (false: answered).
func (h *Handler) pinNamed(w http.ResponseWriter, r *http.Request, call *balancer.Call, name, token string) bool {
	rec, known := h.Balancer.Resources().Get(name, time.Now())
	if !known {
		return true
	}
	if rec.TokenHash != affinity.HashToken(token) {
		writeJSON(w, http.StatusNotFound, gemini.ErrorBody(http.StatusNotFound, name+" was not found"))
		return false
	}
	k := h.Balancer.KeyByID(rec.KeyID)
	if k == nil {
		nativeDialect.writeFailure(w, h.Balancer.OwnerMissing(name))
		return false
	}
	call.OwnerKey, call.Resource = k, name
	return true
}

// pinBody sends a call whose body names files or cached contents to the key
// that owns them. It reports whether it answered the client instead: a
// resource of another token (403, as Google answers), resources of two keys
// in one request (400), an owner that left the pool (503). Resources the
// proxy does not know leave the call as it is.
func (h *Handler) pinBody(w http.ResponseWriter, r *http.Request, call *balancer.Call, d dialect) bool {
	if !affinity.MayName(call.Request.Body) {
		return false
	}
	names := affinity.Names(call.Request.Body)
	if len(names) == 0 {
		return false
	}
	reg := h.Balancer.Resources()
	now := time.Now()
	var tokenHash string
	var owner affinity.Record
	for _, name := range names {
		rec, ok := reg.Get(name, now)
		if !ok {
			continue
		}
		if tokenHash == "" {
			tokenHash = affinity.HashToken(clientToken(r))
		}
		if rec.TokenHash != tokenHash {
			d.writeError(w, http.StatusForbidden, fmt.Sprintf("You do not have permission to access %s or it may not exist.", name), "")
			return true
		}
		if owner.Name != "" && rec.KeyID != owner.KeyID {
			d.writeError(w, http.StatusBadRequest, fmt.Sprintf(
				"this request names %s and %s, which belong to two different API keys; a request can use the files and caches of one key only",
				owner.Name, name), "")
			return true
		}
		if owner.Name == "" {
			owner = rec
		}
	}
	if owner.Name == "" {
		return false
	}
	k := h.Balancer.KeyByID(owner.KeyID)
	if k == nil {
		d.writeFailure(w, h.Balancer.OwnerMissing(owner.Name))
		return true
	}
	call.OwnerKey, call.Resource = k, owner.Name
	return false
}

// resourceHook runs before a native model method is forwarded: a body that
// names resources is pinned to their key, and a method that creates a batch
// or an operation records its owner. It reports whether it answered.
func (h *Handler) resourceHook(w http.ResponseWriter, r *http.Request, call *balancer.Call, token, action string) bool {
	if call.Request.Body != nil && h.pinBody(w, r, call, nativeDialect) {
		return true
	}
	switch action {
	case "batchGenerateContent", "asyncBatchEmbedContent", "predictLongRunning":
		h.forwardRecording(w, r, call, token)
		return true
	}
	return false
}

// forwardOwned runs a call on a named resource and keeps the registry in
// step: a deleted resource is forgotten, a patched cache's expiry follows.
func (h *Handler) forwardOwned(w http.ResponseWriter, r *http.Request, call *balancer.Call, name, token string) {
	out, raw, ok := h.doWhole(w, r, call, nativeDialect)
	if !ok {
		return
	}
	reg := h.Balancer.Resources()
	switch call.Request.Method {
	case http.MethodGet:
		if kind := affinity.Kind(name); kind == affinity.Batches || kind == affinity.Operations {
			h.recordOutputs(raw, out.Key.ID(), token)
		}
	case http.MethodDelete:
		reg.Delete(name)
	case http.MethodPatch:
		if rec, ok := reg.Get(name, time.Now()); ok {
			if exp, ok := expiryOf(raw); ok {
				rec.Expires = exp
				reg.Put(rec)
			}
		}
	}
	writeAnswer(w, out, raw)
}

// forwardRecording runs a call that creates a resource and records the
// resource the answer names as owned by the key that answered.
func (h *Handler) forwardRecording(w http.ResponseWriter, r *http.Request, call *balancer.Call, token string) {
	out, raw, ok := h.doWhole(w, r, call, nativeDialect)
	if !ok {
		return
	}
	h.record(raw, out.Key.ID(), token)
	writeAnswer(w, out, raw)
}

// record notes the resource an answer names (its "name", or "file.name" of
// an upload) as created by token on key keyID.
func (h *Handler) record(raw []byte, keyID, token string) (string, bool) {
	var doc struct {
		Name           string          `json:"name"`
		ExpireTime     string          `json:"expireTime"`
		ExpirationTime string          `json:"expirationTime"`
		File           json.RawMessage `json:"file"`
	}
	if json.Unmarshal(raw, &doc) != nil {
		return "", false
	}
	if len(doc.File) > 0 && doc.Name == "" {
		return h.record(doc.File, keyID, token)
	}
	kind := affinity.Kind(doc.Name)
	if kind == "" || kind == affinity.Uploads || !affinity.ValidID(doc.Name[strings.LastIndexByte(doc.Name, '/')+1:]) {
		return "", false
	}
	now := time.Now()
	exp, ok := expiryOf(raw)
	if !ok {
		switch kind {
		case affinity.Files:
			exp = now.Add(affinity.FileTTL)
		case affinity.CachedContents:
			exp = now.Add(affinity.CacheTTL)
		case affinity.Batches:
			exp = now.Add(affinity.BatchTTL)
		default:
			exp = now.Add(affinity.OperationTTL)
		}
	}
	h.Balancer.Resources().Put(affinity.Record{Name: doc.Name, KeyID: keyID, TokenHash: affinity.HashToken(token), Expires: exp, Created: now})
	return doc.Name, true
}

// recordOutputs records the files a finished batch or operation made (a
// batch's responses file, generated videos) as owned by the key that ran it,
// so that their download and use stay on that key.
func (h *Handler) recordOutputs(raw []byte, keyID, token string) {
	reg := h.Balancer.Resources()
	now := time.Now()
	for _, name := range affinity.OutputFiles(raw) {
		if _, known := reg.Get(name, now); !known {
			reg.Put(affinity.Record{Name: name, KeyID: keyID, TokenHash: affinity.HashToken(token),
				Expires: now.Add(affinity.FileTTL), Created: now})
		}
	}
}

// expiryOf reads expireTime (caches) or expirationTime (files) of an answer.
func expiryOf(raw []byte) (time.Time, bool) {
	var doc struct {
		ExpireTime     string `json:"expireTime"`
		ExpirationTime string `json:"expirationTime"`
	}
	if json.Unmarshal(raw, &doc) != nil {
		return time.Time{}, false
	}
	for _, s := range []string{doc.ExpireTime, doc.ExpirationTime} {
		if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// writeAnswer writes a small answer read whole, with the upstream's headers.
func writeAnswer(w http.ResponseWriter, out *balancer.Outcome, raw []byte) {
	copyHeaders(w.Header(), out.Resp.Header)
	w.Header().Del("Content-Length")
	w.WriteHeader(out.Resp.StatusCode)
	_, _ = w.Write(raw)
}

// listOwned answers a list of files, caches or batches with the token's own:
// the list is read on each key that owns one of the token's records and
// filtered to those records. A key that cannot answer now (invalid, cooling)
// leaves its resources out.
func (h *Handler) listOwned(w http.ResponseWriter, r *http.Request, kind, token string, base *balancer.Call) {
	recs := h.Balancer.Resources().Owned(affinity.HashToken(token), kind, time.Now())
	want := make(map[string]bool, len(recs))
	var keyOrder []string
	seen := map[string]bool{}
	for _, rec := range recs {
		want[rec.Name] = true
		if !seen[rec.KeyID] {
			seen[rec.KeyID] = true
			keyOrder = append(keyOrder, rec.KeyID)
		}
	}
	var items []json.RawMessage
	for _, id := range keyOrder {
		k := h.Balancer.KeyByID(id)
		if k == nil {
			continue
		}
		pageToken := ""
		for range maxListPages {
			q := url.Values{"pageSize": {"100"}}
			if pageToken != "" {
				q.Set("pageToken", pageToken)
			}
			call := &balancer.Call{Route: "gemini." + kind + ".list", ClientToken: base.ClientToken, OwnerKey: k,
				Resource: kind + " of this client token",
				Request:  upstream.Request{Method: http.MethodGet, Path: "/" + kind, Query: q, Header: base.Request.Header}}
			out, _, fail := h.do(w, r, call, nil)
			if fail != nil {
				if fail.ClientGone {
					return
				}
				if h.Logger != nil {
					h.Logger.Debug("a list on an owning key failed; its resources are left out",
						zap.String("key", k.Masked()), zap.Int("status", fail.Status))
				}
				break
			}
			raw, err := readAnswer(r, out)
			if err != nil {
				break
			}
			var page map[string]json.RawMessage
			var list []json.RawMessage
			if json.Unmarshal(raw, &page) != nil {
				break
			}
			_ = json.Unmarshal(page[listField(kind)], &list)
			for _, item := range list {
				var it struct {
					Name string `json:"name"`
				}
				if json.Unmarshal(item, &it) == nil && want[it.Name] {
					items = append(items, item)
					delete(want, it.Name) // once, even if two keys list it
				}
			}
			var next string
			_ = json.Unmarshal(page["nextPageToken"], &next)
			if next == "" {
				break
			}
			pageToken = next
		}
	}
	body := []byte("{}")
	if len(items) > 0 {
		body, _ = json.Marshal(map[string]any{listField(kind): items})
	}
	writeJSON(w, http.StatusOK, body)
}

// listField is the field of a list answer that holds the items: batches
// are operations, and Google lists them as such.
func listField(kind string) string {
	if kind == affinity.Batches {
		return "operations"
	}
	return kind
}

// serveUpload answers POST {prefix}/files below an upload family: a
// resumable start (X-Goog-Upload-Protocol: resumable, X-Goog-Upload-Command:
// start), a leg of a started upload (?upload_id=…), or a multipart upload.
func (h *Handler) serveUpload(w http.ResponseWriter, r *http.Request, prefix, rest string) bool {
	if rest != "/files" {
		return false
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeJSON(w, http.StatusMethodNotAllowed, gemini.ErrorBody(http.StatusMethodNotAllowed,
			fmt.Sprintf("%s %s is not supported; use POST", r.Method, shorten(r.URL.Path))))
		return true
	}
	token, ok := h.authenticate(w, r, nativeDialect)
	if !ok {
		return true
	}
	q := r.URL.Query()
	call := &balancer.Call{
		Route: "gemini.files.upload", ClientToken: secret.MaskToken(token),
		Request: upstream.Request{Method: http.MethodPost, Path: "/files", Upload: true, Header: uploadHeader(r)},
	}
	if q.Has("upload_id") {
		h.uploadLeg(w, r, call, q.Get("upload_id"), token)
		return true
	}
	protocol := strings.ToLower(r.Header.Get("X-Goog-Upload-Protocol"))
	if protocol == "" {
		protocol = strings.ToLower(q.Get("uploadType"))
	}
	if ct := strings.ToLower(r.Header.Get("Content-Type")); protocol == "" && strings.HasPrefix(ct, "multipart/") {
		protocol = "multipart"
	}
	switch protocol {
	case "resumable":
		if cmd := strings.ToLower(strings.TrimSpace(r.Header.Get("X-Goog-Upload-Command"))); cmd != "start" {
			writeJSON(w, http.StatusBadRequest, gemini.ErrorBody(http.StatusBadRequest,
				"a resumable upload begins with X-Goog-Upload-Command: start; the next legs go to the X-Goog-Upload-URL it answers"))
			return true
		}
		h.uploadStart(w, r, call, prefix, token)
	case "multipart", "media", "raw":
		call.Request.Query = resourceQuery(q, "uploadType")
		if !h.streamBody(w, r, call) {
			return true
		}
		h.forwardUploaded(w, r, call, token, "")
	default:
		writeJSON(w, http.StatusBadRequest, gemini.ErrorBody(http.StatusBadRequest,
			"upload protocol missing: send X-Goog-Upload-Protocol: resumable (or multipart)"))
	}
	return true
}

func uploadHeader(r *http.Request) http.Header {
	h := forwardedHeader(r)
	for _, name := range uploadRequestHeaders {
		if v, ok := r.Header[http.CanonicalHeaderKey(name)]; ok {
			h[http.CanonicalHeaderKey(name)] = v
		}
	}
	return h
}

// maxUpload is the limit of one upload leg.
func (h *Handler) maxUpload() int64 {
	if h.MaxUploadBytes > 0 {
		return h.MaxUploadBytes
	}
	return DefaultMaxUploadBytes
}

// streamBody gives call the client's body as a stream under the upload
// limit; an announced length over it is refused before a byte is read.
func (h *Handler) streamBody(w http.ResponseWriter, r *http.Request, call *balancer.Call) bool {
	limit := h.maxUpload()
	if r.ContentLength > limit {
		writeJSON(w, http.StatusRequestEntityTooLarge, gemini.ErrorBody(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("upload is larger than the limit of %d bytes", limit)))
		return false
	}
	call.Request.BodyReader = http.MaxBytesReader(w, r.Body, limit)
	call.Request.ContentLength = r.ContentLength
	return true
}

// uploadStart opens a resumable upload over the pool and answers the
// client with an upload URL on this proxy; the session is recorded so its
// legs reach the key that opened it.
func (h *Handler) uploadStart(w http.ResponseWriter, r *http.Request, call *balancer.Call, prefix, token string) {
	body, ok := h.readBody(w, r, nativeDialect)
	if !ok {
		return
	}
	call.Request.Body = body
	call.Request.Query = resourceQuery(r.URL.Query())
	out, raw, ok := h.doWhole(w, r, call, nativeDialect)
	if !ok {
		return
	}
	id := uploadIDOf(out.Resp.Header.Get("X-Goog-Upload-Url"))
	if !affinity.ValidUploadID(id) {
		writeJSON(w, http.StatusBadGateway, gemini.ErrorBody(http.StatusBadGateway,
			"the upstream opened no resumable upload (no usable X-Goog-Upload-URL in its answer)"))
		return
	}
	now := time.Now()
	h.Balancer.Resources().Put(affinity.Record{Name: affinity.Uploads + "/" + id, KeyID: out.Key.ID(),
		TokenHash: affinity.HashToken(token), Expires: now.Add(affinity.UploadTTL), Created: now})
	copyHeaders(w.Header(), out.Resp.Header)
	w.Header().Del("Content-Length")
	// Both URLs Google gives for the session point at the proxy: no
	// upstream host, relay path or key is left in the answer.
	own := clientinfo.Origin(r) + prefix + "/files?upload_id=" +
		url.QueryEscape(id) + "&upload_protocol=resumable"
	w.Header().Set("X-Goog-Upload-Url", own)
	if w.Header().Get("X-Goog-Upload-Control-Url") != "" {
		w.Header().Set("X-Goog-Upload-Control-Url", own)
	}
	w.WriteHeader(out.Resp.StatusCode)
	_, _ = w.Write([]byte(secret.Redact(string(raw), out.Key.Secret())))
}

// uploadIDOf reads upload_id from an upload URL.
func uploadIDOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Query().Get("upload_id")
}

// uploadLeg relays one leg of a resumable upload ("upload", "upload,
// finalize", "query") to the key that opened the session, as a stream and
// in one attempt.
func (h *Handler) uploadLeg(w http.ResponseWriter, r *http.Request, call *balancer.Call, id, token string) {
	if !affinity.ValidUploadID(id) {
		writeJSON(w, http.StatusBadRequest, gemini.ErrorBody(http.StatusBadRequest, "upload_id is not valid"))
		return
	}
	session := affinity.Uploads + "/" + id
	rec, ok := h.Balancer.Resources().Get(session, time.Now())
	if !ok || rec.TokenHash != affinity.HashToken(token) {
		writeJSON(w, http.StatusNotFound, gemini.ErrorBody(http.StatusNotFound,
			"upload session not found: start a resumable upload on this server first"))
		return
	}
	k := h.Balancer.KeyByID(rec.KeyID)
	if k == nil {
		nativeDialect.writeFailure(w, h.Balancer.OwnerMissing("this upload session"))
		return
	}
	call.OwnerKey, call.Resource = k, "this upload session"
	call.Request.Query = url.Values{"upload_id": {id}, "upload_protocol": {"resumable"}}
	if !h.streamBody(w, r, call) {
		return
	}
	h.forwardUploaded(w, r, call, token, session)
}

// forwardUploaded sends an upload leg and records the file a final answer
// names; session, when set, is forgotten once the upload is final.
func (h *Handler) forwardUploaded(w http.ResponseWriter, r *http.Request, call *balancer.Call, token, session string) {
	out, _, fail := h.do(w, r, call, nil)
	if fail != nil {
		nativeDialect.writeFailure(w, fail)
		return
	}
	raw, err := readAnswer(r, out)
	if err != nil && err != io.EOF {
		nativeDialect.writeError(w, http.StatusBadGateway, "upstream answer interrupted: "+redactRelayErr(out, err), "")
		return
	}
	final := session == "" || strings.EqualFold(out.Resp.Header.Get("X-Goog-Upload-Status"), "final")
	if final {
		h.record(raw, out.Key.ID(), token)
		if session != "" {
			h.Balancer.Resources().Delete(session)
		}
	}
	copyHeaders(w.Header(), out.Resp.Header)
	w.Header().Del("Content-Length")
	w.Header().Del("X-Goog-Upload-Url")
	w.Header().Del("X-Goog-Upload-Control-Url")
	w.WriteHeader(out.Resp.StatusCode)
	_, _ = w.Write([]byte(secret.Redact(string(raw), out.Key.Secret())))
}
