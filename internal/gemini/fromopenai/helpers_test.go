package fromopenai

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// jsonEqual compares two JSON texts by value.
func jsonEqual(t *testing.T, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want JSON: %v\n%s", err, want)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("JSON differs\n got: %s\nwant: %s", got, compact(want))
	}
}

func compact(s string) string {
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return s
	}
	return b.String()
}

// events splits Gemini SSE output into its JSON payloads, checking the
// framing on the way.
func events(t *testing.T, out []byte) []string {
	t.Helper()
	var evs []string
	for _, ev := range strings.SplitAfter(string(out), "\r\n\r\n") {
		if ev == "" {
			continue
		}
		if !strings.HasPrefix(ev, "data: ") || !strings.HasSuffix(ev, "\r\n\r\n") {
			t.Fatalf("bad framing: %q", ev)
		}
		payload := strings.TrimSuffix(strings.TrimPrefix(ev, "data: "), "\r\n\r\n")
		if !json.Valid([]byte(payload)) || strings.ContainsAny(payload, "\r\n") {
			t.Fatalf("bad event payload: %q", payload)
		}
		evs = append(evs, payload)
	}
	return evs
}
