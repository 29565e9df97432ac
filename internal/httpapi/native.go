package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/gemini"
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
	wantMethod := http.MethodPost
	if action == "" {
		wantMethod = http.MethodGet
	}
	if name != "" && model == "" {
		return false
	}
	if r.Method != wantMethod && !(wantMethod == http.MethodGet && r.Method == http.MethodHead) {
		w.Header().Set("Allow", wantMethod)
		writeJSON(w, http.StatusMethodNotAllowed, gemini.ErrorBody(http.StatusMethodNotAllowed,
			fmt.Sprintf("%s %s is not supported; use %s", r.Method, r.URL.Path, wantMethod)))
		return true
	}
	token, ok := h.authenticate(w, r, nativeDialect)
	if !ok {
		return true
	}
	query := upstreamQuery(r.URL.Query())
	call := &balancer.Call{
		Model:       model,
		ClientToken: secret.Mask(token),
		Request: upstream.Request{
			Method: http.MethodGet, Path: "/models", Query: query, Header: forwardedHeader(r),
		},
	}
	switch {
	case name == "":
		call.Route = "gemini.models"
		if query.Get("pageToken") == "" && query.Get("pageSize") == "" {
			h.listAllModels(w, r)
			return true
		}
	case action == "":
		call.Route = "gemini.getModel"
		call.Request.Path = "/models/" + url.PathEscape(model)
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
		res := h.Balancer.Resolve(r.Context(), model)
		if h.Balancer.Aliases().Filtered(res.Upstream) {
			writeJSON(w, http.StatusNotFound, gemini.ErrorBody(http.StatusNotFound,
				fmt.Sprintf("model %s is not available on this server (filtered_models)", model)))
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
		call.Request.Path = "/models/" + url.PathEscape(res.Upstream) + ":" + action
		call.Request.Body = body
	}
	h.forwardAs(w, r, call, nativeDialect)
	return true
}

// upstreamQuery is the client's query without its credential.
func upstreamQuery(q url.Values) url.Values {
	q.Del("key")
	return q
}

// forwardAs runs call and relays the answer, or the failure in dialect d.
func (h *Handler) forwardAs(w http.ResponseWriter, r *http.Request, call *balancer.Call, d dialect) {
	out, fail := h.Balancer.Do(r.Context(), call)
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
	models := cat.Models
	if models == nil {
		models = []json.RawMessage{}
	}
	body, _ := json.Marshal(map[string]any{"models": models})
	writeJSON(w, http.StatusOK, body)
}
