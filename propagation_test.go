package crstel_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
)

// TestStampsThirdPartySpans: spans from other tracers inside an action
// carry its category, name and metadata; their own values win; spans
// outside actions are left alone.
func TestStampsThirdPartySpans(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	other := rec.Provider().Tracer("third-party")

	_, outside := other.Start(crstel.WithTask(t.Context(), task1), "outside")
	outside.End()

	ctx := crstel.WithTask(rec.Context(t.Context()), task1)
	ctx, action := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
	lctx, llm := other.Start(ctx, "chat gpt-4o")
	_, deeper := other.Start(lctx, "retry")
	deeper.End()
	llm.End()
	_, own := other.Start(ctx, "own_values", trace.WithAttributes(
		attribute.String("task.id", "other-task"), attribute.String("crs.action.name", "own_name")))
	own.End()
	action.End()

	spans := rec.Ended()
	if got := crsteltest.Attrs(one(t, spans, "outside")); len(got) != 0 {
		t.Errorf("span outside any action got attributes %v, want none", got)
	}
	crsteltest.AssertConforms(t, []sdktrace.ReadOnlySpan{one(t, spans, "chat gpt-4o"), one(t, spans, "retry")}, crsteltest.WantMetadata(task1))
	for _, name := range []string{"chat gpt-4o", "retry"} {
		s := one(t, spans, name)
		wantAttr(t, s, crs.ActionCategoryKey, attribute.StringValue("patch_generation"))
		wantAttr(t, s, crs.ActionNameKey, attribute.StringValue("generate_patch"))
	}
	s := one(t, spans, "own_values")
	wantAttr(t, s, "task.id", attribute.StringValue("other-task"))
	wantAttr(t, s, crs.ActionNameKey, attribute.StringValue("own_name"))
	wantAttr(t, s, "round.id", attribute.StringValue("round-1"))
	if n := len(s.Attributes()); n != 5 {
		t.Errorf("own_values has %d attributes, want 5 (no duplicates): %v", n, s.Attributes())
	}
}

// TestStampRepairsTypes: a span started inside an action whose own
// value for a mandatory or metadata key is not a string gets the action's
// value instead, and is marked; string values of its own are kept.
func TestStampRepairsTypes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		own     []attribute.KeyValue
		want    map[attribute.Key]string
		invalid int
	}{
		{name: "an int task.id", own: []attribute.KeyValue{attribute.Int("task.id", 7)},
			want: map[attribute.Key]string{"task.id": "task-1"}, invalid: 1},
		{name: "a bool category and a slice name", own: []attribute.KeyValue{attribute.Bool("crs.action.category", true),
			attribute.StringSlice("crs.action.name", []string{"a"})},
			want: map[attribute.Key]string{"crs.action.category": "patch_generation", "crs.action.name": "generate_patch"}, invalid: 2},
		{name: "a string of its own", own: []attribute.KeyValue{attribute.String("round.id", "round-9")},
			want: map[attribute.Key]string{"round.id": "round-9"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := crsteltest.NewRecorder(t)
			ctx := crstel.WithTask(rec.Context(t.Context()), task1)
			ctx, action := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
			_, s := rec.Provider().Tracer("third-party").Start(ctx, "child", trace.WithAttributes(tt.own...))
			s.End()
			action.End()
			got := crsteltest.Attrs(one(t, rec.Ended(), "child"))
			for k, v := range tt.want {
				if got[k] != attribute.StringValue(v) {
					t.Errorf("%s = %s, want %q", k, got[k].String(), v)
				}
			}
			if n := len(got[crstel.InvalidKey].AsStringSlice()); n != tt.invalid {
				t.Errorf("crstel.invalid = %q, want %d entries", got[crstel.InvalidKey].AsStringSlice(), tt.invalid)
			}
		})
	}
}

// w3c is the propagator Setup installs by default.
var w3c = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// TestAcrossHTTP: the task metadata and trace context cross an HTTP hop
// made with otelhttp on both sides, and the client span is stamped.
func TestAcrossHTTP(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	tp, props := otelhttp.WithTracerProvider(rec.Provider()), otelhttp.WithPropagators(w3c)
	srv := httptest.NewServer(otelhttp.NewHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The remote side: no WithTask, the metadata comes from baggage.
		_, span := crstel.Action(rec.Context(r.Context()), crs.Building, "compile_source_code", nil)
		defer span.End()
		io.WriteString(w, "ok")
	}), "task-server", tp, props))
	defer srv.Close()
	client := &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport, tp, props)}

	ctx := crstel.WithTask(rec.Context(t.Context()), task1)
	ctx, action := crstel.Action(ctx, crs.ScoringSubmission, "submit_build", nil)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, nil)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	action.End()
	srv.Close() // waits for the handler, so its span has ended

	spans := rec.Ended()
	remote := one(t, spans, "compile_source_code")
	if remote.SpanContext().TraceID() != action.SpanContext().TraceID() {
		t.Errorf("remote action trace = %s, want %s", remote.SpanContext().TraceID(), action.SpanContext().TraceID())
	}
	var clientSpan sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.InstrumentationScope().Name == "go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp" && s.SpanKind().String() == "client" {
			clientSpan = s
		}
	}
	if clientSpan == nil {
		t.Fatal("no otelhttp client span recorded")
	}
	crsteltest.AssertConforms(t, []sdktrace.ReadOnlySpan{remote, clientSpan, one(t, spans, "submit_build")}, crsteltest.WantMetadata(task1))
	wantAttr(t, clientSpan, crs.ActionNameKey, attribute.StringValue("submit_build"))
}

// TestAcrossQueue: a producer injects into a MapCarrier that travels with a
// queued message; the consumer extracts it and its action continues the
// trace with the task metadata.
func TestAcrossQueue(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	queue := make(chan propagation.MapCarrier, 1)

	ctx := crstel.WithTask(rec.Context(t.Context()), task1)
	ctx, producer := crstel.Action(ctx, crs.DynamicAnalysis, "enqueue_crash", nil)
	carrier := propagation.MapCarrier{}
	w3c.Inject(ctx, carrier)
	queue <- carrier
	producer.End()

	msg := <-queue
	cctx := w3c.Extract(rec.Context(t.Context()), msg)
	if got := crstel.Task(cctx); got["task.id"] != "task-1" || len(got) != 3 {
		t.Errorf("Task(extracted) = %v, want %v", got, task1)
	}
	_, consumer := crstel.Action(cctx, crs.PatchGeneration, "patch_crash", nil,
		crstel.WithLinks(trace.Link{SpanContext: producer.SpanContext()}))
	consumer.End()

	s := one(t, rec.Ended(), "patch_crash")
	if s.Parent().SpanID() != producer.SpanContext().SpanID() {
		t.Errorf("consumer parent = %s, want producer %s", s.Parent().SpanID(), producer.SpanContext().SpanID())
	}
	crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(task1))
}

// TestBaggageOnlyTaskMembers: baggage members from elsewhere are not task
// metadata.
func TestBaggageOnlyTaskMembers(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	foreign, _ := baggage.NewMember("user.tier", "gold")
	b, _ := baggage.New(foreign)
	ctx := baggage.ContextWithBaggage(t.Context(), b)
	ctx = crstel.WithTask(ctx, task1)

	carrier := propagation.MapCarrier{}
	w3c.Inject(ctx, carrier)
	cctx := w3c.Extract(rec.Context(t.Context()), carrier)
	_, span := crstel.Action(cctx, crs.Testing, "run_unit_tests", nil)
	span.End()

	s := one(t, rec.Ended(), "run_unit_tests")
	if _, ok := crsteltest.Attrs(s)["user.tier"]; ok {
		t.Error("foreign baggage member user.tier became task metadata")
	}
	crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(task1))
}

// TestTaskBaggageLimits: task metadata that passes Validate but does not
// fit in one W3C baggage header (8192 bytes, 64 members, 4096 bytes a
// member) is cut down to what fits, ids first, so that the receiving side
// keeps it instead of dropping the whole header; what is left out stays on
// this process's spans and is reported, largest first.
func TestTaskBaggageLimits(t *testing.T) {
	ids := crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"}
	with := func(extra crs.Metadata) crs.Metadata {
		m := maps.Clone(ids)
		maps.Copy(m, extra)
		return m
	}
	many := func(n, size int) crs.Metadata {
		m := crs.Metadata{}
		for i := range n {
			m[fmt.Sprintf("key.%02d", i)] = strings.Repeat(string(rune('a'+i%26)), size+i)
		}
		return m
	}
	foreign := func(n, size int) []baggage.Member {
		var ms []baggage.Member
		for i := range n {
			m, err := baggage.NewMember(fmt.Sprintf("user.%02d", i), strings.Repeat("v", size))
			if err != nil {
				t.Fatal(err)
			}
			ms = append(ms, m)
		}
		return ms
	}
	tests := []struct {
		name     string
		meta     crs.Metadata
		foreign  []baggage.Member
		leftOut  []string // in the order the report names them
		received int      // task entries the other side gets
	}{
		{name: "small", meta: ids, received: 3},
		{name: "1400 non-ASCII characters", meta: with(crs.Metadata{"task.description": strings.Repeat("é", 1400)}),
			leftOut: []string{"task.description"}, received: 3},
		{name: "a 4096-byte value", meta: with(crs.Metadata{"task.notes": strings.Repeat("x", 4096)}),
			leftOut: []string{"task.notes"}, received: 3},
		{name: "two large values, the larger left out", meta: with(crs.Metadata{
			"task.a": strings.Repeat("a", 3000), "task.b": strings.Repeat("b", 3900), "task.c": strings.Repeat("c", 3500)}),
			leftOut: []string{"task.b"}, received: 5},
		{name: "61 more keys of 200 to 260 bytes", meta: with(many(61, 200)), leftOut: []string{"key.60", "key.59", "key.58"}},
		{name: "large ids first", meta: crs.Metadata{"task.id": strings.Repeat("i", 4000), "run.id": strings.Repeat("r", 4000),
			"round.id": "round-1", "task.description": strings.Repeat("d", 500)}, leftOut: []string{"task.description"}, received: 3},
		{name: "foreign baggage of 7000 bytes", meta: with(crs.Metadata{"task.description": strings.Repeat("d", 2000)}),
			foreign: foreign(7, 1000), leftOut: []string{"task.description"}, received: 3},
		{name: "62 foreign members", meta: ids, foreign: foreign(62, 1), leftOut: []string{"user."}, received: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.meta.Validate(); err != nil {
				t.Fatalf("the case's metadata is invalid: %v", err)
			}
			rec := crsteltest.NewRecorder(t)
			errs := crsteltest.CaptureErrors(t) // global: not in parallel
			ctx := rec.Context(t.Context())
			if tt.foreign != nil {
				b, err := baggage.New(tt.foreign...)
				if err != nil {
					t.Fatal(err)
				}
				ctx = baggage.ContextWithBaggage(ctx, b)
			}
			ctx = crstel.WithTask(ctx, tt.meta)
			carrier := propagation.MapCarrier{}
			propagation.Baggage{}.Inject(ctx, carrier)
			if n := len(carrier.Get("baggage")); n > 8192 {
				t.Errorf("baggage header of %d bytes, more than 8192", n)
			}
			got := crstel.Task(propagation.Baggage{}.Extract(context.Background(), carrier))
			for k, v := range tt.meta {
				if strings.HasSuffix(k, ".id") && got[k] != v {
					t.Errorf("received %s = %q, want it sent", k, got[k])
				}
			}
			if tt.received > 0 && len(got) != tt.received {
				t.Errorf("received %d task entries, want %d", len(got), tt.received)
			}

			// Local spans keep everything.
			_, span := crstel.Action(ctx, crs.Testing, "run_unit_tests", nil)
			span.End()
			local := crsteltest.Attrs(one(t, rec.Ended(), "run_unit_tests"))
			for k, v := range tt.meta {
				if local[attribute.Key(k)].AsString() != v {
					t.Errorf("local span lost %s", k)
				}
			}

			msgs := strings.Join(errs.Messages(), "\n")
			if tt.leftOut == nil {
				if msgs != "" {
					t.Errorf("reported %q, want nothing", msgs)
				}
				return
			}
			if msgs == "" {
				t.Fatal("nothing reported, want the entries left out named")
			}
			last := -1
			for _, k := range tt.leftOut {
				i := strings.Index(msgs, strconv.Quote(k))
				if strings.HasSuffix(k, ".") {
					i = strings.Index(msgs, `"`+k)
				}
				if i < 0 || i < last {
					t.Errorf("report %q does not name %s after the previous ones", msgs, k)
				}
				last = i
			}
		})
	}
}

// FuzzTaskAcrossProcesses: whatever the metadata, what WithTask puts in the
// baggage header comes back on the other side as this process's task
// metadata (the entries that cannot travel, or do not fit, aside), through
// the W3C baggage propagator.
func FuzzTaskAcrossProcesses(f *testing.F) {
	f.Add("task.id", "task-1", "note", "a,b;c=d %41 é\x00\xff", "")
	f.Add("round.id", strings.Repeat("x", 5000), "task.id", "", "user.tier=gold")
	f.Add("a b", "v", "ok", "%%%", "k=v;p,k2=v2")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, foreign string) {
		ctx := context.Background()
		if b, err := baggage.Parse(foreign); err == nil {
			ctx = baggage.ContextWithBaggage(ctx, b)
		}
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))
		ctx = crstel.WithTask(ctx, crs.Metadata{k1: v1, k2: v2})
		local := crstel.Task(ctx)
		carrier := propagation.MapCarrier{}
		w3c.Inject(ctx, carrier)
		if n := len(carrier.Get("baggage")); n > 8192 {
			t.Fatalf("baggage header of %d bytes, more than 8192", n)
		}
		remote := crstel.Task(w3c.Extract(context.Background(), carrier))
		for k, v := range remote {
			if local[k] != v {
				t.Errorf("received %s = %q, sent %q", k, v, local[k])
			}
		}
		for k, v := range local {
			if _, ok := remote[k]; !ok && len(k)+len(v) < 1000 && !strings.ContainsAny(k, " \\t\\n\\\",;=()/:<>?@[]{}") && k != "" && isToken(k) {
				t.Errorf("%s = %q, small and a token, did not travel", k, v)
			}
		}
	})
}

// isToken reports whether s is an RFC 7230 token, as baggage keys are.
func isToken(s string) bool {
	for _, c := range []byte(s) {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return s != ""
}
