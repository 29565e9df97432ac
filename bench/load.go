package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// target is one endpoint a scenario sends requests to.
type target struct {
	name   string // shown in the table
	role   role
	method string
	url    string
	header http.Header
	body   []byte
	stream bool // an SSE answer: the time to the first event is recorded too
	expect int  // the status that counts as success; 0 means 200
	// onFirst, when set, is called when the first stream event has arrived.
	onFirst func()
}

// role says how a target is drawn and which one ratios are taken against.
type role int

const (
	roleRef   role = iota // a reference point (direct to the stand-in, or another variant)
	roleFloor             // what the scenario's ratios are computed against
	roleOurs              // gemini_balance, the row being judged
)

// client sends the benchmark's requests over one shared transport.
type client struct {
	hc *http.Client
	tr *http.Transport
}

func newClient() *client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        0, // no total limit
		MaxIdleConnsPerHost: 8192,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &client{tr: tr, hc: &http.Client{Transport: tr}}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// do sends one request to t. Latencies are measured from "from" (the
// scheduled time in open-loop mode, the send time otherwise): first is the
// arrival of the first complete stream event (stream targets only), total
// the end of the answer.
func (c *client) do(ctx context.Context, t *target, from time.Time) (first, total time.Duration, err error) {
	var body io.Reader
	if t.body != nil {
		body = bytes.NewReader(t.body)
	}
	req, err := http.NewRequestWithContext(ctx, t.method, t.url, body)
	if err != nil {
		return 0, 0, err
	}
	req.Header = t.header // read-only for the transport; shared by all requests of t
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	want := t.expect
	if want == 0 {
		want = http.StatusOK
	}
	if resp.StatusCode != want {
		n, _ := io.ReadFull(resp.Body, buf[:300])
		return 0, 0, fmt.Errorf("status %d: %s", resp.StatusCode, bytes.TrimSpace(buf[:n]))
	}
	var seen []byte // stream bytes until the first event is complete
	var tail [256]byte
	tailLen, size := 0, 0
	for {
		n, rerr := resp.Body.Read(buf)
		if n > 0 {
			size += n
			if t.stream && first == 0 {
				seen = append(seen, buf[:n]...)
				if bytes.Contains(seen, []byte("\n\n")) || bytes.Contains(seen, []byte("\r\n\r\n")) {
					first = time.Since(from)
					seen = nil
					if t.onFirst != nil {
						t.onFirst()
					}
				}
			}
			if n >= len(tail) {
				tailLen = copy(tail[:], buf[n-len(tail):n])
			} else {
				keep := min(tailLen, len(tail)-n)
				copy(tail[:], tail[tailLen-keep:tailLen])
				copy(tail[keep:], buf[:n])
				tailLen = keep + n
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return 0, 0, rerr
		}
	}
	total = time.Since(from)
	switch {
	case size == 0:
		return 0, 0, errors.New("empty answer")
	case t.stream && first == 0:
		return 0, 0, errors.New("stream ended without a complete event")
	case t.stream && bytes.Contains(tail[:tailLen], []byte(`{"error"`)):
		return 0, 0, fmt.Errorf("stream ended with an error event: %s", bytes.TrimSpace(tail[:tailLen]))
	}
	return first, total, nil
}

// result is what one measurement of one target saw.
type result struct {
	n, errs  int
	elapsed  time.Duration
	lat      []time.Duration // total time of each successful request
	first    []time.Duration // time to the first event (stream targets)
	firstErr string
	dropped  int // open loop: requests not sent because too many were in flight
}

func (r *result) merge(o result) {
	r.n += o.n
	r.errs += o.errs
	r.dropped += o.dropped
	r.elapsed += o.elapsed
	r.lat = append(r.lat, o.lat...)
	r.first = append(r.first, o.first...)
	if r.firstErr == "" {
		r.firstErr = o.firstErr
	}
}

func (r *result) record(first, total time.Duration, err error) {
	if err != nil {
		r.errs++
		if r.firstErr == "" {
			r.firstErr = err.Error()
		}
		return
	}
	r.n++
	r.lat = append(r.lat, total)
	if first > 0 {
		r.first = append(r.first, first)
	}
}

// rps is completed requests (successful or not) per second.
func (r *result) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.n+r.errs) / r.elapsed.Seconds()
}

// stats are the percentiles of one latency list.
type stats struct {
	p50, p90, p99, max time.Duration
	count              int
}

func latencyStats(lat []time.Duration) stats {
	if len(lat) == 0 {
		return stats{}
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	at := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(s)))) - 1
		return s[max(0, min(i, len(s)-1))]
	}
	return stats{p50: at(0.50), p90: at(0.90), p99: at(0.99), max: s[len(s)-1], count: len(s)}
}

// closedLoop keeps conc requests in flight for d: each worker sends its next
// request when the previous one is answered.
func (c *client) closedLoop(ctx context.Context, t *target, conc int, d time.Duration) result {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	parts := make([]result, conc)
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := &parts[w]
			for ctx.Err() == nil && time.Now().Before(deadline) {
				now := time.Now()
				first, total, err := c.do(ctx, t, now)
				if ctx.Err() != nil {
					return
				}
				r.record(first, total, err)
			}
		}()
	}
	wg.Wait()
	var all result
	for _, p := range parts {
		all.merge(p)
	}
	all.elapsed = time.Since(start)
	return all
}

// openLoop schedules requests at a fixed rate for d, whether or not earlier
// ones were answered, and measures each from its scheduled time, so a slow
// server cannot slow the load down and hide its queueing (no coordinated
// omission). At most maxInFlight requests are outstanding; the rest are
// counted as dropped errors.
func (c *client) openLoop(ctx context.Context, t *target, rate float64, d time.Duration, maxInFlight int) result {
	interval := time.Duration(float64(time.Second) / rate)
	var (
		mu       sync.Mutex
		res      result
		wg       sync.WaitGroup
		inFlight atomic.Int64
	)
	start := time.Now()
	timer := time.NewTimer(0)
	<-timer.C
	for i := 0; ; i++ {
		at := start.Add(time.Duration(i) * interval)
		if at.Sub(start) >= d || ctx.Err() != nil {
			break
		}
		if wait := time.Until(at); wait > 0 {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		if inFlight.Load() >= int64(maxInFlight) {
			mu.Lock()
			res.dropped++
			res.errs++
			if res.firstErr == "" {
				res.firstErr = fmt.Sprintf("more than %d requests in flight", maxInFlight)
			}
			mu.Unlock()
			continue
		}
		inFlight.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer inFlight.Add(-1)
			first, total, err := c.do(ctx, t, at)
			mu.Lock()
			res.record(first, total, err)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}
