package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/anthropic"
	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/gemini"
	"github.com/gemini-balance/gemini_balance/internal/gemini/fromopenai"
	"github.com/gemini-balance/gemini_balance/internal/pathguard"
	"github.com/gemini-balance/gemini_balance/internal/secret"
)

// Anthropic's Messages API on /v1/messages and /v1/messages/count_tokens,
// served from the pool (Claude Code, the Anthropic SDKs): the request is
// translated to Gemini (internal/anthropic), goes over the pool and its
// fallbacks like any other, and the answer comes back in Anthropic's shape,
// streams event by event. The client token may also come in x-api-key.

// isAnthropicPath reports an Anthropic route below /v1.
func isAnthropicPath(rest string) bool {
	return rest == "/messages" || rest == "/messages/count_tokens"
}

// anthropicToken is the client token of an Anthropic request: x-api-key,
// or one of the usual carriers.
func anthropicToken(r *http.Request) string {
	if v := r.Header.Get("X-Api-Key"); v != "" {
		return v
	}
	return clientToken(r)
}

func (h *Handler) serveAnthropic(w http.ResponseWriter, r *http.Request, rest string) bool {
	d := anthropicDialect
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		d.writeError(w, http.StatusMethodNotAllowed, "use POST "+r.URL.Path, "")
		return true
	}
	token, ok := h.authenticateToken(w, anthropicToken(r), d)
	if !ok {
		return true
	}
	body, ok := h.readBody(w, r, d)
	if !ok {
		return true
	}
	if rest == "/messages/count_tokens" {
		h.anthropicCountTokens(w, r, body, secret.MaskToken(token))
		return true
	}
	h.anthropicMessages(w, r, body, secret.MaskToken(token))
	return true
}

// anthropicModel maps the request's model (claude_models, then the
// defaults) and refuses one that may not go upstream.
func (h *Handler) anthropicModel(w http.ResponseWriter, requested string) (string, bool) {
	model := anthropic.MapModel(requested, h.Balancer.Settings().Models.ClaudeModels)
	switch {
	case !pathguard.ValidModel(model):
		anthropicDialect.writeError(w, http.StatusBadRequest, "model: "+pathguard.ModelError(model), "")
		return "", false
	case h.Balancer.Aliases().Filtered(model):
		anthropicDialect.writeError(w, http.StatusNotFound, "model: "+shorten(requested)+" is not available on this server", "")
		return "", false
	}
	return model, true
}

func writeAnthropicError(w http.ResponseWriter, err error) {
	var re *anthropic.RequestError
	if errors.As(err, &re) {
		writeJSON(w, http.StatusBadRequest, re.Body())
		return
	}
	writeJSON(w, http.StatusBadGateway, anthropic.ErrorBody(http.StatusBadGateway, err.Error()))
}

// anthropicTranslate decodes an Anthropic request with decode, maps its
// model and builds the Gemini body with translate; on failure the client
// has its answer and ok is false.
func (h *Handler) anthropicTranslate(w http.ResponseWriter, r *http.Request, body []byte,
	decode func([]byte) (*anthropic.Request, error),
	translate func(context.Context, *anthropic.Request, string, anthropic.Fetcher) ([]byte, error),
) (req *anthropic.Request, model string, gbody []byte, ok bool) {
	req, err := decode(body)
	if err != nil {
		writeAnthropicError(w, err)
		return nil, "", nil, false
	}
	if model, ok = h.anthropicModel(w, req.Model); !ok {
		return nil, "", nil, false
	}
	if gbody, err = translate(r.Context(), req, model, h.newImageFetch().fetch); err != nil {
		writeAnthropicError(w, err)
		return nil, "", nil, false
	}
	return req, model, gbody, true
}

func (h *Handler) anthropicCountTokens(w http.ResponseWriter, r *http.Request, body []byte, token string) {
	_, model, gbody, ok := h.anthropicTranslate(w, r, body, anthropic.DecodeCountTokensRequest, anthropic.CountTokensRequest)
	if !ok {
		return
	}
	call := generateCall("anthropic.countTokens", model, token, gbody, false)
	call.Request.Path = "/models/" + model + ":countTokens"
	_, raw, ok := h.doWhole(w, r, call, anthropicDialect)
	if !ok {
		return
	}
	out, err := anthropic.CountTokensAnswer(raw)
	if err != nil {
		writeAnthropicError(w, err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}

func (h *Handler) anthropicMessages(w http.ResponseWriter, r *http.Request, body []byte, token string) {
	req, model, gbody, ok := h.anthropicTranslate(w, r, body, anthropic.DecodeRequest, anthropic.ToGemini)
	if !ok {
		return
	}
	// The pool's settings (safety settings, default thinking budgets) apply
	// as on the other routes.
	gbody, err := gemini.ApplyFeatures(gbody, h.Balancer.Features(h.Balancer.Resolve(r.Context(), model)))
	if err != nil {
		writeAnthropicError(w, err)
		return
	}
	opts := anthropic.ResponseOptions{ID: "msg_" + randomHex(12), Model: req.Model}
	call := generateCall("anthropic.messages", model, token, gbody, req.Stream)
	if h.Balancer.Settings().Models.RetryEmpty {
		call.Accept = gemini.HasContent
	}
	out, _, fail := h.do(w, r, call, nil)
	if fail != nil {
		anthropicDialect.writeFailure(w, fail)
		return
	}
	if !req.Stream {
		raw, ok := readWhole(w, r, out, anthropicDialect)
		if !ok {
			return
		}
		answer, err := anthropic.FromGemini(raw, opts)
		if err != nil {
			writeAnthropicError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, answer)
		return
	}
	h.anthropicStream(w, r, out, anthropic.NewStream(opts))
}

// anthropicPingEvery is how long an Anthropic stream may stay silent (a
// model thinking) before a ping event keeps it alive through proxies that
// cut idle connections.
var anthropicPingEvery = 10 * time.Second

// anthropicStream translates a Gemini SSE stream into Anthropic's events,
// one upstream event at a time. A ping follows the first events, as
// Anthropic sends one, and another every anthropicPingEvery of silence; a
// failure midway ends the stream with an error event.
func (h *Handler) anthropicStream(w http.ResponseWriter, r *http.Request, out *balancer.Outcome, st *anthropic.Stream) {
	sse := startSSE(w)
	// Writes come from this goroutine and from the keep-alive timer.
	var mu sync.Mutex
	var keepAlive *time.Timer
	done := false
	defer func() {
		mu.Lock()
		done = true
		if keepAlive != nil {
			keepAlive.Stop()
		}
		mu.Unlock()
	}()
	// Anthropic's events come framed ("event: …\ndata: …\n\n").
	writeLocked := func(events ...[]byte) error {
		for _, e := range events {
			if _, err := sse.w.Write(e); err != nil {
				return err
			}
		}
		if keepAlive != nil {
			keepAlive.Reset(anthropicPingEvery)
		}
		return sse.rc.Flush()
	}
	write := func(events ...[]byte) error {
		mu.Lock()
		defer mu.Unlock()
		return writeLocked(events...)
	}
	ping := func() {
		mu.Lock()
		defer mu.Unlock()
		if !done {
			_ = writeLocked(anthropic.Ping())
		}
	}
	var usage gemini.Usage
	var event []byte
	for {
		var err error
		event, err = gemini.AppendEvent(event[:0], out.Body)
		out.Touch()
		if err != nil && err != io.EOF {
			status, msg := http.StatusBadGateway, "upstream stream interrupted: "+redactRelayErr(out, err)
			if out.TimedOut() {
				status, msg = http.StatusGatewayTimeout, "upstream stream stalled past the timeout"
			}
			_ = write(anthropic.ErrorEvent(status, msg))
			out.Finish(err, r.Context().Err(), usage)
			return
		}
		if data := gemini.EventData(event); len(bytes.TrimSpace(data)) > 0 {
			if u, ok := gemini.FindUsage(data); ok {
				usage = u
			}
			events, terr := st.Event(data)
			if terr != nil {
				_ = write(append(events, anthropic.ErrorEvent(http.StatusBadGateway, terr.Error()))...)
				out.Finish(terr, r.Context().Err(), usage)
				return
			}
			first := len(events) > 0 && keepAlive == nil
			if first {
				events = append(events, anthropic.Ping())
			}
			if werr := write(events...); werr != nil {
				out.Finish(werr, r.Context().Err(), usage)
				return
			}
			if first {
				// message_start is out: pings may follow from now on.
				mu.Lock()
				keepAlive = time.AfterFunc(anthropicPingEvery, ping)
				mu.Unlock()
			}
		}
		if err == io.EOF {
			break
		}
	}
	out.Finish(write(st.Finish()...), r.Context().Err(), usage)
}

// anthropicFailure is a failure's body in Anthropic's shape.
func anthropicFailure(f *balancer.Failure) []byte {
	body := f.Body
	if f.Dialect == balancer.DialectOpenAI {
		body = fromopenai.Error(f.Status, f.Body)
	}
	out := anthropic.FromGoogleError(f.Status, body)
	if f.Note != "" {
		out = addToMessage(out, f.Note)
	}
	return out
}
