package keypool

import (
	"regexp"
	"strings"
	"time"
)

// The rules about keys as operators type, paste and search them.

// keyPattern finds Google API keys in pasted text.
var keyPattern = regexp.MustCompile(`AIza[0-9A-Za-z_\-]{35}`)

// ExtractKeys finds Google API keys in any text.
func ExtractKeys(text string) []string { return keyPattern.FindAllString(text, -1) }

// CheckShape says why s cannot be an API key, or "" when it may be one.
func CheckShape(s string) string {
	switch {
	case len(s) < 20:
		return "too short to be an API key"
	case len(s) > 256:
		return "too long to be an API key"
	case strings.ContainsAny(s, " \t\r\n\"'"):
		return "contains spaces or quotes"
	}
	return ""
}

// MaskLoose masks anything that might be a key, whatever its length.
func MaskLoose(s string) string {
	if len(s) <= 10 {
		return strings.Repeat("*", len(s))
	}
	return s[:6] + "…" + s[len(s)-4:]
}

// Condition is the key's standing as operators see it: "active", "cooling"
// (resting for at least one model) or "invalid".
func (k *Key) Condition(now time.Time) string {
	switch {
	case k.Status() == Invalid:
		return "invalid"
	case k.IsCooling(now):
		return "cooling"
	}
	return "active"
}

// ValidCondition reports whether s is a Condition ("" is not).
func ValidCondition(s string) bool { return s == "active" || s == "cooling" || s == "invalid" }

// Matches reports whether k fits the search text q: a prefix of its ID, a
// part of its masked form, or (for at least 6 characters) a part of the key
// itself. Empty q matches every key.
func (k *Key) Matches(q string) bool {
	if q == "" {
		return true
	}
	return strings.HasPrefix(k.ID(), q) || strings.Contains(k.Masked(), q) || (len(q) >= 6 && strings.Contains(k.Secret(), q))
}

// Resolve finds keys by full form, ID or masked form (AIzaSy…wxyz). A masked
// form that fits several keys is ambiguous; what fits nothing is listed in
// notFound, masked. Each key is found once, in the order given.
func (p *Ring) Resolve(refs []string) (found []*Key, notFound, ambiguous []string) {
	byMask := map[string][]*Key{}
	for _, k := range p.Keys() {
		byMask[k.Masked()] = append(byMask[k.Masked()], k)
	}
	seen := map[*Key]bool{}
	for _, g := range refs {
		g = strings.TrimSpace(g)
		var k *Key
		if full := p.Get(NewKey(g, "").ID()); full != nil {
			k = full
		} else if byID := p.Get(g); byID != nil {
			k = byID
		} else if m := byMask[g]; len(m) == 1 {
			k = m[0]
		} else if len(m) > 1 {
			ambiguous = append(ambiguous, g)
			continue
		}
		if k == nil {
			notFound = append(notFound, MaskLoose(g))
			continue
		}
		if !seen[k] {
			seen[k] = true
			found = append(found, k)
		}
	}
	return found, notFound, ambiguous
}
