// Package gemini_balance is a Caddy v2 module that turns a pool of Google
// Gemini API keys into one reliable endpoint. Importing this package (as
// `xcaddy build --with github.com/gemini-balance/gemini_balance` does)
// registers the http.handlers.gemini_balance module.
package gemini_balance

import (
	_ "github.com/gemini-balance/gemini_balance/caddymodule"
)
