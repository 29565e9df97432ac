package readall

import (
	"bytes"
	"fmt"
	"io"
	"testing"
)

// benchSizes are the body sizes of the benchmarks: a small prompt, one first
// chunk, a large prompt and an inline image.
var benchSizes = []int{1 << 10, 64 << 10, 1 << 20, 20 << 20}

// onlyReader hides bytes.Reader's WriterTo, as a network body would.
type onlyReader struct{ r *bytes.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

func sizeName(n int) string {
	if n >= 1<<20 {
		return fmt.Sprintf("%dMiB", n>>20)
	}
	return fmt.Sprintf("%dKiB", n>>10)
}

// BenchmarkSized reads honest bodies whose length is announced.
func BenchmarkSized(b *testing.B) {
	for _, size := range benchSizes {
		data := bytes.Repeat([]byte("x"), size)
		b.Run(sizeName(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			rd := bytes.NewReader(data)
			for b.Loop() {
				rd.Reset(data)
				got, err := Sized(onlyReader{rd}, int64(size), 64<<20)
				if err != nil || len(got) != size {
					b.Fatalf("got %d bytes, %v", len(got), err)
				}
			}
		})
	}
}

// BenchmarkReadAll is io.ReadAll on the same bodies, for comparison.
func BenchmarkReadAll(b *testing.B) {
	for _, size := range benchSizes {
		data := bytes.Repeat([]byte("x"), size)
		b.Run(sizeName(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			b.ReportAllocs()
			rd := bytes.NewReader(data)
			for b.Loop() {
				rd.Reset(data)
				got, err := io.ReadAll(onlyReader{rd})
				if err != nil || len(got) != size {
					b.Fatalf("got %d bytes, %v", len(got), err)
				}
			}
		})
	}
}
