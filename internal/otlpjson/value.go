package otlpjson

import (
	"fmt"
	"maps"
	"slices"

	"go.opentelemetry.io/otel/attribute"
)

// Value returns v, the Value of a [KeyValue], as the OpenTelemetry API
// holds attribute values. OTLP arrays do not say their element type, so an
// array whose elements all are strings (bools, int64s, float64s) is a
// string (bool, int64, float64) slice, as the SDK sends one, an empty
// array an empty string slice, and any other array a slice of values
// (attribute.SliceValue). A key-value list is a map, sorted by key; nil is
// the empty value. A value of another type, which a [Reader] never gives,
// is the string fmt.Sprint makes of it.
func Value(v any) attribute.Value {
	switch v := v.(type) {
	case nil:
		return attribute.Value{}
	case string:
		return attribute.StringValue(v)
	case bool:
		return attribute.BoolValue(v)
	case int64:
		return attribute.Int64Value(v)
	case float64:
		return attribute.Float64Value(v)
	case []byte:
		return attribute.ByteSliceValue(v)
	case []any:
		return sliceValue(v)
	case map[string]any:
		kvs := make([]attribute.KeyValue, 0, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			kvs = append(kvs, attribute.KeyValue{Key: attribute.Key(k), Value: Value(v[k])})
		}
		return attribute.MapValue(kvs...)
	}
	return attribute.StringValue(fmt.Sprint(v))
}

func sliceValue(a []any) attribute.Value {
	if len(a) == 0 {
		return attribute.StringSliceValue(nil)
	}
	switch a[0].(type) {
	case string:
		if s, ok := all[string](a); ok {
			return attribute.StringSliceValue(s)
		}
	case bool:
		if s, ok := all[bool](a); ok {
			return attribute.BoolSliceValue(s)
		}
	case int64:
		if s, ok := all[int64](a); ok {
			return attribute.Int64SliceValue(s)
		}
	case float64:
		if s, ok := all[float64](a); ok {
			return attribute.Float64SliceValue(s)
		}
	}
	vs := make([]attribute.Value, len(a))
	for i, e := range a {
		vs[i] = Value(e)
	}
	return attribute.SliceValue(vs...)
}

// all returns the elements of a as Ts, if they all are.
func all[T any](a []any) ([]T, bool) {
	out := make([]T, len(a))
	for i, e := range a {
		t, ok := e.(T)
		if !ok {
			return nil, false
		}
		out[i] = t
	}
	return out, true
}
