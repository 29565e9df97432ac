package caddymodule

import (
	"encoding/json"
	"strconv"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/gemini-balance/gemini_balance/internal/provider"
	"github.com/gemini-balance/gemini_balance/internal/settings"
)

func init() {
	httpcaddyfile.RegisterHandlerDirective("gemini_balance", parseCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("gemini_balance", httpcaddyfile.Before, "reverse_proxy")
	httpcaddyfile.RegisterGlobalOption("gemini_balance", parseGlobalPool)
}

// parseGlobalPool reads a pool declared in the global options, with the
// same sub-directives as a site's block (console and body limits aside),
// into the gemini_balance app:
//
//	{
//	    gemini_balance <name> {
//	        provider  openai
//	        base_url  https://api.deepseek.com/v1
//	        api_keys  sk-…
//	        model_map gemini-2.5-flash deepseek-chat
//	    }
//	}
func parseGlobalPool(d *caddyfile.Dispenser, existing any) (any, error) {
	app := new(App)
	if prev, ok := existing.(httpcaddyfile.App); ok {
		if err := json.Unmarshal(prev.Value, app); err != nil {
			return nil, err
		}
	}
	p := new(Handler)
	if err := p.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	if p.Pool == "" {
		return nil, d.Err("a pool in the global options needs a name: gemini_balance <name> { … }")
	}
	for _, q := range app.Pools {
		if q.Pool == p.Pool {
			return nil, d.Errf("pool %q is declared twice in the global options", p.Pool)
		}
	}
	app.Pools = append(app.Pools, p)
	return httpcaddyfile.App{Name: "gemini_balance", Value: caddyconfig.JSON(app, nil)}, nil
}

func parseCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	gemini_balance [<pool name>] {
//	    provider        gemini | vertex_express | openai
//	    fallback        <pool> ...
//	    api_keys        <key> ...        (may be repeated)
//	    api_keys_file   <path>
//	    database        <path>
//	    console         <path> | off
//	    max_body_size   <bytes>
//	    max_upload_size <bytes>
//	    <option>        <value> ...      any option of settings.Schema()
//	}
//
// An option's arguments are read by its type (settings.Option.ParseArgs)
// into its JSON config form, and checked by its setter as the admin API's
// writes are. Only repeatable options (lists, header, thinking_budget,
// safety_settings) and api_keys may be given twice.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // the directive's name
	if d.NextArg() {
		h.Pool = d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	seen := map[string]int{}
	for d.NextBlock(0) {
		dir := d.Val()
		o := settings.ByDirective(dir)
		if line, ok := seen[dir]; ok && dir != "api_keys" && (o == nil || !o.Repeatable) {
			return d.Errf("%s already specified at line %d", dir, line)
		} else if !ok {
			seen[dir] = d.Line()
		}
		if o == nil {
			if err := h.unmarshalStructural(d); err != nil {
				return err
			}
			continue
		}
		raw, err := o.ParseArgs(h.Options[o.Name], d.RemainingArgs())
		if err != nil {
			return d.Errf("%v", err)
		}
		if h.Options == nil {
			h.Options = map[string]json.RawMessage{}
		}
		h.Options[o.Name] = raw
	}
	if _, err := settings.ApplyConfig(settings.Defaults(), h.Options); err != nil {
		return d.Errf("%v", err) // the inter-option rules
	}
	return nil
}

// unmarshalStructural reads an option of the handler itself: api_keys, or
// one value of the others.
func (h *Handler) unmarshalStructural(d *caddyfile.Dispenser) error {
	opt, args := d.Val(), d.RemainingArgs()
	str := map[string]*string{"api_keys_file": &h.APIKeysFile, "database": &h.Database, "console": &h.Console, "provider": &h.Provider,
		"image_store": &h.ImageStore, "image_path": &h.ImagePath}[opt]
	size := map[string]*int64{"max_body_size": &h.MaxBodyBytes, "max_upload_size": &h.MaxUploadBytes}[opt]
	o, known := settings.Lookup(opt)
	switch {
	case opt == "api_keys" && len(args) == 0:
		return d.Errf("api_keys needs at least one value")
	case opt == "api_keys":
		h.APIKeys = append(h.APIKeys, args...)
		return nil
	case opt == "fallback" && len(args) == 0:
		return d.Errf("fallback needs at least one pool name")
	case opt == "fallback":
		h.Fallback = append(h.Fallback, args...)
		return nil
	case str == nil && size == nil && known:
		return d.Errf("unknown gemini_balance option %q (write %s)", opt, o.CaddyfileName())
	case str == nil && size == nil:
		return d.Errf("unknown gemini_balance option %q", opt)
	case len(args) != 1:
		return d.Errf("%s takes one value, got %d", opt, len(args))
	case opt == "provider":
		if _, err := provider.Parse(args[0]); err != nil {
			return d.Errf("%v", err) // at adapt time, with the line
		}
		h.Provider = args[0]
		return nil
	case str != nil:
		*str = args[0]
		return nil
	}
	n, err := strconv.ParseInt(args[0], 10, 64)
	if err != nil || n < 1 {
		return d.Errf("%s: %q is not a whole number of bytes, at least 1", opt, args[0])
	}
	*size = n
	return nil
}
