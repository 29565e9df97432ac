package affinity

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestNamesFindsEveryFormAndDepth(t *testing.T) {
	for _, c := range []struct {
		body string
		want []string
	}{
		{`{"contents":[{"parts":[{"text":"hi"}]}]}`, nil},
		{`{"contents":[{"parts":[{"fileData":{"fileUri":"https://generativelanguage.googleapis.com/v1beta/files/abc-1","mimeType":"application/pdf"}}]}]}`, []string{"files/abc-1"}},
		{`{"contents":[{"parts":[{"fileData":{"fileUri":"http://proxy.example:8000/gemini/v1beta/files/abc"}}]}]}`, []string{"files/abc"}},
		{`{"contents":[{"parts":[{"fileData":{"fileUri":"files/abc"}},{"file_data":{}},{"fileData":{"fileUri":"files/abc"}}]}]}`, []string{"files/abc"}},
		{`{"cachedContent":"cachedContents/c1","contents":[]}`, []string{"cachedContents/c1"}},
		{`{"generateContentRequest":{"model":"models/x","cachedContent":"cachedContents/c2","contents":[{"parts":[{"fileData":{"fileUri":"files/f2"}}]}]}}`, nil},
		{`{"batch":{"inputConfig":{"fileName":"files/input1"}}}`, []string{"files/input1"}},
		{`{"contents":[{"parts":[{"fileData":{"fileUri":"gs://bucket/files/x"}}]}]}`, nil},
		{`{"contents":[{"parts":[{"fileData":{"fileUri":"https://www.youtube.com/watch?v=files/"}}]}]}`, nil},
		{`{"contents":[{"parts":[{"fileData":{"fileUri":"files/../models"}}]}]}`, nil},
		{`not json files/abc`, nil},
	} {
		got := Names([]byte(c.body))
		if strings.Contains(c.body, "generateContentRequest") {
			if len(got) != 2 {
				t.Errorf("%s: got %v, want the cache and the file", c.body, got)
			}
			continue
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.body, got, c.want)
		}
	}
}

func TestMayNameIsCheap(t *testing.T) {
	body := []byte(`{"contents":[{"parts":[{"text":"` + strings.Repeat("a", 1<<20) + `"}]}]}`)
	if MayName(body) {
		t.Fatal("plain body flagged")
	}
	if n := testing.AllocsPerRun(10, func() { Names(body) }); n != 0 {
		t.Errorf("Names allocates %v times on a body that names nothing", n)
	}
}

func TestKindAndIDs(t *testing.T) {
	for name, want := range map[string]string{
		"files/a": Files, "cachedContents/b": CachedContents, "batches/c": Batches,
		"models/veo-2.0/operations/d": Operations, "uploads/e": Uploads, "models/x": "", "tunedModels/y": "",
	} {
		if got := Kind(name); got != want {
			t.Errorf("Kind(%q) = %q, want %q", name, got, want)
		}
	}
	for id, want := range map[string]bool{"abc-123": true, "": false, "a/b": false, "a.b": false, "..": false,
		strings.Repeat("a", 129): false, "a%2f": false} {
		if ValidID(id) != want {
			t.Errorf("ValidID(%q) = %v", id, !want)
		}
	}
	if !ValidUploadID("AUxR_z-9") || ValidUploadID("a&key=b") {
		t.Error("ValidUploadID")
	}
	if HashToken("a") == HashToken("b") || strings.Contains(HashToken("sk-secret"), "secret") {
		t.Error("HashToken")
	}
}

func TestRegistryLifecycle(t *testing.T) {
	now := time.Now()
	r := New()
	r.Load([]Record{
		{Name: "files/old", KeyID: "k1", TokenHash: "t1", Expires: now.Add(-time.Minute)},
		{Name: "files/kept", KeyID: "k1", TokenHash: "t1", Expires: now.Add(time.Hour)},
	}, now)
	if _, ok := r.Get("files/old", now); ok {
		t.Error("expired record loaded")
	}
	if puts, dels := r.TakeChanges(); puts != nil || dels != nil {
		t.Error("loaded records queued for writing")
	}
	r.Put(Record{Name: "files/new", KeyID: "k2", TokenHash: "t2", Expires: now.Add(time.Hour)})
	r.Put(Record{Name: "cachedContents/c", KeyID: "k2", TokenHash: "t1", Expires: now.Add(time.Minute)})
	if rec, ok := r.Get("files/new", now); !ok || rec.KeyID != "k2" {
		t.Errorf("Get = %+v %v", rec, ok)
	}
	if got := r.Owned("t1", Files, now); len(got) != 1 || got[0].Name != "files/kept" {
		t.Errorf("Owned(t1, files) = %+v", got)
	}
	r.Delete("files/kept")
	puts, dels := r.TakeChanges()
	if len(puts) != 2 || len(dels) != 1 || dels[0] != "files/kept" {
		t.Errorf("changes = %+v %v", puts, dels)
	}
	r.Requeue(puts, dels)
	if p2, d2 := r.TakeChanges(); len(p2) != 2 || len(d2) != 1 {
		t.Errorf("requeued = %+v %v", p2, d2)
	}
	if n := r.Purge(now.Add(2 * time.Minute)); n != 1 {
		t.Errorf("Purge = %d, want 1", n)
	}
	if _, ok := r.Get("cachedContents/c", now); ok {
		t.Error("purged record still there")
	}
}

func TestOutputFiles(t *testing.T) {
	body := `{"name":"models/veo/operations/o1","done":true,"response":{"generateVideoResponse":{"generatedSamples":[
		{"video":{"uri":"https://generativelanguage.googleapis.com/v1beta/files/vid1:download?alt=media"}},
		{"video":{"uri":"https://generativelanguage.googleapis.com/v1beta/files/vid2:download?alt=media"}}]}}}`
	if got := OutputFiles([]byte(body)); !reflect.DeepEqual(got, []string{"files/vid1", "files/vid2"}) {
		t.Errorf("videos: %v", got)
	}
	batch := `{"name":"batches/b1","done":true,"response":{"responsesFile":"files/out-1"}}`
	if got := OutputFiles([]byte(batch)); !reflect.DeepEqual(got, []string{"files/out-1"}) {
		t.Errorf("batch output: %v", got)
	}
	if got := OutputFiles([]byte(`{"name":"batches/b1"}`)); got != nil {
		t.Errorf("nothing: %v", got)
	}
}

func TestRegistryChangeHookAndRemoteChanges(t *testing.T) {
	now := time.Now()
	r := New()
	type change struct {
		name    string
		deleted bool
	}
	var heard []change
	r.OnChange(func(rec Record, deleted bool) { heard = append(heard, change{rec.Name, deleted}) })
	r.Put(Record{Name: "files/a", KeyID: "k1", Expires: now.Add(time.Hour)})
	r.Delete("files/a")
	// Other instances' changes are neither heard nor queued.
	r.Load([]Record{{Name: "files/b", KeyID: "k2", Expires: now.Add(time.Hour)}}, now)
	r.Forget("files/b")
	if n := r.LoadMissing([]Record{{Name: "files/c", KeyID: "k2", Expires: now.Add(time.Hour)}}, now); n != 1 {
		t.Errorf("LoadMissing added %d", n)
	}
	if !reflect.DeepEqual(heard, []change{{"files/a", false}, {"files/a", true}}) {
		t.Errorf("heard %v", heard)
	}
	if _, ok := r.Get("files/b", now); ok {
		t.Error("forgotten record still there")
	}
	puts, dels := r.TakeChanges()
	if len(puts) != 0 || !reflect.DeepEqual(dels, []string{"files/a"}) {
		t.Errorf("queued %v %v", puts, dels)
	}
	// LoadMissing keeps what is held.
	r.Put(Record{Name: "files/c", KeyID: "mine", Expires: now.Add(time.Hour)})
	if n := r.LoadMissing([]Record{{Name: "files/c", KeyID: "k2", Expires: now.Add(time.Hour)}}, now); n != 0 {
		t.Errorf("LoadMissing replaced %d", n)
	}
	if rec, _ := r.Get("files/c", now); rec.KeyID != "mine" {
		t.Errorf("files/c = %+v", rec)
	}
}
