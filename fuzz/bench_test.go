package fuzz_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/fuzz"
)

// BenchmarkRecord compares Record with the raw SDK making the same span
// with the same attributes, inside a fuzzing action, with crstel's span
// processor and a processor that drops spans.
func BenchmarkRecord(b *testing.B) {
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithResource(resource.Empty()),
		sdktrace.WithSpanProcessor(crstel.NewSpanProcessor()),
	)
	b.Cleanup(func() { tp.Shutdown(context.Background()) })
	ctx := crstel.WithTask(context.Background(), task)
	ctx, action := crstel.Action(ctx, crs.Fuzzing, "fuzz_test_network_inputs", nil)
	defer action.End()
	u := fuzz.CorpusUpdate{
		Method:    fuzz.MethodPeriodic,
		Time:      time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Size:      1500,
		Additions: []string{"inputA", "inputB"},
	}

	b.Run("fuzz.Record", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			fuzz.Record(ctx, u, fuzz.WithTracerProvider(tp))
		}
	})
	b.Run("raw-sdk", func(b *testing.B) {
		tr := tp.Tracer(fuzz.ScopeName)
		b.ReportAllocs()
		for b.Loop() {
			_, span := tr.Start(ctx, fuzz.SpanName, trace.WithAttributes(
				attribute.String("fuzz.corpus.update.method", string(u.Method)),
				attribute.String("fuzz.corpus.update.time", u.Time.UTC().Format(time.RFC3339Nano)),
				attribute.Int("fuzz.corpus.size", u.Size),
				attribute.StringSlice("fuzz.corpus.additions", u.Additions),
				attribute.Bool("fuzz.corpus.full_snapshot", u.FullSnapshot),
			))
			span.End()
		}
	})
}
