package secret

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
)

// Made-up keys of the real shape: "AIza" + 35 characters of [0-9A-Za-z_-].
const (
	keyA = "AIzaSyD3kF9xQ2mL7pR4tV8wZ1bN6cH0jE5wxyz"
	keyB = "AIzaSyBq_7Hn-2Lk9Pm4Rt6Vx8Zb1Cd3Fg51234"
	keyC = "AIzaSyZZ0aa1bb2cc3dd4ee5ff6gg7hh8i9k9aa" // never passed to Redact explicitly
)

// googleKeyRE is the shape of a Google API key.
var googleKeyRE = regexp.MustCompile(`^AIza[0-9A-Za-z_\-]{35}$`)

func init() {
	for _, k := range []string{keyA, keyB, keyC} {
		if !googleKeyRE.MatchString(k) {
			panic("test key has the wrong shape: " + k)
		}
	}
}

func TestMask(t *testing.T) {
	tests := []struct {
		key, want string
	}{
		{"", ""},
		{"a", "…"},
		{"ab", "…"},
		{"abc", "…"},
		{"abcd", "…d"},
		{"abcdefg", "…g"},
		{"abcdefgh", "…gh"},
		{"abcdefghij", "…ij"}, // 10 characters: still short
		{"abcdefghijk", "abcdef…hijk"},
		{keyA, "AIzaSy…wxyz"},
		{keyB, "AIzaSy…1234"},
		{"ключ-секрет-длинный", "ключ-с…нный"}, // runes, not bytes
		{"пароль", "…ь"},
	}
	for _, tt := range tests {
		if got := Mask(tt.key); got != tt.want {
			t.Errorf("Mask(%q) = %q, want %q", tt.key, got, tt.want)
		}
		if got := Mask(tt.key); !strings.Contains(got, "…") && tt.key != "" {
			t.Errorf("Mask(%q) = %q has no ellipsis", tt.key, got)
		}
	}
}

func TestMaskNeverRevealsMostOfAKey(t *testing.T) {
	for n := 1; n <= 64; n++ {
		key := strings.Repeat("x", n)
		shown := len(strings.ReplaceAll(Mask(key), "…", ""))
		if n > 10 && shown != 10 {
			t.Errorf("len %d: shows %d characters, want 10", n, shown)
		}
		if n <= 10 && (shown > 2 || shown*4 > n) {
			t.Errorf("len %d: shows %d characters of a short key", n, shown)
		}
	}
}

func TestID(t *testing.T) {
	sum := sha256.Sum256([]byte(keyA))
	want := hex.EncodeToString(sum[:])[:16]
	if got := ID(keyA); got != want {
		t.Fatalf("ID = %q, want %q", got, want)
	}
	if len(ID("")) != 16 || ID(keyA) == ID(keyB) || ID(keyA) != ID(keyA) {
		t.Fatal("ID is not a stable 16-char per-key id")
	}
	if strings.Contains(keyA, ID(keyA)) {
		t.Fatal("ID reveals the key")
	}
}

// A real Google 403 for a suspended key: Google puts the key itself in the
// message, in metadata.containerInfo and in the LocalizedMessage.
var suspendedBody = `{
  "error": {
    "code": 403,
    "message": "Permission denied: Consumer 'api_key:` + keyA + `' has been suspended.",
    "status": "PERMISSION_DENIED",
    "details": [
      {
        "@type": "type.googleapis.com/google.rpc.ErrorInfo",
        "reason": "CONSUMER_SUSPENDED",
        "domain": "googleapis.com",
        "metadata": {
          "consumer": "projects/895908428397",
          "service": "generativelanguage.googleapis.com",
          "containerInfo": "api_key:` + keyA + `"
        }
      },
      {
        "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
        "locale": "en-US",
        "message": "Permission denied: Consumer 'api_key:` + keyA + `' has been suspended."
      }
    ]
  }
}
`

func TestRedact(t *testing.T) {
	tests := []struct {
		name string
		in   string
		keys []string
		want string
	}{
		{
			name: "nothing to do",
			in:   "upstream 503: The model is overloaded. Please try again later.",
			want: "upstream 503: The model is overloaded. Please try again later.",
		},
		{name: "empty", in: "", keys: []string{keyA}, want: ""},
		{
			name: "given key",
			in:   "key " + keyA + " marked invalid",
			keys: []string{keyA},
			want: "key AIzaSy…wxyz marked invalid",
		},
		{
			name: "empty keys ignored",
			in:   "hello",
			keys: []string{"", ""},
			want: "hello",
		},
		{
			name: "short given key",
			in:   "token sk-12345 rejected (sk-12345)",
			keys: []string{"sk-12345"},
			want: "token …45 rejected (…45)",
		},
		{
			name: "tiny given key",
			in:   "pw=ab;",
			keys: []string{"ab"},
			want: "pw=…;",
		},
		{
			name: "multiple keys, one unknown",
			in:   keyA + "," + keyB + "," + keyC,
			keys: []string{keyA, keyB},
			want: "AIzaSy…wxyz,AIzaSy…1234,AIzaSy…k9aa",
		},
		{
			name: "key containing another given key",
			in:   "token-abc-123456789 and abc-1234567",
			keys: []string{"abc-1234567", "token-abc-123456789"},
			want: "token-…6789 and abc-12…4567",
		},
		{
			name: "Google-looking key not given",
			in:   "x-goog-api-key: " + keyC,
			want: "x-goog-api-key: AIzaSy…k9aa",
		},
		{
			name: "too short to be a Google key",
			in:   "AIzaSyShort and AIza",
			want: "AIzaSyShort and AIza",
		},
		{
			name: "URL error from net/http",
			in:   `Post "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent?key=` + keyA + `": dial tcp 142.250.74.10:443: connect: connection refused`,
			want: `Post "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent?key=AIzaSy…wxyz": dial tcp 142.250.74.10:443: connect: connection refused`,
		},
		{
			name: "URL error, key= not a Google key, more params after",
			in:   `Get "https://relay.example/v1beta/models?key=my-relay-secret-1&pageSize=50": context deadline exceeded`,
			want: `Get "https://relay.example/v1beta/models?key=my-rel…et-1&pageSize=50": context deadline exceeded`,
		},
		{
			name: "short key= value",
			in:   `GET /v1beta/models?alt=sse&key=abc123 HTTP/1.1`,
			want: `GET /v1beta/models?alt=sse&key=…3 HTTP/1.1`,
		},
		{
			name: "api_key= and fragment",
			in:   "https://h/p?api_key=0123456789abcdef#frag",
			want: "https://h/p?api_key=012345…cdef#frag",
		},
		{
			name: "key in JSON-escaped URL",
			in:   `{"error":"Post \"https://h/v1beta/models/x:streamGenerateContent?alt=sse&key=` + keyB + `\": EOF"}`,
			want: `{"error":"Post \"https://h/v1beta/models/x:streamGenerateContent?alt=sse&key=AIzaSy…1234\": EOF"}`,
		},
		{
			name: "suspended body, key not given",
			in:   suspendedBody,
			want: strings.ReplaceAll(suspendedBody, keyA, "AIzaSy…wxyz"),
		},
		{
			name: "suspended body, key given",
			in:   suspendedBody,
			keys: []string{keyA},
			want: strings.ReplaceAll(suspendedBody, keyA, "AIzaSy…wxyz"),
		},
		{
			name: "longer run than a key is masked whole",
			in:   "AIza" + strings.Repeat("Q", 40),
			want: "AIzaQQ…QQQQ",
		},
		{
			name: "masked-looking key= value still searched for keys",
			in:   "key=…" + keyA,
			want: "key=…AIzaSy…wxyz",
		},
		{
			name: "Google-key-like run ending in key, then =",
			in:   keyA + "xkey=value1",
			want: "AIzaSy…xkey=value1",
		},
		{
			name: "key= followed by nothing",
			in:   "key= and key=",
			want: "key= and key=",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Redact(tt.in, tt.keys...)
			if got != tt.want {
				t.Fatalf("Redact:\n got %q\nwant %q", got, tt.want)
			}
			if again := Redact(got, tt.keys...); again != got {
				t.Fatalf("Redact is not idempotent:\nonce  %q\ntwice %q", got, again)
			}
			for _, k := range append(tt.keys, keyA, keyB, keyC) {
				if k != "" && strings.Contains(got, k) {
					t.Fatalf("key %q survived in %q", k, got)
				}
			}
		})
	}
}

// referenceRedact is Redact without given keys, written with a regexp.
func referenceRedact(s string) string {
	re := regexp.MustCompile(`key=([^&\s"'<>#\\]+)|AIza[0-9A-Za-z_\-]{35,}`)
	var b strings.Builder
	last := 0
	for _, m := range re.FindAllStringSubmatchIndex(s, -1) {
		start, end := m[0], m[1]
		if m[2] >= 0 {
			start, end = m[2], m[3]
			if strings.Contains(s[start:end], "…") {
				continue
			}
		}
		b.WriteString(s[last:start])
		b.WriteString(Mask(s[start:end]))
		last = end
	}
	b.WriteString(s[last:])
	return b.String()
}

func TestRedactMatchesRegexp(t *testing.T) {
	frags := []string{
		"key=", "AIza", keyA, keyB[4:], "&", " ", "\"", "\\", "#", "…", "x", "Q", "-",
		"?key=", "api_key=", strings.Repeat("z", 20), "é", "\t", "'", "<", "AIzaSy",
	}
	seed := uint32(1)
	next := func(n int) int { // xorshift, deterministic
		seed ^= seed << 13
		seed ^= seed >> 17
		seed ^= seed << 5
		return int(seed % uint32(n))
	}
	for range 20000 {
		var b strings.Builder
		for range 1 + next(12) {
			b.WriteString(frags[next(len(frags))])
		}
		in := b.String()
		once := Redact(in)
		// The regexp knows nothing of earlier masks.
		if want := referenceRedact(in); !strings.Contains(in, "…") && once != want {
			t.Fatalf("Redact(%q)\n got %q\nwant %q", in, once, want)
		}
		if Redact(once) != once {
			t.Fatalf("not idempotent on %q:\nonce  %q\ntwice %q", in, once, Redact(once))
		}
		if strings.Contains(once, keyA) {
			t.Fatalf("key survived in %q", once)
		}
	}
}

func TestRedactError(t *testing.T) {
	if got := RedactError(nil, keyA); got != "" {
		t.Fatalf("RedactError(nil) = %q", got)
	}
	// The shape http.Client.Do returns for a refused connection.
	err := &url.Error{
		Op:  "Post",
		URL: "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent?key=" + keyB,
		Err: &net.OpError{
			Op:   "dial",
			Net:  "tcp",
			Addr: &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 9},
			Err:  &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED},
		},
	}
	got := RedactError(fmt.Errorf("attempt 2: %w", err), keyB)
	want := `attempt 2: Post "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-pro:generateContent?key=AIzaSy…1234": dial tcp 127.0.0.1:9: connect: connection refused`
	if got != want {
		t.Fatalf("RedactError:\n got %q\nwant %q", got, want)
	}
	if got := RedactError(errors.New("plain")); got != "plain" {
		t.Fatalf("RedactError(plain) = %q", got)
	}
}

func TestRedactNoAllocWhenClean(t *testing.T) {
	s := `Post "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent": dial tcp 142.250.74.10:443: i/o timeout`
	allocs := testing.AllocsPerRun(100, func() {
		if Redact(s, keyA, keyB) != s {
			t.Fatal("changed")
		}
	})
	if allocs != 0 {
		t.Fatalf("Redact of a clean string allocates %v times", allocs)
	}
}

func TestTokenSet(t *testing.T) {
	s := NewTokenSet([]string{"alpha-token", "", "beta-token", "alpha-token"})
	if s.Len() != 2 {
		t.Fatalf("Len = %d, want 2", s.Len())
	}
	for tok, want := range map[string]bool{
		"alpha-token":  true,
		"beta-token":   true,
		"alpha-token ": false,
		"alpha":        false,
		"gamma":        false,
		"":             false,
	} {
		if got := s.Contains(tok); got != want {
			t.Errorf("Contains(%q) = %v, want %v", tok, got, want)
		}
	}

	empty := NewTokenSet(nil)
	if empty.Len() != 0 || empty.Contains("x") || empty.Contains("") {
		t.Fatal("empty set misbehaves")
	}
	var nilSet *TokenSet
	if nilSet.Len() != 0 || nilSet.Contains("x") {
		t.Fatal("nil set misbehaves")
	}
	if onlyEmpty := NewTokenSet([]string{""}); onlyEmpty.Len() != 0 || onlyEmpty.Contains("") {
		t.Fatal("empty token was stored")
	}
	// Plain tokens are not kept.
	for _, d := range s.digests {
		if strings.Contains(string(d[:]), "alpha-token") {
			t.Fatal("token stored in clear")
		}
	}
}

func BenchmarkRedact(b *testing.B) {
	cases := map[string]string{
		"clean": `Post "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent": dial tcp 142.250.74.10:443: i/o timeout`,
		"url":   `Post "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent?key=` + keyA + `": dial tcp 142.250.74.10:443: i/o timeout`,
		"body":  suspendedBody,
	}
	for name, s := range cases {
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = Redact(s, keyA, keyB)
			}
		})
	}
}

func BenchmarkTokenSetContains(b *testing.B) {
	toks := make([]string, 32)
	for i := range toks {
		toks[i] = fmt.Sprintf("client-token-%02d", i)
	}
	s := NewTokenSet(toks)
	b.ReportAllocs()
	for b.Loop() {
		_ = s.Contains("client-token-31")
	}
}

func TestMaskOpenAIKeys(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "",
		"no key here":                     "no key here",
		"sk-short":                        "sk-short",
		"sk-abcdefghijklmnop1234":         "sk-abc…1234",
		"a task-abcdefghijklmnopqrstuv b": "a task-abcdefghijklmnopqrstuv b",
		"(sk-proj-AAAAAAAAAAAAAAAAAAAA) and sk-BBBBBBBBBBBBBBBBBBBB.": "(sk-pro…AAAA) and sk-BBB…BBBB.",
	} {
		if got := MaskOpenAIKeys(in); got != want {
			t.Errorf("MaskOpenAIKeys(%q) = %q, want %q", in, got, want)
		}
	}
}
