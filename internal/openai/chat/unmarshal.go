package chat

import (
	"encoding/json"
	"reflect"

	fastjson "github.com/goccy/go-json"
)

// unmarshal decodes JSON into v (a pointer) with goccy/go-json, about three
// times faster than encoding/json on requests and answers (FromGemini 29 µs
// -> 10 µs). When that fails, v is reset and decoded again by encoding/json,
// whose errors are the ones clients see (they name the field: see jsonErr),
// so a bad request is refused exactly as before. Only valid input takes the
// fast path; FuzzAnswerHasContent and FuzzDecodeAndToGemini hold the two
// decoders to the same results.
func unmarshal(b []byte, v any) error {
	if fastjson.Unmarshal(b, v) == nil {
		return nil
	}
	reflect.ValueOf(v).Elem().SetZero()
	return json.Unmarshal(b, v)
}
