package e2e

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/gemini-balance/gemini_balance/internal/failure"
	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
)

const genPath = "/v1beta/models/gemini-2.5-flash:generateContent"

func TestRateLimitedKeysRestPerModelAndAllCoolingGives429(t *testing.T) {
	e := newEnv(t)
	limited, daily, header, good := k("limited"), k("daily"), k("retryafter"), k("good")
	e.up.SetKey(limited, fakegemini.RateLimited)
	e.up.SetKey(daily, fakegemini.DailyQuota)
	e.up.SetKey(header, fakegemini.RetryAfterHeader)
	e.up.SetKey(good, fakegemini.OK)
	e.start(poolOpts{keys: []string{limited, daily, header, good}})
	c := e.genai()
	for i := 0; i < 5; i++ {
		if _, err := c.Models.GenerateContent(context.Background(), "gemini-2.5-flash", genai.Text("hi"), nil); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	used := e.up.KeysUsed()
	for _, key := range []string{limited, daily, header} {
		if n := count(used, key); n != 1 {
			t.Errorf("rate-limited key used %d times, want once then rest: %v", n, used)
		}
	}
	at := time.Now()
	check := func(key string, want time.Time, slack time.Duration) {
		t.Helper()
		kk := e.key(key)
		got := kk.CoolingUntil("gemini-2.5-flash", at)
		if got.Before(want.Add(-slack)) || got.After(want.Add(slack)) {
			t.Errorf("%s cooling until %v, want about %v", kk.Masked(), got, want)
		}
		if s := kk.Snapshot(at); s.Status != keypool.Active || s.ConsecutiveFailures != 0 || s.TotalFailures != 0 {
			t.Errorf("a 429 counted as a failure: %+v", s)
		}
		if !kk.CoolingUntil("gemini-2.5-pro", at).IsZero() {
			t.Errorf("%s rests for another model too", kk.Masked())
		}
	}
	check(limited, at.Add(17*time.Second), 3*time.Second)        // RetryInfo.retryDelay
	check(header, at.Add(120*time.Second), 3*time.Second)        // Retry-After
	check(daily, failure.NextPacificMidnight(at), 3*time.Second) // per-day quota
	if _, err := c.Models.GenerateContent(context.Background(), "gemini-2.5-pro", genai.Text("hi"), nil); err != nil {
		t.Fatalf("other model: %v", err)
	}

	// Now the last key is limited too: the client gets a 429 with the time
	// the first key returns.
	e.up.SetKey(good, fakegemini.RateLimited)
	e.up.Reset()
	status, h, body := e.do("POST", genPath, helloBody, authed...)
	if status != 429 {
		t.Fatalf("status %d %s", status, body)
	}
	ra, err := strconv.Atoi(h.Get("Retry-After"))
	if err != nil || ra < 10 || ra > 18 {
		t.Errorf("Retry-After %q, want the earliest return (about 17 s)", h.Get("Retry-After"))
	}
	if !strings.Contains(body, "cooling") || !strings.Contains(body, "RESOURCE_EXHAUSTED") {
		t.Errorf("body does not say all keys are cooling: %s", body)
	}
	// The SDK sees a 429 APIError.
	_, err = c.Models.GenerateContent(context.Background(), "gemini-2.5-flash", genai.Text("hi"), nil)
	var apiErr genai.APIError
	if !errors.As(err, &apiErr) || apiErr.Code != 429 {
		t.Errorf("SDK error %v, want a 429", err)
	}
	if n := len(e.up.Requests()); n != 1 {
		t.Errorf("%d upstream calls once every key rests; want 1 (only the last free key)", n)
	}
}

func TestInvalidationPolicyPerGoogleAnswer(t *testing.T) {
	cases := []struct {
		name        string
		behavior    fakegemini.Behavior
		wantStatus  keypool.Status
		wantFails   int
		clientSaw   int
		clientHint  string
		extraOption string
	}{
		{"expired key is invalid at once", fakegemini.Expired, keypool.Invalid, 0, 400, "API key expired", ""},
		{"suspended key is invalid at once", fakegemini.Suspended, keypool.Invalid, 0, 403, "suspended", ""},
		{"other 403 counts a failure", fakegemini.ServiceDisabled, keypool.Active, 1, 403, "PERMISSION_DENIED", ""},
		{"401 counts a failure", fakegemini.Unauthenticated, keypool.Active, 1, 401, "UNAUTHENTICATED", ""},
		{"referrer blocked says set referer", fakegemini.ReferrerBlocked, keypool.Active, 1, 403, "referer", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			bad := k("bad" + strings.ReplaceAll(c.name, " ", ""))
			e.up.SetKey(bad, c.behavior)
			e.start(poolOpts{keys: []string{bad}, extra: "max_failures 2"})
			status, _, body := e.do("POST", genPath, helloBody, authed...)
			if status != c.clientSaw || !strings.Contains(body, c.clientHint) {
				t.Fatalf("client got %d %s, want %d with %q", status, body, c.clientSaw, c.clientHint)
			}
			if strings.Contains(body, bad) {
				t.Fatalf("the key leaked to the client: %s", body)
			}
			s := e.key(bad).Snapshot(time.Now())
			if s.Status != c.wantStatus || s.ConsecutiveFailures != c.wantFails {
				t.Fatalf("key after one answer: %s with %d failures (%s), want %s with %d", s.Status, s.ConsecutiveFailures, s.Reason, c.wantStatus, c.wantFails)
			}
			if c.wantStatus == keypool.Active {
				// A second failure reaches max_failures 2.
				e.do("POST", genPath, helloBody, authed...)
				if st := e.key(bad).Status(); st != keypool.Invalid {
					t.Errorf("key not invalid at max_failures: %s", st)
				}
			}
		})
	}
}

func TestReferrerRestrictedKeyWorksWithReferer(t *testing.T) {
	e := newEnv(t)
	key := k("referrer")
	e.up.SetKey(key, fakegemini.ReferrerBlocked)
	e.up.AllowedReferer = "https://chat.example.com/"
	e.start(poolOpts{keys: []string{key}, extra: "referer https://chat.example.com/"})
	if status, _, body := e.do("POST", genPath, helloBody, authed...); status != 200 {
		t.Fatalf("%d %s", status, body)
	}
	if got := e.up.Requests()[0].Header.Get("Referer"); got != "https://chat.example.com/" {
		t.Errorf("upstream Referer %q", got)
	}
}

func TestRetryOnOtherKeysAndSuccessResetsFailures(t *testing.T) {
	e := newEnv(t)
	flaky, bad, good := k("flaky"), k("invalid"), k("fine")
	e.up.SetKey(flaky, fakegemini.ServiceDisabled)
	e.up.SetKey(bad, fakegemini.Invalid)
	e.up.SetKey(good, fakegemini.OK)
	e.start(poolOpts{keys: []string{flaky, bad, good}, extra: "max_failures 5"})
	for i := 0; i < 3; i++ {
		if status, _, body := e.do("POST", genPath, helloBody, authed...); status != 200 {
			t.Fatalf("call %d: %d %s", i, status, body)
		}
	}
	// Every request tried each key at most once.
	reqs := e.up.Requests()
	if len(reqs) > 3+1+1 { // good thrice, bad once, flaky at most... see below
		t.Logf("upstream calls: %v", e.up.KeysUsed())
	}
	if n := e.key(flaky).Snapshot(time.Now()).ConsecutiveFailures; n == 0 {
		t.Fatal("flaky key has no failure")
	}
	e.up.SetKey(flaky, fakegemini.OK)
	for i := 0; i < 3; i++ {
		e.do("POST", genPath, helloBody, authed...)
	}
	s := e.key(flaky).Snapshot(time.Now())
	if s.ConsecutiveFailures != 0 || s.TotalFailures == 0 {
		t.Errorf("after a success: consecutive %d total %d; want 0 and the history kept", s.ConsecutiveFailures, s.TotalFailures)
	}
}

func TestNeverTheSameKeyTwiceAndRetryLimit(t *testing.T) {
	e := newEnv(t)
	keys := []string{k("f1"), k("f2"), k("f3"), k("f4"), k("f5")}
	for _, key := range keys {
		e.up.SetKey(key, fakegemini.ServerError)
	}
	e.start(poolOpts{keys: keys, extra: "max_retries 2"})
	status, _, body := e.do("POST", genPath, helloBody, authed...)
	if status != 500 || !strings.Contains(body, "INTERNAL") {
		t.Fatalf("client got %d %s, want the upstream 500 and its body", status, body)
	}
	used := e.up.KeysUsed()
	if len(used) != 3 {
		t.Fatalf("%d attempts, want 1 + max_retries = 3: %v", len(used), used)
	}
	seen := map[string]bool{}
	for _, u := range used {
		if seen[u] {
			t.Fatalf("key tried twice in one request: %v", used)
		}
		seen[u] = true
	}
	for _, key := range keys {
		if s := e.key(key).Snapshot(time.Now()); s.ConsecutiveFailures != 0 || s.Status != keypool.Active {
			t.Errorf("a 5xx counted against the key: %+v", s)
		}
	}
	// 503 keeps its status too.
	for _, key := range keys {
		e.up.SetKey(key, fakegemini.Unavailable)
	}
	if status, _, body := e.do("POST", genPath, helloBody, authed...); status != 503 || !strings.Contains(body, "overloaded") {
		t.Errorf("503: got %d %s", status, body)
	}
}

func TestHangPastTimeoutGives504AndCostsNothing(t *testing.T) {
	e := newEnv(t)
	h1, h2 := k("hang1"), k("hang2")
	e.up.SetKey(h1, fakegemini.Hang)
	e.up.SetKey(h2, fakegemini.Hang)
	e.start(poolOpts{keys: []string{h1, h2}, extra: "timeout 300ms\n\t\tmax_retries 1"})
	start := time.Now()
	status, _, body := e.do("POST", genPath, helloBody, authed...)
	took := time.Since(start)
	if status != http.StatusGatewayTimeout || !strings.Contains(body, "did not answer within 300ms") {
		t.Fatalf("got %d %s, want 504 naming the timeout", status, body)
	}
	if took < 550*time.Millisecond || took > 3*time.Second {
		t.Errorf("took %v, want about two attempts of 300 ms", took)
	}
	for _, key := range []string{h1, h2} {
		if s := e.key(key).Snapshot(time.Now()); s.ConsecutiveFailures != 0 || s.Status != keypool.Active {
			t.Errorf("a timeout counted against the key: %+v", s)
		}
	}
}

func TestConnectionErrorGives502WithoutTheKey(t *testing.T) {
	e := newEnv(t)
	key := k("refused")
	e.start(poolOpts{keys: []string{key}, baseURL: "http://127.0.0.1:1/v1beta", extra: "max_retries 0"})
	status, h, body := e.do("POST", genPath, helloBody, authed...)
	if status != http.StatusBadGateway || !strings.Contains(body, "upstream request failed") {
		t.Fatalf("got %d %s", status, body)
	}
	if strings.Contains(body, key) || strings.Contains(strings.Join(h.Values("Content-Type"), ""), key) {
		t.Fatal("key leaked in a transport error")
	}
}

func TestEmptyAndAllInvalidPoolsGive503(t *testing.T) {
	e := newEnv(t)
	bad := k("allbad")
	e.up.SetKey(bad, fakegemini.Invalid)
	e.start(poolOpts{keys: []string{bad}})
	if status, _, body := e.do("POST", genPath, helloBody, authed...); status != 400 || !strings.Contains(body, "API_KEY_INVALID") {
		t.Fatalf("first call: %d %s, want Google's 400", status, body)
	}
	status, _, body := e.do("POST", genPath, helloBody, authed...)
	if status != 503 || !strings.Contains(body, "all 1 API keys of the pool are invalid") {
		t.Fatalf("all invalid: %d %s", status, body)
	}
	e2 := newEnv(t)
	e2.pool += "-empty"
	e2.start(poolOpts{keys: nil})
	status, _, body = e2.do("POST", genPath, helloBody, authed...)
	if status != 503 || !strings.Contains(body, "pool is empty") {
		t.Fatalf("empty: %d %s", status, body)
	}
}
