package fakegemini

import (
	"encoding/json"
	"strings"
	"time"
)

// Resources that belong to a key: files, cached contents (see
// Server.SetOwner), and the routes outside the generation API that a
// smuggled path could reach.

// resourceRefs are the resources a generation or countTokens request names.
type resourceRefs struct {
	Contents []struct {
		Parts []struct {
			FileData *struct {
				FileURI string `json:"fileUri"`
			} `json:"fileData"`
		} `json:"parts"`
	} `json:"contents"`
	CachedContent string `json:"cachedContent"`
	// countTokens may wrap a whole GenerateContentRequest.
	GenerateContentRequest *resourceRefs `json:"generateContentRequest"`
}

// fileResource is "files/{id}" of a file URI such as
// "https://generativelanguage.googleapis.com/v1beta/files/abc123", and the id;
// ok is false for URIs that name no file of the API (gs://, YouTube, ...).
func fileResource(uri string) (resource, id string, ok bool) {
	i := strings.Index(uri, "files/")
	if i < 0 {
		return "", "", false
	}
	resource = uri[i:]
	if j := strings.IndexAny(resource, "?#"); j >= 0 {
		resource = resource[:j]
	}
	id = strings.TrimPrefix(resource, "files/")
	return resource, id, id != ""
}

// foreignResource is Google's 403 for the first file or cached content the
// request names that its key does not own, or nil.
func (x *exchange) foreignResource() *rpcError {
	var refs resourceRefs
	if json.Unmarshal(x.body, &refs) != nil {
		return nil
	}
	for r := &refs; r != nil; r = r.GenerateContentRequest {
		for _, c := range r.Contents {
			for _, p := range c.Parts {
				if p.FileData == nil {
					continue
				}
				if res, id, ok := fileResource(p.FileData.FileURI); ok && !x.s.owns(x.key, res) {
					return fileDenied(id)
				}
			}
		}
		if c := r.CachedContent; c != "" && !x.s.owns(x.key, c) {
			return cacheDenied()
		}
	}
	return nil
}

// createAuthToken answers POST /v1alpha/auth_tokens (Live API ephemeral
// tokens) with a minted token, so that a request smuggled there shows.
func (x *exchange) createAuthToken() {
	expire := time.Now().Add(30 * time.Minute).UTC()
	x.ok(object{
		"name":                 "auth_tokens/minted-" + x.nextResponseID(),
		"uses":                 1,
		"expireTime":           expire.Format(time.RFC3339Nano),
		"newSessionExpireTime": expire.Add(-29 * time.Minute).Format(time.RFC3339Nano),
	})
}

// resourceEntry is a file or cached content as the list and get methods
// describe it.
func resourceEntry(name string) object {
	o := object{"name": name, "createTime": "2026-01-01T00:00:00.000000Z"}
	if id, ok := strings.CutPrefix(name, "files/"); ok {
		o["uri"] = "https://generativelanguage.googleapis.com/v1beta/" + name
		o["displayName"] = id
		o["mimeType"] = "application/pdf"
		o["state"] = "ACTIVE"
	} else {
		o["model"] = "models/gemini-2.5-flash"
	}
	return o
}
