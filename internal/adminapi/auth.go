package adminapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
)

// Unauthorized is the message for a request to Caddy's admin endpoint that
// carries no pool's auth_token.
const Unauthorized = "send Authorization: Bearer <auth_token> of a pool (client tokens are not admin tokens; a pool without auth_token has no admin access)"

// ByAuthToken returns the pools whose auth_token the request's Bearer token
// is, compared in constant time; a pool without auth_token matches nothing.
func ByAuthToken(r *http.Request, pools []*balancer.Balancer) []*balancer.Balancer {
	h := r.Header.Get("Authorization")
	if len(h) < 8 || !strings.EqualFold(h[:7], "bearer ") {
		return nil
	}
	given := sha256.Sum256([]byte(strings.TrimSpace(h[7:])))
	var out []*balancer.Balancer
	for _, b := range pools {
		if tok := b.Settings().AuthToken; tok != "" {
			want := sha256.Sum256([]byte(tok))
			if subtle.ConstantTimeCompare(given[:], want[:]) == 1 {
				out = append(out, b)
			}
		}
	}
	return out
}
