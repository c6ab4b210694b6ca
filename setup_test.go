package crstel_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/internal/otlptest"
)

// Tests of Setup itself: the console, the resource, the globals it
// installs, Shutdown and bad arguments. The tests of Setup change the global
// tracer provider, propagator, error handler and environment, so none of
// them runs in parallel; see isolate.

func TestSetupConsoleFallback(t *testing.T) {
	errs := isolate(t)
	run := runPrinting(t, crstel.WithServiceName("patcher"))
	out, log := run.stderr, run.logs
	if n := strings.Count(log, "\n"); n != 1 {
		t.Errorf("logger got %d lines, want exactly 1 warning:\n%s", n, log)
	}
	for _, want := range []string{"level=WARN", "stderr", "OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_EXPORTER=none"} {
		if !strings.Contains(log, want) {
			t.Errorf("warning %q does not mention %s", log, want)
		}
	}
	for _, want := range []string{
		"span generate_patch (patch_generation) ",
		" service=patcher\n",
		"span http_call (patch_generation) ",
		"  crs.action.effort.weight = 8\n",
		"  task.id = \"task-1\"\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stderr lacks %q; it has:\n%s", want, out)
		}
	}
	if st := run.tel.Stats(); st != (crstel.Stats{Ended: 2, Exported: 2}) {
		t.Errorf("Stats() = %+v, want 2 ended and exported", st)
	}
	if e := errs.Messages(); len(e) != 0 {
		t.Errorf("otel.Handle got %q, want nothing", e)
	}
}

func TestSetupConsoleOption(t *testing.T) {
	isolate(t)
	logger, logs := textLogger()
	var buf syncBuffer
	tel := startSetup(t, crstel.WithServiceName("patcher"), crstel.WithLogger(logger), crstel.WithConsole(&buf))
	runTask(context.Background())
	if err := shutdownTel(t, tel); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if l := logs.String(); l != "" {
		t.Errorf("WithConsole logged %q, want no warning", l)
	}
	out := buf.String()
	if !strings.HasPrefix(out, "span http_call (patch_generation) ") || !strings.Contains(out, "\nspan generate_patch (patch_generation) ") {
		t.Errorf("console got\n%s\nwant http_call then generate_patch", out)
	}
}

func TestSetupResource(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	exeName := strings.TrimSuffix(filepath.Base(exe), filepath.Ext(exe))

	for _, tt := range []struct {
		name        string
		option      string // WithServiceName, if not ""
		envName     string // OTEL_SERVICE_NAME
		envAttrs    string // OTEL_RESOURCE_ATTRIBUTES
		extra       []attribute.KeyValue
		wantService string
		want        map[string]string
	}{
		{
			name: "option wins", option: "opt", envName: "env", envAttrs: "service.name=attr",
			wantService: "opt",
		},
		{
			name: "OTEL_SERVICE_NAME beats OTEL_RESOURCE_ATTRIBUTES", envName: "env", envAttrs: "service.name=attr",
			wantService: "env",
		},
		{
			name: "OTEL_RESOURCE_ATTRIBUTES", envAttrs: "service.name=attr,deployment.environment=ci",
			wantService: "attr", want: map[string]string{"deployment.environment": "ci"},
		},
		{
			name: "executable name", wantService: exeName,
		},
		{
			name: "other keys kept", option: "opt", envAttrs: "team=blue,deployment.environment=ci",
			wantService: "opt", want: map[string]string{"team": "blue", "deployment.environment": "ci"},
		},
		{
			name: "WithResourceAttributes beats OTEL_RESOURCE_ATTRIBUTES", option: "opt", envAttrs: "team=blue,zone=a",
			extra:       []attribute.KeyValue{attribute.String("team", "red")},
			wantService: "opt", want: map[string]string{"team": "red", "zone": "a"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			errs := isolate(t)
			t.Setenv("OTEL_TRACES_EXPORTER", "none")
			if tt.envName != "" {
				t.Setenv("OTEL_SERVICE_NAME", tt.envName)
			}
			if tt.envAttrs != "" {
				t.Setenv("OTEL_RESOURCE_ATTRIBUTES", tt.envAttrs)
			}
			sr := tracetest.NewSpanRecorder()
			opts := []crstel.Option{crstel.WithSpanProcessor(sr), crstel.WithResourceAttributes(tt.extra...)}
			if tt.option != "" {
				opts = append(opts, crstel.WithServiceName(tt.option))
			}
			tel := startSetup(t, opts...)
			_, span := otel.Tracer("t").Start(context.Background(), "s")
			span.End()
			if err := shutdownTel(t, tel); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			ended := sr.Ended()
			if len(ended) != 1 {
				t.Fatalf("recorded %d spans, want 1", len(ended))
			}
			res := ended[0].Resource().Set()
			get := func(k string) (attribute.Value, bool) { return res.Value(attribute.Key(k)) }

			if v, _ := get("service.name"); v.AsString() != tt.wantService {
				t.Errorf("service.name = %q, want %q", v.AsString(), tt.wantService)
			}
			for k, want := range tt.want {
				if v, _ := get(k); v.AsString() != want {
					t.Errorf("%s = %q, want %q", k, v.AsString(), want)
				}
			}
			if v, ok := get("process.pid"); !ok || v.AsInt64() != int64(os.Getpid()) {
				t.Errorf("process.pid = %v, want %d", v.String(), os.Getpid())
			}
			for _, k := range []string{"host.name", "process.executable.name", "process.runtime.name", "telemetry.sdk.language"} {
				if v, ok := get(k); !ok || v.String() == "" {
					t.Errorf("resource lacks %s", k)
				}
			}
			for _, k := range []string{"process.command_args", "process.command_line", "process.command"} {
				if v, ok := get(k); ok {
					t.Errorf("resource has %s = %s; the command line may hold secrets", k, v.String())
				}
			}
			if e := errs.Messages(); len(e) != 0 {
				t.Errorf("otel.Handle got %q, want nothing", e)
			}
		})
	}
}

func TestSetupInstallsGlobals(t *testing.T) {
	isolate(t)
	otel.SetTextMapPropagator(propagation.TraceContext{}) // Setup must replace it
	tel := startSetup(t, crstel.WithServiceName("patcher"), crstel.WithExporter(tracetest.NewInMemoryExporter()))

	if got := otel.GetTracerProvider(); got != trace.TracerProvider(tel.TracerProvider()) {
		t.Errorf("global tracer provider = %T %p, want Setup's %p", got, got, tel.TracerProvider())
	}
	if got := otel.GetMeterProvider(); got != metric.MeterProvider(tel.MeterProvider()) || tel.MeterProvider() == nil {
		t.Errorf("global meter provider = %T %p, want Setup's %p", got, got, tel.MeterProvider())
	}
	fields := otel.GetTextMapPropagator().Fields()
	for _, f := range []string{"traceparent", "tracestate", "baggage"} {
		if !slices.Contains(fields, f) {
			t.Errorf("propagator fields %q lack %s", fields, f)
		}
	}

	ctx := crstel.WithTask(context.Background(), task1)
	ctx, span := otel.Tracer("t").Start(ctx, "s")
	defer span.End()
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	if carrier["traceparent"] == "" || !strings.Contains(carrier["baggage"], "task.id=task-1") {
		t.Errorf("injected %v, want traceparent and the task in baggage", carrier)
	}
	got := otel.GetTextMapPropagator().Extract(context.Background(), carrier)
	if sc := trace.SpanContextFromContext(got); sc.TraceID() != span.SpanContext().TraceID() {
		t.Errorf("extracted trace id %s, want %s", sc.TraceID(), span.SpanContext().TraceID())
	}
	if m := baggage.FromContext(got).Member("round.id"); m.Value() != "round-1" {
		t.Errorf("extracted baggage round.id = %q, want round-1", m.Value())
	}
}

func TestSetupShutdown(t *testing.T) {
	errs := isolate(t)
	srv := otlptest.NewServer(t)
	tel := startSetup(t, crstel.WithEndpoint(srv.URL()), crstel.WithServiceName("patcher"))

	_, span := otel.Tracer("t").Start(context.Background(), "last")
	span.End()
	// The batch timeout is a second: only Shutdown's flush makes the span
	// arrive now.
	if err := shutdownTel(t, tel); err != nil {
		t.Errorf("Shutdown: %v, want nil when nothing was lost", err)
	}
	if got := srv.Received(); len(got) != 1 || got[0].Name != "last" {
		t.Errorf("after Shutdown the server has %+v, want the span ended before it", got)
	}
	if err := shutdownTel(t, tel); err != nil {
		t.Errorf("second Shutdown: %v, want nil again", err)
	}
	if st := tel.Stats(); st != (crstel.Stats{Ended: 1, Exported: 1}) {
		t.Errorf("Stats() = %+v, want 1 ended and exported", st)
	}

	// Spans that end after Shutdown are not exported, and nothing breaks.
	_, late := otel.Tracer("t").Start(context.Background(), "late")
	late.End()
	if err := tel.ForceFlush(context.Background()); err != nil {
		t.Logf("ForceFlush after Shutdown: %v", err)
	}
	if n := len(srv.Received()); n != 1 {
		t.Errorf("server has %d spans after a span ended past Shutdown, want 1", n)
	}
	if e := errs.Messages(); len(e) != 0 {
		t.Errorf("otel.Handle got %q, want nothing", e)
	}
}

func TestSetupBadOptions(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []crstel.Option
		env  map[string]string
		want []string
	}{
		{name: "negative queue size", opts: []crstel.Option{crstel.WithQueueSize(-1)}, want: []string{"WithQueueSize(-1)"}},
		{name: "negative batch size", opts: []crstel.Option{crstel.WithBatchSize(-7)}, want: []string{"WithBatchSize(-7)"}},
		{name: "negative queue bytes", opts: []crstel.Option{crstel.WithQueueBytes(-5)}, want: []string{"WithQueueBytes(-5)"}},
		{name: "unknown policy", opts: []crstel.Option{crstel.WithQueueFullPolicy(crstel.QueueFullPolicy(7))}, want: []string{"WithQueueFullPolicy(7)"}},
		{name: "blank service name", opts: []crstel.Option{crstel.WithServiceName("  ")}, want: []string{`WithServiceName("  ")`}},
		{
			name: "all at once",
			opts: []crstel.Option{crstel.WithQueueSize(-1), crstel.WithBatchSize(-2)},
			want: []string{"WithQueueSize(-1)", "WithBatchSize(-2)"},
		},
		{name: "bad CRSTEL_QUEUE_FULL", env: map[string]string{"CRSTEL_QUEUE_FULL": "wait"}, want: []string{`CRSTEL_QUEUE_FULL="wait"`}},
		{name: "bad CRSTEL_STRICT", env: map[string]string{"CRSTEL_STRICT": "maybe"}, want: []string{`CRSTEL_STRICT="maybe"`}},
		{name: "bad OTEL_BSP_MAX_QUEUE_SIZE", env: map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": "-5"}, want: []string{`OTEL_BSP_MAX_QUEUE_SIZE="-5"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			before := otel.GetTracerProvider()
			opts := append([]crstel.Option{crstel.WithExporter(tracetest.NewInMemoryExporter())}, tt.opts...)
			tel, err := crstel.Setup(context.Background(), opts...)
			wantSetupError(t, tel, err, tt.want...)
			if otel.GetTracerProvider() != before {
				t.Error("a failed Setup installed a tracer provider")
			}
		})
	}
}

func TestSetupNilArguments(t *testing.T) {
	isolate(t)
	exp := newBlockingExporter()
	close(exp.release)
	//lint:ignore SA1012 a nil context is what is tested
	tel, err := crstel.Setup(nil, nil, crstel.WithServiceName("patcher"), crstel.WithExporter(exp), nil, crstel.WithLogger(nil))
	if err != nil {
		t.Fatalf("Setup(nil, nil option, nil logger): %v", err)
	}
	runTask(context.Background())
	if err := shutdownTel(t, tel); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if n := exp.count(); n != 2 {
		t.Errorf("exported %d spans, want 2", n)
	}
}
