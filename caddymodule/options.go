package caddymodule

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/gemini-balance/gemini_balance/internal/settings"
)

// The handler's JSON is flat: its structural fields and, beside them, every
// run-time option it sets under the option's schema name, in the option's
// configuration form (see internal/settings/config.go).

// MarshalJSON writes the structural fields and the options side by side.
func (h Handler) MarshalJSON() ([]byte, error) {
	type plain Handler
	b, err := json.Marshal(plain(h))
	if err != nil || len(h.Options) == 0 {
		return b, err
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	for name, v := range h.Options {
		m[name] = v
	}
	return json.Marshal(m)
}

// UnmarshalJSON reads the structural fields and, into Options, every key
// that names a schema option; any other key is refused, as Caddy refuses
// unknown fields.
func (h *Handler) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	var opts map[string]json.RawMessage
	for name, v := range m {
		if _, ok := settings.Lookup(name); ok {
			if opts == nil {
				opts = map[string]json.RawMessage{}
			}
			opts[name] = v
			delete(m, name)
		}
	}
	rest, err := json.Marshal(m)
	if err != nil {
		return err
	}
	type plain Handler
	var p plain
	dec := json.NewDecoder(bytes.NewReader(rest))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return fmt.Errorf("gemini_balance: %v", err)
	}
	*h = Handler(p)
	h.Options = opts
	return nil
}
