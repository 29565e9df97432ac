package fromopenai

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

// readerStream is an OpenAI SSE stream: text deltas, the tool call
// fragments of openAIToolStream, usage in its final chunk and [DONE].
var readerStream = sseOf(append([]string{
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"},"finish_reason":null}]}`,
	`{"id":"chatcmpl-1","object":"chat.completion.chunk","model":"gpt-4o","choices":[{"index":0,"delta":{"content":"lo, "},"finish_reason":null}]}`,
}, openAIToolStream...)...)

// sseOf frames payloads as a provider does: "data: …" and a blank line.
func sseOf(payloads ...string) string {
	var b strings.Builder
	for _, p := range payloads {
		b.WriteString("data: " + p + "\n\n")
	}
	return b.String()
}

// providerText is the text the provider's chunks carry, in order.
func providerText(t *testing.T, stream string) string {
	t.Helper()
	var text strings.Builder
	for _, ev := range strings.Split(stream, "\n\n") {
		data := strings.TrimPrefix(ev, "data: ")
		if data == "" || data == "[DONE]" {
			continue
		}
		var c struct {
			Choices []struct {
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatalf("bad test chunk %q: %v", data, err)
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
		}
	}
	return text.String()
}

func geminiText(rs []gemini.Response) string {
	var text strings.Builder
	for _, r := range rs {
		for _, c := range r.Candidates {
			if c.Content == nil {
				continue
			}
			for _, p := range c.Content.Parts {
				text.WriteString(p.Text)
			}
		}
	}
	return text.String()
}

// readAll reads a Reader over src to its end, returning the bytes and the
// error that ended it (nil for io.EOF), and checks the source was closed.
func readAll(t *testing.T, src io.Reader, array bool) ([]byte, error) {
	t.Helper()
	body := &closeRecorder{Reader: src}
	r := NewReader(body, "gemini-2.5-flash", array)
	out, err := io.ReadAll(r)
	if cerr := r.Close(); cerr != nil || !body.closed {
		t.Errorf("Close = %v, source closed %v", cerr, body.closed)
	}
	return out, err
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func TestReaderSSE(t *testing.T) {
	out, err := readAll(t, strings.NewReader(readerStream), false)
	if err != nil {
		t.Fatal(err)
	}
	evs := events(t, out)
	var rs []gemini.Response
	for _, ev := range evs {
		var r gemini.Response
		if err := json.Unmarshal([]byte(ev), &r); err != nil {
			t.Fatalf("event %s: %v", ev, err)
		}
		rs = append(rs, r)
	}
	if got, want := geminiText(rs), providerText(t, readerStream); got != want || want != "Hello, Checking both." {
		t.Errorf("text = %q, want %q", got, want)
	}
	// The calls and the usage of the final chunk arrive.
	if !strings.Contains(string(out), `"functionCall":{"id":"call_A","name":"get_weather","args":{"city":"Paris"}}`) ||
		!strings.Contains(string(out), `"functionCall":{"id":"call_B","name":"get_time","args":{"tz":"Europe/Paris"}}`) {
		t.Errorf("tool calls missing:\n%s", out)
	}
	last := rs[len(rs)-1]
	if last.UsageMetadata == nil || last.UsageMetadata.TotalTokenCount != 120 || last.Candidates[0].FinishReason != "STOP" {
		t.Errorf("last event = %s", evs[len(evs)-1])
	}
	for _, r := range rs {
		if r.ModelVersion != "gemini-2.5-flash" {
			t.Errorf("modelVersion = %q, want the client's model", r.ModelVersion)
		}
	}
}

func TestReaderArray(t *testing.T) {
	out, err := readAll(t, strings.NewReader(readerStream), true)
	if err != nil {
		t.Fatal(err)
	}
	var rs []gemini.Response
	if err := json.Unmarshal(out, &rs); err != nil {
		t.Fatalf("not a JSON array of responses: %v\n%s", err, out)
	}
	if !bytes.HasPrefix(out, []byte("[{")) || !bytes.HasSuffix(out, []byte("}]")) || !bytes.Contains(out, []byte("},\r\n{")) {
		t.Errorf("framing differs from Google's array:\n%q", out)
	}
	if got, want := geminiText(rs), providerText(t, readerStream); got != want {
		t.Errorf("text = %q, want %q", got, want)
	}
	if len(rs) != 5 { // three texts, the calls, the finish with usage
		t.Errorf("%d responses, want 5:\n%s", len(rs), out)
	}
	// The SSE form carries the same responses.
	sse, _ := readAll(t, strings.NewReader(readerStream), false)
	if want := "[" + strings.Join(events(t, sse), ",\r\n") + "]"; string(out) != want {
		t.Errorf("array and SSE differ:\n%s\n%s", out, want)
	}
}

// A stream that ends without [DONE] is closed as [DONE] would: the same
// last event, the array closed.
func TestReaderEndsWithoutDone(t *testing.T) {
	cut := strings.TrimSuffix(readerStream, "data: [DONE]\n\n")
	for _, array := range []bool{false, true} {
		want, _ := readAll(t, strings.NewReader(readerStream), array)
		got, err := readAll(t, strings.NewReader(cut), array)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("array=%v: %v\n got %q\nwant %q", array, err, got, want)
		}
	}
	// Cut before the finish chunk: the open choice is finished on close.
	short := sseOf(`{"id":"c","choices":[{"index":0,"delta":{"content":"par"}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"content":"tial"}}]}`)
	out, err := readAll(t, strings.NewReader(short), true)
	var rs []gemini.Response
	if err != nil || json.Unmarshal(out, &rs) != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if geminiText(rs) != "partial" || rs[len(rs)-1].Candidates[0].FinishReason == "" {
		t.Errorf("closed stream = %s", out)
	}
}

// An error the provider sends inside its stream is the last event (or
// array element), in Gemini's shape; what follows is not translated.
func TestReaderProviderError(t *testing.T) {
	stream := sseOf(`{"id":"c","choices":[{"index":0,"delta":{"content":"so far"}}]}`,
		`{"error":{"message":"The server had an error while processing your request.","type":"server_error","param":null,"code":null}}`,
		`{"id":"c","choices":[{"index":0,"delta":{"content":"never"}}]}`, `[DONE]`)
	sse, err := readAll(t, strings.NewReader(stream), false)
	if err != nil {
		t.Fatal(err)
	}
	evs := events(t, sse)
	if len(evs) != 2 || strings.Contains(string(sse), "never") {
		t.Fatalf("events = %q", evs)
	}
	var e struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Status  string `json:"status"`
		} `json:"error"`
	}
	if err := json.Unmarshal([]byte(evs[1]), &e); err != nil || e.Error.Code == 0 || e.Error.Status == "" ||
		!strings.Contains(e.Error.Message, "The server had an error") {
		t.Errorf("error event = %s (%v)", evs[1], err)
	}

	arr, err := readAll(t, strings.NewReader(stream), true)
	if err != nil {
		t.Fatal(err)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(arr, &elems); err != nil || len(elems) != 2 {
		t.Fatalf("array = %s (%v)", arr, err)
	}
	if string(elems[1]) != evs[1] {
		t.Errorf("array error element = %s, want %s", elems[1], evs[1])
	}
}

// A chunk that is not JSON ends the stream with a Gemini error.
func TestReaderBadChunk(t *testing.T) {
	arr, err := readAll(t, strings.NewReader(sseOf(`{"choices":[{"index":0,"delta":{"content":"a"}}]}`, `{not json`)), true)
	var elems []map[string]any
	if err != nil || json.Unmarshal(arr, &elems) != nil || len(elems) != 2 || elems[1]["error"] == nil {
		t.Errorf("array = %s (%v)", arr, err)
	}
}

// A read error of the provider's stream is returned as it is, also when it
// cuts an event in half (the half is not translated).
func TestReaderReadError(t *testing.T) {
	boom := errors.New("connection reset")
	whole := sseOf(`{"id":"c","choices":[{"index":0,"delta":{"content":"one"}}]}`)
	for _, tail := range []string{"", `data: {"id":"c","choices":[{"ind`} {
		for _, array := range []bool{false, true} {
			src := io.MultiReader(strings.NewReader(whole+tail), iotest.ErrReader(boom))
			out, err := readAll(t, src, array)
			if !errors.Is(err, boom) {
				t.Errorf("tail %q array=%v: err = %v, want the read error", tail, array, err)
			}
			if !strings.Contains(string(out), `"text":"one"`) || strings.Contains(string(out), `"error"`) {
				t.Errorf("tail %q array=%v: out = %q", tail, array, out)
			}
		}
	}
}

// A stream with nothing in it still ends as Google's does, with one
// finishReason STOP response: the array holds that one element (Stream
// always gives a last event, so end's "[]" is only a safeguard).
func TestReaderEmpty(t *testing.T) {
	for _, src := range []string{"", ": keep-alive\n\n", "data: [DONE]\n\n"} {
		out, err := readAll(t, strings.NewReader(src), true)
		var rs []gemini.Response
		if err != nil || json.Unmarshal(out, &rs) != nil || len(rs) != 1 || rs[0].Candidates[0].FinishReason != "STOP" {
			t.Errorf("%q: array = %q, %v", src, out, err)
		}
	}
	r := &Reader{array: true}
	if got := string(r.end()); got != "[]" {
		t.Errorf("end of an array nothing went into = %q, want []", got)
	}
}

// Reads of one byte, of a source that gives one byte at a time, give the
// same bytes as whole reads.
func TestReaderTinyReads(t *testing.T) {
	for _, array := range []bool{false, true} {
		want, err := readAll(t, strings.NewReader(readerStream), array)
		if err != nil {
			t.Fatal(err)
		}
		body := &closeRecorder{Reader: iotest.OneByteReader(strings.NewReader(readerStream))}
		r := NewReader(body, "gemini-2.5-flash", array)
		got, err := io.ReadAll(iotest.OneByteReader(r))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("array=%v: %v\n got %q\nwant %q", array, err, got, want)
		}
		// iotest.TestReader checks the io.Reader contract on the output.
		if err := iotest.TestReader(NewReader(io.NopCloser(strings.NewReader(readerStream)), "gemini-2.5-flash", array), want); err != nil {
			t.Errorf("array=%v: %v", array, err)
		}
	}
}

// CRLF line endings and multi-line data (as some providers send) read the
// same.
func TestReaderCRLF(t *testing.T) {
	want, _ := readAll(t, strings.NewReader(readerStream), false)
	crlf := strings.ReplaceAll(readerStream, "\n", "\r\n")
	got, err := readAll(t, strings.NewReader(crlf), false)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("CRLF: %v\n got %q\nwant %q", err, got, want)
	}
}
