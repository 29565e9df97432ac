package balancer

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/settings"
)

const (
	tokenA     = "sk-client-alpha-0000000000aaaa"
	tokenB     = "sk-client-bravo-0000000000bbbb"
	tokenC     = "sk-client-charlie-00000000cccc"
	proxyPass  = "pr0xy-pa55word"
	relayValue = "relay-secret-value-9876"
	adminTok   = "admin-token-live-test"
)

func secretPool(t *testing.T, locked map[string]bool) *Balancer {
	t.Helper()
	return openTestPool(t, filepath.Join(t.TempDir(), "secrets.db"), locked, func(s *settings.Settings) {
		s.AllowedTokens = []string{tokenA, tokenB, tokenC}
		s.AuthToken = adminTok
		s.Proxies = []string{"http://proxyuser:" + proxyPass + "@127.0.0.1:3128", "socks5://127.0.0.1:1080"}
		s.Headers = map[string]string{"X-Relay-Auth": relayValue}
		s.Models.PaidKey = "AIzaSyPAID0000000000000000000000000000"
	})
}

func patch(b *Balancer, body string) ([]string, error) {
	var values map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &values); err != nil {
		panic(err)
	}
	return b.PatchSettings(context.Background(), values)
}

// The view shows no secret: tokens as "…" and at most 4 characters, proxy
// credentials as ***, header values masked, auth_token and paid_key as set.
func TestSettingsViewMasksSecrets(t *testing.T) {
	b := secretPool(t, nil)
	view := b.SettingsView()
	all, _ := json.Marshal(view)
	for _, secret := range []string{tokenA, tokenB, tokenC, proxyPass, "proxyuser", relayValue, adminTok, "AIzaSyPAID"} {
		if strings.Contains(string(all), secret) {
			t.Errorf("the view shows %q: %s", secret, all)
		}
	}
	if got := view["allowed_tokens"].Value; !slices.Equal(got.([]string), []string{"…aaaa", "…bbbb", "…cccc"}) || !view["allowed_tokens"].Masked {
		t.Errorf("allowed_tokens shown as %v", got)
	}
	if got := view["proxies"].Value.([]string); got[0] != "http://***@127.0.0.1:3128" || got[1] != "socks5://127.0.0.1:1080" {
		t.Errorf("proxies shown as %v", got)
	}
	if got := view["headers"].Value.(map[string]string); got["X-Relay-Auth"] != "…9876" {
		t.Errorf("headers shown as %v", got)
	}
	if view["auth_token"].Value != true || view["paid_key"].Value != true || view["auth_token"].Default != false {
		t.Errorf("secrets: %+v %+v", view["auth_token"], view["paid_key"])
	}
	if view["max_retries"].Masked || view["max_retries"].Value != 3 {
		t.Errorf("a plain option is masked: %+v", view["max_retries"])
	}
}

// A write that sends masked forms back keeps the secrets they stand for; a
// full value replaces; the stored (and reloaded) values are whole.
func TestPatchKeepsSecretsSentBackMasked(t *testing.T) {
	b := secretPool(t, nil)
	// The console's list editor: one token replaced, the others sent back masked.
	changed, err := patch(b, `{"allowed_tokens": ["…aaaa", "new-token-0001", "…cccc"]}`)
	if err != nil || !slices.Equal(changed, []string{"allowed_tokens"}) {
		t.Fatalf("patch: %v %v", changed, err)
	}
	if got := b.Settings().AllowedTokens; !slices.Equal(got, []string{tokenA, "new-token-0001", tokenC}) {
		t.Fatalf("tokens %q", got)
	}
	if !b.Tokens().Contains(tokenA) || b.Tokens().Contains(tokenB) || !b.Tokens().Contains("new-token-0001") {
		t.Error("token set in force is not the patched one")
	}
	// Everything sent back as shown changes nothing.
	view := b.SettingsView()
	back := map[string]json.RawMessage{}
	for _, name := range []string{"allowed_tokens", "proxies", "headers", "auth_token", "paid_key", "base_url"} {
		back[name], _ = json.Marshal(view[name].Value)
	}
	before := b.Settings()
	if changed, err := b.PatchSettings(context.Background(), back); err != nil || len(changed) != 0 {
		t.Fatalf("sending the view back: changed %v, %v", changed, err)
	}
	after := b.Settings()
	if !slices.Equal(after.Proxies, before.Proxies) || after.Headers["X-Relay-Auth"] != relayValue || after.AuthToken != adminTok ||
		after.Models.PaidKey != before.Models.PaidKey || !slices.Equal(after.AllowedTokens, before.AllowedTokens) {
		t.Fatalf("sending the view back changed secrets: %+v", after)
	}
	// A masked header value keeps the current one; a masked proxy too.
	if _, err := patch(b, `{"headers": {"X-Relay-Auth": "…9876", "X-Other": "plain"}, "proxies": ["http://***@127.0.0.1:3128", "http://127.0.0.1:8080"]}`); err != nil {
		t.Fatal(err)
	}
	s := b.Settings()
	if s.Headers["X-Relay-Auth"] != relayValue || s.Headers["X-Other"] != "plain" ||
		!slices.Equal(s.Proxies, []string{"http://proxyuser:" + proxyPass + "@127.0.0.1:3128", "http://127.0.0.1:8080"}) {
		t.Fatalf("after masked header and proxy: %v %v", s.Headers, s.Proxies)
	}
	// The database holds whole values, never masks.
	stored, err := b.Store().LoadSettings(context.Background(), b.Name())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(stored["allowed_tokens"]), tokenA) || !strings.Contains(string(stored["headers"]), relayValue) ||
		!strings.Contains(string(stored["proxies"]), proxyPass) || strings.Contains(string(stored["allowed_tokens"]), "…") {
		t.Errorf("stored: %s %s %s", stored["allowed_tokens"], stored["headers"], stored["proxies"])
	}
}

// A masked form that stands for no current value is refused, per field,
// and nothing is applied.
func TestPatchRefusesUnknownMaskedForms(t *testing.T) {
	b := secretPool(t, nil)
	cases := map[string]string{
		"allowed_tokens": `{"allowed_tokens": ["…aaaa", "…zzzz"], "max_retries": 1}`,
		"headers":        `{"headers": {"X-Relay-Auth": "…0000"}, "max_retries": 1}`,
		"proxies":        `{"proxies": ["http://***@10.0.0.1:3128"], "max_retries": 1}`,
		"auth_token":     `{"auth_token": false, "max_retries": 1}`,
	}
	for field, body := range cases {
		_, err := patch(b, body)
		var fe settings.FieldErrors
		if !errors.As(err, &fe) || !strings.Contains(fe[field], "match") && !strings.Contains(fe[field], "stands for") {
			t.Errorf("%s: %v", field, err)
		}
		if len(fe) != 1 {
			t.Errorf("%s: other fields blamed: %v", field, fe)
		}
	}
	if s := b.Settings(); s.MaxRetries != 3 || len(s.AllowedTokens) != 3 || s.Headers["X-Relay-Auth"] != relayValue {
		t.Fatalf("a refused patch applied: %+v", s)
	}
}

// auth_token differs from every allowed token, whichever side a PATCH
// changes and wherever the other side was set.
func TestPatchRefusesAuthTokenAmongClientTokens(t *testing.T) {
	b := secretPool(t, nil)
	for body, field := range map[string]string{
		`{"allowed_tokens": ["…aaaa", "` + adminTok + `"]}`:      "allowed_tokens",
		`{"auth_token": "` + tokenB + `"}`:                       "auth_token",
		`{"auth_token": "x-same", "allowed_tokens": ["x-same"]}`: "",
	} {
		_, err := patch(b, body)
		var fe settings.FieldErrors
		if !errors.As(err, &fe) {
			t.Fatalf("%s: %v", body, err)
		}
		names := []string{field}
		if field == "" {
			names = []string{"allowed_tokens", "auth_token"}
		}
		for _, n := range names {
			if fe[n] != settings.AuthTokenRule {
				t.Errorf("%s: %s: %q", body, n, fe[n])
			}
		}
		if len(fe) != len(names) || strings.Contains(err.Error(), adminTok) || strings.Contains(err.Error(), tokenB) {
			t.Errorf("%s: %v", body, err)
		}
	}
	if s := b.Settings(); s.AuthToken != adminTok || len(s.AllowedTokens) != 3 {
		t.Fatalf("refused patches applied: %+v", s)
	}

	// auth_token pinned by the Caddyfile: adding it as a client token is
	// refused (400, the field written); changing it is a conflict (409).
	pinned := secretPool(t, map[string]bool{"auth_token": true})
	_, err := patch(pinned, `{"allowed_tokens": ["`+adminTok+`"]}`)
	if fe := (settings.FieldErrors)(nil); !errors.As(err, &fe) || fe["allowed_tokens"] != settings.AuthTokenRule {
		t.Errorf("client token = pinned auth_token: %v", err)
	}
	_, err = patch(pinned, `{"auth_token": "`+tokenA+`"}`)
	if ce := (*ConflictError)(nil); !errors.As(err, &ce) {
		t.Errorf("pinned auth_token changed: %v", err)
	}
}

// A stored value that breaks the rule with the Caddyfile's (auth_token
// pinned to a token the database lists as a client token) is ignored.
func TestStoredSettingsBreakingTheRuleAreIgnored(t *testing.T) {
	db := filepath.Join(t.TempDir(), "stored.db")
	first := openTestPool(t, db, nil, nil)
	if _, err := patch(first, `{"allowed_tokens": ["shared-token-1234", "other-token-5678"], "max_retries": 6}`); err != nil {
		t.Fatal(err)
	}
	first.Close()
	b := openTestPool(t, db, map[string]bool{"auth_token": true}, func(s *settings.Settings) { s.AuthToken = "shared-token-1234" })
	s := b.Settings()
	if len(s.AllowedTokens) != 0 || s.MaxRetries != 6 || b.Tokens().Contains("shared-token-1234") {
		t.Fatalf("stored tokens with the auth_token were applied: %q, max_retries %d", s.AllowedTokens, s.MaxRetries)
	}
}

// settingsLoop reads the database without applyMu; when the read fails it
// must not touch b.stored (PatchSettings writes it under the lock). Run
// with -race: the failing reads meet concurrent patches.
func TestSettingsLoopSkipsFailedReadsDuringPatches(t *testing.T) {
	var fail atomic.Bool
	var failures atomic.Int64
	origLoad, origPoll := loadStoredSettings, settingsPoll
	loadStoredSettings = func(b *Balancer, ctx context.Context) (map[string]json.RawMessage, error) {
		if fail.Load() {
			failures.Add(1)
			return nil, errors.New("injected: database is locked")
		}
		return origLoad(b, ctx)
	}
	settingsPoll = 2 * time.Millisecond
	// Registered first, so it runs after the pool's Close.
	t.Cleanup(func() { loadStoredSettings, settingsPoll = origLoad, origPoll })

	b := openTestPool(t, filepath.Join(t.TempDir(), "race.db"), nil, nil)
	fail.Store(true)
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; failures.Load() < 50 || i < 20; i++ {
				n := 1 + (w*100+i)%900
				if _, err := b.PatchSettings(context.Background(), map[string]json.RawMessage{"max_failures": mustJSON(n)}); err != nil {
					t.Error(err)
					return
				}
				_ = b.SettingsView()
			}
		}()
	}
	wg.Wait()
	if failures.Load() < 50 {
		t.Fatalf("only %d failed reads", failures.Load())
	}
	last := b.Settings().MaxFailures
	// Reads work again: the loop agrees with what the patches stored.
	fail.Store(false)
	time.Sleep(20 * settingsPoll)
	stored, err := b.Store().LoadSettings(context.Background(), b.Name())
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Settings().MaxFailures; string(stored["max_failures"]) != string(mustJSON(got)) || got != last {
		t.Fatalf("in force %d, stored %s, last patched %d", got, stored["max_failures"], last)
	}
	t.Logf("%d failed reads during concurrent patches", failures.Load())
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
