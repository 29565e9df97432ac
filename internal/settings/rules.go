package settings

import (
	"encoding/json"
	"slices"
)

// A Rule checks options together, after each has passed its own checks. It
// answers a message for every option it involves when s breaks it, and
// nothing when s keeps it. Apply runs every rule on every source of
// settings: the Caddyfile, the admin API and console (PatchSettings), and
// the values stored in the database.
type Rule func(s *Settings) FieldErrors

// rules are the inter-option rules, in the order Apply runs them.
var rules = []Rule{authTokenIsNoClientToken}

// AuthTokenRule is the message of the rule that keeps admin and client
// tokens apart.
const AuthTokenRule = "auth_token must differ from every allowed token: a client token is never an admin token"

func authTokenIsNoClientToken(s *Settings) FieldErrors {
	if s.AuthToken == "" || !slices.Contains(s.AllowedTokens, s.AuthToken) {
		return nil
	}
	return FieldErrors{"auth_token": AuthTokenRule, "allowed_tokens": AuthTokenRule}
}

// checkRules runs the rules on s, the result of writing values. A broken
// rule is reported under the options it involves that values writes: a
// rule none of whose options are written was kept or broken before this
// write, which cannot be blamed for it.
func checkRules(s *Settings, values map[string]json.RawMessage) FieldErrors {
	errs := FieldErrors{}
	for _, rule := range rules {
		for name, msg := range rule(s) {
			if _, written := values[name]; written {
				errs[name] = msg
			}
		}
	}
	return errs
}
