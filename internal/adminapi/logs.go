package adminapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/store"
)

// logFilter reads the filters of a log listing from the query.
func logFilter(r *http.Request) (store.LogFilter, error) {
	q := r.URL.Query()
	f := store.LogFilter{KeyID: q.Get("key"), Model: q.Get("model"), Text: q.Get("q"), Sort: q.Get("sort")}
	if s := q.Get("status"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return f, errors.New("status must be a number")
		}
		f.Status = n
	}
	for name, dst := range map[string]*time.Time{"from": &f.From, "to": &f.To} {
		if s := q.Get(name); s != "" {
			t, err := time.Parse(time.RFC3339, s)
			if err != nil {
				return f, errors.New(name + " must be an RFC 3339 time such as 2026-01-02T15:04:05Z")
			}
			*dst = t
		}
	}
	page, limit := intParam(r, "page", 1, 1, 1<<20), intParam(r, "limit", 50, 1, 500)
	f.Offset, f.Limit = (page-1)*limit, limit
	return f, nil
}

func (a *API) listLogs(w http.ResponseWriter, r *http.Request, b *balancer.Balancer) {
	if !b.HasLogs() {
		writeError(w, http.StatusServiceUnavailable, balancer.ErrNoLogs.Error())
		return
	}
	f, err := logFilter(r)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	var rows any
	var total int64
	switch r.PathValue("kind") {
	case "errors":
		rows, total, err = b.ErrorLogs(r.Context(), f)
	case "requests":
		rows, total, err = b.RequestLogs(r.Context(), f)
	default:
		writeError(w, http.StatusNotFound, "logs are errors or requests")
		return
	}
	if errors.Is(err, store.ErrInvalidFilter) {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	if err != nil {
		writeStoreError(w, "read the logs", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"logs": rows, "total": total, "page": f.Offset/f.Limit + 1, "limit": f.Limit})
}

func (a *API) logDetail(w http.ResponseWriter, r *http.Request, b *balancer.Balancer) {
	if !b.HasLogs() {
		writeError(w, http.StatusServiceUnavailable, balancer.ErrNoLogs.Error())
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || r.PathValue("kind") != "errors" {
		writeError(w, http.StatusNotFound, "no such log entry")
		return
	}
	e, err := b.ErrorLog(r.Context(), id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such log entry")
	case err != nil:
		writeStoreError(w, "read the log entry", err)
	default:
		writeJSON(w, http.StatusOK, e)
	}
}

func (a *API) deleteLogs(w http.ResponseWriter, r *http.Request, b *balancer.Balancer) {
	if !b.HasLogs() {
		writeError(w, http.StatusServiceUnavailable, balancer.ErrNoLogs.Error())
		return
	}
	var body struct {
		IDs []int64 `json:"ids"`
		All bool    `json:"all"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	if len(body.IDs) == 0 && !body.All {
		writeError(w, http.StatusBadRequest, `send {"ids": [...]} or {"all": true}`)
		return
	}
	ids := body.IDs
	if body.All {
		ids = nil
	}
	var n int64
	var err error
	switch r.PathValue("kind") {
	case "errors":
		n, err = b.DeleteErrorLogs(r.Context(), ids)
	case "requests":
		n, err = b.DeleteRequestLogs(r.Context(), ids)
	default:
		writeError(w, http.StatusNotFound, "logs are errors or requests")
		return
	}
	if err != nil {
		writeStoreError(w, "delete the logs", err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"deleted": n})
}
