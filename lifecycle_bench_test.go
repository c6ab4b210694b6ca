package crstel_test

import (
	"context"
	"testing"

	sdklog "go.opentelemetry.io/otel/sdk/log"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
)

// discardLogs is a log exporter that discards.
type discardLogs struct{}

func (discardLogs) Export(context.Context, []sdklog.Record) error { return nil }
func (discardLogs) Shutdown(context.Context) error                { return nil }
func (discardLogs) ForceFlush(context.Context) error              { return nil }

// BenchmarkActionLifecycle compares Action + End of a short action (one
// that ends before the lifecycle interval, as nearly all do) with
// lifecycle records on (the default, exported to a log exporter) and off,
// in the same run: a short action must cost nothing more.
func BenchmarkActionLifecycle(b *testing.B) {
	for _, tt := range []struct {
		name string
		opt  crstel.Option
	}{
		{"lifecycle=off", crstel.WithLifecycleInterval(0)},
		{"lifecycle=on", crstel.WithLifecycleInterval(crstel.DefaultLifecycleInterval)},
	} {
		b.Run(tt.name, func(b *testing.B) {
			watchdogProvider(b, crstel.WithLogExporter(discardLogs{}), tt.opt)
			ctx := crstel.WithTask(context.Background(), benchMeta)
			b.ReportAllocs()
			for b.Loop() {
				_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
				span.End()
			}
		})
	}
}
