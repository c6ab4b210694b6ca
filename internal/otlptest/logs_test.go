package otlptest_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crstel/crstel/internal/otlptest"
)

// newLogExporter returns the real OTLP/gRPC log exporter sending to srv,
// without retries so that failures show at once.
func newLogExporter(t *testing.T, srv *otlptest.Server, opts ...otlploggrpc.Option) *otlploggrpc.Exporter {
	t.Helper()
	opts = append([]otlploggrpc.Option{
		otlploggrpc.WithEndpoint(srv.Endpoint()),
		otlploggrpc.WithInsecure(),
		otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: false}),
		otlploggrpc.WithTimeout(10 * time.Second),
	}, opts...)
	exp, err := otlploggrpc.New(context.Background(), opts...)
	if err != nil {
		t.Fatalf("otlploggrpc.New: %v", err)
	}
	t.Cleanup(func() { _ = exp.Shutdown(context.Background()) })
	return exp
}

// emitLogs emits two records, one inside a span, through a real SDK
// LoggerProvider that exports to exp, and shuts it down, which flushes them.
func emitLogs(t *testing.T, exp sdklog.Exporter) (trace.SpanContext, error) {
	t.Helper()
	lp := sdklog.NewLoggerProvider(
		sdklog.WithResource(resource.NewSchemaless(attribute.String("service.name", "otlptest"))),
		sdklog.WithProcessor(sdklog.NewSimpleProcessor(exp)))
	logger := lp.Logger("scope.logs", log.WithInstrumentationVersion("0.1.0"))

	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	var r log.Record
	r.SetTimestamp(time.Unix(1700000000, 0))
	r.SetSeverity(log.SeverityWarn)
	r.SetSeverityText("WARN")
	r.SetBody(attribute.StringValue("compiling"))
	r.AddAttributes(attribute.String("file", "png.c"), attribute.Int("line", 7),
		attribute.Map("req", attribute.String("method", "GET")))
	logger.Emit(trace.ContextWithSpanContext(context.Background(), sc), r)

	var plain log.Record
	plain.SetBody(attribute.StringValue("outside"))
	logger.Emit(context.Background(), plain)
	return sc, lp.Shutdown(context.Background())
}

func TestLogs(t *testing.T) {
	srv := otlptest.NewServer(t)
	sc, err := emitLogs(t, newLogExporter(t, srv))
	if err != nil {
		t.Fatalf("exporting: %v", err)
	}
	got := srv.WaitForLogs(2, 10*time.Second)
	if len(got) != 2 {
		t.Fatalf("got %d log records, want 2", len(got))
	}
	r := got[0]
	if r.Body != "compiling" || r.SeverityNumber != int(log.SeverityWarn) || r.SeverityText != "WARN" {
		t.Errorf("body %v, severity %d %q: want compiling, %d WARN", r.Body, r.SeverityNumber, r.SeverityText, log.SeverityWarn)
	}
	if !r.Time.Equal(time.Unix(1700000000, 0)) {
		t.Errorf("time %v, want %v", r.Time, time.Unix(1700000000, 0))
	}
	if r.TraceID != sc.TraceID().String() || r.SpanID != sc.SpanID().String() {
		t.Errorf("ids %s/%s, want %s/%s", r.TraceID, r.SpanID, sc.TraceID(), sc.SpanID())
	}
	if r.Attributes["file"] != "png.c" || r.Attributes["line"] != int64(7) {
		t.Errorf("attributes %v", r.Attributes)
	}
	if req, _ := r.Attributes["req"].(map[string]any); req["method"] != "GET" {
		t.Errorf("attribute req = %v, want map[method:GET]", r.Attributes["req"])
	}
	if r.Resource["service.name"] != "otlptest" || r.Scope != "scope.logs" || r.ScopeVersion != "0.1.0" {
		t.Errorf("resource %v, scope %q %q", r.Resource, r.Scope, r.ScopeVersion)
	}
	if got[1].Body != "outside" || got[1].TraceID != "" || got[1].SpanID != "" {
		t.Errorf("record outside a span: body %v, ids %q/%q, want outside and no ids", got[1].Body, got[1].TraceID, got[1].SpanID)
	}
	if n := srv.LogRequests(); n != 2 {
		t.Errorf("LogRequests() = %d, want 2 (a simple processor exports each record)", n)
	}
	if n := len(srv.Received()); n != 0 {
		t.Errorf("log records showed as %d spans", n)
	}
}

func TestLogsRefused(t *testing.T) {
	for _, tt := range []struct {
		name string
		opt  otlptest.Option
		want codes.Code
	}{
		{"credentials", otlptest.WithBasicAuth("crs", "s3cret"), codes.Unauthenticated},
		{"configured error", otlptest.WithError(codes.Unavailable), codes.Unavailable},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := otlptest.NewServer(t, tt.opt)
			exp := newLogExporter(t, srv)
			var rec sdklog.Record
			rec.SetBody(attribute.StringValue("x"))
			err := exp.Export(context.Background(), []sdklog.Record{rec})
			if got := status.Code(err); got != tt.want {
				t.Errorf("Export error %v has code %v, want %v", err, got, tt.want)
			}
			if n := len(srv.Logs()); n != 0 {
				t.Errorf("kept %d records of a refused call, want 0", n)
			}
			if n := srv.LogRequests(); n != 1 {
				t.Errorf("LogRequests() = %d, want 1", n)
			}
		})
	}
}

func TestWaitForLogsTimeout(t *testing.T) {
	srv := otlptest.NewServer(t)
	start := time.Now()
	if got := srv.WaitForLogs(1, 50*time.Millisecond); len(got) != 0 {
		t.Errorf("WaitForLogs on an idle server returned %d records", len(got))
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("WaitForLogs returned after %v, before its timeout", d)
	}
}
