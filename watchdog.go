package crstel

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/internal/journal"
	"github.com/crstel/crstel/internal/watchdog"
)

// Report is what the watchdog says about an action that runs past its
// budget, misses its heartbeat, or is still open at shutdown. See
// [WithOnReport].
type Report struct {
	// State is what happened: [Overdue], [Stalled] or [Abandoned].
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
	// 5m0s".
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
)

// String returns "overdue", "stalled" or "abandoned".
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
	if a := actionFrom(ctx); a != nil {
		a.Beat()
	}
}

// pipeline is what Action needs of the pipeline Setup built: the watchdog,
// the journal and the budgets. Action finds it through the global tracer
// provider.
type pipeline struct {
	wd      *watchdog.Watchdog
	journal *journal.Writer // nil if off
	budgets map[string]time.Duration
}

// pipelines maps the providers Setup made to their pipelines.
var pipelines sync.Map // *sdktrace.TracerProvider → *pipeline

// budget returns the budget of an action of category without its own.
func (p *pipeline) budget(category string) time.Duration {
	if d, ok := p.budgets[category]; ok {
		return d
	}
	return p.budgets["default"]
}

// track hands a started action to the watchdog and the journal, and labels
// the goroutine with it.
func (p *pipeline) track(a *actionCtx, cfg actionConfig) {
	a.Owner, a.Heartbeat = a, cfg.heartbeat
	a.Budget = cfg.budget
	if !cfg.budgetSet {
		a.Budget = p.budget(a.Category)
	}
	deadline, _ := a.Context.Deadline()
	sc := a.Span.SpanContext()
	if !p.wd.Add(&a.Action, sc.SpanID(), time.Now(), deadline) {
		return
	}
	// The journal takes the start of the action from the watchdog, if the
	// action is still open when it next writes (see starts).
	var enclosing *watchdog.Action
	if e := actionFrom(a.Context); e != nil && e.p != nil {
		enclosing = &e.Action
	}
	pprof.SetGoroutineLabels(watchdog.Labels(a.Context, &a.Action, enclosing))
	a.p = p
}

// ended is called when a tracked action has ended: the watchdog forgets
// it, and the journal records its end (see journalEnd).
func (p *pipeline) ended(a *actionCtx) { p.remove(&a.Action, a.Span) }

// remove forgets a, whose span is span, and journals its end.
func (p *pipeline) remove(a *watchdog.Action, span trace.Span) {
	if tracked, noted := p.wd.Remove(a); tracked {
		p.journalEnd(a, span, noted)
	}
}

// forgotten is called by the watchdog with an action whose span ended
// without End telling it (the span was ended through
// trace.SpanFromContext, say).
func (p *pipeline) forgotten(a *watchdog.Action, noted bool) {
	switch o := a.Owner.(type) {
	case *actionCtx:
		p.journalEnd(a, o.Span, noted)
	case *watchedOp:
		p.journalEnd(a, o.span, noted)
	}
}

// journalEnd journals the end of a, whose span is span, if the journal
// wrote its start (noted), or if it failed or was cancelled: the journal
// never sees a short action that went well.
func (p *pipeline) journalEnd(a *watchdog.Action, span trace.Span, noted bool) {
	if p.journal == nil {
		return
	}
	cancelled := a.Owner.Err() != nil
	e := journal.Event{
		Kind: journal.KindEnd, Span: span.SpanContext(), Parent: a.Owner.ParentSpanID(),
		Category: a.Category, Name: cmp.Or(a.Op, a.Name), Metadata: a.Owner.Metadata(),
		Cancelled: cancelled, Time: time.Now(), Status: "unset",
	}
	if s, ok := span.(sdktrace.ReadOnlySpan); ok {
		st := s.Status()
		if !noted && !cancelled && st.Code != codes.Error {
			return
		}
		e.Time, e.Elapsed = s.EndTime(), s.EndTime().Sub(s.StartTime())
		e.Status, e.Error = statusName(st.Code), st.Description
	} else {
		if !noted && !cancelled {
			return
		}
		e.Elapsed = e.Time.Sub(a.Start())
	}
	p.journal.Write(e)
}

// starts yields the start events of the actions started since its last
// call and still open, for the journal, which calls it each time it writes.
func (p *pipeline) starts(yield func(journal.Event) bool) {
	for a := range p.wd.Unnoted {
		if !yield(startEvent(a)) {
			return
		}
	}
}

func startEvent(a *watchdog.Action) journal.Event {
	return journal.Event{
		Kind: journal.KindStart, Time: a.Start(), Span: a.Owner.SpanContext(), Parent: a.Owner.ParentSpanID(),
		Category: a.Category, Name: cmp.Or(a.Op, a.Name), Metadata: a.Owner.Metadata(),
		Budget: a.Budget, Deadline: a.ContextDeadline(), Heartbeat: a.Heartbeat,
	}
}

// statusName returns the journal's name of a status code.
func statusName(c codes.Code) string {
	switch c {
	case codes.Ok:
		return "ok"
	case codes.Error:
		return "error"
	}
	return "unset"
}

// reported records a watchdog report in the journal.
func (p *pipeline) reported(r watchdog.Report) {
	if p.journal == nil {
		return
	}
	kind := journal.KindOverdue
	switch r.State {
	case watchdog.Stalled:
		kind = journal.KindStalled
	case watchdog.Abandoned:
		kind = journal.KindAbandoned
	}
	p.journal.Write(journal.Event{
		Kind: kind, Time: r.Start.Add(r.Elapsed), Span: r.Span, Parent: r.Parent,
		Category: r.Category, Name: cmp.Or(r.Op, r.Name), Metadata: r.Metadata,
		Budget: r.Budget, Elapsed: r.Elapsed, Error: r.Reason, Stack: r.Stack,
	})
}

// snapshot yields the start events of the open actions, which the
// journal writes again at the top of each new segment.
func (p *pipeline) snapshot(yield func(journal.Event) bool) {
	if p.wd == nil {
		return
	}
	for _, a := range p.wd.Snapshot() {
		if !yield(startEvent(a)) {
			return
		}
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

// mergeBudgets returns DefaultBudgets overridden by each of overrides in
// turn, or an error naming an unknown key or a negative budget.
func mergeBudgets(overrides ...map[string]time.Duration) (map[string]time.Duration, error) {
	out := DefaultBudgets()
	valid := budgetKeys()
	for _, o := range overrides {
		for k, d := range o {
			if !slices.Contains(valid, k) {
				return nil, fmt.Errorf("crstel: overdue budget for %q: want one of %s", k, strings.Join(valid, ", "))
			}
			if d < 0 {
				return nil, fmt.Errorf("crstel: overdue budget for %q is %v: want 0 (none) or more", k, d)
			}
			out[k] = d
		}
	}
	return out, nil
}

// watchedOp is an operation inside an action that the watchdog watches,
// such as an LLM call made through package genai: its span, not an
// action's, with the budget of its kind ("llm").
type watchedOp struct {
	context.Context
	span   trace.Span
	action *actionCtx // the enclosing action, or nil
	watchdog.Action
}

func (o *watchedOp) SpanContext() trace.SpanContext { return o.span.SpanContext() }
func (o *watchedOp) Err() error                     { return o.Context.Err() }

func (o *watchedOp) ParentSpanID() trace.SpanID {
	if s, ok := o.span.(interface{ Parent() trace.SpanContext }); ok {
		return s.Parent().SpanID()
	}
	return trace.SpanID{}
}

func (o *watchedOp) Metadata() []attribute.KeyValue {
	if o.action == nil {
		return nil
	}
	return o.action.Metadata()
}

// Ended reports whether the operation's span has ended.
func (o *watchedOp) Ended() bool { return !o.span.IsRecording() }

func (o *watchedOp) EndAbandoned(reason string) {
	o.span.SetStatus(codes.Error, "abandoned: "+reason)
	o.span.SetAttributes(watchdog.StateKey.String(watchdog.Abandoned.String()), watchdog.ReasonKey.String(reason))
	o.span.End()
}

// watchOp is the actionref.Watch crstel installs: it hands an operation to
// the watchdog of the pipeline behind the provider of its span, if Setup
// made it.
func watchOp(ctx context.Context, span trace.Span, name, budgetKey string) func() {
	tp, ok := span.TracerProvider().(*sdktrace.TracerProvider)
	if !ok || !span.SpanContext().IsSampled() {
		return nil
	}
	pl, ok := pipelines.Load(tp)
	if !ok {
		return nil
	}
	p := pl.(*pipeline)
	o := &watchedOp{Context: ctx, span: span, action: actionFrom(ctx)}
	o.Owner, o.Op, o.Name, o.Budget = o, name, name, p.budget(budgetKey)
	if o.action != nil {
		o.Category, o.Name = o.action.Category, o.action.Name
	}
	deadline, _ := ctx.Deadline()
	if !p.wd.Add(&o.Action, span.SpanContext().SpanID(), time.Now(), deadline) {
		return nil
	}
	return func() { p.endOp(o) }
}

// endOp is called when a watched operation ends.
func (p *pipeline) endOp(o *watchedOp) { p.remove(&o.Action, o.span) }
