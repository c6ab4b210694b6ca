package crstel

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/internal/actionref"
	"github.com/crstel/crstel/internal/violation"
	"github.com/crstel/crstel/internal/watchdog"
)

// ScopeName is the instrumentation scope of the spans [Action] starts.
const ScopeName = "github.com/crstel/crstel"

// InvalidKey marks a span made from invalid input, such as an unknown
// category or a name with spaces. Its value lists each problem, naming the
// offending value. Such a span is still exported; [crsteltest.AssertConforms]
// fails on it.
const InvalidKey = violation.Key

// actionCtx is a running action. It is at once the context the action's
// span is started from, the span Action returns (the SDK's span, with End
// recording panics), and the watchdog's record of the action, so that
// Action allocates one object for the three. Spans started inside the
// action find it with ctx.Value(actionKey{}).
type actionCtx struct {
	context.Context // the context Action was given
	trace.Span      // the action's span, set once started
	watchdog.Action // category, name, metadata, budget

	task *task // metadata of the action and everything inside it; nil if none
	// started is false while the action's own span is being started, so
	// that the stamping processor leaves that span alone.
	started bool
	// failed tells that SetStatus set an error status.
	failed atomic.Bool
	// p is the pipeline tracking the action (watchdog, journal, goroutine
	// labels), nil if none: End tells it the action ended and puts the
	// enclosing action's goroutine labels back.
	p *pipeline
}

type actionKey struct{}

func (a *actionCtx) Value(key any) any {
	switch key.(type) {
	case actionKey:
		return a
	case actionref.Key:
		return trace.Span(a)
	case taskKey:
		if a.task != nil {
			return a.task
		}
	}
	if a.started && key == spanKey() && key != nil {
		return a // the current span is the action's, as Action returns it
	}
	return a.Context.Value(key)
}

// spanKey is the key under which package trace keeps the current span in a
// context, found once by asking SpanFromContext with a context that notes
// the key it is asked for. It lets the context Action returns be the action
// itself, holding the span Action returns, at no allocation; nil if the
// trace package finds spans in some other way, and Action then returns the
// context the tracer made.
var spanKey = sync.OnceValue(func() any {
	p := &keyProbe{Context: context.Background()}
	trace.SpanFromContext(p)
	return p.key
})

type keyProbe struct {
	context.Context
	key any
}

func (p *keyProbe) Value(key any) any {
	p.key = key
	return nil
}

func actionFrom(ctx context.Context) *actionCtx {
	a, _ := ctx.Value(actionKey{}).(*actionCtx)
	return a
}

// ActionOption configures one [Action].
type ActionOption interface{ applyAction(*actionConfig) }

type actionConfig struct {
	attrs     []attribute.KeyValue
	links     []trace.Link
	kind      trace.SpanKind
	budget    time.Duration
	budgetSet bool
	heartbeat time.Duration
}

// newActionConfig applies opts. It is a function of its own so that the
// config escapes to the heap only when there are options.
func newActionConfig(opts []ActionOption) actionConfig {
	var cfg actionConfig
	for _, o := range opts {
		if o != nil {
			o.applyAction(&cfg)
		}
	}
	return cfg
}

type actionOptionFunc func(*actionConfig)

func (f actionOptionFunc) applyAction(c *actionConfig) { f(c) }

// WithAttributes adds attributes to the action's span at its start, where
// samplers and processors see them. Use the typed constructors of package
// crs, such as crs.CodeFile, for the specification's optional attributes.
// The default is none.
func WithAttributes(kvs ...attribute.KeyValue) ActionOption {
	return actionOptionFunc(func(c *actionConfig) { c.attrs = append(c.attrs, kvs...) })
}

// WithLinks links the action's span to other spans. The specification's best
// practices ask for links where an action has several causes (fan-in, such
// as a patch made from many findings) or an asynchronous one (work taken
// from a queue). The default is none.
func WithLinks(links ...trace.Link) ActionOption {
	return actionOptionFunc(func(c *actionConfig) { c.links = append(c.links, links...) })
}

// WithSpanKind sets the kind of the action's span. The default is
// trace.SpanKindInternal.
func WithSpanKind(kind trace.SpanKind) ActionOption {
	return actionOptionFunc(func(c *actionConfig) { c.kind = kind })
}

// tracerCache holds the tracer of the global provider it came from, and
// the pipeline Setup built for that provider (nil if Setup did not make
// it), so that Action need not look them up each time, and still follows a
// new provider set with otel.SetTracerProvider.
type tracerCache struct {
	provider trace.TracerProvider
	tracer   trace.Tracer
	pipeline *pipeline
}

var cachedTracer atomic.Pointer[tracerCache]

func tracer() *tracerCache {
	p := otel.GetTracerProvider()
	if c := cachedTracer.Load(); c != nil && c.provider == p {
		return c
	}
	c := &tracerCache{provider: p, tracer: p.Tracer(ScopeName)}
	if pl, ok := pipelines.Load(p); ok {
		c.pipeline = pl.(*pipeline)
	}
	cachedTracer.Store(c)
	return c
}

// Action starts a CRS action: a span named name with the mandatory
// attributes crs.action.category and crs.action.name, and the task metadata.
// End the returned span when the action is done:
//
//	ctx, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
//	defer span.End()
//
// The task metadata is what ctx carries (see [WithTask]), merged with meta;
// meta wins on a clash. A non-empty meta is added to the returned context
// as WithTask would, so it also applies to the actions and spans inside this
// one, here and in other processes. Every span started from the returned
// context, by any tracer of a provider with crstel's [SpanProcessor]
// (installed by [Setup]), carries the action's category, name and metadata
// too.
//
// name is a low-cardinality label such as "generate_patch"; see
// [crs.ValidateName]. Invalid input (an unknown category, a bad name, bad
// metadata, a nil ctx) never makes Action panic or lose the span: the span
// is started with the input repaired, marked with [InvalidKey], and the
// problem reported through otel.Handle with the offending value. In strict
// mode ([WithStrict], CRSTEL_STRICT=1) Action panics instead.
//
// Action uses the global TracerProvider; without one it returns a
// non-recording span, as the OpenTelemetry API does.
func Action(ctx context.Context, category crs.Category, name string, meta crs.Metadata, opts ...ActionOption) (context.Context, trace.Span) {
	var problems []error
	if ctx == nil {
		problems = append(problems, errNilContext("Action"))
		ctx = context.Background()
	}
	if !category.Valid() {
		problems = append(problems, category.Validate())
		category = crs.Category(crs.SanitizeName(string(category)))
	}
	if err := crs.ValidateName(name); err != nil {
		problems = append(problems, err)
		name = crs.SanitizeName(name)
	}
	if len(meta) > 0 {
		var err error
		if ctx, err = withTask(ctx, meta); err != nil {
			problems = append(problems, err)
		}
	}
	if len(problems) > 0 && violation.Strict() {
		violation.Report(problems[0])
	}

	var cfg actionConfig
	if len(opts) > 0 {
		cfg = newActionConfig(opts)
	}
	a := &actionCtx{Context: ctx, task: taskFrom(ctx)}
	a.Category, a.Name = string(category), name

	var taskAttrs []attribute.KeyValue
	if a.task != nil {
		taskAttrs = a.task.attrs
	}
	attrs := make([]attribute.KeyValue, 0, 2+len(taskAttrs)+len(cfg.attrs))
	attrs = append(attrs, crs.ActionCategory(category), crs.ActionName(name))
	attrs = append(attrs, taskAttrs...)
	attrs = append(attrs, cfg.attrs...)

	// Only the options needed: each one costs an allocation.
	var start [3]trace.SpanStartOption
	so := append(start[:0], trace.WithAttributes(attrs...))
	if len(cfg.links) > 0 {
		so = append(so, trace.WithLinks(cfg.links...))
	}
	if cfg.kind != trace.SpanKindUnspecified {
		so = append(so, trace.WithSpanKind(cfg.kind))
	}
	tc := tracer()
	sctx, span := tc.tracer.Start(a, name, so...)
	a.Span, a.started = span, true
	if len(problems) > 0 {
		violation.Mark(span, problems...)
	}
	if tc.pipeline != nil && span.SpanContext().IsSampled() { // sampled spans record; IsRecording would lock
		tc.pipeline.track(a, cfg)
	}
	if spanKey() != nil {
		sctx = a
	}
	return sctx, a
}

// End ends the action's span. If a panic is passing through the action
// (End was deferred), it is recorded on the span, with its stack, as an
// error, and the panic goes on.
func (a *actionCtx) End(opts ...trace.SpanEndOption) {
	if r := recover(); r != nil {
		msg := fmt.Sprintf("panic: %v", r)
		a.Span.RecordError(errors.New(msg), trace.WithStackTrace(true))
		a.SetStatus(codes.Error, msg)
		a.end(opts)
		panic(r)
	}
	a.end(opts)
}

func (a *actionCtx) end(opts []trace.SpanEndOption) {
	if a.p == nil {
		a.Span.End(opts...)
		return
	}
	restoreLabels(a)
	a.Span.End(opts...)
	a.p.ended(a)
}

// EndAbandoned ends the action as abandoned at shutdown; for the watchdog.
func (a *actionCtx) EndAbandoned(reason string) {
	a.SetStatus(codes.Error, "abandoned: "+reason)
	a.Span.SetAttributes(watchdog.StateKey.String(watchdog.Abandoned.String()), watchdog.ReasonKey.String(reason))
	a.Span.End()
	if a.p != nil {
		a.p.ended(a)
	}
}

// SetStatus sets the status of the action's span, noting an error for the
// journal.
func (a *actionCtx) SetStatus(code codes.Code, description string) {
	if code == codes.Error {
		a.failed.Store(true)
	}
	a.Span.SetStatus(code, description)
}

// Metadata returns the action's task metadata as attributes.
func (a *actionCtx) Metadata() []attribute.KeyValue {
	if a.task == nil {
		return nil
	}
	return a.task.attrs
}

// ParentSpanID returns the id of the span the action's span is a child of.
func (a *actionCtx) ParentSpanID() trace.SpanID {
	if s, ok := a.Span.(interface{ Parent() trace.SpanContext }); ok {
		return s.Parent().SpanID()
	}
	return trace.SpanID{}
}

// Err is the error of the context the action was started in.
func (a *actionCtx) Err() error { return a.Context.Err() }
