package crsteltest

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crs/conform"
)

// CheckOption configures [Check] and [AssertConforms].
type CheckOption interface{ applyCheck(*checkConfig) }

type checkConfig struct {
	metadata crs.Metadata
}

type checkOptionFunc func(*checkConfig)

func (f checkOptionFunc) applyCheck(c *checkConfig) { f(c) }

// WantMetadata requires every span to carry every entry of meta, with the
// same value. Without it, the metadata rule is checked by consistency: the
// entries common to all crstel action spans of a trace (those started by
// [crstel.Action]) must be non-empty and on every span of that trace.
func WantMetadata(meta crs.Metadata) CheckOption {
	return checkOptionFunc(func(c *checkConfig) { c.metadata = maps.Clone(meta) })
}

// AssertConforms fails tb, with one error per non-conforming span listing
// every problem, unless every span conforms to the CRS Telemetry
// Specification v1.0. It also fails if spans is empty. See [Check] for the
// rules.
func AssertConforms(tb testing.TB, spans []sdktrace.ReadOnlySpan, opts ...CheckOption) {
	tb.Helper()
	if err := Check(spans, opts...); err != nil {
		for _, e := range unjoin(err) {
			tb.Error(e)
		}
	}
}

func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// Check returns nil if every span conforms to the CRS Telemetry
// Specification v1.0, else one joined error per non-conforming span that
// lists its problems. The rules are those of package
// [github.com/crstel/crstel/crs/conform], which the collector's
// crs_conformance processor and "crstel lint" apply too:
//   - the resource has a non-empty string service.name;
//   - crs.action.category and crs.action.name are present; the category is
//     one of the nine; the name is a valid action name (see
//     [crs.ValidateName]);
//   - every attribute of the specification has its type and form (ints are
//     ints, crs.action.code.lines is "N-M", fuzz.corpus.update.time is RFC
//     3339), and no key in its namespaces is unknown (crs.code.file, a
//     misspelling of crs.action.code.file);
//   - the task metadata is present: every entry of [WantMetadata], with its
//     value; without it, round.id, task.id and team.id are on every span of
//     a trace if they are on one;
//   - crstel did not mark the span invalid ([crstel.InvalidKey]).
//
// An empty spans is an error: a check of nothing proves nothing.
func Check(spans []sdktrace.ReadOnlySpan, opts ...CheckOption) error {
	if len(spans) == 0 {
		return errors.New("crsteltest: no spans to check")
	}
	var cfg checkConfig
	for _, o := range opts {
		if o != nil {
			o.applyCheck(&cfg)
		}
	}
	want := cfg.metadata
	problems := make([][]string, len(spans))
	conform.New(conform.Config{RequiredMetadata: slices.Sorted(maps.Keys(want))}).Check(len(spans),
		func(i int) conform.Span { return Span(spans[i]) },
		func(i int, f conform.Finding) { problems[i] = append(problems[i], f.String()) })
	var errs []error
	for i, s := range spans {
		for _, k := range slices.Sorted(maps.Keys(want)) {
			for _, kv := range s.Attributes() {
				if string(kv.Key) == k && (kv.Value.Type() != attribute.STRING || kv.Value.AsString() != want[k]) {
					problems[i] = append(problems[i], fmt.Sprintf("%s: task metadata %s is %s, want %q", conform.MissingMetadata, k, conform.Quote(kv.Value.String()), want[k]))
				}
			}
		}
		if len(problems[i]) > 0 {
			errs = append(errs, fmt.Errorf("span %q (span id %s) does not conform:\n\t%s",
				s.Name(), s.SpanContext().SpanID(), strings.Join(problems[i], "\n\t")))
		}
	}
	return errors.Join(errs...)
}

// Span returns s as the rules of package
// [github.com/crstel/crstel/crs/conform] read a span: the adapter of the
// OpenTelemetry SDK's spans.
func Span(s sdktrace.ReadOnlySpan) conform.Span { return sdkSpan{s} }

type sdkSpan struct{ sdktrace.ReadOnlySpan }

func (s sdkSpan) TraceID() [16]byte { return s.SpanContext().TraceID() }

func (s sdkSpan) Attr(key attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func (s sdkSpan) Range(f func(attribute.KeyValue) bool) {
	for _, kv := range s.Attributes() {
		if !f(kv) {
			return
		}
	}
}

func (s sdkSpan) ServiceName() (string, bool) {
	res := s.Resource()
	if res == nil {
		return "", false
	}
	v, ok := res.Set().Value(crs.ServiceNameKey)
	return v.AsString(), ok && v.Type() == attribute.STRING
}
