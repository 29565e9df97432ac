package httpapi

import (
	"strings"
	"testing"
	"time"

	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/provider"
)

const anthropicBody = `{"model":"claude-sonnet-4-5","max_tokens":100,"stream":true,"messages":[{"role":"user","content":"hi"}]}`

func eventNames(body string) []string {
	var names []string
	for _, line := range strings.Split(body, "\n") {
		if name, ok := strings.CutPrefix(line, "event: "); ok {
			names = append(names, name)
		}
	}
	return names
}

// A silent upstream (a model thinking) gets ping events every
// anthropicPingEvery once the message has started, so proxies that cut idle
// connections leave the stream alone; the events stay in Anthropic's order.
func TestAnthropicStreamPingsWhileSilent(t *testing.T) {
	up := fakegemini.New()
	t.Cleanup(up.Close)
	up.SetDefault(fakegemini.OK)
	up.StreamEvents = 3
	up.StreamDelay = 150 * time.Millisecond
	old := anthropicPingEvery
	anthropicPingEvery = 40 * time.Millisecond
	t.Cleanup(func() { anthropicPingEvery = old })
	h := &Handler{Balancer: chainPool(t, "anthropic-ping", provider.Gemini, up.URL, []string{"AIzaSyANTHROPICPING00000000000000000001"}, nil)}
	w := serveChain(t, h, "POST", "/v1/messages", anthropicBody, true)
	names := eventNames(w.Body.String())
	pings := 0
	for _, n := range names {
		if n == "ping" {
			pings++
		}
	}
	if w.Code != 200 || len(names) == 0 || names[0] != "message_start" || names[len(names)-1] != "message_stop" || pings < 3 {
		t.Fatalf("%d events %v", w.Code, names)
	}
}

// A stream cut midway ends with an Anthropic error event, not a clean stop.
func TestAnthropicStreamCutMidway(t *testing.T) {
	up := fakegemini.New()
	t.Cleanup(up.Close)
	up.SetDefault(fakegemini.CutStream)
	h := &Handler{Balancer: chainPool(t, "anthropic-cut", provider.Gemini, up.URL, []string{"AIzaSyANTHROPICCUT000000000000000000001"}, nil)}
	w := serveChain(t, h, "POST", "/v1/messages", anthropicBody, true)
	names := eventNames(w.Body.String())
	if w.Code != 200 || len(names) < 2 || names[len(names)-1] != "error" || strings.Contains(w.Body.String(), "message_stop") ||
		!strings.Contains(w.Body.String(), `"type":"api_error"`) && !strings.Contains(w.Body.String(), `"type":"error"`) {
		t.Fatalf("%d events %v\n%s", w.Code, names, w.Body.String())
	}
}
