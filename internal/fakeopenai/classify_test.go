package fakeopenai

import (
	"io"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/failure"
)

// Each error behavior, as it comes off the wire, gets the verdict the
// openai pool's policy gives it.
func TestBehaviorsClassified(t *testing.T) {
	s := newServer(t)
	want := map[Behavior]struct {
		action failure.Action
		kind   string
		until  time.Duration
	}{
		OK:                  {failure.Success, failure.KindSuccess, 0},
		Invalid:             {failure.Invalid, failure.KindInvalid, 0},
		RateLimited:         {failure.Cooldown, failure.KindRateLimited, 20 * time.Second}, // Retry-After: 20
		InsufficientQuota:   {failure.Invalid, failure.KindQuotaExhausted, 0},
		InsufficientBalance: {failure.Invalid, failure.KindQuotaExhausted, 0},
		ServerError:         {failure.Transient, failure.KindUpstream5xx, 0},
		Unavailable:         {failure.Transient, failure.KindUpstream5xx, 0},
	}
	now := time.Now()
	for b, w := range want {
		key := "sk-" + b.String()
		s.SetKey(key, b)
		resp := post(t, s.URL+"/chat/completions", key, `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"x"}]}`)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != b.Status() {
			t.Errorf("%v: status %d, want %d", b, resp.StatusCode, b.Status())
		}
		v := failure.ClassifyOpenAI(resp.StatusCode, resp.Header, body, now)
		if v.Action != w.action || v.Kind != w.kind {
			t.Errorf("%v: %v/%s (%s), want %v/%s", b, v.Action, v.Kind, v.Reason, w.action, w.kind)
		}
		if w.until != 0 && v.Until.Sub(now) != w.until {
			t.Errorf("%v: until now+%v, want now+%v", b, v.Until.Sub(now), w.until)
		}
	}
	// A request for an unknown model is the client's.
	s.SetKey("sk-ok", OK)
	resp := post(t, s.URL+"/chat/completions", "sk-ok", `{"model":"gpt-9","messages":[{"role":"user","content":"x"}]}`)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if v := failure.ClassifyOpenAI(resp.StatusCode, resp.Header, body, now); v.Action != failure.ClientError || v.Status != 404 {
		t.Errorf("unknown model: %+v", v)
	}
}
