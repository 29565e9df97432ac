package console

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/http"
	"path"
	"strings"
)

//go:embed assets templates
var files embed.FS

// asset is one embedded static file.
type asset struct {
	body  []byte
	ctype string
}

// assetSet maps the plain names of the embedded assets to their
// fingerprinted names and serves them by the fingerprinted name.
type assetSet struct {
	hashed map[string]string // "app.css" -> "app.0123456789.css"
	byName map[string]asset  // fingerprinted name -> file
}

// fingerprint names a file after its content: "<base>.<first 10 hex of
// sha256>.<ext>", so a changed file gets a new name and a browser never
// keeps a stale copy of it.
func fingerprint(name string, body []byte) string {
	sum := sha256.Sum256(body)
	h := hex.EncodeToString(sum[:])[:10]
	ext := path.Ext(name)
	return strings.TrimSuffix(name, ext) + "." + h + ext
}

var contentTypes = map[string]string{
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".png":  "image/png",
	".json": "application/json",
}

func loadAssets(fsys fs.FS) (*assetSet, error) {
	set := &assetSet{hashed: map[string]string{}, byName: map[string]asset{}}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		body, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		ctype, ok := contentTypes[path.Ext(p)]
		if !ok {
			return fmt.Errorf("console asset %s: unknown type", p)
		}
		h := fingerprint(p, body)
		set.hashed[p] = h
		set.byName[h] = asset{body: body, ctype: ctype}
		return nil
	})
	return set, err
}

// url is the address of a named asset under prefix.
func (s *assetSet) url(prefix, name string) string {
	h, ok := s.hashed[name]
	if !ok {
		panic("console: no asset named " + name)
	}
	return prefix + "/assets/" + h
}

// serve answers a request for a fingerprinted asset name.
func (s *assetSet) serve(w http.ResponseWriter, r *http.Request, name string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	a, ok := s.byName[name]
	if !ok {
		w.Header().Set("Cache-Control", "no-store")
		http.Error(w, "no such asset (the console may have been upgraded: reload the page)", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", a.ctype)
	w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Header().Set("Content-Length", fmt.Sprint(len(a.body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(a.body)
	}
}

var embedded = func() *assetSet {
	sub, err := fs.Sub(files, "assets")
	if err != nil {
		panic(err)
	}
	set, err := loadAssets(sub)
	if err != nil {
		panic(err)
	}
	return set
}()
