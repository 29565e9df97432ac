// Package balancer is one key pool at work: its keys, its upstream client,
// its store and live settings, the attempt loop that applies the failure
// policy, and the background jobs (state persistence, re-checks of invalid
// keys). It knows nothing of Caddy.
package balancer

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/gemini-balance/gemini_balance/internal/affinity"
	"github.com/gemini-balance/gemini_balance/internal/gemini"
	"github.com/gemini-balance/gemini_balance/internal/imagestore"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/metrics"
	"github.com/gemini-balance/gemini_balance/internal/models"
	"github.com/gemini-balance/gemini_balance/internal/provider"
	"github.com/gemini-balance/gemini_balance/internal/secret"
	"github.com/gemini-balance/gemini_balance/internal/settings"
	"github.com/gemini-balance/gemini_balance/internal/store"
	"github.com/gemini-balance/gemini_balance/internal/upstream"
)

// Settings are a pool's run-time options (see internal/settings).
type Settings = settings.Settings

// Config builds or re-configures a Balancer.
type Config struct {
	Name         string
	DatabasePath string // "" runs without persistence
	Keys         []string
	// Settings are the defaults with the configuration's values laid over;
	// Locked names the options the configuration wrote, which the database
	// and the admin API cannot change.
	Settings Settings
	Locked   map[string]bool
	// Provider is the kind of upstream the keys are for ("" is Gemini);
	// Fallback names the pools a request goes to when this one cannot
	// serve it (resolved later with SetFallbacks).
	Provider provider.Kind
	Fallback []string
	// ImageDir is the image store's directory; "" turns it off.
	ImageDir string
}

// Balancer is one live pool. All methods are safe for concurrent use.
type Balancer struct {
	name   string
	ring   *keypool.Ring
	store  *store.Store // nil when the database could not be opened
	dbErr  error
	logger *zap.Logger

	route     atomic.Pointer[poolRoute]
	fallbacks atomic.Pointer[[]*Balancer]
	alone     []*Balancer // the chain of a pool without fallbacks
	metrics   *metrics.Pool
	images    atomic.Pointer[imagestore.Store]
	imageDir  string       // guarded by applyMu
	dbErrors  atomic.Int64 // failed database operations, for the metrics

	client   atomic.Pointer[upstream.Client]
	settings atomic.Pointer[Settings]
	models   catalogueCache
	aliases  atomic.Pointer[models.Aliases]
	safety   atomic.Pointer[json.RawMessage]
	tokens   atomic.Pointer[secret.TokenSet]
	level    zap.AtomicLevel
	// resources records which key owns each file, cache, batch and
	// operation (see resources.go).
	resources *affinity.Registry

	// configured and locked come from the configuration; stored is what the
	// database held at the last look. All three are guarded by applyMu.
	configured Settings
	locked     map[string]bool
	stored     map[string]json.RawMessage

	applyMu    sync.Mutex // serialises Apply
	keyStoreMu sync.Mutex // serialises the configuration's key writes
	stop       chan struct{}
	wg         sync.WaitGroup
	closeOnce  sync.Once
	checkKick  chan struct{}
	persistErr atomic.Pointer[string]
	now        func() time.Time
	shared     *syncer // key changes exchanged with other instances (sync.go)
	dbName     string  // the database, password masked, for Health
}

// Open starts a pool: it opens the database (a database that cannot be opened
// is logged and the pool runs in memory), restores stored keys and their
// state, adds the configured keys and starts the background jobs.
func Open(cfg Config, logger *zap.Logger) (*Balancer, error) {
	if logger == nil {
		logger = zap.NewNop()
	}
	b := &Balancer{
		name: cfg.Name, ring: keypool.New(), level: zap.NewAtomicLevelAt(zap.InfoLevel),
		stop: make(chan struct{}), checkKick: make(chan struct{}, 1), now: time.Now,
		resources: affinity.New(), shared: newSyncer(), dbName: store.RedactDSN(cfg.DatabasePath),
	}
	b.logger = withLevel(logger, b.level)
	b.alone = []*Balancer{b}
	b.metrics = metrics.ForPool(cfg.Name)
	if cfg.DatabasePath != "" {
		st, err := store.Open(cfg.DatabasePath, 0, logger.Named("store"))
		if err != nil {
			b.dbErr = err
			b.dbFailed(logger.Error, "database unavailable: keys and logs are kept in memory only",
				zap.String("database", store.RedactDSN(cfg.DatabasePath)), zap.Error(err))
		} else {
			b.store = st
			if err := b.restoreKeys(); err != nil {
				b.dbFailed(logger.Error, "cannot load keys from the database", zap.Error(err))
			}
			b.restoreResources()
		}
	}
	if err := b.Apply(cfg); err != nil {
		b.Close()
		return nil, err
	}
	b.startSync()
	b.wg.Add(6)
	go b.imagesLoop()
	go b.resourceLoop()
	go b.every(time.Second, b.persist) // key state changed since the last pass
	go b.checkLoop()
	go b.settingsLoop()
	go b.upkeepLoop()
	return b, nil
}

func (b *Balancer) restoreKeys() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs, err := b.store.LoadKeys(ctx, b.name)
	if err != nil {
		return err
	}
	b.addStored(recs)
	return nil
}

// addStored puts keys read from the database in the ring, in their stored state.
func (b *Balancer) addStored(recs []store.KeyRecord) {
	now := b.now()
	keys := make([]*keypool.Key, 0, len(recs))
	for _, r := range recs {
		k := keypool.NewKey(r.Key, r.Source)
		k.Restore(stateFromRecord(r), now)
		keys = append(keys, k)
	}
	b.ring.Add(keys...)
}

// Apply installs a (new) configuration: upstream client, settings and the
// Caddyfile's keys. In-flight requests keep the client they started with.
func (b *Balancer) Apply(cfg Config) error {
	if _, err := upstream.New(cfg.Settings.UpstreamOptions()); err != nil {
		return err
	}
	kind, err := provider.Parse(string(cfg.Provider))
	if err != nil {
		return err
	}
	b.applyMu.Lock()
	defer b.applyMu.Unlock()
	b.route.Store(&poolRoute{provider: kind, fallback: cfg.Fallback})
	b.configured, b.locked = cfg.Settings, cfg.Locked
	if err := b.recompute(b.storedSettings()); err != nil {
		return err
	}
	b.openImages(cfg.ImageDir)
	added, removed := b.ring.SyncCaddyfile(cfg.Keys)
	if b.store != nil && (len(added) > 0 || len(removed) > 0) {
		// The keys serve at once; the database catches up in the background
		// (100,000 new keys take seconds to insert). Close waits for it.
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			b.syncStoredKeys(added, removed)
		}()
	}
	if len(added) > 0 || len(removed) > 0 {
		b.logger.Info("keys synchronised with the configuration",
			zap.String("pool", b.name), zap.Int("added", len(added)), zap.Int("removed", len(removed)), zap.Int("total", b.ring.Len()))
	}
	return nil
}

// syncStoredKeys writes the configuration's key changes to the database, one
// change at a time so a quick second reload cannot overtake the first.
func (b *Balancer) syncStoredKeys(added, removed []*keypool.Key) {
	b.keyStoreMu.Lock()
	defer b.keyStoreMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := b.insertKeys(ctx, added); err != nil {
		b.dbFailed(b.logger.Error, "cannot store new keys", zap.Error(err))
	}
	if len(removed) > 0 {
		ids := make([]string, len(removed))
		for i, k := range removed {
			ids[i] = k.ID()
		}
		if _, err := b.store.DeleteKeys(ctx, b.name, ids); err != nil {
			b.dbFailed(b.logger.Error, "cannot delete removed keys", zap.Error(err))
		}
	}
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

// Ring is the pool's key ring, for tests: callers outside this package use the
// methods that say what they do (ListKeys, KeyByID, AddKeys, DeleteKeys,
// CheckKeys, ResetKeys, ExportKeys in keys.go).
func (b *Balancer) Ring() *keypool.Ring { return b.ring }

// Store is the database, nil when it could not be opened; for tests:
// callers outside this package use Stats and the log methods (records.go).
func (b *Balancer) Store() *store.Store { return b.store }

// Settings are the settings in force.
func (b *Balancer) Settings() Settings { return *b.settings.Load() }

// Aliases is the alias table of the settings in force.
func (b *Balancer) Aliases() *models.Aliases { return b.aliases.Load() }

// Features are the request changes the settings ask for on model r.
func (b *Balancer) Features(r models.Resolved) gemini.Features {
	m := &b.settings.Load().Models
	if models.IsSpeech(r.Upstream) {
		// TTS models take no tools, safety settings or thinking settings:
		// nothing is injected into their bodies.
		return gemini.Features{}
	}
	f := gemini.Features{
		Search: r.Search, ImageOutput: r.Image, DisableThinking: r.NonThinking,
		SafetySettings: *b.safety.Load(),
		// Image-output models refuse code execution; urlContext only
		// where the model accepts it.
		CodeExecution: m.CodeExecution && !r.Image && !models.IsImageOutput(r.Upstream),
		URLContext:    m.URLContext && slices.Contains(m.URLContextModels, r.Upstream),
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
		if st := b.images.Swap(nil); st != nil {
			_ = st.Close()
		}
		b.persist()
		b.flushEvents()
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
	h := Health{Status: "ok", Pool: b.name, Keys: b.ring.Counts(b.now()), Database: "ok"}
	switch {
	case b.store == nil && b.dbErr != nil:
		h.Database = "unavailable: " + b.dbErr.Error()
		h.Problems = append(h.Problems, "database "+b.dbName+" unavailable; keys and logs are kept in memory only")
	case b.store == nil:
		h.Database = "memory"
	default:
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := b.store.Ping(pctx); err != nil {
			h.Database = "error: " + err.Error()
			h.Problems = append(h.Problems, "database "+b.dbName+" does not answer")
		} else if st := b.store.Stats(); st.LastError != "" && time.Since(st.LastErrorAt) < time.Minute {
			h.Database = "write errors: " + st.LastError
			h.Problems = append(h.Problems, "writes to database "+b.dbName+" are failing")
		}
	}
	if p := b.persistErr.Load(); p != nil {
		h.Problems = append(h.Problems, "key state not saved: "+*p)
	}
	h.Problems = append(h.Problems, b.syncProblems()...)
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

// every runs f every d until the pool stops; the caller has added it to b.wg.
func (b *Balancer) every(d time.Duration, f func()) {
	defer b.wg.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			f()
		}
	}
}

// persist writes the state of keys changed since the last pass.
func (b *Balancer) persist() {
	if b.store == nil {
		return
	}
	dirty := b.ring.TakeDirty()
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
			b.dbFailed(b.logger.Error, "cannot save key state; will retry", zap.Error(err))
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
