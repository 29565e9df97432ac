package httpapi

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gemini-balance/gemini_balance/internal/provider"
)

// A Gemini array stream, with strings that hold brackets, quotes and escapes.
const arrayStream = "[{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"a } ] { [ \\\" \\\\\"}]}}]}\n,\r\n" +
	"{\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"b\"}]}}]}\n,\r\n" +
	"{\"usageMetadata\": {\"totalTokenCount\": 7}}\n]"

func TestArraySplitterAtEveryChunkBoundary(t *testing.T) {
	for size := 1; size <= len(arrayStream); size++ {
		var split arraySplitter
		var out strings.Builder
		var elements []string
		emit := func(chunk, element []byte) error {
			out.Write(chunk)
			elements = append(elements, string(element))
			return nil
		}
		for i := 0; i < len(arrayStream); i += size {
			end := min(i+size, len(arrayStream))
			if err := split.feed([]byte(arrayStream[i:end]), emit); err != nil {
				t.Fatal(err)
			}
		}
		out.Write(split.pending)
		if out.String() != arrayStream {
			t.Fatalf("chunk size %d: relayed bytes differ:\n%q", size, out.String())
		}
		if len(elements) != 3 {
			t.Fatalf("chunk size %d: %d elements", size, len(elements))
		}
		for _, e := range elements {
			if !json.Valid([]byte(e)) {
				t.Fatalf("chunk size %d: element is not JSON: %s", size, e)
			}
		}
	}
}

func TestArraySplitterErrorTailIsValidJSON(t *testing.T) {
	errBody := []byte(`{"error":{"code":502,"message":"cut","status":"INTERNAL"}}`)
	for _, cut := range []int{0, 1, 30, strings.Index(arrayStream, "\n,") + 1, len(arrayStream) - 20} {
		var split arraySplitter
		var out strings.Builder
		_ = split.feed([]byte(arrayStream[:cut]), func(chunk, _ []byte) error { out.Write(chunk); return nil })
		out.Write(split.errorTail(errBody))
		var arr []map[string]any
		if err := json.Unmarshal([]byte(out.String()), &arr); err != nil {
			t.Fatalf("cut at %d: not a JSON array (%v): %s", cut, err, out.String())
		}
		if last := arr[len(arr)-1]; last["error"] == nil {
			t.Fatalf("cut at %d: last element is not the error: %v", cut, last)
		}
	}
}

func TestTailWriterKeepsTheEnd(t *testing.T) {
	var tw tailWriter
	big := strings.Repeat("x", 10000) + `"usageMetadata": {"promptTokenCount": 3, "totalTokenCount": 9}}`
	for i := 0; i < len(big); i += 333 {
		_, _ = tw.Write([]byte(big[i:min(i+333, len(big))]))
	}
	if len(tw.buf) != tailSize || !strings.HasSuffix(string(tw.buf), `"totalTokenCount": 9}}`) {
		t.Fatalf("tail %d bytes: %q", len(tw.buf), tw.buf[len(tw.buf)-40:])
	}
	if u := usageOf(tw.buf); u.TotalTokenCount != 9 || u.PromptTokenCount != 3 {
		t.Errorf("usage %+v", u)
	}
}

// An SSE stream whose events are longer than the stream's read buffer (and
// one longer than the pooled event buffers keep) reaches the client byte
// for byte, over the plain-HTTP upstream's own connection.
func TestSSERelayOfLongEventsIsExact(t *testing.T) {
	events := []string{
		"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"a\"}]}}]}\r\n\r\n",
		"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"" + strings.Repeat("b", 3000) + "\"}]}}]}\r\n\r\n",
		": a comment line\r\n\r\n",
		"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"" + strings.Repeat("c", 70000) + "\"}]}}]}\r\n\r\n",
		"data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"d\"}]}}], \"usageMetadata\": {\"totalTokenCount\": 9}}\r\n\r\n",
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasSuffix(r.URL.Path, ":streamGenerateContent") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, e := range events {
			_, _ = io.WriteString(w, e)
			w.(http.Flusher).Flush()
		}
	}))
	t.Cleanup(up.Close)
	h := &Handler{Balancer: chainPool(t, "g", provider.Gemini, up.URL+"/v1beta", []string{chainGKey}, nil)}
	for range 3 { // the pooled buffers are reused
		w := serveChain(t, h, http.MethodPost, "/v1beta/models/"+chainModel+":streamGenerateContent?alt=sse", chainBody, false)
		if w.Code != http.StatusOK || w.Body.String() != strings.Join(events, "") {
			t.Fatalf("status %d, %d bytes relayed, want %d", w.Code, w.Body.Len(), len(strings.Join(events, "")))
		}
	}
}
