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
	if err != nil {
		return nil, err
	}
	return settings.JoinFlat(b, h.Options)
}

// UnmarshalJSON reads the structural fields and, into Options, every key
// that names a schema option; any other key is refused, as Caddy refuses
// unknown fields.
func (h *Handler) UnmarshalJSON(b []byte) error {
	opts, rest, err := settings.SplitFlat(b)
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
