package logs_test

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/logs"
)

// BenchmarkHandler compares a record logged through a logs.Handler over a
// JSON handler with the same record logged by the JSON handler alone,
// with the correlation fields added by hand (raw): the cost of finding
// them in the context and of redaction.
func BenchmarkHandler(b *testing.B) {
	crsteltest.NewRecorder(b, crsteltest.WithGlobal())
	ctx := crstel.WithTask(context.Background(), task1)
	ctx, span := crstel.Action(ctx, crs.Building, "build", nil)
	defer span.End()
	sc := trace.SpanContextFromContext(ctx)

	raw := slog.New(slog.NewJSONHandler(io.Discard, nil))
	wrapped := slog.New(logs.NewHandler(slog.NewJSONHandler(io.Discard, nil)))
	b.Run("raw/in action", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			raw.LogAttrs(ctx, slog.LevelInfo, "compiling",
				slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()),
				slog.String("crs.action.category", "building"), slog.String("crs.action.name", "build"),
				slog.String("round.id", "round-1"), slog.String("task.id", "task-1"), slog.String("team.id", "team-1"),
				slog.String("file", "png.c"), slog.Int("line", 7))
		}
	})
	b.Run("logs/in action", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			wrapped.LogAttrs(ctx, slog.LevelInfo, "compiling", slog.String("file", "png.c"), slog.Int("line", 7))
		}
	})
	b.Run("raw/outside", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			raw.LogAttrs(context.Background(), slog.LevelInfo, "compiling", slog.String("file", "png.c"), slog.Int("line", 7))
		}
	})
	b.Run("logs/outside", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			wrapped.LogAttrs(context.Background(), slog.LevelInfo, "compiling", slog.String("file", "png.c"), slog.Int("line", 7))
		}
	})
	grouped := wrapped.WithGroup("g").With("a", 1)
	b.Run("logs/in action, group", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			grouped.LogAttrs(ctx, slog.LevelInfo, "compiling", slog.String("file", "png.c"), slog.Int("line", 7))
		}
	})
}
