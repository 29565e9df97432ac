package caddymodule

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/gemini-balance/gemini_balance/internal/adminapi"
	"github.com/gemini-balance/gemini_balance/internal/balancer"
)

func init() {
	caddy.RegisterModule(AdminAPI{})
}

// AdminAPI adds the /gemini_balance/ routes to Caddy's admin endpoint. Caddy
// builds it anew on every config load without any config, so it finds the
// pools through the package-level registry.
type AdminAPI struct{}

// CaddyModule returns the Caddy module information.
func (AdminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.gemini_balance",
		New: func() caddy.Module { return new(AdminAPI) },
	}
}

// adminPrefix is where the routes live on the admin endpoint.
const adminPrefix = "/gemini_balance"

// Routes returns the admin routes.
func (AdminAPI) Routes() []caddy.AdminRoute {
	api := http.StripPrefix(adminPrefix, adminapi.New(authorizedPools))
	return []caddy.AdminRoute{{
		Pattern: adminPrefix + "/",
		Handler: caddy.AdminHandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if len(authorizedPools(r)) == 0 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="gemini_balance admin"`)
				return caddy.APIError{HTTPStatus: http.StatusUnauthorized,
					Message: "send Authorization: Bearer <auth_token> of a pool (client tokens are not admin tokens; a pool without auth_token has no admin access)"}
			}
			api.ServeHTTP(w, r)
			return nil
		}),
	}}
}

// authorizedPools are the running pools whose auth_token the request carries.
func authorizedPools(r *http.Request) []*balancer.Balancer {
	h := r.Header.Get("Authorization")
	if len(h) < 8 || !strings.EqualFold(h[:7], "bearer ") {
		return nil
	}
	given := sha256.Sum256([]byte(strings.TrimSpace(h[7:])))
	var out []*balancer.Balancer
	pools.Range(func(_, v any) bool {
		b := v.(livePool).Balancer
		if tok := b.Settings().AuthToken; tok != "" {
			want := sha256.Sum256([]byte(tok))
			if subtle.ConstantTimeCompare(given[:], want[:]) == 1 {
				out = append(out, b)
			}
		}
		return true
	})
	return out
}

// Interface guard
var _ caddy.AdminRouter = (*AdminAPI)(nil)
