package failure

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// now is a fixed instant: Wednesday 2026-06-17 10:00:00 PDT.
var now = time.Date(2026, 6, 17, 17, 0, 0, 0, time.UTC)

func pacificLoc(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("America/Los_Angeles")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func TestClassifyPolicy(t *testing.T) {
	nextMidnight := time.Date(2026, 6, 18, 7, 0, 0, 0, time.UTC) // 00:00 PDT
	tests := []struct {
		name   string
		status int
		header http.Header
		body   string
		want   Verdict
	}{
		// 2xx: success.
		{"200", 200, nil, `{"candidates":[]}`, Verdict{Action: Success, Status: 200, Reason: "ok", Kind: "success"}},
		{"204", 204, nil, "", Verdict{Action: Success, Status: 204, Reason: "ok", Kind: "success"}},

		// 400 API_KEY_INVALID, key expired, 403 suspended: invalid at once.
		{"400 API_KEY_INVALID", 400, nil, bodyKeyInvalid, Verdict{Action: Invalid, Status: 400, Reason: "API key invalid", Kind: "invalid"}},
		{"400 key expired", 400, nil, bodyKeyExpired, Verdict{Action: Invalid, Status: 400, Reason: "API key expired", Kind: "invalid"}},
		{"400 key invalid, details stripped", 400, nil, bodyKeyInvalidNoDetails, Verdict{Action: Invalid, Status: 400, Reason: "API key invalid", Kind: "invalid"}},
		{"400 key invalid, array form", 400, nil, bodyKeyInvalidArray, Verdict{Action: Invalid, Status: 400, Reason: "API key invalid", Kind: "invalid"}},
		{"400 key invalid, truncated", 400, nil, bodyKeyInvalid[:300], Verdict{Action: Invalid, Status: 400, Reason: "API key invalid", Kind: "invalid"}},
		{"403 CONSUMER_SUSPENDED", 403, nil, bodySuspended, Verdict{Action: Invalid, Status: 403, Reason: "consumer suspended", Kind: "invalid"}},
		{"403 suspended, details stripped", 403, nil, bodySuspendedNoDetails, Verdict{Action: Invalid, Status: 403, Reason: "consumer suspended", Kind: "invalid"}},

		// Other 401 / 403: a failure.
		{"403 SERVICE_DISABLED", 403, nil, bodyServiceDisabled, Verdict{Action: Failure, Status: 403, Reason: "auth failed: upstream 403 PERMISSION_DENIED (SERVICE_DISABLED)", Kind: "auth"}},
		{"401 UNAUTHENTICATED", 401, nil, bodyUnauthenticated, Verdict{Action: Failure, Status: 401, Reason: "auth failed: upstream 401 UNAUTHENTICATED (ACCESS_TOKEN_TYPE_UNSUPPORTED)", Kind: "auth"}},
		// Any other 401 / 403 is the client's: it names a resource the key may not use.
		{"403 no body", 403, nil, "", Verdict{Action: ClientError, Status: 403, Reason: "client error: upstream 403", Kind: "client_error"}},
		{"403 foreign file", 403, nil, bodyForeignFile, Verdict{Action: ClientError, Status: 403, Reason: "client error: upstream 403 PERMISSION_DENIED", Kind: "client_error"}},
		{"403 foreign cachedContent", 403, nil, bodyForeignCache, Verdict{Action: ClientError, Status: 403, Reason: "client error: upstream 403 PERMISSION_DENIED", Kind: "client_error"}},
		{"403 caller has no permission", 403, nil, `{"error":{"code":403,"message":"The caller does not have permission","status":"PERMISSION_DENIED"}}`,
			Verdict{Action: ClientError, Status: 403, Reason: "client error: upstream 403 PERMISSION_DENIED", Kind: "client_error"}},
		{"401 without a key reason", 401, nil, `{"error":{"code":401,"message":"unauthorized","status":"UNAUTHENTICATED"}}`,
			Verdict{Action: ClientError, Status: 401, Reason: "client error: upstream 401 UNAUTHENTICATED", Kind: "client_error"}},
		{"403 unregistered callers", 403, nil, `{"error":{"code":403,"message":"Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.","status":"PERMISSION_DENIED"}}`,
			Verdict{Action: ClientError, Status: 403, Reason: "client error: upstream 403 PERMISSION_DENIED", Kind: "client_error"}},
		// Reasons and messages that name the key or its project count.
		{"403 API_KEY_SERVICE_BLOCKED", 403, nil, bodyServiceBlocked, Verdict{Action: Failure, Status: 403, Reason: "auth failed: upstream 403 PERMISSION_DENIED (API_KEY_SERVICE_BLOCKED)", Kind: "auth"}},
		{"403 ACCESS_TOKEN_SCOPE_INSUFFICIENT", 403, nil, reasonBody(403, "PERMISSION_DENIED", "Request had insufficient authentication scopes.", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"),
			Verdict{Action: Failure, Status: 403, Reason: "auth failed: upstream 403 PERMISSION_DENIED (ACCESS_TOKEN_SCOPE_INSUFFICIENT)", Kind: "auth"}},
		{"403 BILLING_DISABLED", 403, nil, reasonBody(403, "PERMISSION_DENIED", "This API method requires billing to be enabled.", "BILLING_DISABLED"),
			Verdict{Action: Failure, Status: 403, Reason: "auth failed: upstream 403 PERMISSION_DENIED (BILLING_DISABLED)", Kind: "auth"}},
		{"403 API_KEY_IP_ADDRESS_BLOCKED", 403, nil, reasonBody(403, "PERMISSION_DENIED", "The provided API key has an IP address restriction.", "API_KEY_IP_ADDRESS_BLOCKED"),
			Verdict{Action: Failure, Status: 403, Reason: "auth failed: upstream 403 PERMISSION_DENIED (API_KEY_IP_ADDRESS_BLOCKED)", Kind: "auth"}},
		{"400 API_KEY_EXPIRED reason", 400, nil, reasonBody(400, "INVALID_ARGUMENT", "API key expired. Please renew the API key.", "API_KEY_EXPIRED"),
			Verdict{Action: Invalid, Status: 400, Reason: "API key expired", Kind: "invalid"}},
		{"403 CONSUMER_INVALID", 403, nil, reasonBody(403, "PERMISSION_DENIED", "Permission denied: Consumer 'projects/1' has been deleted.", "CONSUMER_INVALID"),
			Verdict{Action: Invalid, Status: 403, Reason: "key unusable: upstream 403 PERMISSION_DENIED (CONSUMER_INVALID)", Kind: "invalid"}},
		{"403 service disabled, details stripped", 403, nil, `{"error":{"code":403,"message":"Generative Language API has not been used in project 1 before or it is disabled.","status":"PERMISSION_DENIED"}}`,
			Verdict{Action: Failure, Status: 403, Reason: "auth failed: upstream 403 PERMISSION_DENIED", Kind: "auth"}},
		{"403 referrer blocked, details stripped", 403, nil, `{"error":{"code":403,"message":"Requests from referer <empty> are blocked.","status":"PERMISSION_DENIED"}}`,
			Verdict{Action: Failure, Status: 403, Reason: "referrer blocked: set the `referer` option to a URL the key allows", Kind: "referrer_blocked", Hint: ReferrerHint}},

		// 403 referrer blocked: a failure, with the hint.
		{"403 API_KEY_HTTP_REFERRER_BLOCKED", 403, nil, bodyReferrerBlocked, Verdict{
			Action: Failure, Status: 403,
			Reason: "referrer blocked: set the `referer` option to a URL the key allows",
			Kind:   "referrer_blocked", Hint: ReferrerHint,
		}},

		// 429: cooldown, not a failure.
		{"429 per minute", 429, nil, bodyRateLimitedPerMinute, Verdict{
			Action: Cooldown, Status: 429, Until: now.Add(17 * time.Second),
			Reason: "rate limited: GenerateRequestsPerMinutePerProjectPerModel-FreeTier", Kind: "rate_limited",
		}},
		{"429 per day", 429, nil, bodyRateLimitedPerDay, Verdict{
			Action: Cooldown, Status: 429, Until: nextMidnight,
			Reason: "rate limited: per-day quota GenerateRequestsPerDayPerProjectPerModel-FreeTier", Kind: "quota_daily",
		}},
		{"429 no details, Retry-After", 429, http.Header{"Retry-After": {"30"}}, bodyResourceExhausted, Verdict{
			Action: Cooldown, Status: 429, Until: now.Add(30 * time.Second), Reason: "rate limited", Kind: "rate_limited",
		}},
		{"429 nothing said", 429, nil, bodyResourceExhausted, Verdict{
			Action: Cooldown, Status: 429, Until: now.Add(60 * time.Second), Reason: "rate limited", Kind: "rate_limited",
		}},

		// 5xx, timeouts: transient, no failure count.
		{"500", 500, nil, bodyInternal, Verdict{Action: Transient, Status: 500, Reason: "upstream 500", Kind: "upstream_5xx"}},
		{"503 overloaded", 503, nil, bodyOverloaded, Verdict{Action: Transient, Status: 503, Reason: "upstream 503", Kind: "upstream_5xx"}},
		{"504", 504, nil, bodyDeadline, Verdict{Action: Transient, Status: 504, Reason: "upstream 504", Kind: "upstream_5xx"}},
		{"502 HTML from a load balancer", 502, nil, "<html><body>502 Bad Gateway</body></html>", Verdict{Action: Transient, Status: 502, Reason: "upstream 502", Kind: "upstream_5xx"}},
		{"408", 408, nil, "", Verdict{Action: Transient, Status: 504, Reason: "upstream 408: request timeout", Kind: "timeout"}},

		// Other 4xx: the client's fault.
		{"404 unknown model", 404, nil, bodyModelNotFound, Verdict{Action: ClientError, Status: 404, Reason: "client error: upstream 404 NOT_FOUND", Kind: "client_error"}},
		{"400 bad request", 400, nil, bodyBadRequest, Verdict{Action: ClientError, Status: 400, Reason: "client error: upstream 400 INVALID_ARGUMENT", Kind: "client_error"}},
		{"400 location", 400, nil, bodyLocationUnsupported, Verdict{Action: ClientError, Status: 400, Reason: "client error: upstream 400 FAILED_PRECONDITION", Kind: "client_error"}},
		{"413", 413, nil, "", Verdict{Action: ClientError, Status: 413, Reason: "client error: upstream 413", Kind: "client_error"}},

		// Anything else: transient 502.
		{"302", 302, http.Header{"Location": {"https://accounts.google.com/"}}, "", Verdict{Action: Transient, Status: 502, Reason: "unexpected upstream status 302", Kind: "unexpected_status"}},
		{"101", 101, nil, "", Verdict{Action: Transient, Status: 502, Reason: "unexpected upstream status 101", Kind: "unexpected_status"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Classify(tt.status, tt.header, []byte(tt.body), now)
			if !got.Until.Equal(tt.want.Until) {
				t.Errorf("Until = %v, want %v", got.Until, tt.want.Until)
			}
			got.Until, tt.want.Until = time.Time{}, time.Time{}
			if got != tt.want {
				t.Errorf("Classify(%d):\n got %+v\nwant %+v", tt.status, got, tt.want)
			}
			if strings.Contains(got.Reason, testKey) {
				t.Errorf("Reason leaks the key: %q", got.Reason)
			}
			wantRetry := map[Action]bool{Invalid: true, Failure: true, Cooldown: true, Transient: true}[got.Action]
			if got.Action.Retry() != wantRetry {
				t.Errorf("%v.Retry() = %v", got.Action, got.Action.Retry())
			}
		})
	}
}

func TestActionString(t *testing.T) {
	want := []string{"success", "invalid", "failure", "cooldown", "transient", "client_error", "client_gone"}
	for a := Success; a <= ClientGone; a++ {
		if a.String() != want[a] {
			t.Errorf("Action(%d).String() = %q, want %q", int(a), a.String(), want[a])
		}
	}
	if got := Action(42).String(); got != "Action(42)" {
		t.Errorf("unknown action: %q", got)
	}
	for a, retry := range map[Action]bool{
		Success: false, Invalid: true, Failure: true, Cooldown: true,
		Transient: true, ClientError: false, ClientGone: false, Action(-1): false,
	} {
		if a.Retry() != retry {
			t.Errorf("%v.Retry() = %v, want %v", a, a.Retry(), retry)
		}
	}
}

func TestParseGoogleError(t *testing.T) {
	g, ok := ParseGoogleError([]byte(bodyRateLimitedPerMinute))
	if !ok {
		t.Fatal("not parsed")
	}
	if g.Code != 429 || g.Status != "RESOURCE_EXHAUSTED" || len(g.Details) != 3 ||
		!strings.HasPrefix(g.Message, "You exceeded your current quota") {
		t.Fatalf("parsed wrong: %+v", g)
	}
	if ids := g.QuotaIDs(); !slices.Equal(ids, []string{"GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}) {
		t.Errorf("QuotaIDs = %q", ids)
	}
	if d, ok := g.RetryDelay(); !ok || d != 17*time.Second {
		t.Errorf("RetryDelay = %v, %v", d, ok)
	}
	if r := g.Reasons(); len(r) != 0 {
		t.Errorf("Reasons = %q, want none", r)
	}

	arr, ok := ParseGoogleError([]byte(bodyKeyInvalidArray))
	if !ok || arr.Code != 400 || arr.Status != "INVALID_ARGUMENT" || !slices.Equal(arr.Reasons(), []string{"API_KEY_INVALID"}) {
		t.Fatalf("array form: %+v, %v", arr, ok)
	}
	if _, ok := arr.RetryDelay(); ok {
		t.Error("RetryDelay found in a body without RetryInfo")
	}

	sus, _ := ParseGoogleError([]byte(bodySuspended))
	if !slices.Equal(sus.Reasons(), []string{"CONSUMER_SUSPENDED"}) {
		t.Errorf("Reasons = %q", sus.Reasons())
	}

	// An OpenAI-style error with a string code still parses.
	oa, ok := ParseGoogleError([]byte(`[{"error":{"code":"invalid_api_key","message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}]`))
	if !ok || oa.Code != 0 || oa.Status != "INVALID_ARGUMENT" {
		t.Errorf("string code: %+v, %v", oa, ok)
	}

	for _, bad := range []string{
		"", "   ", "null", "[]", "{}", `{"candidates":[]}`, `[{"candidates":[]}]`,
		"<html>502 Bad Gateway</html>", bodyKeyInvalid[:120], `{"error": "quota"}`,
	} {
		if g, ok := ParseGoogleError([]byte(bad)); ok {
			t.Errorf("ParseGoogleError(%q) = %+v, true", bad, g)
		}
	}

	var nilErr *GoogleError
	if nilErr.Reasons() != nil || nilErr.QuotaIDs() != nil {
		t.Error("nil GoogleError has reasons")
	}
	if _, ok := nilErr.RetryDelay(); ok {
		t.Error("nil GoogleError has a retry delay")
	}
}

func TestRetryDelayForms(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"17s", 17 * time.Second, true},
		{"1.5s", 1500 * time.Millisecond, true},
		{"0.250s", 250 * time.Millisecond, true},
		{"45.837906927s", 45*time.Second + 837906927*time.Nanosecond, true},
		{"0s", 0, true},
		{"3600s", time.Hour, true},
		{"17", 0, false},
		{"1m", 0, false},
		{"-5s", 0, false},
		{"s", 0, false},
		{".5s", 0, false},
		{"1.0000000001s", 0, false},
		{"1e3s", 0, false},
		{"99999999999999999999s", 0, false},
	}
	for _, tt := range tests {
		body := fmt.Sprintf(`{"error":{"code":429,"status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":%q}]}}`, tt.in)
		g, ok := ParseGoogleError([]byte(body))
		if !ok {
			t.Fatalf("%q: not parsed", tt.in)
		}
		d, ok := g.RetryDelay()
		if d != tt.want || ok != tt.ok {
			t.Errorf("RetryDelay(%q) = %v, %v; want %v, %v", tt.in, d, ok, tt.want, tt.ok)
		}
	}
}

func TestCooldownUntil(t *testing.T) {
	parse := func(body string) *GoogleError {
		g, ok := ParseGoogleError([]byte(body))
		if !ok {
			t.Fatalf("not parsed: %s", body)
		}
		return g
	}
	retryInfo := func(d string) *GoogleError {
		return parse(`{"error":{"code":429,"details":[{"@type":"type.googleapis.com/google.rpc.RetryInfo","retryDelay":"` + d + `"}]}}`)
	}
	hdr := func(v string) http.Header { return http.Header{"Retry-After": {v}} }

	tests := []struct {
		name   string
		header http.Header
		g      *GoogleError
		want   time.Time
	}{
		{"retryDelay", nil, parse(bodyRateLimitedPerMinute), now.Add(17 * time.Second)},
		{"retryDelay fractional", nil, retryInfo("1.5s"), now.Add(1500 * time.Millisecond)},
		{"retryDelay wins over Retry-After", hdr("120"), retryInfo("5s"), now.Add(5 * time.Second)},
		{"retryDelay below 1s clamps", nil, retryInfo("0.250s"), now.Add(time.Second)},
		{"retryDelay 0s clamps", nil, retryInfo("0s"), now.Add(time.Second)},
		{"retryDelay above 25h clamps", nil, retryInfo("200000s"), now.Add(25 * time.Hour)},
		{"malformed retryDelay falls to Retry-After", hdr("9"), retryInfo("soon"), now.Add(9 * time.Second)},
		{"per-day quota beats retryDelay", hdr("5"), parse(bodyRateLimitedPerDay), time.Date(2026, 6, 18, 7, 0, 0, 0, time.UTC)},
		{"Retry-After seconds", hdr("42"), nil, now.Add(42 * time.Second)},
		{"Retry-After seconds, padded", hdr(" 7 "), parse(bodyResourceExhausted), now.Add(7 * time.Second)},
		{"Retry-After 0", hdr("0"), nil, now.Add(time.Second)},
		{"Retry-After huge", hdr("99999999999999999999999"), nil, now.Add(25 * time.Hour)},
		{"Retry-After HTTP date", hdr(now.Add(90 * time.Second).Format(http.TimeFormat)), nil, now.Add(90 * time.Second)},
		{"Retry-After HTTP date in the past", hdr(now.Add(-time.Hour).Format(http.TimeFormat)), nil, now.Add(time.Second)},
		{"Retry-After RFC 850 date", hdr("Wednesday, 17-Jun-26 17:05:00 GMT"), nil, now.Add(5 * time.Minute)},
		{"Retry-After garbage", hdr("later"), nil, now.Add(60 * time.Second)},
		{"nothing", nil, nil, now.Add(60 * time.Second)},
		{"no details", nil, parse(bodyResourceExhausted), now.Add(60 * time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CooldownUntil(tt.header, tt.g, now); !got.Equal(tt.want) {
				t.Errorf("CooldownUntil = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestNextPacificMidnight(t *testing.T) {
	la := pacificLoc(t)
	tests := []struct {
		name string
		now  time.Time
		want time.Time // in UTC
		gap  time.Duration
	}{
		{
			name: "summer afternoon",
			now:  time.Date(2026, 6, 17, 15, 30, 0, 0, la),
			want: time.Date(2026, 6, 18, 7, 0, 0, 0, time.UTC),
		},
		{
			name: "winter, just before midnight",
			now:  time.Date(2026, 1, 10, 23, 59, 59, 0, la),
			want: time.Date(2026, 1, 11, 8, 0, 0, 0, time.UTC),
			gap:  time.Second,
		},
		{
			name: "exactly midnight gives the next one",
			now:  time.Date(2026, 1, 10, 0, 0, 0, 0, la),
			want: time.Date(2026, 1, 11, 8, 0, 0, 0, time.UTC),
			gap:  24 * time.Hour,
		},
		{
			// 2026-03-08 is the second Sunday of March: at 02:00 PST clocks
			// jump to 03:00 PDT, so that day is 23 hours long.
			name: "March, the day DST starts",
			now:  time.Date(2026, 3, 8, 0, 0, 0, 0, la),
			want: time.Date(2026, 3, 9, 7, 0, 0, 0, time.UTC),
			gap:  23 * time.Hour,
		},
		{
			name: "March, the evening before DST starts",
			now:  time.Date(2026, 3, 7, 20, 0, 0, 0, la),
			want: time.Date(2026, 3, 8, 8, 0, 0, 0, time.UTC),
			gap:  4 * time.Hour,
		},
		{
			// 2026-11-01 is the first Sunday of November: at 02:00 PDT
			// clocks fall back to 01:00 PST, so that day is 25 hours long.
			name: "November, the day DST ends",
			now:  time.Date(2026, 11, 1, 0, 0, 0, 0, la),
			want: time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC),
			gap:  25 * time.Hour,
		},
		{
			name: "November, in the repeated hour",
			now:  time.Date(2026, 11, 1, 8, 30, 0, 0, time.UTC), // 01:30 PDT
			want: time.Date(2026, 11, 2, 8, 0, 0, 0, time.UTC),
			gap:  23*time.Hour + 30*time.Minute,
		},
		{
			name: "now given in another zone",
			now:  time.Date(2026, 6, 18, 6, 59, 0, 0, time.UTC), // 23:59 PDT
			want: time.Date(2026, 6, 18, 7, 0, 0, 0, time.UTC),
			gap:  time.Minute,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := NextPacificMidnight(tt.now)
			if !got.Equal(tt.want) {
				t.Fatalf("NextPacificMidnight(%v) = %v (%v), want %v", tt.now, got, got.UTC(), tt.want)
			}
			if h, m, s := got.In(la).Clock(); h != 0 || m != 0 || s != 0 {
				t.Fatalf("not midnight in Los Angeles: %v", got.In(la))
			}
			if tt.gap != 0 && got.Sub(tt.now) != tt.gap {
				t.Fatalf("%v until midnight, want %v", got.Sub(tt.now), tt.gap)
			}
		})
	}

	// The 25-hour day is not cut by the 25 h clamp.
	start := time.Date(2026, 11, 1, 0, 0, 0, 0, la)
	g, _ := ParseGoogleError([]byte(bodyRateLimitedPerDay))
	if got := CooldownUntil(nil, g, start); got.Sub(start) != 25*time.Hour {
		t.Fatalf("daily cooldown on the 25 h day = %v", got.Sub(start))
	}
}

func TestClassifyError(t *testing.T) {
	u := "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent?key=" + testKey
	refused := &url.Error{Op: "Post", URL: u, Err: &net.OpError{
		Op: "dial", Net: "tcp",
		Addr: &net.TCPAddr{IP: net.IPv4(142, 250, 74, 10), Port: 443},
		Err:  &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED},
	}}
	// What http.Client returns when Client.Timeout strikes.
	clientTimeout := &url.Error{Op: "Post", URL: u, Err: timeoutError{"net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)"}}
	dialTimeout := &url.Error{Op: "Post", URL: u, Err: &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}}

	tests := []struct {
		name      string
		err       error
		ctxErr    error
		action    Action
		status    int
		kind      string
		reasonHas string
	}{
		{"client cancelled", context.Canceled, context.Canceled, ClientGone, 499, "client_gone", "client went away"},
		{"client cancelled, transport says otherwise", refused, context.Canceled, ClientGone, 499, "client_gone", "client went away"},
		{"client cancelled with cause", &url.Error{Op: "Post", URL: u, Err: errors.New("client disconnected")}, fmt.Errorf("wrapped: %w", context.Canceled), ClientGone, 499, "client_gone", "client went away"},
		{"deadline exceeded", context.DeadlineExceeded, nil, Transient, 504, "timeout", "timeout: context deadline exceeded"},
		{"client deadline", &url.Error{Op: "Post", URL: u, Err: context.DeadlineExceeded}, context.DeadlineExceeded, Transient, 504, "timeout", "timeout"},
		{"url.Error wrapping a timeout", clientTimeout, nil, Transient, 504, "timeout", "Client.Timeout exceeded"},
		{"dial i/o timeout", dialTimeout, nil, Transient, 504, "timeout", "i/o timeout"},
		{"attempt timeout", fmt.Errorf("attempt 3: %w", ErrAttemptTimeout), nil, Transient, 504, "timeout", "upstream attempt timed out"},
		{"dial refused", refused, nil, Transient, 502, "connection", "connect: connection refused"},
		{"net.OpError bare", refused.Err, nil, Transient, 502, "connection", "dial tcp 142.250.74.10:443: connect: connection refused"},
		{"body read cut", io.ErrUnexpectedEOF, nil, Transient, 502, "connection", "unexpected EOF"},
		{"our own cancel, client still there", context.Canceled, nil, Transient, 502, "connection", "context canceled"},
		{"nil error", nil, nil, Transient, 502, "connection", "unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := ClassifyError(tt.err, tt.ctxErr)
			if v.Action != tt.action || v.Status != tt.status || v.Kind != tt.kind {
				t.Fatalf("ClassifyError = %+v; want %v %d %q", v, tt.action, tt.status, tt.kind)
			}
			if !strings.Contains(v.Reason, tt.reasonHas) {
				t.Fatalf("Reason %q lacks %q", v.Reason, tt.reasonHas)
			}
			if strings.Contains(v.Reason, testKey) {
				t.Fatalf("Reason leaks the key: %q", v.Reason)
			}
		})
	}
}

type timeoutError struct{ msg string }

func (e timeoutError) Error() string   { return e.msg }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }

// TestClassifyErrorReal runs real requests, so the errors are exactly those
// net/http produces.
func TestClassifyErrorReal(t *testing.T) {
	done := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	}))
	defer slow.Close()
	defer close(done)
	target := slow.URL + "/v1beta/models/gemini-2.5-flash:generateContent?key=" + testKey

	do := func(ctx context.Context, c *http.Client, u string) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader("{}"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatal("request succeeded")
		}
		return err
	}

	t.Run("http.Client.Timeout", func(t *testing.T) {
		err := do(context.Background(), &http.Client{Timeout: 50 * time.Millisecond}, target)
		v := ClassifyError(err, nil)
		t.Log(v.Reason)
		if v.Action != Transient || v.Status != 504 || v.Kind != "timeout" || strings.Contains(v.Reason, testKey) {
			t.Fatalf("%v -> %+v", err, v)
		}
	})

	t.Run("attempt timeout as context cause", func(t *testing.T) {
		client := context.Background()
		ctx, cancel := context.WithTimeoutCause(client, 50*time.Millisecond, ErrAttemptTimeout)
		defer cancel()
		err := do(ctx, http.DefaultClient, target)
		if !errors.Is(err, ErrAttemptTimeout) {
			t.Errorf("net/http did not report the context's cause: %v", err)
		}
		v := ClassifyError(err, client.Err())
		t.Log(v.Reason)
		if v.Action != Transient || v.Status != 504 || v.Kind != "timeout" {
			t.Fatalf("%v -> %+v", err, v)
		}
	})

	t.Run("client cancels", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		err := do(ctx, http.DefaultClient, target)
		v := ClassifyError(err, ctx.Err())
		if v.Action != ClientGone || v.Status != 499 || v.Action.Retry() {
			t.Fatalf("%v -> %+v", err, v)
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		err = do(context.Background(), http.DefaultClient, "http://"+addr+"/v1beta/models?key="+testKey)
		v := ClassifyError(err, nil)
		t.Log(v.Reason)
		if v.Action != Transient || v.Status != 502 || v.Kind != "connection" || strings.Contains(v.Reason, testKey) {
			t.Fatalf("%v -> %+v", err, v)
		}
	})
}

func BenchmarkClassify429(b *testing.B) {
	body := []byte(bodyRateLimitedPerMinute)
	b.ReportAllocs()
	for b.Loop() {
		v := Classify(429, nil, body, now)
		if v.Action != Cooldown {
			b.Fatal(v)
		}
	}
}

func BenchmarkClassifySuccess(b *testing.B) {
	h := http.Header{"Content-Type": {"application/json; charset=UTF-8"}}
	body := []byte(`{"candidates":[{"content":{"parts":[{"text":"Hi"}],"role":"model"},"finishReason":"STOP"}]}`)
	b.ReportAllocs()
	for b.Loop() {
		v := Classify(200, h, body, now)
		if v.Action != Success {
			b.Fatal(v)
		}
	}
}
