package caddymodule

import (
	"net/http"
	"sync"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/gemini-balance/gemini_balance/internal/httpapi"
	"github.com/gemini-balance/gemini_balance/internal/metrics"
)

func init() {
	metrics.SetSource(func() []metrics.PoolState {
		var out []metrics.PoolState
		for _, b := range runningPools() {
			out = append(out, b.MetricsState())
		}
		return out
	})
}

// varServedBy is the request variable that names the pool whose key
// answered; it is also the placeholder {http.vars.gemini_balance.served_by}.
const varServedBy = "gemini_balance.served_by"

// observe adds where the answer came from to the request's access-log
// fields (Caddy's log directive shows them) and remembers the serving pool
// for the request metric.
func observe(r *http.Request, s httpapi.Served) {
	caddyhttp.SetVar(r.Context(), varServedBy, s.Pool)
	addLogFields(r, s)
}

// addLogFields adds s to the request's access-log fields when the server
// writes access logs.
func addLogFields(r *http.Request, s httpapi.Served) {
	ctx := r.Context()
	srv, _ := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	if srv != nil && srv.Logs == nil {
		return // nobody reads them
	}
	if extra, ok := ctx.Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok {
		extra.Add(zap.String("gemini_balance.pool", s.Pool))
		if s.Provider != "" {
			extra.Add(zap.String("gemini_balance.provider", s.Provider))
		}
		if s.Key != "" {
			extra.Add(zap.String("gemini_balance.key", s.Key))
		}
		extra.Add(zap.String("gemini_balance.model", s.Model))
		extra.Add(zap.Int("gemini_balance.attempts", s.Attempts))
		extra.Add(zap.Int("gemini_balance.upstream_status", s.UpstreamStatus))
	}
}

// statusWriter notes the status written to the client, for the request
// metric, and keeps where the answer came from until it has ended (see
// httpapi.ServedRecorder): added at once, the access-log fields would be held
// by a stream for its life. Unwrap lets http.ResponseController reach Caddy's
// writer.
type statusWriter struct {
	http.ResponseWriter
	r         *http.Request
	code      int
	served    httpapi.Served
	hasServed bool
}

// RecordServed sets the serving pool's variable now (a response header may
// name it) and keeps s for the access log (logServed).
func (s *statusWriter) RecordServed(served httpapi.Served) {
	caddyhttp.SetVar(s.r.Context(), varServedBy, served.Pool)
	s.served, s.hasServed = served, true
}

// logServed adds the recorded Served to the access-log fields.
func (s *statusWriter) logServed() {
	if s.hasServed {
		addLogFields(s.r, s.served)
	}
}

var statusWriters = sync.Pool{New: func() any { return new(statusWriter) }}

func (s *statusWriter) WriteHeader(code int) {
	if s.code == 0 {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(p []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(p)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// status is the status written, 200 when the handler wrote nothing.
func (s *statusWriter) status() int {
	if s.code == 0 {
		return http.StatusOK
	}
	return s.code
}
