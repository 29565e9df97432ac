package affinity

import (
	"bytes"
	"encoding/json"
	"net/url"
	"slices"
	"strings"
)

var (
	filesMark  = []byte("files/")
	cachesMark = []byte("cachedContents/")
)

// MayName is the cheap test run on every body: false means the body names
// no file and no cached content, and need not be decoded.
func MayName(body []byte) bool {
	return bytes.Contains(body, filesMark) || bytes.Contains(body, cachesMark)
}

// Names lists the resources a request body names, each once, in the order
// found: fileData.fileUri in any host form (Google's URL, the proxy's own URL,
// "files/x"), cachedContent, and a batch's inputConfig.fileName, at any depth
// (contents[].parts[], countTokens' generateContentRequest, a cached
// content's create body, a batch's inlined requests). A body that is not
// JSON names nothing.
func Names(body []byte) []string {
	if !MayName(body) {
		return nil
	}
	return namesIn(body, func(field, s string) (string, bool) {
		switch field {
		case "fileUri", "fileName":
			return FileName(s)
		case "cachedContent":
			return CacheName(s)
		}
		return "", false
	})
}

// namesIn walks a JSON document and lists, each once and in the order
// found, what name makes of its string fields (by field name and value).
func namesIn(body []byte, name func(field, s string) (string, bool)) []string {
	var doc any
	if json.Unmarshal(body, &doc) != nil {
		return nil
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if s, ok := x.(string); ok {
					if n, ok := name(k, s); ok && !slices.Contains(out, n) {
						out = append(out, n)
					}
					continue
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	walk(doc)
	return out
}

// FileName reads a file reference: "files/{id}", or an http(s) URL whose path
// ends in /files/{id} (Google's https://generativelanguage.googleapis.com/v1beta/files/{id},
// or the same path on the proxy or a relay). Other URIs (gs://, YouTube, ...)
// name no file of the API.
func FileName(ref string) (string, bool) {
	ref = strings.TrimSpace(ref)
	if id, ok := strings.CutPrefix(ref, "files/"); ok {
		return "files/" + id, ValidID(id)
	}
	if !strings.HasPrefix(ref, "https://") && !strings.HasPrefix(ref, "http://") {
		return "", false
	}
	u, err := url.Parse(ref)
	if err != nil || u.Host == "" {
		return "", false
	}
	i := strings.LastIndex(u.Path, "/files/")
	if i < 0 {
		return "", false
	}
	id := u.Path[i+len("/files/"):]
	return "files/" + id, ValidID(id)
}

// CacheName reads a cached content reference, "cachedContents/{id}".
func CacheName(ref string) (string, bool) {
	id, ok := strings.CutPrefix(strings.TrimSpace(ref), "cachedContents/")
	return "cachedContents/" + id, ok && ValidID(id)
}

// OutputFiles lists the files a batch's or an operation's answer names, each
// once: generated videos (response.generateVideoResponse.generatedSamples[].video.uri),
// a finished batch's responsesFile, and any fileUri, at any depth. They
// belong to the key that ran the batch or operation.
func OutputFiles(body []byte) []string {
	if !bytes.Contains(body, filesMark) {
		return nil
	}
	return namesIn(body, func(field, s string) (string, bool) {
		switch field {
		case "uri", "fileUri", "responsesFile", "fileName":
			// A download URI ends in ":download"; the file is what precedes it.
			s, _, _ = strings.Cut(s, ":download")
			return FileName(s)
		}
		return "", false
	})
}
