package keylist

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"AIzaA", []string{"AIzaA"}},
		{" a , b,,c ", []string{"a", "b", "c"}},
		{`["a", " b ", ""]`, []string{"a", "b"}},
		{`"quoted"`, []string{"quoted"}},
		{"", []string{}},
	}
	for _, c := range cases {
		got, err := Parse(c.in)
		if err != nil {
			t.Fatalf("Parse(%q): %v", c.in, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("Parse(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	if _, err := Parse(`["a", 1]`); err == nil || !strings.Contains(err.Error(), "JSON list") {
		t.Errorf("bad JSON list: err = %v", err)
	}
}

func TestParseFile(t *testing.T) {
	got, err := ParseFile(strings.NewReader("# keys\nk1\n\n  k2  # second\nk3,k4\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"k1", "k2", "k3", "k4"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q want %q", got, want)
	}
}

func TestDedupe(t *testing.T) {
	got := Dedupe([]string{" a", "b", "a ", "", "c", "b"})
	if want := []string{"a", "b", "c"}; !reflect.DeepEqual(got, want) {
		t.Errorf("got %q want %q", got, want)
	}
}
