package settings

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestMaskTokenShowsAtMostFourCharacters(t *testing.T) {
	cases := map[string]string{
		"":                         "",
		"abc":                      "…",
		"abcd":                     "…d",
		"abcdefgh":                 "…gh",
		"abcdefghijkl":             "…jkl",
		"sk-live-0123456789abcd":   "…abcd",
		"sk-0123456789abcdefghijk": "…hijk",
		"令牌令牌令牌令牌甲乙丙丁":             "…乙丙丁",
	}
	for token, want := range cases {
		got := MaskToken(token)
		if got != want {
			t.Errorf("MaskToken(%q) = %q, want %q", token, got, want)
		}
		shown := strings.TrimPrefix(got, Ellipsis)
		if n := utf8.RuneCountInString(shown); n > 4 || n > utf8.RuneCountInString(token)/4 {
			t.Errorf("MaskToken(%q) shows %d characters", token, n)
		}
		if token != "" && !strings.HasPrefix(got, Ellipsis) {
			t.Errorf("MaskToken(%q) = %q does not read as masked", token, got)
		}
	}
}

func TestMaskURLHidesUserAndPassword(t *testing.T) {
	cases := map[string]string{
		"http://user:pass@proxy.example:3128":     "http://***@proxy.example:3128",
		"socks5://user@10.0.0.1:1080":             "socks5://***@10.0.0.1:1080",
		"socks5h://u:p%40ss@h:1080/x":             "socks5h://***@h:1080/x",
		"http://u:pa/ss@h:1":                      "http://***@h:1", // does not parse as meant, still masked
		"http://proxy.example:3128":               "http://proxy.example:3128",
		"https://relay.example/v1beta":            "https://relay.example/v1beta",
		"user:pass@host:1":                        "***@host:1",
		"https://k:s@relay.example/gemini/v1beta": "https://***@relay.example/gemini/v1beta",
	}
	for in, want := range cases {
		if got := MaskURL(in); got != want {
			t.Errorf("MaskURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// secretSettings has a secret in every option that can hold one.
func secretSettings() Settings {
	s := Defaults()
	s.AllowedTokens = []string{"sk-client-alpha-000000aaaa", "sk-client-bravo-000000bbbb", "short"}
	s.AuthToken = "admin-token-000000zzzz"
	s.Proxies = []string{"http://puser:ppass-123@127.0.0.1:3128", "socks5://127.0.0.1:1080"}
	s.Headers = map[string]string{"X-Relay-Auth": "relay-secret-9999", "X-Plain": "1"}
	s.BaseURL = "https://buser:bpass-456@relay.example/v1beta"
	s.Models.PaidKey = "AIzaSyPAID000000000000000000000000000"
	return s
}

var secretParts = []string{"alpha-000000", "bravo-000000", "short", "admin-token", "puser", "ppass-123", "relay-secret", "buser", "bpass-456", "AIzaSyPAID"}

// Every option, shown and written back as shown, keeps its value; no
// masked option shows a secret, and only the options declared masked mask.
func TestEveryOptionRoundTripsThroughItsShownForm(t *testing.T) {
	s := secretSettings()
	masked := []string{}
	for _, o := range Schema() {
		shown := Shown(&s, o.Name)
		if o.Masked {
			masked = append(masked, o.Name)
			for _, p := range secretParts {
				if strings.Contains(string(shown), p) {
					t.Errorf("%s shows %q: %s", o.Name, p, shown)
				}
			}
		} else if string(shown) != string(Value(&s, o.Name)) {
			t.Errorf("%s is not declared masked but shows %s for %s", o.Name, shown, Value(&s, o.Name))
		}
		next, err := Apply(s, map[string]json.RawMessage{o.Name: shown})
		if err != nil {
			t.Errorf("%s: writing back %s: %v", o.Name, shown, err)
			continue
		}
		if string(Value(&next, o.Name)) != string(Value(&s, o.Name)) {
			t.Errorf("%s: written back as %s became %s, was %s", o.Name, shown, Value(&next, o.Name), Value(&s, o.Name))
		}
	}
	slices.Sort(masked)
	if want := []string{"allowed_tokens", "auth_token", "base_url", "headers", "paid_key", "proxies"}; !slices.Equal(masked, want) {
		t.Errorf("masked options %v, want %v", masked, want)
	}
	// Defaults show nothing secret either (they are empty).
	d := Defaults()
	for _, name := range masked {
		if v := string(Shown(&d, name)); v != "[]" && v != "{}" && v != "false" && v != `"`+d.BaseURL+`"` {
			t.Errorf("default of %s shows %s", name, v)
		}
	}
}

func TestMaskedFormsStandForTheCurrentValues(t *testing.T) {
	s := secretSettings()
	next, err := Apply(s, map[string]json.RawMessage{
		// one token replaced, one kept by its masked form, one added
		"allowed_tokens": raw(`["…aaaa", "brand-new-token-0001", " …t "]`),
		"headers":        raw(`{"x-relay-auth": "…9999", "X-New": "v"}`),
		"proxies":        raw(`["http://***@127.0.0.1:3128", "http://other:pw@10.0.0.2:8080"]`),
		"base_url":       raw(`"https://***@relay.example/v1beta"`),
		"auth_token":     raw(`true`),
		"paid_key":       raw(`"AIzaSyNEWPAID00000000000000000000000000"`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"sk-client-alpha-000000aaaa", "brand-new-token-0001", "short"}; !slices.Equal(next.AllowedTokens, want) {
		t.Errorf("tokens %q, want %q", next.AllowedTokens, want)
	}
	if next.Headers["x-relay-auth"] != "relay-secret-9999" || next.Headers["X-New"] != "v" || len(next.Headers) != 2 {
		t.Errorf("headers %q", next.Headers)
	}
	if !slices.Equal(next.Proxies, []string{"http://puser:ppass-123@127.0.0.1:3128", "http://other:pw@10.0.0.2:8080"}) {
		t.Errorf("proxies %q", next.Proxies)
	}
	if next.BaseURL != s.BaseURL || next.AuthToken != s.AuthToken || next.Models.PaidKey != "AIzaSyNEWPAID00000000000000000000000000" {
		t.Errorf("base_url %q, auth_token %q, paid_key %q", next.BaseURL, next.AuthToken, next.Models.PaidKey)
	}
	// The shown form of a list masks each entry; the full list round-trips.
	if got := string(Shown(&next, "allowed_tokens")); got != `["…aaaa","…0001","…t"]` {
		t.Errorf("shown %s", got)
	}
}

func TestMaskedFormsMatchingNothingAreRefused(t *testing.T) {
	s := secretSettings()
	cases := map[string]string{
		"allowed_tokens": `["…aaaa", "…zzzz"]`,
		"headers":        `{"X-Relay-Auth": "…0000"}`,
		"proxies":        `["http://***@10.9.9.9:3128"]`,
		"base_url":       `"https://***@elsewhere.example/v1beta"`,
	}
	for name, value := range cases {
		_, err := Apply(s, map[string]json.RawMessage{name: raw(value), "max_retries": raw(`1`)})
		var fe FieldErrors
		if !errors.As(err, &fe) || !strings.Contains(fe[name], "masked") || !strings.Contains(fe[name], "matches no current") || len(fe) != 1 {
			t.Errorf("%s = %s: %v", name, value, err)
		}
	}
	// A headers mask under a name that has no value now is refused too.
	if _, err := Apply(s, map[string]json.RawMessage{"headers": raw(`{"X-Plain": "1", "X-Elsewhere": "…9999"}`)}); err == nil {
		t.Error("a masked value moved to another header was accepted")
	}
	// Secrets shown as set/not set: the shown form of another state is refused.
	empty := Defaults()
	if _, err := Apply(empty, map[string]json.RawMessage{"auth_token": raw(`true`)}); err == nil {
		t.Error("true accepted for an auth_token that is not set")
	}
	if _, err := Apply(s, map[string]json.RawMessage{"paid_key": raw(`false`)}); err == nil {
		t.Error("false accepted for a paid_key that is set")
	}
	// Nothing masked without a current value to stand for: a new pool.
	if _, err := Apply(empty, map[string]json.RawMessage{"allowed_tokens": raw(`["…abcd"]`)}); err == nil {
		t.Error("a masked token accepted with no tokens")
	}
}

// Tokens that share a masked form: sent as often as they are, they are all
// kept; sent fewer times, which one goes is unclear and the write is refused.
func TestSharedMaskedForms(t *testing.T) {
	s := Defaults()
	s.AllowedTokens = []string{"first-token-1234", "second-toke-1234", "other-token-5678"}
	next, err := Apply(s, map[string]json.RawMessage{"allowed_tokens": raw(`["…1234", "…1234", "…5678", "added-token-9999"]`)})
	if err != nil || !slices.Equal(next.AllowedTokens, append(slices.Clone(s.AllowedTokens), "added-token-9999")) {
		t.Fatalf("%q %v", next.AllowedTokens, err)
	}
	_, err = Apply(s, map[string]json.RawMessage{"allowed_tokens": raw(`["…1234", "…5678"]`)})
	if err == nil || !strings.Contains(err.Error(), `"…1234" stands for 2 current tokens`) {
		t.Fatalf("ambiguous removal: %v", err)
	}
	// The whole token removes one of them.
	next, err = Apply(s, map[string]json.RawMessage{"allowed_tokens": raw(`["second-toke-1234", "…5678"]`)})
	if err != nil || !slices.Equal(next.AllowedTokens, []string{"second-toke-1234", "other-token-5678"}) {
		t.Fatalf("%q %v", next.AllowedTokens, err)
	}
}

func TestURLErrorsDoNotShowCredentials(t *testing.T) {
	s := Defaults()
	_, err := Apply(s, map[string]json.RawMessage{
		"proxies":  raw(`["ftp://user:hunter2-pass@p:1", "http://u2:second-pass@h:bad"]`),
		"base_url": raw(`"https://k:base-secret@relay.example/v1?q=1"`),
	})
	if err == nil {
		t.Fatal("bad URLs accepted")
	}
	for _, secret := range []string{"hunter2", "second-pass", "base-secret", "user:", "k:"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error shows %q: %v", secret, err)
		}
	}
	if !strings.Contains(err.Error(), "***@") {
		t.Errorf("error does not name the URL: %v", err)
	}
}

func TestAuthTokenRuleOnApply(t *testing.T) {
	base := Defaults()
	base.AuthToken = "admin-0000"
	base.AllowedTokens = []string{"client-token-1111"}
	// Adding the current auth_token as a client token: allowed_tokens is blamed.
	_, err := Apply(base, map[string]json.RawMessage{"allowed_tokens": raw(`["…1111", "admin-0000"]`)})
	var fe FieldErrors
	if !errors.As(err, &fe) || fe["allowed_tokens"] != AuthTokenRule || len(fe) != 1 {
		t.Errorf("allowed_tokens with the auth_token: %v", err)
	}
	// Making a client token the auth_token: auth_token is blamed.
	_, err = Apply(base, map[string]json.RawMessage{"auth_token": raw(`" client-token-1111 "`)})
	if !errors.As(err, &fe) || fe["auth_token"] != AuthTokenRule || len(fe) != 1 {
		t.Errorf("auth_token = a client token: %v", err)
	}
	// Both at once (the Caddyfile): both named, one message.
	_, err = Apply(Defaults(), map[string]json.RawMessage{"auth_token": raw(`"t1"`), "allowed_tokens": raw(`["t0","t1"]`)})
	if err == nil || err.Error() != "allowed_tokens, auth_token: "+AuthTokenRule {
		t.Errorf("both: %v", err)
	}
	// A change that keeps the rule, and one that touches neither option.
	if _, err := Apply(base, map[string]json.RawMessage{"auth_token": raw(`"admin-new"`), "allowed_tokens": raw(`["admin-0000"]`)}); err != nil {
		t.Errorf("swap: %v", err)
	}
	broken := base
	broken.AllowedTokens = []string{"admin-0000"}
	if _, err := Apply(broken, map[string]json.RawMessage{"max_retries": raw(`1`)}); err != nil {
		t.Errorf("an unrelated write is blamed for its base: %v", err)
	}
	// The message never shows the token.
	if strings.Contains(AuthTokenRule, "admin-0000") {
		t.Fatal("?")
	}
}

func TestRulesRunAfterTheSetters(t *testing.T) {
	called := 0
	rules = append(rules, func(s *Settings) FieldErrors {
		called++
		if s.MaxRetries == 7 && s.MaxFailures == 1 {
			return FieldErrors{"max_retries": "not with max_failures 1", "max_failures": "not with max_retries 7"}
		}
		return nil
	})
	defer func() { rules = rules[:len(rules)-1] }()
	base := Defaults()
	base.MaxFailures = 1
	_, err := Apply(base, map[string]json.RawMessage{"max_retries": raw(`7`)})
	var fe FieldErrors
	if !errors.As(err, &fe) || fe["max_retries"] == "" || fe["max_failures"] != "" {
		t.Errorf("%v", err)
	}
	// A per-option error stops before the rules: they see only valid values.
	n := called
	if _, err := Apply(base, map[string]json.RawMessage{"max_retries": raw(`99`)}); err == nil || called != n {
		t.Errorf("rules ran on an invalid value (%v)", err)
	}
}
