// Package pipeline is what crstel.Setup builds around the actions beside
// their spans: the watchdog that reports the actions that run too long, and
// the journal that records them on disk, with the goroutine labels that
// find their stacks. crstel.Action hands each action it starts to the
// pipeline of its tracer provider ([Lookup]); packages below crstel hand
// their operations, such as LLM calls, through actionref.Watch ([Watch]).
package pipeline

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel/internal/journal"
	"github.com/crstel/crstel/internal/watchdog"
)

// Owner is an action, or an operation inside one, as the pipeline tracks
// it: what the watchdog needs, and its span as the SDK records it, for the
// journal's record of its end.
type Owner interface {
	watchdog.Owner
	// ReadOnly returns the span as the SDK records it, nil if it does not.
	ReadOnly() sdktrace.ReadOnlySpan
}

// CostOwner is an Owner that adds up the costs inside it: the journal's
// record of its end holds its roll-up.
type CostOwner interface {
	// RollUp returns the sum of the costs inside the action; nil if
	// there were none.
	RollUp() *journal.Cost
}

// OverBudget reports a, a tracked action whose costs just crossed its cost
// budget, as over budget, now, on the calling goroutine (see
// watchdog.Watchdog.ReportNow), with why in words.
func (p *Pipeline) OverBudget(a *watchdog.Action, why string) {
	p.wd.ReportNow(a, watchdog.OverBudget, why)
}

// Cost journals the cost of one operation inside an action (an LLM call,
// a subprocess): a record of kind cost, which `crstel trace costs` adds
// up.
func (p *Pipeline) Cost(e journal.Event) {
	if p.journal == nil {
		return
	}
	e.Kind = journal.KindCost
	p.journal.Write(e)
}

// Config configures a Pipeline.
type Config struct {
	// Budgets are the budgets of actions without one of their own, by
	// category, "llm" or "default"; see MergeBudgets.
	Budgets map[string]time.Duration
	// Watchdog configures the watchdog; its Forgotten is the pipeline's.
	// Its OnReport is called after the journal recorded the report.
	Watchdog watchdog.Config
	// JournalDir is the folder of the journal, "" for none; Service names
	// the process in it.
	JournalDir, Service string
	// Logger gets a warning if the journal cannot be opened.
	Logger *slog.Logger
	// Lifecycle emits the lifecycle records of the actions the watchdog
	// chooses (Watchdog.Lifecycle, whose Emit is the pipeline's); nil
	// means none.
	Lifecycle log.Logger
	// OnEnd, if not nil, is called with each action (not an operation
	// inside one) that ends through Ended, before it is forgotten, or
	// whose span the watchdog finds ended without Ended: for the duration
	// metric.
	OnEnd func(a *watchdog.Action)
}

// Pipeline is the watchdog and the journal of one tracer provider.
type Pipeline struct {
	wd      *watchdog.Watchdog
	journal *journal.Writer // nil if off
	budgets map[string]time.Duration
	onEnd   func(a *watchdog.Action) // nil if none
}

// New starts the watchdog and opens the journal. Without a journal (off,
// or one that cannot be opened: a warning), the watchdog still works.
func New(cfg Config) *Pipeline {
	p := &Pipeline{budgets: cfg.Budgets, onEnd: cfg.OnEnd}
	wcfg := cfg.Watchdog
	onReport := wcfg.OnReport
	wcfg.OnReport = func(r watchdog.Report) {
		p.reported(r)
		if onReport != nil {
			onReport(r)
		}
	}
	wcfg.Forgotten = p.forgotten
	wcfg.Lifecycle.Emit = nil
	if cfg.Lifecycle != nil {
		wcfg.Lifecycle.Emit = newLifecycle(cfg.Lifecycle, wcfg.Lifecycle.Max)
	}
	p.wd = watchdog.New(wcfg)
	if cfg.JournalDir != "" {
		jw, err := journal.Open(journal.Options{Dir: cfg.JournalDir, Service: cfg.Service, Snapshot: p.snapshot, Starts: p.starts})
		if err != nil && cfg.Logger != nil {
			// The journal is a diagnostic aid: without it, telemetry still works.
			cfg.Logger.Warn("crstel: no action journal: " + err.Error())
		}
		p.journal = jw
	}
	return p
}

// Shutdown stops the watchdog, which reports the actions still open as
// abandoned and ends them, so that their spans are exported; see
// watchdog.Watchdog.Shutdown.
func (p *Pipeline) Shutdown(ctx context.Context) error { return p.wd.Shutdown(ctx) }

// Close closes the journal, after Shutdown and the end of the spans.
func (p *Pipeline) Close(ctx context.Context) error {
	if p.journal == nil {
		return nil
	}
	return p.journal.Close(ctx)
}

// JournalPath returns the path of the journal, "" if it is off.
func (p *Pipeline) JournalPath() string {
	if p.journal == nil {
		return ""
	}
	return p.journal.Path()
}

// Open returns the number of open actions and operations.
func (p *Pipeline) Open() int64 { return p.wd.Open() }

// Overdue returns the number of open actions and operations past their
// budget or their context's deadline at now.
func (p *Pipeline) Overdue(now time.Time) int64 { return p.wd.Overdue(now) }

// Reports returns how many reports of state s were made.
func (p *Pipeline) Reports(s watchdog.State) int64 { return p.wd.Reports(s) }

// pipelines maps the tracer providers crstel.Setup made to their
// pipelines.
var pipelines sync.Map // *sdktrace.TracerProvider → *Pipeline

// Register makes p the pipeline of tp's actions.
func Register(tp *sdktrace.TracerProvider, p *Pipeline) { pipelines.Store(tp, p) }

// Unregister forgets tp's pipeline.
func Unregister(tp *sdktrace.TracerProvider) { pipelines.Delete(tp) }

// Lookup returns the pipeline of tp, nil if it has none (it was not made
// by crstel.Setup).
func Lookup(tp trace.TracerProvider) *Pipeline {
	sdk, ok := tp.(*sdktrace.TracerProvider)
	if !ok {
		return nil
	}
	p, _ := pipelines.Load(sdk)
	pl, _ := p.(*Pipeline)
	return pl
}

// Budget returns the budget of an action of category (or of an operation
// of kind "llm") without its own.
func (p *Pipeline) Budget(key string) time.Duration {
	if d, ok := p.budgets[key]; ok {
		return d
	}
	return p.budgets["default"]
}

// Track hands a started action, whose Owner (an [Owner]), category, name,
// budget and heartbeat are set, to the watchdog and the journal, and sets
// the calling goroutine's label to it after that of enclosing, the action
// it was started in (nil if none). ctx is the context it was started from.
// It reports false if the pipeline is shut down.
func (p *Pipeline) Track(ctx context.Context, a *watchdog.Action, id trace.SpanID, enclosing *watchdog.Action) bool {
	deadline, _ := ctx.Deadline()
	if !p.wd.Add(a, id, time.Now(), deadline) {
		return false
	}
	// The journal takes the start of the action from the watchdog, if the
	// action is still open when it next writes (see starts).
	pprof.SetGoroutineLabels(watchdog.Labels(ctx, a, enclosing))
	return true
}

// Ended forgets a tracked action or operation that ended, and journals its
// end (see journalEnd).
func (p *Pipeline) Ended(a *watchdog.Action) {
	// Removed first: of Ended and the watchdog finding the span ended
	// (forgotten), only the one that removes the action counts it.
	if tracked, noted := p.wd.Remove(a); tracked {
		p.forgotten(a, noted)
	}
}

// forgotten counts (OnEnd) and journals an action that ended, and that
// the watchdog no longer tracks: removed by Ended, or found ended by the
// watchdog without Ended being called (the span was ended through
// trace.SpanFromContext, say).
func (p *Pipeline) forgotten(a *watchdog.Action, noted bool) {
	if p.onEnd != nil && a.Op == "" {
		p.onEnd(a)
	}
	p.journalEnd(a, noted)
}

// journalEnd journals the end of a if the journal wrote its start (noted),
// or if it failed or was cancelled: the journal never sees a short action
// that went well.
func (p *Pipeline) journalEnd(a *watchdog.Action, noted bool) {
	if p.journal == nil {
		return
	}
	cancelled := a.Owner.Err() != nil
	category, name, meta := a.Owner.Describe()
	e := journal.Event{
		Kind: journal.KindEnd, Span: a.Owner.SpanContext(), Parent: a.Owner.ParentSpanID(),
		Category: category, Name: cmp.Or(a.Op, name), Metadata: meta,
		Cancelled: cancelled, Time: time.Now(), Status: "unset",
	}
	var s sdktrace.ReadOnlySpan
	if o, ok := a.Owner.(Owner); ok {
		s = o.ReadOnly()
	}
	if o, ok := a.Owner.(CostOwner); ok {
		e.Cost = o.RollUp()
	}
	if s != nil {
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
func (p *Pipeline) starts(yield func(journal.Event) bool) {
	for a := range p.wd.Unnoted {
		if !yield(startEvent(a)) {
			return
		}
	}
}

// snapshot yields the start events of the open actions, which the journal
// writes again at the top of each new segment.
func (p *Pipeline) snapshot(yield func(journal.Event) bool) {
	if p.wd == nil {
		return
	}
	for _, a := range p.wd.Snapshot() {
		if !yield(startEvent(a)) {
			return
		}
	}
}

func startEvent(a *watchdog.Action) journal.Event {
	category, name, meta := a.Owner.Describe()
	return journal.Event{
		Kind: journal.KindStart, Time: a.Start(), Span: a.Owner.SpanContext(), Parent: a.Owner.ParentSpanID(),
		Category: category, Name: cmp.Or(a.Op, name), Metadata: meta,
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
func (p *Pipeline) reported(r watchdog.Report) {
	if p.journal == nil {
		return
	}
	kind := journal.KindOverdue
	switch r.State {
	case watchdog.Stalled:
		kind = journal.KindStalled
	case watchdog.Abandoned:
		kind = journal.KindAbandoned
	case watchdog.OverBudget:
		kind = journal.KindOverBudget
	}
	p.journal.Write(journal.Event{
		Kind: kind, Time: r.Start.Add(r.Elapsed), Span: r.Span, Parent: r.Parent,
		Category: r.Category, Name: cmp.Or(r.Op, r.Name), Metadata: r.Metadata,
		Budget: r.Budget, Elapsed: r.Elapsed, Error: r.Reason, Stack: r.Stack,
	})
}

// MergeBudgets returns defaults overridden by each of overrides in turn,
// or an error naming a key not in valid or a negative budget.
func MergeBudgets(defaults map[string]time.Duration, valid []string, overrides ...map[string]time.Duration) (map[string]time.Duration, error) {
	out := maps.Clone(defaults)
	var errs []error
	for _, o := range overrides {
		for _, k := range slices.Sorted(maps.Keys(o)) {
			switch d := o[k]; {
			case !slices.Contains(valid, k):
				errs = append(errs, fmt.Errorf("crstel: overdue budget for %q: want one of %s", k, strings.Join(valid, ", ")))
			case d < 0:
				errs = append(errs, fmt.Errorf("crstel: overdue budget for %q is %v: want 0 (none) or more", k, d))
			default:
				out[k] = d
			}
		}
	}
	return out, errors.Join(errs...)
}
