package settings

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func raw(s string) json.RawMessage { return json.RawMessage(s) }

func TestApplyAllOrNothing(t *testing.T) {
	base := Defaults()
	_, err := Apply(base, map[string]json.RawMessage{
		"max_retries": raw(`2`), "timeout": raw(`"soon"`), "base_url": raw(`"ftp://x"`), "bogus": raw(`1`), "max_failures": raw(`0`),
	})
	var fe FieldErrors
	if !errors.As(err, &fe) {
		t.Fatalf("err %v", err)
	}
	for _, name := range []string{"timeout", "base_url", "bogus", "max_failures"} {
		if fe[name] == "" {
			t.Errorf("no message for %s: %v", name, fe)
		}
	}
	if _, ok := fe["max_retries"]; ok {
		t.Error("valid field reported")
	}
	if base.MaxRetries != 3 {
		t.Error("base changed by a refused change")
	}
}

func TestApplyValues(t *testing.T) {
	base := Defaults()
	next, err := Apply(base, map[string]json.RawMessage{
		"max_retries": raw(`5`), "timeout": raw(`"90s"`), "check_interval": raw(`0`), "proxies": raw(`["socks5://p:1080"," ","socks5://p:1080"]`),
		"headers": raw(`{"X-A":"1"}`), "search_models": raw(`[]`), "thinking_budgets": raw(`{"gemini-2.5-pro":1024}`),
		"safety_settings": raw(`[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}]`), "fake_stream": raw(`true`),
		"log_level": raw(`"DEBUG"`), "auth_token": raw(`"  admin "`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if next.MaxRetries != 5 || next.Timeout != 90*time.Second || next.CheckInterval != 0 || len(next.Proxies) != 1 ||
		next.Headers["X-A"] != "1" || len(next.Models.SearchModels) != 0 || next.Models.ThinkingBudgets["gemini-2.5-pro"] != 1024 ||
		next.Models.SafetySettings[0].Threshold != "BLOCK_NONE" || !next.Models.FakeStream || next.LogLevel != "debug" || next.AuthToken != "admin" {
		t.Errorf("applied %+v", next)
	}
	// The copy is deep: changing the result leaves the base alone.
	next.Models.FilteredModels[0] = "changed"
	if base.Models.FilteredModels[0] == "changed" {
		t.Error("Apply shares slices with its base")
	}
	if got := string(Value(&next, "timeout")); got != `"1m30s"` {
		t.Errorf("Value(timeout) = %s", got)
	}
}

func TestSchemaIsComplete(t *testing.T) {
	d := Defaults()
	for _, o := range Schema() {
		if o.Help == "" || o.Group == "" || o.Type == "" {
			t.Errorf("%s lacks help, group or type", o.Name)
		}
		// Every default reads back and is accepted by its own setter.
		b, _ := json.Marshal(o.Get(&d))
		if err := o.Set(&d, b); err != nil && !strings.Contains(o.Name, "token") && o.Name != "paid_key" {
			t.Errorf("%s: its default %s is refused: %v", o.Name, b, err)
		}
	}
}

func TestConfigForm(t *testing.T) {
	timeout, _ := Lookup("timeout")
	headers, _ := Lookup("headers")
	for raw, want := range map[string]string{`120000000000`: `"2m0s"`, `"1d"`: `"1d"`, `"90s"`: `"90s"`} {
		got, err := timeout.FromConfig(json.RawMessage(raw))
		if err != nil || string(got) != want {
			t.Errorf("FromConfig(%s) = %s, %v; want %s", raw, got, err, want)
		}
	}
	if _, err := timeout.FromConfig(json.RawMessage(`1.5`)); err == nil {
		t.Error("a fractional number of nanoseconds was taken")
	}
	got, err := headers.FromConfig(json.RawMessage(`{"X-A":["1","2"]}`))
	if err != nil || string(got) != `{"X-A":"1, 2"}` {
		t.Errorf("headers = %s, %v", got, err)
	}
	s, err := ApplyConfig(Defaults(), map[string]json.RawMessage{"check_interval": json.RawMessage(`"1d12h"`)})
	if err != nil || s.CheckInterval != 36*time.Hour {
		t.Errorf("1d12h = %v, %v", s.CheckInterval, err)
	}
	raw, err := timeout.ParseArgs(nil, []string{"1d"})
	if err != nil || string(raw) != "86400000000000" {
		t.Errorf("ParseArgs(1d) = %s, %v", raw, err)
	}
}
