package crstel

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/internal/actionref"
	"github.com/crstel/crstel/internal/pipeline"
	"github.com/crstel/crstel/internal/provider"
	"github.com/crstel/crstel/internal/violation"
	"github.com/crstel/crstel/internal/watchdog"
)

// ScopeName is the instrumentation scope of the spans [Action] starts.
const ScopeName = "github.com/crstel/crstel"

// InvalidKey marks a span made from invalid input, such as an unknown
// category or a name with spaces. Its value lists each problem, naming the
// offending value. Such a span is still exported; [crsteltest.AssertConforms]
// fails on it.
const InvalidKey = attribute.Key("crstel.invalid")

// actionCtx is a running action: the context the action's span is started
// from (its parent, so that spans started inside the action find it with
// ctx.Value(actionKey{})), and the span Action returns (the SDK's span, with
// End recording panics and telling the watchdog), in one allocation.
type actionCtx struct {
	context.Context // the context Action was given
	trace.Span      // the action's span, set once started

	category string
	name     string
	task     *task // metadata of the action and everything inside it; nil if none
	// started is false while the action's own span is being started, so
	// that the stamping processor leaves that span alone.
	started bool
	// tc is the tracer the action's span came from, which the actions
	// inside it use too.
	tc *tracerCache
	// w is the pipeline's record of the action (watchdog, journal,
	// goroutine label), nil if no pipeline tracks it: End tells it the
	// action ended. It is made only for a pipeline (see trackedAction), so
	// that an action without one stays small.
	w *tracked
	// parent is the enclosing action in this process, nil if none: a cost
	// inside the action is added to it too.
	parent *actionCtx
	// cost is the action's roll-up, made by the first cost inside it
	// (or at the start, for a budget): nil while nothing cost anything.
	cost atomic.Pointer[costAcc]
}

// tracked is an action a pipeline tracks.
type tracked struct {
	watchdog.Action
	p *pipeline.Pipeline
}

// trackedAction is an action whose tracer provider has a pipeline.
type trackedAction struct {
	actionCtx
	tracked
}

// withLazy is an action and the lazyBaggage of the context it was started
// in, in one allocation.
type withLazy[A actionCtx | trackedAction] struct {
	action A
	bag    lazyBaggage
}

type actionKey struct{}

func (a *actionCtx) Value(key any) any {
	switch key.(type) {
	case actionKey:
		return a
	case actionref.Key:
		return actionref.Action(a)
	case taskKey:
		if a.task != nil {
			return a.task
		}
	}
	return a.Context.Value(key)
}

func actionFrom(ctx context.Context) *actionCtx {
	a, _ := ctx.Value(actionKey{}).(*actionCtx)
	return a
}

// ActionOf returns the category and name of the innermost [Action] ctx is
// inside of, and true; or "", "" and false if ctx is not inside an action
// (or is nil): for code that labels its own output with the action, as
// package [github.com/crstel/crstel/logs] labels log records.
func ActionOf(ctx context.Context) (category crs.Category, name string, ok bool) {
	if ctx == nil {
		return "", "", false
	}
	a := actionFrom(ctx)
	if a == nil {
		return "", "", false
	}
	return crs.Category(a.category), a.name, true
}

// ActionOption configures one [Action].
type ActionOption interface{ applyAction(*actionConfig) }

type actionConfig struct {
	tp         trace.TracerProvider // nil: the enclosing action's, else the global one
	attrs      []attribute.KeyValue
	links      []trace.Link
	kind       trace.SpanKind
	budget     time.Duration
	budgetSet  bool
	heartbeat  time.Duration
	costBudget CostBudget
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

// WithTracerProvider makes the action's span come from tp. The actions
// started inside it, and the spans crstel's packages (genai, fuzz,
// subprocess) start there, come from tp too, unless an option of theirs
// names another provider. The default is the provider of the enclosing
// action, else the global one. A nil tp is ignored.
func WithTracerProvider(tp trace.TracerProvider) ActionOption {
	return actionOptionFunc(func(c *actionConfig) {
		if tp != nil {
			c.tp = tp
		}
	})
}

// tracerCache holds the tracer of a provider, and the pipeline Setup built
// for that provider (nil if Setup did not make it), so that Action need not
// look them up each time. The actions inside an action share its cache.
type tracerCache struct {
	provider trace.TracerProvider
	tracer   trace.Tracer
	pipeline *pipeline.Pipeline
}

// cachedTracer is the cache of the provider used last outside any action:
// the global one, usually, whose changes (otel.SetTracerProvider) it
// follows.
var cachedTracer atomic.Pointer[tracerCache]

// tracerFor returns the cache of the provider an action started in ctx
// uses: explicit if not nil, else the enclosing action's, else the one of
// ctx's scope (a test recorder's), else the global one.
func tracerFor(ctx context.Context, enclosing *actionCtx, explicit trace.TracerProvider) *tracerCache {
	p := explicit
	if p == nil {
		if enclosing != nil && enclosing.tc != nil {
			return enclosing.tc
		}
		if p = actionref.ScopedTracerProvider(ctx); p == nil {
			p = otel.GetTracerProvider()
		}
	}
	if c := cachedTracer.Load(); c != nil && provider.Same(c.provider, p) {
		return c
	}
	c := &tracerCache{provider: p, tracer: p.Tracer(ScopeName), pipeline: pipeline.Lookup(p)}
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
// too. The returned context is the one the tracer returned, with all it put
// there (trace.SpanFromContext gives the SDK's span of the action; a
// runtime/trace task, when the execution tracer runs).
//
// name is a low-cardinality label such as "generate_patch"; see
// [crs.ValidateName]. Invalid input (an unknown category, a bad name, bad
// metadata, a nil ctx) never makes Action panic or lose the span: the span
// is started with the input repaired, marked with [InvalidKey], and the
// problem reported through otel.Handle with the offending value. In strict
// mode ([WithStrict], CRSTEL_STRICT=1) Action panics instead. The mandatory
// attributes and the task metadata cannot be replaced: an attribute of
// [WithAttributes], or set later on the span Action returns, that would
// change them is left out, and reported the same way; with the pipeline of
// [Setup], one set on the SDK's span (trace.SpanFromContext) is undone at
// End.
//
// With the pipeline of [Setup], Action also hands the action to the
// watchdog, and sets the pprof goroutine label crstel.span of the calling
// goroutine to the span ids of the action and of those enclosing it (in
// hex, innermost first), which goroutines started from it inherit: the
// watchdog's reports find the goroutines of a hung action by it. The label
// stays after End, until the goroutine starts another action.
//
// Action uses the global TracerProvider; without one it returns a
// non-recording span, as the OpenTelemetry API does.
func Action(ctx context.Context, category crs.Category, name string, meta crs.Metadata, opts ...ActionOption) (context.Context, trace.Span) {
	var problems []error
	var leftOut error // metadata that travels to no other process: reported, not marked
	if ctx == nil {
		problems = append(problems, errNilContext("Action"))
		ctx = context.Background()
	}
	enclosing := actionFrom(ctx)
	t, tctx, deferred, invalid, leftOut := withMeta(ctx, taskFrom(ctx), meta, true, startKey{category, name})
	// The mandatory attributes and the task's, made once per task, category
	// and name: a pair seen before is valid.
	owner := &noTask
	if t != nil {
		owner = t
	}
	so, known := owner.starts.lookup(category, name)
	if !known {
		so, category, name, problems = startOptionsOf(owner, category, name, problems)
	}
	if invalid != nil {
		problems = append(problems, invalid)
	}

	var cfg actionConfig
	if len(opts) > 0 {
		cfg = newActionConfig(opts)
	}
	tc := tracerFor(ctx, enclosing, cfg.tp)
	// One allocation for the action, the pipeline's record of it, and the
	// context that adds the task's baggage when it is deferred.
	var a *actionCtx
	var w *tracked
	var lazy *lazyBaggage
	switch {
	case tc.pipeline != nil && deferred:
		x := &withLazy[trackedAction]{}
		a, w, lazy = &x.action.actionCtx, &x.action.tracked, &x.bag
	case tc.pipeline != nil:
		aw := &trackedAction{}
		a, w = &aw.actionCtx, &aw.tracked
	case deferred:
		x := &withLazy[actionCtx]{}
		a, lazy = &x.action, &x.bag
	default:
		a = &actionCtx{}
	}
	if lazy != nil {
		// The parent span above the lazyBaggage, where the tracer finds
		// it without making the baggage.
		lazy.Context, lazy.t = tctx, t
		tctx = trace.ContextWithSpan(lazy, trace.SpanFromContext(tctx))
	}
	a.Context, a.task, a.tc, a.parent = tctx, t, tc, enclosing
	a.category, a.name = string(category), name
	if len(opts) > 0 {
		so, problems = cfg.apply(a, so, problems)
	}
	report := len(problems) > 0 || leftOut != nil
	if report && violation.Strict(ctx) {
		violation.Report(ctx, errors.Join(append(problems, leftOut)...))
	}
	sctx, span := a.tc.tracer.Start(a, name, so...)
	a.Span, a.started = span, true
	if report {
		violation.Mark(ctx, span, problems...)
		violation.Report(ctx, leftOut)
	}
	if p := a.tc.pipeline; p != nil && span.SpanContext().IsSampled() { // sampled spans record; IsRecording would lock
		a.track(ctx, w, p, &cfg)
	}
	return sctx, a
}

// startOptionsOf returns the start options of an action of category and
// name, not seen before with owner, the category and name repaired, and
// problems with what was invalid in them added.
func startOptionsOf(owner *task, category crs.Category, name string, problems []error) ([]trace.SpanStartOption, crs.Category, string, []error) {
	valid := true
	if !category.Valid() {
		problems = append(problems, category.Validate())
		category, valid = crs.Category(crs.SanitizeName(string(category))), false
	}
	if err := crs.ValidateName(name); err != nil {
		problems = append(problems, err)
		name, valid = crs.SanitizeName(name), false
	}
	return owner.starts.make(category, name, owner, valid), category, name, problems
}

// apply applies c to a, which is about to start: it gives a its cost
// budget, and returns so with the start options of c added (the options'
// attributes, which may not replace the mandatory ones, links and kind,
// after the mandatory attributes: so is not ours to change), and problems
// with what was left out added.
func (c *actionConfig) apply(a *actionCtx, so []trace.SpanStartOption, problems []error) ([]trace.SpanStartOption, []error) {
	acc, err := c.costBudget.accumulator()
	if acc != nil {
		a.cost.Store(acc)
	}
	if err != nil {
		problems = append(problems, err)
	}
	if len(c.attrs) > 0 || len(c.links) > 0 || c.kind != trace.SpanKindUnspecified {
		so = slices.Clip(so)
	}
	if len(c.attrs) > 0 {
		attrs := make([]attribute.KeyValue, 0, len(c.attrs))
		for _, kv := range c.attrs {
			if err := a.replaces(kv); err != nil {
				problems = append(problems, fmt.Errorf("WithAttributes: %w", err))
				continue
			}
			attrs = append(attrs, kv)
		}
		so = append(so, trace.WithAttributes(attrs...))
	}
	if len(c.links) > 0 {
		so = append(so, trace.WithLinks(c.links...))
	}
	if c.kind != trace.SpanKindUnspecified {
		so = append(so, trace.WithSpanKind(c.kind))
	}
	return so, problems
}

// track hands a, whose span is sampled, to the pipeline p, as w; cfg holds
// its options.
func (a *actionCtx) track(ctx context.Context, w *tracked, p *pipeline.Pipeline, cfg *actionConfig) {
	w.p = p
	w.Owner, w.Heartbeat, w.Budget = a, cfg.heartbeat, cfg.budget
	if !cfg.budgetSet {
		w.Budget = p.Budget(a.category)
	}
	var outer *watchdog.Action
	if e := a.parent; e != nil && e.w != nil {
		outer = &e.w.Action
	}
	// ctx, not the action's context: the same deadline and goroutine
	// labels, and asking a lazyBaggage for the labels would make its
	// baggage.
	if p.Track(ctx, &w.Action, a.Span.SpanContext().SpanID(), outer) {
		a.w = w
	}
}

// replaces returns an error if kv would replace one of the action's
// mandatory attributes or task metadata with another value, or crstel's
// own mark of invalid input; nil if it is another attribute, or the same
// value again.
func (a *actionCtx) replaces(kv attribute.KeyValue) error {
	var want string
	switch {
	case kv.Key == crs.ActionCategoryKey:
		want = a.category
	case kv.Key == crs.ActionNameKey:
		want = a.name
	case kv.Key == InvalidKey:
		return fmt.Errorf("%s is crstel's mark of invalid input; left out", kv.Key)
	case a.task != nil:
		v, ok := a.task.value(string(kv.Key))
		if !ok {
			return nil
		}
		want = v
	default:
		return nil
	}
	if kv.Value.Type() == attribute.STRING && kv.Value.AsString() == want {
		return nil
	}
	return fmt.Errorf("%s=%s (%s) would replace the action's %s=%s; kept %s",
		kv.Key, violation.Quote(kv.Value.String()), strings.ToLower(kv.Value.Type().String()), kv.Key, violation.Quote(want), violation.Quote(want))
}

// End ends the action's span. If a panic is passing through the action
// (End was deferred), it is recorded on the span, with its stack, as an
// error, and the panic goes on.
func (a *actionCtx) End(opts ...trace.SpanEndOption) {
	if r := recover(); r != nil {
		msg := fmt.Sprintf("panic: %v", r)
		a.Span.RecordError(errors.New(msg), trace.WithStackTrace(true))
		a.Span.SetStatus(codes.Error, msg)
		a.end(opts)
		panic(r)
	}
	a.end(opts)
}

func (a *actionCtx) end(opts []trace.SpanEndOption) {
	a.writeRollUp()
	if a.w != nil {
		// The export reads the attributes anyway (the queue's byte bound
		// estimates them): reading them first costs only the check.
		// Without Setup's pipeline, SetAttributes on the span Action
		// returns is checked instead, and the SDK's span left alone.
		a.undoReplaced()
	}
	a.Span.End(opts...)
	if a.category == string(crs.ScoringSubmission) {
		a.auditSubmission() // only submissions pay for the audit trail
	}
	if a.w != nil {
		a.w.p.Ended(&a.w.Action)
	}
}

// SetAttributes sets attributes on the action's span, but those that
// would replace its mandatory attributes or task metadata: those are left
// out, and the span marked and the problem reported, as for
// [WithAttributes].
func (a *actionCtx) SetAttributes(kvs ...attribute.KeyValue) {
	for i, kv := range kvs {
		if a.replaces(kv) == nil {
			continue
		}
		// Rare: copy the rest, leaving out what replaces.
		keep := slices.Clone(kvs[:i])
		var problems []error
		for _, kv := range kvs[i:] {
			if err := a.replaces(kv); err != nil {
				problems = append(problems, fmt.Errorf("SetAttributes: %w", err))
			} else {
				keep = append(keep, kv)
			}
		}
		a.Span.SetAttributes(keep...)
		violation.Mark(a.Context, a.Span, problems...)
		return
	}
	a.Span.SetAttributes(kvs...)
}

// undoReplaced puts back the mandatory attributes and task metadata that
// were set to other values on the SDK's span after its start (through
// trace.SpanFromContext), marks the span, and reports it.
func (a *actionCtx) undoReplaced() {
	ro, ok := a.Span.(sdktrace.ReadOnlySpan)
	if !ok || !a.Span.IsRecording() {
		return
	}
	var problems []error
	for _, kv := range ro.Attributes() {
		if kv.Key == InvalidKey {
			continue // marks from the start; Mark keeps them
		}
		if err := a.replaces(kv); err != nil {
			problems = append(problems, fmt.Errorf("SetAttributes: %w", err))
		}
	}
	if len(problems) == 0 {
		return
	}
	own := append([]attribute.KeyValue{crs.ActionCategory(crs.Category(a.category)), crs.ActionName(a.name)}, a.Metadata()...)
	a.Span.SetAttributes(own...)
	violation.Mark(a.Context, a.Span, problems...)
}

// EndAbandoned ends the action as abandoned at shutdown; for the watchdog.
func (a *actionCtx) EndAbandoned(reason string) {
	a.Span.SetStatus(codes.Error, "abandoned: "+reason)
	a.Span.SetAttributes(watchdog.StateKey.String(watchdog.Abandoned.String()), watchdog.ReasonKey.String(reason))
	a.end(nil)
}

// Ended reports whether the action's span has ended; for the watchdog.
func (a *actionCtx) Ended() bool { return !a.Span.IsRecording() }

// ReadOnly returns the action's span as the SDK records it; for the
// journal.
func (a *actionCtx) ReadOnly() sdktrace.ReadOnlySpan {
	s, _ := a.Span.(sdktrace.ReadOnlySpan)
	return s
}

// Describe returns the action's category, name and task metadata; for
// the packages that find the action through actionref.
func (a *actionCtx) Describe() (category, name string, metadata []attribute.KeyValue) {
	return a.category, a.name, a.Metadata()
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
