package failure

import (
	"bytes"
	"encoding/json"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	_ "time/tzdata" // NextPacificMidnight must work on hosts without zoneinfo
)

// GoogleError is the "error" object of a Google API error response
// (google.rpc.Status in its JSON form):
//
//	{
//	  "error": {
//	    "code": 429,
//	    "message": "You exceeded your current quota, ...",
//	    "status": "RESOURCE_EXHAUSTED",
//	    "details": [
//	      {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": [{"quotaMetric": "...", "quotaId": "...", ...}]},
//	      {"@type": "type.googleapis.com/google.rpc.Help", "links": [{"description": "...", "url": "..."}]},
//	      {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "17s"}
//	    ]
//	  }
//	}
//
// Details are kept raw; Reasons, RetryDelay and QuotaIDs read the ones this
// package cares about (google.rpc.ErrorInfo, RetryInfo and QuotaFailure).
type GoogleError struct {
	Code    int               `json:"code"`
	Message string            `json:"message"`
	Status  string            `json:"status"`
	Details []json.RawMessage `json:"details"`
}

// wireError is GoogleError as decoded: code is taken raw so that an
// OpenAI-style string code ("invalid_api_key") does not fail the whole parse.
type wireError struct {
	Code    json.RawMessage   `json:"code"`
	Message string            `json:"message"`
	Status  string            `json:"status"`
	Details []json.RawMessage `json:"details"`
}

type envelope struct {
	Error *wireError `json:"error"`
}

// ParseGoogleError parses a Google API error body. It accepts the usual
// object form {"error": {...}} and the array form [{"error": {...}}] that
// Google's OpenAI-compatible endpoint may return (the first element with an
// "error" is used). It reports false if body holds neither, e.g. when it is
// not JSON or was truncated.
func ParseGoogleError(body []byte) (*GoogleError, bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, false
	}
	var w *wireError
	switch body[0] {
	case '{':
		var env envelope
		if json.Unmarshal(body, &env) != nil {
			return nil, false
		}
		w = env.Error
	case '[':
		var envs []envelope
		if json.Unmarshal(body, &envs) != nil {
			return nil, false
		}
		for _, env := range envs {
			if env.Error != nil {
				w = env.Error
				break
			}
		}
	}
	if w == nil {
		return nil, false
	}
	g := &GoogleError{Message: w.Message, Status: w.Status, Details: w.Details}
	if c, err := strconv.Atoi(string(w.Code)); err == nil {
		g.Code = c
	}
	return g, true
}

// detail holds the fields of the google.rpc detail messages we read. Each
// detail message type has its own fields, so which ones are set tells the
// type apart: ErrorInfo has "reason", RetryInfo "retryDelay", QuotaFailure
// "violations" with "quotaId" (PreconditionFailure's violations have none).
type detail struct {
	Type       string `json:"@type"`
	Reason     string `json:"reason"`
	RetryDelay string `json:"retryDelay"`
	Violations []struct {
		QuotaID string `json:"quotaId"`
	} `json:"violations"`
}

// summary is what the details of a GoogleError say, read in one pass.
type summary struct {
	reasons    []string
	retryDelay string
	hasDelay   bool
	quotaIDs   []string
}

func (e *GoogleError) summary() summary {
	var s summary
	if e == nil {
		return s
	}
	for _, raw := range e.Details {
		var d detail
		if json.Unmarshal(raw, &d) == nil {
			s.add(&d)
		}
	}
	return s
}

func (s *summary) add(d *detail) {
	if d.Reason != "" {
		s.reasons = append(s.reasons, d.Reason)
	}
	if d.RetryDelay != "" && !s.hasDelay {
		s.retryDelay, s.hasDelay = d.RetryDelay, true
	}
	for _, v := range d.Violations {
		if v.QuotaID != "" {
			s.quotaIDs = append(s.quotaIDs, v.QuotaID)
		}
	}
}

// quickError is what Classify reads of an error body, decoded in one pass
// with typed details (ParseGoogleError keeps them raw, which costs a second
// decoding of each).
type quickError struct {
	Message string   `json:"message"`
	Status  string   `json:"status"`
	Details []detail `json:"details"`
}

// parseQuick decodes body like ParseGoogleError and summarises its details.
func parseQuick(body []byte) (q *quickError, s summary, ok bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, s, false
	}
	switch body[0] {
	case '{':
		var env struct {
			Error *quickError `json:"error"`
		}
		if json.Unmarshal(body, &env) == nil {
			q = env.Error
		}
	case '[':
		var envs []struct {
			Error *quickError `json:"error"`
		}
		if json.Unmarshal(body, &envs) == nil {
			for _, env := range envs {
				if env.Error != nil {
					q = env.Error
					break
				}
			}
		}
	}
	if q == nil {
		return nil, s, false
	}
	for i := range q.Details {
		s.add(&q.Details[i])
	}
	return q, s, true
}

// Reasons returns the reason of every google.rpc.ErrorInfo detail, e.g.
// "API_KEY_INVALID", "CONSUMER_SUSPENDED", "SERVICE_DISABLED".
func (e *GoogleError) Reasons() []string { return e.summary().reasons }

// RetryDelay returns the google.rpc.RetryInfo retryDelay, a protobuf
// Duration in its JSON form: decimal seconds with up to 9 fractional digits
// and an "s" suffix, such as "17s", "1.5s", "0.250s" or "45.837906927s". It
// reports false if there is no RetryInfo or its delay is malformed or
// negative.
func (e *GoogleError) RetryDelay() (time.Duration, bool) {
	s := e.summary()
	if !s.hasDelay {
		return 0, false
	}
	return parseProtoDuration(s.retryDelay)
}

// QuotaIDs returns the quotaId of every google.rpc.QuotaFailure violation,
// e.g. "GenerateRequestsPerMinutePerProjectPerModel-FreeTier".
func (e *GoogleError) QuotaIDs() []string { return e.summary().quotaIDs }

// parseProtoDuration parses the JSON form of google.protobuf.Duration.
func parseProtoDuration(s string) (time.Duration, bool) {
	num, ok := strings.CutSuffix(strings.TrimSpace(s), "s")
	if !ok || num == "" || num[0] == '-' || num[0] == '+' {
		return 0, false
	}
	secs, frac, _ := strings.Cut(num, ".")
	if secs == "" || len(frac) > 9 || !allDigits(secs) || !allDigits(frac) {
		return 0, false
	}
	whole, err := strconv.ParseInt(secs, 10, 64)
	if err != nil || whole > math.MaxInt64/int64(time.Second)-1 {
		return 0, false
	}
	d := time.Duration(whole) * time.Second
	if frac != "" {
		n, _ := strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64)
		d += time.Duration(n)
	}
	return d, true
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

const (
	// DefaultCooldown is how long a key rests on a 429 that says nothing
	// about when to come back.
	DefaultCooldown = 60 * time.Second
	// MinCooldown and MaxCooldown bound every cooldown.
	MinCooldown = time.Second
	MaxCooldown = 25 * time.Hour
)

// CooldownUntil returns when a key that got a 429 for a model may be used
// for that model again. The first rule that applies wins:
//
//  1. a google.rpc.QuotaFailure violation whose quotaId names a per-day
//     quota (contains "PerDay", e.g.
//     "GenerateRequestsPerDayPerProjectPerModel-FreeTier"): the next
//     midnight in America/Los_Angeles, when Google resets daily quotas. The
//     retryDelay Google sends along with a daily quota is misleading (it is
//     the per-minute window's), so it is ignored;
//  2. the google.rpc.RetryInfo retryDelay;
//  3. a Retry-After header, in seconds or as an HTTP date;
//  4. otherwise DefaultCooldown (60 s) from now.
//
// The result is clamped to [now+MinCooldown, now+MaxCooldown] (1 s, 25 h).
// g may be nil and header may be nil.
func CooldownUntil(header http.Header, g *GoogleError, now time.Time) time.Time {
	until, _ := cooldownUntil(header, g.summary(), now)
	return until
}

// cooldownUntil implements CooldownUntil and also returns the per-day
// quotaId that decided it, if one did.
func cooldownUntil(header http.Header, s summary, now time.Time) (time.Time, string) {
	var until time.Time
	daily := dailyQuota(s.quotaIDs)
	switch {
	case daily != "":
		until = NextPacificMidnight(now)
	default:
		if d, ok := parseProtoDuration(s.retryDelay); s.hasDelay && ok {
			until = now.Add(d)
		} else if t, ok := retryAfter(header, now); ok {
			until = t
		} else {
			until = now.Add(DefaultCooldown)
		}
	}
	if lo := now.Add(MinCooldown); until.Before(lo) {
		until = lo
	}
	if hi := now.Add(MaxCooldown); until.After(hi) {
		until = hi
	}
	return until, daily
}

func dailyQuota(ids []string) string {
	for _, id := range ids {
		if strings.Contains(id, "PerDay") {
			return id
		}
	}
	return ""
}

// retryAfter reads a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(header http.Header, now time.Time) (time.Time, bool) {
	v := strings.TrimSpace(header.Get("Retry-After"))
	if v == "" {
		return time.Time{}, false
	}
	if allDigits(v) {
		secs, err := strconv.ParseInt(v, 10, 64)
		if err != nil || secs > int64(MaxCooldown/time.Second) {
			secs = int64(MaxCooldown / time.Second)
		}
		return now.Add(time.Duration(secs) * time.Second), true
	}
	if t, err := http.ParseTime(v); err == nil {
		return t, true
	}
	return time.Time{}, false
}

var pacific = sync.OnceValue(func() *time.Location {
	if loc, err := time.LoadLocation("America/Los_Angeles"); err == nil {
		return loc
	}
	// Unreachable with time/tzdata linked in; keep the standard offset
	// rather than fail.
	return time.FixedZone("PST", -8*60*60)
})

// NextPacificMidnight returns the first 00:00 in America/Los_Angeles after
// now, when Google resets the Gemini API's per-day quotas. It follows
// daylight saving time, so the answer is 23, 24 or 25 hours after the
// previous Pacific midnight. The time zone data is embedded (time/tzdata), so
// it does not depend on the host.
func NextPacificMidnight(now time.Time) time.Time {
	loc := pacific()
	y, m, d := now.In(loc).Date()
	// Midnight always exists in Los Angeles: clocks change at 02:00.
	return time.Date(y, m, d+1, 0, 0, 0, 0, loc)
}
