package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"

	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
)

// The request bodies the benchmark sends.
var (
	nativeBody = []byte(`{"contents":[{"role":"user","parts":[{"text":"Write one short sentence about load balancers."}]}]}`)
	chatBody   = []byte(`{"model":"gemini-2.5-flash","messages":[{"role":"user","content":"Write one short sentence about load balancers."}]}`)
	chatStream = []byte(`{"model":"gemini-2.5-flash","stream":true,"messages":[{"role":"user","content":"Write one short sentence about load balancers."}]}`)
)

const (
	benchModel  = "gemini-2.5-flash"
	clientToken = "sk-bench-client-token-0123456789"
	floorKey    = "AIzaSyBenchFloorKey000000000000000000"
)

// canned is one recorded answer of the stand-in.
type canned struct {
	status int
	header http.Header
	body   []byte
}

func (c canned) write(w http.ResponseWriter) {
	for k, v := range c.header {
		w.Header()[k] = v
	}
	w.WriteHeader(c.status)
	_, _ = w.Write(c.body)
}

// record sends one generateContent to up with key and keeps the answer.
func record(up *fakegemini.Server, key string) (canned, error) {
	req, _ := http.NewRequest(http.MethodPost, up.URL+"/models/"+benchModel+":generateContent", bytes.NewReader(nativeBody))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Goog-Api-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return canned{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return canned{}, err
	}
	h := http.Header{}
	for _, k := range []string{"Content-Type", "Vary", "Retry-After"} {
		if v := resp.Header.Values(k); len(v) > 0 {
			h[k] = v
		}
	}
	return canned{status: resp.StatusCode, header: h, body: body}, nil
}

// failoverUpstream replays the stand-in's own answers (a 429
// RESOURCE_EXHAUSTED with RetryInfo, and a 200) so that the first attempt of
// a request fails over and the second succeeds, whatever key the pool picks.
// The model name chooses (the proxy forwards it, and no query but the
// methods' own):
//
//	models/bench-fo-alt  answers 429, 200, 429, 200 ... in turn
//	models/bench-fo-429  always 429 (the upstream's own time for the failed attempt)
//	models/bench-fo-ok   always 200
type failoverUpstream struct {
	srv               *httptest.Server
	url               string // base URL ending in /v1beta
	limited, ok       canned
	turn              atomic.Uint64
	served429, alt200 atomic.Uint64
}

func newFailoverUpstream() (*failoverUpstream, error) {
	rec := fakegemini.New()
	defer rec.Close()
	rec.RetryDelay = "1s" // the shortest rest Google's RetryInfo can impose (clamped at 1 s)
	rec.SetDefault(fakegemini.OK)
	rec.SetKey("limited", fakegemini.RateLimited)
	limited, err := record(rec, "limited")
	if err != nil {
		return nil, err
	}
	ok, err := record(rec, "fine")
	if err != nil {
		return nil, err
	}
	if limited.status != http.StatusTooManyRequests || ok.status != http.StatusOK {
		return nil, fmt.Errorf("stand-in answered %d and %d, want 429 and 200", limited.status, ok.status)
	}
	f := &failoverUpstream{limited: limited, ok: ok}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	f.url = f.srv.URL + "/v1beta"
	return f, nil
}

// foModelPrefix starts the model names that choose the failover answer.
const foModelPrefix = "bench-fo-"

func (f *failoverUpstream) serve(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	mode, _, _ := strings.Cut(r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:], ":")
	switch strings.TrimPrefix(mode, foModelPrefix) {
	case "alt":
		if f.turn.Add(1)%2 == 1 {
			f.served429.Add(1)
			f.limited.write(w)
			return
		}
		f.alt200.Add(1)
		f.ok.write(w)
	case "429":
		f.limited.write(w)
	default:
		f.ok.write(w)
	}
}

// resetCounts forgets the answers counted so far (those of a warm-up).
func (f *failoverUpstream) resetCounts() {
	f.served429.Store(0)
	f.alt200.Store(0)
}

func (f *failoverUpstream) Close() { f.srv.Close() }
