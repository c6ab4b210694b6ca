package crstel_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
)

// benchProvider installs a provider as Setup builds it (crstel's span
// processor, then a batch processor) with an exporter that discards, so
// that the benchmarks measure span creation, not the network. The raw and
// crstel benchmarks use the same provider.
func benchProvider(b *testing.B) *sdktrace.TracerProvider {
	b.Helper()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(crstel.NewSpanProcessor()),
		sdktrace.WithBatcher(discard{}, sdktrace.WithMaxQueueSize(crstel.DefaultQueueSize),
			sdktrace.WithMaxExportBatchSize(crstel.DefaultBatchSize)),
	)
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	b.Cleanup(func() {
		otel.SetTracerProvider(prev)
		_ = tp.Shutdown(context.Background())
	})
	return tp
}

type discard struct{}

func (discard) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discard) Shutdown(context.Context) error                             { return nil }

var benchMeta = crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"}

// BenchmarkAction compares crstel.Action + End, with three metadata keys
// set once by WithTask, with the raw SDK's Start + End with the same five
// attributes, on the same provider, in the same run.
func BenchmarkAction(b *testing.B) {
	b.Run("impl=raw_sdk", func(b *testing.B) {
		tr := benchProvider(b).Tracer("raw")
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			_, span := tr.Start(ctx, "generate_patch", trace.WithAttributes(
				attribute.String("crs.action.category", "patch_generation"),
				attribute.String("crs.action.name", "generate_patch"),
				attribute.String("round.id", "round-1"),
				attribute.String("task.id", "task-1"),
				attribute.String("team.id", "team-1"),
			))
			span.End()
		}
	})
	b.Run("impl=crstel", func(b *testing.B) {
		benchProvider(b)
		ctx := crstel.WithTask(context.Background(), benchMeta)
		b.ReportAllocs()
		for b.Loop() {
			_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
			span.End()
		}
	})
	b.Run("impl=crstel_meta_arg", func(b *testing.B) {
		benchProvider(b)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", benchMeta)
			span.End()
		}
	})
}

// BenchmarkStampedChild measures a span started by another tracer inside an
// action, which crstel's processor stamps, against the same span outside
// any action.
func BenchmarkStampedChild(b *testing.B) {
	b.Run("impl=raw_sdk", func(b *testing.B) {
		tr := benchProvider(b).Tracer("third-party")
		ctx, span := tr.Start(context.Background(), "parent")
		defer span.End()
		b.ReportAllocs()
		for b.Loop() {
			_, s := tr.Start(ctx, "GET")
			s.End()
		}
	})
	b.Run("impl=crstel", func(b *testing.B) {
		tr := benchProvider(b).Tracer("third-party")
		ctx := crstel.WithTask(context.Background(), benchMeta)
		ctx, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
		defer span.End()
		b.ReportAllocs()
		for b.Loop() {
			_, s := tr.Start(ctx, "GET")
			s.End()
		}
	})
}
