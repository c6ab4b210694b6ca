package fuzz_test

import (
	"context"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/fuzz"
)

// TestMain fails the tests if any leaves a goroutine behind, such as a
// Watcher's inotify reader.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var task = crs.Metadata{"round.id": "round-1", "task.id": "task-1"}

// fuzzing starts the fuzzing action the tests record updates in.
func fuzzing(t *testing.T) (context.Context, trace.Span) {
	t.Helper()
	ctx := crstel.WithTask(t.Context(), task)
	ctx, span := crstel.Action(ctx, crs.Fuzzing, "fuzz_test_network_inputs", nil)
	t.Cleanup(func() { span.End() })
	return ctx, span
}

// updates returns the corpus update spans of spans.
func updates(spans []sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == fuzz.SpanName {
			out = append(out, s)
		}
	}
	return out
}

// attrs returns the attributes of s by key.
func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value)
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// handled collects what reaches otel.Handle during the test.
type handled struct {
	mu   sync.Mutex
	errs []error
}

func catchHandled(t *testing.T) *handled {
	h := &handled{}
	prev := otel.GetErrorHandler()
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.errs = append(h.errs, err)
	}))
	t.Cleanup(func() { otel.SetErrorHandler(prev) })
	return h
}

func (h *handled) get() []error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.errs...)
}
