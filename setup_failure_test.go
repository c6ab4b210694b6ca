package crstel_test

import (
	"context"
	"os"
	"reflect"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
)

// TestSetupFailureLeavesNothing: a Setup that fails shuts down what the
// options handed to it (it took ownership), and leaves no goroutine, no
// connection, no journal and no global state behind: not strict mode, not
// the global providers or propagator.
func TestSetupFailureLeavesNothing(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		opts []crstel.Option
	}{
		{name: "a bad variable", env: map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": "abc"}},
		{name: "a bad option", opts: []crstel.Option{crstel.WithQueueSize(-1)}},
		{name: "an unknown budget", opts: []crstel.Option{crstel.WithBudgets(map[string]time.Duration{"compile": time.Second})}},
		{name: "a negative budget", opts: []crstel.Option{crstel.WithBudgets(map[string]time.Duration{"building": -time.Second})}},
		{name: "a bad CRSTEL_OVERDUE", env: map[string]string{"CRSTEL_OVERDUE": "building=soon"}},
		{name: "a bad endpoint with an OTLP pipeline", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "127.0.0.1:4317"}},
		{name: "a bad header", env: map[string]string{"OTEL_EXPORTER_OTLP_HEADERS": "Authorization: Basic x"}},
		{name: "strict mode asked and a bad option", env: map[string]string{"CRSTEL_STRICT": "1"},
			opts: []crstel.Option{crstel.WithStrict(), crstel.WithBatchSize(-5)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			dir := t.TempDir()
			t.Setenv("CRSTEL_TRACE_DIR", dir)
			before := globals()
			strictBefore := strictNow(t)

			var spanExp shutdownCounter
			logExp := &countingLogShutdown{}
			reader := &countingReader{Reader: sdkmetric.NewManualReader()}
			proc := &countingProcessor{SpanProcessor: sdktrace.NewSimpleSpanProcessor(tracetest.NewInMemoryExporter())}
			opts := append([]crstel.Option{
				crstel.WithExporter(&spanExp), crstel.WithLogExporter(logExp), crstel.WithMetricReader(reader),
				crstel.WithSpanProcessor(proc),
			}, tt.opts...)
			tel, err := crstel.Setup(context.Background(), opts...)
			if err == nil {
				tel.Shutdown(context.Background())
				t.Fatal("Setup succeeded, want an error")
			}
			if tel != nil {
				t.Error("Setup returned a Telemetry with its error")
			}
			for name, n := range map[string]int32{
				"span exporter": spanExp.n.Load(), "log exporter": logExp.n.Load(),
				"metric reader": reader.n.Load(), "span processor": proc.n.Load(),
			} {
				if n != 1 {
					t.Errorf("the %s given was shut down %d times, want once", name, n)
				}
			}
			if after := globals(); !reflect.DeepEqual(after, before) { // a composite propagator is not comparable
				t.Errorf("globals after a failed Setup = %+v, want %+v", after, before)
			}
			if got := strictNow(t); got != strictBefore {
				t.Errorf("strict mode after a failed Setup = %v, want %v", got, strictBefore)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 0 {
				t.Errorf("a failed Setup left %d files in the journal folder", len(entries))
			}
			// isolate checks that no goroutine is left.
		})
	}
}

// globalSet is the identity of the OpenTelemetry globals.
type globalSet struct{ tp, mp, lp, prop any }

func globals() globalSet {
	return globalSet{otel.GetTracerProvider(), otel.GetMeterProvider(), otel.GetLoggerProvider(), otel.GetTextMapPropagator()}
}

// strictNow reports whether strict mode is on, by whether an invalid
// action panics.
func strictNow(t *testing.T) (strict bool) {
	t.Helper()
	crsteltest.CaptureErrors(t)
	defer func() {
		if recover() != nil {
			strict = true
		}
	}()
	_, span := crstel.Action(context.Background(), crs.Category("no_such_category"), "probe", nil)
	span.End()
	return false
}

type shutdownCounter struct{ n atomic.Int32 }

func (*shutdownCounter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (e *shutdownCounter) Shutdown(context.Context) error                           { e.n.Add(1); return nil }

type countingLogShutdown struct{ n atomic.Int32 }

func (*countingLogShutdown) Export(context.Context, []sdklog.Record) error { return nil }
func (*countingLogShutdown) ForceFlush(context.Context) error              { return nil }
func (e *countingLogShutdown) Shutdown(context.Context) error              { e.n.Add(1); return nil }

type countingReader struct {
	sdkmetric.Reader
	n atomic.Int32
}

func (r *countingReader) Shutdown(ctx context.Context) error {
	r.n.Add(1)
	return r.Reader.Shutdown(ctx)
}

type countingProcessor struct {
	sdktrace.SpanProcessor
	n atomic.Int32
}

func (p *countingProcessor) Shutdown(ctx context.Context) error {
	p.n.Add(1)
	return p.SpanProcessor.Shutdown(ctx)
}
