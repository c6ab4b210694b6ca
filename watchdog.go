package crstel

import (
	"context"
	"maps"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/internal/watchdog"
)

// Report is what the watchdog says about an action that runs past its
// budget, misses its heartbeat, or is still open at shutdown. See
// [WithOnReport].
type Report struct {
	// State is what happened: [Overdue], [Stalled], [Abandoned] or
	// [OverBudget].
	State ReportState
	// Span identifies the span reported: the action's, or an operation's
	// inside it (see Op).
	Span trace.SpanContext
	// Parent is the id of the reported span's parent; invalid for a root.
	Parent trace.SpanID
	// Category and Name are the action's.
	Category crs.Category
	Name     string
	// Op names the operation reported, such as the LLM call
	// "chat gpt-4o-mini", if it is not the action itself; "" otherwise.
	Op string
	// Metadata is the action's task metadata.
	Metadata crs.Metadata
	// Start is when the action (or operation) started, Elapsed how long it
	// had run at the report, and Budget its budget (0: none).
	Start   time.Time
	Elapsed time.Duration
	Budget  time.Duration
	// Reason says why in words, such as "running 6m0s, past its budget of
	// 5m0s", or "LLM cost 2.04 USD, past its budget of 2.00 USD".
	Reason string
	// N counts the reports of this State for the action, from 1: an
	// overdue action is reported again at growing intervals.
	N int
	// Stack holds the stacks of the goroutines running the action or one
	// of its open descendants, bounded in size; "" if none was found.
	Stack string
}

// ReportState is the state a [Report] gives.
type ReportState uint8

// The states of a [Report].
const (
	// Overdue: the action runs past its budget ([WithOverdueAfter], the
	// category's default) or its context's deadline.
	Overdue ReportState = ReportState(watchdog.Overdue)
	// Stalled: the action missed its heartbeat ([WithHeartbeat]).
	Stalled ReportState = ReportState(watchdog.Stalled)
	// Abandoned: the action was still open at [Telemetry.Shutdown]; it was
	// ended with an error status, so it is exported all the same.
	Abandoned ReportState = ReportState(watchdog.Abandoned)
	// OverBudget: the costs inside the action crossed its cost budget
	// ([WithCostBudget]). It is reported on the goroutine whose LLM call or
	// subprocess crossed it, once for each budget, and the action goes on.
	OverBudget ReportState = ReportState(watchdog.OverBudget)
)

// String returns "overdue", "stalled", "abandoned" or "over_budget".
func (s ReportState) String() string { return watchdog.State(s).String() }

// publicReport returns the watchdog's report as a Report.
func publicReport(r watchdog.Report) Report {
	var meta crs.Metadata
	if len(r.Metadata) > 0 {
		meta = make(crs.Metadata, len(r.Metadata))
		for _, kv := range r.Metadata {
			meta[string(kv.Key)] = kv.Value.AsString()
		}
	}
	return Report{
		State: ReportState(r.State), Span: r.Span, Parent: r.Parent,
		Category: crs.Category(r.Category), Name: r.Name, Op: r.Op, Metadata: meta,
		Start: r.Start, Elapsed: r.Elapsed, Budget: r.Budget, Reason: r.Reason, N: r.N, Stack: r.Stack,
	}
}

// DefaultBudgets returns the budgets of actions that set none with
// [WithOverdueAfter]: by category, "llm" for LLM calls, and "default" for
// the rest. 0 means no budget: fuzzing campaigns run for hours by design.
// Override them with [WithBudgets] or CRSTEL_OVERDUE, such as
// CRSTEL_OVERDUE=llm=10m,building=30m,fuzzing=0,default=15m. The map is a
// copy the caller may change.
func DefaultBudgets() map[string]time.Duration { return maps.Clone(defaultBudgets) }

var defaultBudgets = map[string]time.Duration{
	"default":                     15 * time.Minute,
	string(crs.Building):          30 * time.Minute,
	string(crs.Fuzzing):           0,
	string(crs.DynamicAnalysis):   30 * time.Minute,
	string(crs.Testing):           30 * time.Minute,
	string(crs.ScoringSubmission): 5 * time.Minute,
	"llm":                         10 * time.Minute,
}

// DefaultWatchdogInterval is how often the watchdog checks for overdue and
// stalled actions unless [WithWatchdogInterval] says otherwise. An action
// is reported at most this long after it becomes overdue.
const DefaultWatchdogInterval = 500 * time.Millisecond

// WithOverdueAfter gives the action a budget: if it is still open after d,
// the watchdog reports it as overdue while it runs, again at growing
// intervals (after 2d, 4d, ...), and its goroutines' stacks are in the
// report. 0 means no budget. The default is the category's budget (see
// [DefaultBudgets]). The context's deadline counts too: an action still
// running after it is overdue.
func WithOverdueAfter(d time.Duration) ActionOption {
	return actionOptionFunc(func(c *actionConfig) { c.budget, c.budgetSet = max(d, 0), true })
}

// WithHeartbeat says that the action calls [Heartbeat] at least every
// interval; when it misses one, the watchdog reports it as stalled, a state
// distinct from overdue: a long action that still makes progress is not
// stalled. The default is no heartbeat.
func WithHeartbeat(interval time.Duration) ActionOption {
	return actionOptionFunc(func(c *actionConfig) { c.heartbeat = max(interval, 0) })
}

// Heartbeat marks the innermost action of ctx as alive; see [WithHeartbeat].
// It is cheap (an atomic store) and does nothing outside an action.
func Heartbeat(ctx context.Context) {
	if ctx == nil {
		return
	}
	if a := actionFrom(ctx); a != nil && a.w != nil {
		a.w.Beat()
	}
}

// budgetKeys are the keys budgets may have.
func budgetKeys() []string {
	keys := []string{"default", "llm"}
	for _, c := range crs.Categories() {
		keys = append(keys, string(c))
	}
	return keys
}
