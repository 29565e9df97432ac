package readall

import (
	"strings"
	"testing"
)

func TestSized(t *testing.T) {
	cases := []struct {
		body     string
		length   int64
		want     string
		wantErr  bool
		exactCap bool
	}{
		{"hello", 5, "hello", false, true},
		{"hello", -1, "hello", false, false},
		{"hello world", 5, "hello world", false, false}, // more than announced: still all of it
		{"hel", 5, "hel", true, false},                  // less than announced
		{"hello", 100, "hello", true, false},
	}
	for _, c := range cases {
		got, err := Sized(strings.NewReader(c.body), c.length, 1<<20)
		if string(got) != c.want || (err != nil) != c.wantErr {
			t.Errorf("%q (length %d): %q, %v", c.body, c.length, got, err)
		}
		if c.exactCap && cap(got) != len(c.want) {
			t.Errorf("%q: capacity %d, want exactly %d", c.body, cap(got), len(c.want))
		}
	}
}
