// Package readall reads whole bodies whose length is announced.
package readall

import "io"

// FirstChunk is the most Sized reserves before any byte has arrived: what a
// client announces costs nothing until it actually sends it.
const FirstChunk = 64 << 10

// growth is the factor by which Sized's buffer grows once it is full.
const growth = 4

// Sized reads r to the end, taking length, the announced size, as a hint.
//
// Memory follows the bytes that actually arrive, never the announcement: the
// buffer starts at min(length, FirstChunk) and, each time it is full, grows
// fourfold, or straight to length when length is at most twice that. So a
// client that announces 60 MB and sends nothing holds 64 KiB, one that sends
// n bytes (n > 64 KiB) under 8n, and an honest body of known length ends in a buffer of exactly its size after a
// few allocations (five for 20 MiB, one up to 64 KiB), where io.ReadAll
// grows step by step and copies once more at the end: a client's body is held
// for its whole request, a stream's too.
//
// When length is unknown (<= 0) or above limit, Sized is io.ReadAll. When more
// than length bytes arrive, all of them are returned; bounding them is up to
// r (http.MaxBytesReader, io.LimitReader). When fewer arrive, Sized returns
// what came with io.ErrUnexpectedEOF (io.EOF if nothing came), as
// io.ReadFull does.
func Sized(r io.Reader, length, limit int64) ([]byte, error) {
	if length <= 0 || length > limit {
		return io.ReadAll(r)
	}
	buf := make([]byte, 0, min(length, FirstChunk))
	for {
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) == length {
			if err == nil || err == io.EOF {
				break // all announced bytes; see whether more follow
			}
			return buf, err
		}
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
				if len(buf) == 0 {
					err = io.EOF
				}
			}
			return buf, err
		}
		if len(buf) == cap(buf) {
			buf = grow(buf, length)
		}
	}
	// Nothing should follow; if something does, keep reading the usual way.
	var probe [1]byte
	for {
		m, err := r.Read(probe[:])
		if m > 0 {
			rest, err := io.ReadAll(r)
			return append(append(buf, probe[0]), rest...), err
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// grow returns a copy of the full buf with room for more, up to length.
func grow(buf []byte, length int64) []byte {
	size := int64(cap(buf)) * growth
	if 2*size >= length {
		size = length
	}
	bigger := make([]byte, len(buf), size)
	copy(bigger, buf)
	return bigger
}
