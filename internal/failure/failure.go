// Package failure classifies the outcome of one upstream attempt against the
// Google Gemini API, deciding what happens to the API key that was used and
// whether the request may be retried on another key.
//
// The policy (DESIGN §5):
//
//	upstream answer                        key                                   retry  client gets, when no attempt succeeds
//	2xx                                    success                               -      the response
//	4xx naming a dead key: API_KEY_INVALID, Invalid at once                       yes    last upstream status and body
//	  API_KEY_EXPIRED, CONSUMER_SUSPENDED...
//	401/403 naming the key or its project  Failure +1; invalid at max_failures   yes    same
//	  (SERVICE_DISABLED, API_KEY_*_BLOCKED,
//	  ACCESS_TOKEN_SCOPE_INSUFFICIENT...)
//	403 API_KEY_HTTP_REFERRER_BLOCKED      Failure +1, hint: set `referer`       yes    same, with that hint
//	429                                    Cooldown for that model until         yes    429 with Retry-After of the earliest
//	                                         CooldownUntil; not a failure                 key's return
//	5xx, timeout, connection error         Transient: no failure count           yes    502 / 503 / 504 with the upstream error
//	any other 4xx, other 401/403 included  ClientError: the client's fault       no     upstream status and body as is
//	  (a file or cache the key may not use)
//	client went away                       ClientGone: nothing                   no     -
//
// A 401 or 403 counts against a key only when Google says it concerns the
// key or its project (KeyReasons, or the documented messages for keys): any
// other 403 is about something the request names, such as a file or a
// cachedContent another key owns, and a client holding a token must not be
// able to take healthy keys out of rotation with it.
//
// Bodies Google sends for a suspended key carry the key itself (in the
// message and in ErrorInfo metadata); pass them through secret.Redact before
// showing them to a client or a log.
package failure

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/secret"
)

// Action is what to do after one upstream attempt.
type Action int

const (
	// Success: the upstream answered 2xx.
	Success Action = iota
	// Invalid: mark the key invalid now; retry on another key.
	Invalid
	// Failure: count a failure on the key (invalid at max_failures); retry.
	Failure
	// Cooldown: rest the key for this model until Verdict.Until; not a
	// failure; retry.
	Cooldown
	// Transient: upstream or transport trouble; no key change; retry.
	Transient
	// ClientError: the request's own fault; no key change; no retry; pass
	// the upstream status and body through.
	ClientError
	// ClientGone: the client cancelled; nothing to do; no retry.
	ClientGone
)

var actionNames = [...]string{
	Success:     "success",
	Invalid:     "invalid",
	Failure:     "failure",
	Cooldown:    "cooldown",
	Transient:   "transient",
	ClientError: "client_error",
	ClientGone:  "client_gone",
}

// String returns the action's lower-case name, e.g. "cooldown".
func (a Action) String() string {
	if a >= 0 && int(a) < len(actionNames) {
		return actionNames[a]
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Retry reports whether the request may be tried again on another key:
// true for Invalid, Failure, Cooldown and Transient.
func (a Action) Retry() bool {
	switch a {
	case Invalid, Failure, Cooldown, Transient:
		return true
	}
	return false
}

// Kinds: short machine-readable names for Verdict.Kind.
const (
	KindSuccess          = "success"
	KindInvalid          = "invalid"
	KindAuth             = "auth"
	KindReferrerBlocked  = "referrer_blocked"
	KindRateLimited      = "rate_limited"
	KindQuotaDaily       = "quota_daily"
	KindUpstream5xx      = "upstream_5xx"
	KindTimeout          = "timeout"
	KindConnection       = "connection"
	KindClientError      = "client_error"
	KindClientGone       = "client_gone"
	KindUnexpectedStatus = "unexpected_status" // 1xx/3xx or out-of-range status
)

// StatusClientClosedRequest is the status recorded when the client went
// away (nginx's 499; nothing is sent).
const StatusClientClosedRequest = 499

// ReferrerHint is the text added to the client's message when a key only
// accepts requests from certain HTTP referrers.
const ReferrerHint = "this API key only accepts requests from allowed HTTP referrers; set the `referer` option to a URL the key allows"

// Verdict is the classification of one attempt.
type Verdict struct {
	Action Action
	// Status is what the client should get if this is the last attempt: the
	// upstream status, 502 for connection errors, 504 for timeouts, 499 for
	// ClientGone.
	Status int
	// Reason is a short human reason for logs and the console. It never
	// contains an API key.
	Reason string
	// Kind is a short machine kind, one of the Kind constants.
	Kind string
	// Until is when the key may serve this model again (Cooldown only).
	Until time.Time
	// Hint is text to add to the client's message (referrer blocked only).
	Hint string
}

// Google ErrorInfo reasons (google.api.ErrorReason) that concern the key
// itself or the project it belongs to.
const (
	reasonKeyInvalid      = "API_KEY_INVALID"
	reasonKeyExpired      = "API_KEY_EXPIRED"
	reasonSuspended       = "CONSUMER_SUSPENDED"
	reasonReferrerBlocked = "API_KEY_HTTP_REFERRER_BLOCKED"
)

// deadKeyReasons make a key invalid at once: it will not work again until
// someone changes it (re-checks bring it back if they do).
var deadKeyReasons = []string{reasonKeyInvalid, reasonKeyExpired, reasonSuspended, "CONSUMER_INVALID", "GCP_SUSPENDED"}

// keyFaultReasons count a failure against the key: its restrictions, its
// project's API or billing state, or its credential type.
var keyFaultReasons = []string{
	reasonReferrerBlocked, "API_KEY_SERVICE_BLOCKED", "API_KEY_IP_ADDRESS_BLOCKED",
	"API_KEY_ANDROID_APP_BLOCKED", "API_KEY_IOS_APP_BLOCKED",
	"SERVICE_DISABLED", "BILLING_DISABLED", "USER_PROJECT_DENIED", "SERVICE_NOT_VISIBLE",
	"ACCESS_TOKEN_SCOPE_INSUFFICIENT", "ACCESS_TOKEN_TYPE_UNSUPPORTED", "ACCESS_TOKEN_EXPIRED", "CREDENTIALS_MISSING",
}

// KeyReasons lists every ErrorInfo reason that counts against a key: the
// first ones make it invalid at once, the others count as a failure.
func KeyReasons() (invalid, failure []string) {
	return append([]string(nil), deadKeyReasons...), append([]string(nil), keyFaultReasons...)
}

// keyFaultMessages are the lower-cased fragments of Google's documented
// messages for key and project problems, for bodies whose details a relay
// stripped.
var keyFaultMessages = []string{
	"has not been used in project", // SERVICE_DISABLED
	"billing to be enabled",        // BILLING_DISABLED
	"requests to this api",         // API_KEY_SERVICE_BLOCKED: "Requests to this API ... are blocked."
	"requests from this",           // API_KEY_{IP_ADDRESS,ANDROID_APP,IOS_APP}_BLOCKED
	"request had invalid authentication credentials",
	"request had insufficient authentication scopes",
}

// Classify classifies an HTTP answer from the upstream. body is the error
// body, possibly truncated (callers read at most 64 KiB of it); it is not
// looked at for 2xx and 5xx. now is the current time, injected for tests.
//
// Detection:
//   - 2xx: Success.
//   - a 4xx with a dead-key ErrorInfo reason (API_KEY_INVALID,
//     API_KEY_EXPIRED, CONSUMER_SUSPENDED, CONSUMER_INVALID,
//     GCP_SUSPENDED): Invalid. So is a 400 whose message says "API key not
//     valid" / "API key expired" / "API key not found", or a 403 whose
//     message says "has been suspended", without details (relays strip them).
//   - a 403 with reason API_KEY_HTTP_REFERRER_BLOCKED (or the message
//     "Requests from referer"): Failure, with ReferrerHint.
//   - a 401 or 403 with another reason that names the key or its project
//     (keyFaultReasons) or its documented message: Failure.
//   - any other 401 or 403 (PERMISSION_DENIED on a file, cachedContent,
//     tuned model, batch or corpus; no body): ClientError.
//   - 429: Cooldown until CooldownUntil.
//   - 5xx: Transient with the upstream status.
//   - 408: Transient 504 (an upstream timeout).
//   - any other 4xx: ClientError with the upstream status.
//   - anything else (1xx, 3xx): Transient 502.
//
// When the body is not a parsable Google error (truncated, or HTML from a
// relay), the known reasons and messages are looked for in its raw text.
func Classify(status int, header http.Header, body []byte, now time.Time) Verdict {
	if v, done := classifyStatus(status); done {
		return v
	}

	// 4xx: read what Google says.
	q, sum, parsed := parseQuick(body)
	var msg, gstatus string
	if parsed {
		msg, gstatus = q.Message, q.Status
	} else {
		sum.reasons = rawReasons(body)
		msg = string(body[:min(len(body), 4096)])
	}
	has := func(set ...string) bool {
		for _, x := range sum.reasons {
			if slices.Contains(set, x) {
				return true
			}
		}
		return false
	}
	lmsg := strings.ToLower(msg)
	auth := status == http.StatusUnauthorized || status == http.StatusForbidden

	switch {
	case has(reasonKeyInvalid, reasonKeyExpired) ||
		status == http.StatusBadRequest && (strings.Contains(lmsg, "api key not valid") ||
			strings.Contains(lmsg, "api key expired") ||
			strings.Contains(lmsg, "api key not found")):
		reason := "API key invalid"
		if has(reasonKeyExpired) || strings.Contains(lmsg, "expired") {
			reason = "API key expired"
		}
		return Verdict{Action: Invalid, Status: status, Reason: reason, Kind: KindInvalid}

	case has(deadKeyReasons...) || status == http.StatusForbidden && strings.Contains(lmsg, "has been suspended"):
		reason := "consumer suspended"
		if !has(reasonSuspended) && !strings.Contains(lmsg, "has been suspended") {
			reason = "key unusable: " + describe(status, gstatus, sum)
		}
		return Verdict{Action: Invalid, Status: status, Reason: reason, Kind: KindInvalid}

	case status == http.StatusForbidden && (has(reasonReferrerBlocked) || strings.HasPrefix(lmsg, "requests from referer")):
		return Verdict{
			Action: Failure, Status: status,
			Reason: "referrer blocked: set the `referer` option to a URL the key allows",
			Kind:   KindReferrerBlocked,
			Hint:   ReferrerHint,
		}

	case auth && (has(keyFaultReasons...) || containsAny(lmsg, keyFaultMessages)):
		return Verdict{Action: Failure, Status: status, Reason: "auth failed: " + describe(status, gstatus, sum), Kind: KindAuth}

	case status == http.StatusTooManyRequests:
		until, daily := cooldownUntil(header, sum, now)
		v := Verdict{Action: Cooldown, Status: status, Until: until, Kind: KindRateLimited}
		switch {
		case daily != "":
			v.Kind = KindQuotaDaily
			v.Reason = "rate limited: per-day quota " + daily
		case len(sum.quotaIDs) > 0:
			v.Reason = "rate limited: " + sum.quotaIDs[0]
		default:
			v.Reason = "rate limited"
		}
		return v
	}

	return Verdict{Action: ClientError, Status: status, Reason: "client error: " + describe(status, gstatus, sum), Kind: KindClientError}
}

func containsAny(s string, fragments []string) bool {
	for _, f := range fragments {
		if strings.Contains(s, f) {
			return true
		}
	}
	return false
}

// describe names an error by status, Google status and reasons, never by
// message (Google's messages may quote the API key).
func describe(status int, gstatus string, s summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "upstream %d", status)
	if gstatus != "" {
		b.WriteString(" " + gstatus)
	}
	if len(s.reasons) > 0 {
		b.WriteString(" (" + strings.Join(s.reasons, ", ") + ")")
	}
	return b.String()
}

// rawReasons finds the known ErrorInfo reasons in a body that could not be
// parsed, such as a truncated one.
func rawReasons(body []byte) []string {
	var rs []string
	for _, list := range [][]string{deadKeyReasons, keyFaultReasons} {
		for _, r := range list {
			if bytes.Contains(body, []byte(`"`+r+`"`)) {
				rs = append(rs, r)
			}
		}
	}
	return rs
}

// ErrAttemptTimeout marks an attempt that ran out of its own time budget.
// Give it as the cause of the attempt's context, e.g.
//
//	ctx, cancel := context.WithTimeoutCause(r.Context(), d, failure.ErrAttemptTimeout)
//
// (net/http reports the context's cause), or wrap it into the error passed
// to ClassifyError; either way the attempt is classified as a timeout.
var ErrAttemptTimeout = errors.New("upstream attempt timed out")

// ClassifyError classifies a transport error from http.Client.Do or from
// reading the response body. clientCtxErr is the Err() of the client
// request's context, which tells a client that went away from a timeout:
//
//   - clientCtxErr is context.Canceled: ClientGone (499), whatever err is;
//   - err (or clientCtxErr) is a deadline: context.DeadlineExceeded, a
//     net.Error whose Timeout() is true (http.Client.Timeout, dial, TLS
//     handshake and i/o timeouts), or ErrAttemptTimeout: Transient 504
//     "timeout";
//   - anything else, including a context.Canceled while the client is still
//     there (the attempt was cancelled by us): Transient 502 "connection".
//
// The Reason holds the error text with API keys redacted.
func ClassifyError(err error, clientCtxErr error) Verdict {
	if errors.Is(clientCtxErr, context.Canceled) {
		return Verdict{Action: ClientGone, Status: StatusClientClosedRequest, Reason: "client went away", Kind: KindClientGone}
	}
	text := "unknown error"
	if err != nil {
		text = errorText(err)
	}
	if isTimeout(err) || isTimeout(clientCtxErr) {
		return Verdict{Action: Transient, Status: http.StatusGatewayTimeout, Reason: "timeout: " + text, Kind: KindTimeout}
	}
	return Verdict{Action: Transient, Status: http.StatusBadGateway, Reason: "connection: " + text, Kind: KindConnection}
}

func isTimeout(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrAttemptTimeout) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// errorText describes err without the request URL (which holds the key as
// a query parameter) when it is a *url.Error, and redacted in any case.
func errorText(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err != nil {
		err = ue.Err
	}
	return secret.RedactError(err)
}

// classifyStatus decides the statuses every provider treats alike: success,
// 5xx, 408 and anything outside 4xx. done is false for the other 4xx, which
// each provider reads from its error body.
func classifyStatus(status int) (v Verdict, done bool) {
	switch {
	case status >= 200 && status <= 299:
		return Verdict{Action: Success, Status: status, Reason: "ok", Kind: KindSuccess}, true
	case status >= 500 && status <= 599:
		return Verdict{Action: Transient, Status: status, Reason: fmt.Sprintf("upstream %d", status), Kind: KindUpstream5xx}, true
	case status == http.StatusRequestTimeout:
		return Verdict{Action: Transient, Status: http.StatusGatewayTimeout, Reason: "upstream 408: request timeout", Kind: KindTimeout}, true
	case status < 400 || status > 499:
		return Verdict{Action: Transient, Status: http.StatusBadGateway, Reason: fmt.Sprintf("unexpected upstream status %d", status), Kind: KindUnexpectedStatus}, true
	}
	return Verdict{}, false
}
