package gemini

import (
	"bytes"
	"encoding/json"
	"reflect"
	"sync"

	fastjson "github.com/goccy/go-json"
)

var marshalBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// Marshal is json.Marshal without HTML escaping (Google does not escape '<'
// or '&') and without the encoder's trailing newline, through pooled buffers.
func Marshal(v any) ([]byte, error) {
	buf := marshalBuffers.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 1<<20 {
			marshalBuffers.Put(buf)
		}
	}()
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return append([]byte(nil), bytes.TrimSuffix(buf.Bytes(), []byte("\n"))...), nil
}

// Unmarshal decodes JSON into v (a pointer) with goccy/go-json, about three
// times faster than encoding/json on requests, answers and stream chunks.
// When that fails, v is reset and decoded again by encoding/json, whose
// errors (naming the field) are the ones reported, so bad input is refused
// exactly as encoding/json refuses it. Only valid input takes the fast path;
// the translators' fuzz tests hold the two decoders to the same results.
func Unmarshal(b []byte, v any) error {
	if fastjson.Unmarshal(b, v) == nil {
		return nil
	}
	reflect.ValueOf(v).Elem().SetZero()
	return json.Unmarshal(b, v)
}
