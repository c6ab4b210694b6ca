package crstel

import (
	"context"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/internal/violation"
)

// SpanProcessor stamps every span started inside an action's context with
// the action's crs.action.category and crs.action.name and the task
// metadata, so that spans made by other instrumentation (otelhttp, otelgrpc,
// an LLM client) conform to the specification too. String values the span
// already has at its start win; values of another type are replaced and
// marked. Spans started outside any action, and the action's own span, are
// left alone.
//
// [Setup] installs one. Register it yourself when you build your own
// provider, before the exporting processor:
//
//	tp := sdktrace.NewTracerProvider(
//		sdktrace.WithSpanProcessor(crstel.NewSpanProcessor()),
//		sdktrace.WithBatcher(exporter),
//	)
type SpanProcessor struct{}

var _ sdktrace.SpanProcessor = (*SpanProcessor)(nil)

// NewSpanProcessor returns a SpanProcessor. It holds no state and starts no
// goroutine. (The watchdog and the journal come with [Setup]'s pipeline
// only.)
func NewSpanProcessor() *SpanProcessor { return &SpanProcessor{} }

// OnStart stamps s if parent is inside an action. A value s has already
// under one of those keys wins if it is a string; one of another type (an
// int task.id, say) is replaced, and the span marked with [InvalidKey].
func (*SpanProcessor) OnStart(parent context.Context, s sdktrace.ReadWriteSpan) {
	a := actionFrom(parent)
	if a == nil || !a.started {
		return
	}
	var taskAttrs []attribute.KeyValue
	if a.task != nil {
		taskAttrs = a.task.attrs
	}
	existing := s.Attributes()
	var problems []error
	// keep reports whether the span has its own value for kv's key, of the
	// right type.
	keep := func(kv attribute.KeyValue) bool {
		for _, e := range existing {
			if e.Key != kv.Key {
				continue
			}
			if e.Value.Type() == attribute.STRING {
				return true
			}
			problems = append(problems, fmt.Errorf("%s=%s is a %s, not a string; replaced by the action's %s",
				e.Key, violation.Quote(e.Value.String()), strings.ToLower(e.Value.Type().String()), violation.Quote(kv.Value.AsString())))
			return false
		}
		return false
	}
	stamp := make([]attribute.KeyValue, 0, 2+len(taskAttrs))
	for _, kv := range [2]attribute.KeyValue{crs.ActionCategory(crs.Category(a.category)), crs.ActionName(a.name)} {
		if !keep(kv) {
			stamp = append(stamp, kv)
		}
	}
	for _, kv := range taskAttrs {
		if !keep(kv) {
			stamp = append(stamp, kv)
		}
	}
	s.SetAttributes(stamp...)
	violation.Mark(parent, s, problems...)
}

// OnEnd does nothing.
func (*SpanProcessor) OnEnd(sdktrace.ReadOnlySpan) {}

// Shutdown does nothing and returns nil.
func (*SpanProcessor) Shutdown(context.Context) error { return nil }

// ForceFlush does nothing and returns nil.
func (*SpanProcessor) ForceFlush(context.Context) error { return nil }
