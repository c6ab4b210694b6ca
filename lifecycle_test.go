package crstel_test

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/internal/otlpjson"
	"github.com/crstel/crstel/internal/otlptest"
)

// logKeeper is a log exporter that keeps every export call's records.
type logKeeper struct {
	mu      sync.Mutex
	batches [][]sdklog.Record
}

func (k *logKeeper) Export(_ context.Context, records []sdklog.Record) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	batch := make([]sdklog.Record, len(records))
	for i := range records {
		batch[i] = records[i].Clone()
	}
	k.batches = append(k.batches, batch)
	return nil
}
func (*logKeeper) Shutdown(context.Context) error   { return nil }
func (*logKeeper) ForceFlush(context.Context) error { return nil }

// lcRecord is a lifecycle record as a test sees it.
type lcRecord struct {
	state    string // span.state; "" for the summary
	omitted  int64  // crstel.lifecycle.omitted
	body     string
	time     time.Time
	trace    trace.TraceID
	span     trace.SpanID
	severity string
}

// records returns the lifecycle records exported so far, in order.
func (k *logKeeper) records() []lcRecord {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []lcRecord
	for _, b := range k.batches {
		for _, r := range b {
			rec := lcRecord{body: r.Body().AsString(), time: r.Timestamp(), trace: r.TraceID(), span: r.SpanID(), severity: r.SeverityText()}
			r.WalkAttributes(func(kv attribute.KeyValue) bool {
				switch kv.Key {
				case "span.state":
					rec.state = kv.Value.AsString()
				case "crstel.lifecycle.omitted":
					rec.omitted = kv.Value.AsInt64()
				}
				return true
			})
			out = append(out, rec)
		}
	}
	return out
}

// setupLifecycle is setupWatched with log records kept by the returned
// exporter.
func setupLifecycle(t *testing.T, opts ...crstel.Option) (*watched, *logKeeper) {
	t.Helper()
	k := &logKeeper{}
	return setupWatched(t, append([]crstel.Option{crstel.WithLogExporter(k)}, opts...)...), k
}

// decodeBody decodes a lifecycle record's body, failing the test unless it
// holds one span.
func decodeBody(t *testing.T, body string) otlpjson.Span {
	t.Helper()
	spans, err := otlpjson.NewReader(strings.NewReader(body)).Next()
	if err != nil || len(spans) != 1 {
		t.Fatalf("body %s: %d spans, %v; want one span", body, len(spans), err)
	}
	return spans[0]
}

func spanAttr(s otlpjson.Span, key string) (any, bool) {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return nil, false
}

// TestLifecycleShortActions: actions that end before the interval make no
// lifecycle record, however many.
func TestLifecycleShortActions(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, k := setupLifecycle(t)
		ctx := crstel.WithTask(context.Background(), task1)
		for range 1000 {
			_, span := crstel.Action(ctx, crs.Fuzzing, "fuzz_iteration", nil)
			span.End()
		}
		_, span := crstel.Action(ctx, crs.Building, "compile_source_code", nil)
		time.Sleep(crstel.DefaultLifecycleInterval - 200*time.Millisecond)
		span.End()
		time.Sleep(time.Minute)
		if err := w.tel.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if got := k.records(); len(got) != 0 {
			t.Errorf("got %d lifecycle records, want none: %+v", len(got), got)
		}
	})
}

// TestLifecycleHeartbeats: an action open past the interval sends a
// heartbeat then and every interval after, with its attributes so far, and
// an ended record when it ends; the record's ids are the span's, the body
// an OTLP JSON TracesData of the span with the budget.
func TestLifecycleHeartbeats(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, k := setupLifecycle(t)
		start := time.Now()
		ctx := crstel.WithTask(context.Background(), task1)
		ctx, parent := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil, crstel.WithOverdueAfter(10*time.Minute))
		_, span := crstel.Action(ctx, crs.Testing, "run_unit_tests", nil, crstel.WithOverdueAfter(90*time.Second))
		time.Sleep(7 * time.Second)
		span.SetAttributes(attribute.Int("tests.run", 3), attribute.StringSlice("tests.failed", []string{"a", "b"}))
		time.Sleep(10*time.Second + 50*time.Millisecond) // at 17.05 s
		span.SetStatus(codes.Error, "2 failed")
		span.End()
		time.Sleep(time.Second)
		if err := w.tel.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}

		sc := span.SpanContext()
		var mine []lcRecord
		for _, r := range k.records() {
			if r.span == sc.SpanID() {
				mine = append(mine, r)
			}
		}
		var states []string
		for _, r := range mine {
			states = append(states, r.state)
		}
		if got, want := strings.Join(states, ","), "heartbeat,heartbeat,heartbeat,ended"; got != want {
			t.Fatalf("records of run_unit_tests: %s, want %s", got, want)
		}
		for i, r := range mine[:3] {
			at := r.time.Sub(start)
			if want := time.Duration(i+1) * crstel.DefaultLifecycleInterval; at < want || at > want+100*time.Millisecond {
				t.Errorf("heartbeat %d at %v, want %v (up to one check later)", i+1, at, want)
			}
		}
		for _, r := range mine {
			if r.trace != sc.TraceID() || r.span != sc.SpanID() {
				t.Errorf("%s record: ids %s %s, want the span's %s %s", r.state, r.trace, r.span, sc.TraceID(), sc.SpanID())
			}
		}

		first, last := decodeBody(t, mine[0].body), decodeBody(t, mine[3].body)
		for _, s := range []otlpjson.Span{first, last} {
			if s.TraceID != sc.TraceID() || s.SpanID != sc.SpanID() || s.ParentSpanID != parent.SpanContext().SpanID() {
				t.Errorf("body ids %x %x parent %x, want %s %s parent %s", s.TraceID, s.SpanID, s.ParentSpanID,
					sc.TraceID(), sc.SpanID(), parent.SpanContext().SpanID())
			}
			if s.Name != "run_unit_tests" || s.Kind != 1 || !s.StartTime.Equal(start) || s.Scope != crstel.ScopeName {
				t.Errorf("body span: name %q kind %d start %v scope %q, want run_unit_tests, 1, %v, %s", s.Name, s.Kind, s.StartTime, s.Scope, start, crstel.ScopeName)
			}
			for key, want := range map[string]any{"crs.action.category": "testing", "crs.action.name": "run_unit_tests",
				"round.id": "round-1", "task.id": "task-1", "team.id": "team-1", "crstel.watchdog.budget": 90.0} {
				if got, _ := spanAttr(s, key); got != want {
					t.Errorf("body attribute %s = %v (%T), want %v (%T)", key, got, got, want, want)
				}
			}
			if got := resourceAttr(s, "service.name"); got != "patcher" {
				t.Errorf("body resource service.name = %v, want patcher", got)
			}
		}
		if _, ok := spanAttr(first, "tests.run"); ok || !first.EndTime.IsZero() || first.StatusCode != 0 {
			t.Errorf("first heartbeat: tests.run present %v, end %v, status %d; want the attributes at 5 s, no end, unset status", ok, first.EndTime, first.StatusCode)
		}
		if got, _ := spanAttr(decodeBody(t, mine[1].body), "tests.run"); got != int64(3) {
			t.Errorf("second heartbeat: tests.run = %v, want 3, set at 7 s", got)
		}
		if !last.EndTime.Equal(start.Add(17*time.Second+50*time.Millisecond)) || last.StatusCode != 2 || last.StatusMessage != "2 failed" {
			t.Errorf("ended: end %v, status %d %q; want the end at 17.05 s, error (2) 2 failed", last.EndTime.Sub(start), last.StatusCode, last.StatusMessage)
		}

		// The encoding itself: hex ids in full, int64 as a decimal string,
		// numbers for enums; and the protobuf JSON decoder takes it.
		body := mine[3].body
		for _, want := range []string{
			`"traceId":"` + sc.TraceID().String() + `"`, `"spanId":"` + sc.SpanID().String() + `"`,
			`{"key":"tests.run","value":{"intValue":"3"}}`,
			`{"key":"tests.failed","value":{"arrayValue":{"values":[{"stringValue":"a"},{"stringValue":"b"}]}}}`,
			`{"key":"crstel.watchdog.budget","value":{"doubleValue":90}}`,
			`"kind":1,`, `"status":{"message":"2 failed","code":2}`,
			`"endTimeUnixNano":"` + strconv.FormatInt(last.EndTime.UnixNano(), 10) + `"`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("body lacks %s:\n%s", want, body)
			}
		}
		var td tracepb.TracesData
		if err := protojson.Unmarshal([]byte(body), &td); err != nil {
			t.Fatalf("protojson: %v", err)
		}
		ps := td.GetResourceSpans()[0].GetScopeSpans()[0].GetSpans()[0]
		if ps.GetKind() != tracepb.Span_SPAN_KIND_INTERNAL || ps.GetStatus().GetCode() != tracepb.Status_STATUS_CODE_ERROR ||
			uint64(last.EndTime.UnixNano()) != ps.GetEndTimeUnixNano() {
			t.Errorf("protojson: kind %v, status %v, end %d", ps.GetKind(), ps.GetStatus().GetCode(), ps.GetEndTimeUnixNano())
		}

		parent.End()
		if err := w.tel.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

func resourceAttr(s otlpjson.Span, key string) any {
	for _, kv := range s.Resource {
		if kv.Key == key {
			return kv.Value
		}
	}
	return nil
}

// TestLifecycleOneExportPerCheck: the heartbeats of one check are emitted
// together, so that the log batch processor exports them in one call. (The
// actions start off the second, so that the check does not fall on the
// batch processor's own tick, which would export what is emitted so far.)
func TestLifecycleOneExportPerCheck(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, k := setupLifecycle(t)
		time.Sleep(250 * time.Millisecond)
		ctx := crstel.WithTask(context.Background(), task1)
		var spans []trace.Span
		for range 50 {
			_, s := crstel.Action(ctx, crs.Fuzzing, "fuzz_campaign", nil)
			spans = append(spans, s)
		}
		time.Sleep(crstel.DefaultLifecycleInterval + 2*time.Second)
		if err := w.tel.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
		k.mu.Lock()
		var sizes []int
		for _, b := range k.batches {
			sizes = append(sizes, len(b))
		}
		k.mu.Unlock()
		if len(sizes) != 1 || sizes[0] != 50 {
			t.Errorf("export calls of sizes %v, want one of 50 heartbeats", sizes)
		}
		for _, s := range spans {
			s.End()
		}
		if err := w.tel.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := len(k.records()); n != 100 {
			t.Errorf("%d records, want 50 heartbeats and 50 ended", n)
		}
	})
}

// TestLifecycleCap: only the oldest WithLifecycleMax open actions send
// heartbeats; the rest are counted in one summary record per check that
// leaves some out; a place freed by an action that ends goes to the
// oldest left out.
func TestLifecycleCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, k := setupLifecycle(t, crstel.WithLifecycleMax(2))
		ctx := crstel.WithTask(context.Background(), task1)
		var spans []trace.Span
		for range 5 {
			_, s := crstel.Action(ctx, crs.Fuzzing, "fuzz_campaign", nil)
			spans = append(spans, s)
			time.Sleep(10 * time.Millisecond) // the same check, older first
		}
		time.Sleep(crstel.DefaultLifecycleInterval + time.Second)
		if err := w.tel.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
		beats := func(recs []lcRecord) map[trace.SpanID]int {
			n := map[trace.SpanID]int{}
			for _, r := range recs {
				if r.state == "heartbeat" {
					n[r.span]++
				}
			}
			return n
		}
		recs := k.records()
		got := beats(recs)
		if len(got) != 2 || got[spans[0].SpanContext().SpanID()] != 1 || got[spans[1].SpanContext().SpanID()] != 1 {
			t.Errorf("heartbeats by span %v, want one each for the two oldest", got)
		}
		var summaries []lcRecord
		for _, r := range recs {
			if r.state == "" {
				summaries = append(summaries, r)
			}
		}
		if len(summaries) != 1 || summaries[0].omitted != 3 || summaries[0].severity != "WARN" ||
			!strings.Contains(summaries[0].body, "3 open actions not heartbeated") {
			t.Errorf("summaries %+v, want one saying 3 omitted", summaries)
		}

		spans[0].End() // its place goes to the oldest left out, spans[2]
		time.Sleep(crstel.DefaultLifecycleInterval)
		if err := w.tel.ForceFlush(context.Background()); err != nil {
			t.Fatal(err)
		}
		recs = k.records()
		got = beats(recs)
		if got[spans[2].SpanContext().SpanID()] != 1 || got[spans[3].SpanContext().SpanID()] != 0 || got[spans[1].SpanContext().SpanID()] != 2 {
			t.Errorf("heartbeats by span after the oldest ended: %v, want spans[1] 2, spans[2] 1, spans[3] none", got)
		}
		last := recs[len(recs)-1]
		if last.state != "" || last.omitted != 2 {
			t.Errorf("last record %+v, want a summary of 2 omitted", last)
		}
		for _, s := range spans[1:] {
			s.End()
		}
		if err := w.tel.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
	})
}

// TestLifecycleSettings: CRSTEL_HEARTBEAT sets the interval or turns the
// records off; WithLifecycleInterval overrides it, 0 turning them off.
func TestLifecycleSettings(t *testing.T) {
	tests := []struct {
		name      string
		env       string // CRSTEL_HEARTBEAT
		opts      []crstel.Option
		wantFirst time.Duration // 0: no record
	}{
		{name: "default", wantFirst: 5 * time.Second},
		{name: "env", env: "2s", wantFirst: 2 * time.Second},
		{name: "env off", env: "off"},
		{name: "option", env: "2s", opts: []crstel.Option{crstel.WithLifecycleInterval(3 * time.Second)}, wantFirst: 3 * time.Second},
		{name: "option off", opts: []crstel.Option{crstel.WithLifecycleInterval(0)}},
		{name: "option negative", env: "2s", opts: []crstel.Option{crstel.WithLifecycleInterval(-time.Second)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.env != "" {
				t.Setenv("CRSTEL_HEARTBEAT", tt.env)
			}
			synctest.Test(t, func(t *testing.T) {
				w, k := setupLifecycle(t, tt.opts...)
				start := time.Now()
				_, span := crstel.Action(context.Background(), crs.Fuzzing, "fuzz_campaign", task1)
				time.Sleep(6 * time.Second)
				span.End()
				if err := w.tel.Shutdown(context.Background()); err != nil {
					t.Fatal(err)
				}
				recs := k.records()
				if tt.wantFirst == 0 {
					if len(recs) != 0 {
						t.Errorf("%d records, want none", len(recs))
					}
					return
				}
				if len(recs) == 0 || recs[0].state != "heartbeat" {
					t.Fatalf("records %+v, want heartbeats", recs)
				}
				if at := recs[0].time.Sub(start); at != tt.wantFirst {
					t.Errorf("first heartbeat at %v, want %v", at, tt.wantFirst)
				}
				if recs[len(recs)-1].state != "ended" {
					t.Errorf("last record %q, want ended", recs[len(recs)-1].state)
				}
			})
		})
	}
}

// TestLifecycleInvalidSettings: a bad CRSTEL_HEARTBEAT or
// CRSTEL_HEARTBEAT_MAX, or an option out of range, makes Setup fail with an
// error naming it.
func TestLifecycleInvalidSettings(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		opts []crstel.Option
		want []string
	}{
		{name: "env not a duration", env: map[string]string{"CRSTEL_HEARTBEAT": "soon"}, want: []string{`CRSTEL_HEARTBEAT="soon"`, `or "off"`}},
		{name: "env zero", env: map[string]string{"CRSTEL_HEARTBEAT": "0s"}, want: []string{`CRSTEL_HEARTBEAT="0s"`, "from 100ms to 1h"}},
		{name: "env max", env: map[string]string{"CRSTEL_HEARTBEAT_MAX": "lots"}, want: []string{`CRSTEL_HEARTBEAT_MAX="lots"`, "1 to 262144"}},
		{name: "option too short", opts: []crstel.Option{crstel.WithLifecycleInterval(time.Millisecond)}, want: []string{"WithLifecycleInterval(1ms)", "from 100ms to 1h", "0 (off)"}},
		{name: "option max", opts: []crstel.Option{crstel.WithLifecycleMax(0)}, want: []string{"WithLifecycleMax(0)", "1 to 262144"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			tel, err := crstel.Setup(context.Background(), append([]crstel.Option{crstel.WithExporter(keepExporter{nil}), crstel.WithoutJournal()}, tt.opts...)...)
			if err == nil {
				tel.Shutdown(context.Background())
				t.Fatal("Setup succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestLifecycleShutdown: Shutdown sends the ended records of the actions
// with heartbeats that ended since the last check, and of those it ends as
// abandoned, before the log records are exported; no goroutine is left
// (synctest.Test fails otherwise).
func TestLifecycleShutdown(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w, k := setupLifecycle(t, crstel.WithWatchdogInterval(time.Hour))
		ctx := crstel.WithTask(context.Background(), task1)
		_, hung := crstel.Action(ctx, crs.Building, "compile_source_code", nil)
		_, done := crstel.Action(ctx, crs.Building, "link_binary", nil)
		time.Sleep(time.Hour + time.Second) // one check, at 1 h: heartbeats of both
		done.End()                          // ended after the last check
		if err := w.tel.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		got := map[trace.SpanID][]string{}
		for _, r := range k.records() {
			got[r.span] = append(got[r.span], r.state)
		}
		for _, s := range []trace.Span{hung, done} {
			if st := strings.Join(got[s.SpanContext().SpanID()], ","); st != "heartbeat,ended" {
				t.Errorf("records of %s: %s, want heartbeat,ended", s.SpanContext().SpanID(), st)
			}
		}
		for _, r := range k.records() {
			if r.span == hung.SpanContext().SpanID() && r.state == "ended" {
				if s := decodeBody(t, r.body); s.StatusCode != 2 || !strings.Contains(s.StatusMessage, "abandoned") {
					t.Errorf("abandoned action's ended record: status %d %q, want error, abandoned", s.StatusCode, s.StatusMessage)
				}
			}
		}
	})
}

// TestLifecycleOTLP: lifecycle records go over OTLP gRPC with the other log
// records, to the collector the spans go to, with their attributes, ids
// and body intact.
func TestLifecycleOTLP(t *testing.T) {
	isolate(t)
	srv := otlptest.NewServer(t)
	tel := startSetup(t, crstel.WithEndpoint(srv.URL()), crstel.WithServiceName("patcher"), crstel.WithoutJournal(),
		crstel.WithMetricReader(sdkmetric.NewManualReader()), crstel.WithWatchdogInterval(20*time.Millisecond),
		crstel.WithLifecycleInterval(100*time.Millisecond))
	ctx := crstel.WithTask(context.Background(), task1)
	_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
	time.Sleep(250 * time.Millisecond)
	span.End()
	if err := shutdownTel(t, tel); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	sc := span.SpanContext()
	var states []string
	for _, r := range srv.Logs() {
		if r.Attributes["log.body.type"] != "json/v1" {
			continue
		}
		states = append(states, r.Attributes["span.state"].(string))
		if r.TraceID != sc.TraceID().String() || r.SpanID != sc.SpanID().String() || r.Scope != crstel.ScopeName+"/lifecycle" ||
			r.Resource["service.name"] != "patcher" || r.SeverityText != "INFO" {
			t.Errorf("record: ids %s %s, scope %q, service %v, severity %q; want %s %s, %s/lifecycle, patcher, INFO",
				r.TraceID, r.SpanID, r.Scope, r.Resource["service.name"], r.SeverityText, sc.TraceID(), sc.SpanID(), crstel.ScopeName)
		}
		body, _ := r.Body.(string)
		if s := decodeBody(t, body); s.SpanID != sc.SpanID() || s.Name != "generate_patch" {
			t.Errorf("body: span %x %q, want %s generate_patch", s.SpanID, s.Name, sc.SpanID())
		}
	}
	if len(states) < 2 || states[0] != "heartbeat" || states[len(states)-1] != "ended" {
		t.Errorf("states %v, want heartbeats, then ended", states)
	}
}
