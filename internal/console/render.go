package console

import (
	"bytes"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"go.uber.org/zap"
)

// view is what the templates see.
type view struct {
	Prefix string
	Pool   string // the pool the page manages: the console's own or one of its chain
	Own    string // the console's own pool
	// Provider is the managed pool's provider (gemini, vertex_express, openai).
	Provider string
	// PoolQuery is "?pool=<name>" when the page manages a pool of the chain
	// other than the console's own, so the nav keeps it; else "".
	PoolQuery string
	// ImagePath is where the site serves stored images ("/gb-images/").
	ImagePath string
	Page      string // dashboard, keys, settings, logs, login, message
	CSRF      string
	Nonce     string
	Next      string
	// A message for the login or message page: its dictionary key (the
	// browser translates it), its English text and its one argument.
	MsgKey  string
	MsgText string
	MsgArg  string
	Status  int
}

// serverText is the English of the messages the server puts into pages; the
// browser replaces them with the dictionary's text in the chosen language.
var serverText = map[string]string{
	"login.wrong":       "Wrong auth_token.",
	"login.tooMany":     "Too many failed logins from your address. Try again in {n} min.",
	"login.badForm":     "The login form could not be read.",
	"login.crossSite":   "Login from another site was refused: open the console directly.",
	"msg.noToken.title": "Console disabled",
	"msg.noToken":       "This pool has no auth_token, so its console is closed. Set auth_token in the gemini_balance block of the Caddyfile (or in the admin API) and reload Caddy.",
	"msg.notFound":      "There is no such page in the console.",
}

var templates = func() map[string]*template.Template {
	funcs := template.FuncMap{
		"asset": func(prefix, name string) string { return embedded.url(prefix, name) },
	}
	base := template.Must(template.New("").Funcs(funcs).ParseFS(files, "templates/layout.html"))
	out := map[string]*template.Template{}
	for _, page := range []string{"dashboard", "keys", "settings", "logs", "providers", "images"} {
		t := template.Must(template.Must(base.Clone()).ParseFS(files, "templates/"+page+".html"))
		out[page] = t
	}
	box := template.Must(template.New("").Funcs(funcs).ParseFS(files, "templates/box.html"))
	for _, page := range []string{"login", "message"} {
		out[page] = template.Must(template.Must(box.Clone()).ParseFS(files, "templates/"+page+".html"))
	}
	return out
}()

// templateFiles lists the embedded templates (for tests).
func templateFiles() []string {
	names, _ := fs.Glob(files, "templates/*.html")
	return names
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, v view, frameable bool) {
	v.Prefix, v.Own, v.Status, v.ImagePath = c.prefix, c.b.Name(), status, c.imagePath
	if v.Pool == "" {
		v.Pool, v.Provider = c.b.Name(), string(c.b.Provider())
	}
	if v.Nonce == "" {
		v.Nonce = randomHex(16)
	}
	if v.Page == "" {
		v.Page = name
	}
	entry := "layout"
	if name == "login" || name == "message" {
		entry = name
	}
	var buf bytes.Buffer
	if err := templates[name].ExecuteTemplate(&buf, entry, v); err != nil {
		c.logger.Error("console template failed", zap.String("template", name), zap.Error(err))
		writeJSONError(w, http.StatusInternalServerError, "the console page could not be built: "+err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", csp(v.Nonce, frameable))
	if frameable {
		h.Del("X-Frame-Options")
	} else {
		h.Set("X-Frame-Options", "DENY")
	}
	h.Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

// renderPage shows a page of the console's pool or, with ?pool=<name>, of
// a pool it falls back to (an unknown name shows the console's own pool).
// The images page always shows the console's own pool: the site serves only
// that pool's images.
func (c *Console) renderPage(w http.ResponseWriter, r *http.Request, page string, s *session) {
	v := view{CSRF: s.csrf}
	if name := r.URL.Query().Get("pool"); name != "" && name != c.b.Name() && page != "providers" && page != "images" {
		if p := c.chainPool(name); p != nil {
			v.Pool, v.Provider, v.PoolQuery = p.Name(), string(p.Provider()), "?pool="+url.QueryEscape(p.Name())
		}
	}
	c.render(w, r, http.StatusOK, page, v, false)
}

// renderLogin shows the login page, with the message msgKey when not "".
// The login page alone may be framed: it says so and offers its own tab.
func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, status int, next, msgKey string, args map[string]string) {
	v := view{Next: next, MsgKey: msgKey}
	if msgKey != "" {
		v.MsgText = serverText[msgKey]
		if n, ok := args["n"]; ok {
			v.MsgArg = n
			v.MsgText = strings.ReplaceAll(v.MsgText, "{n}", n)
		}
	}
	c.render(w, r, status, "login", v, true)
}

// renderMessage shows a page with one message (no auth_token, not found).
func (c *Console) renderMessage(w http.ResponseWriter, r *http.Request, status int, what string) {
	key := "msg." + what
	c.render(w, r, status, "message", view{MsgKey: key, MsgText: serverText[key], Page: what}, false)
}
