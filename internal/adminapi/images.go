package adminapi

import (
	"net/http"
	"strconv"

	"github.com/gemini-balance/gemini_balance/internal/balancer"
	"github.com/gemini-balance/gemini_balance/internal/imagestore"
)

// ImageList is the answer of GET /pools/{pool}/images: the store's usage and
// a page of its images, newest first. Each image is served at the site's
// image_path followed by its name.
type ImageList struct {
	Enabled   bool        `json:"enabled"` // false: image_store is off (or unusable)
	Count     int         `json:"count"`
	Bytes     int64       `json:"bytes"`
	Retention string      `json:"retention"`
	MaxBytes  int         `json:"max_bytes"`
	Total     int         `json:"total"`
	Images    []ImageView `json:"images"`
	Offset    int         `json:"offset"`
	Limit     int         `json:"limit"`
}

// ImageView is one stored image; Token is the client token, masked.
type ImageView struct {
	imagestore.Meta
	Name string `json:"name"`
}

func (a *API) listImages(w http.ResponseWriter, r *http.Request, b *balancer.Balancer) {
	set := b.Settings()
	out := ImageList{Retention: set.ImageRetention.String(), MaxBytes: set.ImageStoreMaxSize, Images: []ImageView{}}
	st := b.Images()
	if st == nil {
		writeJSON(w, http.StatusOK, out)
		return
	}
	out.Enabled = true
	out.Count, out.Bytes = st.Usage()
	q := r.URL.Query()
	out.Offset, _ = strconv.Atoi(q.Get("offset"))
	out.Limit, _ = strconv.Atoi(q.Get("limit"))
	if out.Limit <= 0 || out.Limit > 200 {
		out.Limit = 50
	}
	out.Offset = max(out.Offset, 0)
	items, total := st.List(out.Offset, out.Limit)
	out.Total = total
	for _, m := range items {
		out.Images = append(out.Images, ImageView{Meta: m, Name: m.Name()})
	}
	writeJSON(w, http.StatusOK, out)
}

// deleteImages removes images by id: {"ids": [...]}.
func (a *API) deleteImages(w http.ResponseWriter, r *http.Request, b *balancer.Balancer) {
	var body struct {
		IDs []string `json:"ids"`
	}
	if !decodeBody(w, r, &body) {
		return
	}
	st := b.Images()
	if st == nil {
		writeError(w, http.StatusNotFound, "this pool has no image store (image_store off)")
		return
	}
	n, err := st.Delete(body.IDs...)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "could not delete: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]int{"deleted": n})
}
