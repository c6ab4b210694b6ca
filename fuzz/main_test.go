package fuzz_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/fuzz"
)

// TestMain fails the tests if any leaves a goroutine behind, such as a
// Watcher's inotify reader.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var task = crs.Metadata{"round.id": "round-1", "task.id": "task-1"}

// fuzzing starts the fuzzing action the tests record updates in, in a
// context whose actions go to rec.
func fuzzing(t *testing.T, rec *crsteltest.Recorder) (context.Context, trace.Span) {
	t.Helper()
	ctx := crstel.WithTask(rec.Context(t.Context()), task)
	ctx, span := crstel.Action(ctx, crs.Fuzzing, "fuzz_test_network_inputs", nil)
	t.Cleanup(func() { span.End() })
	return ctx, span
}

// updates returns the corpus update spans of spans.
func updates(spans []sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	return crsteltest.ByName(spans, fuzz.SpanName)
}
