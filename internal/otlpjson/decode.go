package otlpjson

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// The jsonX types decode the OTLP JSON encoding of the X protobuf messages.
// Integers and enums are kept raw, to be decoded from a number or a
// string with a message that says where.
type (
	tracesData struct {
		ResourceSpans []struct {
			Resource struct {
				Attributes []keyValue `json:"attributes"`
			} `json:"resource"`
			ScopeSpans []struct {
				Scope struct {
					Name    string `json:"name"`
					Version string `json:"version"`
				} `json:"scope"`
				Spans []jsonSpan `json:"spans"`
			} `json:"scopeSpans"`
		} `json:"resourceSpans"`
	}

	jsonSpan struct {
		TraceID           string          `json:"traceId"`
		SpanID            string          `json:"spanId"`
		ParentSpanID      string          `json:"parentSpanId"`
		TraceState        string          `json:"traceState"`
		Name              string          `json:"name"`
		Kind              json.RawMessage `json:"kind"`
		StartTimeUnixNano json.RawMessage `json:"startTimeUnixNano"`
		EndTimeUnixNano   json.RawMessage `json:"endTimeUnixNano"`
		Attributes        []keyValue      `json:"attributes"`
		Events            []struct {
			TimeUnixNano json.RawMessage `json:"timeUnixNano"`
			Name         string          `json:"name"`
			Attributes   []keyValue      `json:"attributes"`
		} `json:"events"`
		Links []struct {
			TraceID    string     `json:"traceId"`
			SpanID     string     `json:"spanId"`
			TraceState string     `json:"traceState"`
			Attributes []keyValue `json:"attributes"`
		} `json:"links"`
		Status struct {
			Code    json.RawMessage `json:"code"`
			Message string          `json:"message"`
		} `json:"status"`
	}

	keyValue struct {
		Key   string   `json:"key"`
		Value anyValue `json:"value"`
	}

	anyValue struct {
		StringValue *string         `json:"stringValue"`
		BoolValue   *bool           `json:"boolValue"`
		IntValue    json.RawMessage `json:"intValue"`    // a string, or a number
		DoubleValue json.RawMessage `json:"doubleValue"` // a number, a string, "NaN", "Infinity", "-Infinity"
		BytesValue  *string         `json:"bytesValue"`  // base64
		ArrayValue  *struct {
			Values []anyValue `json:"values"`
		} `json:"arrayValue"`
		KvlistValue *struct {
			Values []keyValue `json:"values"`
		} `json:"kvlistValue"`
	}
)

// The names of the enums' values, which the protobuf JSON mapping may
// write instead of their numbers.
var (
	spanKinds = map[string]int64{"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2,
		"SPAN_KIND_CLIENT": 3, "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}
	statusCodes = map[string]int64{"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
)

// spans returns the spans of td, each with its resource and scope.
func (td *tracesData) spans() ([]Span, error) {
	var out []Span
	for i, rs := range td.ResourceSpans {
		res, err := attributes(rs.Resource.Attributes)
		if err != nil {
			return nil, fmt.Errorf("resourceSpans[%d].resource: %w", i, err)
		}
		for j, ss := range rs.ScopeSpans {
			for k, js := range ss.Spans {
				s, err := js.span()
				if err != nil {
					return nil, fmt.Errorf("resourceSpans[%d].scopeSpans[%d].spans[%d] (name %s): %w", i, j, k, quote(js.Name), err)
				}
				s.Resource, s.Scope, s.ScopeVersion = res, ss.Scope.Name, ss.Scope.Version
				out = append(out, s)
			}
		}
	}
	return out, nil
}

func (js *jsonSpan) span() (Span, error) {
	s := Span{Name: js.Name, TraceState: js.TraceState, StatusMessage: js.Status.Message}
	var err error
	if err = id(s.TraceID[:], js.TraceID); err != nil {
		return Span{}, fmt.Errorf("traceId %w", err)
	}
	if err = id(s.SpanID[:], js.SpanID); err != nil {
		return Span{}, fmt.Errorf("spanId %w", err)
	}
	if err = id(s.ParentSpanID[:], js.ParentSpanID); err != nil {
		return Span{}, fmt.Errorf("parentSpanId %w", err)
	}
	if s.Kind, err = enum(js.Kind, spanKinds); err != nil {
		return Span{}, fmt.Errorf("kind %w", err)
	}
	if s.StartTime, err = unixNano(js.StartTimeUnixNano); err != nil {
		return Span{}, fmt.Errorf("startTimeUnixNano %w", err)
	}
	if s.EndTime, err = unixNano(js.EndTimeUnixNano); err != nil {
		return Span{}, fmt.Errorf("endTimeUnixNano %w", err)
	}
	if s.StatusCode, err = enum(js.Status.Code, statusCodes); err != nil {
		return Span{}, fmt.Errorf("status.code %w", err)
	}
	if s.Attributes, err = attributes(js.Attributes); err != nil {
		return Span{}, err
	}
	for i, je := range js.Events {
		e := Event{Name: je.Name}
		if e.Time, err = unixNano(je.TimeUnixNano); err != nil {
			return Span{}, fmt.Errorf("events[%d].timeUnixNano %w", i, err)
		}
		if e.Attributes, err = attributes(je.Attributes); err != nil {
			return Span{}, fmt.Errorf("events[%d].attributes: %w", i, err)
		}
		s.Events = append(s.Events, e)
	}
	for i, jl := range js.Links {
		l := Link{TraceState: jl.TraceState}
		if err := id(l.TraceID[:], jl.TraceID); err != nil {
			return Span{}, fmt.Errorf("links[%d].traceId %w", i, err)
		}
		if err := id(l.SpanID[:], jl.SpanID); err != nil {
			return Span{}, fmt.Errorf("links[%d].spanId %w", i, err)
		}
		if l.Attributes, err = attributes(jl.Attributes); err != nil {
			return Span{}, fmt.Errorf("links[%d].attributes: %w", i, err)
		}
		s.Links = append(s.Links, l)
	}
	return s, nil
}

// id decodes the id s into dst: hex, as OTLP JSON writes ids, or base64,
// as the protobuf JSON mapping writes bytes. An empty s leaves dst zero.
func id(dst []byte, s string) error {
	switch len(s) {
	case 0:
		return nil
	case hex.EncodedLen(len(dst)):
		if _, err := hex.Decode(dst, []byte(s)); err == nil {
			return nil
		}
	default:
		if b, err := decodeBase64(s); err == nil && len(b) == len(dst) {
			copy(dst, b)
			return nil
		}
	}
	return fmt.Errorf("%s is not an id: want %d hex digits, or %d bytes in base64", quote(s), hex.EncodedLen(len(dst)), len(dst))
}

// decodeBase64 decodes s in standard or URL base64, padded or not, as the
// protobuf JSON mapping accepts.
func decodeBase64(s string) ([]byte, error) {
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	return enc.DecodeString(s)
}

// isNull tells whether raw is absent or JSON null.
func isNull(raw json.RawMessage) bool { return len(raw) == 0 || string(raw) == "null" }

// unquote returns the text of raw, a JSON number or string.
func unquote(raw json.RawMessage) (string, error) {
	if raw[0] != '"' {
		return string(raw), nil
	}
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

// integer decodes a 64-bit integer, a JSON number or string.
func integer(raw json.RawMessage) (int64, error) {
	s, err := unquote(raw)
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s is not a 64-bit integer", quote(s))
	}
	return n, nil
}

// enum decodes an enum: its number, or the name of one of its values.
func enum(raw json.RawMessage, names map[string]int64) (int, error) {
	if isNull(raw) {
		return 0, nil
	}
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err == nil {
			if n, ok := names[s]; ok {
				return int(n), nil
			}
		}
	}
	n, err := integer(raw)
	if err != nil || n < math.MinInt32 || n > math.MaxInt32 {
		s, _ := unquote(raw)
		return 0, fmt.Errorf("%s is neither a number nor a name of the enum", quote(s))
	}
	return int(n), nil
}

// unixNano decodes a time in nanoseconds since 1970; 0 or none is the zero
// time.
func unixNano(raw json.RawMessage) (time.Time, error) {
	if isNull(raw) {
		return time.Time{}, nil
	}
	s, err := unquote(raw)
	if err != nil {
		return time.Time{}, err
	}
	n, err := strconv.ParseUint(s, 10, 64)
	switch {
	case err != nil || n > math.MaxInt64:
		return time.Time{}, fmt.Errorf("%s is not a time in nanoseconds since 1970", quote(s))
	case n == 0:
		return time.Time{}, nil
	}
	return time.Unix(0, int64(n)), nil
}

// attributes decodes a list of attributes.
func attributes(kvs []keyValue) ([]KeyValue, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	out := make([]KeyValue, len(kvs))
	for i, kv := range kvs {
		v, err := kv.Value.decode()
		if err != nil {
			return nil, fmt.Errorf("attribute %s: %w", quote(kv.Key), err)
		}
		out[i] = KeyValue{kv.Key, v}
	}
	return out, nil
}

// decode returns the value v holds; see KeyValue for the types.
func (v *anyValue) decode() (any, error) {
	switch {
	case v.StringValue != nil:
		return *v.StringValue, nil
	case v.BoolValue != nil:
		return *v.BoolValue, nil
	case !isNull(v.IntValue):
		n, err := integer(v.IntValue)
		if err != nil {
			return nil, fmt.Errorf("intValue %w", err)
		}
		return n, nil
	case !isNull(v.DoubleValue):
		s, err := unquote(v.DoubleValue)
		if err != nil {
			return nil, fmt.Errorf("doubleValue %w", err)
		}
		switch s {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, fmt.Errorf("doubleValue %s is not a number", quote(s))
		}
		return f, nil
	case v.BytesValue != nil:
		b, err := decodeBase64(*v.BytesValue)
		if err != nil {
			return nil, fmt.Errorf("bytesValue %s is not base64", quote(*v.BytesValue))
		}
		return b, nil
	case v.ArrayValue != nil:
		a := make([]any, len(v.ArrayValue.Values))
		for i := range v.ArrayValue.Values {
			e, err := v.ArrayValue.Values[i].decode()
			if err != nil {
				return nil, fmt.Errorf("arrayValue[%d]: %w", i, err)
			}
			a[i] = e
		}
		return a, nil
	case v.KvlistValue != nil:
		m := make(map[string]any, len(v.KvlistValue.Values))
		for _, kv := range v.KvlistValue.Values {
			e, err := kv.Value.decode()
			if err != nil {
				return nil, fmt.Errorf("kvlistValue %s: %w", quote(kv.Key), err)
			}
			m[kv.Key] = e
		}
		return m, nil
	}
	return nil, nil
}

// quoteLimit is how many bytes of a value an error shows.
const quoteLimit = 64

// quote returns s quoted for an error, cut to quoteLimit bytes.
func quote(s string) string {
	if len(s) <= quoteLimit {
		return strconv.Quote(s)
	}
	return strconv.Quote(strings.ToValidUTF8(s[:quoteLimit], "")) + "... (" + strconv.Itoa(len(s)) + " bytes)"
}
