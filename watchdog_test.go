package crstel_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/genai"
	"github.com/crstel/crstel/internal/journal"
)

// watched is a Setup pipeline for watchdog tests: spans in memory, reports
// collected, the journal in a temporary folder, log records in a buffer.
type watched struct {
	tel    *crstel.Telemetry
	exp    keepExporter
	reader *sdkmetric.ManualReader
	dir    string
	logs   *syncBuffer

	mu      sync.Mutex
	reports []crstel.Report
}

func setupWatched(t *testing.T, opts ...crstel.Option) *watched {
	t.Helper()
	restoreGlobals(t)
	w := &watched{exp: keepExporter{tracetest.NewInMemoryExporter()}, reader: sdkmetric.NewManualReader(),
		dir: t.TempDir(), logs: &syncBuffer{}}
	all := append([]crstel.Option{
		crstel.WithServiceName("patcher"),
		crstel.WithExporter(w.exp),
		crstel.WithMetricReader(w.reader),
		crstel.WithTraceDir(w.dir),
		crstel.WithWatchdogInterval(100 * time.Millisecond),
		crstel.WithLogger(slog.New(slog.NewTextHandler(w.logs, nil))),
		crstel.WithOnReport(func(r crstel.Report) {
			w.mu.Lock()
			w.reports = append(w.reports, r)
			w.mu.Unlock()
		}),
	}, opts...)
	tel, err := crstel.Setup(context.Background(), all...)
	if err != nil {
		t.Fatal(err)
	}
	w.tel = tel
	return w
}

func (w *watched) got() []crstel.Report {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]crstel.Report(nil), w.reports...)
}

// spans flushes and returns the exported spans.
func (w *watched) spans(t *testing.T) tracetest.SpanStubs {
	t.Helper()
	if err := w.tel.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	return w.exp.GetSpans()
}

func (w *watched) journal(t *testing.T) []journal.Record {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(w.dir, "*.jsonl"))
	if len(files) != 1 {
		t.Fatalf("journals in %s: %v, want 1", w.dir, files)
	}
	recs, err := journal.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func stubNamed(spans tracetest.SpanStubs, name string) *tracetest.SpanStub {
	for i := range spans {
		if spans[i].Name == name {
			return &spans[i]
		}
	}
	return nil
}

func stubAttr(s *tracetest.SpanStub, k attribute.Key) attribute.Value {
	for _, kv := range s.Attributes {
		if kv.Key == k {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// TestWatchdogOverdue: an action past its budget is reported while it is
// still open: a report span under it, a log record, the callback and the
// journal; the report conforms to the specification.
func TestWatchdogOverdue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := setupWatched(t)
		ctx := crstel.WithTask(context.Background(), task1)
		_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil, crstel.WithOverdueAfter(2*time.Second))

		time.Sleep(2100 * time.Millisecond)
		got := w.got()
		if len(got) != 1 || got[0].State != crstel.Overdue || got[0].Name != "generate_patch" {
			t.Fatalf("reports = %+v, want one overdue generate_patch", got)
		}
		spans := w.spans(t)
		rep := stubNamed(spans, "crstel.watchdog overdue")
		if rep == nil {
			t.Fatalf("no report span exported while the action is open; spans: %d", len(spans))
		}
		if rep.Parent.SpanID() != span.SpanContext().SpanID() {
			t.Errorf("report parent = %s, want the action %s", rep.Parent.SpanID(), span.SpanContext().SpanID())
		}
		crsteltest.AssertConforms(t, spans.Snapshots(), crsteltest.WantMetadata(task1))
		if logs := w.logs.String(); !strings.Contains(logs, "crstel: action overdue") || !strings.Contains(logs, "generate_patch") {
			t.Errorf("log = %q, want an overdue record", logs)
		}
		span.End()
		if err := w.tel.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, r := range w.journal(t) {
			if r.Name == "generate_patch" {
				kinds = append(kinds, r.Kind)
			}
		}
		if strings.Join(kinds, ",") != "start,overdue,end" {
			t.Errorf("journal records of the action: %v, want start, overdue, end", kinds)
		}
	})
}

// TestWatchdogAbandoned: an action still open at Shutdown is reported,
// ended with an error status and an attribute saying why, and exported.
func TestWatchdogAbandoned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := setupWatched(t)
		ctx := crstel.WithTask(context.Background(), task1)
		crstel.Action(ctx, crs.Building, "compile_source_code", nil) // never ended
		time.Sleep(time.Second)
		if err := w.tel.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		s := stubNamed(w.exp.GetSpans(), "compile_source_code")
		if s == nil {
			t.Fatal("the abandoned action was not exported")
		}
		if s.Status.Code != codes.Error || !strings.Contains(s.Status.Description, "abandoned") ||
			stubAttr(s, "crstel.watchdog.state").AsString() != "abandoned" {
			t.Errorf("abandoned span: status %+v, state %q; want an error status and state abandoned",
				s.Status, stubAttr(s, "crstel.watchdog.state").AsString())
		}
		got := w.got()
		if len(got) != 1 || got[0].State != crstel.Abandoned {
			t.Fatalf("reports = %+v, want one abandoned", got)
		}
		var end *journal.Record
		recs := w.journal(t)
		for i := range recs {
			if recs[i].Kind == "end" && recs[i].Name == "compile_source_code" {
				end = &recs[i]
			}
		}
		if end == nil || end.Status != "error" || !strings.Contains(end.Error, "abandoned") {
			t.Errorf("journal end record = %+v, want status error, abandoned", end)
		}
	})
}

// TestPanicRecorded: a panic through an action is recorded on its span,
// and goes on.
func TestPanicRecorded(t *testing.T) {
	w := setupWatched(t)
	func() {
		defer func() {
			if r := recover(); r != "boom" {
				t.Errorf("recovered %v, want the panic to go on", r)
			}
		}()
		_, span := crstel.Action(context.Background(), crs.Testing, "run_unit_tests", task1)
		defer span.End()
		panic("boom")
	}()
	s := stubNamed(w.spans(t), "run_unit_tests")
	if s == nil {
		t.Fatal("the span of the panicking action was not exported")
	}
	if s.Status.Code != codes.Error || s.Status.Description != "panic: boom" {
		t.Errorf("status = %+v, want error panic: boom", s.Status)
	}
	if len(s.Events) != 1 || s.Events[0].Name != "exception" {
		t.Fatalf("events = %+v, want one exception", s.Events)
	}
	var stack string
	for _, kv := range s.Events[0].Attributes {
		if kv.Key == "exception.stacktrace" {
			stack = kv.Value.AsString()
		}
	}
	if !strings.Contains(stack, "TestPanicRecorded") {
		t.Errorf("exception stack = %q, want the test function in it", stack)
	}
	w.tel.Shutdown(context.Background())
}

// TestWatchdogHeartbeat: an action with a heartbeat interval that stops
// beating is stalled, not overdue.
func TestWatchdogHeartbeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := setupWatched(t)
		ctx, span := crstel.Action(context.Background(), crs.Fuzzing, "fuzz_test_network_inputs", task1,
			crstel.WithHeartbeat(time.Second))
		for range 5 {
			time.Sleep(500 * time.Millisecond)
			crstel.Heartbeat(ctx)
		}
		if got := w.got(); len(got) != 0 {
			t.Fatalf("reports while beating: %+v", got)
		}
		time.Sleep(1200 * time.Millisecond)
		got := w.got()
		if len(got) != 1 || got[0].State != crstel.Stalled {
			t.Fatalf("reports = %+v, want one stalled", got)
		}
		span.End()
		w.tel.Shutdown(context.Background())
	})
}

// TestWatchdogContextDeadline: an action still running after its context's
// deadline is overdue.
func TestWatchdogContextDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := setupWatched(t)
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		ctx, span := crstel.Action(ctx, crs.ScoringSubmission, "submit_final_results", task1, crstel.WithOverdueAfter(0))
		time.Sleep(1200 * time.Millisecond)
		got := w.got()
		if len(got) != 1 || got[0].State != crstel.Overdue || !strings.Contains(got[0].Reason, "deadline") {
			t.Fatalf("reports = %+v, want one overdue past the deadline", got)
		}
		span.End()
		w.tel.Shutdown(context.Background())
		for _, r := range w.journal(t) {
			if r.Kind == "end" && !r.Cancelled {
				t.Errorf("journal end record = %+v, want cancelled (the context expired)", r)
			}
		}
		_ = ctx
	})
}

// TestWatchdogDefaultBudgets: categories take their default budget, which
// options and CRSTEL_OVERDUE override.
func TestWatchdogDefaultBudgets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		t.Setenv("CRSTEL_OVERDUE", "building=2s,default=3s")
		w := setupWatched(t, crstel.WithBudgets(map[string]time.Duration{"testing": time.Second}))
		for _, c := range []crs.Category{crs.Building, crs.Testing, crs.StaticAnalysis, crs.Fuzzing} {
			_, span := crstel.Action(context.Background(), c, "act_"+string(c), task1)
			defer span.End()
		}
		time.Sleep(3200 * time.Millisecond)
		budgets := map[string]time.Duration{}
		for _, r := range w.got() {
			budgets[string(r.Category)] = r.Budget
		}
		want := map[string]time.Duration{"building": 2 * time.Second, "testing": time.Second, "static_analysis": 3 * time.Second}
		if len(budgets) != len(want) {
			t.Errorf("reported categories %v, want %v (fuzzing has no budget)", budgets, want)
		}
		for c, d := range want {
			if budgets[c] != d {
				t.Errorf("budget of %s = %v, want %v", c, budgets[c], d)
			}
		}
		defer w.tel.Shutdown(context.Background())
	})
}

func TestWatchdogBadBudgets(t *testing.T) {
	restoreGlobals(t)
	for _, opt := range []crstel.Option{
		crstel.WithBudgets(map[string]time.Duration{"compile": time.Second}),
		crstel.WithBudgets(map[string]time.Duration{"building": -time.Second}),
	} {
		if _, err := crstel.Setup(context.Background(), crstel.WithExporter(tracetest.NewInMemoryExporter()), opt); err == nil {
			t.Error("Setup accepted a bad budget")
		}
	}
	t.Setenv("CRSTEL_OVERDUE", "building=soon")
	_, err := crstel.Setup(context.Background(), crstel.WithExporter(tracetest.NewInMemoryExporter()))
	if err == nil || !strings.Contains(err.Error(), "CRSTEL_OVERDUE") {
		t.Errorf("Setup with CRSTEL_OVERDUE=building=soon: %v, want an error naming it", err)
	}
}

// TestWatchdogMetrics: open actions and reports by state are metrics.
func TestWatchdogMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := setupWatched(t)
		_, span := crstel.Action(context.Background(), crs.Testing, "run_unit_tests", task1, crstel.WithOverdueAfter(time.Second))
		time.Sleep(1200 * time.Millisecond)
		got := metricSums(t, w.reader)
		if got[crstel.MetricOpenActions] != 1 || got[crstel.MetricWatchdogReports+"/overdue"] != 1 {
			t.Errorf("metrics = %v, want 1 open action and 1 overdue report", got)
		}
		span.End()
		w.tel.Shutdown(context.Background())
	})
}

// TestWatchdogStack: the report holds the stack of the goroutine that runs
// the action, found by the pprof label Action sets, also in a goroutine the
// action started.
func TestWatchdogStack(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := setupWatched(t)
		release := make(chan struct{})
		done := make(chan struct{})
		_, span := crstel.Action(context.Background(), crs.Building, "compile_source_code", task1, crstel.WithOverdueAfter(time.Second))
		go func() { // inherits the action's label
			defer close(done)
			compileForever(release)
		}()
		time.Sleep(1200 * time.Millisecond)
		got := w.got()
		close(release)
		<-done
		span.End()
		if len(got) != 1 || !strings.Contains(got[0].Stack, "compileForever") {
			t.Errorf("reports = %+v, want one whose stack shows compileForever", got)
		}
		w.tel.Shutdown(context.Background())
	})
}

func compileForever(release chan struct{}) { <-release }

// keepExporter is an in-memory exporter that keeps its spans at Shutdown.
type keepExporter struct{ *tracetest.InMemoryExporter }

func (keepExporter) Shutdown(context.Context) error { return nil }

// TestWatchdogLLMCall: an LLM call that never returns is reported as
// overdue past the "llm" budget, with the stack of the goroutine of its
// action, which waits for it.
func TestWatchdogLLMCall(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := setupWatched(t, crstel.WithBudgets(map[string]time.Duration{"llm": time.Second}))
		ctx := crstel.WithTask(context.Background(), task1)
		ctx, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil, crstel.WithOverdueAfter(time.Hour))
		_, call := genai.Start(ctx, genai.Request{Provider: genai.ProviderOpenAI, Model: "gpt-4o-mini"})
		release := make(chan struct{})
		go func() { <-release }() // keeps the bubble busy like a client would
		waitForLLMAnswer(release, 1200*time.Millisecond)
		got := w.got()
		close(release)
		call.End(genai.Response{ID: "chatcmpl-1"}, nil)
		span.End()
		if len(got) != 1 || got[0].Op != "chat gpt-4o-mini" || got[0].Name != "generate_patch" || got[0].State != crstel.Overdue ||
			got[0].Category != "patch_generation" || got[0].Budget != time.Second {
			t.Fatalf("reports = %+v, want the LLM call overdue past the llm budget", got)
		}
		if !strings.Contains(got[0].Stack, "waitForLLMAnswer") || !strings.Contains(got[0].Stack, "enclosing action") {
			t.Errorf("stack = %q, want the goroutine of the enclosing action, waiting in waitForLLMAnswer", got[0].Stack)
		}
		spans := w.spans(t)
		crsteltest.AssertConforms(t, spans.Snapshots(), crsteltest.WantMetadata(task1))
		w.tel.Shutdown(context.Background())
	})
}

func waitForLLMAnswer(_ chan struct{}, d time.Duration) { time.Sleep(d) }

// TestWatchdogStackAfterOtherEnds: the report of a hung action shows the
// stack of the goroutine hung in it, whatever other actions that goroutine,
// or another, ended before: out of order, handed over from another
// goroutine, or its own children.
func TestWatchdogStackAfterOtherEnds(t *testing.T) {
	tests := []struct {
		name string
		// run starts and ends actions on the goroutine it runs on, hangs
		// in the action named "hung" (budget 1 s) until release, and
		// ends it. handed is an action started on the test's goroutine.
		run func(ctx context.Context, handed trace.Span, release chan struct{})
	}{
		{"a worker ends the action it was handed, then hangs in its own", func(ctx context.Context, handed trace.Span, release chan struct{}) {
			handed.End()
			_, hung := crstel.Action(ctx, crs.Building, "hung", nil, crstel.WithOverdueAfter(time.Second))
			hangHere(release)
			hung.End()
		}},
		{"a worker starts its own action, ends the handed one, and hangs", func(ctx context.Context, handed trace.Span, release chan struct{}) {
			_, hung := crstel.Action(ctx, crs.Building, "hung", nil, crstel.WithOverdueAfter(time.Second))
			handed.End()
			hangHere(release)
			hung.End()
		}},
		{"out of order on one goroutine: start a, start hung, end a", func(ctx context.Context, handed trace.Span, release chan struct{}) {
			_, a := crstel.Action(ctx, crs.Building, "a", nil)
			_, hung := crstel.Action(ctx, crs.Building, "hung", nil, crstel.WithOverdueAfter(time.Second))
			a.End()
			handed.End()
			hangHere(release)
			hung.End()
		}},
		{"out of order, nested: start hung, start child, end hung's sibling", func(ctx context.Context, handed trace.Span, release chan struct{}) {
			sib, sibling := crstel.Action(ctx, crs.Building, "sibling", nil)
			hctx, hung := crstel.Action(ctx, crs.Building, "hung", nil, crstel.WithOverdueAfter(time.Second))
			_, child := crstel.Action(hctx, crs.Building, "child", nil)
			_ = sib
			sibling.End()
			handed.End()
			hangHere(release)
			child.End()
			hung.End()
		}},
		{"in order: a child ends, then the action hangs", func(ctx context.Context, handed trace.Span, release chan struct{}) {
			hctx, hung := crstel.Action(ctx, crs.Building, "hung", nil, crstel.WithOverdueAfter(time.Second))
			for range 3 {
				_, child := crstel.Action(hctx, crs.Building, "child", nil)
				child.End()
			}
			handed.End()
			hangHere(release)
			hung.End()
		}},
		{"a goroutine started in the action ends its own action and hangs", func(ctx context.Context, handed trace.Span, release chan struct{}) {
			hctx, hung := crstel.Action(ctx, crs.Building, "hung", nil, crstel.WithOverdueAfter(time.Second))
			done := make(chan struct{})
			go func() {
				defer close(done)
				_, sub := crstel.Action(hctx, crs.Building, "sub", nil)
				sub.End()
				hangHere(release)
			}()
			handed.End()
			<-done
			hung.End()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				w := setupWatched(t)
				ctx := crstel.WithTask(context.Background(), task1)
				_, handed := crstel.Action(ctx, crs.Building, "handed", nil)
				release := make(chan struct{})
				done := make(chan struct{})
				go func() {
					defer close(done)
					tt.run(ctx, handed, release)
				}()
				time.Sleep(1200 * time.Millisecond)
				got := w.got()
				close(release)
				<-done
				w.tel.Shutdown(context.Background())
				if len(got) != 1 || got[0].Name != "hung" {
					t.Fatalf("reports = %+v, want one of hung", got)
				}
				if !strings.Contains(got[0].Stack, "hangHere") {
					t.Errorf("stack of the report = %q, want hangHere", got[0].Stack)
				}
			})
		})
	}
}

func hangHere(release chan struct{}) { <-release }
