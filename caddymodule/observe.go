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
	ctx := r.Context()
	// Without access logs on the server the fields would only cost memory
	// (a stream holds them for its life).
	srv, _ := ctx.Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server)
	logged := srv == nil || srv.Logs != nil
	if extra, ok := ctx.Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok && logged {
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
	caddyhttp.SetVar(ctx, varServedBy, s.Pool)
}

// statusWriter notes the status written to the client, for the request
// metric; Unwrap lets http.ResponseController reach Caddy's writer.
type statusWriter struct {
	http.ResponseWriter
	code int
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
