package gemini

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
	"strings"
	"testing"
)

func TestFindUsage(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want Usage
		ok   bool
	}{
		{"plain answer", `{"candidates":[{"content":{"parts":[{"text":"hi"}]}}],"usageMetadata":{"promptTokenCount":3,"candidatesTokenCount":4,"totalTokenCount":9,"thoughtsTokenCount":2},"modelVersion":"x"}`,
			Usage{3, 4, 9, 2}, true},
		{"nested details", `{"usageMetadata": {"promptTokenCount": 5, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 5}], "totalTokenCount": 7}}`,
			Usage{PromptTokenCount: 5, TotalTokenCount: 7}, true},
		{"braces in a string before it", `{"candidates":[{"content":{"parts":[{"text":"} \" {"}]}}],"usageMetadata":{"totalTokenCount":1}}`,
			Usage{TotalTokenCount: 1}, true},
		{"last occurrence wins", `{"usageMetadata":{"totalTokenCount":1}}` + "\n" + `{"usageMetadata":{"totalTokenCount":2}}`,
			Usage{TotalTokenCount: 2}, true},
		{"cut short", `{"usageMetadata":{"promptTokenCount":3,"totalTok`, Usage{}, false},
		{"absent", `{"candidates":[]}`, Usage{}, false},
		{"not an object", `{"usageMetadata":[1,2]}`, Usage{}, false},
	}
	for _, c := range cases {
		got, ok := FindUsage([]byte(c.in))
		if got != c.want || ok != c.ok {
			t.Errorf("%s: got %+v, %v; want %+v, %v", c.name, got, ok, c.want, c.ok)
		}
	}
}

func BenchmarkFindUsage(b *testing.B) {
	answer := []byte(`{"candidates":[{"content":{"parts":[{"text":"` + strings.Repeat("word ", 200) + `"}],"role":"model"},"finishReason":"STOP","index":0}],` +
		`"usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":200,"totalTokenCount":212,"promptTokensDetails":[{"modality":"TEXT","tokenCount":12}]},"modelVersion":"gemini-2.5-flash","responseId":"abc"}`)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if u, ok := FindUsage(answer); !ok || u.TotalTokenCount != 212 {
			b.Fatal(u, ok)
		}
	}
}

// FuzzFindUsage checks the byte scan against encoding/json: whenever the
// usage object is valid JSON, both read the same counts (members named
// exactly as Google names them, holding non-negative integers).
func FuzzFindUsage(f *testing.F) {
	f.Add(`{"promptTokenCount":3,"candidatesTokenCount":4,"totalTokenCount":9}`)
	f.Add(`{"promptTokensDetails":[{"modality":"TEXT","tokenCount":5}],"totalTokenCount":7}`)
	f.Add(`{"x":"\"}{","thoughtsTokenCount":2}`)
	f.Fuzz(func(t *testing.T, obj string) {
		got, ok := FindUsage([]byte(`{"candidates":[],"usageMetadata":` + obj + `}`))
		var members map[string]json.RawMessage
		if json.Unmarshal([]byte(obj), &members) != nil {
			return
		}
		var want Usage
		for name, raw := range members {
			field := usageCount(&want, []byte(name))
			if field == nil {
				continue
			}
			n, err := strconv.Atoi(string(raw))
			if err != nil || n < 0 || strings.TrimLeft(string(raw), "0123456789") != "" {
				return // not a count Google would send
			}
			*field = n
		}
		if !ok || got != want {
			t.Fatalf("FindUsage(%s) = %+v, %v; encoding/json reads %+v", obj, got, ok, want)
		}
	})
}

func TestAppendEventLongLines(t *testing.T) {
	// Every cut of the buffer, including one just before a line's "\n".
	long := "data: " + strings.Repeat("x", 40)
	stream := long + "\n\n" + long + "\r\n\r\n" + "data: short\n\n"
	want := []string{long + "\n\n", long + "\r\n\r\n", "data: short\n\n"}
	for size := 16; size <= 64; size++ {
		r := bufio.NewReaderSize(strings.NewReader(stream), size)
		var buf []byte
		for i, w := range want {
			var err error
			buf, err = AppendEvent(buf[:0], r)
			if string(buf) != w || (err != nil && err != io.EOF) {
				t.Fatalf("buffer %d, event %d: %q, %v; want %q", size, i, buf, err, w)
			}
		}
		if rest, err := AppendEvent(buf[:0], r); len(rest) != 0 || err != io.EOF {
			t.Fatalf("buffer %d: after the last event %q, %v", size, rest, err)
		}
	}
}

func TestDropModels(t *testing.T) {
	hide := func(m string) bool { return m == "gemini-hidden" }
	native := []byte(`{"models":[{"name":"models/gemini-2.5-flash"},{"name":"models/gemini-hidden"}],"nextPageToken":"abc"}`)
	got := string(DropModels(native, "models", "name", hide))
	if strings.Contains(got, "gemini-hidden") || !strings.Contains(got, "gemini-2.5-flash") || !strings.Contains(got, `"nextPageToken":"abc"`) {
		t.Errorf("native: %s", got)
	}
	oa := []byte(`{"object":"list","data":[{"id":"models/gemini-hidden","object":"model"},{"id":"gemini-2.5-pro","object":"model"}]}`)
	got = string(DropModels(oa, "data", "id", hide))
	if strings.Contains(got, "gemini-hidden") || !strings.Contains(got, "gemini-2.5-pro") || !strings.Contains(got, `"object":"list"`) {
		t.Errorf("openai: %s", got)
	}
	for _, raw := range []string{`not json`, `{"error":{}}`, `{"models":[{"name":"models/a"}]}`} {
		if got := string(DropModels([]byte(raw), "models", "name", hide)); got != raw {
			t.Errorf("%s changed to %s", raw, got)
		}
	}
}

func TestValidBase64(t *testing.T) {
	for s, want := range map[string]bool{
		"": false, "QQ==": true, "QQ": true, "QUI=": true, "QUJD": true, "-_-_": true, "+/+/": true,
		"Q": false, "QQ===": false, "Q=Q=": false, "QU JD": false, "QUJD\n": false, "QQ=": false, "é": false,
	} {
		if got := ValidBase64(s); got != want {
			t.Errorf("ValidBase64(%q) = %v, want %v", s, got, want)
		}
	}
}
