// Package balancer is one key pool at work: its keys, its upstream client,
// its store and live settings, the attempt loop that applies the failure
// policy, and the background jobs (state persistence, re-checks of invalid
// keys). It knows nothing of Caddy.
package balancer

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/gemini-balance/gemini_balance/internal/gemini"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/models"
	"github.com/gemini-balance/gemini_balance/internal/store"
	"github.com/gemini-balance/gemini_balance/internal/upstream"
)

// Settings are the options that may change while the pool runs.
type Settings struct {
	MaxFailures   int           // consecutive failures before a key is invalid
	MaxRetries    int           // extra attempts on other keys
	TestModel     string        // model probed by key checks
	CheckInterval time.Duration // re-check of invalid keys; 0 disables
	Models        ModelSettings
}

// ModelSettings shape what is asked of each model.
type ModelSettings struct {
	SearchModels       []string       // get a -search alias
	ImageModels        []string       // get an -image alias
	ThinkingModels     []string       // get a -non-thinking alias
	ThinkingBudgets    map[string]int // default thinking budget per model
	FilteredModels     []string       // hidden from lists and refused
	SafetySettings     []SafetySetting
	CodeExecution      bool // add the codeExecution tool
	URLContext         bool // add the urlContext tool
	ShowSearchLink     bool // append grounding sources to translated answers
	ShowThinking       bool // show thoughts as reasoning_content
	FakeStream         bool // answer OpenAI streams from a non-streamed upstream call
	FakeStreamInterval time.Duration
	RetryEmpty         bool   // retry an empty answer on another key
	PaidKey            string // used for Imagen when set
	ImageModel         string // Imagen model behind /v1/images/generations
	TTSModel           string // model behind /v1/audio/speech
	TTSVoice           string // default voice
}

// SafetySetting is one Gemini safety threshold.
type SafetySetting struct {
	Category  string `json:"category"`
	Threshold string `json:"threshold"`
}

// DefaultModelSettings are gemini-balance's defaults, so its users find the same behaviour.
func DefaultModelSettings() ModelSettings {
	return ModelSettings{
		SearchModels:   []string{"gemini-2.5-flash", "gemini-2.5-pro"},
		ImageModels:    []string{"gemini-2.0-flash-exp", "gemini-2.5-flash-image-preview"},
		FilteredModels: []string{"gemini-1.0-pro-vision-latest", "gemini-pro-vision", "chat-bison-001", "text-bison-001", "embedding-gecko-001"},
		SafetySettings: []SafetySetting{
			{"HARM_CATEGORY_HARASSMENT", "OFF"}, {"HARM_CATEGORY_HATE_SPEECH", "OFF"},
			{"HARM_CATEGORY_SEXUALLY_EXPLICIT", "OFF"}, {"HARM_CATEGORY_DANGEROUS_CONTENT", "OFF"},
			{"HARM_CATEGORY_CIVIC_INTEGRITY", "BLOCK_NONE"},
		},
		ShowSearchLink: true, ShowThinking: true, FakeStreamInterval: 5 * time.Second, RetryEmpty: true,
		ImageModel: "imagen-3.0-generate-002", TTSModel: "gemini-2.5-flash-preview-tts", TTSVoice: "Zephyr",
	}
}

// Defaults of the settings.
const (
	DefaultMaxFailures   = 3
	DefaultMaxRetries    = 3
	DefaultTimeout       = 300 * time.Second
	DefaultTestModel     = "gemini-2.5-flash-lite"
	DefaultCheckInterval = time.Hour
)

// DefaultSettings are used where the configuration says nothing.
func DefaultSettings() Settings {
	return Settings{MaxFailures: DefaultMaxFailures, MaxRetries: DefaultMaxRetries, TestModel: DefaultTestModel,
		CheckInterval: DefaultCheckInterval, Models: DefaultModelSettings()}
}

// Config builds or re-configures a Balancer.
type Config struct {
	Name         string
	DatabasePath string // "" runs without persistence
	Keys         []string
	Upstream     upstream.Options
	Settings     Settings
}

// Balancer is one live pool. All methods are safe for concurrent use.
type Balancer struct {
	name   string
	pool   *keypool.Pool
	store  *store.Store // nil when the database could not be opened
	dbErr  error
	logger *zap.Logger

	client   atomic.Pointer[upstream.Client]
	settings atomic.Pointer[Settings]
	models   catalogueCache
	aliases  atomic.Pointer[models.Aliases]
	safety   atomic.Pointer[json.RawMessage]

	applyMu    sync.Mutex // serialises Apply
	stop       chan struct{}
	wg         sync.WaitGroup
	closeOnce  sync.Once
	checkKick  chan struct{}
	persistErr atomic.Pointer[string]
	now        func() time.Time
}

// Open starts a pool: it opens the database (a database that cannot be opened
// is logged and the pool runs in memory), restores stored keys and their
// state, adds the configured keys and starts the background jobs.
func Open(cfg Config, logger *zap.Logger) (*Balancer, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	b := &Balancer{
		name: cfg.Name, pool: keypool.New(), logger: logger,
		stop: make(chan struct{}), checkKick: make(chan struct{}, 1), now: time.Now,
	}
	if cfg.DatabasePath != "" {
		st, err := store.Open(cfg.DatabasePath, 0, logger.Named("store"))
		if err != nil {
			b.dbErr = err
			logger.Error("database unavailable: keys and logs are kept in memory only",
				zap.String("database", cfg.DatabasePath), zap.Error(err))
		} else {
			b.store = st
			if err := b.restoreKeys(); err != nil {
				logger.Error("cannot load keys from the database", zap.Error(err))
			}
		}
	}
	if err := b.Apply(cfg); err != nil {
		b.Close()
		return nil, err
	}
	b.wg.Add(2)
	go b.persistLoop()
	go b.checkLoop()
	return b, nil
}

func (b *Balancer) restoreKeys() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs, err := b.store.LoadKeys(ctx, b.name)
	if err != nil {
		return err
	}
	now := b.now()
	keys := make([]*keypool.Key, 0, len(recs))
	for _, r := range recs {
		k := keypool.NewKey(r.Key, r.Source)
		k.Restore(stateFromRecord(r), now)
		keys = append(keys, k)
	}
	b.pool.Add(keys...)
	return nil
}

// Apply installs a (new) configuration: upstream client, settings and the
// Caddyfile's keys. In-flight requests keep the client they started with.
func (b *Balancer) Apply(cfg Config) error {
	client, err := upstream.New(cfg.Upstream)
	if err != nil {
		return err
	}
	b.applyMu.Lock()
	defer b.applyMu.Unlock()
	s := cfg.Settings
	m := s.Models
	b.aliases.Store(models.NewAliases(m.SearchModels, m.ImageModels, m.ThinkingModels, m.FilteredModels))
	var safety json.RawMessage
	if len(m.SafetySettings) > 0 {
		safety, _ = json.Marshal(m.SafetySettings)
	}
	b.safety.Store(&safety)
	if old := b.settings.Swap(&s); old != nil && old.CheckInterval != s.CheckInterval {
		b.kickChecker()
	}
	if old := b.client.Swap(client); old != nil {
		// Idle connections of the old client close; requests in flight finish.
		go func() { time.Sleep(time.Minute); old.Close() }()
	}
	added, removed := b.pool.SyncCaddyfile(cfg.Keys)
	if b.store != nil && (len(added) > 0 || len(removed) > 0) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := b.insertKeys(ctx, added); err != nil {
			b.logger.Error("cannot store new keys", zap.Error(err))
		}
		if len(removed) > 0 {
			ids := make([]string, len(removed))
			for i, k := range removed {
				ids[i] = k.ID()
			}
			if _, err := b.store.DeleteKeys(ctx, b.name, ids); err != nil {
				b.logger.Error("cannot delete removed keys", zap.Error(err))
			}
		}
	}
	if len(added) > 0 || len(removed) > 0 {
		b.logger.Info("keys synchronised with the configuration",
			zap.String("pool", b.name), zap.Int("added", len(added)), zap.Int("removed", len(removed)), zap.Int("total", b.pool.Len()))
	}
	return nil
}

func (b *Balancer) insertKeys(ctx context.Context, keys []*keypool.Key) error {
	if b.store == nil || len(keys) == 0 {
		return nil
	}
	now := b.now()
	recs := make([]store.KeyRecord, len(keys))
	for i, k := range keys {
		recs[i] = b.record(k.Snapshot(now))
	}
	_, err := b.store.InsertKeys(ctx, recs)
	return err
}

// Name is the pool's name.
func (b *Balancer) Name() string { return b.name }

// Pool is the key pool.
func (b *Balancer) Pool() *keypool.Pool { return b.pool }

// Store is the database, nil when it could not be opened.
func (b *Balancer) Store() *store.Store { return b.store }

// Settings are the settings in force.
func (b *Balancer) Settings() Settings { return *b.settings.Load() }

// Aliases is the alias table of the settings in force.
func (b *Balancer) Aliases() *models.Aliases { return b.aliases.Load() }

// Features are the request changes the settings ask for on model r.
func (b *Balancer) Features(r models.Resolved) gemini.Features {
	m := &b.settings.Load().Models
	f := gemini.Features{
		Search: r.Search, ImageOutput: r.Image, DisableThinking: r.NonThinking,
		SafetySettings: *b.safety.Load(), CodeExecution: m.CodeExecution, URLContext: m.URLContext,
	}
	if n, ok := m.ThinkingBudgets[r.Upstream]; ok {
		f.ThinkingBudget = &n
	}
	return f
}

// Resolve reads a requested model name: an alias suffix counts only when the
// full name is not an upstream model. When the upstream list is not known
// yet and the name looks like an alias, the list is fetched first.
func (b *Balancer) Resolve(ctx context.Context, model string) models.Resolved {
	aliases := b.Aliases()
	r := aliases.Resolve(model, nil)
	if !r.Aliased() {
		return r
	}
	if known, _ := b.KnownModel(model); !known {
		b.Catalogue(ctx) // on failure the alias reading stands
	}
	if known, _ := b.KnownModel(model); known {
		r = aliases.Resolve(model, func(m string) bool { _, listed := b.KnownModel(m); return listed })
	}
	return r
}

// Client is the upstream client in force.
func (b *Balancer) Client() *upstream.Client { return b.client.Load() }

// Close stops the background jobs, saves key state and closes the database.
func (b *Balancer) Close() error {
	var err error
	b.closeOnce.Do(func() {
		close(b.stop)
		b.wg.Wait()
		b.persist()
		if c := b.client.Load(); c != nil {
			c.Close()
		}
		if b.store != nil {
			err = b.store.Close()
		}
	})
	return err
}

// Health is what /health reports.
type Health struct {
	Status   string         `json:"status"` // "ok" or "degraded"
	Pool     string         `json:"pool"`
	Keys     keypool.Counts `json:"keys"`
	Database string         `json:"database"` // "ok", "memory" or the error
	Problems []string       `json:"problems,omitempty"`
}

// Health checks the pool and the database.
func (b *Balancer) Health(ctx context.Context) Health {
	h := Health{Status: "ok", Pool: b.name, Keys: b.pool.Counts(b.now()), Database: "ok"}
	switch {
	case b.store == nil && b.dbErr != nil:
		h.Database = "unavailable: " + b.dbErr.Error()
		h.Problems = append(h.Problems, "database unavailable; keys and logs are kept in memory only")
	case b.store == nil:
		h.Database = "memory"
	default:
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := b.store.Ping(pctx); err != nil {
			h.Database = "error: " + err.Error()
			h.Problems = append(h.Problems, "database does not answer")
		} else if st := b.store.Stats(); st.LastError != "" && time.Since(st.LastErrorAt) < time.Minute {
			h.Database = "write errors: " + st.LastError
			h.Problems = append(h.Problems, "database writes are failing")
		}
	}
	if p := b.persistErr.Load(); p != nil {
		h.Problems = append(h.Problems, "key state not saved: "+*p)
	}
	switch {
	case h.Keys.Active+h.Keys.Cooling+h.Keys.Invalid == 0:
		h.Problems = append(h.Problems, "the key pool is empty")
	case h.Keys.Active == 0 && h.Keys.Cooling == 0:
		h.Problems = append(h.Problems, "all keys are invalid")
	case h.Keys.Active == 0:
		h.Problems = append(h.Problems, "all keys are cooling down")
	}
	if len(h.Problems) > 0 {
		h.Status = "degraded"
	}
	return h
}

// persistLoop saves changed key state every second.
func (b *Balancer) persistLoop() {
	defer b.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			b.persist()
		}
	}
}

// persist writes the state of keys changed since the last pass.
func (b *Balancer) persist() {
	if b.store == nil {
		return
	}
	dirty := b.pool.TakeDirty()
	if len(dirty) == 0 {
		return
	}
	now := b.now()
	recs := make([]store.KeyRecord, len(dirty))
	for i, k := range dirty {
		recs[i] = b.record(k.Snapshot(now))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.store.SaveKeyStates(ctx, recs); err != nil {
		for _, k := range dirty {
			k.MarkDirty()
		}
		msg := err.Error()
		if old := b.persistErr.Swap(&msg); old == nil {
			b.logger.Error("cannot save key state; will retry", zap.Error(err))
		}
		return
	}
	b.persistErr.Store(nil)
}

// Persist saves changed key state now (used by tests and shutdown).
func (b *Balancer) Persist() { b.persist() }

func (b *Balancer) record(s keypool.State) store.KeyRecord {
	return store.KeyRecord{
		Pool: b.name, KeyID: s.ID, Key: s.Key, Masked: s.Masked, Status: s.Status.String(), Reason: s.Reason,
		ConsecutiveFailures: s.ConsecutiveFailures, TotalFailures: s.TotalFailures, Cooldowns: s.Cooldowns,
		Calls: s.Calls, LastUsedAt: s.LastUsedAt, LastError: s.LastError, Source: s.Source, CreatedAt: s.CreatedAt,
	}
}

func stateFromRecord(r store.KeyRecord) keypool.State {
	return keypool.State{
		ID: r.KeyID, Key: r.Key, Masked: r.Masked, Status: keypool.ParseStatus(r.Status), Reason: r.Reason,
		ConsecutiveFailures: r.ConsecutiveFailures, TotalFailures: r.TotalFailures, Cooldowns: r.Cooldowns,
		Calls: r.Calls, LastUsedAt: r.LastUsedAt, LastError: r.LastError, Source: r.Source, CreatedAt: r.CreatedAt,
	}
}

func (b *Balancer) closed() bool {
	select {
	case <-b.stop:
		return true
	default:
		return false
	}
}

func (b *Balancer) String() string { return fmt.Sprintf("pool %q", b.name) }
