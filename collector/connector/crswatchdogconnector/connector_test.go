package crswatchdogconnector

import (
	"context"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/crstel/crstel/collector/connector/crswatchdogconnector/internal/metadatatest"
)

// wait lets the connector's goroutine run until every goroutine of the
// bubble is blocked, after d of fake time.
func wait(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func TestLost(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, nil)
		start := time.Now()
		a := act(1, start)
		h.send(t, a)
		wait(30 * time.Second)
		last := time.Now()
		h.send(t, a.beatAt(last))
		wait(DefaultLostAfter - time.Second) // 59s after the last heartbeat
		if n := h.reports.SpanCount(); n != 0 {
			t.Fatalf("before lost_after: got %d spans reported, want 0", n)
		}
		wait(DefaultCheckInterval + time.Second)
		spans := h.spans()
		if len(spans) != 2 {
			t.Fatalf("got %d spans reported, want 2 (the action, the report)", len(spans))
		}
		lost, report := spans[0], spans[1]
		if lost.TraceID() != a.traceID() || lost.SpanID() != a.spanID() || lost.ParentSpanID() != a.parentID() {
			t.Errorf("lost span ids: got %s %s parent %s, want %s %s parent %s", lost.TraceID(), lost.SpanID(), lost.ParentSpanID(),
				a.traceID(), a.spanID(), a.parentID())
		}
		if lost.TraceID().String() != "00000000000000000000000000abc0001"[1:] {
			t.Errorf("trace id: got %s, want the Python processor's abc0001 left-padded", lost.TraceID())
		}
		if got, want := lost.EndTimestamp().AsTime(), last; !got.Equal(want) {
			t.Errorf("lost span end: got %v, want the last heartbeat %v", got, want)
		}
		if got, want := lost.StartTimestamp().AsTime(), start; !got.Equal(want) {
			t.Errorf("lost span start: got %v, want %v", got, want)
		}
		if lost.Status().Code() != ptrace.StatusCodeError || lost.Name() != "generate_patch" {
			t.Errorf("lost span: got %q status %v, want generate_patch with an error", lost.Name(), lost.Status().Code())
		}
		for k, want := range map[string]string{
			StateKey: StateLost, "crs.action.category": "patch_generation", "crs.action.name": "generate_patch",
			"task.id": "t-1", "round.id": "r-1",
		} {
			if got := attrStr(lost, k); got != want {
				t.Errorf("lost span %s: got %q, want %q", k, got, want)
			}
		}
		if report.TraceID() != a.traceID() || report.ParentSpanID() != a.spanID() || report.SpanID() == a.spanID() {
			t.Errorf("report: got %s %s parent %s, want a child of %s", report.TraceID(), report.SpanID(), report.ParentSpanID(), a.spanID())
		}
		for k, want := range map[string]string{
			StateKey: StateLost, ReportedSpanKey: a.spanID().String(), "crs.action.category": "patch_generation",
			"task.id": "t-1", ElapsedKey: "30",
		} {
			if got := attrStr(report, k); got != want {
				t.Errorf("report %s: got %q, want %q", k, got, want)
			}
		}
		if report.Name() != "crstel.watchdog lost" {
			t.Errorf("report name: got %q", report.Name())
		}
		lostPoint := metricdata.DataPoint[int64]{Value: 1, Attributes: attribute.NewSet(
			attribute.String("service.name", "patcher"), attribute.String("crs.action.category", "patch_generation"))}
		metadatatest.AssertEqualConnectorCrsWatchdogLostActions(t, h.tel, []metricdata.DataPoint[int64]{lostPoint},
			metricdatatest.IgnoreTimestamp())
	})
}

func TestProcessLostOnlyWhenAllSilent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, nil)
		a, b := act(1, time.Now()), act(2, time.Now())
		h.send(t, a, b)
		// b's heartbeats go on: its process is alive, a is not lost.
		for range 4 {
			wait(30 * time.Second)
			h.send(t, b.beatAt(time.Now()))
		}
		if n := h.reports.SpanCount(); n != 0 {
			t.Fatalf("process alive: got %d spans reported, want 0", n)
		}
		// Another process's action goes silent alone.
		c := act(3, time.Now()).in("p2")
		h.send(t, c)
		wait(DefaultLostAfter + DefaultCheckInterval)
		var ids []pcommon.SpanID
		for _, s := range h.spans() {
			if attrStr(s, StateKey) == StateLost && s.Name() == "generate_patch" {
				ids = append(ids, s.SpanID())
			}
		}
		if len(ids) != 3 {
			t.Fatalf("got %d lost actions, want 3 (a and b of p1, c of p2)", len(ids))
		}
	})
}

func TestEndedAndRealSpanForget(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, nil)
		a, b := act(1, time.Now()), act(2, time.Now())
		h.send(t, a, b)
		wait(10 * time.Second)
		h.send(t, a.ended(time.Now()))
		real := ptrace.NewTraces()
		s := real.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		s.SetTraceID(b.traceID())
		s.SetSpanID(b.spanID())
		s.SetName("generate_patch")
		if err := h.traces.ConsumeTraces(context.Background(), real); err != nil {
			t.Fatal(err)
		}
		if got := h.passed.AllTraces(); len(got) != 1 || got[0].SpanCount() != 1 ||
			got[0].ResourceSpans().At(0).ScopeSpans().At(0).Spans().At(0).SpanID() != b.spanID() {
			t.Fatalf("traces → traces: got %v, want the real span passed through", got)
		}
		// A heartbeat retried after the end opens nothing.
		h.send(t, a)
		wait(3 * DefaultLostAfter)
		if n := h.reports.SpanCount(); n != 0 {
			t.Fatalf("got %d spans reported, want 0", n)
		}
		metadatatest.AssertEqualConnectorCrsWatchdogOpenActions(t, h.tel, []metricdata.DataPoint[int64]{{
			Value: 0, Attributes: attribute.NewSet(attribute.String("service.name", "patcher"),
				attribute.String("crs.action.category", "patch_generation")),
		}}, metricdatatest.IgnoreTimestamp())
	})
}

func TestOverdue(t *testing.T) {
	tests := []struct {
		name       string
		budgets    string
		attr       any // crstel.watchdog.budget; nil: none
		wantBudget string
	}{
		{"own budget", "", 20.0, "20"},
		{"own budget wins", "patch_generation=1h", 20.0, "20"},
		{"category", "patch_generation=20s,default=1h", nil, "20"},
		{"default", "building=1h,default=20s", nil, "20"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := createDefaultConfig().(*Config)
				cfg.Budgets = tt.budgets
				h := newHarness(t, cfg, nil)
				a := act(1, time.Now())
				if tt.attr != nil {
					a = a.with(BudgetKey, tt.attr)
				}
				h.send(t, a)
				for range 2 {
					wait(15 * time.Second)
					h.send(t, a.beatAt(time.Now()))
				}
				wait(DefaultCheckInterval)
				spans := h.spans()
				if len(spans) != 1 {
					t.Fatalf("got %d spans reported, want 1 overdue report", len(spans))
				}
				r := spans[0]
				if r.ParentSpanID() != a.spanID() || r.TraceID() != a.traceID() || r.Name() != "crstel.watchdog overdue" {
					t.Errorf("report: got %q parent %s, want crstel.watchdog overdue, a child of %s", r.Name(), r.ParentSpanID(), a.spanID())
				}
				// Found at the first check past 20 s: 15 s at the last
				// heartbeat, and 10 s since it arrived.
				for k, want := range map[string]string{StateKey: StateOverdue, BudgetKey: tt.wantBudget, ElapsedKey: "25"} {
					if got := attrStr(r, k); got != want {
						t.Errorf("report %s: got %q, want %q", k, got, want)
					}
				}
				// Once: heartbeats go on, then the action ends.
				for range 3 {
					wait(15 * time.Second)
					h.send(t, a.beatAt(time.Now()))
				}
				h.send(t, a.ended(time.Now()))
				wait(2 * DefaultLostAfter)
				if n := h.reports.SpanCount(); n != 1 {
					t.Errorf("got %d spans reported, want the one overdue report", n)
				}
			})
		})
	}
}

func TestBudgetZeroIsNone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := createDefaultConfig().(*Config)
		cfg.Budgets = "patch_generation=0,default=1s"
		h := newHarness(t, cfg, nil)
		a := act(1, time.Now())
		h.send(t, a)
		wait(30 * time.Second)
		h.send(t, a.beatAt(time.Now()), a.ended(time.Now()))
		wait(DefaultCheckInterval)
		if n := h.reports.SpanCount(); n != 0 {
			t.Fatalf("got %d spans reported, want none: patch_generation=0 has no budget", n)
		}
	})
}

func TestDuplicatesReportOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, nil)
		a := act(1, time.Now())
		h.send(t, a, a, a) // retried in one batch
		wait(DefaultLostAfter + DefaultCheckInterval)
		if n := h.reports.SpanCount(); n != 2 {
			t.Fatalf("got %d spans reported, want 2", n)
		}
		h.send(t, a) // retried after the report
		wait(2 * (DefaultLostAfter + DefaultCheckInterval))
		if n := h.reports.SpanCount(); n != 2 {
			t.Fatalf("after a retry: got %d spans reported, want the 2 of one report", n)
		}
	})
}

func TestMaxTracked(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := createDefaultConfig().(*Config)
		cfg.MaxTracked = 2
		h := newHarness(t, cfg, nil)
		a, b, c := act(1, time.Now()), act(2, time.Now()), act(3, time.Now())
		h.send(t, a, b)
		wait(time.Second)
		h.send(t, a.beatAt(time.Now())) // b is now the least recent
		h.send(t, c)
		metadatatest.AssertEqualConnectorCrsWatchdogEvictions(t, h.tel, []metricdata.DataPoint[int64]{{Value: 1}},
			metricdatatest.IgnoreTimestamp())
		wait(DefaultLostAfter + DefaultCheckInterval)
		got := map[pcommon.SpanID]bool{}
		for _, s := range h.spans() {
			if s.Name() == "generate_patch" {
				got[s.SpanID()] = true
			}
		}
		if len(got) != 2 || !got[a.spanID()] || !got[c.spanID()] {
			t.Errorf("lost: got %v, want a and c (b evicted)", got)
		}
	})
}

func TestBadRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, nil)
		good := act(1, time.Now())
		ld := logsOf(good)
		add := func(state, bodyType string, body func(plog.LogRecord)) {
			lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty()
			lr.Attributes().PutStr(StateAttr, state)
			lr.Attributes().PutStr(BodyTypeAttr, bodyType)
			body(lr)
		}
		add(StateHeartbeat, BodyTypeJSON, func(lr plog.LogRecord) { lr.Body().SetStr("{not json") })
		add(StateHeartbeat, BodyTypeJSON, func(lr plog.LogRecord) { lr.Body().SetInt(3) })
		add(StateHeartbeat, BodyTypeJSON, func(lr plog.LogRecord) { lr.Body().SetStr(`{"resourceSpans":[]}`) })
		add(StateHeartbeat, BodyTypeJSON, func(lr plog.LogRecord) {
			lr.Body().SetStr(`{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":"no ids"}]}]}]}`)
		})
		add("paused", BodyTypeJSON, func(lr plog.LogRecord) { lr.Body().SetStr(good.body()) })
		add(StateHeartbeat, "protobuf/v1", func(lr plog.LogRecord) { lr.Body().SetStr(good.body()) })
		// Not a lifecycle record: ignored, not counted.
		ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty().Body().SetStr("hello")
		if err := h.logs.ConsumeLogs(context.Background(), ld); err != nil {
			t.Fatal(err)
		}
		metadatatest.AssertEqualConnectorCrsWatchdogBadRecords(t, h.tel, []metricdata.DataPoint[int64]{{Value: 6}},
			metricdatatest.IgnoreTimestamp())
		wait(DefaultLostAfter + DefaultCheckInterval)
		if n := h.reports.SpanCount(); n != 2 {
			t.Fatalf("got %d spans reported, want 2: the good record is tracked", n)
		}
	})
}

func TestMetricsPipeline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, nil, nil)
		h.send(t, act(1, time.Now()), act(2, time.Now()).with("crs.action.category", "fuzzing"))
		wait(DefaultCheckInterval)
		all := h.metrics.AllMetrics()
		if len(all) == 0 {
			t.Fatal("no metrics emitted")
		}
		got := map[string]int64{}
		md := all[len(all)-1]
		ms := md.ResourceMetrics().At(0).ScopeMetrics().At(0).Metrics()
		for _, m := range ms.All() {
			if m.Name() != "crstel.watchdog.open_actions" {
				continue
			}
			for _, dp := range m.Gauge().DataPoints().All() {
				c, _ := dp.Attributes().Get("crs.action.category")
				got[c.AsString()] = dp.IntValue()
			}
		}
		if got["patch_generation"] != 1 || got["fuzzing"] != 1 || len(got) != 2 {
			t.Errorf("open actions by category: got %v, want patch_generation 1, fuzzing 1", got)
		}
	})
}

func TestNormalizeIDs(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"traceId":"abc","spanId":"1","parentSpanId":""}`,
			`{"traceId":"00000000000000000000000000000abc","spanId":"0000000000000001","parentSpanId":""}`},
		{`{"traceId": "0123456789abcdef0123456789abcdef", "spanId" : "0123456789abcdef"}`,
			`{"traceId": "0123456789abcdef0123456789abcdef", "spanId" : "0123456789abcdef"}`},
		{`{"parentSpanId":"F00D"}`, `{"parentSpanId":"000000000000F00D"}`},
		{`{"name":"traceId","attributes":[{"key":"spanId","value":{"stringValue":"1"}}]}`,
			`{"name":"traceId","attributes":[{"key":"spanId","value":{"stringValue":"1"}}]}`},
	}
	for _, tt := range tests {
		if got := string(normalizeIDs([]byte(tt.in))); got != tt.want {
			t.Errorf("normalizeIDs(%s):\n got %s\nwant %s", tt.in, got, tt.want)
		}
	}
}

// TestOverdueFrozen: a process frozen (SIGSTOP) past an action's budget
// sends no more heartbeats; the collector reports the action overdue when
// its time at the last heartbeat plus the silence since passes the budget,
// before the process counts as lost, and lost after lost_after.
func TestOverdueFrozen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, createDefaultConfig().(*Config), nil)
		start := time.Now()
		a := act(1, start).with(BudgetKey, 20.0)
		h.send(t, a)
		wait(5 * time.Second)
		h.send(t, a.beatAt(time.Now())) // the last: frozen at 5 s
		wait(10 * time.Second)
		if n := h.reports.SpanCount(); n != 0 {
			t.Fatalf("at 15 s: %d spans reported, want none within the budget", n)
		}
		wait(15 * time.Second)
		spans := h.spans()
		if len(spans) != 1 || spans[0].Name() != "crstel.watchdog overdue" {
			t.Fatalf("at 30 s: got %d spans, want the overdue report", len(spans))
		}
		if el, _ := spans[0].Attributes().Get(ElapsedKey); el.Double() <= 20 || el.Double() > 25 {
			t.Errorf("overdue report's elapsed %v, want past the budget of 20 s by at most a check", el.Double())
		}
		wait(DefaultLostAfter)
		var lost int
		for _, s := range h.spans() {
			if v, _ := s.Attributes().Get(StateKey); v.Str() == StateLost && s.SpanID() == a.spanID() {
				lost++
			}
		}
		if lost != 1 {
			t.Errorf("after lost_after: %d lost spans of the action, want 1", lost)
		}
	})
}
