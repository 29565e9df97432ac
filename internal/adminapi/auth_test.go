package adminapi

import (
	"net/http/httptest"
	"testing"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
)

// ByAuthToken admits only a Bearer token equal to a pool's auth_token: not a
// client token, not a prefix, not another scheme.
func TestByAuthToken(t *testing.T) {
	b, _ := testAPI(t, nil)
	all := []*balancer.Balancer{b}
	for header, want := range map[string]int{
		"Bearer " + adminToken:        1,
		"bearer  " + adminToken + " ": 1,
		"Bearer " + clientA:           0,
		"Bearer " + adminToken[:8]:    0,
		"Basic " + adminToken:         0,
		"":                            0,
	} {
		r := httptest.NewRequest("GET", "/pools", nil)
		r.Header.Set("Authorization", header)
		if got := len(ByAuthToken(r, all)); got != want {
			t.Errorf("Authorization %q: %d pools, want %d", header, got, want)
		}
	}
}
