package crstel_test

import (
	"context"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
)

var task1 = crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"}

func TestActionEveryCategory(t *testing.T) {
	for _, c := range crs.Categories() {
		t.Run(string(c), func(t *testing.T) {
			rec := crsteltest.NewRecorder(t)
			ctx := crstel.WithTask(context.Background(), task1)
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
	rec := crsteltest.NewRecorder(t)
	ctx := crstel.WithTask(context.Background(), crs.Metadata{"a": "ctx", "b": "ctx"})
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
	rec := crsteltest.NewRecorder(t)
	ctx := crstel.WithTask(context.Background(), task1)
	_, cause := otel.Tracer("test").Start(ctx, "finding")
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
	rec := crsteltest.NewRecorder(t)
	ctx := crstel.WithTask(context.Background(), task1)
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
	for _, s := range byName(spans, "generate_seeds") {
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
		rec := crsteltest.NewRecorder(t)
		_, span := crstel.Action(context.Background(), crs.Testing, "run_unit_tests", task1)
		span.End()
		if got := len(rec.Ended()); got != 1 {
			t.Errorf("provider %d recorded %d spans, want 1", i, got)
		}
	}
}

// TestSpanFromContext: the context Action returns holds the span Action
// returns, so that code that ends or decorates "the current span" acts on
// the action, and children started from it are its children.
func TestSpanFromContext(t *testing.T) {
	rec := crsteltest.NewRecorder(t)
	ctx, span := crstel.Action(context.Background(), crs.Testing, "run_unit_tests", task1)
	if got := trace.SpanFromContext(ctx); got != span {
		t.Errorf("SpanFromContext(ctx) = %T %v, want the span Action returned", got, got)
	}
	_, child := otel.Tracer("other").Start(ctx, "child")
	child.End()
	trace.SpanFromContext(ctx).End()
	if got := one(t, rec.Ended(), "child").Parent().SpanID(); got != span.SpanContext().SpanID() {
		t.Errorf("child parent = %s, want %s", got, span.SpanContext().SpanID())
	}
	if got := len(byName(rec.Ended(), "run_unit_tests")); got != 1 {
		t.Errorf("action ended %d times through SpanFromContext, want 1", got)
	}
}
