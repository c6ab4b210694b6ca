package fuzz_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/fuzz"
)

func TestRecord(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	ctx, action := fuzzing(t, rec)
	when := time.Date(2025, 3, 1, 12, 30, 0, 500, time.FixedZone("CET", 3600))
	fuzz.Record(ctx, fuzz.CorpusUpdate{
		Method:    fuzz.MethodPeriodic,
		Time:      when,
		Size:      1500,
		Additions: []string{"inputA", "inputB"},
	})
	action.End()

	got := updates(rec.Ended())
	if len(got) != 1 {
		t.Fatalf("got %d update spans, want 1", len(got))
	}
	s := got[0]
	if p, want := s.Parent().SpanID(), action.SpanContext().SpanID(); p != want {
		t.Errorf("parent span = %s, want the fuzzing action %s", p, want)
	}
	if got, want := s.InstrumentationScope().Name, fuzz.ScopeName; got != want {
		t.Errorf("scope = %q, want %q", got, want)
	}
	a := crsteltest.Attrs(s)
	tests := []struct {
		key      attribute.Key
		wantType attribute.Type
		want     string // Value.String()
	}{
		{crs.ActionCategoryKey, attribute.STRING, "fuzzing"},
		{crs.ActionNameKey, attribute.STRING, "fuzz_test_network_inputs"},
		{"task.id", attribute.STRING, "task-1"},
		{crs.FuzzCorpusUpdateMethodKey, attribute.STRING, "periodic"},
		{crs.FuzzCorpusUpdateTimeKey, attribute.STRING, "2025-03-01T11:30:00.0000005Z"},
		{crs.FuzzCorpusSizeKey, attribute.INT64, "1500"},
		{crs.FuzzCorpusAdditionsKey, attribute.STRINGSLICE, `["inputA","inputB"]`},
		{crs.FuzzCorpusFullSnapshotKey, attribute.BOOL, "false"},
	}
	for _, tt := range tests {
		v, ok := a[tt.key]
		if !ok {
			t.Errorf("%s missing", tt.key)
			continue
		}
		if v.Type() != tt.wantType || v.String() != tt.want {
			t.Errorf("%s = %s %s, want %s %s", tt.key, v.Type(), v.String(), tt.wantType, tt.want)
		}
	}
	if pt, err := time.Parse(time.RFC3339, a[crs.FuzzCorpusUpdateTimeKey].AsString()); err != nil || !pt.Equal(when) {
		t.Errorf("update.time parses as (%v, %v), want (%v, nil)", pt, err, when)
	}
	for _, k := range []attribute.Key{crstel.InvalidKey, fuzz.AdditionsOmittedKey} {
		if v, ok := a[k]; ok {
			t.Errorf("%s = %s, want none", k, v.String())
		}
	}
	crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(task))
}

func TestRecordZeroTimeIsNow(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	ctx, _ := fuzzing(t, rec)
	before := time.Now()
	fuzz.Record(ctx, fuzz.CorpusUpdate{Method: fuzz.MethodOnChange, FullSnapshot: true})
	after := time.Now()

	a := crsteltest.Attrs(updates(rec.Ended())[0])
	got, err := time.Parse(time.RFC3339Nano, a[crs.FuzzCorpusUpdateTimeKey].AsString())
	if err != nil || got.Before(before.Truncate(0)) || got.After(after) {
		t.Errorf("update.time = %v (%v), want between %v and %v", got, err, before, after)
	}
	if v := a[crs.FuzzCorpusAdditionsKey]; v.Type() != attribute.STRINGSLICE || len(v.AsStringSlice()) != 0 {
		t.Errorf("additions = %s %s, want an empty STRINGSLICE", v.Type(), v.String())
	}
	if v := a[crs.FuzzCorpusFullSnapshotKey]; v.Type() != attribute.BOOL || !v.AsBool() {
		t.Errorf("full_snapshot = %s %s, want BOOL true", v.Type(), v.String())
	}
	crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(task))
}

func names(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("id:%06d", i)
	}
	return out
}

func TestRecordCapsAdditions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		n           int
		opts        []fuzz.Option
		wantLen     int
		wantOmitted int64 // 0: no attribute
	}{
		{name: "none", n: 0, wantLen: 0},
		{name: "at default cap", n: fuzz.DefaultMaxAdditions, wantLen: fuzz.DefaultMaxAdditions},
		{name: "one over default cap", n: fuzz.DefaultMaxAdditions + 1, wantLen: fuzz.DefaultMaxAdditions, wantOmitted: 1},
		{name: "far over default cap", n: 2500, wantLen: fuzz.DefaultMaxAdditions, wantOmitted: 2400},
		{name: "option", n: 25, opts: []fuzz.Option{fuzz.WithMaxAdditions(10)}, wantLen: 10, wantOmitted: 15},
		{name: "option zero", n: 3, opts: []fuzz.Option{fuzz.WithMaxAdditions(0)}, wantLen: 0, wantOmitted: 3},
		{name: "negative ignored", n: 150, opts: []fuzz.Option{fuzz.WithMaxAdditions(-1), nil}, wantLen: fuzz.DefaultMaxAdditions, wantOmitted: 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := crsteltest.NewRecorder(t)
			ctx, _ := fuzzing(t, rec)
			in := names(tt.n)
			fuzz.Record(ctx, fuzz.CorpusUpdate{Method: fuzz.MethodPeriodic, Size: tt.n, Additions: in}, tt.opts...)

			a := crsteltest.Attrs(updates(rec.Ended())[0])
			got := a[crs.FuzzCorpusAdditionsKey].AsStringSlice()
			if len(got) != tt.wantLen || !slices.Equal(got, in[:tt.wantLen]) {
				t.Errorf("got %d additions, want the first %d", len(got), tt.wantLen)
			}
			v, ok := a[fuzz.AdditionsOmittedKey]
			switch {
			case tt.wantOmitted == 0 && ok:
				t.Errorf("got %s = %s, want none", fuzz.AdditionsOmittedKey, v.String())
			case tt.wantOmitted != 0 && (v.Type() != attribute.INT64 || v.AsInt64() != tt.wantOmitted):
				t.Errorf("got %s = %s %s, want INT64 %d", fuzz.AdditionsOmittedKey, v.Type(), v.String(), tt.wantOmitted)
			}
			crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(task))
		})
	}
}

func TestRecordRepairsInvalidUTF8(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	ctx, _ := fuzzing(t, rec)
	in := []string{"ok", "crash-\xff\xfe", "caf\xc3\xa9", "half-\xe2\x82"}
	orig := slices.Clone(in)
	fuzz.Record(ctx, fuzz.CorpusUpdate{Method: fuzz.MethodPeriodic, Size: 4, Additions: in})

	got := crsteltest.Attrs(updates(rec.Ended())[0])[crs.FuzzCorpusAdditionsKey].AsStringSlice()
	want := []string{"ok", `crash-\xff\xfe`, "café", `half-\xe2\x82`}
	if !slices.Equal(got, want) {
		t.Errorf("additions = %q, want %q", got, want)
	}
	for _, s := range got {
		if !utf8.ValidString(s) {
			t.Errorf("addition %q is not valid UTF-8", s)
		}
	}
	if !slices.Equal(in, orig) {
		t.Errorf("Record changed the caller's Additions to %q", in)
	}
	crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(task))
}

func TestRecordInvalid(t *testing.T) {
	tests := []struct {
		name       string
		u          fuzz.CorpusUpdate
		wantInMsg  string
		wantMethod string // "" means no method attribute
		wantSize   int64
	}{
		{name: "unknown method", u: fuzz.CorpusUpdate{Method: "hourly", Size: 3}, wantInMsg: `"hourly"`, wantMethod: "hourly", wantSize: 3},
		{name: "empty method", u: fuzz.CorpusUpdate{Size: 3}, wantInMsg: "fuzz.corpus.update.method is empty", wantSize: 3},
		{name: "method in other case", u: fuzz.CorpusUpdate{Method: "Periodic"}, wantInMsg: `"Periodic"`, wantMethod: "Periodic"},
		{name: "negative size", u: fuzz.CorpusUpdate{Method: fuzz.MethodPeriodic, Size: -2}, wantInMsg: "-2 is negative", wantMethod: "periodic", wantSize: -2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Serial: the OpenTelemetry error handler is global.
			captured := crsteltest.CaptureErrors(t)
			rec := crsteltest.NewRecorder(t, crsteltest.WithGlobal())
			ctx, _ := fuzzing(t, rec)
			fuzz.Record(ctx, tt.u)

			spans := updates(rec.Ended())
			if len(spans) != 1 {
				t.Fatalf("got %d update spans, want 1: the update is still recorded", len(spans))
			}
			a := crsteltest.Attrs(spans[0])
			if m, ok := a[crs.FuzzCorpusUpdateMethodKey]; m.AsString() != tt.wantMethod || ok != (tt.wantMethod != "") {
				t.Errorf("method = %q (present %v), want %q", m.AsString(), ok, tt.wantMethod)
			}
			if got := a[crs.FuzzCorpusSizeKey].AsInt64(); got != tt.wantSize {
				t.Errorf("size = %d, want %d", got, tt.wantSize)
			}
			inv := strings.Join(a[crstel.InvalidKey].AsStringSlice(), "; ")
			if !strings.Contains(inv, tt.wantInMsg) {
				t.Errorf("%s = %q, want it to mention %s", crstel.InvalidKey, inv, tt.wantInMsg)
			}
			if errs := captured.Errors(); len(errs) != 1 || !errors.Is(errs[0], crs.ErrInvalidAttribute) || !strings.Contains(errs[0].Error(), tt.wantInMsg) {
				t.Errorf("otel.Handle got %v, want one error wrapping crs.ErrInvalidAttribute, mentioning %s", errs, tt.wantInMsg)
			}
			if err := crsteltest.Check(spans, crsteltest.WantMetadata(task)); err == nil {
				t.Error("Check passes an invalid update, want an error")
			}
		})
	}
}

func TestRecordStrictPanics(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t, crsteltest.WithStrict())
	ctx, _ := fuzzing(t, rec)
	func() {
		defer func() {
			r := recover()
			err, ok := r.(error)
			if !ok || !errors.Is(err, crs.ErrInvalidAttribute) || !strings.Contains(err.Error(), `"hourly"`) {
				t.Errorf("recovered %v, want an error wrapping crs.ErrInvalidAttribute naming \"hourly\"", r)
			}
		}()
		fuzz.Record(ctx, fuzz.CorpusUpdate{Method: "hourly"})
	}()
	// The panic came before the span started: none is left open.
	for _, s := range rec.Started() {
		if s.Name() == fuzz.SpanName {
			t.Errorf("update span %s started, want none", s.SpanContext().SpanID())
		}
	}
	fuzz.Record(ctx, fuzz.CorpusUpdate{Method: fuzz.MethodPeriodic}) // valid: no panic
}

func TestRecordNilContext(t *testing.T) {
	// Serial: the OpenTelemetry error handler is global, and a nil ctx
	// takes the global provider.
	captured := crsteltest.CaptureErrors(t)
	rec := crsteltest.NewRecorder(t, crsteltest.WithGlobal())
	var ctx context.Context
	fuzz.Record(ctx, fuzz.CorpusUpdate{Method: fuzz.MethodPeriodic})
	spans := updates(rec.Ended())
	if len(spans) != 1 {
		t.Fatalf("got %d update spans, want 1", len(spans))
	}
	if inv := crsteltest.Attrs(spans[0])[crstel.InvalidKey].AsStringSlice(); len(inv) != 1 || !strings.Contains(inv[0], "nil context") {
		t.Errorf("%s = %q, want the nil context named", crstel.InvalidKey, inv)
	}
	if got := len(captured.Errors()); got != 1 {
		t.Errorf("otel.Handle got %d errors, want 1", got)
	}
}

// TestRecordOutsideFuzzing: inside another action, the update carries that
// action.
func TestRecordOutsideFuzzing(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	ctx := crstel.WithTask(rec.Context(t.Context()), task)
	ctx, span := crstel.Action(ctx, crs.InputGeneration, "generate_seeds", nil)
	fuzz.Record(ctx, fuzz.CorpusUpdate{Method: fuzz.MethodOnChange, Size: 1})
	span.End()
	a := crsteltest.Attrs(updates(rec.Ended())[0])
	if got := a[crs.ActionCategoryKey].AsString(); got != "input_generation" {
		t.Errorf("category = %q, want input_generation", got)
	}
	crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(task))
}

// TestRecordOutsideAnyAction: outside any action, the update has no
// crs.action.* and does not conform, and nothing is reported.
func TestRecordOutsideAnyAction(t *testing.T) {
	// Serial: the OpenTelemetry error handler is global, and outside an
	// action t.Context() takes the global provider.
	captured := crsteltest.CaptureErrors(t)
	rec := crsteltest.NewRecorder(t, crsteltest.WithGlobal())
	fuzz.Record(t.Context(), fuzz.CorpusUpdate{Method: fuzz.MethodOnChange, Size: 1})
	spans := updates(rec.Ended())
	if len(spans) != 1 {
		t.Fatalf("got %d update spans, want 1", len(spans))
	}
	a := crsteltest.Attrs(spans[0])
	for _, k := range []attribute.Key{crs.ActionCategoryKey, crs.ActionNameKey, crstel.InvalidKey} {
		if v, ok := a[k]; ok {
			t.Errorf("%s = %s, want none", k, v.String())
		}
	}
	if errs := captured.Errors(); len(errs) != 0 {
		t.Errorf("otel.Handle got %v, want nothing: recording outside an action is allowed", errs)
	}
	err := crsteltest.Check(spans, crsteltest.WantMetadata(task))
	if err == nil || !strings.Contains(err.Error(), "crs.action.category missing") {
		t.Errorf("Check = %v, want crs.action.category missing", err)
	}
}

// TestRecordWithTracerProvider: the span goes to the provider given, not
// to the enclosing action's; a nil provider is ignored.
func TestRecordWithTracerProvider(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	ctx, _ := fuzzing(t, rec)
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	fuzz.Record(ctx, fuzz.CorpusUpdate{Method: fuzz.MethodPeriodic}, fuzz.WithTracerProvider(tp), fuzz.WithTracerProvider(nil))
	if got, want := len(sr.Ended()), 1; got != want {
		t.Errorf("got %d spans on the given provider, want %d", got, want)
	}
	if got := len(updates(rec.Ended())); got != 0 {
		t.Errorf("got %d update spans on the action's provider, want 0", got)
	}
}
