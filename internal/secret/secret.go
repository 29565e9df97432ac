// Package secret keeps API keys and client tokens out of logs, error
// messages and the console, and compares client tokens in constant time.
//
// Everything here is pure and safe for concurrent use.
package secret

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"sort"
	"strings"
	"unicode/utf8"
)

// Ellipsis is the single character that stands for the hidden part of a
// masked secret.
const Ellipsis = "…"

// Mask returns a form of key that is safe to show: the first 6 and the last
// 4 characters around a single '…', e.g. "AIzaSy…wxyz".
//
// A key of 10 characters or fewer would be mostly revealed that way, so it
// is shown as "…" followed by at most its last 2 characters, and never more
// than a quarter of it: keys of 8–10 characters keep 2, of 4–7 keep 1, and
// shorter ones are shown as "…" alone. The empty key masks to "".
//
// Lengths are counted in characters (runes), so a non-ASCII key is never cut
// inside a character.
func Mask(key string) string {
	if key == "" {
		return ""
	}
	n := utf8.RuneCountInString(key)
	if n > 10 {
		return firstRunes(key, 6) + Ellipsis + lastRunes(key, 4)
	}
	keep := min(2, n/4)
	return Ellipsis + lastRunes(key, keep)
}

// MaskToken is the form of a client token (or another secret that is not a
// key) that may be shown: Ellipsis and its last min(4, n/4) characters, so
// at most 4 characters of it ever show.
func MaskToken(t string) string {
	if t == "" {
		return ""
	}
	return Ellipsis + lastRunes(t, min(4, utf8.RuneCountInString(t)/4))
}

func firstRunes(s string, n int) string {
	i := 0
	for range n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i]
}

func lastRunes(s string, n int) string {
	i := len(s)
	for range n {
		_, size := utf8.DecodeLastRuneInString(s[:i])
		i -= size
	}
	return s[i:]
}

// ID returns a stable identifier for key that reveals nothing useful about
// it: the first 16 hex characters of its SHA-256 digest. Use it to name a key
// in state files, metrics and URLs.
func ID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:8])
}

// Redact returns s with secrets replaced by their masks (see Mask):
//
//   - every occurrence of each given key (empty keys are ignored; at any
//     position the longest key wins, so a key that contains another is
//     masked whole);
//   - anything that looks like a Google API key: the regexp
//     `AIza[0-9A-Za-z_\-]{35}`, extended to the whole run of such characters
//     so that no tail is left in the clear;
//   - the value of any key=<value> query parameter (this also catches
//     "api_key=", "x-goog-api-key=", ...), as found in the URLs that Go's
//     net/http puts in its errors, e.g.
//     `Post "https://host/v1beta/models/x:generateContent?key=AIza...": dial tcp ...`.
//     The value ends at the next '&', ASCII whitespace, quote, '#', '<', '>'
//     or backslash (so a JSON-escaped quote ends it too).
//
// Redact is idempotent: a key= value that already holds '…' is taken as
// masked (though still searched for Google keys), a "key=" right after the
// visible end of a mask is not taken for a parameter, and masks never look
// like Google keys, so redacting twice changes nothing more. (The one exception is a given key so short, 6
// characters or fewer, that it occurs inside the visible ends of another
// given key's mask.)
//
// A string with none of the given keys, no "AIza" and no "key=" is returned
// as is without allocating; no regular expressions are involved.
func Redact(s string, keys ...string) string {
	if s == "" {
		return s
	}
	s = replaceKeys(s, keys)
	if !strings.Contains(s, "AIza") && !strings.Contains(s, "key=") {
		return s
	}
	var b strings.Builder
	last := 0 // s[:last] is written to b, or needs no change if b is empty
	for i := 0; i < len(s); {
		j := nextCandidate(s, i)
		if j < 0 {
			break
		}
		start, end := j, j+4
		if s[j] == 'k' { // key=<value>
			if maskTail(s, j) {
				i = j + 1
				continue
			}
			start = j + 4
			end = start
			for end < len(s) && !isValueEnd(s[end]) {
				end++
			}
			if end == start || strings.Contains(s[start:end], Ellipsis) {
				// Nothing there, or already masked; still look inside
				// for Google keys.
				i = j + 4
				continue
			}
		} else { // AIza...
			for end < len(s) && isKeyChar(s[end]) {
				end++
			}
			if end-(j+4) < googleKeyTail {
				i = j + 1
				continue
			}
		}
		if b.Len() == 0 {
			b.Grow(len(s))
		}
		b.WriteString(s[last:start])
		b.WriteString(Mask(s[start:end]))
		last, i = end, end
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// googleKeyTail is how many characters follow "AIza" in a Google API key.
const googleKeyTail = 35

// nextCandidate returns the index of the first "AIza" or "key=" in s at or
// after i, or -1.
func nextCandidate(s string, i int) int {
	a := strings.Index(s[i:], "AIza")
	k := strings.Index(s[i:], "key=")
	switch {
	case a < 0 && k < 0:
		return -1
	case a < 0 || (k >= 0 && k < a):
		return i + k
	default:
		return i + a
	}
}

// maskTail reports whether the "key=" at s[j:] follows the visible end of a
// mask, as in "AIzaSy…xkey=" where a Google-key-like run ending in "key" was
// masked: such a "key=" is not a parameter, and treating it as one would
// make Redact change its own output.
func maskTail(s string, j int) bool {
	k := j
	for k > 0 && isKeyChar(s[k-1]) {
		k--
	}
	return strings.HasSuffix(s[:k], Ellipsis)
}

func isKeyChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-'
}

func isValueEnd(c byte) bool {
	switch c {
	case '&', ' ', '\t', '\n', '\v', '\f', '\r', '"', '\'', '<', '>', '#', '\\':
		return true
	}
	return false
}

// replaceKeys replaces the given keys that occur in s by their masks.
func replaceKeys(s string, keys []string) string {
	var found []string
	for _, k := range keys {
		if k != "" && strings.Contains(s, k) {
			found = append(found, k)
		}
	}
	switch len(found) {
	case 0:
		return s
	case 1:
		return strings.ReplaceAll(s, found[0], Mask(found[0]))
	}
	// One pass over s, longest key first at any position, so that a key
	// containing another one is masked whole, and no mask is itself
	// searched for keys.
	sort.SliceStable(found, func(i, j int) bool { return len(found[i]) > len(found[j]) })
	pairs := make([]string, 0, 2*len(found))
	for _, k := range found {
		pairs = append(pairs, k, Mask(k))
	}
	return strings.NewReplacer(pairs...).Replace(s)
}

// RedactError returns Redact(err.Error(), keys...), or "" for a nil error.
func RedactError(err error, keys ...string) string {
	if err == nil {
		return ""
	}
	return Redact(err.Error(), keys...)
}

// TokenSet holds client tokens as SHA-256 digests and tests membership in
// constant time. Its zero value and a nil *TokenSet are empty sets. It is
// immutable after NewTokenSet and safe for concurrent use.
type TokenSet struct {
	digests [][sha256.Size]byte
}

// NewTokenSet returns the set of the given tokens. Empty strings are ignored,
// and duplicates are stored once.
func NewTokenSet(tokens []string) *TokenSet {
	t := &TokenSet{}
	seen := make(map[[sha256.Size]byte]struct{}, len(tokens))
	for _, tok := range tokens {
		if tok == "" {
			continue
		}
		d := sha256.Sum256([]byte(tok))
		if _, dup := seen[d]; dup {
			continue
		}
		seen[d] = struct{}{}
		t.digests = append(t.digests, d)
	}
	return t
}

// Contains reports whether token is in the set. It hashes token and compares
// the digest with every stored digest using crypto/subtle, always walking
// all of them, so its timing depends only on the size of the set, not on
// which token matched or how much of it. The empty token is never contained.
func (t *TokenSet) Contains(token string) bool {
	if t == nil || token == "" {
		return false
	}
	d := sha256.Sum256([]byte(token))
	match := 0
	for i := range t.digests {
		match |= subtle.ConstantTimeCompare(d[:], t.digests[i][:])
	}
	return match == 1
}

// Len returns the number of distinct tokens in the set.
func (t *TokenSet) Len() int {
	if t == nil {
		return 0
	}
	return len(t.digests)
}

// MaskOpenAIKeys masks what looks like an OpenAI-style secret key ("sk-" and at
// least 16 key characters) that a provider echoed back; OpenAI masks its
// own, other servers may not.
func MaskOpenAIKeys(s string) string {
	if !strings.Contains(s, "sk-") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "sk-")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + 3
		for end < len(s) && openAIKeyChar(s[end]) {
			end++
		}
		b.WriteString(s[:i])
		if end-i-3 >= 16 && (i == 0 || !openAIKeyChar(s[i-1])) {
			b.WriteString(Mask(s[i:end]))
		} else {
			b.WriteString(s[i:end])
		}
		s = s[end:]
	}
}

func openAIKeyChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
