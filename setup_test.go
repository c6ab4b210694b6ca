package crstel_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"
	"google.golang.org/grpc/codes"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/internal/envconfig"
	"github.com/crstel/crstel/internal/otlptest"
)

// The tests of Setup change the global tracer provider, propagator, error
// handler and environment, so none of them runs in parallel.

var setupMeta = crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"}

// setupCleanEnv unsets, for the duration of the test, every OTEL_* and
// CRSTEL_* variable, so that the machine's environment does not leak in.
func setupCleanEnv(t *testing.T) {
	t.Helper()
	// Every variable Setup or the SDK reads, even when it is not in the
	// environment now.
	var names []string
	for _, v := range envconfig.Vars {
		names = append(names, v.Name)
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "OTEL_") || strings.HasPrefix(k, "CRSTEL_") {
			names = append(names, k)
		}
	}
	for _, k := range names {
		t.Setenv(k, "") // restores the old value after the test
		if err := os.Unsetenv(k); err != nil {
			t.Fatalf("unsetting %s: %v", k, err)
		}
	}
	t.Setenv("CRSTEL_TRACE_DIR", t.TempDir()) // journals stay out of the user's folders
}

// setupIsolate prepares a test of Setup: a clean environment, a goroutine
// leak check, and the global tracer provider, propagator and error handler
// put back after the test. It returns the log of otel.Handle errors.
func setupIsolate(t *testing.T) *crsteltest.ErrorLog {
	t.Helper()
	// Registered first, so it runs last: after the servers and pipelines
	// of the test have been shut down.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })

	setupCleanEnv(t)
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	l := crsteltest.CaptureErrors(t)
	t.Cleanup(func() {
		// Setting a global to its current value makes the SDK complain.
		if !setupSame(otel.GetTracerProvider(), prevTP) {
			otel.SetTracerProvider(prevTP)
		}
		if !setupSame(otel.GetTextMapPropagator(), prevProp) {
			otel.SetTextMapPropagator(prevProp)
		}
	})
	return l
}

// setupShortExportTimeout makes an export that cannot succeed give up
// within a second, retries included, so that Shutdown does not leave it
// running (and reporting to a later test's error handler).
func setupShortExportTimeout(t *testing.T) {
	t.Helper()
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1000")
	t.Setenv("OTEL_BSP_EXPORT_TIMEOUT", "1000")
}

// setupSame reports whether a and b are the same comparable value.
func setupSame(a, b any) bool {
	return reflect.TypeOf(a) == reflect.TypeOf(b) && reflect.TypeOf(a).Comparable() && a == b
}

// setupStart calls Setup and shuts the result down after the test.
func setupStart(t *testing.T, opts ...crstel.Option) *crstel.Telemetry {
	t.Helper()
	tel, err := crstel.Setup(context.Background(), opts...)
	if err != nil {
		t.Fatalf("Setup: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = tel.Shutdown(ctx)
	})
	return tel
}

// setupShutdown shuts tel down within a bounded time.
func setupShutdown(t *testing.T, tel *crstel.Telemetry) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return tel.Shutdown(ctx)
}

// setupLogger returns a logger writing text lines to the returned buffer.
func setupLogger() (*slog.Logger, *setupBuffer) {
	b := &setupBuffer{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

// setupBuffer is a bytes.Buffer safe for concurrent use.
type setupBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *setupBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *setupBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// setupCaptureStderr points os.Stderr at a pipe until the returned function
// is called, which puts it back and returns what was written. The test's
// cleanup puts it back too, should the test stop early.
func setupCaptureStderr(t *testing.T) func() string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatalf("os.Pipe: %v", err)
	}
	orig := os.Stderr
	os.Stderr = w
	out := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(r)
		_ = r.Close()
		out <- string(b)
	}()
	var once sync.Once
	var got string
	stop := func() string {
		once.Do(func() {
			os.Stderr = orig
			_ = w.Close()
			got = <-out
		})
		return got
	}
	t.Cleanup(func() { stop() })
	return stop
}

// setupRunTask runs the work of a CRS component: a task, an action with
// optional attributes, and a span of third-party instrumentation inside it.
// It returns the action's span context.
func setupRunTask(ctx context.Context) trace.SpanContext {
	ctx = crstel.WithTask(ctx, setupMeta)
	ctx, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil,
		crstel.WithAttributes(crs.CodeFile("vuln_module.c"), crs.EffortWeight(8)))
	_, child := otel.Tracer("third-party").Start(ctx, "http_call", trace.WithSpanKind(trace.SpanKindClient))
	child.End()
	span.End()
	return span.SpanContext()
}

func setupBasic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// setupCheckReceived checks what srv received from setupRunTask.
func setupCheckReceived(t *testing.T, srv *otlptest.Server, action trace.SpanContext, wantAuth string) {
	t.Helper()
	got := srv.Received() // no waiting: Shutdown has flushed
	if len(got) != 2 {
		t.Fatalf("server received %d spans, want 2: %+v", len(got), got)
	}
	var act, child otlptest.Span
	for _, s := range got {
		switch s.Name {
		case "generate_patch":
			act = s
		case "http_call":
			child = s
		}
	}
	if act.Name == "" || child.Name == "" {
		t.Fatalf("received %+v, want generate_patch and http_call", got)
	}
	for _, s := range got {
		want := map[string]any{
			"crs.action.category": "patch_generation",
			"crs.action.name":     "generate_patch",
			"round.id":            "round-1",
			"task.id":             "task-1",
			"team.id":             "team-1",
		}
		for k, v := range want {
			if s.Attributes[k] != v {
				t.Errorf("span %s: %s = %#v, want %#v", s.Name, k, s.Attributes[k], v)
			}
		}
		if s.Resource["service.name"] != "patcher" {
			t.Errorf("span %s: service.name = %#v, want \"patcher\"", s.Name, s.Resource["service.name"])
		}
	}
	if v := act.Attributes["crs.action.effort.weight"]; v != int64(8) {
		t.Errorf("crs.action.effort.weight = %#v (%T), want int64(8)", v, v)
	}
	if v := act.Attributes["crs.action.code.file"]; v != "vuln_module.c" {
		t.Errorf("crs.action.code.file = %#v, want \"vuln_module.c\"", v)
	}
	if act.Scope != crstel.ScopeName || child.Scope != "third-party" {
		t.Errorf("scopes = %q and %q, want %q and \"third-party\"", act.Scope, child.Scope, crstel.ScopeName)
	}
	if act.SpanID != action.SpanID().String() || act.TraceID != action.TraceID().String() {
		t.Errorf("action ids = %s/%s, want %s/%s", act.TraceID, act.SpanID, action.TraceID(), action.SpanID())
	}
	if child.ParentSpanID != act.SpanID || child.TraceID != act.TraceID {
		t.Errorf("child's parent = %s/%s, want the action %s/%s", child.TraceID, child.ParentSpanID, act.TraceID, act.SpanID)
	}
	if child.Kind != int(trace.SpanKindClient) {
		t.Errorf("child kind = %d, want client", child.Kind)
	}

	hs := srv.Headers()
	if len(hs) == 0 {
		t.Fatal("server saw no export call")
	}
	for i, md := range hs {
		if got := md.Get("authorization"); len(got) != 1 || got[0] != wantAuth {
			t.Errorf("export call %d: authorization = %q, want [%q]", i, got, wantAuth)
		}
	}

	crsteltest.AssertConforms(t, otlptest.ToReadOnly(got), crsteltest.WantMetadata(setupMeta))
}

func TestSetupConsoleFallback(t *testing.T) {
	errs := setupIsolate(t)
	logger, logs := setupLogger()
	stderr := setupCaptureStderr(t)

	tel, err := crstel.Setup(context.Background(), crstel.WithServiceName("patcher"), crstel.WithLogger(logger))
	if err != nil {
		stderr()
		t.Fatalf("Setup: %v", err)
	}
	setupRunTask(context.Background())
	shutdownErr := setupShutdown(t, tel)
	out := stderr()

	if shutdownErr != nil {
		t.Errorf("Shutdown: %v", shutdownErr)
	}
	log := logs.String()
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
	if st := tel.Stats(); st != (crstel.Stats{Ended: 2, Exported: 2}) {
		t.Errorf("Stats() = %+v, want 2 ended and exported", st)
	}
	if e := errs.Messages(); len(e) != 0 {
		t.Errorf("otel.Handle got %q, want nothing", e)
	}
}

func TestSetupConsoleOption(t *testing.T) {
	setupIsolate(t)
	logger, logs := setupLogger()
	var buf setupBuffer
	tel := setupStart(t, crstel.WithServiceName("patcher"), crstel.WithLogger(logger), crstel.WithConsole(&buf))
	setupRunTask(context.Background())
	if err := setupShutdown(t, tel); err != nil {
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

func TestSetupTracesExporterEnv(t *testing.T) {
	t.Run("none", func(t *testing.T) {
		errs := setupIsolate(t)
		t.Setenv("OTEL_TRACES_EXPORTER", "none")
		logger, logs := setupLogger()
		stderr := setupCaptureStderr(t)
		tel, err := crstel.Setup(context.Background(), crstel.WithServiceName("patcher"), crstel.WithLogger(logger))
		if err != nil {
			stderr()
			t.Fatalf("Setup: %v", err)
		}
		setupRunTask(context.Background())
		if err := setupShutdown(t, tel); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if out := stderr(); out != "" {
			t.Errorf("stderr got %q, want nothing", out)
		}
		if l := logs.String(); l != "" {
			t.Errorf("logger got %q, want nothing", l)
		}
		if e := errs.Messages(); len(e) != 0 {
			t.Errorf("otel.Handle got %q, want nothing", e)
		}
	})
	t.Run("console", func(t *testing.T) {
		setupIsolate(t)
		t.Setenv("OTEL_TRACES_EXPORTER", "console")
		logger, logs := setupLogger()
		stderr := setupCaptureStderr(t)
		tel, err := crstel.Setup(context.Background(), crstel.WithServiceName("patcher"), crstel.WithLogger(logger))
		if err != nil {
			stderr()
			t.Fatalf("Setup: %v", err)
		}
		setupRunTask(context.Background())
		if err := setupShutdown(t, tel); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if out := stderr(); !strings.Contains(out, "span generate_patch (patch_generation) ") {
			t.Errorf("stderr got %q, want the spans", out)
		}
		if l := logs.String(); l != "" {
			t.Errorf("logger got %q, want no warning when the console is asked for", l)
		}
	})
	t.Run("otlp", func(t *testing.T) {
		setupIsolate(t)
		srv := otlptest.NewServer(t)
		t.Setenv("OTEL_TRACES_EXPORTER", "otlp")
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL())
		tel := setupStart(t, crstel.WithServiceName("patcher"))
		setupRunTask(context.Background())
		if err := setupShutdown(t, tel); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if n := len(srv.Received()); n != 2 {
			t.Errorf("server received %d spans, want 2", n)
		}
	})
	for _, v := range []string{"zipkin", "jaeger", "otlp,console"} {
		t.Run(v, func(t *testing.T) {
			setupIsolate(t)
			t.Setenv("OTEL_TRACES_EXPORTER", v)
			before := otel.GetTracerProvider()
			tel, err := crstel.Setup(context.Background(), crstel.WithServiceName("patcher"))
			if err == nil {
				_ = setupShutdown(t, tel)
				t.Fatalf("Setup with OTEL_TRACES_EXPORTER=%s succeeded, want an error", v)
			}
			if want := "OTEL_TRACES_EXPORTER=" + strconv.Quote(v); !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not name %s", err, want)
			}
			if otel.GetTracerProvider() != before {
				t.Error("a failed Setup installed a tracer provider")
			}
		})
	}
}

// TestSetupPropagatorsEnv: OTEL_PROPAGATORS chooses the propagators, as in
// every OpenTelemetry SDK; leaving out baggage draws a warning, and an
// unknown name an error.
func TestSetupPropagatorsEnv(t *testing.T) {
	for _, tt := range []struct {
		value    string
		wantKeys []string // carrier keys an action's context injects
		warn     bool
		wantErr  string
	}{
		{value: "", wantKeys: []string{"baggage", "traceparent"}},
		{value: "b3,baggage", wantKeys: []string{"b3", "baggage"}},
		{value: "tracecontext", wantKeys: []string{"traceparent"}, warn: true},
		{value: "none", wantKeys: nil, warn: true},
		{value: "tracecontext,zipkin", wantErr: `OTEL_PROPAGATORS="tracecontext,zipkin": unknown propagator: zipkin`},
	} {
		t.Run(cmp.Or(tt.value, "unset"), func(t *testing.T) {
			setupIsolate(t)
			if tt.value != "" {
				t.Setenv("OTEL_PROPAGATORS", tt.value)
			}
			logger, logs := setupLogger()
			tel, err := crstel.Setup(context.Background(), crstel.WithExporter(tracetest.NewInMemoryExporter()), crstel.WithLogger(logger))
			if tt.wantErr != "" {
				if err == nil {
					_ = setupShutdown(t, tel)
					t.Fatalf("Setup succeeded, want an error naming %s", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q, want it to contain %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Setup: %v", err)
			}
			defer setupShutdown(t, tel)
			ctx, span := crstel.Action(crstel.WithTask(context.Background(), setupMeta), crs.Building, "build", nil)
			defer span.End()
			carrier := propagation.MapCarrier{}
			otel.GetTextMapPropagator().Inject(ctx, carrier)
			keys := carrier.Keys()
			slices.Sort(keys)
			if !slices.Equal(keys, tt.wantKeys) {
				t.Errorf("injected %q, want %q", keys, tt.wantKeys)
			}
			if got := strings.Contains(logs.String(), "leaves out baggage"); got != tt.warn {
				t.Errorf("logger got %q; want a warning about baggage: %t", logs.String(), tt.warn)
			}
		})
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
			errs := setupIsolate(t)
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
			tel := setupStart(t, opts...)
			_, span := otel.Tracer("t").Start(context.Background(), "s")
			span.End()
			if err := setupShutdown(t, tel); err != nil {
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
	setupIsolate(t)
	otel.SetTextMapPropagator(propagation.TraceContext{}) // Setup must replace it
	tel := setupStart(t, crstel.WithServiceName("patcher"), crstel.WithExporter(tracetest.NewInMemoryExporter()))

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

	ctx := crstel.WithTask(context.Background(), setupMeta)
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
	errs := setupIsolate(t)
	srv := otlptest.NewServer(t)
	tel := setupStart(t, crstel.WithEndpoint(srv.URL()), crstel.WithServiceName("patcher"))

	_, span := otel.Tracer("t").Start(context.Background(), "last")
	span.End()
	// The batch timeout is a second: only Shutdown's flush makes the span
	// arrive now.
	if err := setupShutdown(t, tel); err != nil {
		t.Errorf("Shutdown: %v, want nil when nothing was lost", err)
	}
	if got := srv.Received(); len(got) != 1 || got[0].Name != "last" {
		t.Errorf("after Shutdown the server has %+v, want the span ended before it", got)
	}
	if err := setupShutdown(t, tel); err != nil {
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

// setupBlockingExporter holds every export until release is closed.
type setupBlockingExporter struct {
	release  chan struct{}
	entered  chan struct{} // closed when the first export starts
	once     sync.Once
	mu       sync.Mutex
	exported int
	batches  []int // sizes of the batches exported, in order
}

func newSetupBlockingExporter() *setupBlockingExporter {
	return &setupBlockingExporter{release: make(chan struct{}), entered: make(chan struct{})}
}

func (e *setupBlockingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	e.batches = append(e.batches, len(spans))
	e.mu.Unlock()
	e.once.Do(func() { close(e.entered) })
	select {
	case <-e.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	e.mu.Lock()
	e.exported += len(spans)
	e.mu.Unlock()
	return nil
}

func (e *setupBlockingExporter) Shutdown(context.Context) error { return nil }

func (e *setupBlockingExporter) batchSizes() []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.batches)
}

func (e *setupBlockingExporter) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.exported
}

func TestSetupCountsDrops(t *testing.T) {
	errs := setupIsolate(t)
	exp := newSetupBlockingExporter()
	// WithBatchSize too, so that the exporter holds the first 10 spans,
	// which fill the queue: its bound counts the batch being exported.
	tel := setupStart(t, crstel.WithServiceName("patcher"), crstel.WithExporter(exp),
		crstel.WithQueueSize(10), crstel.WithBatchSize(10))

	tr := otel.Tracer("t")
	for range 100 {
		_, s := tr.Start(context.Background(), "s")
		s.End() // never blocks: a full queue drops
	}
	close(exp.release)
	shutdownErr := setupShutdown(t, tel)

	st := tel.Stats()
	if st.Ended != 100 || st.Exported+st.Dropped != 100 || st.Dropped < 80 || st.Failed != 0 {
		t.Fatalf("Stats() = %+v, want 100 ended, exported + dropped = 100, at least 80 dropped, none failed", st)
	}
	if int64(exp.count()) != st.Exported {
		t.Errorf("exporter got %d spans, Stats says %d exported", exp.count(), st.Exported)
	}
	dropped := fmt.Sprintf("%d dropped", st.Dropped)
	if shutdownErr == nil || !strings.Contains(shutdownErr.Error(), dropped) ||
		!strings.Contains(shutdownErr.Error(), fmt.Sprintf("%d of 100", st.Lost())) {
		t.Errorf("Shutdown = %v, want an error saying %q and %d of 100", shutdownErr, dropped, st.Lost())
	}
	var reported int
	for _, e := range errs.Messages() {
		if strings.Contains(e, dropped) {
			reported++
		}
	}
	if reported != 1 {
		t.Errorf("otel.Handle got %d errors saying %q, want 1; all: %q", reported, dropped, errs.Messages())
	}
	if again := setupShutdown(t, tel); fmt.Sprint(again) != fmt.Sprint(shutdownErr) {
		t.Errorf("second Shutdown = %v, want the first one's %v", again, shutdownErr)
	}
}

// TestSetupQueueBytes: spans of 10 KB against a queue of 100,000 bytes
// and 1,000 spans, while the exporter holds its first batch: the byte
// bound drops the spans that do not fit, and counts them, for both the
// option and CRSTEL_QUEUE_BYTES.
func TestSetupQueueBytes(t *testing.T) {
	for _, tt := range []struct {
		name string
		opt  crstel.Option
		env  string
	}{
		{name: "option", opt: crstel.WithQueueBytes(100_000)},
		{name: "CRSTEL_QUEUE_BYTES", env: "100000"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			setupIsolate(t)
			if tt.env != "" {
				t.Setenv("CRSTEL_QUEUE_BYTES", tt.env)
			}
			exp := newSetupBlockingExporter()
			tel := setupStart(t, crstel.WithServiceName("patcher"), crstel.WithExporter(exp),
				crstel.WithQueueSize(1000), crstel.WithBatchSize(2), tt.opt)
			tr := otel.Tracer("t")
			prompt := strings.Repeat("x", 10_000)
			for range 50 {
				_, s := tr.Start(context.Background(), "llm", trace.WithAttributes(attribute.String("gen_ai.prompt", prompt)))
				s.End() // never blocks: a full queue drops
			}
			close(exp.release)
			shutdownErr := setupShutdown(t, tel)
			st := tel.Stats()
			t.Logf("50 spans of 10 KB, a queue of 100,000 bytes: %+v", st)
			// At most 9 fit in 100,000 bytes at 10,000 bytes and more each.
			if st.Ended != 50 || st.Exported < 2 || st.Exported > 9 || st.Exported+st.Dropped != 50 {
				t.Errorf("Stats() = %+v, want 50 ended, between 2 and 9 exported, the rest dropped", st)
			}
			if want := fmt.Sprintf("%d dropped", st.Dropped); shutdownErr == nil || !strings.Contains(shutdownErr.Error(), want) {
				t.Errorf("Shutdown = %v, want an error saying %q", shutdownErr, want)
			}
		})
	}
}

func TestSetupQueueBlock(t *testing.T) {
	for _, tt := range []struct {
		name string
		opt  crstel.Option
		env  string
	}{
		{name: "option", opt: crstel.WithQueueFullPolicy(crstel.QueueBlock)},
		{name: "CRSTEL_QUEUE_FULL", env: "block"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			errs := setupIsolate(t)
			if tt.env != "" {
				t.Setenv("CRSTEL_QUEUE_FULL", tt.env)
			}
			exp := newSetupBlockingExporter()
			tel := setupStart(t, crstel.WithServiceName("patcher"), crstel.WithExporter(exp),
				crstel.WithQueueSize(10), crstel.WithBatchSize(10), tt.opt)

			done := make(chan struct{})
			go func() {
				defer close(done)
				tr := otel.Tracer("t")
				for range 100 {
					_, s := tr.Start(context.Background(), "s")
					s.End() // blocks while the queue is full
				}
			}()
			select {
			case <-exp.entered:
			case <-time.After(30 * time.Second):
				t.Fatal("the exporter got no batch")
			}
			select {
			case <-done:
				t.Error("100 spans ended while the exporter held the first batch; want End to block on the full queue")
			default:
			}
			close(exp.release)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("span.End still blocked after the exporter was released")
			}
			if err := setupShutdown(t, tel); err != nil {
				t.Errorf("Shutdown: %v, want nil: nothing lost", err)
			}
			if st := tel.Stats(); st != (crstel.Stats{Ended: 100, Exported: 100}) {
				t.Errorf("Stats() = %+v, want 100 ended and exported", st)
			}
			if e := errs.Messages(); len(e) != 0 {
				t.Errorf("otel.Handle got %q, want nothing", e)
			}
		})
	}
}

// TestSetupQueueSizeBoundsBatch checks that a queue smaller than the
// default batch makes the batches smaller too, so that no more spans wait
// for export than the queue size says, the batch being exported included,
// and QueueBlock blocks once they do. The SDK clamps the batch size to the
// queue size when both come from OTEL_BSP_*, but not when they come from
// its options, which is how Setup passes them.
func TestSetupQueueSizeBoundsBatch(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []crstel.Option
		env  map[string]string
	}{
		{name: "WithQueueSize", opts: []crstel.Option{crstel.WithQueueSize(10)}},
		{name: "OTEL_BSP_MAX_QUEUE_SIZE", env: map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": "10"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			setupIsolate(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			exp := newSetupBlockingExporter()
			close(exp.release)
			opts := append([]crstel.Option{crstel.WithServiceName("patcher"), crstel.WithExporter(exp),
				crstel.WithQueueFullPolicy(crstel.QueueBlock)}, tt.opts...)
			tel := setupStart(t, opts...)
			tr := otel.Tracer("t")
			for range 100 {
				_, s := tr.Start(context.Background(), "s")
				s.End()
			}
			if err := setupShutdown(t, tel); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if st := tel.Stats(); st != (crstel.Stats{Ended: 100, Exported: 100}) {
				t.Errorf("Stats() = %+v, want 100 ended and exported", st)
			}
			if sizes := exp.batchSizes(); len(sizes) == 0 || slices.Max(sizes) > 10 {
				t.Errorf("batch sizes %v with a queue of 10, want none above 10: the batch buffers spans beyond the queue size", sizes)
			}
		})
	}
}

// setupFailingRun is what a pipeline whose exports are all refused
// reported.
type setupFailingRun struct {
	endpoint    string
	secrets     []string
	handled     []string // otel.Handle errors, during the exports and Shutdown
	flushErrs   []string // ForceFlush errors
	shutdownErr error
	logs        string
	stats       crstel.Stats
}

const setupPassword = "hunter2-Sup3r-s3cret"

// setupRunFailing makes batches exports to a server that refuses them all,
// one span and one ForceFlush each. how is "server error", "wrong password"
// or "wrong password from env".
func setupRunFailing(t *testing.T, how string, batches int) setupFailingRun {
	t.Helper()
	errs := setupIsolate(t)
	logger, logs := setupLogger()
	opts := []crstel.Option{crstel.WithServiceName("patcher"), crstel.WithLogger(logger)}
	var srv *otlptest.Server
	switch how {
	case "server error":
		srv = otlptest.NewServer(t, otlptest.WithError(codes.Unauthenticated))
		opts = append(opts, crstel.WithEndpoint(srv.URL()), crstel.WithBasicAuth("crs", setupPassword))
	case "wrong password":
		srv = otlptest.NewServer(t, otlptest.WithBasicAuth("crs", "right"))
		opts = append(opts, crstel.WithEndpoint(srv.URL()), crstel.WithBasicAuth("crs", setupPassword))
	case "wrong password from env":
		srv = otlptest.NewServer(t, otlptest.WithBasicAuth("crs", "right"))
		t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL())
		t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization="+setupBasic("crs", setupPassword))
	default:
		t.Fatalf("unknown case %q", how)
	}
	tel := setupStart(t, opts...)

	run := setupFailingRun{
		endpoint: srv.URL(),
		secrets: []string{
			setupPassword,
			base64.StdEncoding.EncodeToString([]byte("crs:" + setupPassword)),
			setupBasic("crs", setupPassword),
		},
	}
	for i := range batches {
		_, s := otel.Tracer("t").Start(context.Background(), "s"+strconv.Itoa(i))
		s.End()
		if err := tel.ForceFlush(context.Background()); err != nil {
			run.flushErrs = append(run.flushErrs, err.Error())
		}
	}
	run.shutdownErr = setupShutdown(t, tel)
	run.handled = errs.Messages()
	run.logs = logs.String()
	run.stats = tel.Stats()
	// The collector refuses the credentials: exports pause (5 s, doubling)
	// instead of trying every batch.
	if n := srv.Requests(); n < 1 || n > 2 {
		t.Errorf("server got %d export calls for %d flushes within a second, want 1 or 2: exports pause after refused credentials", n, batches)
	}
	return run
}

func TestSetupExportFailureReportedOnce(t *testing.T) {
	const batches = 20
	for _, how := range []string{"server error", "wrong password", "wrong password from env"} {
		t.Run(how, func(t *testing.T) {
			run := setupRunFailing(t, how, batches)

			var credentials []string
			for _, e := range run.handled {
				if strings.Contains(e, "credentials") {
					credentials = append(credentials, e)
				}
			}
			if len(credentials) != 1 {
				t.Errorf("otel.Handle got %d errors about the credentials, want exactly 1: %q", len(credentials), credentials)
			} else if !strings.Contains(credentials[0], run.endpoint) {
				t.Errorf("error %q does not name the endpoint %s", credentials[0], run.endpoint)
			}

			if st := run.stats; st != (crstel.Stats{Ended: batches, Failed: batches}) {
				t.Errorf("Stats() = %+v, want %d ended and failed", st, batches)
			}
			if run.shutdownErr == nil || !strings.Contains(run.shutdownErr.Error(), fmt.Sprintf("%d of %d", batches, batches)) {
				t.Errorf("Shutdown = %v, want an error saying %d of %d spans were lost", run.shutdownErr, batches, batches)
			}

			all := slices.Concat(run.handled, run.flushErrs, []string{fmt.Sprint(run.shutdownErr), run.logs})
			for _, text := range all {
				for _, secret := range run.secrets {
					if strings.Contains(text, secret) {
						t.Errorf("secret %q appears in %q", secret, text)
					}
				}
			}
		})
	}
}

// TestSetupExportFailureNotReportedPerFlush checks that a pipeline whose
// every export fails does not report through otel.Handle once per batch,
// even when the program flushes after every batch.
func TestSetupExportFailureNotReportedPerFlush(t *testing.T) {
	const batches = 20
	run := setupRunFailing(t, "server error", batches)
	// One report of the failure, perhaps one more of the loss at Shutdown.
	if n := len(run.handled); n > 2 {
		t.Errorf("otel.Handle was called %d times for %d failed batches of one ongoing failure, want at most 2; first ones:\n%s",
			n, batches, strings.Join(run.handled[:min(n, 4)], "\n"))
	}
}

func TestSetupEndToEnd(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts func(srv *otlptest.Server) []crstel.Option
	}{
		{"URL", func(srv *otlptest.Server) []crstel.Option {
			return []crstel.Option{crstel.WithEndpoint(srv.URL())}
		}},
		{"host:port and WithInsecure", func(srv *otlptest.Server) []crstel.Option {
			return []crstel.Option{crstel.WithEndpoint(srv.Endpoint()), crstel.WithInsecure()}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			errs := setupIsolate(t)
			srv := otlptest.NewServer(t, otlptest.WithBasicAuth("crs", "s3cret"))
			opts := append(tt.opts(srv), crstel.WithBasicAuth("crs", "s3cret"), crstel.WithServiceName("patcher"))
			tel := setupStart(t, opts...)

			action := setupRunTask(context.Background())
			if err := setupShutdown(t, tel); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			setupCheckReceived(t, srv, action, setupBasic("crs", "s3cret"))
			if srv.MetricRequests() == 0 {
				t.Error("no metrics reached the OTLP server: Setup exports them with the spans' settings")
			}
			if st := tel.Stats(); st != (crstel.Stats{Ended: 2, Exported: 2}) {
				t.Errorf("Stats() = %+v, want 2 ended and exported", st)
			}
			if e := errs.Messages(); len(e) != 0 {
				t.Errorf("otel.Handle got %q, want nothing", e)
			}
		})
	}
}

func TestSetupEndToEndFromEnv(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  func(srv, dead *otlptest.Server) map[string]string
	}{
		{"OTEL_EXPORTER_OTLP_ENDPOINT", func(srv, _ *otlptest.Server) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL()}
		}},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", func(srv, _ *otlptest.Server) map[string]string {
			return map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": srv.URL()}
		}},
		{"traces endpoint wins", func(srv, dead *otlptest.Server) map[string]string {
			return map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT":        dead.URL(),
				"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": srv.URL(),
				"OTEL_METRICS_EXPORTER":              "none", // metrics would rightly go to dead
			}
		}},
		{"OTEL_EXPORTER_OTLP_TRACES_HEADERS", func(srv, _ *otlptest.Server) map[string]string {
			return map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT":       srv.URL(),
				"OTEL_EXPORTER_OTLP_HEADERS":        "Authorization=" + setupBasic("crs", "wrong"),
				"OTEL_EXPORTER_OTLP_TRACES_HEADERS": "Authorization=" + setupBasic("crs", "s3cret"),
				"OTEL_METRICS_EXPORTER":             "none", // metrics would rightly use the wrong header
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			errs := setupIsolate(t)
			srv := otlptest.NewServer(t, otlptest.WithBasicAuth("crs", "s3cret"))
			dead := otlptest.NewServer(t, otlptest.WithError(codes.Unavailable))
			env := map[string]string{
				"OTEL_EXPORTER_OTLP_HEADERS":  "Authorization=" + setupBasic("crs", "s3cret"),
				"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
				"OTEL_SERVICE_NAME":           "patcher",
			}
			for k, v := range tt.env(srv, dead) {
				env[k] = v
			}
			for k, v := range env {
				t.Setenv(k, v)
			}
			tel := setupStart(t)

			action := setupRunTask(context.Background())
			if err := setupShutdown(t, tel); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			setupCheckReceived(t, srv, action, setupBasic("crs", "s3cret"))
			if n := dead.Requests(); n != 0 {
				t.Errorf("the OTEL_EXPORTER_OTLP_ENDPOINT server got %d calls, want 0", n)
			}
			if e := errs.Messages(); len(e) != 0 {
				t.Errorf("otel.Handle got %q, want nothing", e)
			}
		})
	}
}

// TestSetupEnvEndpointWithoutScheme sets OTEL_EXPORTER_OTLP_ENDPOINT to
// "127.0.0.1:PORT", without a scheme. The spans must reach that endpoint,
// or Setup must fail naming the variable: they must not go somewhere else.
func TestSetupEnvEndpointWithoutScheme(t *testing.T) {
	errs := setupIsolate(t)
	setupShortExportTimeout(t)
	srv := otlptest.NewServer(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.Endpoint())
	t.Setenv("OTEL_EXPORTER_OTLP_INSECURE", "true")
	tel, err := crstel.Setup(context.Background(), crstel.WithServiceName("patcher"))
	if err != nil {
		if !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_ENDPOINT") {
			t.Errorf("Setup error %q does not name OTEL_EXPORTER_OTLP_ENDPOINT", err)
		}
		return
	}
	setupRunTask(context.Background())
	shutdownErr := setupShutdown(t, tel)
	if n := len(srv.Received()); n != 2 {
		t.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT=%s accepted, but the server there received %d spans, want 2\nShutdown: %v\notel.Handle: %q",
			srv.Endpoint(), n, shutdownErr, errs.Messages())
	}
}

// TestSetupEndpointOptionKeepsTLS checks WithEndpoint's promise that a
// "host:port" endpoint uses TLS unless WithInsecure is given, even when
// OTEL_EXPORTER_OTLP_ENDPOINT names another, http:// endpoint: the option
// replaces the endpoint, so it must not inherit the variable's plain text.
// The server here has no TLS, so it must receive nothing.
func TestSetupEndpointOptionKeepsTLS(t *testing.T) {
	for _, withEnv := range []bool{false, true} {
		t.Run(fmt.Sprintf("OTEL_EXPORTER_OTLP_ENDPOINT set: %v", withEnv), func(t *testing.T) {
			setupIsolate(t)
			setupShortExportTimeout(t)
			srv := otlptest.NewServer(t)
			other := otlptest.NewServer(t)
			if withEnv {
				t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", other.URL())
			}
			tel := setupStart(t, crstel.WithServiceName("patcher"), crstel.WithEndpoint(srv.Endpoint()),
				crstel.WithBasicAuth("crs", "s3cret"))
			setupRunTask(context.Background())
			_ = setupShutdown(t, tel)
			if n := len(srv.Received()); n != 0 {
				t.Errorf("WithEndpoint(%q) without WithInsecure sent %d spans, and the credentials, in plain text; want TLS",
					srv.Endpoint(), n)
			}
			if n := other.Requests(); n != 0 {
				t.Errorf("the OTEL_EXPORTER_OTLP_ENDPOINT server got %d calls, want 0: WithEndpoint overrides it", n)
			}
		})
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
			setupIsolate(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			before := otel.GetTracerProvider()
			opts := append([]crstel.Option{crstel.WithExporter(tracetest.NewInMemoryExporter())}, tt.opts...)
			tel, err := crstel.Setup(context.Background(), opts...)
			if err == nil {
				_ = setupShutdown(t, tel)
				t.Fatalf("Setup succeeded, want an error naming %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
			if otel.GetTracerProvider() != before {
				t.Error("a failed Setup installed a tracer provider")
			}
		})
	}
}

func TestSetupNilArguments(t *testing.T) {
	setupIsolate(t)
	exp := newSetupBlockingExporter()
	close(exp.release)
	//nolint:staticcheck // a nil context is what is tested
	tel, err := crstel.Setup(nil, nil, crstel.WithServiceName("patcher"), crstel.WithExporter(exp), nil, crstel.WithLogger(nil))
	if err != nil {
		t.Fatalf("Setup(nil, nil option, nil logger): %v", err)
	}
	setupRunTask(context.Background())
	if err := setupShutdown(t, tel); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if n := exp.count(); n != 2 {
		t.Errorf("exported %d spans, want 2", n)
	}
}

// TestSetupTLSFromEnv: an https:// endpoint uses TLS, trusting the CA in
// OTEL_EXPORTER_OTLP_CERTIFICATE; without it the self-signed server is
// refused and the spans are counted as failed.
func TestSetupTLSFromEnv(t *testing.T) {
	for _, withCert := range []bool{true, false} {
		t.Run(fmt.Sprintf("certificate given: %v", withCert), func(t *testing.T) {
			errs := setupIsolate(t)
			setupShortExportTimeout(t)
			srv := otlptest.NewServer(t, otlptest.WithTLS(), otlptest.WithBasicAuth("crs", "s3cret"))
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL())
			if withCert {
				t.Setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", srv.CertFile())
			}
			tel := setupStart(t, crstel.WithServiceName("patcher"), crstel.WithBasicAuth("crs", "s3cret"))
			action := setupRunTask(context.Background())
			err := setupShutdown(t, tel)
			if withCert {
				if err != nil {
					t.Errorf("Shutdown: %v", err)
				}
				setupCheckReceived(t, srv, action, setupBasic("crs", "s3cret"))
				return
			}
			if n := len(srv.Received()); n != 0 {
				t.Errorf("server with an untrusted certificate received %d spans, want 0", n)
			}
			if st := tel.Stats(); st.Failed != 2 {
				t.Errorf("Stats() = %+v, want 2 failed", st)
			}
			if errs.Count(srv.Endpoint()) == 0 {
				t.Errorf("no error names the endpoint: %q", errs.Messages())
			}
		})
	}
}
