// Package pathguard checks the parts of a client request that end up in an
// upstream URL: the request path, model names and method names. Upstream
// URLs are built from parts that passed these checks only, so a client
// holding a token cannot steer a pool key to another Google endpoint (a
// front end that resolves dot segments would turn
// /models/x:y/../../../v1alpha/auth_tokens into /v1alpha/auth_tokens).
package pathguard

import (
	"fmt"
	"net/url"
	"strings"
)

// MaxModelName is the longest model name accepted (Google's ids are far
// shorter; the bound keeps huge names out of logs and URLs).
const MaxModelName = 256

// CheckPath refuses a request path that a front end could read as another
// path: "." or ".." segments (also percent-encoded), an encoded slash or
// backslash, a "?" or "#" smuggled into a segment, a "%" left after
// decoding (double encoding), a backslash or a control character. It
// returns nil for a clean path.
func CheckPath(u *url.URL) error {
	p := u.Path
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c < 0x20 || c == 0x7f:
			return fmt.Errorf("the path holds a control character")
		case c == '\\':
			return fmt.Errorf("the path holds a backslash")
		case c == '?' || c == '#':
			return fmt.Errorf("the path holds an encoded %q", c)
		case c == '%':
			return fmt.Errorf("the path holds a doubly encoded character")
		}
	}
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return fmt.Errorf("the path holds a %q segment", seg)
		}
	}
	// u.Path is decoded: an encoded slash only shows in the raw form.
	raw := u.RawPath
	if raw == "" {
		return nil
	}
	lower := strings.ToLower(raw)
	if strings.Contains(lower, "%2f") || strings.Contains(lower, "%5c") {
		return fmt.Errorf("the path holds an encoded slash")
	}
	return nil
}

// ValidModel reports whether name is a model id that may go into an
// upstream URL: [A-Za-z0-9][A-Za-z0-9._-]{0,255}.
func ValidModel(name string) bool {
	if name == "" || len(name) > MaxModelName || !alnum(name[0]) {
		return false
	}
	for i := 1; i < len(name); i++ {
		if c := name[i]; !alnum(c) && c != '.' && c != '_' && c != '-' {
			return false
		}
	}
	return true
}

// ModelError explains why name is refused, quoting at most the first 64
// bytes of it.
func ModelError(name string) string {
	shown := name
	if len(shown) > 64 {
		shown = shown[:64] + "…"
	}
	return fmt.Sprintf("model name %q is not valid: a model name is 1 to %d letters, digits, '.', '_' or '-', starting with a letter or digit", shown, MaxModelName)
}

func alnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// NativeActions are the model methods of the Gemini API that the native
// routes forward.
var NativeActions = []string{
	"generateContent", "streamGenerateContent", "countTokens", "embedContent", "batchEmbedContents",
	"batchGenerateContent", "asyncBatchEmbedContent", "predict", "predictLongRunning",
}

// KnownAction reports whether action is one of NativeActions.
func KnownAction(action string) bool {
	for _, a := range NativeActions {
		if a == action {
			return true
		}
	}
	return false
}

// LettersOnly reports whether s is a non-empty run of ASCII letters, the
// shape of every Gemini method name.
func LettersOnly(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}
