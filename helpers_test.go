package crstel_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"io"
	"log/slog"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/internal/envconfig"
)

// one returns the only ended span named name, failing the test otherwise.
func one(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	got := crsteltest.ByName(spans, name)
	if len(got) != 1 {
		t.Fatalf("got %d spans named %q, want 1", len(got), name)
	}
	return got[0]
}

// wantAttr fails the test unless s has key with value want.
func wantAttr(t *testing.T, s sdktrace.ReadOnlySpan, key attribute.Key, want attribute.Value) {
	t.Helper()
	got, ok := crsteltest.Attrs(s)[key]
	if !ok {
		t.Errorf("span %q: attribute %s missing, want %s", s.Name(), key, want.String())
		return
	}
	if got != want {
		t.Errorf("span %q: %s = %s (%s), want %s (%s)", s.Name(), key, got.String(), got.Type(), want.String(), want.Type())
	}
}

// cleanEnv unsets, for the duration of the test, every OTEL_* and
// CRSTEL_* variable, so that the machine's environment does not leak in.
func cleanEnv(t *testing.T) {
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
	t.Setenv("CRSTEL_AUDIT_DIR", t.TempDir()) // and so do audit trails
}

// isolate prepares a test of Setup: a clean environment, a goroutine
// leak check, and the global tracer provider, propagator and error handler
// put back after the test. It returns the log of otel.Handle errors.
func isolate(t *testing.T) *crsteltest.ErrorLog {
	t.Helper()
	// Registered first, so it runs last: after the servers and pipelines
	// of the test have been shut down.
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })

	cleanEnv(t)
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	l := crsteltest.CaptureErrors(t)
	t.Cleanup(func() {
		// Setting a global to its current value makes the SDK complain.
		if !sameValue(otel.GetTracerProvider(), prevTP) {
			otel.SetTracerProvider(prevTP)
		}
		if !sameValue(otel.GetTextMapPropagator(), prevProp) {
			otel.SetTextMapPropagator(prevProp)
		}
	})
	return l
}

// shortExportTimeout makes an export that cannot succeed give up
// within a second, retries included, so that Shutdown does not leave it
// running (and reporting to a later test's error handler).
func shortExportTimeout(t *testing.T) {
	t.Helper()
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1000")
	t.Setenv("OTEL_BSP_EXPORT_TIMEOUT", "1000")
}

// sameValue reports whether a and b are the same comparable value.
func sameValue(a, b any) bool {
	return reflect.TypeOf(a) == reflect.TypeOf(b) && reflect.TypeOf(a).Comparable() && a == b
}

// startSetup calls Setup and shuts the result down after the test.
func startSetup(t *testing.T, opts ...crstel.Option) *crstel.Telemetry {
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

// wantSetupError fails the test unless err, Setup's, names each of want;
// tel, if Setup succeeded after all, is shut down first.
func wantSetupError(t *testing.T, tel *crstel.Telemetry, err error, want ...string) {
	t.Helper()
	if err == nil {
		if tel != nil {
			_ = shutdownTel(t, tel)
		}
		t.Fatalf("Setup succeeded, want an error naming %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %s", err, w)
		}
	}
}

// shutdownTel shuts tel down within a bounded time.
func shutdownTel(t *testing.T, tel *crstel.Telemetry) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return tel.Shutdown(ctx)
}

// textLogger returns a logger writing text lines to the returned buffer.
func textLogger() (*slog.Logger, *syncBuffer) {
	b := &syncBuffer{}
	return slog.New(slog.NewTextHandler(b, nil)), b
}

// captureStderr points os.Stderr at a pipe until the returned function
// is called, which puts it back and returns what was written. The test's
// cleanup puts it back too, should the test stop early.
func captureStderr(t *testing.T) func() string {
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

// emitLogRecord emits a log record through the global LoggerProvider.
func emitLogRecord(body string) {
	var rec otellog.Record
	rec.SetBody(attribute.StringValue(body))
	otel.GetLoggerProvider().Logger("t").Emit(context.Background(), rec)
}

// printedRun is what runPrinting saw.
type printedRun struct {
	tel          *crstel.Telemetry
	stderr, logs string // what went to os.Stderr, and to crstel's logger
}

// runPrinting calls Setup with opts and a text logger, runs runTask, and
// shuts the result down, capturing os.Stderr all along. It fails the test
// if Setup or Shutdown does.
func runPrinting(t *testing.T, opts ...crstel.Option) printedRun {
	t.Helper()
	logger, logs := textLogger()
	stderr := captureStderr(t)
	tel, err := crstel.Setup(context.Background(), append(opts, crstel.WithLogger(logger))...)
	if err != nil {
		stderr()
		t.Fatalf("Setup: %v", err)
	}
	runTask(context.Background())
	if err := shutdownTel(t, tel); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	return printedRun{tel: tel, stderr: stderr(), logs: logs.String()}
}

// runTask runs the work of a CRS component: a task, an action with
// optional attributes, and a span of third-party instrumentation inside it.
// It returns the action's span context.
func runTask(ctx context.Context) trace.SpanContext {
	ctx = crstel.WithTask(ctx, task1)
	ctx, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil,
		crstel.WithAttributes(crs.CodeFile("vuln_module.c"), crs.EffortWeight(8)))
	_, child := otel.Tracer("third-party").Start(ctx, "http_call", trace.WithSpanKind(trace.SpanKindClient))
	child.End()
	span.End()
	return span.SpanContext()
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// syncBuffer is a bytes.Buffer safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
