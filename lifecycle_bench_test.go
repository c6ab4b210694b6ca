package crstel_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/internal/lifecycle"
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
			benchActionInTask(b)
		})
	}
}

// BenchmarkLifecycleRecord measures one heartbeat record of a typical
// action (Setup's resource, the task metadata, two attributes of its own,
// a budget): encoding the body, and emitting it through Setup's log
// pipeline. It reports the body's size as body_B/record.
func BenchmarkLifecycleRecord(b *testing.B) {
	tel := watchdogProvider(b, crstel.WithServiceName("patcher"), crstel.WithLogExporter(discardLogs{}))
	ctx := crstel.WithTask(context.Background(), benchMeta)
	ctx, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil, crstel.WithTracerProvider(tel.TracerProvider()))
	defer span.End()
	span.SetAttributes(crs.CodeFile("src/png.c"), attribute.Int("attempt", 2))
	ro := trace.SpanFromContext(ctx).(sdktrace.ReadOnlySpan)
	budget := attribute.Float64("crstel.watchdog.budget", 900)
	body, err := lifecycle.Body(ro, false, budget)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("step=encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := lifecycle.Body(ro, false, budget); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(body)), "body_B/record")
	})
	b.Run("step=emit", func(b *testing.B) {
		e := lifecycle.Emitter{Logger: tel.LoggerProvider().Logger("bench")}
		now := time.Now()
		b.ReportAllocs()
		for b.Loop() {
			if err := e.Emit(ro, false, now, budget); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(len(body)), "body_B/record")
	})
}

// countLogs is a log exporter that counts records and body bytes.
type countLogs struct {
	records, summaries, bytes atomic.Int64
}

func (c *countLogs) Export(_ context.Context, records []sdklog.Record) error {
	for _, r := range records {
		c.bytes.Add(int64(len(r.Body().AsString())))
		state := ""
		r.WalkAttributes(func(kv attribute.KeyValue) bool {
			if kv.Key == lifecycle.StateKey {
				state = kv.Value.AsString()
			}
			return true
		})
		if state == "" {
			c.summaries.Add(1)
		} else {
			c.records.Add(1)
		}
	}
	return nil
}
func (*countLogs) Shutdown(context.Context) error   { return nil }
func (*countLogs) ForceFlush(context.Context) error { return nil }

// BenchmarkLifecycleOpenActions keeps 100,000 long actions open, with
// lifecycle heartbeats every second and the default cap, and counts the
// records exported in 5 s: the cap, not the number of open actions, bounds
// them. Run it with -benchtime=1x.
func BenchmarkLifecycleOpenActions(b *testing.B) {
	const n = 100_000
	const window = 5 * time.Second
	c := &countLogs{}
	tel := watchdogProvider(b, crstel.WithLogExporter(c), crstel.WithLifecycleInterval(time.Second))
	ctx := crstel.WithTask(context.Background(), benchMeta)
	spans := make([]trace.Span, n)
	for b.Loop() {
		for i := range spans {
			_, spans[i] = crstel.Action(ctx, crs.Fuzzing, "fuzz_campaign", nil)
		}
		time.Sleep(2 * time.Second) // past the delay
		tel.ForceFlush(context.Background())
		r0, s0, b0 := c.records.Load(), c.summaries.Load(), c.bytes.Load()
		time.Sleep(window)
		tel.ForceFlush(context.Background())
		sec := window.Seconds()
		b.ReportMetric(float64(c.records.Load()-r0)/sec, "heartbeats/s")
		b.ReportMetric(float64(c.summaries.Load()-s0)/sec, "summaries/s")
		b.ReportMetric(float64(c.bytes.Load()-b0)/sec/1024, "body_KiB/s")
		for _, s := range spans {
			s.End()
		}
		clear(spans)
	}
}
