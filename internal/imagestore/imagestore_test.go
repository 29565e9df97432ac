package imagestore

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is a settable time source for retention tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func open(t *testing.T, o Options) *Store {
	t.Helper()
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func put(t *testing.T, s *Store, mime string, data []byte) Meta {
	t.Helper()
	m, err := s.Put(mime, data, "gemini-2.0-flash-exp-image", "sk-…abcd")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPutGetReadRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "images")
	c := newClock()
	s := open(t, Options{Dir: dir, Now: c.Now})
	if info, err := os.Stat(dir); err != nil || info.Mode().Perm() != 0o700 {
		t.Fatalf("dir not created 0700: %v %v", info, err)
	}
	cases := []struct{ mime, ext, want string }{
		{"image/png", "png", "image/png"},
		{"image/jpeg", "jpeg", "image/jpeg"},
		{"IMAGE/JPG", "jpeg", "image/jpeg"},
		{"image/webp; q=1", "webp", "image/webp"},
		{"image/gif", "gif", "image/gif"},
	}
	for i, tc := range cases {
		data := bytes.Repeat([]byte{byte(i + 1)}, 100+i)
		m := put(t, s, tc.mime, data)
		if m.Ext != tc.ext || m.MIME != tc.want || m.Size != int64(len(data)) || !m.Created.Equal(c.Now()) {
			t.Fatalf("%s: meta %+v", tc.mime, m)
		}
		if m.Model != "gemini-2.0-flash-exp-image" || m.Token != "sk-…abcd" {
			t.Fatalf("model/token not kept: %+v", m)
		}
		gm, f, err := s.Get(m.ID + "." + tc.ext)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(f)
		f.Close()
		if gm != m || !bytes.Equal(got, data) {
			t.Fatalf("Get: %+v %x", gm, got)
		}
		rm, rb, err := s.Read(m.Name())
		if err != nil || rm != m || !bytes.Equal(rb, data) {
			t.Fatalf("Read: %+v %v", rm, err)
		}
		info, err := os.Stat(filepath.Join(dir, m.Name()))
		if err != nil || info.Mode().Perm() != 0o600 {
			t.Fatalf("image file mode: %v %v", info, err)
		}
	}
}

func TestPutRefuses(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir(), MaxBytes: 10})
	for _, mt := range []string{"text/html", "image/svg+xml", "application/octet-stream", "", "image/png/x"} {
		if _, err := s.Put(mt, []byte("x"), "", ""); !errors.Is(err, ErrUnsupportedType) {
			t.Errorf("Put(%q) = %v, want ErrUnsupportedType", mt, err)
		}
	}
	if _, err := s.Put("image/png", nil, "", ""); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty: %v", err)
	}
	if _, err := s.Put("image/png", make([]byte, 11), "", ""); !errors.Is(err, ErrTooLarge) {
		t.Errorf("too large: %v", err)
	}
	if n, b := s.Usage(); n != 0 || b != 0 {
		t.Errorf("usage after refusals: %d %d", n, b)
	}
}

func TestIDsAreHexAndUnique(t *testing.T) {
	s := open(t, Options{Dir: t.TempDir()})
	re := regexp.MustCompile(`^[0-9a-f]{32}$`)
	seen := map[string]bool{}
	for range 200 {
		m := put(t, s, "image/png", []byte("p"))
		if !re.MatchString(m.ID) {
			t.Fatalf("id %q", m.ID)
		}
		if seen[m.ID] {
			t.Fatalf("duplicate id %q", m.ID)
		}
		seen[m.ID] = true
	}
}

func TestGetRefusesBadNames(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	m := put(t, s, "image/png", []byte("png bytes"))
	if err := os.Mkdir(filepath.Join(dir, strings.Repeat("a", 32)+".png"), 0o700); err != nil {
		t.Fatal(err)
	}
	// A secret beside the store that traversal would reach.
	if err := os.WriteFile(filepath.Join(filepath.Dir(dir), "x.png"), []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	bad := []string{
		"../x.png",
		"abc.png",
		m.Name() + "/",
		"/" + m.Name(),
		"%2e%2e",
		"%2e%2e/x.png",
		"..",
		".",
		"",
		strings.ToUpper(m.ID) + ".png",
		m.ID + ".PNG",
		m.ID + ".jpeg",
		m.ID + ".gif",
		m.ID + ".json",
		m.ID,
		m.ID + ".png.png",
		m.ID + ".png\x00",
		" " + m.Name(),
		strings.Repeat("a", 32) + ".png", // a directory
		strings.Repeat("0", 32) + ".png", // unknown id
	}
	for _, name := range bad {
		if _, f, err := s.Get(name); !errors.Is(err, ErrNotFound) {
			if f != nil {
				f.Close()
			}
			t.Errorf("Get(%q) = %v, want ErrNotFound", name, err)
		}
		if _, _, err := s.Read(name); !errors.Is(err, ErrNotFound) {
			t.Errorf("Read(%q) = %v, want ErrNotFound", name, err)
		}
	}
	if ValidName(m.Name()) != true || ValidName("../x.png") {
		t.Error("ValidName")
	}
}

func TestRetention(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	s := open(t, Options{Dir: dir, Retention: time.Hour, Now: c.Now})
	old := put(t, s, "image/png", []byte("old"))
	c.Add(30 * time.Minute)
	young := put(t, s, "image/png", []byte("young"))
	c.Add(31 * time.Minute) // old is 61m, young 31m

	if _, _, err := s.Get(old.Name()); !errors.Is(err, ErrExpired) {
		t.Fatalf("Get old = %v, want ErrExpired", err)
	}
	if _, _, err := s.Read(old.Name()); !errors.Is(err, ErrExpired) {
		t.Fatalf("Read old = %v, want ErrExpired", err)
	}
	if _, _, err := s.Read(young.Name()); err != nil {
		t.Fatal(err)
	}
	n, err := s.Purge(c.Now())
	if err != nil || n != 1 {
		t.Fatalf("Purge = %d, %v", n, err)
	}
	for _, name := range []string{old.Name(), old.ID + ".json"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s still on disk: %v", name, err)
		}
	}
	// Still said to be expired after the purge, so clients learn why.
	if _, _, err := s.Read(old.Name()); !errors.Is(err, ErrExpired) {
		t.Fatalf("Read purged = %v, want ErrExpired", err)
	}
	if cnt, b := s.Usage(); cnt != 1 || b != young.Size {
		t.Fatalf("usage %d %d", cnt, b)
	}
	// The wrong extension of an expired id is still just not found.
	if _, _, err := s.Read(old.ID + ".gif"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Read wrong ext = %v", err)
	}
}

func TestMaxBytesOnPut(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	s := open(t, Options{Dir: dir, MaxBytes: 25, Now: c.Now})
	var ms []Meta
	for i := range 3 {
		ms = append(ms, put(t, s, "image/png", bytes.Repeat([]byte{byte(i)}, 10)))
		c.Add(time.Second)
	}
	// 30 > 25: the oldest went.
	if n, b := s.Usage(); n != 2 || b != 20 {
		t.Fatalf("usage %d %d", n, b)
	}
	if _, _, err := s.Read(ms[0].Name()); err == nil {
		t.Fatal("oldest still readable")
	}
	if _, err := os.Stat(filepath.Join(dir, ms[0].Name())); !os.IsNotExist(err) {
		t.Fatalf("oldest still on disk: %v", err)
	}
	// An image the size of the whole store replaces everything else.
	big := put(t, s, "image/gif", bytes.Repeat([]byte{9}, 25))
	items, total := s.List(0, 0)
	if total != 1 || items[0].ID != big.ID {
		t.Fatalf("after big put: %+v", items)
	}
}

func TestMaxBytesOnPurge(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	s := open(t, Options{Dir: dir, MaxBytes: 100, Now: c.Now})
	var ms []Meta
	for i := range 5 {
		ms = append(ms, put(t, s, "image/png", bytes.Repeat([]byte{byte(i)}, 20)))
		c.Add(time.Second)
	}
	s.Close()
	// A smaller limit after a restart: Open purges the oldest first.
	s2 := open(t, Options{Dir: dir, MaxBytes: 45, Now: c.Now})
	items, total := s2.List(0, 0)
	if total != 2 || items[0].ID != ms[4].ID || items[1].ID != ms[3].ID {
		t.Fatalf("after reopen: %d %+v", total, items)
	}
	if n, b := s2.Usage(); n != 2 || b != 40 {
		t.Fatalf("usage %d %d", n, b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 4 {
		t.Fatalf("files on disk: %d", len(entries))
	}
	if n, err := s2.Purge(c.Now()); n != 0 || err != nil {
		t.Fatalf("nothing more to purge: %d %v", n, err)
	}
}

func TestDelete(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir})
	a := put(t, s, "image/png", []byte("aaaa"))
	b := put(t, s, "image/webp", []byte("bbbbbb"))
	n, err := s.Delete(a.ID, "nope", "../etc", a.ID)
	if err != nil || n != 1 {
		t.Fatalf("Delete = %d, %v", n, err)
	}
	if _, _, err := s.Read(a.Name()); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleted image: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, a.Name())); !os.IsNotExist(err) {
		t.Fatal("file left")
	}
	if cnt, bytes := s.Usage(); cnt != 1 || bytes != b.Size {
		t.Fatalf("usage %d %d", cnt, bytes)
	}
	if items, total := s.List(0, 10); total != 1 || items[0].ID != b.ID {
		t.Fatalf("list %+v", items)
	}
}

func TestListOrderAndPaging(t *testing.T) {
	c := newClock()
	s := open(t, Options{Dir: t.TempDir(), Now: c.Now})
	var ids []string
	for range 7 {
		ids = append(ids, put(t, s, "image/png", []byte("x")).ID)
		c.Add(time.Minute)
	}
	want := func(from, to int) []string { // newest first
		var out []string
		for i := len(ids) - 1 - from; i >= len(ids)-to && i >= 0; i-- {
			out = append(out, ids[i])
		}
		return out
	}
	got := func(items []Meta) []string {
		var out []string
		for _, m := range items {
			out = append(out, m.ID)
		}
		return out
	}
	for _, tc := range []struct{ off, lim, from, to int }{
		{0, 3, 0, 3}, {3, 3, 3, 6}, {6, 3, 6, 7}, {0, 0, 0, 7}, {-1, 2, 0, 2},
	} {
		items, total := s.List(tc.off, tc.lim)
		if total != 7 || fmt.Sprint(got(items)) != fmt.Sprint(want(tc.from, tc.to)) {
			t.Errorf("List(%d,%d) = %v (%d)", tc.off, tc.lim, got(items), total)
		}
	}
	if items, total := s.List(7, 3); len(items) != 0 || total != 7 {
		t.Errorf("past the end: %v %d", items, total)
	}
}

func TestReopenAndRepair(t *testing.T) {
	dir := t.TempDir()
	c := newClock()
	s := open(t, Options{Dir: dir, Now: c.Now})
	var ms []Meta
	for i := range 4 {
		ms = append(ms, put(t, s, "image/jpeg", bytes.Repeat([]byte{byte(i)}, 10+i)))
		c.Add(time.Second)
	}
	cnt, size := s.Usage()
	s.Close()
	if _, err := s.Put("image/png", []byte("x"), "", ""); !errors.Is(err, ErrClosed) {
		t.Fatalf("Put after Close: %v", err)
	}

	// What a crash can leave: a temp file, an image without metadata,
	// metadata without its image, metadata whose size is wrong.
	junk := map[string]string{
		".tmp-123":                        "partial",
		strings.Repeat("b", 32) + ".png":  "orphan image",
		strings.Repeat("c", 32) + ".json": `{"id":"` + strings.Repeat("c", 32) + `","ext":"png","size":3}`,
		strings.Repeat("d", 32) + ".json": `not json`,
		"README":                          "not ours, left alone",
	}
	for name, body := range junk {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ms[3].Name()), []byte("truncated"), 0o600); err != nil {
		t.Fatal(err)
	}

	s2 := open(t, Options{Dir: dir, Now: c.Now})
	cnt2, size2 := s2.Usage()
	if cnt2 != cnt-1 || size2 != size-ms[3].Size {
		t.Fatalf("usage after reopen %d %d, want %d %d", cnt2, size2, cnt-1, size-ms[3].Size)
	}
	for i, m := range ms[:3] {
		got, b, err := s2.Read(m.Name())
		if err != nil || got != m || !bytes.Equal(b, bytes.Repeat([]byte{byte(i)}, 10+i)) {
			t.Fatalf("Read %s after reopen: %+v %v", m.Name(), got, err)
		}
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var want []string
	for _, m := range ms[:3] {
		want = append(want, m.Name(), m.ID+".json")
	}
	want = append(want, "README")
	sort.Strings(want)
	if fmt.Sprint(names) != fmt.Sprint(want) {
		t.Fatalf("files after repair:\n got %v\nwant %v", names, want)
	}
	items, _ := s2.List(0, 0)
	if len(items) != 3 || items[0].ID != ms[2].ID || items[2].ID != ms[0].ID {
		t.Fatalf("order after reopen: %+v", items)
	}
}

func TestConcurrentPuts(t *testing.T) {
	dir := t.TempDir()
	s := open(t, Options{Dir: dir, MaxBytes: 50 * 100})
	var wg sync.WaitGroup
	var mu sync.Mutex
	var all []Meta
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				m, err := s.Put("image/png", bytes.Repeat([]byte{byte(g)}, 100), "m", "t")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				all = append(all, m)
				mu.Unlock()
				if _, _, err := s.Read(m.Name()); err != nil && !errors.Is(err, ErrExpired) {
					t.Error(err)
				}
				s.List(0, 5)
				if i%5 == 0 {
					s.Purge(time.Now())
				}
			}
		})
	}
	wg.Wait()
	if len(all) != 160 {
		t.Fatalf("puts: %d", len(all))
	}
	cnt, b := s.Usage()
	if b > 50*100 || cnt != 50 || b != int64(cnt)*100 {
		t.Fatalf("usage %d %d", cnt, b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2*cnt {
		t.Fatalf("files on disk %d, want %d", len(entries), 2*cnt)
	}
	s.Close()
	s2 := open(t, Options{Dir: dir, MaxBytes: 50 * 100})
	if c2, b2 := s2.Usage(); c2 != cnt || b2 != b {
		t.Fatalf("after reopen %d %d", c2, b2)
	}
}

// Two stores on one directory (two instances sharing it): an image one
// stored is served by the other, which adopts it into its index.
func TestSharedDirectory(t *testing.T) {
	dir := t.TempDir()
	a, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m, err := a.Put("image/png", []byte("\x89PNG shared"), "m", "…t")
	if err != nil {
		t.Fatal(err)
	}
	got, data, err := b.Read(m.Name())
	if err != nil || string(data) != "\x89PNG shared" || got.Model != "m" {
		t.Fatalf("the other store read %v %q %v", got, data, err)
	}
	if n, _ := b.Usage(); n != 1 {
		t.Errorf("adopted image not counted: %d", n)
	}
	if _, _, err := b.Read(strings.Repeat("0", 32) + ".png"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown id: %v", err)
	}
}
