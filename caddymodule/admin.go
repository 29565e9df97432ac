package caddymodule

import (
	"net/http"

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

// Routes returns the admin routes; a request sees the pools whose auth_token
// it carries.
func (AdminAPI) Routes() []caddy.AdminRoute {
	// A pool's auth_token also manages the pools it falls back to.
	authorized := func(r *http.Request) []*balancer.Balancer { return withChains(adminapi.ByAuthToken(r, runningPools())) }
	api := http.StripPrefix(adminPrefix, adminapi.New(authorized))
	return []caddy.AdminRoute{{
		Pattern: adminPrefix + "/",
		Handler: caddy.AdminHandlerFunc(func(w http.ResponseWriter, r *http.Request) error {
			if len(authorized(r)) == 0 {
				w.Header().Set("WWW-Authenticate", `Bearer realm="gemini_balance admin"`)
				return caddy.APIError{HTTPStatus: http.StatusUnauthorized, Message: adminapi.Unauthorized}
			}
			api.ServeHTTP(w, r)
			return nil
		}),
	}}
}

// Interface guard
var _ caddy.AdminRouter = (*AdminAPI)(nil)

// withChains adds to pools the pools of their fallback chains, each once.
func withChains(pools []*balancer.Balancer) []*balancer.Balancer {
	var out []*balancer.Balancer
	seen := map[*balancer.Balancer]bool{}
	for _, b := range pools {
		for _, p := range b.Chain() {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out
}
