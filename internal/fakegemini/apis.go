package fakegemini

// Google's resource APIs, each resource owned by the key that made it:
//
//   - Files: resumable upload (POST /upload/v1beta/files with
//     X-Goog-Upload-Protocol: resumable, then the upload URL), multipart and
//     raw ("media") uploads; GET /v1beta/files (paged), GET and DELETE
//     /v1beta/files/{id}; GET /v1beta/files/{id}:download for generated
//     videos.
//   - Cached contents: POST, GET (paged) /v1beta/cachedContents; GET, PATCH,
//     DELETE /v1beta/cachedContents/{id}.
//   - Batches: POST /v1beta/models/{m}:batchGenerateContent; GET (paged)
//     /v1beta/batches; GET, DELETE /v1beta/batches/{id}; POST
//     /v1beta/batches/{id}:cancel.
//   - Long-running operations (Veo): POST
//     /v1beta/models/{m}:predictLongRunning; GET
//     /v1beta/models/{m}/operations/{id} (and /v1beta/operations/{id} for an
//     operation of that form).
//
// Every route is also served under /v1. A key that does not own the resource
// it names gets 403 PERMISSION_DENIED, as does a name that does not exist.
// Uploaded bytes are hashed and counted as they arrive, never kept.

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"hash"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

const (
	// FileTTL is how long an uploaded file lives (expirationTime), as at
	// Google.
	FileTTL = 48 * time.Hour
	// DefaultCacheTTL is the TTL of a cached content created without ttl or
	// expireTime (Google: one hour).
	DefaultCacheTTL = time.Hour
	// UploadChunkGranularity is the X-Goog-Upload-Chunk-Granularity the
	// upload start answers with.
	UploadChunkGranularity = 8 << 20
	// VideoBytes is the body of GET /v1beta/files/{id}:download?alt=media for
	// a video a long-running operation generated.
	VideoBytes = "\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isomfakegemini video"

	batchType       = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatch"
	batchOutputType = "type.googleapis.com/google.ai.generativelanguage.v1main.GenerateContentBatchOutput"
	videoOpType     = "type.googleapis.com/google.ai.generativelanguage.v1beta.PredictLongRunningResponse"
	timeLayout      = "2006-01-02T15:04:05.000000Z"
)

type fileRec struct {
	name, displayName, mimeType string
	size                        int64
	sha                         []byte
	create, update, expire      time.Time
	source                      string // UPLOADED or GENERATED
	uri, downloadURI            string
}

type uploadSession struct {
	mu                          sync.Mutex
	id, key, version            string
	name, displayName, mimeType string
	hash                        hash.Hash
	size                        int64
	file                        *fileRec // set once finalized
	cancelled                   bool
}

type cacheRec struct {
	name, model, displayName string
	tokens                   int
	create, update, expire   time.Time
}

type batchRec struct {
	name, model, displayName string
	create, update, end      time.Time
	polls                    int
	state                    string
	requests                 int
	responses                []object // inlined responses, when the input was inlined
	failed                   int
	responsesFile            string // when the input was a file
	outputFile               string // name the responses file gets
}

type opRec struct {
	name, model string
	samples     int
	polls       int
	videos      []string // files/... of the generated videos, once done
}

// Exported helpers.

// Owner returns the key that owns resource ("files/abc", "cachedContents/x",
// "batches/y", "models/veo-3.0-generate-001/operations/z"): the key that
// made it through the API, else the first (sorted) key SetOwner gave it.
func (s *Server) Owner(resource string) (key string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if k, ok := s.creators[resource]; ok && s.owners[resource][k] {
		return k, true
	}
	var keys []string
	for k, yes := range s.owners[resource] {
		if yes {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "", false
	}
	sort.Strings(keys)
	return keys[0], true
}

// Files returns the names ("files/...") of the files key owns, uploaded,
// generated or declared with SetOwner, oldest first.
func (s *Server) Files(key string) []string {
	names := s.ownedOrdered(key, "files/")
	for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
		names[i], names[j] = names[j], names[i]
	}
	return names
}

// UploadedBytes returns how many bytes were uploaded to a file ("files/abc")
// or, by its upload_id, to an upload session not yet finalized; 0 when there
// is none.
func (s *Server) UploadedBytes(name string) int64 {
	s.mu.Lock()
	f, sess := s.files[name], s.uploads[name]
	s.mu.Unlock()
	if f != nil {
		return f.size
	}
	if sess != nil {
		sess.mu.Lock()
		defer sess.mu.Unlock()
		return sess.size
	}
	return 0
}

// FileSHA256 returns the SHA-256 of the bytes uploaded to a file, nil when
// there is no such file.
func (s *Server) FileSHA256(name string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.files[name]; f != nil {
		return append([]byte(nil), f.sha...)
	}
	return nil
}

// Store helpers; callers hold no lock.

// own registers a resource made by key through the API: key owns it, and
// ownership checks are on from then on (see SetOwner).
func (s *Server) own(resource, key string) {
	s.SetOwner(resource, key)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.creators[resource] = key
}

// expired reports whether a file or cached content made through the API is
// past its expiration, as good as deleted at Google; s.mu is held.
func (s *Server) expired(resource string) bool {
	now := time.Now()
	if c := s.caches[resource]; c != nil {
		return now.After(c.expire)
	}
	if f := s.files[resource]; f != nil {
		return now.After(f.expire)
	}
	return false
}

// forget removes a resource and its ownership.
func (s *Server) forget(resource string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.owners, resource)
	delete(s.creators, resource)
	delete(s.order, resource)
	delete(s.files, resource)
	delete(s.caches, resource)
	delete(s.batches, resource)
	delete(s.ops, resource)
}

// ownedOrdered lists the resources of a kind key owns, newest first.
func (s *Server) ownedOrdered(key, kind string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for name, keys := range s.owners {
		if strings.HasPrefix(name, kind) && keys[key] && !s.expired(name) {
			out = append(out, name)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if s.order[out[i]] != s.order[out[j]] {
			return s.order[out[i]] > s.order[out[j]]
		}
		return out[i] < out[j]
	})
	return out
}

func (s *Server) orderOf(name string) uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.order[name]
}

var idAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789"

// newID is a random lowercase alphanumeric id of n characters, like Google's
// file and cache ids.
func newID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b)
}

// newUploadID looks like Google's upload_id: long, URL-safe.
func newUploadID() string {
	b := make([]byte, 48)
	_, _ = rand.Read(b)
	return "ABPtcP" + base64.RawURLEncoding.EncodeToString(b)
}

func stamp(t time.Time) string { return t.UTC().Format(timeLayout) }

// Routing.

// uploadPath reports whether path (prefix removed) is the upload endpoint,
// and its version.
func uploadPath(path string) (string, bool) {
	switch path {
	case "/upload/v1beta/files":
		return "v1beta", true
	case "/upload/v1/files":
		return "v1", true
	}
	return "", false
}

// parseAPIRoute maps the routes of this file; matched is false for paths it
// leaves to parseRoute.
func parseAPIRoute(method, path string) (rt route, ok, matched bool) {
	var version, rest string
	switch {
	case strings.HasPrefix(path, "/v1beta/"):
		version, rest = "v1beta", path[len("/v1beta/"):]
	case strings.HasPrefix(path, "/v1/"):
		version, rest = "v1", path[len("/v1/"):]
	default:
		return route{}, false, false
	}
	get, post := method == http.MethodGet, method == http.MethodPost
	del, patch := method == http.MethodDelete, method == http.MethodPatch
	mk := func(op, id string) route { return route{op: op, id: id, version: version} }
	kind, sub, _ := strings.Cut(rest, "/")
	switch kind {
	case "files", "cachedContents", "batches":
		if rest == kind {
			switch {
			case get:
				return mk("list:"+kind, ""), true, true
			case post && kind == "cachedContents":
				return mk("create:cachedContents", ""), true, true
			}
			return route{}, false, true
		}
		if sub == "" || strings.Contains(sub, "/") {
			return route{}, false, true
		}
		id, verb, hasVerb := strings.Cut(sub, ":")
		if id == "" {
			return route{}, false, true
		}
		switch {
		case !hasVerb && get:
			return mk("get:"+kind, id), true, true
		case !hasVerb && del:
			return mk("delete:"+kind, id), true, true
		case !hasVerb && patch && kind == "cachedContents":
			return mk("patch:cachedContents", id), true, true
		case hasVerb && verb == "download" && get && kind == "files":
			return mk("download:files", id), true, true
		case hasVerb && verb == "cancel" && post && kind == "batches":
			return mk("cancel:batches", id), true, true
		}
		return route{}, false, true
	case "operations":
		if sub == "" || strings.Contains(sub, "/") {
			return route{}, false, true
		}
		return mk("get:operations", rest), get, true
	case "models":
		if model, opID, isOp := strings.Cut(sub, "/operations/"); isOp {
			if model == "" || opID == "" || strings.Contains(opID, "/") || strings.Contains(model, "/") {
				return route{}, false, true
			}
			rt := mk("get:operations", rest)
			rt.model = model
			return rt, get, true
		}
		model, verb, _ := strings.Cut(sub, ":")
		if model != "" && !strings.Contains(model, "/") && (verb == "batchGenerateContent" || verb == "predictLongRunning") {
			rt := mk(verb, "")
			rt.model = model
			return rt, post, true
		}
	}
	return route{}, false, false
}

func (x *exchange) serveAPI() {
	switch x.rt.op {
	case "list:batches":
		x.listBatches()
	case "delete:files":
		x.deleteFile()
	case "download:files":
		x.downloadFile()
	case "create:cachedContents":
		x.createCache()
	case "patch:cachedContents":
		x.patchCache()
	case "delete:cachedContents":
		x.deleteCache()
	case "batchGenerateContent":
		x.createBatch()
	case "get:batches":
		x.getBatch()
	case "cancel:batches":
		x.cancelBatch()
	case "delete:batches":
		x.deleteBatch()
	case "predictLongRunning":
		x.predictLongRunning()
	case "get:operations":
		x.getOperation()
	}
}

// Errors.

func notFound(msg string) *rpcError { return &rpcError{404, msg, "NOT_FOUND", nil} }

// callerDenied is Google's generic 403 for a batch or an operation of
// another project, or one that does not exist.
func callerDenied() *rpcError {
	return &rpcError{403, "The caller does not have permission", "PERMISSION_DENIED", nil}
}

// Paging: tokens carry the creation sequence of the last item of the page,
// so that deleting items between pages does not break them.

func (x *exchange) page(names []string, def, maxSize int) ([]string, string, bool) {
	q := x.r.URL.Query()
	size := def
	for _, n := range []string{"pageSize", "page_size"} {
		v := q.Get(n)
		if v == "" {
			continue
		}
		i, err := strconv.ParseInt(v, 10, 32)
		if err != nil {
			msg := "Invalid value at 'page_size' (TYPE_INT32), " + strconv.Quote(v)
			x.fail(invalidArgument(msg, fieldViolation{Field: "page_size", Description: msg}))
			return nil, "", false
		}
		if i > 0 {
			size = int(min(i, int64(maxSize)))
		}
	}
	start := 0
	for _, n := range []string{"pageToken", "page_token"} {
		tok := q.Get(n)
		if tok == "" {
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(tok)
		seq, err2 := strconv.ParseUint(strings.TrimPrefix(string(b), "seq:"), 10, 64)
		if err != nil || err2 != nil || !strings.HasPrefix(string(b), "seq:") {
			x.fail(invalidArgument("Invalid page token."))
			return nil, "", false
		}
		start = len(names)
		for i, name := range names {
			if x.s.orderOf(name) < seq {
				start = i
				break
			}
		}
	}
	end := min(start+size, len(names))
	next := ""
	if end < len(names) {
		next = base64.RawURLEncoding.EncodeToString([]byte("seq:" + strconv.FormatUint(x.s.orderOf(names[end-1]), 10)))
	}
	return names[start:end], next, true
}

// Files.

// fileJSON is Google's File; it reads only what does not change once made.
func (s *Server) fileJSON(f *fileRec) object {
	o := object{
		"name": f.name, "mimeType": f.mimeType, "sizeBytes": strconv.FormatInt(f.size, 10),
		"createTime": stamp(f.create), "updateTime": stamp(f.update), "expirationTime": stamp(f.expire),
		"sha256Hash": base64.StdEncoding.EncodeToString([]byte(hex.EncodeToString(f.sha))),
		"uri":        f.uri, "state": "ACTIVE", "source": f.source,
	}
	if f.displayName != "" {
		o["displayName"] = f.displayName
	}
	if f.downloadURI != "" {
		o["downloadUri"] = f.downloadURI
	}
	return o
}

// entry is a file or cached content for the get and list methods: the
// record when the API made it, a made-up description when SetOwner declared
// it.
func (s *Server) entry(name string) object {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f := s.files[name]; f != nil {
		return s.fileJSON(f)
	}
	if c := s.caches[name]; c != nil {
		return cacheJSON(c) // under the lock: PATCH changes it
	}
	return resourceEntry(name)
}

// listResources answers GET /files or /cachedContents with the key's own,
// newest first, as Google does ({} when there are none).
func (x *exchange) listResources(kind string) {
	names, next, ok := x.page(x.s.ownedOrdered(x.key, kind+"/"), 10, 100)
	if !ok {
		return
	}
	resp := object{}
	if len(names) > 0 {
		list := make([]object, len(names))
		for i, n := range names {
			list[i] = x.s.entry(n)
		}
		resp[kind] = list
	}
	if next != "" {
		resp["nextPageToken"] = next
	}
	x.ok(resp)
}

// deny answers the 403 for a resource of another key (or none).
func (x *exchange) deny(kind, id string) {
	switch kind {
	case "files":
		x.fail(fileDenied(id))
	case "cachedContents":
		x.fail(cacheDenied())
	default:
		x.fail(callerDenied())
	}
}

// getResource answers GET /files/{id} or /cachedContents/{id}.
func (x *exchange) getResource(kind string) {
	name := kind + "/" + x.rt.id
	if !x.s.ownedBy(x.key, name) {
		x.deny(kind, x.rt.id)
		return
	}
	x.ok(x.s.entry(name))
}

func (x *exchange) deleteFile() {
	name := "files/" + x.rt.id
	if !x.s.ownedBy(x.key, name) {
		x.deny("files", x.rt.id)
		return
	}
	x.s.forget(name)
	x.ok(object{})
}

func (x *exchange) downloadFile() {
	name := "files/" + x.rt.id
	if !x.s.ownedBy(x.key, name) {
		x.deny("files", x.rt.id)
		return
	}
	x.s.mu.Lock()
	f := x.s.files[name]
	x.s.mu.Unlock()
	if f == nil || f.source != "GENERATED" {
		x.fail(invalidArgument("Only generated files can be downloaded."))
		return
	}
	x.commit()
	x.w.Header().Set("Content-Type", f.mimeType)
	x.w.Header().Set("Content-Length", strconv.Itoa(len(VideoBytes)))
	x.w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(x.w, VideoBytes)
}

// newFile stores a file made by key.
func (s *Server) newFile(key, version string, f *fileRec) {
	now := time.Now()
	f.create, f.update, f.expire = now, now, now.Add(FileTTL)
	f.uri = s.root + "/" + version + "/" + f.name
	s.mu.Lock()
	s.files[f.name] = f
	s.mu.Unlock()
	s.own(f.name, key)
}

// Uploads.

// pendingUpload is an upload request not yet recorded: its body is read
// through capture as it is consumed, then recorded by commit.
type pendingUpload struct {
	rec  Request
	body io.Reader // the request body, through capture
	cap  *captureWriter
	done bool
}

// captureWriter keeps the first MaxRecordedUpload+1 bytes written and counts
// all.
type captureWriter struct {
	buf []byte
	n   int64
}

func (c *captureWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	if room := MaxRecordedUpload + 1 - len(c.buf); room > 0 {
		c.buf = append(c.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// commit reads what is left of an upload's body and records the request;
// it does nothing for other requests (recorded on arrival) or twice.
func (x *exchange) commit() {
	p := x.pending
	if p == nil || p.done {
		return
	}
	p.done = true
	_, _ = io.Copy(io.Discard, p.body)
	p.rec.BodySize = p.cap.n
	if p.cap.n <= MaxRecordedUpload {
		p.rec.Body = append([]byte{}, p.cap.buf...)
	}
	x.s.Record(p.rec)
}

// fileMetadata is the JSON of an upload start or a multipart upload's first
// part: {"file": {...}}, camelCase or snake_case.
type fileMetadata struct {
	File struct {
		Name         string `json:"name"`
		DisplayName  string `json:"displayName"`
		DisplayName2 string `json:"display_name"`
		MimeType     string `json:"mimeType"`
		MimeType2    string `json:"mime_type"`
	} `json:"file"`
}

var fileIDPattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`)

// parseFileMetadata reads upload metadata; mime is the fallback MIME type.
func (x *exchange) parseFileMetadata(b []byte, fallbackMIME string) (name, display, mimeType string, ok bool) {
	var m fileMetadata
	if len(strings.TrimSpace(string(b))) > 0 {
		x.body = b
		if !x.decode(&m) {
			return "", "", "", false
		}
	}
	f := m.File
	display = f.DisplayName
	if display == "" {
		display = f.DisplayName2
	}
	mimeType = f.MimeType
	if mimeType == "" {
		mimeType = f.MimeType2
	}
	if mimeType == "" {
		mimeType = fallbackMIME
	}
	if mimeType == "" {
		mimeType = "application/octet-stream"
	}
	if f.Name != "" {
		id := strings.TrimPrefix(f.Name, "files/")
		if !fileIDPattern.MatchString(id) {
			x.fail(invalidArgument("Invalid file name: " + f.Name + ". The file ID may contain up to 40 lowercase alphanumeric characters or dashes, and may not start or end with a dash."))
			return "", "", "", false
		}
		name = "files/" + id
		x.s.mu.Lock()
		_, exists := x.s.files[name]
		x.s.mu.Unlock()
		if exists || x.s.ownedByAnyone(name) {
			x.fail(&rpcError{409, "File " + name + " already exists.", "ALREADY_EXISTS", nil})
			return "", "", "", false
		}
	}
	return name, display, mimeType, true
}

func (s *Server) ownedByAnyone(resource string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.owners[resource]) > 0
}

// serveUpload answers POST /upload/{version}/files: an upload start, a leg of
// a resumable upload (?upload_id=), a multipart or a raw upload. The body is
// consumed as a stream and recorded within MaxRecordedUpload.
func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request, rec Request, version string) {
	c := &captureWriter{}
	x := &exchange{s: s, w: w, r: r, cfg: s.snapshot(), key: rec.Key, rt: route{op: "upload", version: version},
		pending: &pendingUpload{rec: rec, body: io.TeeReader(r.Body, c), cap: c}}
	defer x.commit()
	body := x.pending.body
	q := r.URL.Query()
	if id := q.Get("upload_id"); id != "" {
		x.uploadLeg(id, body)
		return
	}
	if x.key == "" {
		x.fail(unregisteredError())
		return
	}
	if !x.admit() {
		return
	}
	protocol := strings.ToLower(r.Header.Get("X-Goog-Upload-Protocol"))
	if protocol == "" {
		protocol = strings.ToLower(q.Get("uploadType"))
	}
	ctype, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if protocol == "" && strings.HasPrefix(ctype, "multipart/") {
		protocol = "multipart"
	}
	switch protocol {
	case "resumable":
		x.uploadStart(body)
	case "multipart":
		x.uploadMultipart(body, params["boundary"])
	default:
		x.uploadRaw(body, ctype)
	}
}

func uploadCommands(h string) map[string]bool {
	out := map[string]bool{}
	for _, c := range strings.Split(h, ",") {
		if c = strings.ToLower(strings.TrimSpace(c)); c != "" {
			out[c] = true
		}
	}
	return out
}

func (x *exchange) uploadStart(body io.Reader) {
	if !uploadCommands(x.r.Header.Get("X-Goog-Upload-Command"))["start"] {
		x.fail(invalidArgument("Upload command must be start for a new resumable upload."))
		return
	}
	meta, _ := io.ReadAll(io.LimitReader(body, MaxRecordedUpload))
	name, display, mimeType, ok := x.parseFileMetadata(meta, x.r.Header.Get("X-Goog-Upload-Header-Content-Type"))
	if !ok {
		return
	}
	sess := &uploadSession{id: newUploadID(), key: x.key, version: x.rt.version, name: name,
		displayName: display, mimeType: mimeType, hash: sha256.New()}
	x.s.mu.Lock()
	x.s.uploads[sess.id] = sess
	x.s.mu.Unlock()
	x.commit()
	h := x.w.Header()
	h.Set("X-Goog-Upload-Url", x.s.root+"/upload/"+x.rt.version+"/files?upload_id="+sess.id+"&upload_protocol=resumable")
	h.Set("X-Goog-Upload-Status", "active")
	h.Set("X-Goog-Upload-Chunk-Granularity", strconv.Itoa(UploadChunkGranularity))
	h.Set("X-Goog-Upload-Control-Url", x.s.root+"/upload/"+x.rt.version+"/files?upload_id="+sess.id+"&upload_protocol=resumable")
	h.Set("Vary", "Origin, X-Origin, Referer")
	h.Set("Content-Length", "0")
	x.w.WriteHeader(http.StatusOK)
}

// uploadLeg answers a request to an upload URL: upload, finalize, query or
// cancel. It is authorised by the upload_id; the key it carries, if any, is
// only recorded.
func (x *exchange) uploadLeg(id string, body io.Reader) {
	x.s.mu.Lock()
	sess := x.s.uploads[id]
	x.s.mu.Unlock()
	if sess == nil {
		x.fail(notFound("Failed to find the upload session " + id + "."))
		return
	}
	cmds := uploadCommands(x.r.Header.Get("X-Goog-Upload-Command"))
	sess.mu.Lock()
	defer sess.mu.Unlock()
	status := func() string {
		switch {
		case sess.file != nil:
			return "final"
		case sess.cancelled:
			return "cancelled"
		}
		return "active"
	}
	answer := func(file *fileRec) {
		x.commit()
		h := x.w.Header()
		h.Set("X-Goog-Upload-Status", status())
		h.Set("X-Goog-Upload-Size-Received", strconv.FormatInt(sess.size, 10))
		h.Set("Vary", "Origin, X-Origin, Referer")
		if file == nil {
			h.Set("Content-Length", "0")
			x.w.WriteHeader(http.StatusOK)
			return
		}
		h.Set("Content-Type", jsonType)
		x.w.WriteHeader(http.StatusOK)
		_, _ = x.w.Write(prettyJSON(object{"file": x.s.fileJSON(file)}))
	}
	switch {
	case len(cmds) == 0:
		x.fail(invalidArgument("X-Goog-Upload-Command is missing."))
		return
	case cmds["query"]:
		answer(sess.file)
		return
	case cmds["cancel"]:
		if sess.file == nil {
			sess.cancelled = true
		}
		answer(nil)
		return
	case sess.cancelled:
		x.fail(invalidArgument("The upload session was cancelled."))
		return
	case sess.file != nil:
		// A retried finalize: the same file again.
		answer(sess.file)
		return
	}
	if cmds["upload"] {
		if off := x.r.Header.Get("X-Goog-Upload-Offset"); off != "" {
			n, err := strconv.ParseInt(off, 10, 64)
			if err != nil || n != sess.size {
				x.fail(invalidArgument("Invalid X-Goog-Upload-Offset " + off + ": " +
					strconv.FormatInt(sess.size, 10) + " bytes received so far."))
				return
			}
		}
		n, err := io.Copy(sess.hash, body)
		sess.size += n
		if err != nil {
			x.commit()
			panic(http.ErrAbortHandler)
		}
	}
	if !cmds["finalize"] {
		answer(nil)
		return
	}
	f := &fileRec{name: sess.name, displayName: sess.displayName, mimeType: sess.mimeType,
		size: sess.size, sha: sess.hash.Sum(nil), source: "UPLOADED"}
	if f.name == "" {
		f.name = "files/" + newID(12)
	}
	x.s.newFile(sess.key, sess.version, f)
	sess.file = f
	answer(f)
}

// finishUpload answers a one-request upload (multipart or raw).
func (x *exchange) finishUpload(f *fileRec) {
	if f.name == "" {
		f.name = "files/" + newID(12)
	}
	f.source = "UPLOADED"
	x.s.newFile(x.key, x.rt.version, f)
	x.w.Header().Set("X-Goog-Upload-Status", "final")
	x.ok(object{"file": x.s.fileJSON(f)})
}

func (x *exchange) uploadMultipart(body io.Reader, boundary string) {
	if boundary == "" {
		x.fail(invalidArgument("Multipart upload without a boundary."))
		return
	}
	mr := multipart.NewReader(body, boundary)
	meta, err := mr.NextPart()
	if err != nil {
		x.fail(invalidArgument("Multipart upload without a metadata part."))
		return
	}
	mb, _ := io.ReadAll(io.LimitReader(meta, MaxRecordedUpload))
	media, err := mr.NextPart()
	if err != nil {
		x.fail(invalidArgument("Multipart upload without a media part."))
		return
	}
	name, display, mimeType, ok := x.parseFileMetadata(mb, media.Header.Get("Content-Type"))
	if !ok {
		return
	}
	h := sha256.New()
	n, err := io.Copy(h, media)
	if err != nil {
		x.fail(invalidArgument("Malformed multipart body."))
		return
	}
	x.finishUpload(&fileRec{name: name, displayName: display, mimeType: mimeType, size: n, sha: h.Sum(nil)})
}

func (x *exchange) uploadRaw(body io.Reader, ctype string) {
	h := sha256.New()
	n, _ := io.Copy(h, body)
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	x.finishUpload(&fileRec{mimeType: ctype, size: n, sha: h.Sum(nil)})
}

// Cached contents.

func cacheJSON(c *cacheRec) object {
	o := object{
		"name": c.name, "model": c.model,
		"createTime": stamp(c.create), "updateTime": stamp(c.update), "expireTime": stamp(c.expire),
		"usageMetadata": object{"totalTokenCount": c.tokens},
	}
	if c.displayName != "" {
		o["displayName"] = c.displayName
	}
	return o
}

type cacheTimes struct {
	TTL        *string `json:"ttl"`
	ExpireTime *string `json:"expireTime"`
}

// expiry is the expireTime the body asks for; def when it names none.
func (x *exchange) expiry(t cacheTimes, def time.Time) (time.Time, bool) {
	switch {
	case t.TTL != nil:
		d, err := time.ParseDuration(*t.TTL)
		if err != nil || !strings.HasSuffix(*t.TTL, "s") {
			msg := "Invalid value at 'cached_content.ttl' (type.googleapis.com/google.protobuf.Duration), " + strconv.Quote(*t.TTL)
			x.fail(invalidArgument(msg, fieldViolation{Field: "cached_content.ttl", Description: msg}))
			return time.Time{}, false
		}
		return time.Now().Add(d), true
	case t.ExpireTime != nil:
		e, err := time.Parse(time.RFC3339Nano, *t.ExpireTime)
		if err != nil {
			msg := "Invalid value at 'cached_content.expire_time' (type.googleapis.com/google.protobuf.Timestamp), " + strconv.Quote(*t.ExpireTime)
			x.fail(invalidArgument(msg, fieldViolation{Field: "cached_content.expire_time", Description: msg}))
			return time.Time{}, false
		}
		return e, true
	}
	return def, true
}

func (x *exchange) createCache() {
	var req struct {
		cacheTimes
		Model       string `json:"model"`
		DisplayName string `json:"displayName"`
	}
	if !x.decode(&req) {
		return
	}
	if req.Model == "" {
		x.fail(invalidArgument("* CreateCachedContentRequest.cached_content.model: model is not specified\n"))
		return
	}
	x.rt.model = strings.TrimPrefix(req.Model, "models/")
	m, ok := lookupModel(x.cfg.models, x.rt.model)
	if !ok || !contains(m.SupportedGenerationMethods, "createCachedContent") {
		x.fail(notFoundModel(x.rt.model, "createCachedContent", x.rt.version))
		return
	}
	if e := x.foreignResource(); e != nil {
		x.fail(e)
		return
	}
	now := time.Now()
	exp, ok := x.expiry(req.cacheTimes, now.Add(DefaultCacheTTL))
	if !ok {
		return
	}
	c := &cacheRec{name: "cachedContents/" + newID(12), model: m.Name, displayName: req.DisplayName,
		tokens: tokens(x.body), create: now, update: now, expire: exp}
	x.s.mu.Lock()
	x.s.caches[c.name] = c
	x.s.mu.Unlock()
	x.s.own(c.name, x.key)
	x.ok(cacheJSON(c))
}

func (x *exchange) patchCache() {
	name := "cachedContents/" + x.rt.id
	if !x.s.ownedBy(x.key, name) {
		x.deny("cachedContents", x.rt.id)
		return
	}
	var req cacheTimes
	if !x.decode(&req) {
		return
	}
	if mask := x.r.URL.Query().Get("updateMask"); mask != "" {
		for _, f := range strings.Split(mask, ",") {
			switch strings.TrimSpace(f) {
			case "ttl", "expireTime", "expire_time":
			default:
				x.fail(invalidArgument("Invalid update mask: only ttl and expire_time can be updated, not " + strconv.Quote(f) + "."))
				return
			}
		}
	}
	if req.TTL == nil && req.ExpireTime == nil {
		x.fail(invalidArgument("Either ttl or expire_time must be set."))
		return
	}
	exp, ok := x.expiry(req, time.Time{})
	if !ok {
		return
	}
	x.s.mu.Lock()
	c := x.s.caches[name]
	var out object
	if c != nil {
		c.expire, c.update = exp, time.Now()
		out = cacheJSON(c)
	}
	x.s.mu.Unlock()
	if out == nil {
		out = resourceEntry(name)
	}
	x.ok(out)
}

func (x *exchange) deleteCache() {
	name := "cachedContents/" + x.rt.id
	if !x.s.ownedBy(x.key, name) {
		x.deny("cachedContents", x.rt.id)
		return
	}
	x.s.forget(name)
	x.ok(object{})
}

// Batches.

type batchInput struct {
	Batch struct {
		DisplayName string `json:"displayName"`
		InputConfig struct {
			Requests *struct {
				Requests []struct {
					Request  json.RawMessage `json:"request"`
					Metadata json.RawMessage `json:"metadata,omitempty"`
				} `json:"requests"`
			} `json:"requests"`
			FileName string `json:"fileName"`
		} `json:"inputConfig"`
	} `json:"batch"`
}

func (x *exchange) createBatch() {
	model, ok := x.model()
	if !ok {
		return
	}
	var req batchInput
	if !x.decode(&req) {
		return
	}
	in := req.Batch.InputConfig
	now := time.Now()
	b := &batchRec{name: "batches/" + newID(24), model: "models/" + model, displayName: req.Batch.DisplayName,
		create: now, update: now, state: "BATCH_STATE_PENDING"}
	switch {
	case in.FileName != "":
		res, id, ok := fileResource(in.FileName)
		if !ok || !x.s.ownedBy(x.key, res) {
			if id == "" {
				id = in.FileName
			}
			x.fail(fileDenied(id))
			return
		}
		b.responsesFile = res
		b.outputFile = "files/batch-" + strings.TrimPrefix(b.name, "batches/")
	case in.Requests != nil && len(in.Requests.Requests) > 0:
		sub := &exchange{s: x.s, cfg: x.cfg, key: x.key, behavior: OK}
		for _, r := range in.Requests.Requests {
			item := object{}
			if len(r.Metadata) > 0 {
				item["metadata"] = r.Metadata
			}
			sub.body = r.Request
			if e := sub.foreignResource(); e != nil {
				item["error"] = object{"code": e.Code, "message": e.Message}
				b.failed++
			} else {
				gr := parseGenRequest(r.Request)
				a := sub.answerFor(model, gr)
				item["response"] = a.response(model, x.nextResponseID(), tokens(r.Request), a.parts(), true)
			}
			b.responses = append(b.responses, item)
		}
		b.requests = len(in.Requests.Requests)
	default:
		x.fail(invalidArgument("* GenerateContentBatch.input_config: input_config is not specified\n"))
		return
	}
	x.s.mu.Lock()
	x.s.batches[b.name] = b
	x.s.mu.Unlock()
	x.s.own(b.name, x.key)
	x.ok(x.s.batchJSON(b))
}

// batchJSON is the batch as Google's Operation; callers hold no lock.
func (s *Server) batchJSON(b *batchRec) object {
	s.mu.Lock()
	defer s.mu.Unlock()
	stats := object{"requestCount": strconv.Itoa(b.requests)}
	done := false
	var output object
	switch b.state {
	case "BATCH_STATE_PENDING", "BATCH_STATE_RUNNING":
		stats["pendingRequestCount"] = strconv.Itoa(b.requests)
	case "BATCH_STATE_SUCCEEDED":
		done = true
		stats["successfulRequestCount"] = strconv.Itoa(b.requests - b.failed)
		if b.failed > 0 {
			stats["failedRequestCount"] = strconv.Itoa(b.failed)
		}
		if b.responsesFile != "" {
			output = object{"responsesFile": b.outputFile}
		} else {
			output = object{"inlinedResponses": object{"inlinedResponses": b.responses}}
		}
	default:
		done = true
	}
	meta := object{
		"@type": batchType, "name": b.name, "model": b.model,
		"createTime": stamp(b.create), "updateTime": stamp(b.update),
		"batchStats": stats, "state": b.state,
	}
	if b.responsesFile != "" {
		meta["inputConfig"] = object{"fileName": b.responsesFile}
		delete(stats, "requestCount")
		delete(stats, "pendingRequestCount")
		delete(stats, "successfulRequestCount")
	}
	if b.displayName != "" {
		meta["displayName"] = b.displayName
	}
	if !b.end.IsZero() {
		meta["endTime"] = stamp(b.end)
	}
	o := object{"name": b.name, "metadata": meta}
	if output != nil {
		meta["output"] = output
		resp := object{"@type": batchOutputType}
		for k, v := range output {
			resp[k] = v
		}
		o["response"] = resp
	}
	if done {
		o["done"] = true
	}
	return o
}

// batch finds the caller's batch, answering 403 when it is not the caller's.
func (x *exchange) batch() *batchRec {
	name := "batches/" + x.rt.id
	x.s.mu.Lock()
	b := x.s.batches[name]
	x.s.mu.Unlock()
	if b == nil || !x.s.ownedBy(x.key, name) {
		x.deny("batches", x.rt.id)
		return nil
	}
	return b
}

func (x *exchange) getBatch() {
	b := x.batch()
	if b == nil {
		return
	}
	var outFile *fileRec
	x.s.mu.Lock()
	b.polls++
	if b.state == "BATCH_STATE_PENDING" || b.state == "BATCH_STATE_RUNNING" {
		now := time.Now()
		b.update = now
		if b.polls >= 2 {
			b.state, b.end = "BATCH_STATE_SUCCEEDED", now
			if b.outputFile != "" {
				outFile = &fileRec{name: b.outputFile, displayName: b.outputFile, mimeType: "application/jsonl",
					sha: make([]byte, 32), source: "GENERATED"}
			}
		} else {
			b.state = "BATCH_STATE_RUNNING"
		}
	}
	x.s.mu.Unlock()
	if outFile != nil {
		x.s.newFile(x.key, x.rt.version, outFile)
	}
	x.ok(x.s.batchJSON(b))
}

func (x *exchange) cancelBatch() {
	b := x.batch()
	if b == nil {
		return
	}
	x.s.mu.Lock()
	if b.state == "BATCH_STATE_PENDING" || b.state == "BATCH_STATE_RUNNING" {
		b.state, b.end, b.update = "BATCH_STATE_CANCELLED", time.Now(), time.Now()
	}
	x.s.mu.Unlock()
	x.ok(object{})
}

func (x *exchange) deleteBatch() {
	if x.batch() == nil {
		return
	}
	x.s.forget("batches/" + x.rt.id)
	x.ok(object{})
}

func (x *exchange) listBatches() {
	names, next, ok := x.page(x.s.ownedOrdered(x.key, "batches/"), 10, 100)
	if !ok {
		return
	}
	resp := object{}
	var list []object
	for _, n := range names {
		x.s.mu.Lock()
		b := x.s.batches[n]
		x.s.mu.Unlock()
		if b != nil {
			list = append(list, x.s.batchJSON(b))
		}
	}
	if len(list) > 0 {
		resp["operations"] = list
	}
	if next != "" {
		resp["nextPageToken"] = next
	}
	x.ok(resp)
}

// Long-running operations.

func (x *exchange) predictLongRunning() {
	model, ok := x.model()
	if !ok {
		return
	}
	var req struct {
		Instances  []json.RawMessage `json:"instances"`
		Parameters struct {
			SampleCount int `json:"sampleCount"`
		} `json:"parameters"`
	}
	if !x.decode(&req) {
		return
	}
	if len(req.Instances) == 0 {
		x.fail(invalidArgument("* PredictLongRunningRequest.instances: instances is not specified\n"))
		return
	}
	op := &opRec{name: "models/" + model + "/operations/" + newID(12), model: model, samples: max(1, req.Parameters.SampleCount)}
	x.s.mu.Lock()
	x.s.ops[op.name] = op
	x.s.mu.Unlock()
	x.s.own(op.name, x.key)
	x.ok(object{"name": op.name})
}

func (x *exchange) getOperation() {
	name := x.rt.id
	x.s.mu.Lock()
	op := x.s.ops[name]
	if op == nil && strings.HasPrefix(name, "operations/") {
		// The short form: the operation of that id, whatever its model.
		for n, o := range x.s.ops {
			if strings.HasSuffix(n, "/"+name) {
				op, name = o, n
				break
			}
		}
	}
	x.s.mu.Unlock()
	if op == nil || !x.s.ownedBy(x.key, name) {
		x.fail(callerDenied())
		return
	}
	x.s.mu.Lock()
	op.polls++
	polls := op.polls
	first := polls >= 2 && op.videos == nil
	if first {
		for range op.samples {
			op.videos = append(op.videos, "files/"+newID(12))
		}
	}
	videos := append([]string(nil), op.videos...)
	x.s.mu.Unlock()
	if polls < 2 {
		x.ok(object{"name": op.name})
		return
	}
	samples := make([]object, len(videos))
	for i, v := range videos {
		uri := x.s.root + "/" + x.rt.version + "/" + v + ":download?alt=media"
		if first {
			x.s.newFile(x.key, x.rt.version, &fileRec{name: v, mimeType: "video/mp4", size: int64(len(VideoBytes)),
				sha: sum256([]byte(VideoBytes)), source: "GENERATED", downloadURI: uri})
		}
		samples[i] = object{"video": object{"uri": uri}}
	}
	x.ok(object{"name": op.name, "done": true, "response": object{
		"@type":                 videoOpType,
		"generateVideoResponse": object{"generatedSamples": samples},
	}})
}

func sum256(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}
