package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/gemini"
	"github.com/gemini-balance/gemini_balance/internal/models"
	"github.com/gemini-balance/gemini_balance/internal/pathguard"
	"github.com/gemini-balance/gemini_balance/internal/provider"
	"github.com/gemini-balance/gemini_balance/internal/secret"
	"github.com/gemini-balance/gemini_balance/internal/upstream"
)

// serveNative handles a path below /v1beta (rest starts with "/").
func (h *Handler) serveNative(w http.ResponseWriter, r *http.Request, rest string) bool {
	if rest != "/models" && !strings.HasPrefix(rest, "/models/") {
		return false
	}
	name := strings.TrimPrefix(strings.TrimPrefix(rest, "/models"), "/")
	model, action := gemini.SplitModelAction(name)
	hasAction := strings.Contains(name, ":")
	wantMethod := http.MethodPost
	if !hasAction {
		wantMethod = http.MethodGet
	}
	if r.Method != wantMethod && !(wantMethod == http.MethodGet && r.Method == http.MethodHead) {
		w.Header().Set("Allow", wantMethod)
		writeJSON(w, http.StatusMethodNotAllowed, gemini.ErrorBody(http.StatusMethodNotAllowed,
			fmt.Sprintf("%s %s is not supported; use %s", r.Method, shorten(r.URL.Path), wantMethod)))
		return true
	}
	token, ok := h.authenticate(w, r, nativeDialect)
	if !ok {
		return true
	}
	// The model and method go into the upstream URL: only validated ones.
	if name != "" {
		if !pathguard.ValidModel(model) {
			writeJSON(w, http.StatusBadRequest, gemini.ErrorBody(http.StatusBadRequest, pathguard.ModelError(model)))
			return true
		}
		if hasAction && !pathguard.LettersOnly(action) {
			writeJSON(w, http.StatusBadRequest, gemini.ErrorBody(http.StatusBadRequest,
				fmt.Sprintf("method %q is not valid: a method name is letters only, such as generateContent", shortenTo(action, 64))))
			return true
		}
		if hasAction && !pathguard.KnownAction(action) {
			writeJSON(w, http.StatusNotFound, gemini.ErrorBody(http.StatusNotFound,
				fmt.Sprintf("unknown method %s; this server forwards %s", action, strings.Join(pathguard.NativeActions, ", "))))
			return true
		}
	}
	query := upstreamQuery(r.URL.Query())
	call := &balancer.Call{
		Model:       model,
		ClientToken: secret.MaskToken(token),
		Request: upstream.Request{
			Method: http.MethodGet, Path: "/models", Query: query, Header: forwardedHeader(r),
		},
	}
	var res models.Resolved
	if name != "" {
		res = h.Balancer.Resolve(r.Context(), model)
		if h.Balancer.Aliases().Filtered(res.Upstream) {
			writeJSON(w, http.StatusNotFound, gemini.ErrorBody(http.StatusNotFound,
				fmt.Sprintf("model %s is not available on this server (filtered_models)", model)))
			return true
		}
	}
	switch {
	case name == "":
		call.Route = "gemini.models"
		if query.Get("pageToken") == "" && query.Get("pageSize") == "" || h.Balancer.Provider() != provider.Gemini {
			// Other providers' lists are read whole (see Catalogue) and
			// answered as one page.
			h.listAllModels(w, r)
			return true
		}
		h.listModelPage(w, r, call)
		return true
	case !hasAction && h.Balancer.Provider() == provider.OpenAI:
		h.catalogueModel(w, r, res.Requested)
		return true
	case !hasAction:
		call.Route = "gemini.getModel"
		call.Request.Path = "/models/" + res.Upstream
		if res.Aliased() {
			// An alias answers as its base model, under its own name.
			h.forwardModel(w, r, call, res.Requested, strings.TrimPrefix(res.Requested, res.Upstream+"-"))
			return true
		}
	default:
		body, ok := h.readBody(w, r, nativeDialect)
		if !ok {
			return true
		}
		if !json.Valid(body) {
			msg := "request body is not valid JSON"
			if len(body) == 0 {
				msg = "request body is empty: send a JSON object"
			}
			writeJSON(w, http.StatusBadRequest, gemini.ErrorBody(http.StatusBadRequest, msg))
			return true
		}
		if action == "generateContent" || action == "streamGenerateContent" {
			var err error
			if body, err = gemini.ApplyFeatures(body, h.Balancer.Features(res)); err != nil {
				writeJSON(w, http.StatusBadRequest, gemini.ErrorBody(http.StatusBadRequest, err.Error()))
				return true
			}
		}
		call.Model = res.Upstream
		call.Route = "gemini." + action
		call.Stream = action == "streamGenerateContent"
		call.Request.Method = http.MethodPost
		call.Request.Path = "/models/" + res.Upstream + ":" + action
		call.Request.Body = body
		// Files and caches the body names stay on their key; batches and
		// operations a method creates are recorded (files.go).
		if h.resourceHook(w, r, call, token, action) {
			return true
		}
	}
	h.forwardAs(w, r, call, nativeDialect)
	return true
}

// shorten keeps a client-sent string short enough to quote in a message.
func shorten(s string) string { return shortenTo(s, 200) }

func shortenTo(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// forwardedQuery are the query parameters passed upstream: the ones the
// served methods read, plus Google's harmless system parameters. Others
// (the client's key, access tokens, method overrides such as $httpMethod)
// are dropped.
var forwardedQuery = map[string]bool{
	"alt": true, "$alt": true, "pageSize": true, "pageToken": true,
	"fields": true, "$fields": true, "prettyPrint": true, "$prettyPrint": true,
}

// upstreamQuery is the client's query without its credential or anything
// but forwardedQuery.
func upstreamQuery(q url.Values) url.Values {
	for name := range q {
		if !forwardedQuery[name] {
			delete(q, name)
		}
	}
	return q
}

// forwardAs runs call and relays the answer, or the failure in dialect d.
func (h *Handler) forwardAs(w http.ResponseWriter, r *http.Request, call *balancer.Call, d dialect) {
	out, _, fail := h.do(w, r, call, nil)
	if fail != nil {
		d.writeFailure(w, fail)
		return
	}
	relay(w, r, out)
}

// listAllModels answers with every upstream model in one list; the
// catalogue follows Google's pagination and is cached briefly.
func (h *Handler) listAllModels(w http.ResponseWriter, r *http.Request) {
	cat, fail := h.Balancer.Catalogue(r.Context())
	if fail != nil {
		nativeDialect.writeFailure(w, fail)
		return
	}
	models := h.visibleModels(cat.Models)
	body, _ := json.Marshal(map[string]any{"models": models})
	writeJSON(w, http.StatusOK, body)
}

// visibleModels is a Gemini model list as clients see it: filtered models
// left out, each alias added after its base model as a model of its own.
func (h *Handler) visibleModels(list []json.RawMessage) []json.RawMessage {
	aliases := h.Balancer.Aliases()
	out := make([]json.RawMessage, 0, len(list))
	for _, m := range list {
		id := gemini.ModelName(m)
		if aliases.Filtered(id) {
			continue
		}
		out = append(out, m)
		for _, alias := range aliases.Variants(id) {
			out = append(out, gemini.AsModel(m, alias, strings.TrimPrefix(alias, id+"-")))
		}
	}
	return out
}

// catalogueModel answers a model get from the model list of a pool whose
// provider has no Gemini model get.
func (h *Handler) catalogueModel(w http.ResponseWriter, r *http.Request, id string) {
	cat, fail := h.Balancer.Catalogue(r.Context())
	if fail != nil {
		nativeDialect.writeFailure(w, fail)
		return
	}
	for i, m := range cat.IDs {
		if m == id {
			writeJSON(w, http.StatusOK, cat.Models[i])
			return
		}
	}
	writeJSON(w, http.StatusNotFound, gemini.ErrorBody(http.StatusNotFound, fmt.Sprintf("models/%s is not found", id)))
}

// listModelPage forwards one page of the model list (the SDKs' pagers ask
// for pages) as visibleModels shows it.
func (h *Handler) listModelPage(w http.ResponseWriter, r *http.Request, call *balancer.Call) {
	h.forwardTransformed(w, r, call, nativeDialect, func(raw []byte) []byte {
		var page map[string]json.RawMessage
		var list []json.RawMessage
		if json.Unmarshal(raw, &page) != nil || json.Unmarshal(page["models"], &list) != nil {
			return raw
		}
		page["models"], _ = json.Marshal(h.visibleModels(list))
		out, err := json.Marshal(page)
		if err != nil {
			return raw
		}
		return out
	})
}

// forwardModel gets a base model and answers it as the alias id.
func (h *Handler) forwardModel(w http.ResponseWriter, r *http.Request, call *balancer.Call, id, label string) {
	h.forwardTransformed(w, r, call, nativeDialect, func(raw []byte) []byte { return gemini.AsModel(raw, id, label) })
}

// forwardTransformed runs a call whose small answer is read whole and
// changed by edit before it reaches the client; failures in dialect d.
func (h *Handler) forwardTransformed(w http.ResponseWriter, r *http.Request, call *balancer.Call, d dialect, edit func([]byte) []byte) {
	if out, raw, ok := h.doWhole(w, r, call, d); ok {
		writeJSON(w, out.Resp.StatusCode, edit(raw))
	}
}
