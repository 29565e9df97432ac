// Package adminapi is the one service layer for operators: pools, keys,
// settings, stats and logs as a JSON HTTP API. Caddy's admin endpoint mounts
// it under /gemini_balance/ and the web console under {console}/api/; each
// front authenticates before calling it.
package adminapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/settings"
)

// API serves the routes. Pools lists the pools the caller may see; a pool
// outside that list is answered 404.
type API struct {
	Pools func(r *http.Request) []*balancer.Balancer
	mux   *http.ServeMux
}

// New builds the API.
func New(pools func(r *http.Request) []*balancer.Balancer) *API {
	a := &API{Pools: pools, mux: http.NewServeMux()}
	routes := map[string]func(http.ResponseWriter, *http.Request, *balancer.Balancer){
		"GET /pools/{pool}/keys":             a.listKeys,
		"POST /pools/{pool}/keys":            a.addKeys,
		"DELETE /pools/{pool}/keys":          a.deleteKeys,
		"POST /pools/{pool}/keys/check":      a.checkKeys,
		"POST /pools/{pool}/keys/reset":      a.resetKeys,
		"GET /pools/{pool}/keys/export":      a.exportKeys,
		"GET /pools/{pool}/settings":         a.getSettings,
		"PATCH /pools/{pool}/settings":       a.patchSettings,
		"GET /pools/{pool}/stats":            a.stats,
		"GET /pools/{pool}/logs/{kind}":      a.listLogs,
		"GET /pools/{pool}/logs/{kind}/{id}": a.logDetail,
		"DELETE /pools/{pool}/logs/{kind}":   a.deleteLogs,
		"GET /pools/{pool}/health":           a.health,
		"POST /pools/{pool}/test":            a.testConnection,
		"GET /pools/{pool}/images":           a.listImages,
		"DELETE /pools/{pool}/images":        a.deleteImages,
	}
	for pattern, h := range routes {
		a.mux.HandleFunc(pattern, a.withPool(h))
	}
	a.mux.HandleFunc("GET /pools", a.listPools)
	a.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such admin route: "+r.Method+" "+r.URL.Path)
	})
	return a
}

// ServeHTTP answers a request whose path is relative to the API's mount point.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	a.mux.ServeHTTP(w, r)
}

func (a *API) withPool(h func(http.ResponseWriter, *http.Request, *balancer.Balancer)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("pool")
		for _, b := range a.Pools(r) {
			if b.Name() == name {
				h(w, r, b)
				return
			}
		}
		writeError(w, http.StatusNotFound, "no pool named "+strconv.Quote(name))
	}
}

type errorBody struct {
	Error  string            `json:"error"`
	Fields map[string]string `json:"fields,omitempty"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, errorBody{Error: msg})
}

// writeStoreError reports a database failure as such, not as a generic one.
func writeStoreError(w http.ResponseWriter, what string, err error) {
	writeError(w, http.StatusServiceUnavailable, "the database could not "+what+": "+err.Error())
}

const maxRequestBody = 64 << 20

func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	if r.ContentLength == 0 && r.Body == http.NoBody {
		return true
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRequestBody))
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "request body is not valid JSON: "+err.Error())
		return false
	}
	return true
}

// PoolSummary is one pool in the list.
type PoolSummary struct {
	Name     string         `json:"name"`
	Keys     keypool.Counts `json:"keys"`
	Database string         `json:"database"`
	Provider string         `json:"provider"`
	// BaseURL is shown as the settings show it: credentials masked.
	BaseURL  string            `json:"base_url"`
	Fallback []string          `json:"fallback"`
	ModelMap map[string]string `json:"model_map"`
	// Chain is the order a request to this pool tries pools in: the pool,
	// then its fallbacks and theirs.
	Chain []string `json:"chain"`
}

func summary(ctx context.Context, b *balancer.Balancer) PoolSummary {
	h := b.Health(ctx)
	set := b.Settings()
	s := PoolSummary{Name: b.Name(), Keys: h.Keys, Database: h.Database, Provider: string(b.Provider()),
		BaseURL: shownBaseURL(&set), Fallback: nonNil(b.FallbackNames()), ModelMap: set.ModelMap, Chain: []string{}}
	if s.ModelMap == nil {
		s.ModelMap = map[string]string{}
	}
	for _, p := range b.Chain() {
		s.Chain = append(s.Chain, p.Name())
	}
	return s
}

func shownBaseURL(set *settings.Settings) string {
	o, _ := settings.Lookup("base_url")
	v, _ := o.Show(set).(string)
	return v
}

func (a *API) listPools(w http.ResponseWriter, r *http.Request) {
	out := []PoolSummary{}
	for _, b := range a.Pools(r) {
		out = append(out, summary(r.Context(), b))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	writeJSON(w, http.StatusOK, out)
}

// ConnectionTest is the answer of POST /pools/{pool}/test.
type ConnectionTest struct {
	Pool     string           `json:"pool"`
	Provider string           `json:"provider"`
	BaseURL  string           `json:"base_url"`
	Tested   int              `json:"tested"`
	Total    int              `json:"total"` // keys named, or the pool's keys when none were
	OK       int              `json:"ok"`
	Results  []balancer.Probe `json:"results"`
	Unknown  []string         `json:"unknown"`
}

// testConnection probes the named keys, or up to balancer.MaxTestedKeys of
// the pool, with the provider's cheapest call.
func (a *API) testConnection(w http.ResponseWriter, r *http.Request, b *balancer.Balancer) {
	refs, ok := keyRefs(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	results, unknown, total := b.TestConnection(ctx, refs)
	set := b.Settings()
	out := ConnectionTest{Pool: b.Name(), Provider: string(b.Provider()), BaseURL: shownBaseURL(&set),
		Tested: len(results), Total: total, Results: results, Unknown: nonNil(unknown)}
	for _, p := range results {
		if p.Status >= 200 && p.Status < 300 {
			out.OK++
		}
	}
	if out.Results == nil {
		out.Results = []balancer.Probe{}
	}
	writeJSON(w, http.StatusOK, out)
}

func (a *API) health(w http.ResponseWriter, r *http.Request, b *balancer.Balancer) {
	writeJSON(w, http.StatusOK, b.Health(r.Context()))
}

// KeyView is a key as operators see it: masked, never whole.
type KeyView struct {
	ID                  string     `json:"id"`
	Key                 string     `json:"key"`
	Status              string     `json:"status"` // active, cooling, invalid
	Reason              string     `json:"reason,omitempty"`
	Source              string     `json:"source"`
	Cooldowns           []Cooldown `json:"cooldowns,omitempty"`
	ConsecutiveFailures int        `json:"consecutive_failures"`
	TotalFailures       int64      `json:"total_failures"`
	Calls               int64      `json:"calls"`
	Calls24h            int64      `json:"calls_24h"`
	LastUsedAt          *time.Time `json:"last_used_at,omitempty"`
	LastError           string     `json:"last_error,omitempty"`
	CreatedAt           time.Time  `json:"created_at"`
}

// Cooldown is one model a key rests for.
type Cooldown struct {
	Model       string    `json:"model"`
	Until       time.Time `json:"until"`
	SecondsLeft int64     `json:"seconds_left"`
}

func view(k *keypool.Key, now time.Time, calls24h map[string]int64) KeyView {
	s := k.Snapshot(now)
	v := KeyView{ID: s.ID, Key: s.Masked, Status: k.Condition(now), Reason: s.Reason, Source: s.Source,
		ConsecutiveFailures: s.ConsecutiveFailures, TotalFailures: s.TotalFailures, Calls: s.Calls,
		Calls24h: calls24h[s.ID], LastError: s.LastError, CreatedAt: s.CreatedAt}
	if !s.LastUsedAt.IsZero() {
		t := s.LastUsedAt
		v.LastUsedAt = &t
	}
	for model, until := range s.Cooldowns {
		v.Cooldowns = append(v.Cooldowns, Cooldown{Model: model, Until: until, SecondsLeft: int64(until.Sub(now).Seconds() + 0.999)})
	}
	sort.Slice(v.Cooldowns, func(i, j int) bool { return v.Cooldowns[i].Model < v.Cooldowns[j].Model })
	return v
}

// KeyPage is one page of the key list.
type KeyPage struct {
	Keys   []KeyView      `json:"keys"`
	Total  int            `json:"total"`
	Page   int            `json:"page"`
	Limit  int            `json:"limit"`
	Counts keypool.Counts `json:"counts"`
}

func intParam(r *http.Request, name string, def, min, max int) int {
	n, err := strconv.Atoi(r.URL.Query().Get(name))
	if err != nil {
		return def
	}
	return clamp(n, min, max)
}

func clamp(n, lo, hi int) int {
	if n < lo {
		return lo
	}
	if n > hi {
		return hi
	}
	return n
}

func (a *API) listKeys(w http.ResponseWriter, r *http.Request, b *balancer.Balancer) {
	status := r.URL.Query().Get("status")
	if status != "" && !keypool.ValidCondition(status) {
		writeError(w, http.StatusBadRequest, "status must be active, cooling or invalid")
		return
	}
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	page, limit := intParam(r, "page", 1, 1, 1<<30), intParam(r, "limit", 50, 1, 1000)
	keys, total := b.ListKeys(balancer.KeyFilter{Condition: status, Q: q}, (page-1)*limit, limit)
	out := KeyPage{Keys: []KeyView{}, Total: total, Page: page, Limit: limit, Counts: b.KeyCounts()}
	calls := b.KeyCalls24h(r.Context(), keys)
	now := time.Now()
	for _, k := range keys {
		out.Keys = append(out.Keys, view(k, now, calls))
	}
	writeJSON(w, http.StatusOK, out)
}

type keysBody struct {
	Keys []string `json:"keys"`
	Text string   `json:"text"` // pasted text: keys are found by pattern
}

// AddResult says what happened to each submitted key.
type AddResult = balancer.AddResult

func (a *API) addKeys(w http.ResponseWriter, r *http.Request, b *balancer.Balancer) {
	var body keysBody
	if !decodeBody(w, r, &body) {
		return
	}
	raw := body.Keys
	if body.Text != "" {
		raw = append(raw, keypool.ExtractKeys(body.Text)...)
	}
	if len(raw) == 0 {
		writeError(w, http.StatusBadRequest, `send {"keys": ["..."]} or {"text": "..."} with at least one key`)
		return
	}
	res, err := b.AddKeys(r.Context(), raw, keypool.SourceAdmin)
	if err != nil {
		writeStoreError(w, "save the keys, so none were added", err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// DeleteResult says what a delete did.
type DeleteResult = balancer.DeleteResult

func (a *API) deleteKeys(w http.ResponseWriter, r *http.Request, b *balancer.Balancer) {
	var body keysBody
	if !decodeBody(w, r, &body) {
		return
	}
	if len(body.Keys) == 0 {
		writeError(w, http.StatusBadRequest, `send {"keys": [...]} with full or masked keys`)
		return
	}
	res, err := b.DeleteKeys(r.Context(), body.Keys)
	if err != nil {
		writeStoreError(w, "delete the keys", err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// keyRefs reads the keys a check or reset is about: none means the
// route's default set.
func keyRefs(w http.ResponseWriter, r *http.Request) ([]string, bool) {
	var body keysBody
	if !decodeBody(w, r, &body) {
		return nil, false
	}
	return body.Keys, true
}

func (a *API) checkKeys(w http.ResponseWriter, r *http.Request, b *balancer.Balancer) {
	refs, ok := keyRefs(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Minute)
	defer cancel()
	results, unknown := b.CheckKeys(ctx, refs)
	valid := 0
	for _, res := range results {
		if res.Valid {
			valid++
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{"checked": len(results), "valid": valid, "results": results, "unknown": nonNil(unknown)})
}

func (a *API) resetKeys(w http.ResponseWriter, r *http.Request, b *balancer.Balancer) {
	refs, ok := keyRefs(w, r)
	if !ok {
		return
	}
	n, unknown := b.ResetKeys(refs)
	writeJSON(w, http.StatusOK, map[string]any{"reset": n, "unknown": nonNil(unknown)})
}

// exportKeys is the only route that shows whole keys.
func (a *API) exportKeys(w http.ResponseWriter, r *http.Request, b *balancer.Balancer) {
	status := r.URL.Query().Get("status")
	keys := b.ExportKeys(status)
	if r.URL.Query().Get("format") == "text" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+b.Name()+`-keys.txt"`)
		_, _ = w.Write([]byte(strings.Join(keys, "\n") + "\n"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"keys": keys})
}

func (a *API) getSettings(w http.ResponseWriter, r *http.Request, b *balancer.Balancer) {
	writeJSON(w, http.StatusOK, b.SettingsView())
}

func (a *API) patchSettings(w http.ResponseWriter, r *http.Request, b *balancer.Balancer) {
	var values map[string]json.RawMessage
	if !decodeBody(w, r, &values) {
		return
	}
	if len(values) == 0 {
		writeError(w, http.StatusBadRequest, `send {"<option>": value, ...}`)
		return
	}
	changed, err := b.PatchSettings(r.Context(), values)
	var conflict *balancer.ConflictError
	var fields settings.FieldErrors
	switch {
	case errors.As(err, &conflict):
		writeJSON(w, http.StatusConflict, errorBody{Error: "options set in the Caddyfile can only be changed there", Fields: conflict.Fields})
	case errors.As(err, &fields):
		writeJSON(w, http.StatusBadRequest, errorBody{Error: "invalid settings; nothing was changed", Fields: fields})
	case errors.Is(err, balancer.ErrNoDatabase):
		writeError(w, http.StatusServiceUnavailable, err.Error())
	case err != nil:
		writeStoreError(w, "save the settings, so nothing was changed", err)
	default:
		writeJSON(w, http.StatusOK, map[string]any{"changed": nonNil(changed), "settings": b.SettingsView()})
	}
}

// Stats is the dashboard's data.
type Stats = balancer.Stats

func (a *API) stats(w http.ResponseWriter, r *http.Request, b *balancer.Balancer) {
	out, err := b.Stats(r.Context())
	if err != nil {
		writeStoreError(w, "read the statistics", err)
		return
	}
	writeJSON(w, http.StatusOK, out)
}
