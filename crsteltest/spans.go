package crsteltest

import (
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Attrs returns the attributes of s by key, for checks such as
//
//	if got := crsteltest.Attrs(span)[crs.ActionNameKey]; got.AsString() != "generate_patch" { ... }
//
// A key the span does not have gives the zero attribute.Value, of type
// attribute.INVALID.
func Attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	kvs := s.Attributes()
	m := make(map[attribute.Key]attribute.Value, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}

// ByName returns the spans of spans named name, in their order; nil if
// none is.
func ByName(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}
