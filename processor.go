package crstel

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/crstel/crstel/crs"
)

// SpanProcessor stamps every span started inside an action's context with
// the action's crs.action.category and crs.action.name and the task
// metadata, so that spans made by other instrumentation (otelhttp, otelgrpc,
// an LLM client) conform to the specification too. Values the span already
// has at its start win. Spans started outside any action, and the action's
// own span, are left alone.
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

// OnStart stamps s if parent is inside an action.
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
	has := func(k attribute.Key) bool {
		for _, kv := range existing {
			if kv.Key == k {
				return true
			}
		}
		return false
	}
	stamp := make([]attribute.KeyValue, 0, 2+len(taskAttrs))
	for _, kv := range [2]attribute.KeyValue{crs.ActionCategory(crs.Category(a.Category)), crs.ActionName(a.Name)} {
		if !has(kv.Key) {
			stamp = append(stamp, kv)
		}
	}
	for _, kv := range taskAttrs {
		if !has(kv.Key) {
			stamp = append(stamp, kv)
		}
	}
	s.SetAttributes(stamp...)
}

// OnEnd does nothing.
func (*SpanProcessor) OnEnd(sdktrace.ReadOnlySpan) {}

// Shutdown does nothing and returns nil.
func (*SpanProcessor) Shutdown(context.Context) error { return nil }

// ForceFlush does nothing and returns nil.
func (*SpanProcessor) ForceFlush(context.Context) error { return nil }
