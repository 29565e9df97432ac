// Package keylist reads API keys from the forms users keep them in: single
// values, comma-separated lists, JSON lists (gemini-balance's .env format)
// and files with one key per line.
package keylist

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
)

// Parse reads one configuration value: "k", "k1,k2" or '["k1","k2"]'.
func Parse(value string) ([]string, error) {
	v := strings.TrimSpace(value)
	if strings.HasPrefix(v, "[") {
		var list []string
		if err := json.Unmarshal([]byte(v), &list); err != nil {
			return nil, fmt.Errorf("key list %s is not a JSON list of strings: %v", preview(v), err)
		}
		return clean(list), nil
	}
	return clean(strings.Split(v, ",")), nil
}

// ParseFile reads one key per line; blank lines and # comments are skipped,
// and a line may itself be a comma-separated list.
func ParseFile(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		keys, err := Parse(line)
		if err != nil {
			return nil, err
		}
		out = append(out, keys...)
	}
	return out, sc.Err()
}

// Dedupe trims keys, drops empty ones and repeats, and keeps the first order.
func Dedupe(keys []string) []string {
	seen := make(map[string]bool, len(keys))
	out := keys[:0:0]
	for _, k := range clean(keys) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	return out
}

func clean(in []string) []string {
	out := make([]string, 0, len(in))
	for _, k := range in {
		k = strings.Trim(strings.TrimSpace(k), `"'`)
		if k != "" {
			out = append(out, k)
		}
	}
	return out
}

// preview shows the start of a value without revealing whole keys.
func preview(s string) string {
	if len(s) > 12 {
		return s[:12] + "…"
	}
	return s
}

// Load reads the keys of a configuration: each value of api_keys (a key, a
// comma list or a JSON list) and the lines of api_keys_file (when given),
// trimmed and de-duplicated.
func Load(values []string, file string) ([]string, error) {
	var keys []string
	for _, v := range values {
		k, err := Parse(v)
		if err != nil {
			return nil, fmt.Errorf("api_keys: %v", err)
		}
		keys = append(keys, k...)
	}
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("api_keys_file: %v", err)
		}
		defer f.Close()
		k, err := ParseFile(f)
		if err != nil {
			return nil, fmt.Errorf("api_keys_file %s: %v", file, err)
		}
		keys = append(keys, k...)
	}
	return Dedupe(keys), nil
}
