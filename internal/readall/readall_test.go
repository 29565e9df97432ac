package readall

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestSized(t *testing.T) {
	cases := []struct {
		body     string
		length   int64
		want     string
		wantErr  error
		exactCap bool
	}{
		{"hello", 5, "hello", nil, true},
		{"hello", -1, "hello", nil, false},
		{"hello", 0, "hello", nil, false},
		{"hello world", 5, "hello world", nil, false}, // more than announced: still all of it
		{"hel", 5, "hel", io.ErrUnexpectedEOF, false}, // less than announced
		{"hello", 100, "hello", io.ErrUnexpectedEOF, false},
		{"", 100, "", io.EOF, false},
		{"hello", 1 << 30, "hello", nil, false}, // above the limit: io.ReadAll
	}
	for _, c := range cases {
		got, err := Sized(strings.NewReader(c.body), c.length, 1<<20)
		if string(got) != c.want || !errors.Is(err, c.wantErr) {
			t.Errorf("%q (length %d): %q, %v; want %q, %v", c.body, c.length, got, err, c.want, c.wantErr)
		}
		if c.exactCap && cap(got) != len(c.want) {
			t.Errorf("%q: capacity %d, want exactly %d", c.body, cap(got), len(c.want))
		}
	}
}

// body makes n bytes of varied content, so misplaced copies show.
func body(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>9)
	}
	return b
}

// chunky hands out its data in pieces of random size up to max, as a network
// connection does.
type chunky struct {
	data []byte
	rnd  *rand.Rand
	max  int
}

func (c *chunky) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.data), 1+c.rnd.IntN(c.max))
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

// TestSizedHonest reads bodies of the announced size, around every growth
// step, in pieces of random size: the content is right and the buffer is
// exactly the size of the body.
func TestSizedHonest(t *testing.T) {
	sizes := []int{1, 100, FirstChunk - 1, FirstChunk, FirstChunk + 1,
		2 * FirstChunk, 4*FirstChunk - 1, 4 * FirstChunk, 4*FirstChunk + 1,
		8 * FirstChunk, 8*FirstChunk + 1, 16*FirstChunk + 3, 1 << 20, 3<<20 + 17, 20 << 20}
	for _, size := range sizes {
		want := body(size)
		for _, max := range []int{1 << 10, 32 << 10, 1 << 20} {
			if size > 1<<20 && max < 32<<10 {
				continue // slow under -race, and nothing more to learn
			}
			got, err := Sized(&chunky{data: want, rnd: rand.New(rand.NewPCG(uint64(size), uint64(max))), max: max}, int64(size), 64<<20)
			if err != nil {
				t.Fatalf("size %d, pieces up to %d: %v", size, max, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("size %d, pieces up to %d: wrong content (%d bytes)", size, max, len(got))
			}
			if cap(got) != size {
				t.Errorf("size %d, pieces up to %d: capacity %d, want exactly %d", size, max, cap(got), size)
			}
		}
	}
}

// TestSizedFewAllocations: an honest 20 MiB body takes a handful of
// allocations and about its own size in memory, not io.ReadAll's steps.
func TestSizedFewAllocations(t *testing.T) {
	const size = 20 << 20
	data := body(size)
	rd := bytes.NewReader(data)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	allocs := testing.AllocsPerRun(3, func() {
		rd.Reset(data)
		got, err := Sized(onlyReader{rd}, size, 64<<20)
		if err != nil || len(got) != size {
			t.Fatalf("got %d bytes, %v", len(got), err)
		}
	})
	runtime.ReadMemStats(&after)
	perRun := (after.TotalAlloc - before.TotalAlloc) / 4 // AllocsPerRun runs once more to warm up
	t.Logf("20 MiB body: %.0f allocations, %d bytes allocated per read", allocs, perRun)
	if allocs > 7 {
		t.Errorf("%.0f allocations for a 20 MiB body, want at most 7", allocs)
	}
	if perRun > size*3/2 {
		t.Errorf("%d bytes allocated for a 20 MiB body, want at most 1.5 times its size", perRun)
	}
}

// TestSizedLiarEOF: a body announced as 60 MB that is 10 bytes reserves no
// more than the first chunk.
func TestSizedLiarEOF(t *testing.T) {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got, err := Sized(strings.NewReader("0123456789"), 60_000_000, 64<<20)
	runtime.ReadMemStats(&after)
	if string(got) != "0123456789" || err != io.ErrUnexpectedEOF {
		t.Fatalf("got %q, %v; want the 10 bytes and io.ErrUnexpectedEOF", got, err)
	}
	if cap(got) > FirstChunk {
		t.Errorf("capacity %d for 10 bytes announced as 60 MB, want at most %d", cap(got), FirstChunk)
	}
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Errorf("allocated %d bytes for 10 bytes announced as 60 MB", d)
	}
}

// stalling delivers its data, then blocks until released; it records the
// capacity of the buffer it is asked to fill (what has arrived plus room).
type stalling struct {
	data     []byte
	got      int
	reading  chan struct{} // closed when the data is out and Read blocks
	release  chan struct{}
	maxCap   int
	overGrow string
}

func (s *stalling) Read(p []byte) (int, error) {
	if c := s.got + len(p); c > s.maxCap {
		s.maxCap = c
		if c > FirstChunk && c > 8*s.got {
			s.overGrow = "buffer of " + strconv.Itoa(c) + " after " + strconv.Itoa(s.got) + " bytes"
		}
	}
	if len(s.data) == 0 {
		close(s.reading)
		<-s.release
		return 0, io.ErrUnexpectedEOF
	}
	n := min(len(p), len(s.data), 4096)
	copy(p, s.data[:n])
	s.data = s.data[n:]
	s.got += n
	return n, nil
}

// TestSizedLiarStalls: while a client that announced 60 MB has sent only
// some bytes and waits, the memory held follows what it sent.
func TestSizedLiarStalls(t *testing.T) {
	for _, sent := range []int{10, FirstChunk, FirstChunk + 1, 1 << 20} {
		s := &stalling{data: body(sent), reading: make(chan struct{}), release: make(chan struct{})}
		var before, during runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		done := make(chan error, 1)
		go func() {
			got, err := Sized(s, 60_000_000, 64<<20)
			if len(got) != sent {
				err = errors.New("got " + strconv.Itoa(len(got)) + " bytes")
			}
			done <- err
		}()
		select {
		case <-s.reading:
		case <-time.After(10 * time.Second):
			t.Fatal("Sized never reached the stall")
		}
		runtime.ReadMemStats(&during)
		allocated := during.TotalAlloc - before.TotalAlloc
		close(s.release)
		if err := <-done; err != io.ErrUnexpectedEOF {
			t.Errorf("sent %d: %v, want io.ErrUnexpectedEOF", sent, err)
		}
		t.Logf("sent %d of 60 MB announced: buffer %d, %d bytes allocated while waiting", sent, s.maxCap, allocated)
		if s.overGrow != "" {
			t.Errorf("sent %d: %s", sent, s.overGrow)
		}
		if bound := uint64(max(FirstChunk, 8*sent) + 1<<20); allocated > 2*bound {
			t.Errorf("sent %d of 60 MB announced: %d bytes allocated", sent, allocated)
		}
	}
}

// TestSizedMoreThanAnnounced: bytes past the announced length are kept.
func TestSizedMoreThanAnnounced(t *testing.T) {
	for _, c := range []struct{ length, size int }{{5, 5 + FirstChunk*3}, {FirstChunk * 3, FirstChunk*3 + 1}, {20 << 20, 20<<20 + 100}} {
		want := body(c.size)
		got, err := Sized(&chunky{data: want, rnd: rand.New(rand.NewPCG(1, 2)), max: 64 << 10}, int64(c.length), 64<<20)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("announced %d, sent %d: %d bytes, %v", c.length, c.size, len(got), err)
		}
	}
}

// TestSizedLimit: past the limit of an http.MaxBytesReader, the error is
// http.MaxBytesError, whether the body announced its length honestly, too
// little or not at all.
func TestSizedLimit(t *testing.T) {
	const limit = 3 * FirstChunk
	for _, c := range []struct{ length, size int64 }{
		{limit + 1, limit + 1}, // announced too big: io.ReadAll
		{100, limit + 10},      // announced small, sends more
		{limit, limit + 1},     // announced exactly the limit, sends one more
		{-1, limit + 1},        // unknown length
	} {
		r := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(bytes.NewReader(body(int(c.size)))), limit)
		got, err := Sized(r, c.length, limit)
		var tooBig *http.MaxBytesError
		if !errors.As(err, &tooBig) {
			t.Errorf("announced %d, sent %d over a limit of %d: %v, want http.MaxBytesError", c.length, c.size, limit, err)
		}
		if len(got) > limit {
			t.Errorf("announced %d, sent %d: %d bytes returned past the limit of %d", c.length, c.size, len(got), limit)
		}
	}
	// Exactly the limit is fine.
	r := http.MaxBytesReader(httptest.NewRecorder(), io.NopCloser(bytes.NewReader(body(limit))), limit)
	if got, err := Sized(r, limit, limit); err != nil || len(got) != limit || cap(got) != limit {
		t.Errorf("a body of exactly the limit: %d bytes (capacity %d), %v", len(got), cap(got), err)
	}
}

// failing returns an error after some bytes.
type failing struct {
	n   int
	err error
}

func (f *failing) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}

func TestSizedReadError(t *testing.T) {
	boom := errors.New("boom")
	for _, n := range []int{0, 10, FirstChunk, 5 * FirstChunk} {
		got, err := Sized(&failing{n: n, err: boom}, 10*FirstChunk, 64<<20)
		if err != boom || len(got) != n {
			t.Errorf("error after %d bytes: %d bytes, %v", n, len(got), err)
		}
	}
	// An error after all announced bytes, where more were expected to end.
	got, err := Sized(&failing{n: 100, err: boom}, 100, 64<<20)
	if err != boom || len(got) != 100 {
		t.Errorf("error after the announced bytes: %d bytes, %v", len(got), err)
	}
}
