package journal

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"
)

// Report sorts the actions of a journal into buckets. Open actions (those
// without an end) are in Running, Overdue, Stalled or OverBudget; ended
// ones that were cancelled or failed in Cancelled or Errors; ended ones
// that the watchdog had reported in Overdue, Stalled or OverBudget; actions the
// watchdog ended at shutdown in Abandoned. Actions that ended normally are
// only counted.
type Report struct {
	// AsOf is the time open actions' durations run to.
	AsOf time.Time
	// Service, Host, Exe, PID and Started come from the first header.
	Service, Host, Exe string
	PID                int
	Started            time.Time
	// Last is the time of the latest record.
	Last time.Time
	// Closed tells that the last record is a close record.
	Closed bool
	// Actions is the number of actions in the journal.
	Actions int
	// Dropped is the number of events the writer dropped; their actions
	// may look open, or be missing.
	Dropped int64
	// Corrupt is the number of lines that could not be read.
	Corrupt int64

	// Running holds open actions with no report, longest first.
	Running []Entry
	// Overdue holds actions whose latest report says they are past their
	// budget, longest first: open ones, and ones that ended late (End set).
	Overdue []Entry
	// Stalled holds actions whose latest report says they missed their
	// heartbeat, longest first: open ones, and ones that ended after (End
	// set).
	Stalled []Entry
	// OverBudget holds actions whose latest report says their costs
	// crossed their cost budget (crstel.WithCostBudget), longest first:
	// open ones, and ones that ended after (End set), unless they ended
	// cancelled or failed.
	OverBudget []Entry
	// Abandoned holds actions still open at shutdown, longest first.
	Abandoned []Entry
	// Cancelled holds actions that ended with their context cancelled or
	// expired, most recent first.
	Cancelled []Entry
	// Errors holds actions that ended with an error, not cancelled, most
	// recent first.
	Errors []Entry
}

// Entry is an action in a [Report].
type Entry struct {
	TraceID, SpanID, ParentID string
	Category, Name            string
	Metadata                  map[string]string
	// Start is when the action started.
	Start time.Time
	// End is when it ended; zero for an open action.
	End time.Time
	// Duration is how long it ran: until AsOf for an open action.
	Duration time.Duration
	// Budget is its budget; 0 means none.
	Budget time.Duration
	// Status is the status of an ended action.
	Status string
	// Error is the error of an ended action, or why it was reported.
	Error string
	// Cancelled tells that the action's context was cancelled.
	Cancelled bool
	// Stack holds the goroutine stacks of the latest report.
	Stack string
	// Deepest is the deepest open action under an open one; nil if none.
	Deepest *Descendant
}

// Descendant is an open action under another, found by following parent
// ids.
type Descendant struct {
	SpanID, Category, Name string
	// Depth is 1 for a child, 2 for a grandchild...
	Depth int
	// Start is when it started; Duration how long it ran until AsOf.
	Start    time.Time
	Duration time.Duration
}

// action gathers the records of one action.
type action struct {
	start, end, report, abandoned *Record
	order                         int
	// For open actions.
	entry   *Entry
	visit   uint8 // 0 new, 1 in progress, 2 done
	deepest *action
	depth   int
}

// Analyze sorts the actions of a journal's records into a [Report]. asOf
// is the time the durations of open actions run to: now for a live
// process, and for a dead one the time of its latest record, which is what
// a zero asOf means.
//
// Records may come from several segments of a journal, oldest first:
// repeated starts are ignored, and an end or report without a start stands
// for the action.
func Analyze(records []Record, asOf time.Time) Report {
	var rep Report
	actions := make(map[string]*action)
	var order []*action
	headerSeen := false
	for i := range records {
		r := &records[i]
		if r.Time.After(rep.Last) {
			rep.Last = r.Time
		}
		switch r.Kind {
		case RecordHeader:
			if !headerSeen {
				headerSeen = true
				rep.Service, rep.Host, rep.Exe, rep.PID, rep.Started = r.Service, r.Host, r.Exe, r.PID, r.Time
			}
		case RecordDropped:
			rep.Dropped = addCount(rep.Dropped, r.Count)
		case RecordCorrupt:
			rep.Corrupt = addCount(rep.Corrupt, r.Count)
		case "start", "end", "overdue", "stalled", "over_budget", "abandoned":
			if r.SpanID == "" {
				continue
			}
			key := r.TraceID + "/" + r.SpanID
			a := actions[key]
			if a == nil {
				a = &action{order: len(order)}
				actions[key] = a
				order = append(order, a)
			}
			switch r.Kind {
			case "start":
				if a.start == nil {
					a.start = r
				}
			case "end":
				if a.end == nil {
					a.end = r
				}
			case "abandoned":
				if a.abandoned == nil {
					a.abandoned = r
				}
			default:
				a.report = r
			}
		}
	}
	if n := len(records); n > 0 {
		rep.Closed = records[n-1].Kind == RecordClose
	}
	if asOf.IsZero() {
		asOf = rep.Last
	}
	rep.AsOf = asOf
	rep.Actions = len(order)

	open := make(map[string]*action) // by span id
	for _, a := range order {
		e := a.newEntry(asOf)
		switch {
		case a.abandoned != nil:
			rep.Abandoned = append(rep.Abandoned, e)
		case a.end != nil && a.end.Cancelled:
			rep.Cancelled = append(rep.Cancelled, e)
		case a.end != nil && a.end.Status == "error":
			rep.Errors = append(rep.Errors, e)
		case a.end != nil && a.report != nil:
			// Reported, then ended: late, after a stall, or past its cost
			// budget. Still worth a look.
			rep.addReported(a.report.Kind, e)
		case a.end != nil:
		default:
			a.entry = &e
			open[e.SpanID] = a
		}
	}

	// The deepest open descendant of each open action.
	children := make(map[string][]*action)
	for _, a := range open {
		if p := a.entry.ParentID; p != "" && p != a.entry.SpanID && open[p] != nil {
			children[p] = append(children[p], a)
		}
	}
	for _, a := range order {
		if a.entry == nil {
			continue
		}
		a.findDeepest(children)
		e := *a.entry
		if d := a.deepest; d != nil {
			e.Deepest = &Descendant{
				SpanID: d.entry.SpanID, Category: d.entry.Category, Name: d.entry.Name,
				Depth: a.depth, Start: d.entry.Start, Duration: d.entry.Duration,
			}
		}
		if a.report == nil {
			rep.Running = append(rep.Running, e)
		} else {
			rep.addReported(a.report.Kind, e)
		}
	}

	longest := func(a, b Entry) int {
		return cmp.Or(cmp.Compare(b.Duration, a.Duration), a.Start.Compare(b.Start), strings.Compare(a.SpanID, b.SpanID))
	}
	recent := func(a, b Entry) int {
		return cmp.Or(b.End.Compare(a.End), strings.Compare(a.SpanID, b.SpanID))
	}
	slices.SortFunc(rep.Running, longest)
	slices.SortFunc(rep.Overdue, longest)
	slices.SortFunc(rep.Stalled, longest)
	slices.SortFunc(rep.OverBudget, longest)
	slices.SortFunc(rep.Abandoned, longest)
	slices.SortFunc(rep.Cancelled, recent)
	slices.SortFunc(rep.Errors, recent)
	return rep
}

// newEntry returns a's entry, its duration running to asOf if it is open.
func (a *action) newEntry(asOf time.Time) Entry {
	// The first record of the action describes it.
	var r *Record
	for _, c := range []*Record{a.start, a.end, a.report, a.abandoned} {
		if c != nil {
			r = c
			break
		}
	}
	e := Entry{
		TraceID: r.TraceID, SpanID: r.SpanID, ParentID: r.ParentID,
		Category: r.Category, Name: r.Name, Metadata: r.Metadata,
	}
	switch {
	case a.start != nil:
		e.Start = a.start.Time
	case a.end != nil:
		e.Start = a.end.Time.Add(-ms(a.end.DurationMS))
	case a.report != nil:
		e.Start = a.report.Time.Add(-ms(a.report.ElapsedMS))
	default:
		e.Start = a.abandoned.Time.Add(-ms(a.abandoned.ElapsedMS))
	}
	for _, c := range []*Record{a.start, a.report, a.abandoned} {
		if c != nil && c.BudgetMS > 0 {
			e.Budget = ms(c.BudgetMS)
			break
		}
	}
	if a.report != nil {
		e.Error, e.Stack = a.report.Error, a.report.Stack
	}
	switch {
	case a.end != nil:
		e.End = a.end.Time
		e.Duration = ms(a.end.DurationMS)
		e.Status, e.Cancelled = a.end.Status, a.end.Cancelled
		e.Error = cmp.Or(a.end.Error, e.Error)
	case a.abandoned != nil:
		e.Duration = ms(a.abandoned.ElapsedMS)
		if e.Duration == 0 {
			e.Duration = a.abandoned.Time.Sub(e.Start)
		}
	default:
		e.Duration = asOf.Sub(e.Start)
	}
	if a.abandoned != nil {
		e.Error = cmp.Or(a.abandoned.Error, e.Error)
		e.Stack = cmp.Or(a.abandoned.Stack, e.Stack)
	}
	e.Duration = max(e.Duration, 0)
	return e
}

// findDeepest sets a.deepest to the deepest open action under a, and
// a.depth to its depth, and does the same for every open action under a.
// Among equally deep ones it takes the longest running. Cycles, which only
// a corrupt journal has, are cut. It walks the tree without recursion, so
// that a corrupt journal's chain of a million actions cannot exhaust the
// stack.
func (a *action) findDeepest(children map[string][]*action) {
	if a.visit != 0 {
		return
	}
	type frame struct {
		a    *action
		next int // the index of the next child to visit
	}
	a.visit = 1
	stack := []frame{{a: a}}
	for len(stack) > 0 {
		top := &stack[len(stack)-1]
		kids := children[top.a.entry.SpanID]
		if top.next < len(kids) {
			c := kids[top.next]
			top.next++
			if c.visit == 0 {
				c.visit = 1
				stack = append(stack, frame{a: c})
			}
			continue
		}
		// Every child is done, or in progress (a cycle): settle top.
		p := top.a
		for _, c := range kids {
			if c.visit != 2 {
				continue // a cycle
			}
			d, depth := c, 1
			if c.deepest != nil {
				d, depth = c.deepest, c.depth+1
			}
			if p.deepest == nil || depth > p.depth ||
				depth == p.depth && cmp.Or(cmp.Compare(d.entry.Duration, p.deepest.entry.Duration),
					strings.Compare(p.deepest.entry.SpanID, d.entry.SpanID)) > 0 {
				p.deepest, p.depth = d, depth
			}
		}
		p.visit = 2
		stack = stack[:len(stack)-1]
	}
}

// addCount returns n plus the count c of a record, ignoring a negative c,
// and saturating instead of overflowing.
func addCount(n, c int64) int64 {
	if c <= 0 {
		return n
	}
	if n > math.MaxInt64-c {
		return math.MaxInt64
	}
	return n + c
}

// ms converts fractional milliseconds to a duration. Values beyond the
// range of a duration saturate, so that a budget of math.MaxInt64, written
// as 9223372036854.776 ms, reads back as itself; NaN is 0.
func ms(v float64) time.Duration {
	d := v * float64(time.Millisecond)
	switch {
	case d != d:
		return 0
	case d >= 1<<63:
		return math.MaxInt64
	case d <= -(1 << 63):
		return math.MinInt64
	}
	return time.Duration(d)
}

// addReported adds e, an action the watchdog reported as kind last, to its
// bucket.
func (rep *Report) addReported(kind string, e Entry) {
	switch kind {
	case "overdue":
		rep.Overdue = append(rep.Overdue, e)
	case "over_budget":
		rep.OverBudget = append(rep.OverBudget, e)
	default:
		rep.Stalled = append(rep.Stalled, e)
	}
}
