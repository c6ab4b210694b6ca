package crstel_test

// End-to-end tests against the real OpenTelemetry Collector, which
// collectortest builds from the nested module internal/collectortest/otelcol.

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/internal/collectortest"
	"github.com/crstel/crstel/internal/otlptest"
)

// restoreGlobals puts the global provider and propagator back after a test
// that calls Setup.
func restoreGlobals(t testing.TB) {
	tp, prop := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	t.Cleanup(func() {
		otel.SetTracerProvider(tp)
		otel.SetTextMapPropagator(prop)
	})
}

// skipCollectorIfShort skips a test of the real collector under -short:
// collectortest builds it from sources fetched through the Go module proxy,
// so that go test -short ./... passes offline, with a cold cache.
func skipCollectorIfShort(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the real OpenTelemetry Collector, which collectortest builds through the Go module proxy; skipped with -short")
	}
}

// TestCollectorExport: spans configured by the specification's environment
// variables reach the real collector, conforming, with the resource.
func TestCollectorExport(t *testing.T) {
	skipCollectorIfShort(t)
	restoreGlobals(t)
	c := collectortest.Start(t, collectortest.WithBasicAuth("crs", "s3cret"))
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"+c.Endpoint())
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Basic "+base64.StdEncoding.EncodeToString([]byte("crs:s3cret")))
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
	t.Setenv("OTEL_SERVICE_NAME", "patcher")
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=test")
	errs := crsteltest.CaptureErrors(t)

	ctx := context.Background()
	tel, err := crstel.Setup(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ctx = crstel.WithTask(ctx, task1)
	ctx, action := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil,
		crstel.WithAttributes(crs.CodeFile("vuln_module.c"), crs.EffortWeight(8)))
	_, llm := otel.Tracer("llm-client").Start(ctx, "chat gpt-4o")
	llm.End()
	action.End()
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	spans := c.WaitForSpans(t, 2, 30*time.Second)
	if len(spans) != 2 {
		t.Fatalf("collector received %d spans, want 2", len(spans))
	}
	crsteltest.AssertConforms(t, otlptest.ToReadOnly(spans), crsteltest.WantMetadata(task1))
	for _, s := range spans {
		if s.Resource["service.name"] != "patcher" || s.Resource["deployment.environment"] != "test" {
			t.Errorf("span %q resource = %v, want service.name=patcher, deployment.environment=test", s.Name, s.Resource)
		}
		if s.Name == "generate_patch" && s.Attributes["crs.action.effort.weight"] != int64(8) {
			t.Errorf("effort weight = %#v, want int64 8", s.Attributes["crs.action.effort.weight"])
		}
	}
	if all := errs.Errors(); len(all) != 0 {
		t.Errorf("otel.Handle got %v, want nothing", all)
	}
}

// TestCollectorWrongCredentials: the collector refuses wrong credentials;
// crstel reports one clear error naming the endpoint but not the secret,
// however many batches fail, and counts the lost spans.
func TestCollectorWrongCredentials(t *testing.T) {
	skipCollectorIfShort(t)
	restoreGlobals(t)
	c := collectortest.Start(t, collectortest.WithBasicAuth("crs", "s3cret"))
	errs := crsteltest.CaptureErrors(t)
	const password = "wrong-password"
	secret := base64.StdEncoding.EncodeToString([]byte("crs:" + password))

	ctx := context.Background()
	tel, err := crstel.Setup(ctx, crstel.WithEndpoint("http://"+c.Endpoint()), crstel.WithBasicAuth("crs", password))
	if err != nil {
		t.Fatal(err)
	}
	const batches = 10
	for range batches {
		_, span := crstel.Action(crstel.WithTask(ctx, task1), crs.Testing, "run_unit_tests", nil)
		span.End()
		tel.ForceFlush(ctx) // one export request each
	}
	serr := tel.Shutdown(ctx)

	if got := errs.Count("credentials"); got != 1 {
		t.Errorf("got %d credential errors through otel.Handle, want 1; all: %v", got, errs.Errors())
	}
	if errs.Count(c.Endpoint()) == 0 {
		t.Errorf("no error names the endpoint %s: %v", c.Endpoint(), errs.Errors())
	}
	all := append(errs.Errors(), serr)
	for _, err := range all {
		if err != nil && (strings.Contains(err.Error(), password) || strings.Contains(err.Error(), secret)) {
			t.Errorf("error reveals the credentials: %v", err)
		}
	}
	if st := tel.Stats(); st.Failed != batches || st.Exported != 0 {
		t.Errorf("Stats = %+v, want Failed=%d, Exported=0", st, batches)
	}
	if serr == nil || !strings.Contains(serr.Error(), "10 of 10 spans") {
		t.Errorf("Shutdown error = %v, want it to count 10 of 10 spans lost", serr)
	}
	if n := c.Metric(t, "otelcol_receiver_accepted_spans"); n != 0 {
		t.Errorf("collector accepted %v spans, want 0", n)
	}
}

// TestCollectorBurst: 200,000 actions made as fast as one goroutine can,
// with default settings, all reach the collector.
func TestCollectorBurst(t *testing.T) {
	if testing.Short() {
		t.Skip("200,000 spans; skipped with -short")
	}
	restoreGlobals(t)
	c := collectortest.Start(t)
	errs := crsteltest.CaptureErrors(t)
	const n = 200_000

	ctx := context.Background()
	tel, err := crstel.Setup(ctx, crstel.WithEndpoint("http://"+c.Endpoint()))
	if err != nil {
		t.Fatal(err)
	}
	ctx = crstel.WithTask(ctx, task1)
	start := time.Now()
	for range n {
		_, span := crstel.Action(ctx, crs.Fuzzing, "fuzz_iteration", nil)
		span.End()
	}
	made := time.Since(start)
	if err := tel.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	total := time.Since(start)

	st := tel.Stats()
	t.Logf("%d actions made in %v (%.0f/s); all exported in %v (%.0f spans/s); %+v",
		n, made.Round(time.Millisecond), n/made.Seconds(), total.Round(time.Millisecond), n/total.Seconds(), st)
	if st.Ended != n || st.Exported != n || st.Lost() != 0 {
		t.Errorf("Stats = %+v, want %d ended and exported, none lost", st, n)
	}
	deadline := time.Now().Add(60 * time.Second)
	var accepted float64
	for time.Now().Before(deadline) {
		if accepted = c.Metric(t, "otelcol_receiver_accepted_spans"); accepted >= n {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if accepted != n {
		t.Errorf("collector accepted %v spans, want %d", accepted, n)
	}
	if all := errs.Errors(); len(all) != 0 {
		t.Errorf("otel.Handle got %v, want nothing", all)
	}
}

// BenchmarkCollectorThroughput sends 200,000 actions as fast as one
// goroutine can into the real OpenTelemetry Collector (its debug exporter,
// so that the disk is not measured), each run until Shutdown has returned,
// through the raw SDK's batch span processor (queue 262,144 spans, batches
// of 2,048, blocking: nothing dropped) and through Setup's default
// pipeline (watchdog and journal on, the same queue and batches), with the
// task metadata from WithTask or passed on each call. Run it with
// -benchtime 1x -count 5 and compare with "benchstat -col /impl": each op
// is 200,000 spans.
func BenchmarkCollectorThroughput(b *testing.B) {
	if testing.Short() {
		b.Skip("needs the collector; skipped with -short")
	}
	c := collectortest.Start(b, collectortest.WithDebugExporter())
	const n = 200_000
	endpoint := "http://" + c.Endpoint()
	accepted := 0.0
	// run makes n spans with produce, then shuts the pipeline down, and
	// checks that the collector has them all.
	run := func(b *testing.B, setup func(b *testing.B) (produce func(), shutdown func() error)) {
		b.Helper()
		for b.Loop() {
			b.StopTimer()
			produce, shutdown := setup(b)
			b.StartTimer()
			produce()
			if err := shutdown(); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			accepted += n
			deadline := time.Now().Add(60 * time.Second)
			for c.Metric(b, "otelcol_receiver_accepted_spans") < accepted && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
			}
			if got := c.Metric(b, "otelcol_receiver_accepted_spans"); got != accepted {
				b.Fatalf("the collector accepted %v spans in all, want %v", got, accepted)
			}
			b.StartTimer()
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
	}
	b.Run("impl=raw_sdk", func(b *testing.B) {
		run(b, func(b *testing.B) (func(), func() error) {
			exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpointURL(endpoint))
			if err != nil {
				b.Fatal(err)
			}
			tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithMaxQueueSize(crstel.DefaultQueueSize),
				sdktrace.WithMaxExportBatchSize(crstel.DefaultBatchSize), sdktrace.WithBlocking()))
			tr := tp.Tracer("raw")
			return func() {
				for range n {
					rawStart(context.Background(), tr).End()
				}
			}, func() error { return tp.Shutdown(context.Background()) }
		})
	})
	setup := func(b *testing.B) *crstel.Telemetry {
		restoreGlobals(b)
		tel, err := crstel.Setup(context.Background(), crstel.WithEndpoint(endpoint), crstel.WithTraceDir(b.TempDir()),
			crstel.WithLogger(slog.New(slog.DiscardHandler)), crstel.WithMetricReader(sdkmetric.NewManualReader()))
		if err != nil {
			b.Fatal(err)
		}
		return tel
	}
	shutdown := func(tel *crstel.Telemetry) func() error {
		return func() error {
			err := tel.Shutdown(context.Background())
			if st := tel.Stats(); st.Exported != n {
				return fmt.Errorf("Stats() = %+v, want %d exported: %v", st, n, err)
			}
			return err
		}
	}
	b.Run("impl=crstel_with_task", func(b *testing.B) {
		run(b, func(b *testing.B) (func(), func() error) {
			tel := setup(b)
			ctx := crstel.WithTask(context.Background(), benchMeta)
			return func() {
				for range n {
					_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
					span.End()
				}
			}, shutdown(tel)
		})
	})
	b.Run("impl=crstel_meta", func(b *testing.B) {
		run(b, func(b *testing.B) (func(), func() error) {
			tel := setup(b)
			return func() {
				for range n {
					_, span := crstel.Action(context.Background(), crs.PatchGeneration, "generate_patch", benchMeta)
					span.End()
				}
			}, shutdown(tel)
		})
	})
}
