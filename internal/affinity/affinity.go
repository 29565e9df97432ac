// Package affinity records which pool key owns a Files API file, a cached
// content, a batch, an operation or an upload session, and which client
// token created it. Google ties each of these to the project of the key that
// created it: a request that names one must go to that key and only that key.
//
// The registry lives in memory (lookups on the request path read a map under
// a read lock, never the database); changes are queued and taken by the
// balancer, which writes them in batches in the background.
package affinity

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Kinds of resources, as the first segment of their names.
const (
	Files          = "files"
	CachedContents = "cachedContents"
	Batches        = "batches"
	Operations     = "operations" // models/{m}/operations/{id}
	Uploads        = "uploads"    // a resumable upload session: uploads/{upload_id}
)

// Lifetimes used when Google's answer carries no expiry.
const (
	FileTTL      = 48 * time.Hour
	CacheTTL     = time.Hour // Google's default ttl of a cached content
	BatchTTL     = 7 * 24 * time.Hour
	OperationTTL = 7 * 24 * time.Hour
	UploadTTL    = 7 * 24 * time.Hour // Google keeps a resumable session about a week
)

// Record is one owned resource.
type Record struct {
	Name      string // e.g. "files/abc123", "models/veo-2.0/operations/xyz"
	KeyID     string // the owning pool key's id (secret.ID), never the key
	TokenHash string // HashToken of the client token that created it
	Expires   time.Time
	Created   time.Time
}

// Kind is the resource kind of a name ("" when it is none of the known kinds).
func Kind(name string) string {
	first, rest, _ := strings.Cut(name, "/")
	switch first {
	case Files, CachedContents, Batches, Uploads:
		return first
	case "models":
		if _, op, ok := strings.Cut(rest, "/operations/"); ok && op != "" {
			return Operations
		}
	}
	return ""
}

// HashToken is what is stored of a client token: a SHA-256 prefix that
// tells tokens apart and cannot be turned back into the token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte("gemini_balance/token\x00" + token))
	return hex.EncodeToString(sum[:16])
}

// ValidID reports whether id may name a resource in an upstream URL: letters,
// digits and '-', 1 to 128 characters (Google's ids are lower-case letters,
// digits and dashes, at most 40).
func ValidID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// ValidUploadID reports whether an upload session id may go into an
// upstream query: letters, digits, '-' and '_', 1 to 512 characters.
func ValidUploadID(id string) bool {
	if id == "" || len(id) > 512 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Registry is the in-memory table of owned resources. Safe for concurrent use.
type Registry struct {
	mu      sync.RWMutex
	recs    map[string]Record
	puts    map[string]Record // changes not yet taken by the writer
	deletes map[string]bool

	// onChange, when set, hears of every Put and Delete (not of Load or
	// Forget, which carry other instances' changes): the balancer shares
	// them with the other instances of the pool.
	onChange atomic.Pointer[func(rec Record, deleted bool)]
}

// OnChange sets fn to be called after each Put (deleted false) and Delete
// (deleted true, only rec.Name set), outside the registry's lock. fn must
// not block: it runs on the request path.
func (r *Registry) OnChange(fn func(rec Record, deleted bool)) {
	if fn == nil {
		r.onChange.Store(nil)
		return
	}
	r.onChange.Store(&fn)
}

func (r *Registry) notify(rec Record, deleted bool) {
	if fn := r.onChange.Load(); fn != nil {
		(*fn)(rec, deleted)
	}
}

// Forget drops name from memory without queueing a deletion: another
// instance deleted it and removes the row itself. A change of the same name
// queued here stays queued.
func (r *Registry) Forget(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.recs, name)
}

// LoadMissing is Load for names not held yet (a catch-up read must not undo
// a newer change already applied).
func (r *Registry) LoadMissing(recs []Record, now time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rec := range recs {
		if _, held := r.recs[rec.Name]; held {
			continue
		}
		if rec.Expires.IsZero() || rec.Expires.After(now) {
			r.recs[rec.Name] = rec
			n++
		}
	}
	return n
}

// New makes an empty registry.
func New() *Registry {
	return &Registry{recs: map[string]Record{}, puts: map[string]Record{}, deletes: map[string]bool{}}
}

// Load adds stored records (not queued for writing); expired ones are skipped.
func (r *Registry) Load(recs []Record, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range recs {
		if rec.Expires.IsZero() || rec.Expires.After(now) {
			r.recs[rec.Name] = rec
		}
	}
}

// Put records (or replaces) rec and queues it for writing.
func (r *Registry) Put(rec Record) {
	r.mu.Lock()
	r.recs[rec.Name] = rec
	r.puts[rec.Name] = rec
	delete(r.deletes, rec.Name)
	r.mu.Unlock()
	r.notify(rec, false)
}

// Delete forgets name and queues its deletion.
func (r *Registry) Delete(name string) {
	r.mu.Lock()
	delete(r.recs, name)
	delete(r.puts, name)
	r.deletes[name] = true
	r.mu.Unlock()
	r.notify(Record{Name: name}, true)
}

// Get is the live record of name.
func (r *Registry) Get(name string, now time.Time) (Record, bool) {
	r.mu.RLock()
	rec, ok := r.recs[name]
	r.mu.RUnlock()
	if !ok || (!rec.Expires.IsZero() && !rec.Expires.After(now)) {
		return Record{}, false
	}
	return rec, true
}

// Owned lists the live records of a kind created with a token, by name.
func (r *Registry) Owned(tokenHash, kind string, now time.Time) []Record {
	r.mu.RLock()
	var out []Record
	for _, rec := range r.recs {
		if rec.TokenHash == tokenHash && Kind(rec.Name) == kind && (rec.Expires.IsZero() || rec.Expires.After(now)) {
			out = append(out, rec)
		}
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Len is the number of records held, expired ones included until purged.
func (r *Registry) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.recs)
}

// Purge drops the records expired at now from memory and reports how many
// went (the database is purged by expiry on its own).
func (r *Registry) Purge(now time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for name, rec := range r.recs {
		if !rec.Expires.IsZero() && !rec.Expires.After(now) {
			delete(r.recs, name)
			delete(r.puts, name)
			n++
		}
	}
	return n
}

// TakeChanges hands the queued writes to the caller (the background writer)
// and empties the queue.
func (r *Registry) TakeChanges() (puts []Record, deletes []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.puts) == 0 && len(r.deletes) == 0 {
		return nil, nil
	}
	for _, rec := range r.puts {
		puts = append(puts, rec)
	}
	for name := range r.deletes {
		deletes = append(deletes, name)
	}
	r.puts, r.deletes = map[string]Record{}, map[string]bool{}
	return puts, deletes
}

// Requeue puts back changes a failed write could not store, unless newer
// changes of the same names were queued meanwhile.
func (r *Registry) Requeue(puts []Record, deletes []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, rec := range puts {
		if _, newer := r.puts[rec.Name]; !newer && !r.deletes[rec.Name] {
			if cur, ok := r.recs[rec.Name]; ok && cur == rec {
				r.puts[rec.Name] = rec
			}
		}
	}
	for _, name := range deletes {
		if _, newer := r.puts[name]; !newer {
			if _, live := r.recs[name]; !live {
				r.deletes[name] = true
			}
		}
	}
}
