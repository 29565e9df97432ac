// Command caddy is Caddy with its standard modules plus gemini_balance.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/gemini-balance/gemini_balance/caddymodule"
)

func main() {
	caddycmd.Main()
}
