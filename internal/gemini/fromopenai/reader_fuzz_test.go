package fromopenai

import (
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// FuzzReader feeds arbitrary provider streams to the Reader: the array form
// is always one valid JSON array, the SSE form always well-framed events,
// and byte-at-a-time reads give the same bytes.
func FuzzReader(f *testing.F) {
	f.Add([]byte(readerStream))
	f.Add([]byte(strings.ReplaceAll(readerStream, "\n", "\r\n")))
	f.Add([]byte(sseOf(`{"id":"c","choices":[{"index":0,"delta":{"content":"a"}}]}`, `{"error":{"message":"boom","type":"server_error"}}`)))
	f.Add([]byte(sseOf(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"x","function":{"name":"f","arguments":"{\"a\""}}]}}]}`)))
	f.Add([]byte("data: {not json\n\n"))
	f.Add([]byte(": ping\n\ndata: [DONE]\n\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, src []byte) {
		arr, err := io.ReadAll(NewReader(io.NopCloser(bytes.NewReader(src)), "m", true))
		if err != nil {
			t.Fatal(err)
		}
		var elems []json.RawMessage
		if err := json.Unmarshal(arr, &elems); err != nil || len(elems) == 0 {
			t.Fatalf("array %q: %v", arr, err)
		}
		sse, err := io.ReadAll(NewReader(io.NopCloser(bytes.NewReader(src)), "m", false))
		if err != nil {
			t.Fatal(err)
		}
		evs := events(t, sse)
		if len(evs) != len(elems) {
			t.Fatalf("%d events, %d array elements", len(evs), len(elems))
		}
		one, err := io.ReadAll(iotest.OneByteReader(NewReader(io.NopCloser(iotest.OneByteReader(bytes.NewReader(src))), "m", false)))
		if err != nil || !bytes.Equal(one, sse) {
			t.Fatalf("one byte at a time: %v\n%q\n%q", err, one, sse)
		}
	})
}
