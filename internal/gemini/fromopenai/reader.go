package fromopenai

import (
	"bufio"
	"bytes"
	"io"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
)

// Reader reads a provider's chat completion stream (SSE) and yields the
// Gemini stream a streamGenerateContent client asked for, translated event
// by event as the provider's events arrive (see Stream): SSE events
// ("data: <json>\r\n\r\n", for alt=sse) or, without alt=sse, Google's
// streamed JSON array ("[" then the responses separated by ",\r\n", then
// "]").
//
// A provider stream that ends cleanly without [DONE] is closed as [DONE]
// would; a read error of the provider's stream is returned as it is (the
// relay ends the client's stream with an error event). After the last
// event the provider's stream is still read to its end, so its connection
// can be reused. An error the
// provider sends inside its stream, or a chunk that cannot be translated,
// becomes the last event (a Gemini error), and the Reader then ends.
type Reader struct {
	body    io.ReadCloser
	src     *bufio.Reader
	st      *Stream
	array   bool
	started bool // the array's "[" went out
	pending []byte
	event   []byte
	err     error // returned once pending is drained
}

// NewReader translates body for a client that asked for model; array
// chooses Google's JSON array over SSE. Closing the Reader closes body.
func NewReader(body io.ReadCloser, model string, array bool) *Reader {
	return &Reader{body: body, src: bufio.NewReaderSize(body, 4<<10), st: NewStream(model), array: array}
}

// Read implements io.Reader.
func (r *Reader) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.fill()
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// fill translates the provider's next event into pending, or sets err.
func (r *Reader) fill() {
	var err error
	r.event, err = gemini.AppendEvent(r.event[:0], r.src)
	if err != nil && err != io.EOF {
		// The event was cut by the read error: half a chunk is not translated.
		r.err = err
		return
	}
	var out []byte
	var terr error
	if data := gemini.EventData(r.event); len(bytes.TrimSpace(data)) > 0 {
		out, terr = r.st.Append(nil, data)
	}
	if err == io.EOF && terr == nil {
		out, terr = r.st.Close(out)
	}
	r.pending = r.frame(out)
	if terr != nil || err == io.EOF {
		r.pending = append(r.pending, r.end()...)
		r.err = io.EOF
	}
}

// frame writes Gemini SSE events as the client wants them.
func (r *Reader) frame(events []byte) []byte {
	if !r.array || len(events) == 0 {
		return events
	}
	var out []byte
	for _, ev := range bytes.Split(events, []byte("\r\n\r\n")) {
		data := gemini.EventData(ev)
		if len(data) == 0 {
			continue
		}
		if r.started {
			out = append(out, ",\r\n"...)
		} else {
			out = append(out, '[')
			r.started = true
		}
		out = append(out, data...)
	}
	return out
}

// end closes the array (an empty one when nothing came).
func (r *Reader) end() []byte {
	if !r.array {
		return nil
	}
	if !r.started {
		r.started = true
		return []byte("[]")
	}
	return []byte("]")
}

// Close closes the provider's body.
func (r *Reader) Close() error { return r.body.Close() }
