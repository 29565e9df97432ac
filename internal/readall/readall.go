// Package readall reads whole bodies whose length is announced.
package readall

import "io"

// Sized reads r to the end. When the announced length is right (0 < length
// <= limit) the result takes one allocation of exactly that size, where
// io.ReadAll would grow its buffer step by step: a client's body is held for
// its whole request, a stream's too.
func Sized(r io.Reader, length, limit int64) ([]byte, error) {
	if length <= 0 || length > limit {
		return io.ReadAll(r)
	}
	buf := make([]byte, length)
	n, err := io.ReadFull(r, buf)
	if err != nil {
		return buf[:n], err
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
