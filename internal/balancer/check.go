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
	results := make([]CheckResult, len(keys))
	sem := make(chan struct{}, checkConcurrency)
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			results[i] = b.checkKey(ctx, k)
		}()
	}
	wg.Wait()
	return results
}

func (b *Balancer) checkKey(ctx context.Context, k *keypool.Key) CheckResult {
	set := b.settings.Load()
	client := b.client.Load()
	res := CheckResult{KeyID: k.ID(), Masked: k.Masked()}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req := &upstream.Request{Method: http.MethodGet, Path: "/models/" + url.PathEscape(set.TestModel)}
	resp, err := client.Do(ctx, req, k.Secret())
	now := b.now()
	if err != nil {
		res.Reason = secret.RedactError(err, k.Secret())
		return res
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
	res.Status = resp.StatusCode
	v := failure.Classify(resp.StatusCode, resp.Header, raw, now)
	switch {
	case v.Action == failure.Success || resp.StatusCode == http.StatusNotFound || v.Action == failure.Cooldown:
		// A 404 is the test model's problem and a 429 proves the key is
		// recognised: the key itself is fine.
		res.Valid = true
		if k.Status() == keypool.Invalid {
			k.Reactivate("passed a key check")
			b.emitKey(store.EventChecked, k, "", time.Time{}, "passed a key check")
			b.logger.Info("key valid again", zap.String("pool", b.name), zap.String("key", k.Masked()))
		}
	case v.Action == failure.Invalid:
		res.Reason = v.Reason
		if k.Status() != keypool.Invalid {
			k.MarkInvalid(v.Reason, shortBody([]byte(secret.Redact(string(raw), k.Secret()))), now)
			b.emitKey(store.EventInvalid, k, "", time.Time{}, v.Reason)
		}
	case v.Action == failure.Failure:
		res.Reason = v.Reason
		if k.Status() != keypool.Invalid {
			if k.MarkFailure(v.Reason, shortBody([]byte(secret.Redact(string(raw), k.Secret()))), set.MaxFailures, now) {
				b.emitKey(store.EventInvalid, k, "", time.Time{}, v.Reason)
			}
		}
	default:
		res.Reason = v.Reason
	}
	return res
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
