package crstel_test

import (
	"cmp"
	"context"
	"log/slog"
	"math/rand/v2"
	"runtime"
	"slices"
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

var benchMeta = crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"}

// actionForms are the ways BenchmarkAction and BenchmarkActionTurns make
// the span of an action with benchMeta's five attributes: make is called
// once the benchmark's provider is installed (the global one) and returns
// a function that makes and ends one span. The raw SDK's idioms are
//
//   - raw_set: Start + SetAttributes + End, the fastest;
//   - raw_with: trace.WithAttributes at Start, where samplers see them;
//   - raw_fresh: raw_set with new values on each call, as meta_fresh has;
//   - raw_once: raw_with with its option made once, as Action keeps its
//     options per task;
//   - raw_wrapped: raw_once from a context that carries benchMeta (as
//     with_task's does), started from and ended through a wrapper of the
//     context and the span of about an action's size: the floor of an
//     Action that gives samplers the attributes;
//
// and crstel's forms
//
//   - meta: Action(ctx, category, name, meta), the same metadata map on
//     each call, from a context without metadata: the documented call shape;
//   - meta_in_ctx: the same, from a context that carries that metadata;
//   - meta_fresh: a new map with new values on each call;
//   - with_task: WithTask once, then Action(ctx, category, name, nil).
//
// Each form but raw_set and raw_fresh has the raw forms it is compared with
// as its bases: crstel's with the SDK's fastest idiom and with the idiom
// that gives samplers the attributes, as Action does.
var actionForms = []actionForm{
	{"raw_set", nil, func(tp *sdktrace.TracerProvider) func() {
		tr, ctx := tp.Tracer("raw"), context.Background()
		return func() {
			_, span := tr.Start(ctx, "generate_patch")
			span.SetAttributes(rawAttrs(benchMeta)...)
			span.End()
		}
	}},
	{"raw_with", []string{"raw_set"}, func(tp *sdktrace.TracerProvider) func() {
		tr, ctx := tp.Tracer("raw"), context.Background()
		return func() { rawStart(ctx, tr).End() }
	}},
	{"raw_once", []string{"raw_set"}, func(tp *sdktrace.TracerProvider) func() {
		tr, ctx := tp.Tracer("raw"), context.Background()
		opts := []trace.SpanStartOption{trace.WithAttributes(rawAttrs(benchMeta)...)}
		return func() {
			_, span := tr.Start(ctx, "generate_patch", opts...)
			span.End()
		}
	}},
	{"raw_wrapped", []string{"raw_set"}, func(tp *sdktrace.TracerProvider) func() {
		tr := tp.Tracer("raw")
		ctx := crstel.WithTask(context.Background(), benchMeta)
		opts := []trace.SpanStartOption{trace.WithAttributes(rawAttrs(benchMeta)...)}
		return func() {
			w := &wrapped{Context: ctx}
			_, w.Span = tr.Start(w, "generate_patch", opts...)
			var span trace.Span = w
			span.End()
		}
	}},
	{"meta", crstelBases, func(*sdktrace.TracerProvider) func() {
		ctx := context.Background()
		return func() {
			_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", benchMeta)
			span.End()
		}
	}},
	{"meta_in_ctx", crstelBases, func(*sdktrace.TracerProvider) func() {
		ctx := crstel.WithTask(context.Background(), benchMeta)
		return func() {
			_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", benchMeta)
			span.End()
		}
	}},
	{"with_task", crstelBases, func(*sdktrace.TracerProvider) func() {
		ctx := crstel.WithTask(context.Background(), benchMeta)
		return func() {
			_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
			span.End()
		}
	}},
	{"raw_fresh", nil, func(tp *sdktrace.TracerProvider) func() {
		tr, ctx := tp.Tracer("raw"), context.Background()
		i := 0
		return func() {
			i++
			n := strconv.Itoa(i) // the map is made here, where it can stay on the stack
			meta := crs.Metadata{"round.id": "round-" + n, "task.id": "task-" + n, "team.id": "team-1"}
			_, span := tr.Start(ctx, "generate_patch")
			span.SetAttributes(rawAttrs(meta)...)
			span.End()
		}
	}},
	{"meta_fresh", []string{"raw_fresh"}, func(*sdktrace.TracerProvider) func() {
		ctx := context.Background()
		i := 0
		return func() {
			i++
			n := strconv.Itoa(i)
			meta := crs.Metadata{"round.id": "round-" + n, "task.id": "task-" + n, "team.id": "team-1"}
			_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", meta)
			span.End()
		}
	}},
}

// wrapped is a context and the span started in it, in one allocation of
// about an action's size (112 bytes), for raw_wrapped.
type wrapped struct {
	context.Context
	trace.Span
	_ [10]uintptr
}

// crstelBases are the bases of crstel's forms with benchMeta.
var crstelBases = []string{"raw_set", "raw_with"}

// actionForm is a form of actionForms.
type actionForm struct {
	impl  string
	bases []string
	make  func(tp *sdktrace.TracerProvider) func()
}

// BenchmarkAction compares the actionForms of crstel.Action + End with the
// raw SDK's idioms for the same span with the same five attributes, on the
// same provider (crstel's span processor and a batch span processor), in
// the same run: run it with -count 10 and compare with
// "benchstat -col /impl". BenchmarkActionTurns measures the same forms in
// turn, which this machine's drift affects less.
func BenchmarkAction(b *testing.B) {
	for _, form := range actionForms {
		b.Run("impl="+form.impl, func(b *testing.B) {
			one := form.make(benchProvider(b))
			b.ReportAllocs()
			for b.Loop() {
				one()
			}
		})
	}
}

// BenchmarkActionTurns runs the actionForms in turn on one provider: each
// op makes actionTurn spans with each form, in an order drawn at random
// (so that no form always follows the same one, and pays for its garbage),
// and times each form's turn. It reports the median over the
// ops of each form's time over each of its bases' in the same op
// (meta/raw_set, for example), and each form's median time per span: a
// drift of the machine falls on every form alike, and a turn slowed by a
// pause (a garbage collection, another process) does not move a median.
// It also reports the ratio of all the form's turns to all its base's
// (meta/raw_set_all, say), which counts the pauses: a garbage collection
// falls on the turn it happens in, whichever form made the garbage, so
// that this ratio needs many turns to settle. Run it with -count 10 and
// compare with benchstat.
func BenchmarkActionTurns(b *testing.B) {
	tp := benchProvider(b)
	ones := make([]func(), len(actionForms))
	for i, form := range actionForms {
		ones[i] = form.make(tp)
	}
	took := make([][]time.Duration, len(actionForms)) // took[form][op]
	// The same orders in every run.
	order := rand.New(rand.NewPCG(1, 2))
	for b.Loop() {
		for _, i := range order.Perm(len(actionForms)) {
			start := time.Now()
			for range actionTurn {
				ones[i]()
			}
			took[i] = append(took[i], time.Since(start))
		}
	}
	for i, form := range actionForms {
		b.ReportMetric(float64(median(took[i]))/actionTurn, form.impl+"_ns/span")
		for _, name := range form.bases {
			base := slices.IndexFunc(actionForms, func(f actionForm) bool { return f.impl == name })
			ratios := make([]float64, len(took[i]))
			for op, d := range took[i] {
				ratios[op] = float64(d) / float64(took[base][op])
			}
			b.ReportMetric(median(ratios), form.impl+"/"+name)
			b.ReportMetric(float64(sum(took[i]))/float64(sum(took[base])), form.impl+"/"+name+"_all")
		}
	}
}

// actionTurn is the number of spans a form makes in a turn of
// BenchmarkActionTurns: about half a millisecond.
const actionTurn = 200

// sum returns the sum of ds.
func sum(ds []time.Duration) time.Duration {
	var s time.Duration
	for _, d := range ds {
		s += d
	}
	return s
}

// median returns the median of xs, which it leaves as it is.
func median[T cmp.Ordered](xs []T) T {
	xs = slices.Clone(xs)
	slices.Sort(xs)
	return xs[len(xs)/2]
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
