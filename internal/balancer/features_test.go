package balancer

import (
	"path/filepath"
	"testing"

	"github.com/gemini-balance/gemini_balance/internal/models"
	"github.com/gemini-balance/gemini_balance/internal/settings"
)

// Settings apply only where a model accepts them: nothing goes into a TTS
// body, no code execution on image-output models, urlContext only on
// url_context_models.
func TestFeaturesOnlyWhereTheModelAcceptsThem(t *testing.T) {
	b := openTestPool(t, filepath.Join(t.TempDir(), "f.db"), nil, func(s *settings.Settings) {
		s.Models.CodeExecution, s.Models.URLContext = true, true
		s.Models.URLContextModels = []string{"gemini-2.5-flash"}
	})
	for _, c := range []struct {
		res             models.Resolved
		code, url, none bool
	}{
		{res: models.Resolved{Upstream: "gemini-2.5-flash"}, code: true, url: true},
		{res: models.Resolved{Upstream: "gemini-2.5-pro"}, code: true},
		{res: models.Resolved{Upstream: "gemini-2.5-flash", Image: true}, url: true},
		{res: models.Resolved{Upstream: "gemini-2.5-flash-image"}},
		{res: models.Resolved{Upstream: "gemini-2.0-flash-exp-image-generation"}},
		{res: models.Resolved{Upstream: "gemini-2.5-flash-preview-tts"}, none: true},
		{res: models.Resolved{Upstream: "gemini-2.5-pro-preview-tts"}, none: true},
	} {
		f := b.Features(c.res)
		if f.CodeExecution != c.code || f.URLContext != c.url {
			t.Errorf("%+v: codeExecution %v urlContext %v, want %v %v", c.res, f.CodeExecution, f.URLContext, c.code, c.url)
		}
		if c.none != f.Empty() {
			t.Errorf("%+v: features %+v, want empty %v", c.res, f, c.none)
		}
	}
}
