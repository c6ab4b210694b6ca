// Package actionref lets packages below crstel find the action a context
// is inside of, and have crstel's watchdog watch their operations, without
// importing crstel: the action's context answers ctx.Value(Key{}) with the
// action's span, and crstel.Setup installs a Watch.
package actionref

import (
	"context"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"
)

// Key is the context key of the enclosing action's span.
type Key struct{}

// Span returns the span of the innermost action of ctx, or nil if ctx is
// not inside an action.
func Span(ctx context.Context) trace.Span {
	s, _ := ctx.Value(Key{}).(trace.Span)
	return s
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
