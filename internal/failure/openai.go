package failure

// The policy for a pool of keys to an OpenAI-compatible API (OpenAI,
// DeepSeek, Groq, OpenRouter, any server that speaks /v1/chat/completions
// with "Authorization: Bearer"):
//
//	upstream answer                                   key                          kind
//	2xx                                               success                      success
//	401 (any body); invalid_api_key (any status);     Invalid at once              invalid
//	  account_deactivated, access_terminated, a 403
//	  saying the key is disabled or the account
//	  deactivated
//	402; insufficient_quota and OpenAI's billing       Invalid at once              quota_exhausted
//	  codes (credit_balance_exhausted, *_spend_limit_
//	  exceeded, organization_usage_limit_exceeded,
//	  billing_not_active), whatever the status
//	403 unsupported_country_region_territory          Failure +1, with a hint      region_blocked
//	429 (rate limit)                                  Cooldown until Retry-After,  rate_limited
//	                                                    x-ratelimit-reset-*, the
//	                                                    message's "try again in",
//	                                                    else DefaultCooldown
//	5xx, 408                                          Transient                    upstream_5xx / timeout
//	any other 4xx                                     ClientError                  client_error
//
// Why an exhausted balance or spend limit makes the key Invalid rather than
// cooling it: waiting does not end it (OpenAI's error guide: retrying billing
// or quota errors does not restore access; DeepSeek's 402 asks for a top-up),
// it concerns every model while cooldowns are per model, and the invalid
// keys' re-check (check_interval) is exactly the probe that brings a key back
// once someone adds credit or the month's limit resets. A long cooldown would
// instead spend one failing attempt per model and key each period and hide
// the problem from the console.
//
// Why a region block only counts a failure: it is about where the request
// comes from (the host, or the proxy the key is pinned to), not the key, so a
// key should not be condemned by one answer; max_failures still takes the
// keys out if it persists, which lets the pool fall back.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Kinds specific to OpenAI-compatible pools.
const (
	// KindQuotaExhausted: the key's balance, credits or spend limit is used
	// up (402, insufficient_quota and OpenAI's billing codes).
	KindQuotaExhausted = "quota_exhausted"
	// KindRegionBlocked: the provider refuses the country the request comes
	// from (OpenAI's unsupported_country_region_territory).
	KindRegionBlocked = "region_blocked"
)

// RegionHint is the text added to the client's message when the provider
// refuses the region the requests come from.
const RegionHint = "the provider does not serve the country or region this server (or its proxy) connects from; use a proxy in a supported region"

// exhaustedCodes are error codes (or types) that mean the key's money or
// monthly limit is used up.
var exhaustedCodes = []string{
	"insufficient_quota", "credit_balance_exhausted", "organization_spend_limit_exceeded",
	"project_spend_limit_exceeded", "organization_usage_limit_exceeded", "billing_not_active",
	"insufficient_balance", "insufficient_credits",
}

// rateLimitCodes are codes of a plain rate limit, which wins over a type
// that says insufficient_quota.
var rateLimitCodes = []string{"rate_limit_exceeded", "slow_down"}

// deadKeyCodes are error codes (or types) that say the key will not work
// again as it is.
var deadKeyCodes = []string{"invalid_api_key", "account_deactivated", "access_terminated", "api_key_disabled", "key_disabled"}

// deadKeyMessages are lower-cased message fragments of the same, for bodies
// whose code is generic (DeepSeek's codes are all "invalid_request_error").
var deadKeyMessages = []string{
	"incorrect api key", "invalid api key", "api key is invalid", "has been deactivated",
	"account is deactivated", "key is disabled", "key has been disabled", "key has been revoked",
	"access was terminated", "access terminated",
}

// exhaustedMessages are lower-cased message fragments that mean the balance
// is used up.
var exhaustedMessages = []string{"insufficient balance", "insufficient credits", "exceeded your current quota", "insufficient_quota"}

// ClassifyOpenAI classifies an HTTP answer from an OpenAI-compatible
// provider for a pool whose keys are sent as Bearer tokens (see the table at
// the top of this file). body is the error body, possibly truncated; it is
// not looked at for 2xx and 5xx. now is the current time, injected for tests.
//
// A 401 makes the key invalid whatever its body says: these APIs answer 401
// only for the credential. A 403 is the client's (a model or resource the
// project may not use) unless it names the key, the account or the region.
func ClassifyOpenAI(status int, header http.Header, body []byte, now time.Time) Verdict {
	if v, done := classifyStatus(status); done {
		return v
	}

	msg, typ, code, _ := ParseOpenAIError(body)
	lcode, ltyp, lmsg := strings.ToLower(code), strings.ToLower(typ), strings.ToLower(msg)
	is := func(set []string) bool {
		for _, c := range set {
			if lcode == c || ltyp == c {
				return true
			}
		}
		return false
	}
	name := describeOpenAI(status, typ, code)

	switch {
	case lcode == "unsupported_country_region_territory" || ltyp == "unsupported_country_region_territory" ||
		status == http.StatusForbidden && strings.Contains(lmsg, "country, region, or territory not supported"):
		return Verdict{Action: Failure, Status: status, Reason: "region not supported: " + name, Kind: KindRegionBlocked, Hint: RegionHint}

	case status == http.StatusPaymentRequired || slices.Contains(exhaustedCodes, lcode) ||
		!slices.Contains(rateLimitCodes, lcode) && slices.Contains(exhaustedCodes, ltyp) ||
		(status == http.StatusTooManyRequests || status == http.StatusForbidden) && containsAny(lmsg, exhaustedMessages):
		return Verdict{Action: Invalid, Status: status, Reason: "quota exhausted: " + name, Kind: KindQuotaExhausted}

	case status == http.StatusUnauthorized || is(deadKeyCodes) ||
		status == http.StatusForbidden && containsAny(lmsg, deadKeyMessages):
		return Verdict{Action: Invalid, Status: status, Reason: "API key invalid: " + name, Kind: KindInvalid}

	case status == http.StatusTooManyRequests:
		return Verdict{Action: Cooldown, Status: status, Until: openAICooldownUntil(header, msg, now), Reason: "rate limited: " + name, Kind: KindRateLimited}
	}
	return Verdict{Action: ClientError, Status: status, Reason: "client error: " + name, Kind: KindClientError}
}

// describeOpenAI names an error by status, type and code, never by message:
// providers quote (part of) the key in theirs.
func describeOpenAI(status int, typ, code string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "upstream %d", status)
	seen := strconv.Itoa(status) // OpenRouter repeats the status as code
	for _, s := range []string{code, typ} {
		if s = safeToken(s); s != "" && s != seen {
			b.WriteString(" " + s)
			seen = s
		}
	}
	return b.String()
}

// safeToken keeps a code or type only when it looks like an identifier
// (letters, digits, "_", "-", ".", at most 64 bytes), so that a provider that
// puts free text there cannot leak a key into a Reason.
func safeToken(s string) string {
	if s == "" || len(s) > 64 {
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
			return ""
		}
	}
	if strings.HasPrefix(strings.ToLower(s), "sk-") {
		return ""
	}
	return s
}

// openAIError is the error object of OpenAI's shape; code and message are
// taken raw because providers differ (OpenRouter and vLLM send a number,
// OpenAI a string or null, some relays a nested object).
type openAIError struct {
	Message json.RawMessage `json:"message"`
	Type    json.RawMessage `json:"type"`
	Code    json.RawMessage `json:"code"`
}

// maxPlainMessage bounds the message taken from a body that is not JSON.
const maxPlainMessage = 512

// ParseOpenAIError reads an error body from an OpenAI-compatible API:
//
//	{"error": {"message": "...", "type": "...", "param": null, "code": "..."}}   OpenAI, DeepSeek, Groq
//	{"error": {"code": 429, "message": "...", "metadata": {...}}}              OpenRouter
//	{"object": "error", "message": "...", "type": "...", "code": 400}          vLLM
//	{"error": "message"} and {"message": "..."}                                Ollama and relays
//	[{"error": {...}}]                                                         Google's compatible endpoint
//
// code may be a string, a number or null; a number comes back in decimal. ok
// reports whether the body was one of these JSON shapes. For any other body
// (plain text, HTML, truncated JSON) ok is false and message is its start,
// trimmed, at most 512 bytes. The message may quote part of the key: redact
// it before showing it.
func ParseOpenAIError(body []byte) (message, typ, code string, ok bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return "", "", "", false
	}
	if body[0] == '[' {
		var arr []json.RawMessage
		if json.Unmarshal(body, &arr) == nil {
			for _, el := range arr {
				if m, t, c, ok := parseOpenAIObject(el); ok {
					return m, t, c, true
				}
			}
		}
	} else if body[0] == '{' {
		if m, t, c, ok := parseOpenAIObject(body); ok {
			return m, t, c, true
		}
	}
	return plainMessage(body), "", "", false
}

func parseOpenAIObject(raw []byte) (message, typ, code string, ok bool) {
	var env struct {
		Error json.RawMessage `json:"error"`
		openAIError
	}
	if json.Unmarshal(raw, &env) != nil {
		return "", "", "", false
	}
	e := env.openAIError
	if len(env.Error) > 0 && !isNull(env.Error) {
		// {"error": "text"} or {"error": {...}}.
		if s, isStr := jsonString(env.Error); isStr {
			return s, "", "", true
		}
		if json.Unmarshal(env.Error, &e) != nil {
			return "", "", "", false
		}
	} else if len(e.Message) == 0 && len(e.Type) == 0 && len(e.Code) == 0 {
		return "", "", "", false
	}
	return scalar(e.Message), scalar(e.Type), scalar(e.Code), true
}

// scalar renders a JSON string or number as text; anything else (null, an
// object, an array, a boolean) as "".
func scalar(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	if s, ok := jsonString(raw); ok {
		return s
	}
	if raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9' {
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return n.String()
		}
	}
	return ""
}

func jsonString(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// plainMessage is the start of a body that is not a JSON error, cut at a
// UTF-8 boundary.
func plainMessage(body []byte) string {
	if len(body) > maxPlainMessage {
		n := maxPlainMessage
		for n > 0 && body[n]&0xC0 == 0x80 { // do not split a rune
			n--
		}
		body = body[:n]
	}
	return strings.ToValidUTF8(string(body), "\uFFFD")
}

// openAICooldownUntil is when a key that got a 429 may be used again. The
// first rule that applies wins:
//
//  1. Retry-After-Ms (milliseconds; OpenAI's SDKs honour it) or Retry-After
//     (seconds or an HTTP date);
//  2. x-ratelimit-reset-requests and x-ratelimit-reset-tokens (Go-style
//     durations such as "1s", "6m0s", "20ms", "1h2m3.5s", or plain
//     seconds): the later of those whose x-ratelimit-remaining-* is 0 or
//     absent (a limit with room left is not what refused the request); if
//     every limit reports room, the later of both;
//  3. "try again in 1.2s" / "in 20ms" / "in 6m0s" in the message (OpenAI's
//     rate-limit messages say it);
//  4. DefaultCooldown.
//
// The result is clamped to [now+MinCooldown, now+MaxCooldown].
func openAICooldownUntil(header http.Header, msg string, now time.Time) time.Time {
	until, ok := retryAfterMs(header, now)
	if !ok {
		until, ok = retryAfter(header, now)
	}
	if !ok {
		until, ok = rateLimitReset(header, now)
	}
	if !ok {
		var d time.Duration
		if d, ok = tryAgainIn(msg); ok {
			until = now.Add(d)
		}
	}
	if !ok {
		until = now.Add(DefaultCooldown)
	}
	if lo := now.Add(MinCooldown); until.Before(lo) {
		until = lo
	}
	if hi := now.Add(MaxCooldown); until.After(hi) {
		until = hi
	}
	return until
}

// OpenAICooldownUntil exposes the 429 rule of ClassifyOpenAI for callers
// that only have headers (e.g. a stream that failed after its status line).
func OpenAICooldownUntil(header http.Header, now time.Time) time.Time {
	return openAICooldownUntil(header, "", now)
}

func retryAfterMs(header http.Header, now time.Time) (time.Time, bool) {
	v := strings.TrimSpace(header.Get("Retry-After-Ms"))
	if v == "" {
		return time.Time{}, false
	}
	ms, err := strconv.ParseFloat(v, 64)
	if err != nil || ms < 0 || math.IsNaN(ms) {
		return time.Time{}, false
	}
	if ms > float64(MaxCooldown/time.Millisecond) {
		ms = float64(MaxCooldown / time.Millisecond)
	}
	return now.Add(time.Duration(ms * float64(time.Millisecond))), true
}

// rateLimitReset applies rule 2 of openAICooldownUntil.
func rateLimitReset(header http.Header, now time.Time) (time.Time, bool) {
	type limit struct {
		reset time.Duration
		full  bool // remaining is 0 or not reported
	}
	var limits []limit
	for _, which := range []string{"requests", "tokens"} {
		d, ok := parseResetDuration(header.Get("X-Ratelimit-Reset-" + which))
		if !ok {
			continue
		}
		rem := strings.TrimSpace(header.Get("X-Ratelimit-Remaining-" + which))
		n, err := strconv.ParseFloat(rem, 64)
		limits = append(limits, limit{d, rem == "" || err != nil || n <= 0})
	}
	if len(limits) == 0 {
		return time.Time{}, false
	}
	anyFull := false
	for _, l := range limits {
		anyFull = anyFull || l.full
	}
	var d time.Duration
	for _, l := range limits {
		if (l.full || !anyFull) && l.reset > d {
			d = l.reset
		}
	}
	return now.Add(d), true
}

// parseResetDuration reads an x-ratelimit-reset-* value: a Go-style
// duration ("6m0s", "20ms", "1h2m3.5s") or plain seconds ("1", "0.5").
func parseResetDuration(v string) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if f < 0 || math.IsNaN(f) {
			return 0, false
		}
		if f > MaxCooldown.Seconds() {
			return MaxCooldown, true
		}
		return time.Duration(f * float64(time.Second)), true
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, false
	}
	return d, true
}

// tryAgainIn finds "try again in <duration>" in a rate-limit message, the
// duration ending at a space, a period followed by a space, or the end.
func tryAgainIn(msg string) (time.Duration, bool) {
	const marker = "try again in "
	i := strings.Index(strings.ToLower(msg), marker)
	if i < 0 {
		return 0, false
	}
	rest := msg[i+len(marker):]
	end := strings.IndexAny(rest, " ,;\n")
	if end < 0 {
		end = len(rest)
	}
	tok := strings.TrimSuffix(rest[:end], ".")
	d, err := time.ParseDuration(tok)
	if err != nil || d < 0 {
		return 0, false
	}
	return d, true
}
