package crstel_test

import (
	"context"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
)

var task1 = crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"}

func TestActionEveryCategory(t *testing.T) {
	t.Parallel()
	for _, c := range crs.Categories() {
		t.Run(string(c), func(t *testing.T) {
			t.Parallel()
			rec := crsteltest.NewRecorder(t)
			ctx := crstel.WithTask(rec.Context(t.Context()), task1)
			_, span := crstel.Action(ctx, c, "do_"+string(c), nil)
			span.End()

			s := one(t, rec.Ended(), "do_"+string(c))
			wantAttr(t, s, crs.ActionCategoryKey, attribute.StringValue(string(c)))
			wantAttr(t, s, crs.ActionNameKey, attribute.StringValue("do_"+string(c)))
			for k, v := range task1 {
				wantAttr(t, s, attribute.Key(k), attribute.StringValue(v))
			}
			if got := s.SpanKind(); got != trace.SpanKindInternal {
				t.Errorf("kind = %v, want internal", got)
			}
			if got := s.InstrumentationScope().Name; got != crstel.ScopeName {
				t.Errorf("scope = %q, want %q", got, crstel.ScopeName)
			}
			crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(task1))
		})
	}
}

func TestActionMetadataMerge(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	ctx := crstel.WithTask(rec.Context(t.Context()), crs.Metadata{"a": "ctx", "b": "ctx"})
	ctx, parent := crstel.Action(ctx, crs.Building, "build", crs.Metadata{"b": "arg", "c": "arg"})
	_, child := crstel.Action(ctx, crs.Testing, "run_tests", nil)
	child.End()
	parent.End()

	want := crs.Metadata{"a": "ctx", "b": "arg", "c": "arg"}
	crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(want))
	if got := crstel.Task(ctx); len(got) != 3 || got["b"] != "arg" {
		t.Errorf("Task(ctx) = %v, want %v", got, want)
	}
}

func TestActionOptions(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	ctx := crstel.WithTask(rec.Context(t.Context()), task1)
	_, cause := rec.Provider().Tracer("test").Start(ctx, "finding")
	cause.End()
	_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil,
		nil, // ignored
		crstel.WithAttributes(crs.CodeFile("vuln_module.c"), crs.CodeLines(10, 50), crs.EffortWeight(8)),
		crstel.WithLinks(trace.Link{SpanContext: cause.SpanContext()}),
		crstel.WithSpanKind(trace.SpanKindClient),
	)
	span.End()

	s := one(t, rec.Ended(), "generate_patch")
	wantAttr(t, s, crs.CodeFileKey, attribute.StringValue("vuln_module.c"))
	wantAttr(t, s, crs.CodeLinesKey, attribute.StringValue("10-50"))
	wantAttr(t, s, crs.EffortWeightKey, attribute.Int64Value(8))
	if got := s.SpanKind(); got != trace.SpanKindClient {
		t.Errorf("kind = %v, want client", got)
	}
	if len(s.Links()) != 1 || s.Links()[0].SpanContext.SpanID() != cause.SpanContext().SpanID() {
		t.Errorf("links = %v, want one to %s", s.Links(), cause.SpanContext().SpanID())
	}
}

// TestNestedActionsAcrossGoroutines: children made in two goroutines have
// the right parent and all carry the task metadata.
func TestNestedActionsAcrossGoroutines(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	ctx := crstel.WithTask(rec.Context(t.Context()), task1)
	ctx, root := crstel.Action(ctx, crs.Fuzzing, "fuzz_campaign", nil)
	var wg sync.WaitGroup
	for _, name := range []string{"fuzz_harness_a", "fuzz_harness_b"} {
		wg.Go(func() {
			cctx, span := crstel.Action(ctx, crs.Fuzzing, name, nil)
			_, inner := crstel.Action(cctx, crs.InputGeneration, "generate_seeds", nil)
			inner.End()
			span.End()
		})
	}
	wg.Wait()
	root.End()

	spans := rec.Ended()
	if len(spans) != 5 {
		t.Fatalf("got %d spans, want 5", len(spans))
	}
	rootID := root.SpanContext().SpanID()
	for _, name := range []string{"fuzz_harness_a", "fuzz_harness_b"} {
		if got := one(t, spans, name).Parent().SpanID(); got != rootID {
			t.Errorf("%s: parent = %s, want %s", name, got, rootID)
		}
	}
	for _, s := range crsteltest.ByName(spans, "generate_seeds") {
		if p := s.Parent().SpanID(); p == rootID || !p.IsValid() {
			t.Errorf("generate_seeds: parent = %s, want a harness span", p)
		}
	}
	crsteltest.AssertConforms(t, spans, crsteltest.WantMetadata(task1))
	crsteltest.AssertConforms(t, spans) // metadata inferred from the action spans
}

func TestActionWithoutSetup(t *testing.T) {
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(noop.NewTracerProvider())
	t.Cleanup(func() { otel.SetTracerProvider(prev) })

	ctx, span := crstel.Action(context.Background(), crs.Testing, "run_unit_tests", task1)
	defer span.End()
	if span.IsRecording() {
		t.Error("span is recording without a provider")
	}
	if crstel.Task(ctx)["task.id"] != "task-1" {
		t.Errorf("Task(ctx) = %v, want task-1", crstel.Task(ctx))
	}
}

// TestActionFollowsProvider: Action uses whichever provider is global now,
// not the first one it saw.
func TestActionFollowsProvider(t *testing.T) {
	for i := range 2 {
		rec := crsteltest.NewRecorder(t, crsteltest.WithGlobal())
		_, span := crstel.Action(context.Background(), crs.Testing, "run_unit_tests", task1)
		span.End()
		if got := len(rec.Ended()); got != 1 {
			t.Errorf("provider %d recorded %d spans, want 1", i, got)
		}
	}
}

// TestActionContext: the context Action returns is the one the tracer
// returned, with everything the tracer put there; trace.SpanFromContext
// gives the action's SDK span, so that the SDK counts its children, and
// children started from it are the action's.
func TestActionContext(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	ctx, span := crstel.Action(t.Context(), crs.Testing, "run_unit_tests", task1,
		crstel.WithTracerProvider(markingProvider{rec.Provider()}))
	if got := ctx.Value(tracerMark{}); got != "from the tracer" {
		t.Errorf("ctx.Value(the tracer's key) = %v, want what the tracer put there", got)
	}
	if got := trace.SpanFromContext(ctx).SpanContext(); !got.Equal(span.SpanContext()) {
		t.Errorf("SpanFromContext(ctx) = %v, want the action's span %v", got, span.SpanContext())
	}
	_, child := rec.Provider().Tracer("other").Start(ctx, "child")
	child.End()
	_, nested := crstel.Action(ctx, crs.Testing, "run_one_test", nil)
	nested.End()
	span.End()
	s := one(t, rec.Ended(), "run_unit_tests")
	if got := s.ChildSpanCount(); got != 2 {
		t.Errorf("ChildSpanCount() = %d, want 2", got)
	}
	if got := one(t, rec.Ended(), "child").Parent().SpanID(); got != span.SpanContext().SpanID() {
		t.Errorf("child parent = %s, want %s", got, span.SpanContext().SpanID())
	}
}

// tracerMark is the key of the value markingProvider's tracer puts in the
// contexts it returns, as the SDK does with a runtime/trace task.
type tracerMark struct{}

type markingProvider struct{ trace.TracerProvider }

func (p markingProvider) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return markingTracer{p.TracerProvider.Tracer(name, opts...)}
}

type markingTracer struct{ trace.Tracer }

func (t markingTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	ctx, span := t.Tracer.Start(ctx, name, opts...)
	return context.WithValue(ctx, tracerMark{}, "from the tracer"), span
}

// TestActionEndedThroughContext: an action ended through the span that
// trace.SpanFromContext returns, not the one Action returned, is exported
// once, and the watchdog forgets it rather than report it abandoned.
func TestActionEndedThroughContext(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := setupWatched(t)
		ctx, _ := crstel.Action(context.Background(), crs.Testing, "run_unit_tests", task1, crstel.WithOverdueAfter(time.Second))
		time.Sleep(300 * time.Millisecond)
		trace.SpanFromContext(ctx).End()
		time.Sleep(2 * time.Second)
		if err := w.tel.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := w.got(); len(got) != 0 {
			t.Errorf("reports = %+v, want none", got)
		}
		if n := len(crsteltest.ByName(w.exp.GetSpans().Snapshots(), "run_unit_tests")); n != 1 {
			t.Errorf("action exported %d times, want 1", n)
		}
	})
}

// TestActionUnhashableProvider: a global TracerProvider of a type that ==
// cannot compare (a struct holding a map) works as with the plain API.
func TestActionUnhashableProvider(t *testing.T) {
	rec := crsteltest.NewRecorder(t, crsteltest.WithGlobal())
	unhashable := mapProvider{TracerProvider: rec.Provider(), names: map[string]int{}}
	otel.SetTracerProvider(unhashable)
	for range 2 {
		_, span := crstel.Action(context.Background(), crs.Testing, "run_unit_tests", task1) // the global one
		span.End()
		_, span = crstel.Action(context.Background(), crs.Testing, "run_unit_tests", task1, crstel.WithTracerProvider(unhashable))
		span.End()
	}
	if n := len(crsteltest.ByName(rec.Ended(), "run_unit_tests")); n != 4 {
		t.Errorf("%d actions recorded, want 4", n)
	}
}

type mapProvider struct {
	trace.TracerProvider
	names map[string]int
}

// TestMandatoryAttributesKept: the mandatory attributes and the task
// metadata cannot be replaced, by WithAttributes at the start, nor by
// SetAttributes later on the span Action returns, nor, with Setup's
// pipeline, on the SDK's span trace.SpanFromContext gives; the attempt is
// marked and reported, and setting the same value again is not.
func TestMandatoryAttributesKept(t *testing.T) {
	tests := []struct {
		name     string
		opts     []crstel.ActionOption
		later    func(ctx context.Context, span trace.Span)
		invalid  int  // entries of crstel.invalid
		pipeline bool // only with Setup's pipeline
	}{
		{name: "category in WithAttributes", invalid: 1,
			opts: []crstel.ActionOption{crstel.WithAttributes(attribute.String("crs.action.category", "bogus"))}},
		{name: "name in WithAttributes", invalid: 1,
			opts: []crstel.ActionOption{crstel.WithAttributes(attribute.String("crs.action.name", "other_name"))}},
		{name: "category of another type in WithAttributes", invalid: 1,
			opts: []crstel.ActionOption{crstel.WithAttributes(attribute.Int("crs.action.category", 3))}},
		{name: "task metadata as an int in WithAttributes", invalid: 1,
			opts: []crstel.ActionOption{crstel.WithAttributes(attribute.Int("task.id", 7))}},
		{name: "task metadata with another value in WithAttributes", invalid: 1,
			opts: []crstel.ActionOption{crstel.WithAttributes(attribute.String("round.id", "round-2"))}},
		{name: "crstel.invalid in WithAttributes", invalid: 1,
			opts: []crstel.ActionOption{crstel.WithAttributes(attribute.StringSlice("crstel.invalid", nil))}},
		{name: "two in WithAttributes", invalid: 2,
			opts: []crstel.ActionOption{crstel.WithAttributes(attribute.Bool("team.id", true), attribute.String("crs.action.name", "x"))}},
		{name: "the same values in WithAttributes",
			opts: []crstel.ActionOption{crstel.WithAttributes(crs.ActionCategory(crs.Testing), attribute.String("task.id", "task-1"))}},
		{name: "category set on the span later", invalid: 1,
			later: func(_ context.Context, span trace.Span) {
				span.SetAttributes(attribute.String("crs.action.category", "bogus"))
			}},
		{name: "task metadata as an int on the context's span", invalid: 1, pipeline: true,
			later: func(ctx context.Context, _ trace.Span) {
				trace.SpanFromContext(ctx).SetAttributes(attribute.Int("task.id", 7))
			}},
		{name: "name on the context's span", invalid: 1, pipeline: true,
			later: func(ctx context.Context, _ trace.Span) {
				trace.SpanFromContext(ctx).SetAttributes(crs.ActionName("renamed"))
			}},
		{name: "two set on the span at once, one fine", invalid: 1,
			later: func(_ context.Context, span trace.Span) {
				span.SetAttributes(crs.CodeFile("a.c"), attribute.String("round.id", "other"), crs.CodeLines(1, 2))
			}},
		{name: "at the start and later", invalid: 2,
			opts:  []crstel.ActionOption{crstel.WithAttributes(attribute.Int("round.id", 1))},
			later: func(_ context.Context, span trace.Span) { span.SetAttributes(attribute.Int64("team.id", 1)) }},
		{name: "the same value later",
			later: func(_ context.Context, span trace.Span) { span.SetAttributes(attribute.String("team.id", "team-1")) }},
		{name: "other attributes later",
			later: func(_ context.Context, span trace.Span) {
				span.SetAttributes(crs.CodeFile("main.c"), attribute.Int("task.count", 3))
			}},
	}
	run := func(ctx context.Context, opts []crstel.ActionOption, later func(context.Context, trace.Span)) {
		ctx, span := crstel.Action(ctx, crs.Testing, "run_unit_tests", task1, opts...)
		if later != nil {
			later(ctx, span)
		}
		span.End()
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s sdktrace.ReadOnlySpan
			var errs *crsteltest.ErrorLog
			if tt.pipeline {
				w := setupWatched(t)
				errs = crsteltest.CaptureErrors(t) // global: not in parallel
				run(context.Background(), tt.opts, tt.later)
				w.tel.Shutdown(context.Background())
				s = one(t, w.exp.GetSpans().Snapshots(), "run_unit_tests")
			} else {
				rec := crsteltest.NewRecorder(t)
				errs = crsteltest.CaptureErrors(t)
				run(rec.Context(t.Context()), tt.opts, tt.later)
				s = one(t, rec.Ended(), "run_unit_tests")
			}
			wantAttr(t, s, crs.ActionCategoryKey, attribute.StringValue("testing"))
			wantAttr(t, s, crs.ActionNameKey, attribute.StringValue("run_unit_tests"))
			for k, v := range task1 {
				wantAttr(t, s, attribute.Key(k), attribute.StringValue(v))
			}
			marks := crsteltest.Attrs(s)[crstel.InvalidKey].AsStringSlice()
			if len(marks) != tt.invalid {
				t.Errorf("crstel.invalid = %q, want %d entries", marks, tt.invalid)
			}
			if got := len(errs.Errors()); got != tt.invalid {
				t.Errorf("%d errors reported (%q), want %d", got, errs.Messages(), tt.invalid)
			}
		})
	}
}

// TestInvalidKey: the public key is the one crstel marks spans with.
func TestInvalidKey(t *testing.T) {
	rec := crsteltest.NewRecorder(t)
	crsteltest.CaptureErrors(t)
	_, span := crstel.Action(rec.Context(t.Context()), "bogus_category", "run_unit_tests", task1)
	span.End()
	if _, ok := crsteltest.Attrs(one(t, rec.Ended(), "run_unit_tests"))[crstel.InvalidKey]; !ok {
		t.Errorf("the invalid action has no %s attribute", crstel.InvalidKey)
	}
}
