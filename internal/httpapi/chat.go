package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/gemini"
	"github.com/gemini-balance/gemini_balance/internal/openai"
	"github.com/gemini-balance/gemini_balance/internal/openai/chat"
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
	res, ok := h.resolveModel(w, r, req.Model)
	if !ok {
		return
	}
	set := h.Balancer.Settings().Models
	bf := h.Balancer.Features(res)
	gbody, err := chat.ToGemini(r.Context(), req, res.Upstream, chat.Features{
		Search: bf.Search, ImageOutput: bf.ImageOutput, DisableThinking: bf.DisableThinking,
		ThinkingBudget: bf.ThinkingBudget, IncludeThoughts: set.ShowThinking, SafetySettings: bf.SafetySettings,
		CodeExecution: bf.CodeExecution, URLContext: bf.URLContext,
	}, h.fetchImage)
	if err != nil {
		writeChatError(w, err)
		return
	}
	opts := chat.ResponseOptions{ID: "chatcmpl-" + randomHex(12), Created: time.Now().Unix(), Model: res.Requested,
		ShowThinking: set.ShowThinking || req.WantsThoughts(), ShowSearchLinks: set.ShowSearchLink, ImagesAsMarkdown: true}
	includeUsage := req.StreamOptions != nil && req.StreamOptions.IncludeUsage
	realStream := req.Stream && !set.FakeStream
	call := generateCall("openai.chat", res.Upstream, token, gbody, realStream)
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
		raw, ok := h.doTranslated(w, r, call)
		if !ok {
			return
		}
		if answer == nil {
			answer = chat.DecodeAnswer(raw)
		}
		out, err := answer.Translate(opts)
		if err != nil {
			writeChatError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, out)
	case realStream:
		h.chatStream(w, r, call, chat.NewStream(opts, includeUsage))
	default:
		h.chatFakeStream(w, r, call, chat.NewStream(opts, includeUsage), set.FakeStreamInterval)
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
func (h *Handler) chatStream(w http.ResponseWriter, r *http.Request, call *balancer.Call, st *chat.Stream) {
	out, fail := h.Balancer.Do(r.Context(), call)
	if fail != nil {
		openaiDialect.writeFailure(w, fail)
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
// keeping the connection alive with SSE comments while it waits.
func (h *Handler) chatFakeStream(w http.ResponseWriter, r *http.Request, call *balancer.Call, st *chat.Stream, every time.Duration) {
	type result struct {
		raw  []byte
		fail *balancer.Failure
		err  error
	}
	done := make(chan result, 1)
	go func() {
		out, fail := h.Balancer.Do(r.Context(), call)
		if fail != nil {
			done <- result{fail: fail}
			return
		}
		raw, err := readAnswer(r, out)
		done <- result{raw: raw, err: err}
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
			case res.fail != nil:
				if !res.fail.ClientGone {
					msg := string(openai.FromGoogleError(res.fail.Status, res.fail.Body))
					_ = sse.data([]byte(msg))
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

// Image URLs in chat messages are fetched with one shared client, a size cap
// and a timeout; private and loopback addresses are refused so the proxy
// cannot be used to reach the network behind it.
const maxFetchedImage = 20 << 20

var imageClient = &http.Client{
	Timeout: 20 * time.Second,
	Transport: &http.Transport{
		Proxy:       http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second, Control: refusePrivate}).DialContext,
	},
}

func refusePrivate(_, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return err
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() || ip.IsLinkLocalMulticast() {
		return fmt.Errorf("image URL points to a private address (%s)", host)
	}
	return nil
}

func (h *Handler) fetchImage(ctx context.Context, rawURL string) (string, []byte, error) {
	client := imageClient
	if h.ImageFetchClient != nil {
		client = h.ImageFetchClient
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return "", nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", nil, fmt.Errorf("fetching the image answered %s", resp.Status)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxFetchedImage+1))
	if err != nil {
		return "", nil, err
	}
	if len(data) > maxFetchedImage {
		return "", nil, fmt.Errorf("image is larger than %d MiB", maxFetchedImage>>20)
	}
	mt := resp.Header.Get("Content-Type")
	if mt == "" {
		mt = http.DetectContentType(data)
	}
	return mt, data, nil
}
