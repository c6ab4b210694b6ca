package lifecycle

import (
	"encoding/json"
	"math"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// The OTLP JSON encoding, as Go types: the field names and the encoding
// of each field are those of the specification. The protobuf JSON mapping
// (protojson, or Python's json_format, which the partial-span processor
// then corrects) writes ids in base64, which OTLP JSON forbids; these
// types write them in hex.
type (
	tracesData struct {
		ResourceSpans []resourceSpans `json:"resourceSpans"`
	}
	resourceSpans struct {
		Resource   resourceJSON `json:"resource"`
		ScopeSpans []scopeSpans `json:"scopeSpans"`
		SchemaURL  string       `json:"schemaUrl,omitempty"`
	}
	resourceJSON struct {
		Attributes []keyValue `json:"attributes,omitempty"`
	}
	scopeSpans struct {
		Scope     scopeJSON  `json:"scope"`
		Spans     []spanJSON `json:"spans"`
		SchemaURL string     `json:"schemaUrl,omitempty"`
	}
	scopeJSON struct {
		Name       string     `json:"name,omitempty"`
		Version    string     `json:"version,omitempty"`
		Attributes []keyValue `json:"attributes,omitempty"`
	}
	spanJSON struct {
		TraceID                string      `json:"traceId"`
		SpanID                 string      `json:"spanId"`
		TraceState             string      `json:"traceState,omitempty"`
		ParentSpanID           string      `json:"parentSpanId,omitempty"`
		Flags                  uint32      `json:"flags,omitempty"`
		Name                   string      `json:"name"`
		Kind                   int         `json:"kind"`
		StartTimeUnixNano      string      `json:"startTimeUnixNano"`
		EndTimeUnixNano        string      `json:"endTimeUnixNano,omitempty"`
		Attributes             []keyValue  `json:"attributes,omitempty"`
		DroppedAttributesCount int         `json:"droppedAttributesCount,omitempty"`
		Events                 []eventJSON `json:"events,omitempty"`
		DroppedEventsCount     int         `json:"droppedEventsCount,omitempty"`
		Links                  []linkJSON  `json:"links,omitempty"`
		DroppedLinksCount      int         `json:"droppedLinksCount,omitempty"`
		Status                 statusJSON  `json:"status"`
	}
	eventJSON struct {
		TimeUnixNano           string     `json:"timeUnixNano"`
		Name                   string     `json:"name"`
		Attributes             []keyValue `json:"attributes,omitempty"`
		DroppedAttributesCount int        `json:"droppedAttributesCount,omitempty"`
	}
	linkJSON struct {
		TraceID                string     `json:"traceId"`
		SpanID                 string     `json:"spanId"`
		TraceState             string     `json:"traceState,omitempty"`
		Attributes             []keyValue `json:"attributes,omitempty"`
		DroppedAttributesCount int        `json:"droppedAttributesCount,omitempty"`
		Flags                  uint32     `json:"flags,omitempty"`
	}
	statusJSON struct {
		Message string `json:"message,omitempty"`
		Code    int    `json:"code,omitempty"`
	}
	keyValue struct {
		Key   string   `json:"key"`
		Value anyValue `json:"value"`
	}
	// anyValue is an AnyValue: one field set; none for an empty value.
	anyValue struct {
		StringValue *string      `json:"stringValue,omitempty"`
		BoolValue   *bool        `json:"boolValue,omitempty"`
		IntValue    string       `json:"intValue,omitempty"` // int64, in decimal
		DoubleValue *double      `json:"doubleValue,omitempty"`
		ArrayValue  *arrayValue  `json:"arrayValue,omitempty"`
		KvlistValue *kvlistValue `json:"kvlistValue,omitempty"`
		BytesValue  []byte       `json:"bytesValue,omitempty"` // base64, as OTLP JSON has it
	}
	arrayValue struct {
		Values []anyValue `json:"values"`
	}
	kvlistValue struct {
		Values []keyValue `json:"values"`
	}
)

// double is a float64 as the protobuf JSON mapping writes it: a number, or
// "NaN", "Infinity" or "-Infinity", which JSON numbers cannot hold.
type double float64

func (d double) MarshalJSON() ([]byte, error) {
	f := float64(d)
	switch {
	case math.IsNaN(f):
		return []byte(`"NaN"`), nil
	case math.IsInf(f, 1):
		return []byte(`"Infinity"`), nil
	case math.IsInf(f, -1):
		return []byte(`"-Infinity"`), nil
	}
	return strconv.AppendFloat(nil, f, 'g', -1, 64), nil
}

// OTLP span flags: the low byte holds the W3C trace flags; these two tell
// whether the parent is remote.
const (
	flagHasIsRemote = 0x100
	flagIsRemote    = 0x200
)

// Body returns the OTLP JSON TracesData of s: its resource, scope, ids,
// name, kind, start, attributes (then extra, which replace any of the same
// key), events, links and status; its end time too if ended. A span that
// has not ended has none, whatever s says.
func Body(s sdktrace.ReadOnlySpan, ended bool, extra ...attribute.KeyValue) ([]byte, error) {
	sc, parent := s.SpanContext(), s.Parent()
	sp := spanJSON{
		TraceID:                sc.TraceID().String(),
		SpanID:                 sc.SpanID().String(),
		TraceState:             sc.TraceState().String(),
		Flags:                  spanFlags(uint32(sc.TraceFlags()), parent.IsRemote()),
		Name:                   s.Name(),
		Kind:                   int(s.SpanKind()), // the API's kinds are OTLP's numbers
		StartTimeUnixNano:      unixNano(s.StartTime()),
		Attributes:             keyValues(s.Attributes(), extra...),
		DroppedAttributesCount: s.DroppedAttributes(),
		DroppedEventsCount:     s.DroppedEvents(),
		DroppedLinksCount:      s.DroppedLinks(),
	}
	if parent.SpanID().IsValid() {
		sp.ParentSpanID = parent.SpanID().String()
	}
	if ended {
		sp.EndTimeUnixNano = unixNano(s.EndTime())
	}
	for _, e := range s.Events() {
		sp.Events = append(sp.Events, eventJSON{TimeUnixNano: unixNano(e.Time), Name: e.Name,
			Attributes: keyValues(e.Attributes), DroppedAttributesCount: e.DroppedAttributeCount})
	}
	for _, l := range s.Links() {
		lc := l.SpanContext
		sp.Links = append(sp.Links, linkJSON{TraceID: lc.TraceID().String(), SpanID: lc.SpanID().String(),
			TraceState: lc.TraceState().String(), Attributes: keyValues(l.Attributes),
			DroppedAttributesCount: l.DroppedAttributeCount, Flags: spanFlags(uint32(lc.TraceFlags()), lc.IsRemote())})
	}
	// The API's status codes are 0 unset, 1 error, 2 ok; OTLP's 0 unset,
	// 1 ok, 2 error.
	st := s.Status()
	sp.Status = statusJSON{Message: st.Description, Code: [3]int{0, 2, 1}[min(uint32(st.Code), 2)]}

	scope := s.InstrumentationScope()
	rs := resourceSpans{ScopeSpans: []scopeSpans{{
		Scope:     scopeJSON{Name: scope.Name, Version: scope.Version, Attributes: keyValues(scope.Attributes.ToSlice())},
		Spans:     []spanJSON{sp},
		SchemaURL: scope.SchemaURL,
	}}}
	if res := s.Resource(); res != nil {
		rs.Resource.Attributes = keyValues(res.Attributes())
		rs.SchemaURL = res.SchemaURL()
	}
	return json.Marshal(tracesData{ResourceSpans: []resourceSpans{rs}})
}

func spanFlags(traceFlags uint32, remote bool) uint32 {
	f := traceFlags&0xff | flagHasIsRemote
	if remote {
		f |= flagIsRemote
	}
	return f
}

// unixNano returns t in nanoseconds since the Unix epoch, in decimal; "0"
// for the zero time.
func unixNano(t time.Time) string {
	if t.IsZero() {
		return "0"
	}
	return strconv.FormatInt(t.UnixNano(), 10)
}

// keyValues returns kvs then extra as OTLP key-values; an extra key that
// kvs has too replaces it in place.
func keyValues(kvs []attribute.KeyValue, extra ...attribute.KeyValue) []keyValue {
	if len(kvs)+len(extra) == 0 {
		return nil
	}
	out := make([]keyValue, 0, len(kvs)+len(extra))
	for _, kv := range kvs {
		out = append(out, keyValue{Key: string(kv.Key), Value: value(kv.Value)})
	}
next:
	for _, kv := range extra {
		for i := range kvs {
			if kvs[i].Key == kv.Key {
				out[i].Value = value(kv.Value)
				continue next
			}
		}
		out = append(out, keyValue{Key: string(kv.Key), Value: value(kv.Value)})
	}
	return out
}

// value returns v as an OTLP AnyValue.
func value(v attribute.Value) anyValue {
	switch v.Type() {
	case attribute.BOOL:
		b := v.AsBool()
		return anyValue{BoolValue: &b}
	case attribute.INT64:
		return anyValue{IntValue: strconv.FormatInt(v.AsInt64(), 10)}
	case attribute.FLOAT64:
		d := double(v.AsFloat64())
		return anyValue{DoubleValue: &d}
	case attribute.STRING:
		s := v.AsString()
		return anyValue{StringValue: &s}
	case attribute.BYTESLICE:
		b := v.AsByteSlice()
		if b == nil {
			b = []byte{} // present, if empty
		}
		return anyValue{BytesValue: b}
	case attribute.BOOLSLICE:
		return array(v.AsBoolSlice(), attribute.BoolValue)
	case attribute.INT64SLICE:
		return array(v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		return array(v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.STRINGSLICE:
		return array(v.AsStringSlice(), attribute.StringValue)
	case attribute.SLICE:
		return array(v.AsSlice(), func(v attribute.Value) attribute.Value { return v })
	case attribute.MAP:
		return anyValue{KvlistValue: &kvlistValue{Values: nonNil(keyValues(v.AsMap()))}}
	}
	return anyValue{} // empty
}

// array returns the elements of s, each made a Value by of, as an OTLP
// array.
func array[T any](s []T, of func(T) attribute.Value) anyValue {
	values := make([]anyValue, len(s))
	for i, e := range s {
		values[i] = value(of(e))
	}
	return anyValue{ArrayValue: &arrayValue{Values: values}}
}

func nonNil(kvs []keyValue) []keyValue {
	if kvs == nil {
		return []keyValue{}
	}
	return kvs
}
