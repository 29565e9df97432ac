package balancer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/gemini-balance/gemini_balance/internal/models"
	"github.com/gemini-balance/gemini_balance/internal/secret"
	"github.com/gemini-balance/gemini_balance/internal/settings"
	"github.com/gemini-balance/gemini_balance/internal/upstream"
)

// settingsPoll is how often the database is read for settings changed by
// another instance of the pool (another process on the same file).
var settingsPoll = 500 * time.Millisecond

// loadStoredSettings reads the database's settings (nil without a
// database). Tests replace it to make the database fail.
var loadStoredSettings = func(b *Balancer, ctx context.Context) (map[string]json.RawMessage, error) {
	return b.store.LoadSettings(ctx, b.name)
}

// readStoredSettings reads the database's settings (nil without a
// database). It touches no field guarded by applyMu, so it may run without
// the lock.
func (b *Balancer) readStoredSettings() (map[string]json.RawMessage, error) {
	if b.store == nil {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	stored, err := loadStoredSettings(b, ctx)
	if err != nil {
		b.dbFailed(b.logger.Warn, "cannot read settings from the database", zap.Error(err))
		return nil, err
	}
	return stored, nil
}

// storedSettings reads the database's settings, or keeps those of the last
// look when the database cannot be read. The caller holds applyMu.
func (b *Balancer) storedSettings() map[string]json.RawMessage {
	stored, err := b.readStoredSettings()
	if err != nil {
		return b.stored
	}
	return stored
}

// recompute lays stored values (except locked options) over the configured
// settings and puts the result in force. The caller holds applyMu.
func (b *Balancer) recompute(stored map[string]json.RawMessage) error {
	next := b.configured
	overlay := map[string]json.RawMessage{}
	for name, raw := range stored {
		if !b.locked[name] {
			if _, known := settings.Lookup(name); known {
				overlay[name] = raw
			}
		}
	}
	if len(overlay) > 0 {
		var err error
		if next, err = settings.Apply(next, overlay); err != nil {
			// A bad stored value must not stop the pool: use the rest.
			b.logger.Warn("ignoring invalid stored settings", zap.Error(err))
			var fe settings.FieldErrors
			if errors.As(err, &fe) {
				for name := range fe {
					delete(overlay, name)
				}
				next, _ = settings.Apply(b.configured, overlay)
			}
		}
	}
	b.stored = stored
	return b.install(next)
}

// oldClientClosed is called when a replaced upstream client has been
// closed (a test hook).
var oldClientClosed = func(*upstream.Client) {}

// install puts s in force for new requests; requests in flight keep what
// they started with.
func (b *Balancer) install(s Settings) error {
	old := b.settings.Load()
	if old == nil || !reflect.DeepEqual(old.UpstreamOptions(), s.UpstreamOptions()) {
		client, err := upstream.New(s.UpstreamOptions())
		if err != nil {
			return err
		}
		if prev := b.client.Swap(client); prev != nil {
			// Idle connections of the old client close a minute later, or
			// when the pool stops; requests in flight finish.
			go func() {
				t := time.NewTimer(time.Minute)
				defer t.Stop()
				select {
				case <-t.C:
				case <-b.stop:
				}
				prev.Close()
				oldClientClosed(prev)
			}()
		}
	}
	if st := b.images.Load(); st != nil {
		st.SetLimits(s.ImageRetention, int64(s.ImageStoreMaxSize))
	}
	m := s.Models
	b.aliases.Store(models.NewAliases(m.SearchModels, m.ImageModels, m.ThinkingModels, m.FilteredModels))
	var safety json.RawMessage
	if len(m.SafetySettings) > 0 {
		safety, _ = json.Marshal(m.SafetySettings)
	}
	b.safety.Store(&safety)
	b.tokens.Store(secret.NewTokenSet(s.AllowedTokens))
	if lvl, err := zapcore.ParseLevel(s.LogLevel); err == nil {
		b.level.SetLevel(lvl)
	}
	b.settings.Store(&s)
	if old != nil && old.CheckInterval != s.CheckInterval {
		b.kickChecker()
	}
	return nil
}

// Tokens are the client tokens in force.
func (b *Balancer) Tokens() *secret.TokenSet { return b.tokens.Load() }

// settingsLoop picks up settings another instance wrote to the database.
func (b *Balancer) settingsLoop() {
	defer b.wg.Done()
	if b.store == nil {
		return
	}
	t := time.NewTicker(settingsPoll)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			return
		case <-t.C:
			// Read without the lock (the database may be slow); a failed
			// read skips this look and changes nothing.
			stored, err := b.readStoredSettings()
			if err != nil {
				continue
			}
			b.applyMu.Lock()
			if !maps.EqualFunc(stored, b.stored, func(a, c json.RawMessage) bool { return string(a) == string(c) }) {
				if err := b.recompute(stored); err != nil {
					b.dbFailed(b.logger.Warn, "cannot apply stored settings", zap.Error(err))
				} else {
					b.logger.Info("settings changed in the database applied", zap.String("pool", b.name))
				}
			}
			b.applyMu.Unlock()
		}
	}
}

// SettingView is one option as the admin API and console show it.
type SettingView struct {
	Value   any      `json:"value"`
	Default any      `json:"default"`
	Source  string   `json:"source"` // "caddyfile", "database" or "default"
	Type    string   `json:"type"`
	Group   string   `json:"group"`
	Help    string   `json:"help"`
	Choices []string `json:"choices,omitempty"`
	// Masked: value and default show secrets masked (settings.Option.Show);
	// a PATCH may send a masked form back to keep the value it stands for.
	Masked bool `json:"masked,omitempty"`
}

// SettingsView shows every option with its value, default and source;
// secrets are masked as the schema declares (auth_token and paid_key show
// only whether they are set).
func (b *Balancer) SettingsView() map[string]SettingView {
	b.applyMu.Lock()
	stored, locked := b.stored, b.locked
	b.applyMu.Unlock()
	cur := b.Settings()
	defaults := settings.DefaultsFor(b.Provider())
	out := map[string]SettingView{}
	for _, o := range settings.Schema() {
		v := SettingView{Value: o.Show(&cur), Default: o.Show(&defaults), Source: "default", Type: o.Type,
			Group: o.Group, Help: o.Help, Choices: o.Choice, Masked: o.Masked}
		switch {
		case locked[o.Name]:
			v.Source = "caddyfile"
		case stored[o.Name] != nil:
			v.Source = "database"
		}
		out[o.Name] = v
	}
	return out
}

// ConflictError lists options set in the Caddyfile, which only the Caddyfile may change.
type ConflictError struct{ Fields settings.FieldErrors }

func (e *ConflictError) Error() string { return e.Fields.Error() }

// ErrNoDatabase: settings cannot be changed without a database to keep them.
var ErrNoDatabase = errors.New("the database is unavailable, so settings cannot be saved")

// PatchSettings changes options: all valid or none applied. A masked form
// (as SettingsView shows it) stands for the current value it masks. The
// inter-option rules see the result, so a change that breaks one with a
// value from the Caddyfile or the database is refused (settings.FieldErrors,
// naming the options written). It returns the names whose value changed.
func (b *Balancer) PatchSettings(ctx context.Context, values map[string]json.RawMessage) ([]string, error) {
	b.applyMu.Lock()
	defer b.applyMu.Unlock()
	conflicts := settings.FieldErrors{}
	for name := range values {
		if b.locked[name] {
			conflicts[name] = "set in the Caddyfile; change it there"
		}
	}
	if len(conflicts) > 0 {
		return nil, &ConflictError{conflicts}
	}
	cur := b.Settings()
	next, err := settings.Apply(cur, values)
	if err != nil {
		return nil, err
	}
	if b.store == nil {
		return nil, ErrNoDatabase
	}
	normalised := map[string]json.RawMessage{}
	var changed []string
	for name := range values {
		normalised[name] = settings.Value(&next, name)
		if string(settings.Value(&cur, name)) != string(normalised[name]) {
			changed = append(changed, name)
		}
	}
	if err := b.store.SaveSettings(ctx, b.name, normalised); err != nil {
		return nil, fmt.Errorf("saving settings: %w", err)
	}
	stored := maps.Clone(b.stored)
	if stored == nil {
		stored = map[string]json.RawMessage{}
	}
	maps.Copy(stored, normalised)
	if err := b.recompute(stored); err != nil {
		return nil, err
	}
	return changed, nil
}

// withLevel filters a logger's entries through a level that can change at run time.
func withLevel(l *zap.Logger, level zap.AtomicLevel) *zap.Logger {
	return l.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return &levelCore{Core: c, level: level} }))
}

type levelCore struct {
	zapcore.Core
	level zap.AtomicLevel
}

func (c *levelCore) Enabled(l zapcore.Level) bool { return c.level.Enabled(l) && c.Core.Enabled(l) }

func (c *levelCore) With(f []zapcore.Field) zapcore.Core {
	return &levelCore{Core: c.Core.With(f), level: c.level}
}

func (c *levelCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if !c.level.Enabled(e.Level) {
		return ce
	}
	return c.Core.Check(e, ce)
}
