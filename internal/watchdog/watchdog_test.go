package watchdog_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/crstel/crstel/internal/watchdog"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// owner is an action's side, with a real SDK span.
type owner struct {
	trace.Span
	ctx       context.Context
	name      string
	abandoned string
}

func (o *owner) Err() error { return o.ctx.Err() }
func (o *owner) Describe() (string, string, []attribute.KeyValue) {
	return "building", o.name, []attribute.KeyValue{attribute.String("task.id", "task-1")}
}
func (o *owner) ParentSpanID() trace.SpanID {
	return o.Span.(sdktrace.ReadOnlySpan).Parent().SpanID()
}
func (o *owner) Ended() bool { return !o.Span.IsRecording() }
func (o *owner) EndAbandoned(reason string) {
	o.abandoned = reason
	o.Span.SetStatus(codes.Error, "abandoned: "+reason)
	o.Span.End()
}

// fixture is a watchdog with a recording tracer and a log of reports.
type fixture struct {
	w   *watchdog.Watchdog
	tp  *sdktrace.TracerProvider
	rec *tracetest.SpanRecorder

	mu      sync.Mutex
	reports []watchdog.Report
}

func newFixture(t *testing.T) *fixture {
	f := &fixture{rec: tracetest.NewSpanRecorder()}
	f.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(f.rec))
	f.w = watchdog.New(watchdog.Config{
		Interval: 100 * time.Millisecond,
		Tracer:   f.tp.Tracer("watchdog"),
		OnReport: func(r watchdog.Report) {
			f.mu.Lock()
			f.reports = append(f.reports, r)
			f.mu.Unlock()
		},
	})
	t.Cleanup(func() { f.w.Shutdown(context.Background()) })
	return f
}

func (f *fixture) got() []watchdog.Report {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]watchdog.Report(nil), f.reports...)
}

// start begins a tracked action.
func (f *fixture) start(ctx context.Context, name string, budget, heartbeat time.Duration) (*watchdog.Action, *owner) {
	_, span := f.tp.Tracer("test").Start(ctx, name)
	o := &owner{Span: span, ctx: ctx, name: name}
	a := &watchdog.Action{Owner: o, Budget: budget, Heartbeat: heartbeat}
	deadline, _ := ctx.Deadline()
	f.w.Add(a, span.SpanContext().SpanID(), time.Now(), deadline)
	return a, o
}

func (f *fixture) end(a *watchdog.Action, o *owner) {
	o.Span.End()
	f.w.Remove(a)
}

func states(rs []watchdog.Report) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.State.String()+"@"+r.Elapsed.Round(100*time.Millisecond).String())
	}
	return strings.Join(s, " ")
}

// TestOverdue: an action past its budget is reported while still open, at
// growing intervals, and no more once it ends.
func TestOverdue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		a, o := f.start(context.Background(), "compile", 5*time.Second, 0)

		time.Sleep(4900 * time.Millisecond)
		if got := f.got(); len(got) != 0 {
			t.Fatalf("reports before the budget: %s", states(got))
		}
		time.Sleep(200 * time.Millisecond) // 5.1 s: within one interval of the budget
		got := f.got()
		if len(got) != 1 || got[0].State != watchdog.Overdue || got[0].N != 1 {
			t.Fatalf("reports at 5.1s = %s, want one overdue", states(got))
		}
		r := got[0]
		if r.Budget != 5*time.Second || r.Elapsed < 5*time.Second || r.Elapsed > 5100*time.Millisecond {
			t.Errorf("report budget %v elapsed %v, want 5s and 5s..5.1s", r.Budget, r.Elapsed)
		}
		if !strings.Contains(r.Reason, "past its budget of 5s") {
			t.Errorf("reason = %q", r.Reason)
		}

		// Again after 10 s and 20 s of running, not in between.
		time.Sleep(25 * time.Second)
		if got := states(f.got()); got != "overdue@5s overdue@10s overdue@20s" {
			t.Errorf("reports by 30 s = %s, want overdue at 5s, 10s, 20s", got)
		}
		f.end(a, o)
		time.Sleep(time.Minute)
		if n := len(f.got()); n != 3 {
			t.Errorf("%d reports after the action ended, want still 3", n)
		}
		if f.w.Open() != 0 {
			t.Errorf("Open() = %d, want 0", f.w.Open())
		}
		if n := f.w.Reports(watchdog.Overdue); n != 3 {
			t.Errorf("Reports(Overdue) = %d, want 3", n)
		}
	})
}

// TestReportSpan: the report is a short span, a child of the hung span,
// carrying its category, name, metadata, state, elapsed time and budget.
func TestReportSpan(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		_, o := f.start(context.Background(), "compile", time.Second, 0)
		time.Sleep(1200 * time.Millisecond)

		var rep sdktrace.ReadOnlySpan
		for _, s := range f.rec.Ended() {
			if s.Name() == "crstel.watchdog overdue" {
				rep = s
			}
		}
		if rep == nil {
			t.Fatal("no report span ended")
		}
		if rep.Parent().SpanID() != o.SpanContext().SpanID() || rep.SpanContext().TraceID() != o.SpanContext().TraceID() {
			t.Errorf("report span parent = %s, want the hung span %s", rep.Parent().SpanID(), o.SpanContext().SpanID())
		}
		want := map[attribute.Key]attribute.Value{
			"crs.action.category": attribute.StringValue("building"),
			"crs.action.name":     attribute.StringValue("compile"),
			"task.id":             attribute.StringValue("task-1"),
			watchdog.StateKey:     attribute.StringValue("overdue"),
			watchdog.BudgetKey:    attribute.Float64Value(1),
			watchdog.ReportKey:    attribute.IntValue(1),
			watchdog.ReportedSpan: attribute.StringValue(o.SpanContext().SpanID().String()),
		}
		got := map[attribute.Key]attribute.Value{}
		for _, kv := range rep.Attributes() {
			got[kv.Key] = kv.Value
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("report span %s = %s, want %s", k, got[k].String(), v.String())
			}
		}
		if e := got[watchdog.ElapsedKey].AsFloat64(); e < 1 || e > 1.2 {
			t.Errorf("elapsed = %v, want 1..1.2 s", e)
		}
		if rep.Status().Code != codes.Error {
			t.Errorf("report span status = %v, want error", rep.Status())
		}
	})
}

// TestStalled: an action that stops beating is stalled, not overdue; one
// that beats is not reported.
func TestStalled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		a, o := f.start(context.Background(), "fuzz", 0, 2*time.Second)
		for range 10 { // 10 s of progress
			time.Sleep(time.Second)
			a.Beat()
		}
		if got := f.got(); len(got) != 0 {
			t.Fatalf("reports while beating: %s", states(got))
		}
		time.Sleep(2100 * time.Millisecond) // silent for 2.1 s
		got := f.got()
		if len(got) != 1 || got[0].State != watchdog.Stalled {
			t.Fatalf("reports after 2.1 s of silence = %s, want one stalled", states(got))
		}
		if !strings.Contains(got[0].Reason, "no heartbeat for 2") {
			t.Errorf("reason = %q", got[0].Reason)
		}
		time.Sleep(2 * time.Second) // 4.1 s of silence: reported again
		if n := len(f.got()); n != 2 {
			t.Errorf("%d reports after 4.1 s of silence, want 2", n)
		}
		a.Beat()
		time.Sleep(1500 * time.Millisecond)
		if n := len(f.got()); n != 2 {
			t.Errorf("%d reports after a new heartbeat, want still 2", n)
		}
		f.end(a, o)
	})
}

// TestContextDeadline: an action still running after its context's deadline
// is overdue, even without a budget.
func TestContextDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		a, o := f.start(ctx, "submit", 0, 0)
		time.Sleep(3100 * time.Millisecond)
		got := f.got()
		if len(got) != 1 || got[0].State != watchdog.Overdue || !strings.Contains(got[0].Reason, "deadline") {
			t.Fatalf("reports = %+v, want one overdue past the deadline", got)
		}
		if !errors.Is(o.Err(), context.DeadlineExceeded) {
			t.Errorf("owner Err = %v", o.Err())
		}
		f.end(a, o)
	})
}

// TestAbandoned: at Shutdown, open actions are reported as abandoned and
// ended with an error; the goroutine ends.
func TestAbandoned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		_, o := f.start(context.Background(), "generate_patch", 0, 0)
		a2, o2 := f.start(context.Background(), "done_in_time", time.Hour, 0)
		f.end(a2, o2)
		time.Sleep(time.Second)

		if err := f.w.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := f.got()
		if len(got) != 1 || got[0].State != watchdog.Abandoned || got[0].Name != "generate_patch" {
			t.Fatalf("reports = %s, want one abandoned generate_patch", states(got))
		}
		if !strings.Contains(o.abandoned, "still running at shutdown after 1s") {
			t.Errorf("EndAbandoned reason = %q", o.abandoned)
		}
		if err := f.w.Shutdown(context.Background()); err != nil {
			t.Errorf("second Shutdown: %v", err)
		}
		if f.w.Add(&watchdog.Action{Owner: o}, trace.SpanID{9}, time.Now(), time.Time{}) {
			t.Error("Add after Shutdown tracked the action")
		}
	})
}

// TestStacks: the report holds the stack of the goroutine running the
// action, found by its pprof label, and of goroutines in its open
// descendants.
func TestStacks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		_, parent := f.start(context.Background(), "parent", time.Second, 0)
		childCtx := trace.ContextWithSpan(context.Background(), parent.Span)
		child, _ := f.start(childCtx, "child", 0, 0)

		release := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			pprof.SetGoroutineLabels(watchdog.Labels(context.Background(), child, nil))
			hangInChild(release)
		}()
		time.Sleep(1200 * time.Millisecond)
		got := f.got()
		close(release)
		<-done
		if len(got) != 1 {
			t.Fatalf("reports = %s, want one", states(got))
		}
		if !strings.Contains(got[0].Stack, "hangInChild") || !strings.Contains(got[0].Stack, "open descendant") {
			t.Errorf("stack of the parent's report = %q, want hangInChild in an open descendant", got[0].Stack)
		}
	})
}

func hangInChild(release chan struct{}) { <-release }

// TestManyOpen: one hung action among many open ones is found quickly.
func TestManyOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		const n = 20_000
		for i := range n {
			f.start(context.Background(), "fine", time.Hour+time.Duration(i), 0)
		}
		f.start(context.Background(), "hung", time.Second, 0)
		time.Sleep(1100 * time.Millisecond)
		got := f.got()
		if len(got) != 1 || got[0].Name != "hung" {
			t.Fatalf("reports = %s, want the hung one", states(got))
		}
		if f.w.Open() != n+1 {
			t.Errorf("Open() = %d, want %d", f.w.Open(), n+1)
		}
	})
}

// TestTimesOutOfRange: budgets, heartbeats and context deadlines at the
// ends of what a time.Duration or a time.Time holds never overflow into "due
// now": a far-away one is never reported, and one long past is reported
// once and then at growing intervals, not at every check.
func TestTimesOutOfRange(t *testing.T) {
	far := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC)
	farther := time.Date(1_000_000_000, 1, 1, 0, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		ctx       func() (context.Context, context.CancelFunc)
		budget    time.Duration
		heartbeat time.Duration
		want      int // reports in the first minute
	}{
		{name: "budget MaxInt64", budget: math.MaxInt64},
		{name: "budget MaxInt64-1", budget: math.MaxInt64 - 1},
		{name: "budget 200 years", budget: 200 * 365 * 24 * time.Hour},
		{name: "heartbeat MaxInt64", heartbeat: math.MaxInt64},
		{name: "heartbeat 100 years", heartbeat: 100 * 365 * 24 * time.Hour},
		{name: "budget and heartbeat MaxInt64", budget: math.MaxInt64, heartbeat: math.MaxInt64},
		{name: "timeout MaxInt64", ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), math.MaxInt64)
		}},
		{name: "deadline year 3000", ctx: func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), far)
		}},
		{name: "deadline in the year 1e9", ctx: func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), farther)
		}},
		{name: "deadline year 3000 and budget MaxInt64", budget: math.MaxInt64, ctx: func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), far)
		}},
		// Past: reported at 0 s (first check), then after 1, 3, 7, 15, 31
		// s: 6 in a minute, never one per check (120).
		{name: "deadline in year 1", want: 6, ctx: func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC))
		}},
		{name: "deadline at the zero unix time", want: 6, ctx: func() (context.Context, context.CancelFunc) {
			return context.WithDeadline(context.Background(), time.Unix(0, 0))
		}},
		{name: "deadline just passed", want: 6, ctx: func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), -time.Nanosecond)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := newFixture(t)
				ctx, cancel := context.Background(), context.CancelFunc(func() {})
				if tt.ctx != nil {
					ctx, cancel = tt.ctx()
				}
				defer cancel()
				a, o := f.start(ctx, "long", tt.budget, tt.heartbeat)
				time.Sleep(time.Minute)
				if got := f.got(); len(got) != tt.want {
					t.Errorf("%d reports in a minute (%s), want %d", len(got), states(got), tt.want)
				}
				if d := a.ContextDeadline(); tt.want == 0 && !d.IsZero() && d.Before(a.Start()) {
					t.Errorf("ContextDeadline() = %v, before the start %v", d, a.Start())
				}
				f.end(a, o)
			})
		})
	}
}

// TestEndedElsewhere: an action whose span was ended directly, not through
// Remove, is forgotten (and Config.Forgotten told) instead of being
// reported as overdue or abandoned.
func TestEndedElsewhere(t *testing.T) {
	for _, budget := range []time.Duration{time.Second, 0} { // due, and never due
		t.Run(budget.String(), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mu sync.Mutex
				var forgotten []string
				f := &fixture{rec: tracetest.NewSpanRecorder()}
				f.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(f.rec))
				f.w = watchdog.New(watchdog.Config{
					Interval: 100 * time.Millisecond,
					OnReport: func(r watchdog.Report) { f.reports = append(f.reports, r) },
					Forgotten: func(a *watchdog.Action, noted bool) {
						mu.Lock()
						_, name, _ := a.Owner.Describe()
						forgotten = append(forgotten, name)
						mu.Unlock()
					},
				})
				defer f.w.Shutdown(context.Background())
				_, o := f.start(context.Background(), "ended_by_span", budget, 0)
				time.Sleep(200 * time.Millisecond)
				o.Span.End() // not through the watchdog
				time.Sleep(time.Minute)
				if f.w.Open() != 0 {
					t.Errorf("Open() = %d a minute after the span ended, want 0", f.w.Open())
				}
				if err := f.w.Shutdown(context.Background()); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				defer mu.Unlock()
				if len(f.reports) != 0 || o.abandoned != "" {
					t.Errorf("reports = %s, abandoned %q; want none", states(f.reports), o.abandoned)
				}
				if len(forgotten) != 1 || forgotten[0] != "ended_by_span" {
					t.Errorf("Forgotten called with %v, want [ended_by_span]", forgotten)
				}
			})
		})
	}
}

// TestLabelChain: a goroutine's label names its action and the enclosing
// ones, innermost first, in hex, at most 8; a report counts a goroutine in
// the innermost action of its label that is still open, so that actions
// ended out of order, or on another goroutine, do not hide it.
func TestLabelChain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := newFixture(t)
		var chain []*watchdog.Action
		var owners []*owner
		ctx := context.Background()
		var lctx context.Context
		for i := range 12 {
			budget := time.Duration(0)
			if i == 8 {
				budget = time.Second
			}
			a, o := f.start(ctx, fmt.Sprintf("level_%d", i), budget, 0)
			var enclosing *watchdog.Action
			if i > 0 {
				enclosing = chain[i-1]
			}
			lctx = watchdog.Labels(context.Background(), a, enclosing)
			chain, owners = append(chain, a), append(owners, o)
			ctx = trace.ContextWithSpan(ctx, o.Span)
		}
		v, _ := pprof.Label(lctx, watchdog.LabelKey)
		ids := strings.Fields(v)
		if len(ids) != 8 {
			t.Fatalf("label %q has %d ids, want 8 (the bound)", v, len(ids))
		}
		for i, id := range ids {
			if want := chain[11-i].SpanID().String(); id != want {
				t.Errorf("label id %d = %s, want %s (innermost first)", i, id, want)
			}
		}
		// The innermost three end; the goroutine keeps its label and
		// counts in level 8, the innermost still open.
		for i := 11; i >= 9; i-- {
			f.end(chain[i], owners[i])
		}
		release := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			pprof.SetGoroutineLabels(lctx)
			hangInChild(release)
		}()
		time.Sleep(1200 * time.Millisecond)
		got := f.got()
		close(release)
		<-done
		if len(got) != 1 || got[0].Name != "level_8" {
			t.Fatalf("reports = %s, want level_8 overdue", states(got))
		}
		want := "1 goroutine(s) in span " + chain[8].SpanID().String() + ":"
		if !strings.Contains(got[0].Stack, want) || !strings.Contains(got[0].Stack, "hangInChild") {
			t.Errorf("stack = %q, want %q with hangInChild", got[0].Stack, want)
		}
		for i := 8; i >= 0; i-- {
			f.end(chain[i], owners[i])
		}
	})
}
