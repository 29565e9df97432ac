package gemini

import (
	"bytes"
	"strings"
)

// SniffType is the media type of inline data Gemini takes, by its first
// bytes: PNG, JPEG, GIF, WebP, HEIC/HEIF images and PDF; "" when unknown.
// Fetched images and documents are sent with what they are, not with what
// a server or a client claimed.
func SniffType(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x89PNG\r\n\x1a\n")):
		return "image/png"
	case bytes.HasPrefix(b, []byte("\xff\xd8\xff")):
		return "image/jpeg"
	case bytes.HasPrefix(b, []byte("GIF87a")), bytes.HasPrefix(b, []byte("GIF89a")):
		return "image/gif"
	case len(b) >= 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "image/webp"
	case len(b) >= 12 && string(b[4:8]) == "ftyp" && (string(b[8:12]) == "heic" || string(b[8:12]) == "heix"):
		return "image/heic"
	case len(b) >= 12 && string(b[4:8]) == "ftyp" && (string(b[8:12]) == "mif1" || string(b[8:12]) == "msf1"):
		return "image/heif"
	case bytes.HasPrefix(b, []byte("%PDF-")):
		return "application/pdf"
	}
	return ""
}

// NormMIME lower-cases a MIME type, drops its parameters and fixes the common
// image/jpg misspelling.
func NormMIME(m string) string {
	if i := strings.IndexByte(m, ';'); i >= 0 {
		m = m[:i]
	}
	m = strings.ToLower(strings.TrimSpace(m))
	if m == "image/jpg" {
		return "image/jpeg"
	}
	return m
}

// ValidBase64 reports whether s is inline data Gemini takes: standard or
// URL-safe base64, padded or not, and nothing else (no whitespace). It does
// not allocate.
func ValidBase64(s string) bool {
	if s == "" {
		return false
	}
	n := len(s)
	for n > 0 && s[n-1] == '=' {
		n--
	}
	if len(s)-n > 2 || (len(s) != n && len(s)%4 != 0) || n%4 == 1 {
		return false
	}
	for i := 0; i < n; i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}
