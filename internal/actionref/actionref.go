// Package actionref lets packages below crstel find the action a context
// is inside of, and the tracer provider its spans come from, and have
// crstel's watchdog watch their operations, and add their costs to the
// action's (AddCost), without importing crstel: the action's context
// answers ctx.Value(Key{}) with the action, and crstel.Setup installs a
// Watch.
package actionref

import (
	"context"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel/crs"
)

// Key is the context key of the enclosing action.
type Key struct{}

// Action is the innermost action of a context, as packages below crstel
// see it: its span, as crstel.Action returned it, and what it is.
type Action interface {
	trace.Span
	// Describe returns the action's category and name, and its task
	// metadata as attributes, sorted by key; the caller must not change
	// them.
	Describe() (category, name string, metadata []attribute.KeyValue)
}

// From returns the innermost action of ctx, or nil if ctx is not inside
// an action.
func From(ctx context.Context) Action {
	a, _ := ctx.Value(Key{}).(Action)
	return a
}

// Span returns the span of the innermost action of ctx, or nil if ctx is
// not inside an action.
func Span(ctx context.Context) trace.Span {
	if a := From(ctx); a != nil {
		return a
	}
	return nil
}

// TaskKey is the context key of the task metadata crstel.WithTask, or an
// action, puts in a context; its value is a [Task].
type TaskKey struct{}

// Task is task metadata in a context.
type Task interface {
	// Attributes returns the entries as attributes, sorted by key,
	// computed once; the caller must not change them.
	Attributes() []attribute.KeyValue
}

// TaskProperty marks the W3C baggage members that hold task metadata, so
// that a receiver takes them and leaves other baggage alone:
//
//	baggage: round.id=round-1;crstel.task,task.id=task-1;crstel.task
const TaskProperty = "crstel.task"

// TaskAttributes returns the task metadata of ctx as attributes, sorted by
// key: the metadata crstel.WithTask or an action put in ctx, else that of
// the task members of ctx's baggage (from another process); nil if none.
// The caller must not change them.
func TaskAttributes(ctx context.Context) []attribute.KeyValue {
	if t, ok := ctx.Value(TaskKey{}).(Task); ok {
		return t.Attributes()
	}
	return BaggageTask(baggage.FromContext(ctx)).Attributes()
}

// BaggageTask returns the task metadata among the members of b (those
// marked with TaskProperty); nil if none.
func BaggageTask(b baggage.Baggage) crs.Metadata {
	if b.Len() == 0 {
		return nil
	}
	var meta crs.Metadata
	for _, m := range b.Members() {
		if IsTaskMember(m) {
			if meta == nil {
				meta = make(crs.Metadata)
			}
			meta[m.Key()] = m.Value()
		}
	}
	return meta
}

// IsTaskMember reports whether m carries task metadata.
func IsTaskMember(m baggage.Member) bool {
	for _, p := range m.Properties() {
		if p.Key() == TaskProperty {
			return true
		}
	}
	return false
}

type providerKey struct{}

// WithTracerProvider returns a copy of ctx whose actions, and the spans
// packages below crstel start in it, come from tp rather than the global
// provider (unless an option of theirs names another): the context of an
// isolated test recorder.
func WithTracerProvider(ctx context.Context, tp trace.TracerProvider) context.Context {
	scoped.Store(true)
	return context.WithValue(ctx, providerKey{}, tp)
}

// scoped is set once WithTracerProvider has been called: until then, no
// context holds a provider (outside tests, none ever does), and
// ScopedTracerProvider need not walk the context Action is given
// (BenchmarkScopedTracerProvider, a context ten values deep: 2 ns against
// 18 ns).
var scoped atomic.Bool

// TracerProvider returns the provider spans started in ctx come from: the
// one of ctx's innermost action, else the one WithTracerProvider put in
// ctx, else nil (the global one).
func TracerProvider(ctx context.Context) trace.TracerProvider {
	if a := From(ctx); a != nil {
		return a.TracerProvider()
	}
	return ScopedTracerProvider(ctx)
}

// ScopedTracerProvider returns the provider WithTracerProvider put in ctx,
// or nil.
func ScopedTracerProvider(ctx context.Context) trace.TracerProvider {
	if !scoped.Load() {
		return nil
	}
	tp, _ := ctx.Value(providerKey{}).(trace.TracerProvider)
	return tp
}

// Watch starts watching an operation inside an action, such as an LLM call,
// whose span is span and whose name is name: crstel's watchdog then reports
// it when it runs past its budget. It returns the function to call when the
// operation ends, or nil if nothing watches it.
type Watch func(ctx context.Context, span trace.Span, name, budgetKey string) (done func())

var watch atomic.Pointer[Watch]

// SetWatch installs w; crstel.Setup installs its watchdog's.
func SetWatch(w Watch) { watch.Store(&w) }

// Start watches an operation with the installed Watch, if any; see Watch.
func Start(ctx context.Context, span trace.Span, name, budgetKey string) (done func()) {
	if w := watch.Load(); w != nil && *w != nil {
		return (*w)(ctx, span, name, budgetKey)
	}
	return nil
}

// Cost is one cost event inside an action: what one LLM call or one
// subprocess used. Zero fields did not apply.
type Cost struct {
	// Model is the LLM call's model (the response's, else the request's).
	Model string
	// LLMCalls is 1 for an LLM call.
	LLMCalls int64
	// Priced tells that Amount holds the call's cost in Currency (an ISO
	// 4217 code). Unpriced tells that the call used tokens its model has
	// no price for. A call that reported no usage (a failed one) is
	// neither.
	Priced, Unpriced bool
	Amount           float64
	Currency         string
	// Tokens: input (cache reads and writes included), output, cache
	// reads and cache writes.
	InputTokens, OutputTokens, CacheReadTokens, CacheWriteTokens int64
	// Subprocesses is 1 for a subprocess, whose user and system CPU time
	// is CPU, peak resident memory MaxRSS bytes and wall time Wall.
	Subprocesses int64
	CPU          time.Duration
	MaxRSS       int64
	Wall         time.Duration
}

// Coster is an action that adds up the costs of what runs inside it;
// crstel's actions are.
type Coster interface {
	// AddCost adds c, the cost of the operation whose span is span (an
	// LLM call's, or a subprocess action's), to the action and to each
	// action enclosing it in this process.
	AddCost(span trace.Span, c Cost)
}

// AddCost hands c, the cost of the operation whose span is span, to the
// innermost action of ctx, which adds it up with the actions enclosing
// it; it does nothing outside an action.
func AddCost(ctx context.Context, span trace.Span, c Cost) {
	if a, ok := ctx.Value(Key{}).(Coster); ok {
		a.AddCost(span, c)
	}
}
