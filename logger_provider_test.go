package crstel_test

import (
	"context"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/internal/otlptest"
)

// TestLoggerProvider: LoggerProvider returns the global logger provider
// Setup installed. Its records reach the OTLP server the spans go to; with
// OTEL_LOGS_EXPORTER=none it is still installed, but drops every record.
func TestLoggerProvider(t *testing.T) {
	tests := []struct {
		name     string
		exporter string // OTEL_LOGS_EXPORTER
		wantSent bool   // the record reaches the server
	}{
		{name: "default", wantSent: true},
		{name: "otlp", exporter: "otlp", wantSent: true},
		{name: "none", exporter: "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			prev := otel.GetLoggerProvider()
			t.Cleanup(func() {
				if !sameValue(otel.GetLoggerProvider(), prev) {
					otel.SetLoggerProvider(prev)
				}
			})
			if tt.exporter != "" {
				t.Setenv("OTEL_LOGS_EXPORTER", tt.exporter)
			}
			srv := otlptest.NewServer(t)
			tel := startSetup(t, crstel.WithEndpoint(srv.URL()), crstel.WithServiceName("patcher"),
				crstel.WithoutJournal(), crstel.WithMetricReader(sdkmetric.NewManualReader()))

			lp := tel.LoggerProvider()
			if lp == nil {
				t.Fatal("LoggerProvider() = nil, want the provider Setup installed")
			}
			if got := otel.GetLoggerProvider(); got != log.LoggerProvider(lp) {
				t.Errorf("the global logger provider is %T %p, want LoggerProvider()'s %p", got, got, lp)
			}

			ctx := context.Background()
			logger := lp.Logger("crstel-test")
			if got := logger.Enabled(ctx, log.EnabledParameters{Severity: log.SeverityError}); got != tt.wantSent {
				t.Errorf("Enabled = %v, want %v", got, tt.wantSent)
			}
			var r log.Record
			r.SetBody(attribute.StringValue("patch applied"))
			r.SetSeverity(log.SeverityInfo)
			r.SetSeverityText("INFO")
			r.AddAttributes(attribute.String("file", "png.c"))
			logger.Emit(ctx, r)
			if err := shutdownTel(t, tel); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}

			if !tt.wantSent {
				if n := srv.LogRequests(); n != 0 {
					t.Errorf("the server got %d log export calls, want 0", n)
				}
				return
			}
			got := srv.WaitForLogs(1, 10*time.Second)
			if len(got) != 1 {
				t.Fatalf("the server got %d log records, want 1", len(got))
			}
			rec := got[0]
			if rec.Body != "patch applied" || rec.SeverityText != "INFO" || rec.Attributes["file"] != "png.c" {
				t.Errorf("record: body %v, severity %q, attributes %v; want patch applied, INFO, file=png.c",
					rec.Body, rec.SeverityText, rec.Attributes)
			}
			if rec.Scope != "crstel-test" || rec.Resource["service.name"] != "patcher" {
				t.Errorf("scope %q, service.name %v: want crstel-test, patcher", rec.Scope, rec.Resource["service.name"])
			}
		})
	}
}
