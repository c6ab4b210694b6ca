package crstel_test

import (
	"context"
	"log/slog"
	"runtime"
	"strconv"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
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

// rawAttrs are the five attributes of an Action with benchMeta.
func rawAttrs(meta crs.Metadata) []attribute.KeyValue {
	return []attribute.KeyValue{
		attribute.String("crs.action.category", "patch_generation"),
		attribute.String("crs.action.name", "generate_patch"),
		attribute.String("round.id", meta["round.id"]),
		attribute.String("task.id", meta["task.id"]),
		attribute.String("team.id", meta["team.id"]),
	}
}

// rawStart starts with the raw SDK the span an Action with benchMeta makes,
// giving samplers the attributes at the start (trace.WithAttributes).
func rawStart(ctx context.Context, tr trace.Tracer) trace.Span {
	_, span := tr.Start(ctx, "generate_patch", trace.WithAttributes(rawAttrs(benchMeta)...))
	return span
}

// benchRaw measures rawStart + End with tr.
func benchRaw(b *testing.B, tr trace.Tracer) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		rawStart(ctx, tr).End()
	}
}

// benchRawSet measures the raw SDK's fastest idiom: Start, then
// SetAttributes with the same five attributes, then End.
func benchRawSet(b *testing.B, tr trace.Tracer) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, span := tr.Start(ctx, "generate_patch")
		span.SetAttributes(rawAttrs(benchMeta)...)
		span.End()
	}
}

var benchMeta = crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"}

// BenchmarkAction compares the forms of crstel.Action + End with the raw
// SDK's two idioms for the same span with the same five attributes, on the
// same provider (crstel's span processor and a batch span processor), in
// the same run: run it with -count 10 and compare with
// "benchstat -col /impl". The raw idioms are raw_set (Start +
// SetAttributes + End, the fastest) and raw_with (trace.WithAttributes at
// Start, where samplers see them); the crstel forms are
//
//   - meta: Action(ctx, category, name, meta), the same metadata map on
//     each call, from a context without metadata: the documented call shape;
//   - meta_in_ctx: the same, from a context that carries that metadata;
//   - meta_fresh: a new map with new values on each call;
//   - with_task: WithTask once, then Action(ctx, category, name, nil).
func BenchmarkAction(b *testing.B) {
	b.Run("impl=raw_set", func(b *testing.B) {
		benchRawSet(b, benchProvider(b).Tracer("raw"))
	})
	b.Run("impl=raw_with", func(b *testing.B) {
		benchRaw(b, benchProvider(b).Tracer("raw"))
	})
	b.Run("impl=meta", func(b *testing.B) {
		benchProvider(b)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", benchMeta)
			span.End()
		}
	})
	b.Run("impl=meta_in_ctx", func(b *testing.B) {
		benchProvider(b)
		ctx := crstel.WithTask(context.Background(), benchMeta)
		b.ReportAllocs()
		for b.Loop() {
			_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", benchMeta)
			span.End()
		}
	})
	b.Run("impl=meta_fresh", func(b *testing.B) {
		benchProvider(b)
		ctx := context.Background()
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			n := strconv.Itoa(i)
			meta := crs.Metadata{"round.id": "round-" + n, "task.id": "task-" + n, "team.id": "team-1"}
			_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", meta)
			span.End()
		}
	})
	b.Run("impl=with_task", func(b *testing.B) {
		benchProvider(b)
		benchActionInTask(b)
	})
}

// benchActionInTask measures Action + End in a context with benchMeta as
// the task, with the global provider.
func benchActionInTask(b *testing.B) {
	ctx := crstel.WithTask(context.Background(), benchMeta)
	b.ReportAllocs()
	for b.Loop() {
		_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
		span.End()
	}
}

// BenchmarkActionFreshRaw is the raw SDK's SetAttributes idiom with the
// values of meta_fresh: new strings on each call, as the map is.
func BenchmarkActionFreshRaw(b *testing.B) {
	tr := benchProvider(b).Tracer("raw")
	ctx := context.Background()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		n := strconv.Itoa(i)
		meta := crs.Metadata{"round.id": "round-" + n, "task.id": "task-" + n, "team.id": "team-1"}
		_, span := tr.Start(ctx, "generate_patch")
		span.SetAttributes(rawAttrs(meta)...)
		span.End()
	}
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

// watchdogProvider is Setup's pipeline with the watchdog and the journal on
// and an exporter that discards.
func watchdogProvider(b *testing.B, opts ...crstel.Option) *crstel.Telemetry {
	b.Helper()
	prev := otel.GetTracerProvider()
	tel, err := crstel.Setup(context.Background(), append([]crstel.Option{
		crstel.WithExporter(discard{}), crstel.WithTraceDir(b.TempDir()),
		crstel.WithLogger(slog.New(slog.DiscardHandler)),
	}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		tel.Shutdown(context.Background())
		otel.SetTracerProvider(prev)
	})
	return tel
}

// BenchmarkExportPipeline compares the same raw SDK span through Setup's
// export pipeline (the counting, and the queue bounded in spans and bytes,
// in front of the batch span processor) with the SDK's batch span processor
// alone, with the same queue and batch sizes, in the same run.
func BenchmarkExportPipeline(b *testing.B) {
	b.Run("impl=raw_sdk", func(b *testing.B) {
		benchRaw(b, benchProvider(b).Tracer("raw"))
	})
	b.Run("impl=crstel", func(b *testing.B) {
		benchRaw(b, watchdogProvider(b, crstel.WithoutJournal()).TracerProvider().Tracer("raw"))
	})
}

// BenchmarkActionWatchdog compares Action + End with the watchdog and the
// journal on (Setup's pipeline) with the raw SDK's Start + End with the
// same five attributes on the same provider, in the same run.
//
// A metric reader is given, so that crstel's instruments record as they do
// when the metrics are exported (a provider without reader drops them).
func BenchmarkActionWatchdog(b *testing.B) {
	b.Run("impl=raw_sdk", func(b *testing.B) {
		benchRaw(b, watchdogProvider(b, crstel.WithMetricReader(sdkmetric.NewManualReader())).TracerProvider().Tracer("raw"))
	})
	b.Run("impl=crstel", func(b *testing.B) {
		watchdogProvider(b, crstel.WithMetricReader(sdkmetric.NewManualReader()))
		benchActionInTask(b)
	})
}

// BenchmarkOpenActions measures the memory of 1,000,000 simultaneously open
// actions against as many open raw SDK spans with the same attributes, and
// how long after its budget one hung action among them is reported.
// Run it with -benchtime=1x.
func BenchmarkOpenActions(b *testing.B) {
	const n = 1_000_000
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	reported := make(chan time.Time, 1)
	tel := watchdogProvider(b, crstel.WithOnReport(func(r crstel.Report) {
		if r.Name == "hung" {
			select {
			case reported <- time.Now():
			default:
			}
		}
	}))
	tr := tel.TracerProvider().Tracer("raw")
	ctx := crstel.WithTask(context.Background(), benchMeta)
	spans := make([]trace.Span, n)
	for b.Loop() {
		base := heap()
		for i := range spans {
			spans[i] = rawStart(ctx, tr)
		}
		raw := heap() - base
		for _, s := range spans {
			s.End()
		}
		clear(spans)
		tel.ForceFlush(context.Background())

		base = heap()
		for i := range spans {
			_, spans[i] = crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil, crstel.WithOverdueAfter(time.Hour))
		}
		tel.ForceFlush(context.Background()) // the journal's start records are written, not queued
		time.Sleep(500 * time.Millisecond)
		actions := heap() - base
		b.ReportMetric(float64(raw)/n, "raw_B/span")
		b.ReportMetric(float64(actions)/n, "crstel_B/action")
		b.ReportMetric((float64(actions)-float64(raw))/n, "extra_B/action")

		budget := time.Second
		_, hung := crstel.Action(ctx, crs.PatchGeneration, "hung", nil, crstel.WithOverdueAfter(budget))
		start := time.Now()
		select {
		case at := <-reported:
			b.ReportMetric(float64(at.Sub(start)-budget)/float64(time.Millisecond), "report_after_budget_ms")
		case <-time.After(budget + 30*time.Second):
			b.Errorf("the hung action among %d open ones was not reported within budget + 30 s", n)
		}
		hung.End()
		for _, s := range spans {
			s.End()
		}
		clear(spans)
	}
}
