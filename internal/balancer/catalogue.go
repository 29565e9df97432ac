package balancer

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
	"github.com/gemini-balance/gemini_balance/internal/provider"
	"github.com/gemini-balance/gemini_balance/internal/upstream"
)

const (
	// catalogueFresh is how long the upstream model list is served from
	// memory before a background refresh.
	catalogueFresh = 5 * time.Minute
	maxModelPages  = 50
)

// Catalogue is the upstream's model list.
type Catalogue struct {
	Models  []json.RawMessage // Gemini model objects as Google sent them
	IDs     []string          // their names without "models/"
	ids     map[string]bool
	Fetched time.Time
}

// Has reports whether the upstream lists model (with or without "models/").
func (c *Catalogue) Has(model string) bool {
	return c != nil && c.ids[strings.TrimPrefix(model, "models/")]
}

type catalogueCache struct {
	mu         sync.Mutex
	cur        *Catalogue
	refreshing bool
}

// Catalogue returns the upstream model list, following Google's pagination.
// A fresh copy is served from memory; a stale one is served while a refresh
// runs in the background; without any copy the caller waits for the fetch.
func (b *Balancer) Catalogue(ctx context.Context) (*Catalogue, *Failure) {
	b.models.mu.Lock()
	cur := b.models.cur
	if cur != nil && time.Since(cur.Fetched) > catalogueFresh && !b.models.refreshing {
		b.models.refreshing = true
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			_, _ = b.fetchCatalogue(ctx)
		}()
	}
	b.models.mu.Unlock()
	if cur != nil {
		return cur, nil
	}
	return b.fetchCatalogue(ctx)
}

// KnownModel reports whether the last fetched list has model; it never waits.
func (b *Balancer) KnownModel(model string) (known, listed bool) {
	b.models.mu.Lock()
	cur := b.models.cur
	b.models.mu.Unlock()
	return cur != nil, cur.Has(model)
}

func (b *Balancer) fetchCatalogue(ctx context.Context) (*Catalogue, *Failure) {
	defer func() {
		b.models.mu.Lock()
		b.models.refreshing = false
		b.models.mu.Unlock()
	}()
	c := &Catalogue{ids: map[string]bool{}}
	switch b.Provider() {
	case provider.OpenAI:
		return b.fetchOpenAICatalogue(ctx, c)
	case provider.VertexExpress:
		return nil, b.ownFailure(http.StatusNotImplemented, "no_list",
			"Vertex AI express mode has no model list: name a model (e.g. gemini-2.5-flash) in the request", nil)
	}
	call := &Call{Route: "models.list", Request: upstream.Request{Method: http.MethodGet, Path: "/models"}}
	token := ""
	for page := 0; page < maxModelPages; page++ {
		q := url.Values{"pageSize": {"1000"}}
		if token != "" {
			q.Set("pageToken", token)
		}
		call.Request.Query = q
		var list struct {
			Models        []json.RawMessage `json:"models"`
			NextPageToken string            `json:"nextPageToken"`
		}
		if fail := b.fetchList(ctx, call, &list); fail != nil {
			return nil, fail
		}
		for _, m := range list.Models {
			var meta struct {
				Name string `json:"name"`
			}
			_ = json.Unmarshal(m, &meta)
			c.add(strings.TrimPrefix(meta.Name, "models/"), m)
		}
		if list.NextPageToken == "" || list.NextPageToken == token {
			break
		}
		token = list.NextPageToken
	}
	return b.keepCatalogue(c), nil
}

func (b *Balancer) keepCatalogue(c *Catalogue) *Catalogue {
	c.Fetched = time.Now()
	b.models.mu.Lock()
	b.models.cur = c
	b.models.mu.Unlock()
	return c
}

// fetchOpenAICatalogue reads an OpenAI-compatible provider's model list
// ({"data":[{"id":...}]}) and shows each model as a Gemini model that
// generates content, so Gemini clients can list and pick them.
func (b *Balancer) fetchOpenAICatalogue(ctx context.Context, c *Catalogue) (*Catalogue, *Failure) {
	call := &Call{Route: "models.list", Request: upstream.Request{Method: http.MethodGet, Path: "/models", Bearer: true}}
	var list struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if fail := b.fetchList(ctx, call, &list); fail != nil {
		return nil, fail
	}
	for _, m := range list.Data {
		if m.ID == "" || c.ids[m.ID] {
			continue
		}
		obj, _ := json.Marshal(map[string]any{"name": "models/" + m.ID, "displayName": m.ID,
			"supportedGenerationMethods": []string{"generateContent", "streamGenerateContent"}})
		c.add(m.ID, obj)
	}
	return b.keepCatalogue(c), nil
}

// fetchList sends a model-list call and decodes its answer into list.
func (b *Balancer) fetchList(ctx context.Context, call *Call, list any) *Failure {
	out, fail := b.Do(ctx, call)
	if fail != nil {
		return fail
	}
	raw, err := io.ReadAll(io.LimitReader(out.Body, 16<<20))
	out.Finish(err, ctx.Err(), gemini.Usage{})
	if err == nil {
		err = json.Unmarshal(raw, list)
	}
	if err != nil {
		return b.ownFailure(http.StatusBadGateway, "bad_upstream", "upstream model list unreadable: "+err.Error(), nil)
	}
	return nil
}

// add puts model id, whose object is m, in the catalogue.
func (c *Catalogue) add(id string, m json.RawMessage) {
	c.Models = append(c.Models, m)
	c.IDs = append(c.IDs, id)
	c.ids[id] = true
}
