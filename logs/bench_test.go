package logs_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/logs"
)

// BenchmarkHandle compares a record logged through a logs.Handler
// (impl=crstel) with the same record logged by the same inner handler, a
// JSON handler, alone (impl=raw), with the correlation fields a Handler
// adds written by hand, as a caller without crstel would: the same JSON
// line, checked before timing. The difference is the cost of finding the
// fields in the context and of redaction. Compare with
//
//	go test -run '^$' -bench BenchmarkHandle -count 6 ./logs | benchstat -col /impl -
func BenchmarkHandle(b *testing.B) {
	rec := crsteltest.NewRecorder(b)
	ctx := crstel.WithTask(rec.Context(context.Background()), task1)
	ctx, span := crstel.Action(ctx, crs.Building, "build", nil)
	defer span.End()
	sc := span.SpanContext()

	traceID, spanID := sc.TraceID(), sc.SpanID()
	for _, bc := range []struct {
		name  string
		ctx   context.Context
		raw   func(l *slog.Logger, ctx context.Context) // the record, with the fields written by hand
		group string                                    // a group the logger opens first, if any
	}{
		{"where=action", ctx, func(l *slog.Logger, ctx context.Context) {
			l.LogAttrs(ctx, slog.LevelInfo, "compiling",
				slog.String(logs.TraceIDKey, traceID.String()), slog.String(logs.SpanIDKey, spanID.String()),
				slog.String(logs.CategoryKey, "building"), slog.String(logs.NameKey, "build"),
				slog.String("round.id", "round-1"), slog.String("task.id", "task-1"), slog.String("team.id", "team-1"),
				slog.String("file", "png.c"), slog.Int("line", 7))
		}, ""},
		{"where=outside", context.Background(), func(l *slog.Logger, ctx context.Context) {
			l.LogAttrs(ctx, slog.LevelInfo, "compiling", slog.String("file", "png.c"), slog.Int("line", 7))
		}, ""},
		{"where=action_group", ctx, func(l *slog.Logger, ctx context.Context) {
			l.LogAttrs(ctx, slog.LevelInfo, "compiling",
				slog.String(logs.TraceIDKey, traceID.String()), slog.String(logs.SpanIDKey, spanID.String()),
				slog.String(logs.CategoryKey, "building"), slog.String(logs.NameKey, "build"),
				slog.String("round.id", "round-1"), slog.String("task.id", "task-1"), slog.String("team.id", "team-1"),
				slog.Group("g", slog.String("file", "png.c"), slog.Int("line", 7)))
		}, "g"},
	} {
		// The loggers whose lines are compared give every record the same
		// time; those timed do not rewrite it.
		now := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
		sameTime := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey && a.Value.Kind() == slog.KindTime {
				a.Value = slog.TimeValue(now)
			}
			return a
		}}
		newLogger := func(w io.Writer, opts *slog.HandlerOptions, wrap bool) *slog.Logger {
			var h slog.Handler = slog.NewJSONHandler(w, opts)
			if wrap {
				h = logs.NewHandler(h)
			}
			return slog.New(h)
		}
		crstelLog := func(l *slog.Logger, ctx context.Context) {
			if bc.group != "" {
				l = l.WithGroup(bc.group)
			}
			l.LogAttrs(ctx, slog.LevelInfo, "compiling", slog.String("file", "png.c"), slog.Int("line", 7))
		}
		var rawLine, crstelLine bytes.Buffer
		bc.raw(newLogger(&rawLine, sameTime, false), bc.ctx)
		crstelLog(newLogger(&crstelLine, sameTime, true), bc.ctx)
		if rawLine.String() != crstelLine.String() {
			b.Fatalf("%s: not the same record:\nraw    %s\ncrstel %s", bc.name, rawLine.String(), crstelLine.String())
		}

		raw, wrapped := newLogger(io.Discard, nil, false), newLogger(io.Discard, nil, true)
		if bc.group != "" {
			wrapped = wrapped.WithGroup(bc.group)
		}
		b.Run(bc.name+"/impl=raw", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.raw(raw, bc.ctx)
			}
		})
		b.Run(bc.name+"/impl=crstel", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				wrapped.LogAttrs(bc.ctx, slog.LevelInfo, "compiling", slog.String("file", "png.c"), slog.Int("line", 7))
			}
		})
	}
}

// TestHandleAllocs holds the Handler to the allocations BenchmarkHandle
// measures: inside an action, at most two more than the same record logged
// by the inner handler with the fields written by hand; outside, none
// more.
func TestHandleAllocs(t *testing.T) {
	if testing.CoverMode() != "" || raceEnabled {
		t.Skip("allocations are counted without -race and -cover")
	}
	rec := crsteltest.NewRecorder(t)
	ctx := crstel.WithTask(rec.Context(context.Background()), task1)
	ctx, span := crstel.Action(ctx, crs.Building, "build", nil)
	defer span.End()
	sc := span.SpanContext()

	raw := slog.New(slog.NewJSONHandler(io.Discard, nil))
	wrapped := slog.New(logs.NewHandler(slog.NewJSONHandler(io.Discard, nil)))
	for _, tt := range []struct {
		name  string
		ctx   context.Context
		raw   func()
		extra float64 // allocations allowed beyond raw's
	}{
		{"in an action", ctx, func() {
			raw.LogAttrs(ctx, slog.LevelInfo, "compiling",
				slog.String(logs.TraceIDKey, sc.TraceID().String()), slog.String(logs.SpanIDKey, sc.SpanID().String()),
				slog.String(logs.CategoryKey, "building"), slog.String(logs.NameKey, "build"),
				slog.String("round.id", "round-1"), slog.String("task.id", "task-1"), slog.String("team.id", "team-1"),
				slog.String("file", "png.c"), slog.Int("line", 7))
		}, 2},
		{"outside", context.Background(), func() {
			raw.LogAttrs(context.Background(), slog.LevelInfo, "compiling", slog.String("file", "png.c"), slog.Int("line", 7))
		}, 0},
	} {
		want := testing.AllocsPerRun(100, tt.raw) + tt.extra
		got := testing.AllocsPerRun(100, func() {
			wrapped.LogAttrs(tt.ctx, slog.LevelInfo, "compiling", slog.String("file", "png.c"), slog.Int("line", 7))
		})
		if got > want {
			t.Errorf("%s: got %v allocations a record, want at most %v", tt.name, got, want)
		}
	}
}
