package logs_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/internal/otlptest"
	"github.com/crstel/crstel/logs"
)

// cleanEnv unsets the variables that would send the test's telemetry
// elsewhere.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, v := range []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
		"OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_LOGS_HEADERS", "OTEL_TRACES_EXPORTER", "OTEL_LOGS_EXPORTER",
		"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES",
	} {
		t.Setenv(v, "")
	}
}

// setup runs crstel.Setup against srv, and returns its Shutdown.
func setup(t *testing.T, srv *otlptest.Server, opts ...crstel.Option) func() error {
	t.Helper()
	opts = append([]crstel.Option{
		crstel.WithServiceName("logs-test"), crstel.WithEndpoint(srv.URL()),
		crstel.WithoutJournal(), crstel.WithMetricReader(sdkmetric.NewManualReader()),
	}, opts...)
	tel, err := crstel.Setup(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	var done bool
	shutdown := func() error {
		done = true
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return tel.Shutdown(ctx)
	}
	t.Cleanup(func() {
		if !done {
			shutdown()
		}
	})
	return shutdown
}

// TestOTLP: records go to a real OTLP gRPC server through Setup's
// LoggerProvider, with the trace context and the action, and to the JSON
// handler too.
func TestOTLP(t *testing.T) {
	cleanEnv(t)
	srv := otlptest.NewServer(t)
	// Made before Setup: the handler finds Setup's provider at each record.
	logger, out := newJSONLogger(logs.WithOTLP())
	shutdown := setup(t, srv)

	ctx := crstel.WithTask(context.Background(), task1)
	ctx, span := crstel.Action(ctx, crs.Building, "build", nil)
	logger.WithGroup("g").With("a", 1).InfoContext(ctx, "compiling", "file", "png.c", "password", "hunter2")
	logger.Warn("outside")
	span.End()
	if err := shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}

	got := srv.WaitForLogs(2, 10*time.Second)
	if len(got) != 2 {
		t.Fatalf("the server got %d log records, want 2", len(got))
	}
	r := got[0]
	sc := span.SpanContext()
	if r.Body != "compiling" || r.SeverityText != "INFO" {
		t.Errorf("body %v, severity %q: want compiling, INFO", r.Body, r.SeverityText)
	}
	if r.TraceID != sc.TraceID().String() || r.SpanID != sc.SpanID().String() {
		t.Errorf("ids %s/%s, want the action's %s/%s", r.TraceID, r.SpanID, sc.TraceID(), sc.SpanID())
	}
	for k, want := range map[string]any{
		"crs.action.category": "building", "crs.action.name": "build",
		"round.id": "round-1", "task.id": "task-1", "team.id": "team-1",
	} {
		if r.Attributes[k] != want {
			t.Errorf("attribute %s = %v, want %v", k, r.Attributes[k], want)
		}
	}
	g, _ := r.Attributes["g"].(map[string]any)
	if g["a"] != int64(1) || g["file"] != "png.c" || g["password"] != logs.Redacted {
		t.Errorf("attribute g = %v, want a=1, file=png.c, password redacted", r.Attributes["g"])
	}
	for _, k := range []string{"trace_id", "span_id", "a", "file"} {
		if v, ok := r.Attributes[k]; ok {
			t.Errorf("attribute %s = %v at the top level, want none", k, v)
		}
	}
	if r.Resource["service.name"] != "logs-test" || r.Scope != logs.ScopeName {
		t.Errorf("resource %v, scope %q", r.Resource, r.Scope)
	}
	if o := got[1]; o.Body != "outside" || o.TraceID != "" || o.Attributes["crs.action.name"] != nil || o.SeverityText != "WARN" {
		t.Errorf("record outside the action: %+v", o)
	}

	// The same records went to the JSON handler.
	recs := out.records(t)
	if len(recs) != 2 || recs[0]["msg"] != "compiling" || recs[0]["span_id"] != sc.SpanID().String() {
		t.Errorf("JSON records %v", recs)
	}

	spans := srv.WaitForSpans(1, 10*time.Second)
	crsteltest.AssertConforms(t, otlptest.ToReadOnly(spans), crsteltest.WantMetadata(task1))
}

func TestOTLPOff(t *testing.T) {
	cleanEnv(t)
	t.Setenv("OTEL_LOGS_EXPORTER", "none")
	srv := otlptest.NewServer(t)
	shutdown := setup(t, srv)
	logger := slog.New(logs.NewHandler(nil, logs.WithOTLP()))
	ctx, span := crstel.Action(crstel.WithTask(context.Background(), task1), crs.Testing, "run_tests", nil)
	if logger.Enabled(ctx, slog.LevelError) {
		t.Error("the handler is enabled with logs off and no next handler")
	}
	logger.InfoContext(ctx, "ran")
	span.End()
	if err := shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if n := len(srv.WaitForSpans(1, 10*time.Second)); n != 1 {
		t.Errorf("the server got %d spans, want 1", n)
	}
	if n := srv.LogRequests(); n != 0 {
		t.Errorf("the server got %d log export calls with OTEL_LOGS_EXPORTER=none, want 0", n)
	}
}

func TestBadLogsExporterVariable(t *testing.T) {
	cleanEnv(t)
	t.Setenv("OTEL_LOGS_EXPORTER", "zipkin")
	_, err := crstel.Setup(context.Background(), crstel.WithoutJournal(), crstel.WithConsole(io.Discard))
	if err == nil || !strings.Contains(err.Error(), "OTEL_LOGS_EXPORTER") {
		t.Errorf("Setup with OTEL_LOGS_EXPORTER=zipkin: %v, want an error naming the variable", err)
	}
}

// TestLogsLost: records the exporter fails on are counted and reported by
// Shutdown.
func TestLogsLost(t *testing.T) {
	cleanEnv(t)
	srv := otlptest.NewServer(t)
	errs := crsteltest.CaptureErrors(t)
	shutdown := setup(t, srv, crstel.WithLogExporter(failingExporter{}))
	logger := slog.New(logs.NewHandler(nil, logs.WithOTLP()))
	for range 3 {
		logger.Info("lost")
	}
	err := shutdown()
	if err == nil || !strings.Contains(err.Error(), "3 of 3 log records were not exported") {
		t.Errorf("Shutdown: %v, want 3 of 3 log records lost", err)
	}
	if errs.Count("log records were not exported") == 0 {
		t.Error("the loss did not reach otel.Handle")
	}
}

type failingExporter struct{}

func (failingExporter) Export(context.Context, []sdklog.Record) error {
	return errors.New("collector refused")
}
func (failingExporter) Shutdown(context.Context) error   { return nil }
func (failingExporter) ForceFlush(context.Context) error { return nil }

// TestWithLoggerProvider: records go to the given provider, not the
// global one.
func TestWithLoggerProvider(t *testing.T) {
	cleanEnv(t)
	srv := otlptest.NewServer(t)
	shutdown := setup(t, srv)
	exp := &memoryExporter{}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)))
	defer lp.Shutdown(context.Background())
	logger := slog.New(logs.NewHandler(nil, logs.WithLoggerProvider(lp)))
	logger.Info("mine", "k", "v")
	if err := shutdown(); err != nil {
		t.Fatal(err)
	}
	if len(exp.records) != 1 || exp.records[0].Body().AsString() != "mine" {
		t.Errorf("the provider got %d records, want the one logged", len(exp.records))
	}
	if n := len(srv.Logs()); n != 0 {
		t.Errorf("the global provider exported %d records, want 0", n)
	}
}

type memoryExporter struct{ records []sdklog.Record }

func (e *memoryExporter) Export(_ context.Context, rs []sdklog.Record) error {
	for _, r := range rs {
		e.records = append(e.records, r.Clone())
	}
	return nil
}
func (*memoryExporter) Shutdown(context.Context) error   { return nil }
func (*memoryExporter) ForceFlush(context.Context) error { return nil }
