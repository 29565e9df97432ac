package settings

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The configuration form of an option: how a Caddy JSON config and a
// Caddyfile write it. It is the setter's form (Option.Set) but for two
// types, kept as Caddy configs have always written them:
//
//   - a duration is nanoseconds, or a string such as "2m" or "1d";
//   - headers map a name to a list of values (as http.Header); several
//     values of one name are sent as one, joined by ", ".
//
// A Caddyfile line is read into that form by the option's type (ParseArgs):
//
//	int              <n> | off            (off where declared: a row cap's 0)
//	bool             on|off
//	string, enum     <value>
//	duration         <duration> | off     (off is 0, refused where 0 is)
//	list             <value> ... | off    (lines add up; off is empty)
//	headers          header <name> <value>           (one a line)
//	thinking_budgets thinking_budget <model> <n>     (one a line)
//	model_map        model_map <model> <upstream model> (one a line)
//	safety_settings  <category> <threshold> | off    (one a line)

// FromConfig turns raw, in the configuration form, into the setter's form.
// What it cannot read is left to the setter to refuse, so the message is
// the setter's.
func (o *Option) FromConfig(raw json.RawMessage) (json.RawMessage, error) {
	switch o.Type {
	case "duration":
		var ns int64
		if json.Unmarshal(raw, &ns) == nil {
			return json.Marshal(time.Duration(ns).String())
		}
		if !bytes.HasPrefix(bytes.TrimSpace(raw), []byte(`"`)) {
			return nil, fmt.Errorf(`must be a duration in nanoseconds, or a string such as "30s", "5m" or "1h"`)
		}
	case "map":
		var h map[string][]string
		if json.Unmarshal(raw, &h) == nil {
			m := make(map[string]string, len(h))
			for k, v := range h {
				m[k] = strings.Join(v, ", ")
			}
			return json.Marshal(m)
		}
	}
	return raw, nil
}

// ApplyConfig is Apply for options in the configuration form.
func ApplyConfig(base Settings, options map[string]json.RawMessage) (Settings, error) {
	values := make(map[string]json.RawMessage, len(options))
	for name, raw := range options {
		o, ok := byName[name]
		if !ok {
			return base, FieldErrors{name: "unknown option"}
		}
		v, err := o.FromConfig(raw)
		if err != nil {
			return base, FieldErrors{name: err.Error()}
		}
		values[name] = v
	}
	return Apply(base, values)
}

// ParseArgs reads the arguments of one Caddyfile line of the option into its
// configuration form; cur is what earlier lines of a repeatable option
// gave, or nil. The value is checked by the option's setter, on the
// defaults, so a bad one is refused with the message the admin API gives.
func (o *Option) ParseArgs(cur json.RawMessage, args []string) (json.RawMessage, error) {
	v, err := o.parseArgs(cur, args)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(v)
	if err == nil {
		_, err = ApplyConfig(Defaults(), map[string]json.RawMessage{o.Name: raw})
	}
	return raw, err
}

func (o *Option) parseArgs(cur json.RawMessage, args []string) (any, error) {
	dir := o.CaddyfileName()
	off := len(args) == 1 && args[0] == "off"
	switch o.Type {
	case "list", "safety":
		var list []json.RawMessage
		if cur != nil {
			_ = json.Unmarshal(cur, &list)
			if off || len(list) == 0 {
				return nil, fmt.Errorf("%s off cannot be combined with other %s lines", dir, dir)
			}
		}
		switch {
		case off:
			return []string{}, nil
		case o.Type == "safety" && len(args) != 2:
			return nil, fmt.Errorf("%s takes a category and a threshold (e.g. HARM_CATEGORY_HARASSMENT OFF), or off", dir)
		case o.Type == "safety":
			b, _ := json.Marshal(SafetySetting{Category: args[0], Threshold: args[1]})
			return append(list, b), nil
		case len(args) == 0:
			return nil, fmt.Errorf("%s needs at least one value", dir)
		}
		for _, a := range args {
			b, _ := json.Marshal(a)
			list = append(list, b)
		}
		return list, nil
	case "modelmap":
		if len(args) != 2 {
			return nil, fmt.Errorf("%s takes a model and the name it goes upstream as", dir)
		}
		m := map[string]string{}
		_ = json.Unmarshal(cur, &m)
		if _, dup := m[args[0]]; dup {
			return nil, fmt.Errorf("%s %s already specified", dir, args[0])
		}
		m[args[0]] = args[1]
		return m, nil
	case "map", "budgets":
		if len(args) != 2 {
			return nil, fmt.Errorf("%s takes a name and one value; quote a value with spaces", dir)
		}
		if o.Type == "map" {
			m := map[string][]string{}
			_ = json.Unmarshal(cur, &m)
			name := http.CanonicalHeaderKey(args[0])
			m[name] = append(m[name], args[1])
			return m, nil
		}
		m := map[string]int{}
		_ = json.Unmarshal(cur, &m)
		n, err := strconv.Atoi(args[1])
		if err != nil {
			return nil, fmt.Errorf("%s: %q is not a whole number", dir, args[1])
		}
		if _, dup := m[args[0]]; dup {
			return nil, fmt.Errorf("%s %s already specified", dir, args[0])
		}
		m[args[0]] = n
		return m, nil
	}
	if len(args) != 1 {
		if len(args) == 0 {
			return nil, fmt.Errorf("%s needs a value", dir)
		}
		return nil, fmt.Errorf("%s takes one value, got more", dir)
	}
	return o.scalar(args[0])
}

// scalar reads the one argument of an int, bool, duration or string
// option. What it cannot read stays a string, for the setter to refuse.
func (o *Option) scalar(arg string) (any, error) {
	switch o.Type {
	case "int":
		if arg == "off" && o.Off != nil {
			return o.Off, nil
		}
		if n, err := strconv.Atoi(arg); err == nil {
			return n, nil
		}
	case "bool":
		switch strings.ToLower(arg) {
		case "on", "true", "yes", "1":
			return true, nil
		case "off", "false", "no", "0":
			return false, nil
		}
	case "duration":
		if arg == "off" && o.Off == nil {
			return nil, fmt.Errorf("%s: cannot be off: must be at least %s", o.Name, time.Duration(o.Min))
		}
		if arg == "off" || arg == "0" {
			return 0, nil
		}
		if d, err := parseDuration(arg); err == nil {
			return int64(d), nil
		}
	}
	return arg, nil
}

// parseDuration is time.ParseDuration with days: "1d", "1d12h" (as Caddy
// reads durations).
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	days, rest, ok := strings.Cut(s, "d")
	if !ok {
		return time.ParseDuration(s)
	}
	n, err := strconv.ParseFloat(days, 64)
	if err != nil {
		return time.ParseDuration(s) // for its message
	}
	d := time.Duration(n * float64(24*time.Hour))
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil {
			return 0, err
		}
		if n < 0 {
			r = -r
		}
		d += r
	}
	return d, nil
}

// JoinFlat is the JSON object base (a struct's own JSON) with the options
// added beside its fields: the flat form of a configuration that holds both.
func JoinFlat(base []byte, opts map[string]json.RawMessage) ([]byte, error) {
	if len(opts) == 0 {
		return base, nil
	}
	m := map[string]json.RawMessage{}
	if err := json.Unmarshal(base, &m); err != nil {
		return nil, err
	}
	for name, v := range opts {
		m[name] = v
	}
	return json.Marshal(m)
}

// DecodeFlat reads a flat JSON object: the options it names, returned, and
// its other fields into v, strictly (an unknown field is an error, as Caddy
// refuses unknown fields).
func DecodeFlat(b []byte, v any) (map[string]json.RawMessage, error) {
	opts, rest, err := SplitFlat(b)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(rest))
	dec.DisallowUnknownFields()
	return opts, dec.Decode(v)
}

// SplitFlat takes every key that names a schema option out of a flat JSON
// object: the options, and the object's other fields as JSON.
func SplitFlat(b []byte) (opts map[string]json.RawMessage, rest []byte, err error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, nil, err
	}
	for name, v := range m {
		if _, ok := Lookup(name); ok {
			if opts == nil {
				opts = map[string]json.RawMessage{}
			}
			opts[name] = v
			delete(m, name)
		}
	}
	rest, err = json.Marshal(m)
	return opts, rest, err
}
