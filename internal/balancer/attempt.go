package balancer

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/gemini-balance/gemini_balance/internal/failure"
	"github.com/gemini-balance/gemini_balance/internal/gemini"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/metrics"
	"github.com/gemini-balance/gemini_balance/internal/provider"
	"github.com/gemini-balance/gemini_balance/internal/readall"
	"github.com/gemini-balance/gemini_balance/internal/secret"
	"github.com/gemini-balance/gemini_balance/internal/store"
	"github.com/gemini-balance/gemini_balance/internal/upstream"
)

// maxErrorBody bounds how much of an upstream error answer is read.
const maxErrorBody = 64 << 10

// Call is one client request to send upstream over the pool.
type Call struct {
	Route       string // for logs, e.g. "gemini.generateContent"
	Model       string // cooldowns are per model; "" for model-less calls
	Stream      bool
	ClientToken string // masked, for logs
	Request     upstream.Request
	// Accept, when set, judges a 2xx answer: the whole body of a plain
	// answer, or each SSE event of a stream until one is accepted. An answer
	// never accepted counts as empty: it is retried on another key and costs
	// the key nothing.
	Accept func(body []byte) bool
	// FixedKey sends the call with this key only (e.g. a paid key), outside
	// the pool's rotation and health.
	FixedKey *keypool.Key
	// OwnerKey sends the call with this pool key only: the key that owns a
	// file, cached content, batch or operation the call names (Resource).
	// Unlike FixedKey it respects the key's state: an invalid key, or one
	// cooling for Model, answers a Failure that names the resource; there is
	// one attempt, classified and logged as usual.
	OwnerKey *keypool.Key
	Resource string
	// Convert, when set, turns a 2xx answer into the form the caller reads
	// (an OpenAI-compatible provider's answer into Gemini's). It runs
	// before Accept, may replace resp.Body and must set resp.ContentLength
	// to what the new body holds (-1 when unknown). An error is the
	// upstream's fault: the attempt is retried on another key.
	Convert func(resp *http.Response) error
}

// Outcome is a successful attempt whose answer the caller now relays. The
// caller must call Finish exactly once.
type Outcome struct {
	Resp    *http.Response
	Body    *bufio.Reader // the answer's body (the first byte already arrived for streams); valid until Finish
	Whole   []byte        // the whole plain answer when Call.Accept has read it already (Body replays it), else nil
	Key     *keypool.Key
	Attempt int

	b       *Balancer
	call    *Call
	attempt *attemptTimer
	start   time.Time
	reader  *bufio.Reader // pooled reader behind Body, returned by Finish
}

// Stream reports whether the call asked for a streamed answer.
func (o *Outcome) Stream() bool { return o.call.Stream }

// Touch restarts the attempt's idle timer; stream relays call it after each read.
func (o *Outcome) Touch() { o.attempt.touch() }

// TimedOut reports whether the attempt's timer cut the answer.
func (o *Outcome) TimedOut() bool { return o.attempt.timedOut.Load() }

// Finish records the attempt: relayErr is nil when the whole answer reached
// the client; usage is the token count when known.
func (o *Outcome) Finish(relayErr error, clientCtxErr error, usage gemini.Usage) {
	o.attempt.release()
	o.Resp.Body.Close()
	putBodyReader(o.reader, o.call.Stream)
	o.reader, o.Body = nil, nil
	status := o.Resp.StatusCode
	if relayErr != nil {
		v := failure.ClassifyError(relayErr, clientCtxErr)
		if o.TimedOut() {
			v = timeoutVerdict(o.b.Client().Timeout())
		}
		status = v.Status
		if v.Action != failure.ClientGone {
			o.b.logError(o.call, o.Key, v, nil, "answer interrupted: "+secret.RedactError(relayErr, o.Key.Secret()))
		}
	}
	o.b.logRequest(o.call, o.Key, status, o.start, o.Attempt, usage)
	o.b.metrics.Duration(time.Since(o.start))
}

// Failure is the answer for a client when no attempt succeeded.
type Failure struct {
	Status     int
	Header     http.Header // e.g. Retry-After, Content-Type
	Body       []byte      // Google-shaped JSON, keys redacted
	Kind       string      // failure.Verdict.Kind or "no_key"
	ClientGone bool        // the client left: write nothing
	// Dialect is the shape of Body: DialectGemini ("" too) or, for an
	// OpenAI-compatible provider's own answer, DialectOpenAI.
	Dialect string
	// Pool is the pool whose attempts ended in this failure.
	Pool string
	// FallsBack says the pool could not serve the request (no usable key,
	// or attempts that ended in key failures, 429, 5xx, timeouts or
	// connection errors), so a fallback pool may; a client error never does.
	FallsBack bool
	// Note, when set, is added to the message: what earlier pools of a
	// fallback chain answered.
	Note string
	// Attempts is how many upstream attempts were sent (in all pools of a
	// fallback chain, once the chain is done).
	Attempts int
}

// Message is the error message inside Body.
func (f *Failure) Message() string {
	if f.Dialect == DialectOpenAI {
		if msg, _, _, ok := failure.ParseOpenAIError(f.Body); ok {
			return msg
		}
	}
	if g, ok := failure.ParseGoogleError(f.Body); ok {
		return g.Message
	}
	return string(f.Body)
}

// attemptTimer cancels an attempt after the timeout; streams restart it on
// every read so it bounds the silence, not the length, of an answer.
type attemptTimer struct {
	ctx      context.Context
	cancel   context.CancelFunc
	timer    *time.Timer
	timeout  time.Duration
	timedOut atomic.Bool
}

func newAttemptTimer(parent context.Context, timeout time.Duration) *attemptTimer {
	ctx, cancel := context.WithCancel(parent)
	a := &attemptTimer{ctx: ctx, cancel: cancel, timeout: timeout}
	if timeout > 0 {
		a.timer = time.AfterFunc(timeout, func() { a.timedOut.Store(true); cancel() })
	}
	return a
}

func (a *attemptTimer) touch() {
	if a.timer != nil && !a.timedOut.Load() {
		a.timer.Reset(a.timeout)
	}
}

func (a *attemptTimer) release() {
	if a.timer != nil {
		a.timer.Stop()
	}
	a.cancel()
}

func timeoutVerdict(d time.Duration) failure.Verdict {
	return failure.Verdict{Action: failure.Transient, Status: http.StatusGatewayTimeout, Kind: "timeout",
		Reason: fmt.Sprintf("upstream did not answer within %s", d)}
}

// lastAttempt is what the most recent failed attempt left behind.
type lastAttempt struct {
	key     *keypool.Key
	verdict failure.Verdict
	header  http.Header
	body    []byte // redacted
	errText string // redacted transport error
}

// Do sends call over the pool under the failure policy: up to 1+max_retries
// attempts, never the same key twice, and a retry only where the policy
// allows. It returns either a successful attempt to relay or the answer to
// give the client.
func (b *Balancer) Do(ctx context.Context, call *Call) (*Outcome, *Failure) {
	out, f, attempts := b.attempts(ctx, call)
	if f != nil {
		f.Attempts = attempts
	}
	return out, f
}

// attempts is Do's loop; it also says how many attempts were sent.
func (b *Balancer) attempts(ctx context.Context, call *Call) (*Outcome, *Failure, int) {
	set := b.settings.Load()
	client := b.client.Load()
	maxAttempts := 1 + set.MaxRetries
	var triedBuf [8]*keypool.Key
	tried := triedBuf[:0]
	var last *lastAttempt
	if call.FixedKey != nil || call.OwnerKey != nil || call.Request.BodyReader != nil {
		// A streamed body can be read once: it is never retried.
		maxAttempts = 1
	}
	if call.OwnerKey != nil {
		if f := b.ownerUnavailable(call); f != nil {
			return nil, f, 0
		}
	}
	for attempt := 1; attempt <= maxAttempts; attempt++ {
		now := b.now()
		k := call.FixedKey
		if call.OwnerKey != nil {
			k = call.OwnerKey
		}
		if k == nil {
			var err error
			if k, err = b.ring.Pick(call.Model, now, tried); err != nil {
				return nil, b.noKeyFailure(err, last, call.Model), len(tried)
			}
		}
		tried = append(tried, k)
		start := time.Now()
		at := newAttemptTimer(ctx, client.Timeout())
		resp, err := client.Do(at.ctx, &call.Request, k.Secret())
		var v failure.Verdict
		la := &lastAttempt{key: k}
		switch {
		case err != nil:
			at.release()
			v = b.errorVerdict(err, ctx, at, client)
			la.errText = secret.RedactError(err, k.Secret())
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			if call.Convert != nil && convertAnswer(call, resp, &v, la, k) != nil {
				at.release() // v says why
				break
			}
			reader := getBodyReader(resp.Body, call.Stream)
			body := reader
			var whole []byte
			var perr error
			switch {
			case call.Accept != nil:
				body, whole, perr = acceptAnswer(body, resp.Body, resp.ContentLength, call)
			case call.Stream:
				// Wait for the first byte so a stream that fails before
				// anything reaches the client is retried on another key.
				if _, perr = body.Peek(1); perr == io.EOF {
					perr = nil
				}
			}
			if perr != nil {
				resp.Body.Close()
				putBodyReader(reader, call.Stream)
				at.release()
				if perr == errEmptyAnswer {
					v = failure.Verdict{Action: failure.Transient, Status: http.StatusBadGateway, Kind: "empty",
						Reason: "upstream answered with no content"}
					la.errText = v.Reason
				} else {
					v = b.errorVerdict(perr, ctx, at, client)
					la.errText = secret.RedactError(perr, k.Secret())
				}
				break
			}
			k.MarkSuccess(now)
			b.metrics.Attempt(metrics.Success, attempt)
			b.metrics.FirstByte(time.Since(start))
			return &Outcome{Resp: resp, Body: body, Whole: whole, Key: k, Attempt: attempt, b: b, call: call, attempt: at, start: start, reader: reader}, nil, attempt
		default:
			raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
			resp.Body.Close()
			at.release()
			v = b.classify(resp.StatusCode, resp.Header, raw, now)
			la.header = resp.Header
			la.body = b.redactBody(raw, k.Secret())
		}
		la.verdict = v
		last = la
		b.applyVerdict(call, k, v, la, now)
		if v.Action != failure.ClientGone {
			b.logRequest(call, k, v.Status, start, attempt, gemini.Usage{})
			b.metrics.Attempt(outcomeOf(v), attempt)
			b.metrics.Duration(time.Since(start))
		}
		if !v.Action.Retry() {
			break
		}
	}
	// The attempts ran out on a 429 that left every key of the pool
	// resting: say so, with the earliest return, as when no key is left.
	if last != nil && last.verdict.Action == failure.Cooldown && call.FixedKey == nil && call.OwnerKey == nil {
		if at := b.ring.EarliestReturn(call.Model, b.now()); !at.IsZero() {
			return nil, b.noKeyFailure(&keypool.NoKeyError{Reason: keypool.AllCooling, Model: call.Model, RetryAt: at, Total: b.ring.Len()}, last, call.Model), len(tried)
		}
	}
	return nil, b.lastFailure(last, call.Model), len(tried)
}

// outcomeOf is an attempt's outcome as the metrics name it.
func outcomeOf(v failure.Verdict) string {
	switch v.Action {
	case failure.Success:
		return metrics.Success
	case failure.ClientError:
		return metrics.ClientError
	case failure.Cooldown:
		return metrics.Cooldown
	case failure.Invalid, failure.Failure:
		return metrics.Invalid
	}
	switch v.Kind {
	case failure.KindTimeout:
		return metrics.Timeout
	case failure.KindConnection:
		return metrics.Connection
	}
	return metrics.Transient
}

// convertAnswer runs call.Convert on a 2xx answer; when it fails, the
// answer is closed and v and la say why (a transient upstream fault).
func convertAnswer(call *Call, resp *http.Response, v *failure.Verdict, la *lastAttempt, k *keypool.Key) error {
	err := call.Convert(resp)
	if err != nil {
		resp.Body.Close()
		*v = failure.Verdict{Action: failure.Transient, Status: http.StatusBadGateway, Kind: "bad_answer",
			Reason: "upstream answer could not be translated"}
		la.errText = "upstream answer could not be translated: " + secret.RedactError(err, k.Secret())
	}
	return err
}

// Read buffers: a stream holds its buffer for its whole life, so it is kept
// small (events are read line by line and may be longer than the buffer:
// 512 B instead of 1 KiB saves 2.5 MiB per 5,000 open streams, for a few more
// reads per event); a plain answer is copied in large reads. Both are
// pooled: a fresh 32 KiB buffer per request was most of the bytes allocated
// on the hot path.
const (
	streamBufferSize = 512
	plainBufferSize  = 32 << 10
)

var bodyReaders = [2]sync.Pool{
	{New: func() any { return bufio.NewReaderSize(nil, plainBufferSize) }},
	{New: func() any { return bufio.NewReaderSize(nil, streamBufferSize) }},
}

func bodyReaderPool(stream bool) *sync.Pool {
	if stream {
		return &bodyReaders[1]
	}
	return &bodyReaders[0]
}

func getBodyReader(r io.Reader, stream bool) *bufio.Reader {
	br := bodyReaderPool(stream).Get().(*bufio.Reader)
	br.Reset(r)
	return br
}

func putBodyReader(br *bufio.Reader, stream bool) {
	if br == nil {
		return
	}
	br.Reset(nil)
	bodyReaderPool(stream).Put(br)
}

// errEmptyAnswer marks a 2xx answer that Call.Accept never accepted.
var errEmptyAnswer = errors.New("empty answer")

// maxAcceptBuffer bounds what is held back while judging an answer.
const maxAcceptBuffer = 64 << 20

// acceptAnswer reads ahead until call.Accept accepts the answer and returns a
// reader that replays what was read followed by the rest. body reads raw.
func acceptAnswer(body *bufio.Reader, raw io.Reader, length int64, call *Call) (*bufio.Reader, []byte, error) {
	if !call.Stream {
		raw, err := readall.Sized(io.LimitReader(body, maxAcceptBuffer), length, maxAcceptBuffer)
		if err != nil {
			return nil, nil, err
		}
		if !call.Accept(raw) {
			return nil, nil, errEmptyAnswer
		}
		// The answer has been read to its end: the same (pooled) reader now
		// replays it.
		body.Reset(bytes.NewReader(raw))
		return body, raw, nil
	}
	var held []byte
	for len(held) < maxAcceptBuffer {
		event, err := gemini.ReadEvent(body)
		held = append(held, event...)
		if len(bytes.TrimSpace(event)) > 0 && call.Accept(event) {
			return replayHeld(body, held, raw), nil, nil
		}
		if err == io.EOF {
			return nil, nil, errEmptyAnswer
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return replayHeld(body, held, raw), nil, nil
}

// replayHeld makes the (pooled) reader replay held, then what it had
// buffered past it, then the rest of raw: a second buffered reader on top
// would be held for the stream's whole life.
func replayHeld(body *bufio.Reader, held []byte, raw io.Reader) *bufio.Reader {
	buffered, _ := body.Peek(body.Buffered())
	held = append(held, buffered...)
	body.Reset(io.MultiReader(bytes.NewReader(held), raw))
	return body
}

func (b *Balancer) errorVerdict(err error, ctx context.Context, at *attemptTimer, client *upstream.Client) failure.Verdict {
	if at.timedOut.Load() && ctx.Err() == nil {
		return timeoutVerdict(client.Timeout())
	}
	return failure.ClassifyError(err, ctx.Err())
}

// applyVerdict updates the key's health and logs what happened.
func (b *Balancer) applyVerdict(call *Call, k *keypool.Key, v failure.Verdict, la *lastAttempt, now time.Time) {
	detail := la.errText
	if detail == "" {
		detail = shortBody(la.body)
	}
	switch v.Action {
	case failure.Invalid:
		k.MarkInvalid(v.Reason, detail, now)
		b.emitKey(store.EventInvalid, k, "", time.Time{}, v.Reason)
		b.logger.Warn("key invalid", zap.String("pool", b.name), zap.String("key", k.Masked()), zap.String("reason", v.Reason))
	case failure.Failure:
		if k.MarkFailure(v.Reason, detail, b.settings.Load().MaxFailures, now) {
			b.emitKey(store.EventInvalid, k, "", time.Time{}, v.Reason)
			b.logger.Warn("key invalid after repeated failures", zap.String("pool", b.name), zap.String("key", k.Masked()), zap.String("reason", v.Reason))
		}
	case failure.Cooldown:
		k.CoolDown(call.Model, v.Until, v.Reason, detail, now)
		b.emitKey(store.EventCooldown, k, call.Model, v.Until, v.Reason)
		b.logger.Info("key cooling", zap.String("pool", b.name), zap.String("key", k.Masked()),
			zap.String("model", call.Model), zap.Time("until", v.Until))
	case failure.ClientGone:
		return
	default:
		k.MarkUsed(now)
	}
	if v.Action != failure.Success {
		b.logError(call, k, v, la.body, detail)
	}
}

func shortBody(b []byte) string {
	if g, ok := failure.ParseGoogleError(b); ok && g.Message != "" {
		return g.Message
	}
	if len(b) > 300 {
		return string(b[:300])
	}
	return string(b)
}

// noKeyFailure answers when the pool has no key left to try.
func (b *Balancer) noKeyFailure(err error, last *lastAttempt, model string) *Failure {
	var nk *keypool.NoKeyError
	if !errors.As(err, &nk) {
		return b.ownFailure(http.StatusServiceUnavailable, "no_key", err.Error(), nil)
	}
	switch {
	case nk.Reason == keypool.AllCooling:
		h := http.Header{}
		h.Set("Retry-After", retryAfter(nk.RetryAt, b.now()))
		f := b.ownFailure(http.StatusTooManyRequests, "all_cooling", nk.Error(), h)
		f.FallsBack = true
		return f
	case last != nil:
		return b.lastFailure(last, model)
	default:
		f := b.ownFailure(http.StatusServiceUnavailable, "no_key", nk.Error(), nil)
		f.FallsBack = true
		return f
	}
}

// lastFailure turns the last failed attempt into the client's answer.
func (b *Balancer) lastFailure(last *lastAttempt, model string) *Failure {
	v := last.verdict
	if v.Action == failure.ClientGone {
		return &Failure{Status: v.Status, Kind: v.Kind, ClientGone: true}
	}
	f := &Failure{Status: v.Status, Kind: v.Kind, Header: http.Header{}, Pool: b.name, FallsBack: v.Action != failure.ClientError}
	if last.body != nil {
		f.Body = last.body
		if b.Provider() == provider.OpenAI {
			f.Dialect = DialectOpenAI
		}
		if ct := last.header.Get("Content-Type"); ct != "" {
			f.Header.Set("Content-Type", ct)
		}
		if v.Hint != "" && f.Dialect != DialectOpenAI {
			f.Body = appendHint(f.Body, v.Hint)
		}
	} else {
		msg := v.Reason
		if last.errText != "" {
			msg = "upstream request failed: " + last.errText
			if v.Kind == "timeout" {
				msg = v.Reason
			}
		}
		f.Body = gemini.ErrorBody(v.Status, msg)
		f.Header.Set("Content-Type", "application/json; charset=UTF-8")
	}
	if v.Action == failure.Cooldown {
		f.Header.Set("Retry-After", retryAfter(last.key.CoolingUntil(model, b.now()), b.now()))
	}
	return f
}

func (b *Balancer) ownFailure(status int, kind, msg string, h http.Header) *Failure {
	if h == nil {
		h = http.Header{}
	}
	h.Set("Content-Type", "application/json; charset=UTF-8")
	return &Failure{Status: status, Kind: kind, Header: h, Body: gemini.ErrorBody(status, msg), Pool: b.name}
}

// appendHint adds a hint to a Google error's message, keeping everything else.
func appendHint(body []byte, hint string) []byte {
	var doc map[string]any
	if json.Unmarshal(body, &doc) != nil {
		return body
	}
	e, ok := doc["error"].(map[string]any)
	if !ok {
		return body
	}
	msg, _ := e["message"].(string)
	e["message"] = msg + " (" + hint + ")"
	out, err := json.Marshal(doc)
	if err != nil {
		return body
	}
	return out
}

// retryAfter is the Retry-After value, in whole seconds (at least 1), until t.
func retryAfter(t, now time.Time) string {
	s := math.Ceil(t.Sub(now).Seconds())
	if s < 1 {
		s = 1
	}
	return strconv.Itoa(int(s))
}

func (b *Balancer) logRequest(call *Call, k *keypool.Key, status int, start time.Time, attempt int, u gemini.Usage) {
	if b.store == nil {
		return
	}
	b.store.LogRequest(store.RequestLog{
		Time: start, Pool: b.name, Model: call.Model, KeyID: k.ID(), KeyMasked: k.Masked(), Status: status,
		LatencyMs: time.Since(start).Milliseconds(), Attempt: attempt, Stream: call.Stream, Route: call.Route,
		ClientToken: call.ClientToken, PromptTokens: u.PromptTokenCount, CompletionTokens: u.CandidatesTokenCount,
		TotalTokens: u.TotalTokenCount,
	})
}

func (b *Balancer) logError(call *Call, k *keypool.Key, v failure.Verdict, body []byte, msg string) {
	b.logger.Debug("upstream attempt failed", zap.String("pool", b.name), zap.String("key", k.Masked()),
		zap.String("model", call.Model), zap.Int("status", v.Status), zap.String("kind", v.Kind), zap.String("detail", msg))
	if b.store == nil {
		return
	}
	if len(body) == 0 {
		body = []byte(msg)
	}
	e := store.ErrorLog{
		Time: b.now(), Pool: b.name, Model: call.Model, KeyID: k.ID(), KeyMasked: k.Masked(), Status: v.Status,
		Kind: v.Kind, Message: v.Reason, Body: string(body),
	}
	if b.settings.Load().RecordRequestBody {
		e.RequestBody = string(call.Request.Body)
	}
	b.store.LogError(e)
}
