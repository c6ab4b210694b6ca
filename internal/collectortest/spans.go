package collectortest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/crstel/crstel/internal/otlptest"
	"io/fs"
	"math"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"
)

// Span is a span received by the collector, in the same form as the spans
// the in-process OTLP server of package otlptest receives, so that
// otlptest.ToReadOnly converts both for crsteltest.Check.
type Span = otlptest.Span

// Event is a span event received by the collector.
type Event = otlptest.Event

// Spans returns the spans the collector wrote to its spans file so far, in
// the order it wrote them, including the spans of the runs before restarts.
// The collector writes each batch to the file before it answers the
// exporter, unbuffered, so every span it acknowledged is there, even after
// [Collector.Kill]; a span sent again after a kill cut off the answer
// appears twice (see [Unique]). Use WaitForSpans to wait for spans in
// flight. Spans
// fails the test if the file cannot be read or decoded.
func (c *Collector) Spans(tb testing.TB) []Span {
	tb.Helper()

	c.mu.Lock()
	data, err := os.ReadFile(c.spansPath)
	data = slices.Concat(c.previous, completeLines(data))
	c.mu.Unlock()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		tb.Fatalf("collectortest: %v", err)
	}
	spans, err := decodeSpans(data)
	if err != nil {
		tb.Fatalf("collectortest: %s: %v", c.spansPath, err)
	}
	return spans
}

// WaitForSpans polls Spans until the collector wrote at least n spans or
// timeout passed, and returns the spans written then: fewer than n on
// timeout, more if more arrived.
func (c *Collector) WaitForSpans(tb testing.TB, n int, timeout time.Duration) []Span {
	tb.Helper()

	deadline := time.Now().Add(timeout)
	for {
		spans := c.Spans(tb)
		left := time.Until(deadline)
		if len(spans) >= n || left <= 0 {
			return spans
		}
		time.Sleep(min(pollInterval, left))
	}
}

// Unique returns spans without repeats: the first of the spans with the
// same trace and span id, in order. An exporter that sends a batch again
// after a lost answer makes the collector write its spans twice.
func Unique(spans []Span) []Span {
	type id struct{ trace, span string }
	seen := make(map[id]bool, len(spans))
	out := make([]Span, 0, len(spans))
	for _, s := range spans {
		k := id{s.TraceID, s.SpanID}
		if !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	return out
}

// completeLines returns data up to its last newline: the exporter may be in
// the middle of writing the last line.
func completeLines(data []byte) []byte {
	return data[:bytes.LastIndexByte(data, '\n')+1]
}

// decodeSpans decodes OTLP-JSON lines, one TracesData message per line.
func decodeSpans(data []byte) ([]Span, error) {
	var spans []Span
	for i, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var td jsonTracesData
		if err := json.Unmarshal(line, &td); err != nil {
			return nil, fmt.Errorf("line %d: %w", i+1, err)
		}
		for _, rs := range td.ResourceSpans {
			res, err := decodeAttributes(rs.Resource.Attributes)
			if err != nil {
				return nil, fmt.Errorf("line %d: resource: %w", i+1, err)
			}
			for _, ss := range rs.ScopeSpans {
				for _, js := range ss.Spans {
					s, err := js.span()
					if err != nil {
						return nil, fmt.Errorf("line %d: span %q: %w", i+1, js.Name, err)
					}
					s.Resource = res
					s.Scope = ss.Scope.Name
					spans = append(spans, s)
				}
			}
		}
	}
	return spans, nil
}

// The jsonX types decode the OTLP JSON encoding of the X protobuf messages
// (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding).
type (
	jsonTracesData struct {
		ResourceSpans []struct {
			Resource struct {
				Attributes []jsonKeyValue `json:"attributes"`
			} `json:"resource"`
			ScopeSpans []struct {
				Scope struct {
					Name string `json:"name"`
				} `json:"scope"`
				Spans []jsonSpan `json:"spans"`
			} `json:"scopeSpans"`
		} `json:"resourceSpans"`
	}

	jsonSpan struct {
		TraceID      string         `json:"traceId"`
		SpanID       string         `json:"spanId"`
		ParentSpanID string         `json:"parentSpanId"`
		Name         string         `json:"name"`
		Kind         int            `json:"kind"`
		Attributes   []jsonKeyValue `json:"attributes"`
		Events       []struct {
			Name       string         `json:"name"`
			Attributes []jsonKeyValue `json:"attributes"`
		} `json:"events"`
		Status struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"status"`
	}

	jsonKeyValue struct {
		Key   string       `json:"key"`
		Value jsonAnyValue `json:"value"`
	}

	jsonAnyValue struct {
		StringValue *string         `json:"stringValue"`
		BoolValue   *bool           `json:"boolValue"`
		IntValue    json.RawMessage `json:"intValue"`    // A string, or a number.
		DoubleValue json.RawMessage `json:"doubleValue"` // A number, or "NaN", "Infinity", "-Infinity".
		BytesValue  *string         `json:"bytesValue"`  // Base64.
		ArrayValue  *struct {
			Values []jsonAnyValue `json:"values"`
		} `json:"arrayValue"`
		KvlistValue *struct {
			Values []jsonKeyValue `json:"values"`
		} `json:"kvlistValue"`
	}
)

func (js jsonSpan) span() (Span, error) {
	attrs, err := decodeAttributes(js.Attributes)
	if err != nil {
		return Span{}, err
	}
	s := Span{
		Name:          js.Name,
		TraceID:       js.TraceID,
		SpanID:        js.SpanID,
		ParentSpanID:  js.ParentSpanID,
		Kind:          js.Kind,
		Attributes:    attrs,
		StatusCode:    js.Status.Code,
		StatusMessage: js.Status.Message,
	}
	for _, je := range js.Events {
		attrs, err := decodeAttributes(je.Attributes)
		if err != nil {
			return Span{}, fmt.Errorf("event %q: %w", je.Name, err)
		}
		s.Events = append(s.Events, Event{Name: je.Name, Attributes: attrs})
	}
	return s, nil
}

func decodeAttributes(kvs []jsonKeyValue) (map[string]any, error) {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		v, err := kv.Value.decode()
		if err != nil {
			return nil, fmt.Errorf("attribute %q: %w", kv.Key, err)
		}
		m[kv.Key] = v
	}
	return m, nil
}

func (v jsonAnyValue) decode() (any, error) {
	switch {
	case v.StringValue != nil:
		return *v.StringValue, nil
	case v.BoolValue != nil:
		return *v.BoolValue, nil
	case v.IntValue != nil:
		return strconv.ParseInt(string(unquote(v.IntValue)), 10, 64)
	case v.DoubleValue != nil:
		switch s := string(unquote(v.DoubleValue)); s {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		default:
			return strconv.ParseFloat(s, 64)
		}
	case v.BytesValue != nil:
		return base64.StdEncoding.DecodeString(*v.BytesValue)
	case v.ArrayValue != nil:
		a := make([]any, 0, len(v.ArrayValue.Values))
		for _, e := range v.ArrayValue.Values {
			d, err := e.decode()
			if err != nil {
				return nil, err
			}
			a = append(a, d)
		}
		return a, nil
	case v.KvlistValue != nil:
		return decodeAttributes(v.KvlistValue.Values)
	default:
		return nil, nil
	}
}

// unquote strips the quotes of a JSON string holding a number.
func unquote(raw json.RawMessage) []byte {
	return bytes.Trim(raw, `"`)
}
