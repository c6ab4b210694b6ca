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
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
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
// lists its problems. The rules:
//   - the resource has a non-empty string service.name;
//   - crs.action.category is a string naming one of the nine categories;
//   - crs.action.name is a valid action name (see [crs.ValidateName]);
//   - every attribute of the specification has its type and form (ints are
//     ints, crs.action.code.lines is "N-M", fuzz.corpus.update.time is RFC
//     3339), and no key in its namespaces is unknown (crs.code.file);
//   - the task metadata is present (see [WantMetadata]);
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
	var perTrace map[trace.TraceID]map[attribute.Key]attribute.Value
	if want == nil {
		perTrace = traceMetadata(spans)
	}
	var errs []error
	for _, s := range spans {
		var problems []string
		add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

		if res := s.Resource(); res == nil {
			add("no resource, so no service.name")
		} else if v, ok := res.Set().Value(crs.ServiceNameKey); !ok || v.Type() != attribute.STRING || v.AsString() == "" {
			add("resource has no string service.name")
		}
		attrs := make(map[attribute.Key]attribute.Value, len(s.Attributes()))
		for _, kv := range s.Attributes() {
			attrs[kv.Key] = kv.Value
			if err := crs.CheckAttribute(kv); err != nil {
				add("%v", err)
			}
		}
		for _, k := range []attribute.Key{crs.ActionCategoryKey, crs.ActionNameKey} {
			if _, ok := attrs[k]; !ok {
				add("mandatory attribute %s missing", k)
			}
		}
		if v, ok := attrs[crstel.InvalidKey]; ok {
			add("crstel marked it invalid: %s", strings.Join(v.AsStringSlice(), "; "))
		}
		if want != nil {
			for _, k := range slices.Sorted(maps.Keys(want)) {
				if v, ok := attrs[attribute.Key(k)]; !ok {
					add("task metadata %s missing", k)
				} else if v.Type() != attribute.STRING || v.AsString() != want[k] {
					add("task metadata %s is %s, want %q", k, v.String(), want[k])
				}
			}
		} else {
			common, ok := perTrace[s.SpanContext().TraceID()]
			switch {
			case !ok:
				add("no crstel action span in its trace to take the task metadata from; use WantMetadata")
			case len(common) == 0:
				add("no task metadata on the trace's action spans")
			}
			for _, k := range slices.Sorted(maps.Keys(common)) {
				if v, ok := attrs[k]; !ok || v != common[k] {
					add("task metadata %s=%q of its trace missing", k, common[k].String())
				}
			}
		}
		if len(problems) > 0 {
			errs = append(errs, fmt.Errorf("span %q (span id %s) does not conform: %s",
				s.Name(), s.SpanContext().SpanID(), strings.Join(problems, "; ")))
		}
	}
	return errors.Join(errs...)
}

// traceMetadata returns, for each trace, the string attributes shared by all
// its crstel action spans, less the specification's and crstel's own.
func traceMetadata(spans []sdktrace.ReadOnlySpan) map[trace.TraceID]map[attribute.Key]attribute.Value {
	out := make(map[trace.TraceID]map[attribute.Key]attribute.Value)
	for _, s := range spans {
		if s.InstrumentationScope().Name != crstel.ScopeName {
			continue
		}
		mine := make(map[attribute.Key]attribute.Value)
		for _, kv := range s.Attributes() {
			if _, spec := crs.Lookup(kv.Key); spec || kv.Value.Type() != attribute.STRING ||
				strings.HasPrefix(string(kv.Key), "crstel.") {
				continue
			}
			mine[kv.Key] = kv.Value
		}
		id := s.SpanContext().TraceID()
		common, seen := out[id]
		if !seen {
			out[id] = mine
			continue
		}
		maps.DeleteFunc(common, func(k attribute.Key, v attribute.Value) bool { return mine[k] != v })
	}
	return out
}
