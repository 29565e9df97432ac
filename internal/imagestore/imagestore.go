// Package imagestore keeps a pool's generated images on disk so the proxy can
// serve them by URL and read them back when a later turn refers to them.
//
// Layout: each image is two files in Dir, "<id>.<ext>" (the bytes) and
// "<id>.json" (its Meta). Both are written to a temporary file, synced and
// renamed, image first, so a crash leaves at worst an image without metadata,
// which Open removes (it cannot be adopted: its model, token and MIME type
// are unknown, and it was never handed to a client).
package imagestore

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultRetention = 168 * time.Hour
	DefaultMaxBytes  = int64(1) << 30
)

// tombstoneCap bounds the memory kept to answer ErrExpired for images that a
// purge already removed.
const tombstoneCap = 100000

var (
	// ErrNotFound answers a name that is not a stored image.
	ErrNotFound = errors.New("imagestore: image not found")
	// ErrExpired answers an image that existed but is past retention, or
	// was removed to keep the store under its size limit.
	ErrExpired = errors.New("imagestore: image has expired")
	// ErrUnsupportedType answers a MIME type that is not one of the
	// stored image types.
	ErrUnsupportedType = errors.New("imagestore: unsupported image type")
	// ErrEmpty answers an image without bytes.
	ErrEmpty = errors.New("imagestore: empty image")
	// ErrTooLarge answers an image larger than the whole store.
	ErrTooLarge = errors.New("imagestore: image larger than the store")
	// ErrClosed answers any call after Close.
	ErrClosed = errors.New("imagestore: store is closed")
)

// Options configure a Store.
type Options struct {
	Dir       string        // created 0700 if missing
	Retention time.Duration // default 168h
	MaxBytes  int64         // default 1 GiB
	// Now is the clock; nil means time.Now. Tests set it.
	Now func() time.Time
}

// Meta is what is known of an image.
type Meta struct {
	ID      string    `json:"id"`  // 32 hex chars: 128 random bits
	Ext     string    `json:"ext"` // png, jpeg, webp or gif
	MIME    string    `json:"mime"`
	Size    int64     `json:"size"`
	Model   string    `json:"model"`
	Token   string    `json:"token"` // already masked by the caller
	Created time.Time `json:"created"`
}

// Name is the file name the image is served under.
func (m Meta) Name() string { return m.ID + "." + m.Ext }

// Store is one pool's image directory. Its methods are safe for concurrent use.
type Store struct {
	dir       string
	retention atomic.Int64 // nanoseconds; SetLimits changes it
	maxBytes  atomic.Int64
	now       func() time.Time

	mu      sync.Mutex
	byID    map[string]Meta
	order   []Meta // oldest first, by (Created, ID)
	bytes   int64
	gone    map[string]string // id -> ext of images removed by age or size, for ErrExpired
	goneFIF []string          // insertion order of gone, to bound it
	closed  bool
}

var (
	nameRE = regexp.MustCompile(`^[0-9a-f]{32}\.(png|jpeg|webp|gif)$`)
	idRE   = regexp.MustCompile(`^[0-9a-f]{32}$`)
)

var extByMIME = map[string]string{
	"image/png":  "png",
	"image/jpeg": "jpeg",
	"image/jpg":  "jpeg", // seen from some encoders; served as image/jpeg
	"image/webp": "webp",
	"image/gif":  "gif",
}

var mimeByExt = map[string]string{
	"png":  "image/png",
	"jpeg": "image/jpeg",
	"webp": "image/webp",
	"gif":  "image/gif",
}

// ExtForMIME answers the extension stored for a MIME type, or "" when the
// type is not an image type the store keeps.
func ExtForMIME(mimeType string) string {
	mt, _, err := mime.ParseMediaType(mimeType)
	if err != nil {
		return ""
	}
	return extByMIME[strings.ToLower(mt)]
}

// ValidName reports whether name has the exact shape of a served image name.
func ValidName(name string) bool { return nameRE.MatchString(name) }

// Open loads the index of what is in o.Dir, removing leftover temporary files
// and images without valid metadata, then purges what is past retention or
// over the size limit.
func Open(o Options) (*Store, error) {
	if o.Dir == "" {
		return nil, errors.New("imagestore: no directory")
	}
	if o.Retention <= 0 {
		o.Retention = DefaultRetention
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if err := os.MkdirAll(o.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("imagestore: %w", err)
	}
	s := &Store{dir: o.Dir, now: o.Now, byID: map[string]Meta{}, gone: map[string]string{}}
	s.SetLimits(o.Retention, o.MaxBytes)
	if err := s.load(); err != nil {
		return nil, err
	}
	if _, err := s.Purge(s.now()); err != nil {
		return nil, err
	}
	return s, nil
}

// load rebuilds the index from the sidecar files.
func (s *Store) load() error {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("imagestore: %w", err)
	}
	images := map[string]int64{} // image file name -> size
	var metas []string
	for _, e := range entries {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, ".tmp-"):
			// A write that never reached its rename.
			_ = os.Remove(filepath.Join(s.dir, name))
		case nameRE.MatchString(name) && e.Type().IsRegular():
			info, err := e.Info()
			if err != nil {
				continue
			}
			images[name] = info.Size()
		case strings.HasSuffix(name, ".json") && idRE.MatchString(strings.TrimSuffix(name, ".json")) && e.Type().IsRegular():
			metas = append(metas, name)
		}
	}
	for _, name := range metas {
		id := strings.TrimSuffix(name, ".json")
		m, ok := s.readMeta(id)
		if ok {
			if size, has := images[m.Name()]; has && size == m.Size {
				delete(images, m.Name())
				s.byID[id] = m
				s.order = append(s.order, m)
				s.bytes += m.Size
				continue
			}
		}
		// Metadata without its image, or that does not describe it: the
		// image cannot be served as described, so drop both.
		_ = os.Remove(filepath.Join(s.dir, name))
	}
	// What is left are images without valid metadata.
	for name := range images {
		_ = os.Remove(filepath.Join(s.dir, name))
	}
	slices.SortFunc(s.order, cmpMeta)
	return nil
}

func (s *Store) readMeta(id string) (Meta, bool) {
	b, err := os.ReadFile(filepath.Join(s.dir, id+".json"))
	if err != nil {
		return Meta{}, false
	}
	var m Meta
	if json.Unmarshal(b, &m) != nil || m.ID != id || mimeByExt[m.Ext] == "" || m.Size <= 0 {
		return Meta{}, false
	}
	m.MIME = mimeByExt[m.Ext]
	return m, true
}

// readShared reads an image's metadata from disk, when the image file is
// there too and has the recorded size.
func (s *Store) readShared(id string) (Meta, bool) {
	m, ok := s.readMeta(id)
	if !ok {
		return Meta{}, false
	}
	fi, err := os.Stat(filepath.Join(s.dir, m.Name()))
	if err != nil || !fi.Mode().IsRegular() || fi.Size() != m.Size {
		return Meta{}, false
	}
	return m, true
}

func cmpMeta(a, b Meta) int {
	if c := a.Created.Compare(b.Created); c != 0 {
		return c
	}
	return strings.Compare(a.ID, b.ID)
}

// Retention answers how long images are served, for the caller's
// Cache-Control max-age.
func (s *Store) Retention() time.Duration { return time.Duration(s.retention.Load()) }

// SetLimits changes the retention and the size limit (a pool's settings
// changed); the next Put or Purge applies them. Zero values keep the
// current ones.
func (s *Store) SetLimits(retention time.Duration, maxBytes int64) {
	if retention > 0 {
		s.retention.Store(int64(retention))
	}
	if maxBytes > 0 {
		s.maxBytes.Store(maxBytes)
	}
}

// Put stores an image and answers its Meta. It refuses types that are not
// png, jpeg, webp or gif, and empty data; then it removes the oldest images
// until the store is within MaxBytes.
func (s *Store) Put(mimeType string, data []byte, model, token string) (Meta, error) {
	ext := ExtForMIME(mimeType)
	if ext == "" {
		return Meta{}, fmt.Errorf("%w: %q", ErrUnsupportedType, mimeType)
	}
	if len(data) == 0 {
		return Meta{}, ErrEmpty
	}
	if int64(len(data)) > s.maxBytes.Load() {
		return Meta{}, ErrTooLarge
	}
	if s.isClosed() {
		return Meta{}, ErrClosed
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return Meta{}, fmt.Errorf("imagestore: %w", err)
	}
	m := Meta{
		ID:      hex.EncodeToString(raw[:]),
		Ext:     ext,
		MIME:    mimeByExt[ext],
		Size:    int64(len(data)),
		Model:   model,
		Token:   token,
		Created: s.now().UTC(),
	}
	metaJSON, err := json.Marshal(m)
	if err != nil {
		return Meta{}, fmt.Errorf("imagestore: %w", err)
	}
	// Image before metadata: a crash between the two leaves an orphan image
	// that Open removes, never metadata pointing at nothing.
	if err := s.writeFile(m.Name(), data); err != nil {
		return Meta{}, err
	}
	if err := s.writeFile(m.ID+".json", metaJSON); err != nil {
		_ = os.Remove(filepath.Join(s.dir, m.Name()))
		return Meta{}, err
	}
	syncDir(s.dir)

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.removeFiles([]Meta{m})
		return Meta{}, ErrClosed
	}
	s.byID[m.ID] = m
	i, _ := slices.BinarySearchFunc(s.order, m, cmpMeta)
	s.order = slices.Insert(s.order, i, m)
	s.bytes += m.Size
	victims := s.evictLocked(time.Time{}, m.ID)
	s.mu.Unlock()
	s.removeFiles(victims)
	return m, nil
}

// writeFile writes data to name in the store atomically: temp file, fsync,
// rename.
func (s *Store) writeFile(name string, data []byte) error {
	f, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return fmt.Errorf("imagestore: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.dir, name))
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("imagestore: %w", err)
	}
	return nil
}

// syncDir makes the renames durable; a failure only weakens crash safety,
// which Open repairs, so it is not reported.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

// evictLocked drops from the index what is older than cutoff (when cutoff is
// not zero) and then the oldest images until the store fits MaxBytes, never
// the image keep. It answers what was dropped, whose files the caller
// removes outside the lock.
func (s *Store) evictLocked(cutoff time.Time, keep string) []Meta {
	var victims []Meta
	kept := s.order[:0]
	for _, m := range s.order {
		switch {
		case !cutoff.IsZero() && m.Created.Before(cutoff),
			s.bytes > s.maxBytes.Load() && m.ID != keep:
			victims = append(victims, m)
			s.bytes -= m.Size
			delete(s.byID, m.ID)
			s.bury(m)
		default:
			kept = append(kept, m)
		}
	}
	clear(s.order[len(kept):])
	s.order = kept
	return victims
}

// bury remembers a removed image so Get can say it expired. Kept in memory
// only: after a restart a purged image is just not found.
func (s *Store) bury(m Meta) {
	if _, ok := s.gone[m.ID]; ok {
		return
	}
	if len(s.goneFIF) >= tombstoneCap {
		delete(s.gone, s.goneFIF[0])
		s.goneFIF = s.goneFIF[1:]
	}
	s.gone[m.ID] = m.Ext
	s.goneFIF = append(s.goneFIF, m.ID)
}

// removeFiles deletes images, metadata first so a crash in between leaves an
// orphan image that Open removes.
func (s *Store) removeFiles(ms []Meta) error {
	var first error
	for _, m := range ms {
		for _, name := range []string{m.ID + ".json", m.Name()} {
			if err := os.Remove(filepath.Join(s.dir, name)); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
				first = fmt.Errorf("imagestore: %w", err)
			}
		}
	}
	return first
}

// lookup checks a served name against the index. An id the index lacks is
// looked for on disk once: several instances may share the directory, and
// an image another instance stored is adopted into this one's index.
func (s *Store) lookup(name string) (Meta, error) {
	if !nameRE.MatchString(name) {
		return Meta{}, ErrNotFound
	}
	id, ext, _ := strings.Cut(name, ".")
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return Meta{}, ErrClosed
	}
	m, ok := s.byID[id]
	if !ok {
		if goneExt, expired := s.gone[id]; expired && goneExt == ext {
			return Meta{}, ErrExpired
		}
		s.mu.Unlock()
		m, ok = s.readShared(id)
		s.mu.Lock()
		if !ok || s.closed {
			return Meta{}, ErrNotFound
		}
		if _, dup := s.byID[id]; !dup {
			s.byID[id] = m
			i, _ := slices.BinarySearchFunc(s.order, m, cmpMeta)
			s.order = slices.Insert(s.order, i, m)
			s.bytes += m.Size
		}
	}
	if m.Ext != ext {
		return Meta{}, ErrNotFound
	}
	if s.now().Sub(m.Created) > s.Retention() {
		return Meta{}, ErrExpired
	}
	return m, nil
}

// Get opens the image served as name ("<id>.<ext>"). The caller closes the
// file. Any name that is not exactly a stored image answers ErrNotFound; an
// image past retention answers ErrExpired.
func (s *Store) Get(name string) (Meta, *os.File, error) {
	m, err := s.lookup(name)
	if err != nil {
		return Meta{}, nil, err
	}
	f, err := os.Open(filepath.Join(s.dir, m.Name()))
	if err != nil {
		// Removed between the lookup and the open (purge or delete).
		if errors.Is(err, os.ErrNotExist) {
			return Meta{}, nil, s.goneErr(m.ID)
		}
		return Meta{}, nil, fmt.Errorf("imagestore: %w", err)
	}
	return m, f, nil
}

// Read answers the whole image served as name, with the errors of Get.
func (s *Store) Read(name string) (Meta, []byte, error) {
	m, err := s.lookup(name)
	if err != nil {
		return Meta{}, nil, err
	}
	b, err := os.ReadFile(filepath.Join(s.dir, m.Name()))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return Meta{}, nil, s.goneErr(m.ID)
		}
		return Meta{}, nil, fmt.Errorf("imagestore: %w", err)
	}
	return m, b, nil
}

func (s *Store) goneErr(id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.gone[id]; ok {
		return ErrExpired
	}
	return ErrNotFound
}

// Delete removes the images with these ids (not names) and answers how many
// existed. Unknown or malformed ids are ignored.
func (s *Store) Delete(ids ...string) (int, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	var victims []Meta
	for _, id := range ids {
		if m, ok := s.byID[id]; ok {
			victims = append(victims, m)
			delete(s.byID, id)
			s.bytes -= m.Size
		}
	}
	if len(victims) > 0 {
		s.order = slices.DeleteFunc(s.order, func(m Meta) bool {
			_, ok := s.byID[m.ID]
			return !ok
		})
	}
	s.mu.Unlock()
	return len(victims), s.removeFiles(victims)
}

// List answers up to limit images from offset, newest first, and how many
// there are. A limit of zero or less means all from offset. Images past
// retention that no purge has removed yet are listed.
func (s *Store) List(offset, limit int) (items []Meta, total int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	total = len(s.order)
	if offset < 0 {
		offset = 0
	}
	if offset >= total {
		return []Meta{}, total
	}
	n := total - offset
	if limit > 0 && limit < n {
		n = limit
	}
	items = make([]Meta, 0, n)
	for i := total - 1 - offset; i >= 0 && len(items) < n; i-- {
		items = append(items, s.order[i])
	}
	return items, total
}

// Usage answers how many images are stored and their total size.
func (s *Store) Usage() (count int, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.order), s.bytes
}

// Purge removes the images older than Retention at now, then the oldest
// until the store fits MaxBytes.
func (s *Store) Purge(now time.Time) (removed int, err error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return 0, ErrClosed
	}
	victims := s.evictLocked(now.Add(-s.Retention()), "")
	s.mu.Unlock()
	return len(victims), s.removeFiles(victims)
}

// Close makes later calls answer ErrClosed. Files already handed out by Get
// stay readable.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
