package pipeline

import (
	"cmp"
	"fmt"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"

	"github.com/crstel/crstel/internal/lifecycle"
	"github.com/crstel/crstel/internal/watchdog"
)

// newLifecycle returns the watchdog's Lifecycle.Emit: each batch's records
// emitted through logger at once, heartbeats then ended records, so that
// the log batch processor exports them together. max is the watchdog's cap,
// for the summary.
func newLifecycle(logger log.Logger, max int) func(watchdog.LifecycleBatch) {
	e := lifecycle.Emitter{Logger: logger}
	max = cmp.Or(max, watchdog.DefaultLifecycleMax)
	return func(b watchdog.LifecycleBatch) {
		for _, a := range b.Heartbeats {
			emitRecord(e, a, false, b.Now)
		}
		for _, a := range b.Ended {
			emitRecord(e, a, true, b.Now)
		}
		if b.Omitted > 0 {
			e.Omitted(b.Omitted, max, b.Now)
		}
	}
}

// emitRecord emits the lifecycle record of a's span, with its budget in
// the span's attributes (watchdog.BudgetKey, in seconds, as the reports
// have it); at its end time for an ended one.
func emitRecord(e lifecycle.Emitter, a *watchdog.Action, ended bool, now time.Time) {
	o, ok := a.Owner.(Owner)
	if !ok {
		return
	}
	s := o.ReadOnly()
	if s == nil {
		return
	}
	var extra []attribute.KeyValue
	if a.Budget > 0 {
		extra = append(extra, watchdog.BudgetKey.Float64(a.Budget.Seconds()))
	}
	if ended && !s.EndTime().IsZero() {
		now = s.EndTime()
	}
	if err := e.Emit(s, ended, now, extra...); err != nil {
		otel.Handle(fmt.Errorf("crstel: lifecycle record of span %s: %w", s.SpanContext().SpanID(), err))
	}
}
