package pipeline

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel/internal/actionref"
	"github.com/crstel/crstel/internal/watchdog"
)

// op is an operation inside an action that the watchdog watches, such as an
// LLM call made through package genai: its span, not an action's, with the
// budget of its kind ("llm").
type op struct {
	context.Context
	span   trace.Span
	action actionref.Action // the enclosing action, or nil
	watchdog.Action
}

func (o *op) SpanContext() trace.SpanContext { return o.span.SpanContext() }
func (o *op) Err() error                     { return o.Context.Err() }

func (o *op) ParentSpanID() trace.SpanID {
	if s := o.ReadOnly(); s != nil {
		return s.Parent().SpanID()
	}
	return trace.SpanID{}
}

// Describe returns the category, name and metadata of the enclosing
// action; without one, the operation's name alone.
func (o *op) Describe() (category, name string, metadata []attribute.KeyValue) {
	if o.action == nil {
		return "", o.Op, nil
	}
	return o.action.Describe()
}

// ReadOnly returns the operation's span as the SDK records it.
func (o *op) ReadOnly() sdktrace.ReadOnlySpan {
	s, _ := o.span.(sdktrace.ReadOnlySpan)
	return s
}

// Ended reports whether the operation's span has ended.
func (o *op) Ended() bool { return !o.span.IsRecording() }

func (o *op) EndAbandoned(reason string) {
	o.span.SetStatus(codes.Error, "abandoned: "+reason)
	o.span.SetAttributes(watchdog.StateKey.String(watchdog.Abandoned.String()), watchdog.ReasonKey.String(reason))
	o.span.End()
}

// Watch is the actionref.Watch crstel installs: it hands an operation to
// the watchdog of the pipeline of its span's provider, if crstel.Setup
// made it, with the budget of budgetKey, and returns the function to call
// when it ends; nil if nothing watches it.
func Watch(ctx context.Context, span trace.Span, name, budgetKey string) func() {
	p := Lookup(span.TracerProvider())
	if p == nil || !span.SpanContext().IsSampled() {
		return nil
	}
	o := &op{Context: ctx, span: span, action: actionref.From(ctx)}
	o.Owner, o.Op, o.Budget = o, name, p.Budget(budgetKey)
	deadline, _ := ctx.Deadline()
	if !p.wd.Add(&o.Action, span.SpanContext().SpanID(), time.Now(), deadline) {
		return nil
	}
	return func() { p.Ended(&o.Action) }
}
