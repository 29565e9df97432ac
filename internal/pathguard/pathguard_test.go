package pathguard

import (
	"net/url"
	"strings"
	"testing"
)

func TestCheckPath(t *testing.T) {
	for _, c := range []struct {
		raw string
		ok  bool
	}{
		{"/v1beta/models/gemini-2.5-flash:generateContent", true},
		{"/v1beta/models", true},
		{"/v1/chat/completions", true},
		{"/v1beta/models/gemini-2.5-flash%3AgenerateContent", true}, // an encoded colon is harmless
		{"/v1beta/models/x:y/../../../../v1alpha/auth_tokens", false},
		{"/openai/v1/models/../../files", false},
		{"/v1beta/models/%2e%2e/%2e%2e/files", false},
		{"/v1beta/models/.%2E/files", false},
		{"/v1beta/models/..%2F..%2Ffiles", false},
		{"/v1beta/models/%2E%2E%2Fcachedcontents", false},
		{"/v1beta/models/a%2fb:generateContent", false},
		{"/v1beta/models/a%5Cb", false},
		{"/v1beta/models/a\\b", false},
		{"/v1beta/models/./gemini-2.5-flash:generateContent", false},
		{"/v1beta/models/gemini%3Fx=1", false},
		{"/v1beta/models/gemini%23frag", false},
		{"/v1beta/models/gemini%252e%252e", false},
		{"/v1beta/models/gemini%00", false},
		{"/v1beta/models/...", true}, // not a dot segment; the model check refuses it
	} {
		u, err := url.Parse("http://h" + c.raw)
		if err != nil {
			t.Fatalf("%s: %v", c.raw, err)
		}
		if err := CheckPath(u); (err == nil) != c.ok {
			t.Errorf("CheckPath(%s) = %v, want ok=%v", c.raw, err, c.ok)
		}
	}
}

func TestValidModel(t *testing.T) {
	for _, m := range []string{"gemini-2.5-flash", "gemini-2.5-flash-image-preview", "text_embedding.004", "a", "9", strings.Repeat("a", 256)} {
		if !ValidModel(m) {
			t.Errorf("ValidModel(%q) = false", m)
		}
	}
	for _, m := range []string{"", "-x", ".x", "_x", "a b", "a/b", "a:b", "a?b", "..", "a%2e", strings.Repeat("a", 257), "ünïcode"} {
		if ValidModel(m) {
			t.Errorf("ValidModel(%q) = true", m)
		}
	}
	if msg := ModelError(strings.Repeat("x", 1<<20)); len(msg) > 300 {
		t.Errorf("ModelError quotes %d bytes", len(msg))
	}
}

func TestActions(t *testing.T) {
	for _, a := range NativeActions {
		if !KnownAction(a) || !LettersOnly(a) {
			t.Errorf("%s: known %v letters %v", a, KnownAction(a), LettersOnly(a))
		}
	}
	for _, a := range []string{"", "y/..", "generateContent/../x", "fooBar", "generate-content"} {
		if KnownAction(a) {
			t.Errorf("KnownAction(%q) = true", a)
		}
	}
	if LettersOnly("y/../x") || LettersOnly("") || !LettersOnly("fooBar") {
		t.Error("LettersOnly")
	}
}

// The checks run on every request: they must cost next to nothing.
func BenchmarkCheckPathAndModel(b *testing.B) {
	u, _ := url.Parse("http://h/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")
	b.ReportAllocs()
	for b.Loop() {
		if CheckPath(u) != nil || !ValidModel("gemini-2.5-flash") || !KnownAction("streamGenerateContent") {
			b.Fatal("refused")
		}
	}
}
