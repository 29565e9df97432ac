package upstream

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
)

// A stream to a plain-HTTP upstream (a relay on the same host or network)
// holds one HTTP/1.1 connection for the whole answer. Through http.Transport
// that connection costs two goroutines of its own (readLoop and writeLoop,
// whose stacks keep the depth they reached while the request was written
// and the headers parsed) and the transport's connection state: about
// 13 KiB per open stream, a fifth of what one stream cost the process
// (docs/benchmark.md, "what one stream costs"). So such a stream is sent on a
// connection of its own, written and read by the caller's goroutine, and
// closed when the answer ends; the request is what the transport would
// send, with "Connection: close" and without its "Accept-Encoding: gzip"
// (streams are relayed as they come). The price: a TCP handshake per stream,
// as no connection is reused. HTTPS upstreams (HTTP/2, like Google's) and
// proxied ones keep using the transport.

// directStream reports whether r goes over a connection of its own.
func (c *Client) directStream(r *Request) bool {
	return c.base.Scheme == "http" && len(c.proxies) == 0 && r.BodyReader == nil && !r.Upload &&
		strings.HasSuffix(r.Path, ":streamGenerateContent")
}

// writeBuffers serve the request's one write; they are not held while the
// answer streams.
var writeBuffers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}

// streamHTTP1 sends req on a new connection and returns the answer; its body
// closes the connection. Cancelling req's context closes the connection, so
// a blocked read or write returns (with the context's error).
func (c *Client) streamHTTP1(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	conn, err := c.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	fail := func(err error) (*http.Response, error) {
		stop()
		conn.Close()
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, err
	}
	// One request per connection: the server closes it after the answer.
	req.Close = true
	bw := writeBuffers.Get().(*bufio.Writer)
	bw.Reset(conn)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	writeBuffers.Put(bw)
	if err != nil {
		return fail(err)
	}
	// Held for the stream's life, so small: it serves the header lines and
	// chunk-size lines (longer header lines are read in pieces); the body's
	// data goes past it into the caller's (larger) reads.
	br := bufio.NewReaderSize(conn, 256)
	var resp *http.Response
	for {
		resp, err = http.ReadResponse(br, req)
		if err != nil {
			return fail(err)
		}
		// Informational answers (100 Continue, 103 Early Hints) precede the
		// real one, which the transport would return.
		if resp.StatusCode < 100 || resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		resp.Body.Close()
	}
	resp.Body = &streamBody{body: resp.Body, conn: conn, stop: stop, ctx: ctx}
	// Nothing reads the request back from the answer, and it would keep
	// the request, its URL and headers for the stream's life.
	resp.Request = nil
	return resp, nil
}

// streamBody is the answer's body; Close closes the connection.
type streamBody struct {
	body io.ReadCloser
	conn net.Conn
	stop func() bool
	ctx  context.Context
	once sync.Once
}

func (b *streamBody) Read(p []byte) (int, error) {
	n, err := b.body.Read(p)
	if err != nil && err != io.EOF && b.ctx.Err() != nil {
		// The connection was closed because the context ended: say why,
		// as the transport does.
		err = context.Cause(b.ctx)
	}
	return n, err
}

func (b *streamBody) Close() error {
	b.once.Do(func() {
		b.stop()
		b.conn.Close()
	})
	return nil
}
