package crsteltest_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
)

// startAttrs is a span processor that keeps, by span name, the attributes
// each span has when it starts; the rest it passes to a SpanRecorder.
type startAttrs struct {
	*tracetest.SpanRecorder
	mu    sync.Mutex
	attrs map[string][]attribute.KeyValue
}

func (p *startAttrs) OnStart(ctx context.Context, s sdktrace.ReadWriteSpan) {
	p.mu.Lock()
	p.attrs[s.Name()] = s.Attributes()
	p.mu.Unlock()
	p.SpanRecorder.OnStart(ctx, s)
}

// spanIDs returns the span ids of spans.
func spanIDs[S ~[]E, E interface{ SpanContext() trace.SpanContext }](spans S) []trace.SpanID {
	var ids []trace.SpanID
	for _, s := range spans {
		ids = append(ids, s.SpanContext().SpanID())
	}
	return ids
}

// TestWithSpanProcessor: the processor given sees the spans the Recorder
// records, started and ended, after crstel's processor has stamped them;
// a nil processor is ignored.
func TestWithSpanProcessor(t *testing.T) {
	t.Parallel()
	t.Run("processor", func(t *testing.T) {
		t.Parallel()
		p := &startAttrs{SpanRecorder: tracetest.NewSpanRecorder(), attrs: make(map[string][]attribute.KeyValue)}
		rec := crsteltest.NewRecorder(t, crsteltest.WithSpanProcessor(p))
		ctx := crstel.WithTask(rec.Context(t.Context()), task)
		ctx, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
		_, child := rec.Provider().Tracer("llm").Start(ctx, "chat")
		child.End()
		span.End()

		if len(rec.Ended()) != 2 {
			t.Fatalf("the recorder has %d ended spans, want 2", len(rec.Ended()))
		}
		if got, want := spanIDs(p.Started()), spanIDs(rec.Started()); !slices.Equal(got, want) {
			t.Errorf("the processor saw %v start, want the recorder's %v", got, want)
		}
		if got, want := spanIDs(p.Ended()), spanIDs(rec.Ended()); !slices.Equal(got, want) {
			t.Errorf("the processor saw %v end, want the recorder's %v", got, want)
		}
		// crstel's processor stamps a span started inside an action with the
		// action and the task when it starts: before the processor given.
		started := attribute.NewSet(p.attrs["chat"]...)
		for _, kv := range []attribute.KeyValue{crs.ActionName("generate_patch"), attribute.String("task.id", "task-1")} {
			if v, _ := started.Value(kv.Key); v != kv.Value {
				t.Errorf("%s = %q when the processor saw the span start, want %q", kv.Key, v.String(), kv.Value.String())
			}
		}
	})
	t.Run("nil", func(t *testing.T) {
		t.Parallel()
		rec := crsteltest.NewRecorder(t, crsteltest.WithSpanProcessor(nil))
		_, span := rec.Provider().Tracer("t").Start(t.Context(), "work")
		span.End()
		if got := len(rec.Ended()); got != 1 {
			t.Errorf("the recorder has %d ended spans, want 1", got)
		}
	})
}
