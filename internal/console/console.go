// Package console is the web console of one pool: a login with the pool's
// auth_token that opens a server-side session, and the pages (dashboard,
// keys, settings, logs, providers, images) that call the admin JSON API (internal/adminapi)
// from the browser. Everything it serves is embedded; assets are
// fingerprinted so an upgrade never serves a stale script.
package console

import (
	"encoding/json"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/clientinfo"
)

const (
	cookieName   = "gb_session"
	csrfHeader   = "X-CSRF-Token"
	maxLoginBody = 64 << 10
)

// Console serves the web console of one pool under a path prefix.
type Console struct {
	prefix string // "/admin"; "" when the console is at the root
	b      *balancer.Balancer
	api    http.Handler
	logger *zap.Logger
	state  *poolState
	assets *assetSet
	now    func() time.Time
	// imagePath is where the site serves the pool's stored images
	// ("/gb-images/"), so the images page can show them as thumbnails.
	imagePath string
}

// New makes the console of one pool, served under prefix (e.g. "/admin").
// api serves the JSON routes (paths like /pools/{pool}/keys); the console
// mounts it at prefix+"/api/" behind the session and CSRF checks.
func New(prefix string, b *balancer.Balancer, api http.Handler, logger *zap.Logger) *Console {
	if logger == nil {
		logger = zap.NewNop()
	}
	prefix = strings.TrimRight(prefix, "/")
	if prefix != "" && prefix[0] != '/' {
		prefix = "/" + prefix
	}
	return &Console{
		prefix: prefix, b: b, logger: logger, state: stateFor(b.Name()), assets: embedded, now: time.Now,
		imagePath: DefaultImagePath,
		api:       http.StripPrefix(prefix+"/api", api),
	}
}

// DefaultImagePath is the image path a console assumes until SetImagePath.
const DefaultImagePath = "/gb-images/"

// SetImagePath tells the console where its site serves the pool's images
// (the site's image_path); call it before serving.
func (c *Console) SetImagePath(p string) {
	if p != "" {
		c.imagePath = p
	}
}

// Prefix is the path the console is served under.
func (c *Console) Prefix() string { return c.prefix }

// Serve answers r if its path is the prefix or below it, and reports whether
// it did.
func (c *Console) Serve(w http.ResponseWriter, r *http.Request) bool {
	p := r.URL.Path
	var rest string
	switch {
	case c.prefix != "" && p == c.prefix:
		rest = ""
	case strings.HasPrefix(p, c.prefix+"/"):
		rest = p[len(c.prefix):]
	default:
		return false
	}
	c.route(w, r, rest)
	return true
}

// pages are the console's HTML pages by path below the prefix.
var pages = map[string]string{"/": "dashboard", "/keys": "keys", "/settings": "settings", "/logs": "logs", "/providers": "providers", "/images": "images"}

func (c *Console) route(w http.ResponseWriter, r *http.Request, rest string) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")

	if strings.HasPrefix(rest, "/assets/") {
		c.assets.serve(w, r, rest[len("/assets/"):])
		return
	}
	isAPI := rest == "/api" || strings.HasPrefix(rest, "/api/")
	if rest != "/login" {
		denyFraming(h)
	}
	if rest == "" {
		http.Redirect(w, r, c.prefix+"/", http.StatusFound)
		return
	}
	token := c.b.Settings().AuthToken
	if token == "" {
		if isAPI || rest == "/logout" {
			writeJSONError(w, http.StatusForbidden, "the console is disabled: this pool has no auth_token; set auth_token in the Caddyfile")
			return
		}
		c.renderMessage(w, r, http.StatusForbidden, "noToken")
		return
	}
	tokenHash := hashString(token)

	switch {
	case rest == "/login":
		c.serveLogin(w, r, token)
		return
	case rest == "/logout":
		c.serveLogout(w, r, tokenHash)
		return
	case isAPI:
		c.serveAPI(w, r, tokenHash)
		return
	}

	s := c.session(r, tokenHash)
	if s == nil {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			writeJSONError(w, http.StatusUnauthorized, "not logged in, or the session has expired: log in again")
			return
		}
		next := ""
		if _, ok := pages[rest]; ok {
			next = "?next=" + url.QueryEscape(rest+queryString(r))
		}
		h.Set("Cache-Control", "no-store")
		http.Redirect(w, r, c.prefix+"/login"+next, http.StatusSeeOther)
		return
	}
	if !safeMethod(r.Method) {
		if why := checkCSRF(r, s); why != "" {
			writeJSONError(w, http.StatusForbidden, why)
			return
		}
	}
	page, ok := pages[rest]
	if !ok {
		c.renderMessage(w, r, http.StatusNotFound, "notFound")
		return
	}
	if !safeMethod(r.Method) {
		h.Set("Allow", "GET, HEAD")
		writeJSONError(w, http.StatusMethodNotAllowed, "use GET for console pages")
		return
	}
	c.renderPage(w, r, page, s)
}

func queryString(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return "?" + r.URL.RawQuery
}

// denyFraming forbids every answer but the login page to be shown in a
// frame. HTML pages replace the policy with their own (see csp).
func denyFraming(h http.Header) {
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
}

// csp is the Content-Security-Policy of an HTML page: scripts and styles only
// from this origin (the console's assets), inline scripts only with nonce.
func csp(nonce string, frameable bool) string {
	p := "default-src 'self'; script-src 'self' 'nonce-" + nonce + "'; style-src 'self'; img-src 'self' data:; " +
		"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'"
	if !frameable {
		p += "; frame-ancestors 'none'"
	}
	return p
}

// session finds the request's live session, or nil.
func (c *Console) session(r *http.Request, tokenHash [32]byte) *session {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	return c.state.get(ck.Value, tokenHash, c.now())
}

// sameOrigin reports why a state-changing request looks cross-site, or "".
func sameOrigin(r *http.Request) string {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "", "same-origin", "none":
	default:
		return "cross-site request refused"
	}
	if o := r.Header.Get("Origin"); o != "" {
		u, err := url.Parse(o)
		if err != nil || u.Host == "" || !strings.EqualFold(u.Host, r.Host) {
			return "cross-origin request refused: Origin " + strconv.Quote(o) + " is not this site (" + r.Host + ")"
		}
	}
	return ""
}

// checkCSRF reports why a state-changing request with session s must be
// refused, or "".
func checkCSRF(r *http.Request, s *session) string {
	if why := sameOrigin(r); why != "" {
		return why
	}
	got := r.Header.Get(csrfHeader)
	if got == "" || !tokenMatches(got, s.csrf) {
		return "missing or wrong CSRF token: reload the page and try again"
	}
	return ""
}

func safeMethod(m string) bool { return m == http.MethodGet || m == http.MethodHead }

func (c *Console) serveAPI(w http.ResponseWriter, r *http.Request, tokenHash [32]byte) {
	w.Header().Set("Cache-Control", "no-store")
	s := c.session(r, tokenHash)
	if s == nil {
		writeJSONError(w, http.StatusUnauthorized, "not logged in, or the session has expired: log in again")
		return
	}
	if !safeMethod(r.Method) {
		if why := checkCSRF(r, s); why != "" {
			writeJSONError(w, http.StatusForbidden, why)
			return
		}
	}
	// The console manages its own pool and the pools it falls back to (its
	// chain), and lists those.
	base := c.prefix + "/api/pools"
	if r.URL.Path != base || !safeMethod(r.Method) {
		name, _, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, base+"/"), "/")
		if !strings.HasPrefix(r.URL.Path, base+"/") || c.chainPool(name) == nil {
			writeJSONError(w, http.StatusNotFound, "the console serves only the routes of pool "+strconv.Quote(c.b.Name())+
				" and of the pools it falls back to, under "+base+"/{pool}/")
			return
		}
	}
	c.api.ServeHTTP(w, r)
}

// chainPool is the pool of the console's chain named name, or nil.
func (c *Console) chainPool(name string) *balancer.Balancer {
	for _, p := range c.b.Chain() {
		if p.Name() == name {
			return p
		}
	}
	return nil
}

// lockoutKey is what login failures are counted by: the address, or for
// IPv6 its /64, since one client usually holds a whole /64 and could
// otherwise step to a fresh address after each lockout.
func lockoutKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() || a.Is4In6() {
		return ip
	}
	p, _ := a.WithZone("").Prefix(64)
	return p.String()
}

// safeNext is the page to go to after login: a console page, else the dashboard.
func (c *Console) safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.Contains(next, "\\") {
		return c.prefix + "/"
	}
	if _, ok := pages[u.Path]; !ok {
		return c.prefix + "/"
	}
	out := c.prefix + u.Path
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out
}

func (c *Console) serveLogin(w http.ResponseWriter, r *http.Request, token string) {
	tokenHash := hashString(token)
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		if c.session(r, tokenHash) != nil {
			w.Header().Set("Cache-Control", "no-store")
			http.Redirect(w, r, c.safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
			return
		}
		c.renderLogin(w, r, http.StatusOK, r.URL.Query().Get("next"), "", nil)
		return
	case http.MethodPost:
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		writeJSONError(w, http.StatusMethodNotAllowed, "use GET or POST for the login page")
		return
	}
	// The login lockout counts per client: behind a CDN or load balancer
	// listed in Caddy's trusted_proxies that is the forwarded address, else
	// the direct peer (whose X-Forwarded-For is ignored).
	ip, now := clientinfo.ClientIP(r), c.now()
	if wait, locked := c.state.lockedOut(lockoutKey(ip), now); locked {
		secs := int(wait.Seconds() + 0.999)
		if secs < 1 {
			secs = 1
		}
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		c.logger.Warn("console login refused: too many failed attempts", zap.String("pool", c.b.Name()), zap.String("remote", ip))
		c.renderLogin(w, r, http.StatusTooManyRequests, "", "login.tooMany",
			map[string]string{"n": strconv.Itoa((secs + 59) / 60)})
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxLoginBody)
	if err := r.ParseForm(); err != nil {
		c.renderLogin(w, r, http.StatusBadRequest, "", "login.badForm", nil)
		return
	}
	next := r.PostForm.Get("next")
	if why := sameOrigin(r); why != "" {
		c.logger.Warn("console login refused: "+why, zap.String("pool", c.b.Name()), zap.String("remote", ip))
		c.renderLogin(w, r, http.StatusForbidden, next, "login.crossSite", nil)
		return
	}
	given := r.PostForm.Get("auth_token")
	if given == "" || !tokenMatches(given, token) {
		c.state.fail(lockoutKey(ip), now)
		c.logger.Warn("console login failed: wrong auth_token", zap.String("pool", c.b.Name()), zap.String("remote", ip))
		c.renderLogin(w, r, http.StatusUnauthorized, next, "login.wrong", nil)
		return
	}
	c.state.succeed(ip)
	id, _ := c.state.create(tokenHash, now)
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: id, Path: c.cookiePath(), MaxAge: int(sessionTTL / time.Second),
		HttpOnly: true, Secure: clientinfo.IsHTTPS(r), SameSite: http.SameSiteStrictMode,
	})
	c.logger.Info("console login", zap.String("pool", c.b.Name()), zap.String("remote", ip))
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, c.safeNext(next), http.StatusSeeOther)
}

func (c *Console) cookiePath() string {
	if c.prefix == "" {
		return "/"
	}
	return c.prefix
}

func (c *Console) serveLogout(w http.ResponseWriter, r *http.Request, tokenHash [32]byte) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		writeJSONError(w, http.StatusMethodNotAllowed, "log out with POST")
		return
	}
	s := c.session(r, tokenHash)
	if s == nil {
		writeJSONError(w, http.StatusUnauthorized, "not logged in, or the session has expired")
		return
	}
	if why := checkCSRF(r, s); why != "" {
		writeJSONError(w, http.StatusForbidden, why)
		return
	}
	if ck, err := r.Cookie(cookieName); err == nil {
		c.state.remove(ck.Value)
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: "", Path: c.cookiePath(), MaxAge: -1,
		HttpOnly: true, Secure: clientinfo.IsHTTPS(r), SameSite: http.SameSiteStrictMode,
	})
	c.logger.Info("console logout", zap.String("pool", c.b.Name()), zap.String("remote", clientinfo.ClientIP(r)))
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "login": c.prefix + "/login"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeJSONError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"error": msg})
}
