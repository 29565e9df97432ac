package balancer

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
	"github.com/gemini-balance/gemini_balance/internal/fakeopenai"
	"github.com/gemini-balance/gemini_balance/internal/keypool"
	"github.com/gemini-balance/gemini_balance/internal/provider"
)

const (
	probeGoodOA = "sk-proj-GOODgoodGOODgood0000000000000000000001"
	probeBadOA  = "sk-proj-BADbadBADbad00000000000000000000002"
	probeGoodG  = "AIzaSyPROBEGOOD000000000000000000000001"
	probeBadG   = "AIzaSyPROBEBAD0000000000000000000000002"
)

func probeByKey(t *testing.T, results []Probe, b *Balancer) map[string]Probe {
	t.Helper()
	m := map[string]Probe{}
	for _, r := range results {
		for _, k := range b.Ring().Keys() {
			if k.ID() == r.KeyID {
				m[k.Secret()] = r
			}
		}
	}
	return m
}

func keyBySecret(b *Balancer, s string) *keypool.Key {
	for _, k := range b.Ring().Keys() {
		if k.Secret() == s {
			return k
		}
	}
	return nil
}

func noFullKey(t *testing.T, results []Probe, keys ...string) {
	t.Helper()
	for _, r := range results {
		for _, k := range keys {
			if strings.Contains(r.Body, k) || strings.Contains(r.Reason, k) || strings.Contains(r.Masked, k) {
				t.Errorf("probe of %s shows the full key: %+v", r.Masked, r)
			}
		}
	}
}

func TestConnectionOpenAI(t *testing.T) {
	up := fakeopenai.New()
	t.Cleanup(up.Close)
	up.SetKey(probeGoodOA, fakeopenai.OK)
	up.SetKey(probeBadOA, fakeopenai.Invalid)
	b := openPool(t, "oa", provider.OpenAI, up.URL, []string{probeGoodOA, probeBadOA}, nil)

	results, unknown, total := b.TestConnection(context.Background(), nil)
	if len(results) != 2 || len(unknown) != 0 || total != 2 {
		t.Fatalf("results %d, unknown %v, total %d", len(results), unknown, total)
	}
	by := probeByKey(t, results, b)
	good, bad := by[probeGoodOA], by[probeBadOA]
	if good.Status != http.StatusOK || !good.Valid || good.Verdict != "success" || !strings.Contains(good.Body, `"data"`) || good.LatencyMs < 0 {
		t.Errorf("good key: %+v", good)
	}
	if bad.Status != http.StatusUnauthorized || bad.Valid || bad.Verdict != "invalid" || !strings.Contains(bad.Body, "invalid_api_key") ||
		!strings.Contains(bad.Body, "Incorrect API key provided") {
		t.Errorf("bad key: %+v", bad)
	}
	noFullKey(t, results, probeGoodOA, probeBadOA)
	if k := keyBySecret(b, probeBadOA); k.Status() != keypool.Invalid {
		t.Errorf("the key the provider refused is %v, want invalid", k.Status())
	}
	if k := keyBySecret(b, probeGoodOA); k.Status() == keypool.Invalid {
		t.Error("the good key was marked invalid")
	}
	// The stand-in saw GET /models with the key as a Bearer token.
	for _, r := range up.Requests() {
		if r.Method != http.MethodGet || r.Path != "/v1/models" || r.Header.Get("Authorization") != "Bearer "+r.Key {
			t.Errorf("probe request %s %s auth %q", r.Method, r.Path, r.Header.Get("Authorization"))
		}
	}

	// One key by reference; an unknown reference is reported.
	results, unknown, total = b.TestConnection(context.Background(), []string{probeGoodOA, "sk-nope"})
	if len(results) != 1 || results[0].Status != http.StatusOK || len(unknown) != 1 || total != 1 {
		t.Errorf("by reference: %+v unknown %v total %d", results, unknown, total)
	}
	noFullKey(t, results, probeGoodOA)
}

func TestConnectionGemini(t *testing.T) {
	up := fakegemini.New()
	t.Cleanup(up.Close)
	up.SetKey(probeGoodG, fakegemini.OK)
	up.SetKey(probeBadG, fakegemini.Invalid)
	b := openPool(t, "g", provider.Gemini, up.URL, []string{probeGoodG, probeBadG}, nil)
	results, _, _ := b.TestConnection(context.Background(), nil)
	by := probeByKey(t, results, b)
	if p := by[probeGoodG]; p.Status != http.StatusOK || !p.Valid || p.Verdict != "success" {
		t.Errorf("good key: %+v", p)
	}
	if p := by[probeBadG]; p.Status != http.StatusBadRequest || p.Valid || p.Verdict != "invalid" || !strings.Contains(p.Body, "API_KEY_INVALID") {
		t.Errorf("bad key: %+v", p)
	}
	noFullKey(t, results, probeGoodG, probeBadG)
	for _, r := range up.Requests() {
		if r.Method != http.MethodGet || !strings.HasPrefix(r.Path, "/v1beta/models/") {
			t.Errorf("probe request %s %s, want GET of the test model", r.Method, r.Path)
		}
	}
}

func TestConnectionVertexExpress(t *testing.T) {
	up := fakegemini.New()
	t.Cleanup(up.Close)
	up.SetKey(probeGoodG, fakegemini.OK)
	up.SetKey(probeBadG, fakegemini.Invalid)
	b := openPool(t, "vx", provider.VertexExpress, up.VertexURL(), []string{probeGoodG, probeBadG}, nil)
	results, _, _ := b.TestConnection(context.Background(), nil)
	by := probeByKey(t, results, b)
	if p := by[probeGoodG]; p.Status != http.StatusOK || !p.Valid || !strings.Contains(p.Body, "totalTokens") {
		t.Errorf("good key: %+v", p)
	}
	if p := by[probeBadG]; p.Valid || p.Verdict != "invalid" {
		t.Errorf("bad key: %+v", p)
	}
	noFullKey(t, results, probeGoodG, probeBadG)
	for _, r := range up.Requests() {
		if r.Method != http.MethodPost || !strings.HasPrefix(r.Path, "/v1/publishers/google/models/") || !strings.HasSuffix(r.Path, ":countTokens") {
			t.Errorf("probe request %s %s, want POST …:countTokens under publishers/google", r.Method, r.Path)
		}
	}
}
