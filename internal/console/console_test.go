package console_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel/internal/console"
)

// seqIDs gives spans the ids 1, 2, 3, ... and every trace the id 0xab...,
// so that the output is the same on every run.
type seqIDs struct {
	mu sync.Mutex
	n  uint64
}

func (g *seqIDs) NewIDs(context.Context) (trace.TraceID, trace.SpanID) {
	return traceID(), g.next()
}

func (g *seqIDs) NewSpanID(context.Context, trace.TraceID) trace.SpanID { return g.next() }

func (g *seqIDs) next() trace.SpanID {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.n++
	var id trace.SpanID
	binary.BigEndian.PutUint64(id[:], g.n)
	return id
}

func traceID() trace.TraceID {
	var id trace.TraceID
	for i := range id {
		id[i] = 0xab
	}
	return id
}

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// record runs fn with a tracer of a real SDK provider and returns the spans
// it ended, in the order they ended.
func record(t *testing.T, fn func(tr trace.Tracer), opts ...sdktrace.TracerProviderOption) []sdktrace.ReadOnlySpan {
	t.Helper()
	sr := tracetest.NewSpanRecorder()
	opts = append([]sdktrace.TracerProviderOption{
		sdktrace.WithIDGenerator(&seqIDs{}),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", "patcher"))),
		sdktrace.WithSpanProcessor(sr),
	}, opts...)
	tp := sdktrace.NewTracerProvider(opts...)
	fn(tp.Tracer("test"))
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	return sr.Ended()
}

func TestWrite(t *testing.T) {
	spans := record(t, func(tr trace.Tracer) {
		ctx, root := tr.Start(context.Background(), "generate_patch", trace.WithTimestamp(t0),
			trace.WithAttributes(
				attribute.String("task.id", "task-1"),
				attribute.String("crs.action.name", "generate_patch"),
				attribute.String("crs.action.category", "patch_generation"),
				attribute.Int("crs.action.effort.weight", 8),
				attribute.StringSlice("fuzz.corpus.additions", []string{"a", `b "c"`, ""}),
				attribute.Bool("ok", false),
				attribute.Float64("ratio", 0.25),
				attribute.Int64Slice("ints", []int64{1, 2}),
				attribute.String("quoted", "line\nbreak"),
				attribute.BoolSlice("flags", []bool{true, false}),
				attribute.Float64Slice("floats", []float64{0.5, math.Inf(1)}),
				attribute.Float64("inf", math.Inf(-1)),
			))
		_, linked := tr.Start(context.Background(), "cause", trace.WithTimestamp(t0))
		linked.End(trace.WithTimestamp(t0.Add(2500 * time.Millisecond)))

		_, child := tr.Start(ctx, "http_call", trace.WithTimestamp(t0.Add(time.Millisecond)),
			trace.WithSpanKind(trace.SpanKindClient),
			trace.WithLinks(trace.Link{
				SpanContext: linked.SpanContext(),
				Attributes:  []attribute.KeyValue{attribute.String("why", "fan-in"), attribute.Int("a", 1)},
			}))
		child.AddEvent("retry", trace.WithTimestamp(t0.Add(1500*time.Microsecond)),
			trace.WithAttributes(attribute.Int("attempt", 2), attribute.String("after", "1s")))
		child.SetStatus(codes.Error, `refused "x"`)
		child.End(trace.WithTimestamp(t0.Add(1750 * time.Microsecond)))

		root.SetStatus(codes.Ok, "")
		root.End(trace.WithTimestamp(t0.Add(1234567 * time.Microsecond)))
	})
	if len(spans) != 3 {
		t.Fatalf("recorded %d spans, want 3", len(spans))
	}

	tid := strings.Repeat("ab", 16)
	for _, tt := range []struct {
		span string
		want string
	}{
		{"cause", "span cause 2.5s UNSET service=patcher\n" +
			"  trace=" + tid + " span=0000000000000002\n"},
		{"http_call", "span http_call 750µs ERROR \"refused \\\"x\\\"\" kind=client service=patcher\n" +
			"  trace=" + tid + " span=0000000000000003 parent=0000000000000001\n" +
			"  link trace=" + tid + " span=0000000000000002\n" +
			"    a = 1\n" +
			"    why = \"fan-in\"\n" +
			"  event retry at +500µs\n" +
			"    after = \"1s\"\n" +
			"    attempt = 2\n"},
		{"generate_patch", "span generate_patch (patch_generation) 1.235s OK service=patcher\n" +
			"  trace=" + tid + " span=0000000000000001\n" +
			"  crs.action.category = \"patch_generation\"\n" +
			"  crs.action.effort.weight = 8\n" +
			"  crs.action.name = \"generate_patch\"\n" +
			"  flags = [true,false]\n" +
			"  floats = [0.5,\"Infinity\"]\n" +
			"  fuzz.corpus.additions = [\"a\", \"b \\\"c\\\"\", \"\"]\n" +
			"  inf = -Infinity\n" +
			"  ints = [1,2]\n" +
			"  ok = false\n" +
			"  quoted = \"line\\nbreak\"\n" +
			"  ratio = 0.25\n" +
			"  task.id = \"task-1\"\n"},
	} {
		t.Run(tt.span, func(t *testing.T) {
			var s sdktrace.ReadOnlySpan
			for _, r := range spans {
				if r.Name() == tt.span {
					s = r
				}
			}
			if got := console.String(s); got != tt.want {
				t.Errorf("String() =\n%s\nwant\n%s", got, tt.want)
			}
			var b bytes.Buffer
			console.Write(&b, s)
			if b.String() != console.String(s) {
				t.Errorf("Write wrote\n%s\nString returned\n%s", b.String(), console.String(s))
			}
		})
	}
}

func TestWriteDurations(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"},
		{-time.Second, "0s"},
		{1234 * time.Nanosecond, "1µs"},
		{1500 * time.Microsecond, "1.5ms"},
		{1234567 * time.Nanosecond, "1.23ms"},
		{999999 * time.Microsecond, "1s"},
		{90 * time.Minute, "1h30m0s"},
	} {
		t.Run(tt.d.String(), func(t *testing.T) {
			s := tracetest.SpanStub{Name: "s", StartTime: t0, EndTime: t0.Add(tt.d)}.Snapshot()
			header, _, _ := strings.Cut(console.String(s), "\n")
			if want := "span s " + tt.want + " UNSET"; header != want {
				t.Errorf("header = %q, want %q", header, want)
			}
		})
	}
}

func TestWriteDroppedAttributes(t *testing.T) {
	spans := record(t, func(tr trace.Tracer) {
		_, s := tr.Start(context.Background(), "s", trace.WithAttributes(
			attribute.Int("a", 1), attribute.Int("b", 2), attribute.Int("c", 3)))
		s.End()
	}, sdktrace.WithRawSpanLimits(sdktrace.SpanLimits{
		AttributeCountLimit: 1, AttributeValueLengthLimit: -1,
		EventCountLimit: -1, LinkCountLimit: -1, AttributePerEventCountLimit: -1, AttributePerLinkCountLimit: -1,
	}))
	got := console.String(spans[0])
	if !strings.Contains(got, "  (2 attributes dropped by the span limits)\n") {
		t.Errorf("output does not report the 2 dropped attributes:\n%s", got)
	}
}

func TestWriteNoResource(t *testing.T) {
	s := tracetest.SpanStub{Name: "bare", StartTime: t0, EndTime: t0}.Snapshot()
	want := "span bare 0s UNSET\n  trace=" + strings.Repeat("0", 32) + " span=" + strings.Repeat("0", 16) + "\n"
	if got := console.String(s); got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestWriteDoesNotChangeTheSpan(t *testing.T) {
	ss := []string{"x", "y"}
	spans := record(t, func(tr trace.Tracer) {
		_, s := tr.Start(context.Background(), "s", trace.WithAttributes(
			attribute.StringSlice("ss", ss), attribute.String("b", "1"), attribute.String("a", "2")))
		s.End()
	})
	before := spans[0].Attributes()
	_ = console.String(spans[0])
	after := spans[0].Attributes()
	if len(before) != len(after) {
		t.Fatalf("attributes changed from %v to %v", before, after)
	}
	for i := range before {
		if before[i] != after[i] {
			t.Errorf("attribute %d changed from %v to %v", i, before[i], after[i])
		}
	}
	if got := after[0].Value.AsStringSlice(); got[0] != "x" || got[1] != "y" {
		t.Errorf("string slice became %q", got)
	}
}

func TestExporter(t *testing.T) {
	var buf bytes.Buffer
	exp := console.New(&buf)
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithIDGenerator(&seqIDs{}),
		sdktrace.WithSyncer(exp))
	tr := tp.Tracer("test")
	for _, name := range []string{"one", "two"} {
		_, s := tr.Start(context.Background(), name, trace.WithTimestamp(t0))
		s.End(trace.WithTimestamp(t0.Add(time.Second)))
	}
	want := "span one 1s UNSET service=unknown_service:"
	if got := buf.String(); !strings.HasPrefix(got, want) || !strings.Contains(got, "\nspan two 1s UNSET") {
		t.Errorf("exporter wrote\n%s\nwant span one then span two", got)
	}

	// The provider's Shutdown shuts the exporter down.
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	n := buf.Len()
	s := tracetest.SpanStub{Name: "late"}.Snapshot()
	if err := exp.ExportSpans(context.Background(), []sdktrace.ReadOnlySpan{s}); err == nil {
		t.Error("ExportSpans after Shutdown succeeded, want an error")
	}
	if buf.Len() != n {
		t.Errorf("ExportSpans after Shutdown wrote %q", buf.String()[n:])
	}
	if err := exp.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

type failingWriter struct{}

var errWrite = errors.New("disk full")

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestExporterWriteError(t *testing.T) {
	exp := console.New(failingWriter{})
	s := tracetest.SpanStub{Name: "s"}.Snapshot()
	if err := exp.ExportSpans(context.Background(), []sdktrace.ReadOnlySpan{s}); !errors.Is(err, errWrite) {
		t.Errorf("ExportSpans = %v, want %v", err, errWrite)
	}
}

// lineWriter fails the test if two writes interleave: each ExportSpans
// must write whole spans.
type lineWriter struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.Write(p)
}

func TestExporterConcurrent(t *testing.T) {
	w := &lineWriter{}
	exp := console.New(w)
	spans := record(t, func(tr trace.Tracer) {
		for range 10 {
			_, s := tr.Start(context.Background(), "s", trace.WithTimestamp(t0),
				trace.WithAttributes(attribute.String("k", strings.Repeat("v", 100))))
			s.End(trace.WithTimestamp(t0))
		}
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := exp.ExportSpans(context.Background(), spans); err != nil {
				t.Errorf("ExportSpans: %v", err)
			}
		})
	}
	wg.Wait()
	one := console.String(spans[0])
	out := w.buf.String()
	if got, want := strings.Count(out, one[:strings.Index(one, "\n")+1]), 80; got != want {
		t.Errorf("got %d span headers, want %d", got, want)
	}
	for _, s := range strings.SplitAfter(out, "span s ")[1:] {
		if !strings.Contains(s, "k = \""+strings.Repeat("v", 100)+"\"\n") {
			t.Fatalf("interleaved output: %q", s)
		}
	}
}
