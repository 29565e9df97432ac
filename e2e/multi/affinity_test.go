package multi

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/genai"

	"github.com/gemini-balance/gemini_balance/internal/fakegemini"
)

// A file uploaded through one instance and named in a request to the other
// goes to the key that owns it on both: the owner is shared through the
// database, not only read at start. (Deletes are covered by the balancer's
// TestSharedResourceOwners: here both outcomes answer 404.)
func TestFileOwnerReachesTheOtherInstance(t *testing.T) {
	forEngine(t, func(t *testing.T, dsn string) {
		keys := []string{key("AFF1"), key("AFF2"), key("AFF3"), key("AFF4"), key("AFF5")}
		c := newCluster(t, dsn, keys, "")
		c.up.SetDefault(fakegemini.OK)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		ca, cb := sdk(t, c.a), sdk(t, c.b)

		// Several files, so that a pick by chance cannot pass.
		var files []*genai.File
		for i := 0; i < 4; i++ {
			f, err := ca.Files.Upload(ctx, strings.NewReader("notes "+string(rune('a'+i))),
				&genai.UploadFileConfig{MIMEType: "text/plain", DisplayName: "notes"})
			if err != nil {
				t.Fatalf("upload through a: %v\n%s", err, c.a.tail())
			}
			if _, ok := c.up.Owner(f.Name); !ok {
				t.Fatalf("the stand-in has no owner of %s", f.Name)
			}
			files = append(files, f)
		}
		time.Sleep(propagation)

		for _, f := range files {
			owner, _ := c.up.Owner(f.Name)
			// Both instances go round the keys in the same order: a plain
			// call first, so that b's next pick by rotation is not the owner.
			if err := c.b.generate(model); err != nil {
				t.Fatalf("plain generate through b: %v", err)
			}
			c.up.Reset()
			contents := []*genai.Content{{Role: "user", Parts: []*genai.Part{
				genai.NewPartFromURI(f.URI, "text/plain"), genai.NewPartFromText("summarise")}}}
			if _, err := cb.Models.GenerateContent(ctx, model, contents, nil); err != nil {
				t.Fatalf("generate naming %s through b: %v\n%s", f.Name, err, c.b.tail())
			}
			used := generateKeys(c)
			if len(used) != 1 || used[0] != owner {
				t.Fatalf("b sent the request naming %s with %d key(s), want its owner only (owner among them: %v)",
					f.Name, len(used), len(used) > 0 && used[len(used)-1] == owner)
			}
		}

		// b lists the token's files, read from its registry.
		listed := map[string]bool{}
		for f, err := range cb.Files.All(ctx) {
			if err != nil {
				t.Fatalf("list through b: %v", err)
			}
			listed[f.Name] = true
		}
		for _, f := range files {
			if !listed[f.Name] {
				t.Errorf("b does not list %s (listed %d)", f.Name, len(listed))
			}
		}
	})
}

func sdk(t *testing.T, in *instance) *genai.Client {
	t.Helper()
	c, err := genai.NewClient(context.Background(), &genai.ClientConfig{
		APIKey: clientToken, Backend: genai.BackendGeminiAPI, HTTPOptions: genai.HTTPOptions{BaseURL: in.url("/")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// generateKeys lists the keys of the stand-in's generateContent requests.
func generateKeys(c *cluster) []string {
	var keys []string
	for _, r := range c.up.Requests() {
		if strings.Contains(r.Path, ":generateContent") {
			keys = append(keys, r.Key)
		}
	}
	return keys
}
