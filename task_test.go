package crstel_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
)

// freshMeta returns task metadata no other test gives: metadata seen for
// the first time, whose baggage Action makes only when asked for it.
func freshMeta(t *testing.T) crs.Metadata {
	t.Helper()
	n := freshCount.Add(1)
	id := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
	return crs.Metadata{"round.id": fmt.Sprintf("round-%d", n), "task.id": fmt.Sprintf("%s-%d", id, n), "team.id": "team-1"}
}

var freshCount atomic.Int64

// wantTaskBaggage checks that the baggage of ctx has the entries of meta as
// task members, and that the W3C propagator carries them to another
// process.
func wantTaskBaggage(t *testing.T, ctx context.Context, meta crs.Metadata) {
	t.Helper()
	b := baggage.FromContext(ctx)
	for k, v := range meta {
		m := b.Member(k)
		if m.Value() != v {
			t.Errorf("baggage member %s = %q, want %q", k, m.Value(), v)
		}
		if len(m.Properties()) != 1 || m.Properties()[0].Key() != "crstel.task" {
			t.Errorf("baggage member %s has properties %v, want crstel.task", k, m.Properties())
		}
	}
	carrier := propagation.MapCarrier{}
	w3c.Inject(ctx, carrier)
	if got := crstel.Task(w3c.Extract(context.Background(), carrier)); !maps.Equal(got, meta) {
		t.Errorf("the other process received task %v (header %q), want %v", got, carrier.Get("baggage"), meta)
	}
}

// TestActionFreshMetadataBaggage: the context of an action with metadata
// never given before carries the task in its baggage, however it is asked
// for it: directly, through the contexts derived from it, and through the
// propagator; with or without a parent span.
func TestActionFreshMetadataBaggage(t *testing.T) {
	t.Parallel()
	type key struct{}
	tests := []struct {
		name   string
		parent func(context.Context) context.Context
		derive func(context.Context) context.Context
	}{
		{name: "root action"},
		{name: "child of a span", parent: func(ctx context.Context) context.Context {
			ctx, span := sdktrace.NewTracerProvider().Tracer("t").Start(ctx, "parent")
			span.End()
			return ctx
		}},
		{name: "child of a remote span", parent: func(ctx context.Context) context.Context {
			return trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
				TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled, Remote: true}))
		}},
		{name: "a cancelable parent", parent: func(ctx context.Context) context.Context {
			ctx, cancel := context.WithCancel(ctx)
			t.Cleanup(cancel)
			return ctx
		}},
		{name: "derived with a value", derive: func(ctx context.Context) context.Context {
			return context.WithValue(ctx, key{}, 1)
		}},
		{name: "derived with a cancel", derive: func(ctx context.Context) context.Context {
			ctx, cancel := context.WithCancel(ctx)
			t.Cleanup(cancel)
			return ctx
		}},
		{name: "a span inside the action", derive: func(ctx context.Context) context.Context {
			ctx, span := sdktrace.NewTracerProvider().Tracer("third-party").Start(ctx, "GET")
			span.End()
			return ctx
		}},
		{name: "an action inside the action", derive: func(ctx context.Context) context.Context {
			ctx, span := crstel.Action(ctx, crs.Testing, "run_unit_tests", nil)
			span.End()
			return ctx
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := crsteltest.NewRecorder(t)
			ctx := rec.Context(t.Context())
			if tt.parent != nil {
				ctx = tt.parent(ctx)
			}
			parent := trace.SpanContextFromContext(ctx)
			meta := freshMeta(t)
			ctx, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", meta)
			if tt.derive != nil {
				ctx = tt.derive(ctx)
			}
			wantTaskBaggage(t, ctx, meta)
			span.End()

			s := one(t, rec.Ended(), "generate_patch")
			if got := s.Parent(); !got.Equal(parent) && parent.IsValid() {
				t.Errorf("action's parent = %v, want %v", got, parent)
			}
			if got := s.Parent().IsValid(); got != parent.IsValid() {
				t.Errorf("action has a parent: %t, want %t", got, parent.IsValid())
			}
			crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(meta))
		})
	}
}

// TestActionFreshMetadataBaggageConcurrent: the context of an action with
// fresh metadata may be asked for its baggage by many goroutines at once.
func TestActionFreshMetadataBaggageConcurrent(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	meta := freshMeta(t)
	ctx, span := crstel.Action(rec.Context(t.Context()), crs.Fuzzing, "fuzz_target", meta)
	defer span.End()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { wantTaskBaggage(t, ctx, meta) })
	}
	wg.Wait()
}

// startSeen records what a sampler or span processor sees at the start of
// each span, by span name: the task.id baggage member of its parent
// context (as a processor that copies baggage to spans, such as contrib's
// baggagecopy, reads it), and the span's attributes.
type startSeen struct {
	mu   sync.Mutex
	seen map[string]started
}

type started struct {
	taskID string
	attrs  []attribute.KeyValue
}

func (b *startSeen) note(ctx context.Context, name string, attrs []attribute.KeyValue) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen == nil {
		b.seen = map[string]started{}
	}
	b.seen[name] = started{baggage.FromContext(ctx).Member("task.id").Value(), slices.Clone(attrs)}
}

func (b *startSeen) get(name string) started {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seen[name]
}

// seenProcessor is a span processor that records what it sees at a span's
// start.
type seenProcessor struct{ *startSeen }

func (p seenProcessor) OnStart(parent context.Context, s sdktrace.ReadWriteSpan) {
	p.note(parent, s.Name(), s.Attributes())
}
func (seenProcessor) OnEnd(sdktrace.ReadOnlySpan)      {}
func (seenProcessor) Shutdown(context.Context) error   { return nil }
func (seenProcessor) ForceFlush(context.Context) error { return nil }

// seenSampler is a sampler that samples every span and records what it is
// given at its start.
type seenSampler struct{ *startSeen }

func (s seenSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	s.note(p.ParentContext, p.Name, p.Attributes)
	return sdktrace.AlwaysSample().ShouldSample(p)
}
func (seenSampler) Description() string { return "seenSampler" }

// TestActionFreshMetadataBaggageAtStart: samplers and span processors that
// read the baggage of the parent context find the task in it at the start
// of the action's own span and of the spans inside it.
func TestActionFreshMetadataBaggageAtStart(t *testing.T) {
	t.Parallel()
	sampled, processed := &startSeen{}, &startSeen{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(seenSampler{sampled}),
		sdktrace.WithSpanProcessor(crstel.NewSpanProcessor()), sdktrace.WithSpanProcessor(seenProcessor{processed}))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })

	meta := freshMeta(t)
	ctx, span := crstel.Action(t.Context(), crs.Building, "compile_source_code", meta, crstel.WithTracerProvider(tp))
	_, child := tp.Tracer("third-party").Start(ctx, "child")
	child.End()
	span.End()
	for _, name := range []string{"compile_source_code", "child"} {
		if got := sampled.get(name).taskID; got != meta["task.id"] {
			t.Errorf("the sampler found task.id %q in the baggage at the start of %s, want %q", got, name, meta["task.id"])
		}
		if got := processed.get(name).taskID; got != meta["task.id"] {
			t.Errorf("the processor found task.id %q in the baggage at the start of %s, want %q", got, name, meta["task.id"])
		}
	}
}

// TestActionMetadataGivenAgain: metadata given to action after action, by
// the same map or an equal one, reaches each action's span and baggage;
// the caller may change its map afterwards.
func TestActionMetadataGivenAgain(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	meta := freshMeta(t)
	want := maps.Clone(meta)
	for i := range 3 {
		given := meta
		if i == 1 {
			given = maps.Clone(meta)
		}
		ctx, span := crstel.Action(rec.Context(t.Context()), crs.Testing, fmt.Sprintf("run_tests_%d", i), given)
		span.End()
		wantTaskBaggage(t, ctx, want)
		if got := crstel.Task(ctx); !maps.Equal(got, want) {
			t.Errorf("action %d: Task = %v, want %v", i, got, want)
		}
	}
	// The caller's map is not kept: changing it changes nothing made.
	ctx, span := crstel.Action(rec.Context(t.Context()), crs.Testing, "run_tests_3", meta)
	meta["task.id"] = "changed"
	delete(meta, "round.id")
	span.End()
	wantTaskBaggage(t, ctx, want)
	crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(want))
}

// TestActionFreshMetadataLeftOut: fresh metadata too large for a baggage
// header is reported at the action, as it is by WithTask, and the
// action's baggage holds what fits.
func TestActionFreshMetadataLeftOut(t *testing.T) {
	rec := crsteltest.NewRecorder(t)
	errs := crsteltest.CaptureErrors(t) // global: not in parallel
	meta := freshMeta(t)
	meta["task.notes"] = strings.Repeat("x", 4096)
	ctx, span := crstel.Action(rec.Context(t.Context()), crs.Testing, "run_unit_tests", meta)
	span.End()
	if msgs := strings.Join(errs.Messages(), "\n"); !strings.Contains(msgs, `"task.notes"`) {
		t.Errorf("reported %q, want task.notes named as left out", msgs)
	}
	ids := maps.Clone(meta)
	delete(ids, "task.notes")
	wantTaskBaggage(t, ctx, ids)
	if m := baggage.FromContext(ctx).Member("task.notes"); m.Key() != "" {
		t.Errorf("baggage has task.notes (%d bytes), want it left out", len(m.Value()))
	}
}

// TestActionFreshMetadataPipeline: with Setup's pipeline (the watchdog
// tracks the action), an action with fresh metadata is exported with it,
// and its context carries the task in its baggage through the installed
// propagator.
func TestActionFreshMetadataPipeline(t *testing.T) {
	isolate(t)
	spans := tracetest.NewInMemoryExporter()
	tel := startSetup(t, crstel.WithExporter(spans), crstel.WithTraceDir(t.TempDir()), crstel.WithLogger(slog.New(slog.DiscardHandler)))
	meta := freshMeta(t)
	ctx, span := crstel.Action(context.Background(), crs.Testing, "run_unit_tests", meta, crstel.WithOverdueAfter(time.Hour))
	carrier := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, carrier)
	if got := crstel.Task(otel.GetTextMapPropagator().Extract(context.Background(), carrier)); !maps.Equal(got, meta) {
		t.Errorf("the other process received task %v (header %q), want %v", got, carrier.Get("baggage"), meta)
	}
	span.End()
	if err := tel.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := spans.GetSpans().Snapshots()
	crsteltest.AssertConforms(t, []sdktrace.ReadOnlySpan{one(t, got, "run_unit_tests")}, crsteltest.WantMetadata(meta))
}

// TestActionStartAttributesOfTasks: whatever order a task's actions come
// in (an invalid pair first, several pairs, the same pair again, the task
// made by WithTask first, actions racing to be a fresh task's first), each
// action's span starts with its own category and name and the task's
// metadata, given to samplers at the start; and only invalid input is
// marked.
func TestActionStartAttributesOfTasks(t *testing.T) {
	t.Parallel()
	type step struct {
		category crs.Category
		name     string
		withTask bool // WithTask(meta), then Action with nil metadata
	}
	valid := func(c crs.Category, n string) step { return step{category: c, name: n} }
	tests := []struct {
		name  string
		steps []step
	}{
		{"one pair, again", []step{valid(crs.Building, "build"), valid(crs.Building, "build")}},
		{"invalid name first", []step{{category: crs.Building, name: "bad name"}, valid(crs.Building, "build"), valid(crs.Building, "build")}},
		{"invalid category first", []step{{category: "nope", name: "build"}, valid(crs.Building, "build")}},
		{"several pairs", []step{valid(crs.Building, "build"), valid(crs.Testing, "run_tests"), valid(crs.Building, "build"), valid(crs.Fuzzing, "fuzz")}},
		{"WithTask first", []step{{category: crs.Building, name: "build", withTask: true}, valid(crs.Building, "build"), valid(crs.Testing, "run_tests")}},
		{"WithTask after", []step{valid(crs.Building, "build"), {category: crs.Testing, name: "run_tests", withTask: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			seen, rec, tp := startRecorder(t)
			meta := freshMeta(t)
			for i, s := range tt.steps {
				ctx, given := t.Context(), meta
				if s.withTask {
					ctx, given = crstel.WithTask(ctx, meta), nil
				}
				_, span := crstel.Action(ctx, s.category, s.name, given, crstel.WithTracerProvider(tp))
				span.End()
				spans := rec.Ended()
				got := spans[len(spans)-1]
				wantValid := s.category.Valid() && crs.ValidateName(s.name) == nil
				wantStartAttrs(t, fmt.Sprintf("step %d", i), got, seen.get(got.Name()).attrs, meta, wantValid)
			}
		})
	}
	t.Run("racing to be first", func(t *testing.T) {
		t.Parallel()
		seen, rec, tp := startRecorder(t)
		meta := freshMeta(t)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				_, span := crstel.Action(t.Context(), crs.Building, fmt.Sprintf("build_%d", g), meta, crstel.WithTracerProvider(tp))
				span.End()
			})
		}
		wg.Wait()
		for _, s := range rec.Ended() {
			wantStartAttrs(t, s.Name(), s, seen.get(s.Name()).attrs, meta, true)
		}
	})
}

// wantStartAttrs checks the attributes a span ended with, and those its
// sampler saw at its start: its name's, its category, the metadata, and
// crstel's mark of invalid input if and only if wantValid is false.
func wantStartAttrs(t *testing.T, step string, s sdktrace.ReadOnlySpan, atStart []attribute.KeyValue, meta crs.Metadata, wantValid bool) {
	t.Helper()
	for _, set := range []struct {
		when  string
		attrs []attribute.KeyValue
	}{{"ended with", s.Attributes()}, {"started with", atStart}} {
		got := map[attribute.Key]string{}
		for _, kv := range set.attrs {
			got[kv.Key] = kv.Value.String()
		}
		if got["crs.action.name"] != s.Name() {
			t.Errorf("%s: span %q %s crs.action.name %q", step, s.Name(), set.when, got["crs.action.name"])
		}
		if c := got["crs.action.category"]; !crs.Category(c).Valid() && wantValid {
			t.Errorf("%s: span %q %s crs.action.category %q", step, s.Name(), set.when, c)
		}
		for k, v := range meta {
			if got[attribute.Key(k)] != v {
				t.Errorf("%s: span %q %s %s=%q, want %q", step, s.Name(), set.when, k, got[attribute.Key(k)], v)
			}
		}
	}
	_, marked := attrValue(s.Attributes(), crstel.InvalidKey)
	if marked == wantValid {
		t.Errorf("%s: span %q marked invalid: %v, want %v", step, s.Name(), marked, !wantValid)
	}
}

func attrValue(attrs []attribute.KeyValue, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range attrs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// startRecorder returns a provider with crstel's span processor, whose
// sampler keeps the attributes each span starts with, and the recorder of
// its spans.
func startRecorder(t *testing.T) (*startSeen, *tracetest.SpanRecorder, *sdktrace.TracerProvider) {
	seen, rec := &startSeen{}, tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(seenSampler{seen}),
		sdktrace.WithSpanProcessor(crstel.NewSpanProcessor()), sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })
	return seen, rec, tp
}

// FuzzActionMetadata: whatever the metadata, given in whatever order
// (new, then one value changed, then other keys, then the first again, as
// the table of recent tasks sees them), each action's span starts and ends
// with the metadata's attributes as crs.Metadata.Attributes repairs them,
// its context carries that task, and the span is marked invalid exactly
// when the metadata or the name is, or an entry cannot travel in baggage.
func FuzzActionMetadata(f *testing.F) {
	f.Add("task.id", "task-1", "task-2", "round.id", "round-1", "generate_patch")
	f.Add("task.id", "a\xffb", "", "crs.action.name", "x", "bad name")
	f.Add("", "v", "w", "k", strings.Repeat("é", 3000), "")
	f.Fuzz(func(t *testing.T, k1, v1, v1b, k2, v2, name string) {
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))
		seen, rec, tp := startRecorder(t)
		metas := []crs.Metadata{
			{k1: v1, k2: v2},
			{k1: v1b, k2: v2},
			{k1: v1},
			{k1: v1, k2: v2},
		}
		wantName := name
		if crs.ValidateName(name) != nil {
			wantName = crs.SanitizeName(name)
		}
		for i, meta := range metas {
			given := maps.Clone(meta)
			ctx, span := crstel.Action(t.Context(), crs.Building, name, given, crstel.WithTracerProvider(tp))
			span.End()
			clear(given) // the caller may change its map: nothing made changes
			spans := rec.Ended()
			s := spans[len(spans)-1]
			want := map[string]string{}
			for _, kv := range meta.Attributes() {
				want[string(kv.Key)] = kv.Value.AsString()
			}
			if got := crstel.Task(ctx); !maps.Equal(got, want) {
				t.Errorf("action %d (%q): Task = %q, want %q", i, meta, got, want)
			}
			for _, set := range []struct {
				when  string
				attrs []attribute.KeyValue
			}{{"ended with", s.Attributes()}, {"started with", seen.get(s.Name()).attrs}} {
				got := map[string]string{}
				for _, kv := range set.attrs {
					got[string(kv.Key)] = kv.Value.String()
				}
				for k, v := range want {
					if got[k] != v {
						t.Errorf("action %d (%q): span %s %s=%q, want %q", i, meta, set.when, k, got[k], v)
					}
				}
				if got["crs.action.name"] != wantName {
					t.Errorf("action %d: span %s crs.action.name %q, want %q", i, set.when, got["crs.action.name"], wantName)
				}
			}
			// Marked too: a key that cannot travel in W3C baggage (not a
			// token), whose entry would not reach the other processes.
			travels := true
			for k := range want {
				travels = travels && isToken(k)
			}
			_, marked := attrValue(s.Attributes(), crstel.InvalidKey)
			if wantMarked := meta.Validate() != nil || wantName != name || !travels; marked != wantMarked {
				t.Errorf("action %d (%q, name %q): marked invalid %v, want %v", i, meta, name, marked, wantMarked)
			}
		}
	})
}
