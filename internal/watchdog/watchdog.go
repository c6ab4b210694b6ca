// Package watchdog finds CRS actions that never end, while they still run.
//
// OpenTelemetry exports a span only when it ends, so the one action that
// hangs a whole run never reaches the collector. The watchdog keeps every
// open action in a registry and those with a budget, a context deadline or
// a heartbeat interval in a heap ordered by when they are next due. A
// goroutine wakes every check interval, pops what is due, and reports it:
// as a short span that is a child of the hung one, a log record, a journal
// record and a callback, repeated at growing intervals while the action
// stays open. At shutdown, actions still open are reported as abandoned
// and ended with an error, so they are exported too.
//
// With Config.Lifecycle, the same check also chooses the actions open past
// the lifecycle interval that get heartbeat records, and collects the
// ended ones that had them (see Lifecycle).
//
// Per action, Add and Remove cost O(1) under a lock held for a few
// operations, and no allocation: the registry is a set of intrusive lists.
// The watchdog's goroutine moves the actions still open at a check into
// the heap, O(log n) each, so that short actions never reach it. Nothing
// blocks on I/O.
package watchdog

import (
	"container/heap"
	"context"
	"errors"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// State is what a report says about an action.
type State uint8

// States of a report.
const (
	// Overdue: the action runs past its budget or its context's deadline.
	Overdue State = iota + 1
	// Stalled: the action missed its heartbeat interval.
	Stalled
	// Abandoned: the action was still open when the process shut down.
	Abandoned
	// OverBudget: the costs inside the action crossed its cost budget;
	// reported by ReportNow, on the goroutine of the cost that crossed it.
	OverBudget
)

func (s State) String() string {
	switch s {
	case Overdue:
		return "overdue"
	case Stalled:
		return "stalled"
	case Abandoned:
		return "abandoned"
	case OverBudget:
		return "over_budget"
	}
	return "state(" + strconv.Itoa(int(s)) + ")"
}

// Attribute keys of report spans, and of an abandoned action's span.
// Durations are doubles in seconds, as OpenTelemetry gives them, under
// names without a unit.
const (
	// StateKey is the state reported: overdue, stalled, abandoned or
	// over_budget.
	StateKey = attribute.Key("crstel.watchdog.state")
	// ElapsedKey is how long the action had run, in seconds (double).
	ElapsedKey = attribute.Key("crstel.watchdog.elapsed")
	// BudgetKey is the action's budget, in seconds (double); absent if
	// it has none.
	BudgetKey = attribute.Key("crstel.watchdog.budget")
	// ReasonKey says why, in words.
	ReasonKey = attribute.Key("crstel.watchdog.reason")
	// ReportKey counts the reports of this state for the action, from 1.
	ReportKey = attribute.Key("crstel.watchdog.report")
	// StackKey holds the stacks of the goroutines running the action.
	StackKey = attribute.Key("crstel.watchdog.stack")
	// ReportedSpan is the hex id of the span reported.
	ReportedSpan = attribute.Key("crstel.watchdog.span_id")
	// OperationKey names the operation reported inside the action, such
	// as an LLM call.
	OperationKey = attribute.Key("crstel.watchdog.operation")
)

// Owner is the action's side of the watchdog: its span and its context.
type Owner interface {
	// SpanContext identifies the action's span.
	SpanContext() trace.SpanContext
	// ParentSpanID identifies the span the action's span is a child of;
	// invalid for a root.
	ParentSpanID() trace.SpanID
	// Describe returns the action's category and name, and its task
	// metadata.
	Describe() (category, name string, metadata []attribute.KeyValue)
	// Err is the error of the context the action runs in.
	Err() error
	// EndAbandoned ends the action's span with an error status saying why.
	EndAbandoned(reason string)
	// Ended reports whether the action's span has ended. An action whose
	// span ended without [Watchdog.Remove] (through the span itself rather
	// than its owner) is forgotten when the watchdog next looks at it,
	// and [Config.Forgotten] is called.
	Ended() bool
}

// Action is an open action. The action's own record embeds it, so that
// tracking costs no allocation of its own. Exported fields are set before
// [Watchdog.Add] and not changed after.
type Action struct {
	Owner Owner // what it is (Describe), its span and context
	// Op names an operation inside the action the Owner describes, such
	// as the LLM call "chat gpt-4o-mini"; "" for an action itself.
	Op        string
	Budget    time.Duration // 0: none
	Heartbeat time.Duration // 0: none

	w           *Watchdog // the watchdog tracking it; its epoch is the origin of the times below
	id          trace.SpanID
	shard       uint8
	prev        *Action // in the shard's list of open actions, newest first
	next        *Action
	noted       bool   // yielded by Unnoted; guarded by the shard's lock
	queued      bool   // seen by admit; guarded by the shard's lock
	label       string // the value of its goroutine label; see Labels
	start       int64  // nanoseconds since the watchdog's epoch
	deadline    int64  // of the context, nanoseconds since the epoch; noDeadline: none
	lastBeat    atomic.Int64
	overBudgets atomic.Int32 // reports made by ReportNow

	// Guarded by Watchdog.mu.
	due      int64 // when next due, unix nanoseconds
	index    int32 // in the heap; -1 if not there
	overdues uint16
	stalls   uint16
	beatDue  int64          // when its next lifecycle heartbeat is due; never if off
	lc       lifecycleState // whether it gets lifecycle heartbeats
}

// Beat records that the action is alive. It does nothing before the
// action is added to a watchdog.
func (a *Action) Beat() {
	if a.w != nil {
		a.lastBeat.Store(a.w.since(time.Now()))
	}
}

// ContextDeadline returns the deadline of the action's context; zero if
// none, or if it is so far away (about 292 years, the range of a
// time.Duration) that it counts as none.
func (a *Action) ContextDeadline() time.Time {
	if a.deadline == noDeadline || a.w == nil {
		return time.Time{}
	}
	return a.w.at(a.deadline)
}

// Start returns when the action started; zero before it is added.
func (a *Action) Start() time.Time {
	if a.w == nil {
		return time.Time{}
	}
	return a.w.at(a.start)
}

// Times of actions are kept as nanoseconds since the watchdog's epoch, read
// with the monotonic clock, so that a step of the wall clock neither makes
// every action overdue nor hides one. Sums and products saturate: a budget
// of math.MaxInt64, or a context deadline in the year 3000, means "never",
// not a time in the past.
const noDeadline = math.MaxInt64

// since returns t as nanoseconds since the epoch.
func (w *Watchdog) since(t time.Time) int64 { return int64(t.Sub(w.epoch)) }

// at returns the time ns nanoseconds after the epoch.
func (w *Watchdog) at(ns int64) time.Time { return w.epoch.Add(time.Duration(ns)) }

// addSat returns a+b, saturated to the range of int64.
func addSat(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

// incSat returns n+1, or n if that would overflow.
func incSat(n uint16) uint16 {
	if n == math.MaxUint16 {
		return n
	}
	return n + 1
}

// growth returns d * 2^k (k at most 62), saturated at math.MaxInt64; d >= 0.
func growth(d int64, k uint16) int64 {
	k = min(k, 62)
	if d > math.MaxInt64>>k {
		return math.MaxInt64
	}
	return d << k
}

// Report is what the watchdog says about an action.
type Report struct {
	State    State
	Span     trace.SpanContext
	Parent   trace.SpanID
	Category string
	Name     string
	// Op names the operation reported, if it is not the action itself (see
	// Action.Op).
	Op       string
	Metadata []attribute.KeyValue
	Start    time.Time
	Elapsed  time.Duration
	Budget   time.Duration // 0: none
	// Reason says why, such as "running 6m0s, past its budget of 5m0s".
	Reason string
	// N counts the reports of this state for the action, from 1.
	N int
	// Stack holds the stacks of the goroutines running the action, or one
	// of its open descendants, bounded in size; "" if none was found.
	Stack string
}

// Config configures a Watchdog.
type Config struct {
	// Interval is how often due actions are checked. Default 500 ms.
	Interval time.Duration
	// Tracer makes the report spans; nil means none.
	Tracer trace.Tracer
	// Logger gets one record per report; nil means none.
	Logger *slog.Logger
	// OnReport is called with every report, on the watchdog's goroutine;
	// nil means none.
	OnReport func(Report)
	// StackBytes bounds the stack text of one report. Default 8 KiB.
	StackBytes int
	// Forgotten is called, on the watchdog's goroutine, with an action the
	// watchdog found ended without Remove, after removing it; noted tells
	// whether Unnoted had yielded it. nil means nothing to do.
	Forgotten func(a *Action, noted bool)
	// Lifecycle says which open actions get lifecycle records, and when;
	// off if its Interval or its Emit is zero.
	Lifecycle Lifecycle
}

const shards = 32

type shard struct {
	mu   sync.Mutex
	head *Action // a list of open actions, linked through prev and next
}

// Watchdog tracks open actions and reports those that run too long.
type Watchdog struct {
	cfg    Config
	epoch  time.Time // the origin of the actions' times
	shards [shards]shard
	open   atomic.Int64

	mu   sync.Mutex
	due  dueHeap
	stop chan struct{}
	done chan struct{}

	// Lifecycle records; guarded by mu.
	lcActive  int       // actions with heartbeats, open
	lcOmitted int       // actions past the delay without, open
	lcEnded   []*Action // actions with heartbeats that ended since the last emit
	lcDone    bool      // the last records are emitted: no more ended ones

	shutdownOnce sync.Once
	closed       atomic.Bool
	reports      [OverBudget + 1]atomic.Int64
}

// New returns a Watchdog and starts its goroutine, which ends at Shutdown.
func New(cfg Config) *Watchdog {
	if cfg.Interval <= 0 {
		cfg.Interval = 500 * time.Millisecond
	}
	if cfg.StackBytes <= 0 {
		cfg.StackBytes = 8 << 10
	}
	if cfg.Lifecycle.Emit == nil {
		cfg.Lifecycle.Interval = 0
	}
	cfg.Lifecycle.Interval = max(cfg.Lifecycle.Interval, 0)
	if cfg.Lifecycle.Max <= 0 {
		cfg.Lifecycle.Max = DefaultLifecycleMax
	}
	w := &Watchdog{cfg: cfg, epoch: time.Now(), stop: make(chan struct{}), done: make(chan struct{})}
	go w.loop()
	return w
}

// Add starts tracking a, whose span is id, started at start. deadline is
// its context's deadline (zero if none). After Shutdown it does nothing and
// returns false.
func (w *Watchdog) Add(a *Action, id trace.SpanID, start, deadline time.Time) bool {
	if w.closed.Load() {
		return false
	}
	a.w = w
	a.start = w.since(start)
	a.lastBeat.Store(a.start)
	a.index = -1
	a.beatDue, a.lc = never, lcNone
	a.deadline = noDeadline
	if !deadline.IsZero() {
		// Sub saturates: a deadline centuries away is as far as a
		// time.Duration reaches, which counts as none. (Near the end of
		// time.Time's range it can return a negative duration: After is
		// exact there.)
		d := deadline.Sub(start)
		if deadline.After(start) && d < 0 {
			d = math.MaxInt64
		}
		a.deadline = addSat(a.start, int64(d))
	}
	a.id, a.shard = id, id[7]%shards
	sh := &w.shards[a.shard]
	sh.mu.Lock()
	a.prev, a.next = nil, sh.head
	if sh.head != nil {
		sh.head.prev = a
	}
	sh.head = a
	sh.mu.Unlock()
	w.open.Add(1)
	// The watchdog's goroutine moves the action to the heap at its next
	// check, if it is still open then (see admit): a short action never
	// touches the heap.
	return true
}

// Remove stops tracking a. It reports whether a was tracked (false if it
// was never added, or already removed), and whether [Watchdog.Unnoted]
// yielded it.
func (w *Watchdog) Remove(a *Action) (tracked, noted bool) {
	sh := &w.shards[a.shard]
	sh.mu.Lock()
	if a.prev == nil && sh.head != a {
		sh.mu.Unlock()
		return false, false
	}
	noted = a.noted
	queued := a.queued
	if a.prev != nil {
		a.prev.next = a.next
	} else {
		sh.head = a.next
	}
	if a.next != nil {
		a.next.prev = a.prev
	}
	a.prev, a.next = nil, nil
	sh.mu.Unlock()
	w.open.Add(-1)
	if queued {
		w.mu.Lock()
		if a.index >= 0 {
			heap.Remove(&w.due, int(a.index))
		}
		w.lifecycleEnded(a)
		w.mu.Unlock()
	}
	return true, noted
}

// admit puts the actions added since the last check in the heap, if they
// are due at some time. It holds each shard's lock while it does, so that
// Remove finds an action either not queued, or queued and in the heap.
func (w *Watchdog) admit() {
	for i := range w.shards {
		sh := &w.shards[i]
		sh.mu.Lock()
		for a := sh.head; a != nil && !a.queued; a = a.next {
			a.queued = true
			if iv := w.cfg.Lifecycle.Interval; iv > 0 {
				a.beatDue = addSat(a.start, int64(iv)) // guarded by w.mu, but no one else sees it before the push
			}
			if due := a.nextDue(); due != never {
				w.mu.Lock()
				a.due = due
				heap.Push(&w.due, a)
				w.mu.Unlock()
			}
		}
		sh.mu.Unlock()
	}
}

// Unnoted yields the open actions that it has not yielded before, once
// each: those added since its last call and still open. Actions that were
// added and removed in between are never seen. The work is proportional to
// the actions yielded: each shard's list is newest first, so the walk stops
// at the first action noted before.
func (w *Watchdog) Unnoted(yield func(*Action) bool) {
	var batch []*Action
	for i := range w.shards {
		sh := &w.shards[i]
		sh.mu.Lock()
		for a := sh.head; a != nil && !a.noted; a = a.next {
			a.noted = true
			batch = append(batch, a)
		}
		sh.mu.Unlock()
	}
	for _, a := range batch {
		if !yield(a) {
			return
		}
	}
}

// SpanID returns the id of the action's span.
func (a *Action) SpanID() trace.SpanID { return a.id }

// Open returns the number of open actions.
func (w *Watchdog) Open() int64 { return w.open.Load() }

// Overdue returns the number of open actions (and operations) past their
// budget or their context's deadline at now. It walks the open actions,
// one shard's lock at a time: it is meant for a metric reader's collection,
// not for a hot path.
func (w *Watchdog) Overdue(now time.Time) int64 {
	nowNS := w.since(now)
	var n int64
	for i := range w.shards {
		sh := &w.shards[i]
		sh.mu.Lock()
		for a := sh.head; a != nil; a = a.next {
			if a.firstOverdue() <= nowNS {
				n++
			}
		}
		sh.mu.Unlock()
	}
	return n
}

// Reports returns how many reports of state s were made.
func (w *Watchdog) Reports(s State) int64 {
	if s > OverBudget {
		return 0
	}
	return w.reports[s].Load()
}

// Snapshot returns the open actions, in no order.
func (w *Watchdog) Snapshot() []*Action {
	var out []*Action
	for i := range w.shards {
		sh := &w.shards[i]
		sh.mu.Lock()
		for a := sh.head; a != nil; a = a.next {
			out = append(out, a)
		}
		sh.mu.Unlock()
	}
	return out
}

// never is the due time of an action with nothing to check.
const never = math.MaxInt64

// nextDue returns when a is next due for a check, or never: the earliest
// of its next overdue report, its next heartbeat check and its next
// lifecycle heartbeat.
func (a *Action) nextDue() int64 { return min(a.nextOverdue(), a.nextStall(), a.beatDue) }

// nextOverdue returns when a's next overdue report is due, or never.
// Reports repeat at growing intervals: the k-th (from 0) is due at
// first + step*(2^k - 1), where first is when it became overdue (its start,
// if its context's deadline had passed before) and step the time from its
// start to first, at least a second.
func (a *Action) nextOverdue() int64 {
	first := a.firstOverdue()
	if first == never {
		return never
	}
	first = max(first, a.start)
	step := max(first-a.start, int64(time.Second))
	return addSat(first, growth(step, a.overdues)-step)
}

// nextStall returns when a is stalled if it sends no heartbeat before, or
// never: the silence allowed doubles with each stalled report.
func (a *Action) nextStall() int64 {
	if a.Heartbeat <= 0 {
		return never
	}
	return addSat(a.lastBeat.Load(), growth(int64(a.Heartbeat), a.stalls))
}

// firstOverdue returns when a becomes overdue: the earlier of its budget
// and its context's deadline; never if neither.
func (a *Action) firstOverdue() int64 {
	first := int64(never)
	if a.Budget > 0 {
		first = addSat(a.start, int64(a.Budget))
	}
	return min(first, a.deadline)
}

func (w *Watchdog) loop() {
	defer close(w.done)
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for tick := 0; ; tick++ {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.admit()
			now := time.Now()
			beats, omitted := w.check(now)
			w.emitLifecycle(now, beats, omitted)
			w.sweep(tick % shards)
		}
	}
}

// sweep forgets the actions of shard i whose spans ended without Remove.
// One shard a tick: each action is looked at every 32 ticks (16 s at the
// default interval), at the cost of one span lock each.
func (w *Watchdog) sweep(i int) {
	sh := &w.shards[i]
	var ended []*Action
	sh.mu.Lock()
	for a := sh.head; a != nil; a = a.next {
		if a.queued && a.Owner.Ended() { // one not yet queued is too young to bother
			ended = append(ended, a)
		}
	}
	sh.mu.Unlock()
	for _, a := range ended {
		w.forget(a)
	}
}

// forget removes a, whose span ended without Remove, and tells
// Config.Forgotten.
func (w *Watchdog) forget(a *Action) {
	tracked, noted := w.Remove(a)
	if tracked && w.cfg.Forgotten != nil {
		w.cfg.Forgotten(a, noted)
	}
}

// check reports every action due at now. It returns the actions whose
// lifecycle heartbeat is due, and whether the cap left some out (see
// chooseBeats).
func (w *Watchdog) check(now time.Time) (beats []*Action, omitted bool) {
	type due struct {
		a     *Action
		state State
		n     int
	}
	var reports []due
	nowNS := w.since(now)
	w.mu.Lock()
	for w.due.Len() > 0 && w.due[0].due <= nowNS {
		a := heap.Pop(&w.due).(*Action)
		if a.beatDue <= nowNS {
			beats = append(beats, a)
			// Every interval from the start; a check late by more than
			// an interval skips what it missed.
			iv := int64(w.cfg.Lifecycle.Interval)
			if a.beatDue = addSat(a.beatDue, iv); a.beatDue <= nowNS {
				a.beatDue = addSat(nowNS, iv)
			}
		}
		if a.Heartbeat > 0 {
			switch {
			case a.nextStall() <= nowNS:
				a.stalls = incSat(a.stalls)
				reports = append(reports, due{a, Stalled, int(a.stalls)})
			case addSat(a.lastBeat.Load(), int64(a.Heartbeat)) > nowNS:
				a.stalls = 0 // it beat again: start over
			}
		}
		if a.nextOverdue() <= nowNS {
			a.overdues = incSat(a.overdues)
			reports = append(reports, due{a, Overdue, int(a.overdues)})
		}
		if next := a.nextDue(); next != never {
			a.due = max(next, nowNS+1)
			heap.Push(&w.due, a)
		}
	}
	if len(beats) > 0 {
		beats, omitted = w.chooseBeats(beats)
	}
	w.mu.Unlock()
	if len(reports) == 0 {
		return beats, omitted
	}
	var stacks *stacks
	for _, r := range reports {
		if r.a.Owner.Ended() {
			w.forget(r.a)
			continue
		}
		if stacks == nil {
			stacks = newStacks(w)
		}
		w.report(r.a, r.state, r.n, now, stacks, "")
	}
	return beats, omitted
}

// ReportNow reports a, tracked by w, in state s (OverBudget) now, on the
// calling goroutine, with why in words: the report span, the log record
// and Config.OnReport, as for the reports the watchdog's goroutine makes.
// It does nothing if a is not tracked by w, or after Shutdown.
func (w *Watchdog) ReportNow(a *Action, s State, why string) {
	if a.w != w || w.closed.Load() || s > OverBudget {
		return
	}
	n := int(a.overBudgets.Add(1))
	w.report(a, s, n, time.Now(), newStacks(w), why)
}

// report makes one report of a; why, if not "", says why instead of the
// reason of state.
func (w *Watchdog) report(a *Action, state State, n int, now time.Time, stacks *stacks, why string) {
	w.reports[state].Add(1)
	elapsed := max(time.Duration(w.since(now)-a.start), 0)
	if why == "" {
		why = reason(a, state, elapsed, now)
	}
	r := Report{
		State: state, Span: a.Owner.SpanContext(), Parent: a.Owner.ParentSpanID(),
		Op:    a.Op,
		Start: a.Start(), Elapsed: elapsed, Budget: a.Budget, N: n,
		Reason: why,
		Stack:  stacks.of(a),
	}
	r.Category, r.Name, r.Metadata = a.Owner.Describe()
	if w.cfg.Tracer != nil {
		w.reportSpan(r)
	}
	if w.cfg.Logger != nil {
		w.cfg.Logger.LogAttrs(context.Background(), slog.LevelWarn, "crstel: action "+state.String(),
			slog.String("crs.action.category", r.Category),
			slog.String("crs.action.name", r.Name),
			slog.String("operation", r.Op),
			slog.String("trace_id", r.Span.TraceID().String()),
			slog.String("span_id", r.Span.SpanID().String()),
			slog.Duration("elapsed", r.Elapsed.Round(time.Millisecond)),
			slog.Duration("budget", r.Budget),
			slog.Int("report", r.N),
			slog.String("reason", r.Reason),
			slog.String("stack", r.Stack))
	}
	if w.cfg.OnReport != nil {
		w.cfg.OnReport(r)
	}
}

func reason(a *Action, state State, elapsed time.Duration, now time.Time) string {
	el := max(elapsed, 0).Round(time.Millisecond).String()
	switch state {
	case Stalled:
		// A heartbeat may land between the check and now: never negative.
		quiet := max(time.Duration(a.w.since(now)-a.lastBeat.Load()), 0).Round(time.Millisecond)
		return "no heartbeat for " + quiet.String() + ", expected every " + a.Heartbeat.String() + "; running " + el
	case Abandoned:
		return "still running at shutdown after " + el
	}
	if a.deadline != noDeadline && (a.Budget <= 0 || a.deadline < addSat(a.start, int64(a.Budget))) {
		return "running " + el + ", past its context's deadline"
	}
	return "running " + el + ", past its budget of " + a.Budget.String()
}

// reportSpan exports r as a short span, a child of the reported action's.
func (w *Watchdog) reportSpan(r Report) {
	ctx := trace.ContextWithSpanContext(context.Background(), r.Span)
	attrs := make([]attribute.KeyValue, 0, 9+len(r.Metadata))
	attrs = append(attrs,
		attribute.String("crs.action.category", r.Category),
		attribute.String("crs.action.name", r.Name),
		StateKey.String(r.State.String()),
		ElapsedKey.Float64(r.Elapsed.Seconds()),
		ReasonKey.String(r.Reason),
		ReportKey.Int(r.N),
		ReportedSpan.String(r.Span.SpanID().String()),
	)
	if r.Op != "" {
		attrs = append(attrs, OperationKey.String(r.Op))
	}
	if r.Budget > 0 {
		attrs = append(attrs, BudgetKey.Float64(r.Budget.Seconds()))
	}
	if r.Stack != "" {
		attrs = append(attrs, StackKey.String(r.Stack))
	}
	attrs = append(attrs, r.Metadata...)
	_, span := w.cfg.Tracer.Start(ctx, "crstel.watchdog "+r.State.String(), trace.WithAttributes(attrs...))
	if r.State != Abandoned {
		span.SetStatus(codes.Error, r.Reason)
	}
	span.End()
}

// Shutdown stops the watchdog: its goroutine ends, and every action still
// open is reported as abandoned and ended with an error status. It returns
// ctx.Err() if ctx ends first. It is safe to call more than once.
func (w *Watchdog) Shutdown(ctx context.Context) error {
	var err error
	w.shutdownOnce.Do(func() {
		close(w.stop)
		select {
		case <-w.done:
		case <-ctx.Done():
			err = ctx.Err()
			return
		}
		w.closed.Store(true)
		// The ended records of the actions that ended since the last
		// check, and of those ended below.
		defer w.flushLifecycle()
		var open []*Action
		for _, a := range w.Snapshot() {
			if a.Owner.Ended() {
				w.forget(a)
			} else {
				open = append(open, a)
			}
		}
		if len(open) == 0 {
			return
		}
		now := time.Now()
		stacks := newStacks(w)
		for _, a := range open {
			w.report(a, Abandoned, 1, now, stacks, "")
		}
		for _, a := range open {
			a.Owner.EndAbandoned(reason(a, Abandoned, now.Sub(a.Start()), now))
			if ctx.Err() != nil {
				err = errors.Join(err, ctx.Err())
				return
			}
		}
	})
	return err
}

// dueHeap orders actions by when they are next due.
type dueHeap []*Action

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due < h[j].due }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = int32(i), int32(j)
}
func (h *dueHeap) Push(x any) {
	a := x.(*Action)
	a.index = int32(len(*h))
	*h = append(*h, a)
}
func (h *dueHeap) Pop() any {
	old := *h
	a := old[len(old)-1]
	old[len(old)-1] = nil
	a.index = -1
	*h = old[:len(old)-1]
	return a
}
