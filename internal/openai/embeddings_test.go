package openai

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
)

func wantRequestError(t *testing.T, err error, param, contains string) {
	t.Helper()
	var re *RequestError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T), want *RequestError", err, err)
	}
	if re.Param != param {
		t.Errorf("param %q, want %q (message %q)", re.Param, param, re.Message)
	}
	if !strings.Contains(re.Message, contains) {
		t.Errorf("message %q does not contain %q", re.Message, contains)
	}
}

func wantUpstreamError(t *testing.T, err error, contains string) {
	t.Helper()
	var ue *UpstreamError
	if !errors.As(err, &ue) {
		t.Fatalf("error %v (%T), want *UpstreamError", err, err)
	}
	if !strings.Contains(ue.Message, contains) {
		t.Errorf("message %q does not contain %q", ue.Message, contains)
	}
}

func intp(n int) *int { return &n }

func TestDecodeEmbeddings(t *testing.T) {
	many := make([]string, MaxEmbeddingInputs+1)
	for i := range many {
		many[i] = "x"
	}
	tooMany, _ := json.Marshal(map[string]any{"model": "m", "input": many})

	for _, tc := range []struct {
		name     string
		body     string
		inputs   []string
		encoding string
		dims     *int
		model    string
		param    string // error case when errMsg != ""
		errMsg   string
	}{
		{name: "string", body: `{"model":"text-embedding-004","input":"hello"}`, inputs: []string{"hello"}, encoding: "float", model: "text-embedding-004"},
		{name: "array", body: `{"model":"m","input":["a","b <c>"],"encoding_format":"base64","dimensions":256,"user":"u1"}`, inputs: []string{"a", "b <c>"}, encoding: "base64", dims: intp(256), model: "m"},
		{name: "float explicit", body: `{"input":["a"],"encoding_format":"float"}`, inputs: []string{"a"}, encoding: "float"},
		{name: "whitespace string kept", body: `{"input":"  padded  "}`, inputs: []string{"  padded  "}, encoding: "float"},
		{name: "token array", body: `{"model":"m","input":[1,2,3]}`, param: "input", errMsg: "token arrays are not supported"},
		{name: "token arrays", body: `{"model":"m","input":[[1,2],[3]]}`, param: "input", errMsg: "token arrays are not supported"},
		{name: "negative token", body: `{"input":[-1]}`, param: "input", errMsg: "token arrays"},
		{name: "single number", body: `{"input":42}`, param: "input", errMsg: "token arrays"},
		{name: "empty string", body: `{"input":""}`, param: "input", errMsg: "empty string"},
		{name: "empty array", body: `{"input":[]}`, param: "input", errMsg: "empty array"},
		{name: "empty entry", body: `{"input":["a",""]}`, param: "input", errMsg: "input[1] must not be an empty string"},
		{name: "mixed", body: `{"input":["a",{"x":1}]}`, param: "input", errMsg: "input[1] must be a string"},
		{name: "null entry", body: `{"input":["a",null]}`, param: "input", errMsg: "input[1] must be a string"},
		{name: "missing", body: `{"model":"m"}`, param: "input", errMsg: "input is required"},
		{name: "null", body: `{"input":null}`, param: "input", errMsg: "input is required"},
		{name: "object", body: `{"input":{"text":"a"}}`, param: "input", errMsg: "string or an array of strings"},
		{name: "bool", body: `{"input":true}`, param: "input", errMsg: "string or an array of strings"},
		{name: "too many", body: string(tooMany), param: "input", errMsg: "at most 2048"},
		{name: "bad encoding", body: `{"input":"a","encoding_format":"int8"}`, param: "encoding_format", errMsg: `"float" or "base64"`},
		{name: "zero dims", body: `{"input":"a","dimensions":0}`, param: "dimensions", errMsg: "positive"},
		{name: "negative dims", body: `{"input":"a","dimensions":-3}`, param: "dimensions", errMsg: "positive"},
		{name: "dims type", body: `{"input":"a","dimensions":"256"}`, param: "dimensions", errMsg: "integer"},
		{name: "model type", body: `{"input":"a","model":7}`, param: "model", errMsg: "string"},
		{name: "not json", body: `input=a`, param: "", errMsg: "JSON object"},
		{name: "broken json", body: `{"input":"a"`, param: "", errMsg: "not valid JSON"},
		{name: "empty body", body: ``, param: "", errMsg: "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, inputs, err := DecodeEmbeddings([]byte(tc.body))
			if tc.errMsg != "" {
				wantRequestError(t, err, tc.param, tc.errMsg)
				if r != nil || inputs != nil {
					t.Error("results returned with an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(inputs, tc.inputs) {
				t.Errorf("inputs %q, want %q", inputs, tc.inputs)
			}
			if r.EncodingFormat != tc.encoding || r.Model != tc.model || !reflect.DeepEqual(r.Dimensions, tc.dims) {
				t.Errorf("got %+v", r)
			}
		})
	}
}

func TestEmbeddingsModel(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "gemini-embedding-001"},
		{"text-embedding-3-small", "gemini-embedding-001"},
		{"text-embedding-3-large", "gemini-embedding-001"},
		{"text-embedding-ada-002", "gemini-embedding-001"},
		{"text-embedding-004", "text-embedding-004"},
		{"models/text-embedding-004", "text-embedding-004"},
		{"gemini-embedding-001", "gemini-embedding-001"},
	} {
		if got := EmbeddingsModel(tc.in, "models/gemini-embedding-001"); got != tc.want {
			t.Errorf("EmbeddingsModel(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEmbeddingsToGemini(t *testing.T) {
	for _, tc := range []struct {
		model  string
		inputs []string
		dims   *int
		want   string
	}{
		{"text-embedding-004", []string{"hello"}, nil,
			`{"requests":[{"model":"models/text-embedding-004","content":{"parts":[{"text":"hello"}]}}]}`},
		{"models/gemini-embedding-001", []string{"a", "b & <c>"}, intp(768),
			`{"requests":[{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"a"}]},"outputDimensionality":768},{"model":"models/gemini-embedding-001","content":{"parts":[{"text":"b & <c>"}]},"outputDimensionality":768}]}`},
		{"m", nil, nil, `{"requests":[]}`},
	} {
		if got := string(EmbeddingsToGemini(tc.model, tc.inputs, tc.dims)); got != tc.want {
			t.Errorf("EmbeddingsToGemini(%q, %q)\n got %s\nwant %s", tc.model, tc.inputs, got, tc.want)
		}
	}
}

func TestChunkInputs(t *testing.T) {
	in := make([]string, 250)
	for i := range in {
		in[i] = fmt.Sprint(i)
	}
	for _, tc := range []struct {
		n, size int
		want    []int
	}{
		{0, 100, nil},
		{1, 100, []int{1}},
		{100, 100, []int{100}},
		{101, 100, []int{100, 1}},
		{250, 0, []int{100, 100, 50}},
		{5, 2, []int{2, 2, 1}},
	} {
		chunks := ChunkInputs(in[:tc.n], tc.size)
		var sizes []int
		var joined []string
		for _, c := range chunks {
			sizes = append(sizes, len(c))
			joined = append(joined, c...)
		}
		if !reflect.DeepEqual(sizes, tc.want) {
			t.Errorf("ChunkInputs(%d, %d) sizes %v, want %v", tc.n, tc.size, sizes, tc.want)
		}
		if tc.n > 0 && !reflect.DeepEqual(joined, in[:tc.n]) {
			t.Errorf("ChunkInputs(%d, %d) lost order", tc.n, tc.size)
		}
	}
	// Appending to a chunk must not overwrite the next one.
	chunks := ChunkInputs([]string{"a", "b", "c"}, 2)
	_ = append(chunks[0], "X")
	if chunks[1][0] != "c" {
		t.Error("chunks share capacity")
	}
}

const geminiEmbeddings = `{
  "embeddings": [
    {"values": [0.013168523, -0.008711934, -0.046782676, 0.000699, 1e-7]},
    {"values": [0.5, -0.25, 0, 1, -1]}
  ]
}
`

type oaEmbeddings struct {
	Object string `json:"object"`
	Data   []struct {
		Object    string          `json:"object"`
		Index     int             `json:"index"`
		Embedding json.RawMessage `json:"embedding"`
	} `json:"data"`
	Model string `json:"model"`
	Usage struct {
		PromptTokens int `json:"prompt_tokens"`
		TotalTokens  int `json:"total_tokens"`
	} `json:"usage"`
}

func decodeOAEmbeddings(t *testing.T, b []byte) oaEmbeddings {
	t.Helper()
	var e oaEmbeddings
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return e
}

func TestEmbeddingsFromGeminiFloat(t *testing.T) {
	b, err := EmbeddingsFromGemini([]byte(geminiEmbeddings), "text-embedding-3-small", "float", 7)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"object":"list","data":[` +
		`{"object":"embedding","index":0,"embedding":[0.013168523,-0.008711934,-0.046782676,0.000699,1e-7]},` +
		`{"object":"embedding","index":1,"embedding":[0.5,-0.25,0,1,-1]}],` +
		`"model":"text-embedding-3-small","usage":{"prompt_tokens":7,"total_tokens":7}}`
	if string(b) != want {
		t.Errorf("\n got %s\nwant %s", b, want)
	}
	e := decodeOAEmbeddings(t, b)
	if e.Object != "list" || len(e.Data) != 2 || e.Data[1].Index != 1 || e.Data[0].Object != "embedding" {
		t.Errorf("decoded %+v", e)
	}
	// "" means float too; negative usage is clamped.
	b2, err := EmbeddingsFromGemini([]byte(geminiEmbeddings), "text-embedding-3-small", "", -1)
	if err != nil {
		t.Fatal(err)
	}
	if e2 := decodeOAEmbeddings(t, b2); e2.Usage.PromptTokens != 0 || string(e2.Data[1].Embedding) != "[0.5,-0.25,0,1,-1]" {
		t.Errorf("got %s", b2)
	}
}

func TestEmbeddingsFromGeminiBase64RoundTrip(t *testing.T) {
	b, err := EmbeddingsFromGemini([]byte(geminiEmbeddings), "m", "base64", 3)
	if err != nil {
		t.Fatal(err)
	}
	e := decodeOAEmbeddings(t, b)
	want := [][]float64{
		{0.013168523, -0.008711934, -0.046782676, 0.000699, 1e-7},
		{0.5, -0.25, 0, 1, -1},
	}
	for i, d := range e.Data {
		var s string
		if err := json.Unmarshal(d.Embedding, &s); err != nil {
			t.Fatalf("embedding %d is not a base64 string: %s", i, d.Embedding)
		}
		// Decode as an OpenAI SDK does: little-endian float32.
		raw, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) != 4*len(want[i]) {
			t.Fatalf("embedding %d has %d bytes, want %d", i, len(raw), 4*len(want[i]))
		}
		got, err := DecodeFloat32Base64(s)
		if err != nil {
			t.Fatal(err)
		}
		for j, x := range want[i] {
			if got[j] != float32(x) {
				t.Errorf("embedding %d value %d = %v, want %v", i, j, got[j], float32(x))
			}
			bits := uint32(raw[4*j]) | uint32(raw[4*j+1])<<8 | uint32(raw[4*j+2])<<16 | uint32(raw[4*j+3])<<24
			if math.Float32frombits(bits) != float32(x) {
				t.Errorf("embedding %d value %d is not little-endian float32", i, j)
			}
		}
	}
	// Known bytes: 1.0f is 00 00 80 3f.
	if s := EncodeFloat32Base64([]float64{1}); s != base64.StdEncoding.EncodeToString([]byte{0, 0, 0x80, 0x3f}) {
		t.Errorf("EncodeFloat32Base64(1) = %q", s)
	}
	if s := EncodeFloat32Base64(nil); s != "" {
		t.Errorf("EncodeFloat32Base64(nil) = %q", s)
	}
	if _, err := DecodeFloat32Base64("AAA="); err == nil {
		t.Error("2 bytes decoded as float32")
	}
	if _, err := DecodeFloat32Base64("!!"); err == nil {
		t.Error("bad base64 decoded")
	}
}

func TestEmbeddingsFromGeminiErrors(t *testing.T) {
	for _, tc := range []struct {
		body, encoding, contains string
		request                  bool
	}{
		{`<html>`, "float", "not valid JSON", false},
		{`{}`, "float", "no embeddings", false},
		{`{"embeddings":[]}`, "float", "no embeddings", false},
		{`{"embeddings":[{"values":[1]},{}]}`, "float", "no values for embedding 1", false},
		{`{"embeddings":[{"values":["x"]}]}`, "float", "not valid JSON", false},
		{geminiEmbeddings, "int8", `"float" or "base64"`, true},
	} {
		_, err := EmbeddingsFromGemini([]byte(tc.body), "m", tc.encoding, 1)
		if tc.request {
			wantRequestError(t, err, "encoding_format", tc.contains)
		} else {
			wantUpstreamError(t, err, tc.contains)
		}
	}
	// A single embedContent answer is read too.
	vs, err := ParseGeminiEmbeddings([]byte(`{"embedding":{"values":[1,2]}}`))
	if err != nil || !reflect.DeepEqual(vs, [][]float64{{1, 2}}) {
		t.Errorf("embedContent answer: %v %v", vs, err)
	}
	if _, err := EmbeddingsResponse([][]float64{{math.NaN()}}, "m", "float", 0); err == nil {
		t.Error("NaN accepted")
	}
}

func TestEstimateTokens(t *testing.T) {
	for _, tc := range []struct {
		in   []string
		want int
	}{
		{nil, 0},
		{[]string{"a"}, 1},
		{[]string{"abcd"}, 1},
		{[]string{"abcde"}, 2},
		{[]string{"hello world, hi"}, 4},
		{[]string{"你好"}, 2},
		{[]string{"a", "b"}, 2},
	} {
		if got := EstimateTokens(tc.in); got != tc.want {
			t.Errorf("EstimateTokens(%q) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

// The whole way: decode, build the Gemini body in chunks, join the answers.
func TestEmbeddingsPipeline(t *testing.T) {
	inputs := make([]string, 150)
	for i := range inputs {
		inputs[i] = fmt.Sprintf("doc %d", i)
	}
	body, _ := json.Marshal(map[string]any{"model": "text-embedding-3-small", "input": inputs, "encoding_format": "base64", "dimensions": 2})
	r, got, err := DecodeEmbeddings(body)
	if err != nil {
		t.Fatal(err)
	}
	model := EmbeddingsModel(r.Model, "gemini-embedding-001")
	var all [][]float64
	for _, chunk := range ChunkInputs(got, MaxBatchEmbed) {
		var req struct {
			Requests []struct {
				Model                string `json:"model"`
				OutputDimensionality int    `json:"outputDimensionality"`
				Content              struct {
					Parts []struct {
						Text string `json:"text"`
					} `json:"parts"`
				} `json:"content"`
			} `json:"requests"`
		}
		if err := json.Unmarshal(EmbeddingsToGemini(model, chunk, r.Dimensions), &req); err != nil {
			t.Fatal(err)
		}
		if len(req.Requests) > MaxBatchEmbed {
			t.Fatalf("batch of %d", len(req.Requests))
		}
		// A stand-in answer: [index, dims].
		var ans strings.Builder
		ans.WriteString(`{"embeddings":[`)
		for i, q := range req.Requests {
			if q.Model != "models/gemini-embedding-001" || q.OutputDimensionality != 2 {
				t.Fatalf("request %+v", q)
			}
			if i > 0 {
				ans.WriteByte(',')
			}
			var n int
			fmt.Sscanf(q.Content.Parts[0].Text, "doc %d", &n)
			fmt.Fprintf(&ans, `{"values":[%d,0.5]}`, n)
		}
		ans.WriteString(`]}`)
		vs, err := ParseGeminiEmbeddings([]byte(ans.String()))
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, vs...)
	}
	out, err := EmbeddingsResponse(all, r.Model, r.EncodingFormat, EstimateTokens(got))
	if err != nil {
		t.Fatal(err)
	}
	e := decodeOAEmbeddings(t, out)
	if len(e.Data) != 150 || e.Model != "text-embedding-3-small" {
		t.Fatalf("%d entries, model %q", len(e.Data), e.Model)
	}
	for i, d := range e.Data {
		var s string
		json.Unmarshal(d.Embedding, &s)
		v, err := DecodeFloat32Base64(s)
		if err != nil || d.Index != i || len(v) != 2 || v[0] != float32(i) || v[1] != 0.5 {
			t.Fatalf("entry %d: index %d values %v err %v", i, d.Index, v, err)
		}
	}
}
