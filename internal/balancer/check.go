package balancer

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/gemini-balance/gemini_balance/internal/failure"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/provider"
	"github.com/gemini-balance/gemini_balance/internal/secret"
	"github.com/gemini-balance/gemini_balance/internal/store"
	"github.com/gemini-balance/gemini_balance/internal/upstream"
)

// checkConcurrency bounds how many keys are probed at once.
const checkConcurrency = 8

// CheckResult is the outcome of probing one key.
type CheckResult struct {
	KeyID  string `json:"key_id"`
	Masked string `json:"key"`
	Valid  bool   `json:"valid"`
	Status int    `json:"status"`
	Reason string `json:"reason,omitempty"`
}

// probeKeys probes keys with a cheap call (GET of the test model, which costs
// no quota). A key that passes returns to active; a key that fails for a key
// reason is marked as the failure policy says; other answers (404 for the
// test model, 5xx, timeouts) say nothing about the key and change nothing.
func (b *Balancer) probeKeys(ctx context.Context, keys []*keypool.Key) []CheckResult {
	return probeEach(keys, func(k *keypool.Key) CheckResult { return b.checkKey(ctx, k) })
}

// probeEach runs probe on every key, checkConcurrency at a time, and
// returns the results in the keys' order.
func probeEach[T any](keys []*keypool.Key, probe func(*keypool.Key) T) []T {
	results := make([]T, len(keys))
	sem := make(chan struct{}, checkConcurrency)
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = probe(k)
		}()
	}
	wg.Wait()
	return results
}

func (b *Balancer) checkKey(ctx context.Context, k *keypool.Key) CheckResult {
	return b.probe(ctx, k).CheckResult
}

// Probe is one key's answer to the provider's cheapest call, in full: what
// a connection test shows.
type Probe struct {
	CheckResult
	// Body is the upstream's answer as it came (at most 64 KiB), with
	// keys redacted.
	Body      string `json:"body"`
	LatencyMs int64  `json:"latency_ms"`
	// Verdict is the failure policy's reading: success, invalid, failure,
	// cooldown, transient or client_error.
	Verdict string `json:"verdict"`
}

// probeRequest is the provider's cheapest call that proves a key: a GET of
// the test model on Gemini (no quota), countTokens on Vertex AI express
// (which serves only model methods), the model list on OpenAI-compatible
// APIs.
func (b *Balancer) probeRequest(set *Settings) *upstream.Request {
	switch b.Provider() {
	case provider.OpenAI:
		return &upstream.Request{Method: http.MethodGet, Path: "/models", Bearer: true}
	case provider.VertexExpress:
		p, _ := provider.VertexExpress.ModelPath(b.MapModel(set.TestModel), "countTokens")
		return &upstream.Request{Method: http.MethodPost, Path: p, Header: http.Header{"Content-Type": {"application/json"}},
			Body: []byte(`{"contents":[{"role":"user","parts":[{"text":"ping"}]}]}`)}
	}
	return &upstream.Request{Method: http.MethodGet, Path: "/models/" + url.PathEscape(b.MapModel(set.TestModel))}
}

// probe sends the provider's cheapest call with k. A key that passes
// returns to active; a key that fails for a key reason is marked as the
// failure policy says; other answers (404 for the test model, 5xx,
// timeouts) say nothing about the key and change nothing.
func (b *Balancer) probe(ctx context.Context, k *keypool.Key) Probe {
	set := b.settings.Load()
	client := b.client.Load()
	res := Probe{CheckResult: CheckResult{KeyID: k.ID(), Masked: k.Masked()}}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	start := time.Now()
	resp, err := client.Do(ctx, b.probeRequest(set), k.Secret())
	now := b.now()
	if err != nil {
		res.LatencyMs = time.Since(start).Milliseconds()
		res.Reason = secret.RedactError(err, k.Secret())
		res.Verdict = failure.Transient.String()
		return res
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	res.LatencyMs = time.Since(start).Milliseconds()
	res.Status = resp.StatusCode
	res.Body = string(b.redactBody(raw, k.Secret()))
	v := failure.Verdict{Action: failure.Success}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		v = b.classify(resp.StatusCode, resp.Header, raw, now)
	}
	res.Verdict = v.Action.String()
	detail := func() string { return shortBody([]byte(res.Body)) }
	switch {
	case v.Action == failure.Success || resp.StatusCode == http.StatusNotFound || v.Action == failure.Cooldown:
		// A 404 is the test model's problem and a 429 proves the key is
		// recognised: the key itself is fine.
		res.Valid = true
		res.Reason = v.Reason
		if k.Status() == keypool.Invalid {
			k.Reactivate("passed a key check")
			b.emitKey(store.EventChecked, k, "", time.Time{}, "passed a key check")
			b.logger.Info("key valid again", zap.String("pool", b.name), zap.String("key", k.Masked()))
		}
	case v.Action == failure.Invalid:
		res.Reason = v.Reason
		if k.Status() != keypool.Invalid {
			k.MarkInvalid(v.Reason, detail(), now)
			b.emitKey(store.EventInvalid, k, "", time.Time{}, v.Reason)
		}
	case v.Action == failure.Failure:
		res.Reason = v.Reason
		if k.Status() != keypool.Invalid {
			if k.MarkFailure(v.Reason, detail(), set.MaxFailures, now) {
				b.emitKey(store.EventInvalid, k, "", time.Time{}, v.Reason)
			}
		}
	default:
		res.Reason = v.Reason
	}
	return res
}

// MaxTestedKeys is how many keys a connection test of a whole pool probes.
const MaxTestedKeys = 10

// TestConnection probes the keys named by refs (full, ID or masked forms),
// or without refs up to MaxTestedKeys of the pool's keys, active ones
// first, and answers each key's upstream status, body, latency and
// verdict. Key state changes as a key check's would.
func (b *Balancer) TestConnection(ctx context.Context, refs []string) (results []Probe, unknown []string, total int) {
	var keys []*keypool.Key
	if len(refs) > 0 {
		keys, unknown = b.selectKeys(refs, nil)
	} else {
		now := b.now()
		all := b.ring.Keys()
		total = len(all)
		for _, pass := range []bool{true, false} {
			for _, k := range all {
				if len(keys) == MaxTestedKeys {
					break
				}
				if (k.Condition(now) == "active") == pass {
					keys = append(keys, k)
				}
			}
		}
	}
	if total == 0 {
		total = len(keys)
	}
	return probeEach(keys, func(k *keypool.Key) Probe { return b.probe(ctx, k) }), unknown, total
}

// InvalidKeys lists the keys currently invalid.
func (b *Balancer) InvalidKeys() []*keypool.Key {
	var out []*keypool.Key
	for _, k := range b.ring.Keys() {
		if k.Status() == keypool.Invalid {
			out = append(out, k)
		}
	}
	return out
}

// checkLoop re-checks invalid keys every check_interval.
func (b *Balancer) checkLoop() {
	defer b.wg.Done()
	for {
		interval := b.settings.Load().CheckInterval
		var tick <-chan time.Time
		var t *time.Timer
		if interval > 0 {
			t = time.NewTimer(interval)
			tick = t.C
		}
		fired := false
		select {
		case <-b.stop:
		case <-b.checkKick: // settings changed: re-read the interval
		case <-tick:
			fired = true
		}
		if t != nil {
			t.Stop()
		}
		if b.closed() {
			return
		}
		if !fired {
			continue
		}
		invalid := b.InvalidKeys()
		if len(invalid) == 0 {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			select {
			case <-b.stop:
				cancel()
			case <-ctx.Done():
			}
		}()
		res := b.probeKeys(ctx, invalid)
		cancel()
		back := 0
		for _, r := range res {
			if r.Valid {
				back++
			}
		}
		b.logger.Info("re-checked invalid keys", zap.String("pool", b.name), zap.Int("checked", len(res)), zap.Int("valid_again", back))
	}
}

// kickChecker makes the check loop re-read its interval.
func (b *Balancer) kickChecker() {
	select {
	case b.checkKick <- struct{}{}:
	default:
	}
}
