package balancer

import (
	"encoding/base64"
	"time"

	"go.uber.org/zap"

	"github.com/gemini-balance/gemini_balance/internal/imagestore"
)

// The pool's image store: generated images the translated routes link to
// instead of inlining them (internal/imagestore). It is opened with the
// pool and kept across reloads; image_retention and image_store_max_size
// apply as soon as the settings change.

// imagePurgeEvery is how often images past their retention or over the
// size limit are removed.
const imagePurgeEvery = time.Minute

// Images is the pool's image store, nil when image_store is off or the
// directory could not be used.
func (b *Balancer) Images() *imagestore.Store { return b.images.Load() }

// openImages opens (or, when the directory changed, replaces) the image
// store; dir "" turns it off.
func (b *Balancer) openImages(dir string) {
	if dir == b.imageDir {
		return
	}
	b.imageDir = dir
	var st *imagestore.Store
	if dir != "" {
		set := b.settings.Load()
		var err error
		st, err = imagestore.Open(imagestore.Options{Dir: dir, Retention: set.ImageRetention, MaxBytes: int64(set.ImageStoreMaxSize)})
		if err != nil {
			b.logger.Error("image store unavailable: generated images are answered inline", zap.String("dir", dir), zap.Error(err))
		}
	}
	if old := b.images.Swap(st); old != nil {
		// Requests in flight may still read the old store for a moment.
		time.AfterFunc(time.Minute, func() { _ = old.Close() })
	}
}

// StoreImage keeps a generated image (MIME type, base64 data) with the
// model and the (masked) client token; ok is false when there is no store
// or the image cannot be kept, and the caller answers the image inline.
func (b *Balancer) StoreImage(mime, b64, model, token string) (imagestore.Meta, bool) {
	st := b.Images()
	if st == nil {
		return imagestore.Meta{}, false
	}
	data, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return imagestore.Meta{}, false
	}
	m, err := st.Put(mime, data, model, token)
	if err != nil {
		b.logger.Warn("cannot store a generated image; answering it inline", zap.Error(err))
		return imagestore.Meta{}, false
	}
	return m, true
}

// imagesLoop purges the image store every imagePurgeEvery.
func (b *Balancer) imagesLoop() {
	defer b.wg.Done()
	t := time.NewTicker(imagePurgeEvery)
	defer t.Stop()
	for {
		select {
		case <-b.stop:
			if st := b.images.Swap(nil); st != nil {
				_ = st.Close()
			}
			return
		case <-t.C:
			if st := b.Images(); st != nil {
				if _, err := st.Purge(b.now()); err != nil {
					b.logger.Warn("cannot purge the image store", zap.Error(err))
				}
			}
		}
	}
}
