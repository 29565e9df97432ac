package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/gemini"
	"github.com/gemini-balance/gemini_balance/internal/secret"
)

// relay writes a successful upstream answer to the client: a plain answer is
// copied through, a stream is relayed event by event and flushed after each.
func relay(w http.ResponseWriter, r *http.Request, out *balancer.Outcome) {
	copyHeaders(w.Header(), out.Resp.Header)
	sse := isEventStream(out.Resp.Header.Get("Content-Type"))
	if out.Resp.ContentLength < 0 || sse {
		w.Header().Del("Content-Length")
	}
	w.WriteHeader(out.Resp.StatusCode)
	if sse || out.Stream() {
		// The header map was copied (its values are shared) and is not
		// read again: a stream would hold it to its end.
		out.Resp.Header = nil
	}
	rc := http.NewResponseController(w)
	var err error
	var usage gemini.Usage
	plain := false
	switch {
	case sse:
		usage, err = relaySSE(w, rc, out)
	// A stream that is not SSE is streamGenerateContent without alt=sse: a
	// JSON array that arrives element by element.
	case out.Stream():
		usage, err = relayJSONArray(w, rc, out)
	default:
		plain = true
		usage, err = copyPlain(w, out)
	}
	out.Finish(err, r.Context().Err(), usage)
	if err != nil && !out.TimedOut() && r.Context().Err() == nil && plain {
		// A plain answer cut short must not look complete to the client.
		panic(http.ErrAbortHandler)
	}
}

// isEventStream reports whether a Content-Type is text/event-stream, with
// any parameters (mime.ParseMediaType would allocate for every answer).
func isEventStream(ct string) bool {
	mt, _, _ := strings.Cut(ct, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "text/event-stream")
}

// tailWriter keeps the last bytes written, where usageMetadata lives.
type tailWriter struct{ buf []byte }

const tailSize = 4 << 10

func (t *tailWriter) Write(p []byte) (int, error) {
	if len(p) >= tailSize {
		t.buf = append(t.buf[:0], p[len(p)-tailSize:]...)
		return len(p), nil
	}
	if over := len(t.buf) + len(p) - tailSize; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
	return len(p), nil
}

// copyState is the pooled state of one relay (copyPlain, relayJSONArray):
// allocating its buffers per request was a large share of the hot path's
// garbage.
type copyState struct {
	buf  []byte
	tail tailWriter // copyPlain's
}

var copyStates = sync.Pool{New: func() any {
	return &copyState{buf: make([]byte, 32<<10), tail: tailWriter{buf: make([]byte, 0, tailSize)}}
}}

func getCopyState() *copyState { return copyStates.Get().(*copyState) }

func putCopyState(cs *copyState) {
	cs.tail.buf = cs.tail.buf[:0]
	copyStates.Put(cs)
}

// copyPlain copies a plain answer to the client and reads the usage from
// its last bytes.
func copyPlain(w http.ResponseWriter, out *balancer.Outcome) (gemini.Usage, error) {
	pc := getCopyState()
	defer putCopyState(pc)
	for {
		n, err := out.Body.Read(pc.buf)
		if n > 0 {
			_, _ = pc.tail.Write(pc.buf[:n])
			if _, werr := w.Write(pc.buf[:n]); werr != nil {
				return gemini.Usage{}, werr
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return gemini.Usage{}, err
		}
	}
	u, _ := gemini.FindUsage(pc.tail.buf)
	return u, nil
}

// errorEvent is the SSE event that ends a stream which failed midway; both
// the Google and OpenAI SDKs raise it as an error.
func streamError(out *balancer.Outcome, err error) []byte {
	status, msg := http.StatusBadGateway, "upstream stream interrupted: "+redactRelayErr(out, err)
	if out.TimedOut() {
		status, msg = http.StatusGatewayTimeout, "upstream stream stalled past the timeout"
	}
	return gemini.ErrorBody(status, msg)
}

func redactRelayErr(out *balancer.Outcome, err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "connection closed before the answer was complete"
	}
	return secret.RedactError(err, out.Key.Secret())
}

// relaySSE forwards "data: ..." events one at a time.
func relaySSE(w http.ResponseWriter, rc *http.ResponseController, out *balancer.Outcome) (gemini.Usage, error) {
	var lastUsage []byte
	// The error event keeps the upstream's line ending: SDKs that split on
	// "\n\n" before "\r\n\r\n" would otherwise merge it with earlier events.
	eol := "\n"
	// An idle stream holds no event buffer: one is taken from the pool once
	// the next event's first byte has arrived, and given back when the event
	// is written (5,000 open streams would otherwise keep 5,000 buffers the
	// size of their largest event).
	var event []byte
	var held *[]byte // the pooled buffer behind event, nil when none is held
	defer func() { putEventBuffer(held, event) }()
	for {
		var err error
		event = nil
		if _, err = out.Body.Peek(1); err == nil {
			held = eventBuffers.Get().(*[]byte)
			event, err = gemini.AppendEvent((*held)[:0], out.Body)
		}
		out.Touch()
		if bytes.HasSuffix(event, []byte("\r\n")) {
			eol = "\r\n"
		}
		if err != nil && err != io.EOF {
			// The partial event is dropped; an error event ends the stream.
			_, _ = w.Write(append(append([]byte("data: "), streamError(out, err)...), eol+eol...))
			_ = rc.Flush()
			return usageOf(lastUsage), err
		}
		if len(bytes.TrimSpace(event)) > 0 {
			// Only the usage object onwards is kept (usageOf reads the last
			// one): Gemini puts it in every event, and the whole event
			// would be held for the stream's life.
			if i := bytes.LastIndex(event, []byte(`"usageMetadata"`)); i >= 0 {
				lastUsage = append(lastUsage[:0], event[i:]...)
			}
			if _, werr := w.Write(event); werr != nil {
				return usageOf(lastUsage), werr
			}
			if ferr := rc.Flush(); ferr != nil {
				return usageOf(lastUsage), ferr
			}
		}
		if err == io.EOF {
			return usageOf(lastUsage), nil
		}
		putEventBuffer(held, event)
		held = nil
	}
}

// eventBuffers hold one SSE event while it is relayed.
var eventBuffers = sync.Pool{New: func() any { return new([]byte) }}

// maxPooledEvent bounds the buffers kept: a rare huge event is not held.
const maxPooledEvent = 64 << 10

// putEventBuffer gives back held, keeping event's (maybe grown) array.
func putEventBuffer(held *[]byte, event []byte) {
	if held == nil || cap(event) > maxPooledEvent {
		return
	}
	*held = event[:0]
	eventBuffers.Put(held)
}

func usageOf(b []byte) gemini.Usage {
	u, _ := gemini.FindUsage(b)
	return u
}

// arraySplitter cuts a streamed JSON array into its top-level elements
// without decoding them: it tracks nesting and strings byte by byte.
type arraySplitter struct {
	pending   []byte
	depth     int
	inString  bool
	escaped   bool
	elemStart int
	elements  int
}

// feed consumes b; emit gets every run of bytes that ends with a complete
// element (separators and the opening bracket included) and the element itself.
func (s *arraySplitter) feed(b []byte, emit func(chunk, element []byte) error) error {
	for _, c := range b {
		s.pending = append(s.pending, c)
		switch {
		case s.inString:
			switch {
			case s.escaped:
				s.escaped = false
			case c == '\\':
				s.escaped = true
			case c == '"':
				s.inString = false
			}
		case c == '"':
			s.inString = true
		case c == '{' || c == '[':
			if s.depth == 1 {
				s.elemStart = len(s.pending) - 1
			}
			s.depth++
		case c == '}' || c == ']':
			s.depth--
			if s.depth == 1 {
				s.elements++
				if err := emit(s.pending, s.pending[s.elemStart:]); err != nil {
					return err
				}
				s.pending = s.pending[:0]
			}
		}
	}
	return nil
}

// errorTail closes the array after a failure with an error element; the
// partial element, if any, is dropped.
func (s *arraySplitter) errorTail(errBody []byte) []byte {
	var tail []byte
	if s.elements == 0 {
		tail = append(tail, '[')
	} else {
		tail = append(tail, ",\r\n"...)
	}
	tail = append(tail, errBody...)
	return append(tail, "\r\n]"...)
}

// relayJSONArray forwards a streamed JSON array one element at a time.
func relayJSONArray(w http.ResponseWriter, rc *http.ResponseController, out *balancer.Outcome) (gemini.Usage, error) {
	var split arraySplitter
	var lastUsage []byte
	emit := func(chunk, element []byte) error {
		if bytes.Contains(element, []byte(`"usageMetadata"`)) {
			lastUsage = append(lastUsage[:0], element...)
		}
		if _, err := w.Write(chunk); err != nil {
			return err
		}
		return rc.Flush()
	}
	cs := getCopyState()
	defer putCopyState(cs)
	buf := cs.buf
	for {
		n, err := out.Body.Read(buf)
		if n > 0 {
			out.Touch()
			if werr := split.feed(buf[:n], emit); werr != nil {
				return usageOf(lastUsage), werr
			}
		}
		if err == io.EOF {
			if len(split.pending) > 0 {
				_, _ = w.Write(split.pending)
				_ = rc.Flush()
			}
			return usageOf(lastUsage), nil
		}
		if err != nil {
			_, _ = w.Write(split.errorTail(streamError(out, err)))
			_ = rc.Flush()
			return usageOf(lastUsage), err
		}
	}
}
