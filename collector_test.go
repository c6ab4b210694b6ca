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

// throughputSpans is how many actions each run of the throughput
// benchmarks makes.
const throughputSpans = 200_000

// throughputForm is one way of making throughputSpans actions into the
// collector: setup builds the pipeline (untimed), produce makes the spans,
// shutdown flushes them all.
type throughputForm struct {
	name  string
	setup func(b *testing.B, endpoint string) (produce func(), shutdown func() error)
}

// throughputForms are the forms the throughput benchmarks compare: the raw
// SDK's batch span processor (queue 262,144 spans, batches of 2,048,
// blocking: nothing dropped), and Setup's default pipeline (watchdog and
// journal on, the same queue and batches) with the task metadata from
// WithTask or passed on each call.
var throughputForms = []throughputForm{
	{"raw_sdk", func(b *testing.B, endpoint string) (func(), func() error) {
		exp, err := otlptracegrpc.New(context.Background(), otlptracegrpc.WithEndpointURL(endpoint))
		if err != nil {
			b.Fatal(err)
		}
		tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp, sdktrace.WithMaxQueueSize(crstel.DefaultQueueSize),
			sdktrace.WithMaxExportBatchSize(crstel.DefaultBatchSize), sdktrace.WithBlocking()))
		tr := tp.Tracer("raw")
		return func() {
			for range throughputSpans {
				rawStart(context.Background(), tr).End()
			}
		}, func() error { return tp.Shutdown(context.Background()) }
	}},
	{"crstel_with_task", func(b *testing.B, endpoint string) (func(), func() error) {
		tel := throughputSetup(b, endpoint)
		ctx := crstel.WithTask(context.Background(), benchMeta)
		return func() {
			for range throughputSpans {
				_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
				span.End()
			}
		}, throughputShutdown(tel)
	}},
	{"crstel_meta", func(b *testing.B, endpoint string) (func(), func() error) {
		tel := throughputSetup(b, endpoint)
		return func() {
			for range throughputSpans {
				_, span := crstel.Action(context.Background(), crs.PatchGeneration, "generate_patch", benchMeta)
				span.End()
			}
		}, throughputShutdown(tel)
	}},
}

// throughputSetup is Setup's default pipeline sending to endpoint.
func throughputSetup(b *testing.B, endpoint string) *crstel.Telemetry {
	restoreGlobals(b)
	tel, err := crstel.Setup(context.Background(), crstel.WithEndpoint(endpoint), crstel.WithTraceDir(b.TempDir()),
		crstel.WithLogger(slog.New(slog.DiscardHandler)), crstel.WithMetricReader(sdkmetric.NewManualReader()))
	if err != nil {
		b.Fatal(err)
	}
	return tel
}

// throughputShutdown shuts tel down and checks that it exported every span.
func throughputShutdown(tel *crstel.Telemetry) func() error {
	return func() error {
		err := tel.Shutdown(context.Background())
		if st := tel.Stats(); st.Exported != throughputSpans {
			return fmt.Errorf("Stats() = %+v, want %d exported: %v", st, throughputSpans, err)
		}
		return err
	}
}

// throughputCollector is the real collector the throughput benchmarks send
// to (its debug exporter, so that the disk is not measured), and the spans
// it has accepted so far.
type throughputCollector struct {
	c        *collectortest.Collector
	accepted float64
}

// run makes the spans of form, untimed but for producing them and shutting
// the pipeline down, and checks that the collector has them all. It
// returns the time produce and shutdown took.
func (tc *throughputCollector) run(b *testing.B, form throughputForm) time.Duration {
	b.Helper()
	b.StopTimer()
	produce, shutdown := form.setup(b, "http://"+tc.c.Endpoint())
	b.StartTimer()
	start := time.Now()
	produce()
	if err := shutdown(); err != nil {
		b.Fatal(err)
	}
	took := time.Since(start)
	b.StopTimer()
	tc.accepted += throughputSpans
	deadline := time.Now().Add(60 * time.Second)
	for tc.c.Metric(b, "otelcol_receiver_accepted_spans") < tc.accepted && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := tc.c.Metric(b, "otelcol_receiver_accepted_spans"); got != tc.accepted {
		b.Fatalf("the collector accepted %v spans in all, want %v", got, tc.accepted)
	}
	b.StartTimer()
	return took
}

// startThroughputCollector starts the collector of the throughput
// benchmarks; they are skipped with -short.
func startThroughputCollector(b *testing.B) *throughputCollector {
	if testing.Short() {
		b.Skip("needs the collector; skipped with -short")
	}
	return &throughputCollector{c: collectortest.Start(b, collectortest.WithDebugExporter())}
}

// BenchmarkCollectorThroughput sends 200,000 actions as fast as one
// goroutine can into the real OpenTelemetry Collector, each run until
// Shutdown has returned, in each of the throughputForms. Run it with
// -benchtime 1x -count 5 and compare with "benchstat -col /impl": each op
// is 200,000 spans. -count runs each form's runs one after the other, so
// that a drift of the machine over the run counts against the form
// measured last: BenchmarkCollectorThroughputRatio runs them in turn.
func BenchmarkCollectorThroughput(b *testing.B) {
	tc := startThroughputCollector(b)
	for _, form := range throughputForms {
		b.Run("impl="+form.name, func(b *testing.B) {
			for b.Loop() {
				tc.run(b, form)
			}
			b.ReportMetric(float64(throughputSpans)*float64(b.N)/b.Elapsed().Seconds(), "spans/s")
		})
	}
}

// BenchmarkCollectorThroughputRatio runs the throughputForms in turn, one
// run of each per op, and reports each form's spans per second over all
// its runs and its ratio to the raw SDK's: a drift of the machine during
// the benchmark falls on every form alike. Run it with -benchtime 5x.
func BenchmarkCollectorThroughputRatio(b *testing.B) {
	tc := startThroughputCollector(b)
	took := make([]time.Duration, len(throughputForms))
	for b.Loop() {
		for i, form := range throughputForms {
			took[i] += tc.run(b, form)
		}
	}
	for i, form := range throughputForms {
		b.ReportMetric(float64(throughputSpans)*float64(b.N)/took[i].Seconds(), form.name+"_spans/s")
		if i > 0 {
			b.ReportMetric(took[0].Seconds()/took[i].Seconds(), form.name+"/raw_sdk")
		}
	}
}
