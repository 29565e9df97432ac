package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/gemini"
	"github.com/gemini-balance/gemini_balance/internal/openai"
	"github.com/gemini-balance/gemini_balance/internal/openai/chat"
	"github.com/gemini-balance/gemini_balance/internal/provider"
	"github.com/gemini-balance/gemini_balance/internal/safefetch"
)

// chatCompletions translates an OpenAI chat request to Gemini and back.
func (h *Handler) chatCompletions(w http.ResponseWriter, r *http.Request, token string) {
	body, ok := h.readBody(w, r, openaiDialect)
	if !ok {
		return
	}
	req, err := chat.DecodeRequest(body)
	if err != nil {
		writeChatError(w, err)
		return
	}
	if isImagenChat(req.Model) {
		h.imagenChat(w, r, token, body, req)
		return
	}
	res, ok := h.resolveModel(w, r, req.Model)
	if !ok {
		return
	}
	// An OpenAI-compatible pool takes the request as it came.
	oa := &openaiForm{path: "/chat/completions", body: body, model: req.Model, stream: req.Stream}
	set := h.Balancer.Settings().Models
	feat := h.Balancer.Features(res)
	feat.IncludeThoughts = set.ShowThinking
	gbody, err := chat.ToGeminiWith(r.Context(), req, res.Upstream, feat, h.newImageFetch().fetch, h.storedImage(r))
	if err != nil {
		if h.Balancer.Provider() != provider.OpenAI {
			writeChatError(w, err)
			return
		}
		oa.geminiErr = err // only Gemini pools of the chain need it
	}
	opts := chat.ResponseOptions{ID: "chatcmpl-" + randomHex(12), Created: time.Now().Unix(), Model: res.Requested,
		ShowThinking: set.ShowThinking || req.WantsThoughts(), ShowSearchLinks: set.ShowSearchLink, ImagesAsMarkdown: true,
		ImageURL: h.imageURL(r, res.Upstream, token)}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	realStream := req.Stream && !set.FakeStream
	call := generateCall("openai.chat", res.Upstream, token, gbody, realStream)
	// A Files API image_url became fileData: it stays on the file's key.
	if h.pinBody(w, r, call, openaiDialect) {
		return
	}
	if set.RetryEmpty {
		call.Accept = gemini.HasContent
	}
	switch {
	case !req.Stream:
		// The answer is decoded once, to judge it and to translate it.
		var answer *chat.Answer
		if set.RetryEmpty {
			call.Accept = func(raw []byte) bool {
				answer = chat.DecodeAnswer(raw)
				return answer.HasContent()
			}
		}
		out := h.doForOpenAI(w, r, call, oa)
		if out == nil {
			return
		}
		raw, ok := readWhole(w, r, out, openaiDialect)
		if !ok {
			return
		}
		if answer == nil {
			answer = chat.DecodeAnswer(raw)
		}
		out2, err := answer.Translate(opts)
		if err != nil {
			writeChatError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, out2)
	case realStream:
		h.chatStream(w, r, call, oa, chat.NewStream(opts, includeUsage))
	default:
		h.chatFakeStream(w, r, call, oa, chat.NewStream(opts, includeUsage), set.FakeStreamInterval)
	}
}

func writeChatError(w http.ResponseWriter, err error) {
	var re *chat.RequestError
	if errors.As(err, &re) {
		writeJSON(w, http.StatusBadRequest, chat.RequestErrorBody(re))
		return
	}
	var ue *chat.UpstreamError
	if errors.As(err, &ue) {
		writeJSON(w, http.StatusBadGateway, openai.ErrorBody(http.StatusBadGateway, ue.Error(), ""))
		return
	}
	status, body := openai.ErrorResponse(err)
	writeJSON(w, status, body)
}

// sseWriter writes OpenAI stream events and flushes each one.
type sseWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func startSSE(w http.ResponseWriter) *sseWriter {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return &sseWriter{w: w, rc: http.NewResponseController(w)}
}

func (s *sseWriter) data(payloads ...[]byte) error {
	for _, p := range payloads {
		if _, err := fmt.Fprintf(s.w, "data: %s\n\n", p); err != nil {
			return err
		}
	}
	return s.rc.Flush()
}

func (s *sseWriter) comment(text string) error {
	if _, err := fmt.Fprintf(s.w, ": %s\n\n", text); err != nil {
		return err
	}
	return s.rc.Flush()
}

// chatStream translates a Gemini SSE stream event by event.
func (h *Handler) chatStream(w http.ResponseWriter, r *http.Request, call *balancer.Call, oa *openaiForm, st *chat.Stream) {
	out := h.doForOpenAI(w, r, call, oa)
	if out == nil {
		return
	}
	sse := startSSE(w)
	var usage gemini.Usage
	var event []byte // reused: EventData copies what the translator gets
	for {
		var err error
		event, err = gemini.AppendEvent(event[:0], out.Body)
		out.Touch()
		if err != nil && err != io.EOF {
			_ = sse.data(chat.ErrorEvent(http.StatusBadGateway, "upstream stream interrupted: "+redactRelayErr(out, err)))
			out.Finish(err, r.Context().Err(), usage)
			return
		}
		if data := gemini.EventData(event); len(bytes.TrimSpace(data)) > 0 {
			if u, ok := gemini.FindUsage(data); ok {
				usage = u
			}
			chunks, terr := st.Event(data)
			if terr != nil {
				_ = sse.data(chat.ErrorEvent(http.StatusBadGateway, terr.Error()))
				out.Finish(terr, r.Context().Err(), usage)
				return
			}
			if werr := sse.data(chunks...); werr != nil {
				out.Finish(werr, r.Context().Err(), usage)
				return
			}
		}
		if err == io.EOF {
			break
		}
	}
	werr := sse.data(append(st.Finish(), []byte("[DONE]"))...)
	out.Finish(werr, r.Context().Err(), usage)
}

// chatFakeStream answers a streaming client from one plain upstream call,
// keeping the connection alive with SSE comments while it waits. An
// OpenAI-compatible pool streams for real: its events follow the comments.
func (h *Handler) chatFakeStream(w http.ResponseWriter, r *http.Request, call *balancer.Call, oa *openaiForm, st *chat.Stream, every time.Duration) {
	type result struct {
		raw    []byte
		fail   *balancer.Failure
		err    error
		passed *balancer.Outcome
	}
	done := make(chan result, 1)
	go func() {
		out, via, fail := h.do(w, r, call, oa)
		switch {
		case fail != nil:
			done <- result{fail: fail}
		case via.openai:
			done <- result{passed: out}
		default:
			raw, err := readAnswer(r, out)
			done <- result{raw: raw, err: err}
		}
	}()
	sse := startSSE(w)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			if sse.comment("keep-alive") != nil {
				<-done
				return
			}
		case res := <-done:
			switch {
			case res.passed != nil:
				usage, err := relaySSE(w, sse.rc, res.passed)
				res.passed.Finish(err, r.Context().Err(), usage)
			case res.fail != nil:
				if !res.fail.ClientGone {
					rec := &bodyRecorder{header: http.Header{}}
					openaiDialect.writeFailure(rec, res.fail)
					_ = sse.data(rec.body.Bytes())
				}
			case res.err != nil:
				_ = sse.data(chat.ErrorEvent(http.StatusBadGateway, "upstream answer interrupted"))
			default:
				chunks, err := st.Event(res.raw)
				if err != nil {
					_ = sse.data(chat.ErrorEvent(http.StatusBadGateway, err.Error()))
					return
				}
				_ = sse.data(append(append(chunks, st.Finish()...), []byte("[DONE]"))...)
			}
			return
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Image URLs in chat messages are fetched with one shared guarded client
// (safefetch: only global unicast addresses, checked at dial time, no proxy
// from the environment, at most 3 redirects, 20 s per fetch) and within a
// budget per chat request: at most maxFetchedImages URLs, maxFetchedImage
// bytes each and maxFetchedTotal bytes in all.
const (
	maxFetchedImages = 16
	maxFetchedImage  = 20 << 20
	maxFetchedTotal  = 64 << 20
)

var imageClient = safefetch.NewClient()

// imageFetch is the image fetcher of one chat request; it counts what the
// request has fetched. A spent budget fails the request with a 400 (the
// translator turns fetch errors into request errors naming the image).
type imageFetch struct {
	client *http.Client
	mu     sync.Mutex
	urls   int
	bytes  int64
}

func (h *Handler) newImageFetch() *imageFetch {
	client := imageClient
	if h.ImageFetchClient != nil {
		client = h.ImageFetchClient
	}
	return &imageFetch{client: client}
}

func (f *imageFetch) fetch(ctx context.Context, rawURL string) (string, []byte, error) {
	// The URL and the most it may read are reserved before the fetch, so
	// concurrent calls cannot overrun the budget; what was not read is
	// given back after.
	f.mu.Lock()
	if f.urls >= maxFetchedImages {
		f.mu.Unlock()
		return "", nil, fmt.Errorf("a request may fetch at most %d image URLs", maxFetchedImages)
	}
	left := int64(maxFetchedTotal) - f.bytes
	limit := min(left, maxFetchedImage)
	if limit <= 0 {
		f.mu.Unlock()
		return "", nil, fmt.Errorf("a request may fetch at most %d MiB of images in total", maxFetchedTotal>>20)
	}
	f.urls++
	f.bytes += limit
	f.mu.Unlock()
	mt, data, err := safefetch.Get(ctx, f.client, rawURL, limit)
	f.mu.Lock()
	f.bytes -= limit - int64(len(data))
	f.mu.Unlock()
	switch {
	case errors.Is(err, safefetch.ErrTooLarge) && limit == maxFetchedImage:
		return "", nil, fmt.Errorf("image is larger than %d MiB", maxFetchedImage>>20)
	case errors.Is(err, safefetch.ErrTooLarge):
		return "", nil, fmt.Errorf("a request may fetch at most %d MiB of images in total", maxFetchedTotal>>20)
	case err != nil:
		return "", nil, err
	}
	return mt, data, nil
}

// bodyRecorder captures an answer written for a plain response, to send it
// as an SSE event instead.
type bodyRecorder struct {
	header http.Header
	body   bytes.Buffer
}

func (b *bodyRecorder) Header() http.Header         { return b.header }
func (b *bodyRecorder) Write(p []byte) (int, error) { return b.body.Write(p) }
func (b *bodyRecorder) WriteHeader(int)             {}
