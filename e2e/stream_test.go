package e2e

import (
	"bufio"
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
)

const ssePath = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"

func TestStreamCutMidwayEndsWithErrorEvent(t *testing.T) {
	e := newEnv(t)
	cut := k("cut")
	e.up.SetKey(cut, fakegemini.CutStream)
	e.start(poolOpts{keys: []string{cut}})

	// The SDK gets the two events, then raises the error event.
	var got []string
	var streamErr error
	for resp, err := range e.genai().Models.GenerateContentStream(context.Background(), "gemini-2.5-flash", genai.Text("hi"), nil) {
		if err != nil {
			streamErr = err
			break
		}
		got = append(got, resp.Text())
	}
	if len(got) != 2 {
		t.Fatalf("got %d events before the cut, want 2: %q", len(got), got)
	}
	var apiErr genai.APIError
	if !errors.As(streamErr, &apiErr) || apiErr.Code != http.StatusBadGateway || !strings.Contains(apiErr.Message, "interrupted") {
		t.Fatalf("stream error %#v, want a 502 APIError saying the stream was interrupted", streamErr)
	}
	// No retry after the first byte: one upstream call, and the key is not blamed.
	if n := len(e.up.Requests()); n != 1 {
		t.Errorf("%d upstream calls, want 1 (no restart inside the stream)", n)
	}
	if s := e.key(cut).Snapshot(time.Now()); s.ConsecutiveFailures != 0 || s.Status != keypool.Active {
		t.Errorf("a cut stream counted against the key: %+v", s)
	}

	// Raw framing: two events relayed as they came, then one error event.
	status, _, body := e.do("POST", ssePath, helloBody, authed...)
	if status != 200 {
		t.Fatalf("status %d", status)
	}
	events := strings.Split(strings.TrimSpace(strings.ReplaceAll(body, "\r\n", "\n")), "\n\n")
	if len(events) != 3 || !strings.HasPrefix(events[2], `data: {"error":{"code":502`) {
		t.Fatalf("events: %q", events)
	}
	// The JSON-array form ends with an error element and stays valid JSON.
	status, _, body = e.do("POST", "/v1beta/models/gemini-2.5-flash:streamGenerateContent", helloBody, authed...)
	if status != 200 || !strings.Contains(body, `{"error":{"code":502`) || !strings.HasSuffix(strings.TrimSpace(body), "]") {
		t.Fatalf("array stream after a cut: %d %s", status, body)
	}
}

func TestStreamRetriesOnAnotherKeyBeforeFirstByte(t *testing.T) {
	e := newEnv(t)
	bad, limited, good := k("sbad"), k("slimited"), k("sgood")
	e.up.SetKey(bad, fakegemini.Invalid)
	e.up.SetKey(limited, fakegemini.RateLimited)
	e.up.SetKey(good, fakegemini.OK)
	e.start(poolOpts{keys: []string{bad, limited, good}})
	var text strings.Builder
	for resp, err := range e.genai().Models.GenerateContentStream(context.Background(), "gemini-2.5-flash", genai.Text("hi"), nil) {
		if err != nil {
			t.Fatal(err)
		}
		text.WriteString(resp.Text())
	}
	if text.String() != fakegemini.ReplyText("gemini-2.5-flash") {
		t.Fatalf("text %q", text.String())
	}
	if used := e.up.KeysUsed(); len(used) != 3 || used[2] != good {
		t.Fatalf("keys used %v, want bad, limited, then good", used)
	}
}

func TestStreamEventsAreFlushedOneByOne(t *testing.T) {
	e := newEnv(t)
	e.up.SetDefault(fakegemini.OK)
	e.up.StreamDelay = 300 * time.Millisecond
	e.start(poolOpts{keys: []string{k("slow")}})
	req, _ := http.NewRequest("POST", baseURL+ssePath, strings.NewReader(helloBody))
	req.Header.Set("x-goog-api-key", clientToken)
	start := time.Now()
	resp, err := e.tester.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	sc := bufio.NewScanner(resp.Body)
	var arrivals []time.Duration
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "data: ") {
			arrivals = append(arrivals, time.Since(start))
		}
	}
	if len(arrivals) != 3 {
		t.Fatalf("%d events", len(arrivals))
	}
	// Events 300 ms apart upstream must arrive about 300 ms apart, not at once.
	if gap := arrivals[1] - arrivals[0]; gap < 200*time.Millisecond {
		t.Errorf("events arrived together (gap %v): the relay buffers", gap)
	}
	if arrivals[0] > 250*time.Millisecond {
		t.Errorf("first event after %v: not flushed at once", arrivals[0])
	}
}

func TestClientDisconnectCancelsUpstreamAndCostsNothing(t *testing.T) {
	e := newEnv(t)
	hang := k("hangs")
	e.up.SetKey(hang, fakegemini.Hang)
	e.start(poolOpts{keys: []string{hang}, extra: "timeout 30s"})
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", baseURL+genPath, strings.NewReader(helloBody))
	req.Header.Set("x-goog-api-key", clientToken)
	start := time.Now()
	if _, err := e.tester.Client.Do(req); err == nil {
		t.Fatal("request did not fail")
	}
	if time.Since(start) > 2*time.Second {
		t.Fatal("client cancel did not end the request")
	}
	time.Sleep(200 * time.Millisecond)
	s := e.key(hang).Snapshot(time.Now())
	if s.Status != keypool.Active || s.ConsecutiveFailures != 0 || s.TotalFailures != 0 || !s.Cooldowns["gemini-2.5-flash"].IsZero() {
		t.Errorf("client disconnect cost the key: %+v", s)
	}
	if n := len(e.up.Requests()); n != 1 {
		t.Errorf("%d upstream calls, want 1 (no retry for a client that left)", n)
	}
}
