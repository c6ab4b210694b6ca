package crsconformanceprocessor

import (
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crs/conform"
)

// item is a span or a log record as the rulebook reads it: the adapter of
// pdata to [conform.Span], with what the processor learns of it.
type item struct {
	attrs pcommon.Map
	// service is the resource's service.name, if it is a string
	// (hasService); label its value in the processor's metrics.
	service    string
	hasService bool
	label      string
	trace      pcommon.TraceID
	// span is the span's id, or the log record's span; parent the
	// span's parent (none for a log record).
	span, parent pcommon.SpanID

	// action: the item carries crs.action.category and crs.action.name
	// of its own, as it arrived.
	action bool
	// inherited, repaired, drop: what the processor did to it.
	inherited, repaired, drop bool
}

var _ conform.Span = (*item)(nil)

// TraceID returns the id of the item's trace.
func (it *item) TraceID() [16]byte { return it.trace }

// Attr returns the value of the attribute key.
func (it *item) Attr(key attribute.Key) (attribute.Value, bool) {
	v, ok := it.attrs.Get(string(key))
	if !ok {
		return attribute.Value{}, false
	}
	return value(v), true
}

// Range calls f with each attribute, until f returns false.
func (it *item) Range(f func(attribute.KeyValue) bool) {
	it.attrs.Range(func(k string, v pcommon.Value) bool {
		return f(attribute.KeyValue{Key: attribute.Key(k), Value: value(v)})
	})
}

// ServiceName returns the resource's service.name, and whether it is a
// string.
func (it *item) ServiceName() (string, bool) { return it.service, it.hasService }

// serviceName returns the service.name of res, and whether it is a string.
func serviceName(res pcommon.Resource) (string, bool) {
	v, ok := res.Attributes().Get(string(crs.ServiceNameKey))
	if !ok || v.Type() != pcommon.ValueTypeStr {
		return "", false
	}
	return v.Str(), true
}

// value returns v as an attribute value. A map, bytes, or a slice of
// mixed types has no attribute type: it is returned as the invalid value,
// which no attribute of the specification has.
func value(v pcommon.Value) attribute.Value {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return attribute.StringValue(v.Str())
	case pcommon.ValueTypeInt:
		return attribute.Int64Value(v.Int())
	case pcommon.ValueTypeDouble:
		return attribute.Float64Value(v.Double())
	case pcommon.ValueTypeBool:
		return attribute.BoolValue(v.Bool())
	case pcommon.ValueTypeSlice:
		return sliceValue(v.Slice())
	}
	return attribute.Value{}
}

// sliceValue returns s as a slice attribute value if all its elements have
// one type; an empty slice is a string slice.
func sliceValue(s pcommon.Slice) attribute.Value {
	if s.Len() == 0 {
		return attribute.StringSliceValue(nil)
	}
	t := s.At(0).Type()
	for i := 1; i < s.Len(); i++ {
		if s.At(i).Type() != t {
			return attribute.Value{}
		}
	}
	switch t {
	case pcommon.ValueTypeStr:
		return attribute.StringSliceValue(elements(s, pcommon.Value.Str))
	case pcommon.ValueTypeInt:
		return attribute.Int64SliceValue(elements(s, pcommon.Value.Int))
	case pcommon.ValueTypeDouble:
		return attribute.Float64SliceValue(elements(s, pcommon.Value.Double))
	case pcommon.ValueTypeBool:
		return attribute.BoolSliceValue(elements(s, pcommon.Value.Bool))
	}
	return attribute.Value{}
}

// elements returns the elements of s, each as get returns it.
func elements[T any](s pcommon.Slice, get func(pcommon.Value) T) []T {
	out := make([]T, s.Len())
	for i := range out {
		out[i] = get(s.At(i))
	}
	return out
}
