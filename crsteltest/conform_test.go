package crsteltest_test

import (
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crs/conform"
	"github.com/crstel/crstel/crs/conform/conformtest"
	"github.com/crstel/crstel/crsteltest"
)

var task = crs.Metadata{"round.id": "round-1", "task.id": "task-1"}

var traceID = trace.TraceID{1}

// stub is a conforming span; tests break one thing in it.
func stub(mutate func(*tracetest.SpanStub)) sdktrace.ReadOnlySpan {
	s := tracetest.SpanStub{
		Name:        "generate_patch",
		SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: trace.SpanID{2}}),
		Attributes: []attribute.KeyValue{
			crs.ActionCategory(crs.PatchGeneration), crs.ActionName("generate_patch"),
			attribute.String("round.id", "round-1"), attribute.String("task.id", "task-1"),
		},
		Resource:             resource.NewSchemaless(attribute.String("service.name", "patcher")),
		InstrumentationScope: instrumentation.Scope{Name: crstel.ScopeName},
	}
	if mutate != nil {
		mutate(&s)
	}
	return s.Snapshot()
}

func withAttr(kv attribute.KeyValue) func(*tracetest.SpanStub) {
	return func(s *tracetest.SpanStub) { s.Attributes = append(s.Attributes, kv) }
}

func without(key attribute.Key) func(*tracetest.SpanStub) {
	return func(s *tracetest.SpanStub) {
		var kept []attribute.KeyValue
		for _, kv := range s.Attributes {
			if kv.Key != key {
				kept = append(kept, kv)
			}
		}
		s.Attributes = kept
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		span sdktrace.ReadOnlySpan
		opts []crsteltest.CheckOption
		want string // "" means it conforms
	}{
		{name: "conforming", span: stub(nil)},
		{name: "conforming with metadata", span: stub(nil), opts: []crsteltest.CheckOption{crsteltest.WantMetadata(task)}},
		{name: "all optional attributes", span: stub(func(s *tracetest.SpanStub) {
			s.Attributes = append(s.Attributes, crs.CodeFile("a.c"), crs.CodeLines(1, 2), crs.TargetHarness("h"),
				crs.EffortWeight(2), crs.GenAIID("chatcmpl-1"), crs.FuzzCorpusSize(3), crs.FuzzCorpusAdditions([]string{"x"}),
				crs.FuzzCorpusFullSnapshot(true), crs.FuzzCorpusUpdateMethod("periodic"))
		})},
		{name: "no service.name", span: stub(func(s *tracetest.SpanStub) { s.Resource = resource.Empty() }), want: "service.name"},
		{name: "no resource", span: stub(func(s *tracetest.SpanStub) { s.Resource = nil }), want: "service.name"},
		{name: "no category", span: stub(without(crs.ActionCategoryKey)), want: "crs.action.category missing"},
		{name: "no name", span: stub(without(crs.ActionNameKey)), want: "crs.action.name missing"},
		{name: "unknown category", span: stub(func(s *tracetest.SpanStub) {
			without(crs.ActionCategoryKey)(s)
			s.Attributes = append(s.Attributes, attribute.String("crs.action.category", "telemetry_init"))
		}), want: `"telemetry_init"`},
		{name: "misspelled key", span: stub(withAttr(attribute.String("crs.code.file", "a.c"))), want: `"crs.code.file"`},
		{name: "plural code.files", span: stub(withAttr(attribute.String("crs.action.code.files", "a.c"))), want: `"crs.action.code.files"`},
		{name: "int as string", span: stub(withAttr(attribute.String("crs.action.effort.weight", "8"))), want: `type_mismatch: crs.action.effort.weight is a string "8", want an int`},
		{name: "size as string", span: stub(withAttr(attribute.String("fuzz.corpus.size", "1500"))), want: `type_mismatch: fuzz.corpus.size is a string "1500", want an int`},
		{name: "additions as string", span: stub(withAttr(attribute.String("fuzz.corpus.additions", "a,b"))), want: `type_mismatch: fuzz.corpus.additions is a string "a,b", want a string slice`},
		{name: "bad time", span: stub(withAttr(attribute.String("fuzz.corpus.update.time", "yesterday"))), want: "RFC 3339"},
		{name: "marked invalid", span: stub(withAttr(crstel.InvalidKey.StringSlice([]string{"bad name"}))), want: "marked_invalid: crstel marked the span invalid: bad name"},
		{name: "metadata missing", span: stub(without("task.id")), opts: []crsteltest.CheckOption{crsteltest.WantMetadata(task)}, want: "task metadata task.id missing"},
		{name: "metadata wrong", span: stub(func(s *tracetest.SpanStub) {
			without("task.id")(s)
			s.Attributes = append(s.Attributes, attribute.String("task.id", "task-2"))
		}), opts: []crsteltest.CheckOption{crsteltest.WantMetadata(task)}, want: `task.id is "task-2", want "task-1"`},
		// Without WantMetadata, no metadata is required of a span alone:
		// the rulebook's default (see TestCheckTraceMetadata for a trace).
		{name: "no metadata, none required", span: stub(func(s *tracetest.SpanStub) {
			without("task.id")(s)
			without("round.id")(s)
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := crsteltest.Check([]sdktrace.ReadOnlySpan{tt.span}, tt.opts...)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("Check: %v, want nil", err)
			case tt.want != "" && err == nil:
				t.Errorf("Check: nil, want an error mentioning %s", tt.want)
			case tt.want != "" && !strings.Contains(err.Error(), tt.want):
				t.Errorf("Check: %v, want it to mention %s", err, tt.want)
			}
		})
	}
}

func TestCheckEmpty(t *testing.T) {
	if err := crsteltest.Check(nil); err == nil {
		t.Error("Check(nil) = nil, want an error: checking nothing proves nothing")
	}
}

// TestCheckInfersMetadataPerTrace: a third-party span missing the metadata
// of its trace's actions fails without WantMetadata too.
func TestCheckInfersMetadataPerTrace(t *testing.T) {
	third := stub(func(s *tracetest.SpanStub) {
		s.Name = "GET"
		s.InstrumentationScope.Name = "otelhttp"
		without("task.id")(s)
	})
	err := crsteltest.Check([]sdktrace.ReadOnlySpan{stub(nil), third})
	if err == nil || !strings.Contains(err.Error(), "task.id") {
		t.Errorf("Check = %v, want the missing task.id reported", err)
	}
}

// failRecorder is a testing.TB that records failures instead of failing.
type failRecorder struct {
	testing.TB
	errors []string
}

func (f *failRecorder) Error(args ...any) {
	for _, a := range args {
		f.errors = append(f.errors, a.(error).Error())
	}
}
func (f *failRecorder) Helper() {}

func TestAssertConformsFailsPerSpan(t *testing.T) {
	ft := &failRecorder{TB: t}
	crsteltest.AssertConforms(ft, []sdktrace.ReadOnlySpan{
		stub(without(crs.ActionNameKey)), stub(nil), stub(without(crs.ActionCategoryKey)),
	})
	if len(ft.errors) != 2 {
		t.Errorf("AssertConforms reported %d errors, want 2 (one per bad span): %q", len(ft.errors), ft.errors)
	}
}

// TestRecorder: the actions of the recorder's contexts, and the spans of
// its provider, go to it, stamped by crstel's span processor, with its
// service name; WithGlobal makes it the global provider, for code that uses
// otel.Tracer, until its test ends.
func TestRecorder(t *testing.T) {
	prev := otel.GetTracerProvider()
	for _, global := range []bool{false, true} {
		t.Run(fmt.Sprintf("global=%t", global), func(t *testing.T) {
			opts := []crsteltest.RecorderOption{crsteltest.WithServiceName("patcher")}
			if global {
				// Serial: WithGlobal sets the global provider
				// (otel.SetTracerProvider).
				opts = append(opts, crsteltest.WithGlobal())
			} else {
				t.Parallel()
			}
			rec := crsteltest.NewRecorder(t, opts...)
			ctx, tracer := rec.Context(t.Context()), rec.Provider().Tracer("llm")
			if global {
				if otel.GetTracerProvider() != rec.Provider() {
					t.Fatal("NewRecorder did not install its provider")
				}
				ctx, tracer = t.Context(), otel.Tracer("llm")
			}
			ctx, span := crstel.Action(crstel.WithTask(ctx, task), crs.PatchGeneration, "generate_patch", nil)
			_, child := tracer.Start(ctx, "chat")
			child.End()
			span.End()
			if n := len(rec.Ended()); n != 2 {
				t.Fatalf("the recorder has %d ended spans, want 2", n)
			}
			crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(task))
			res := rec.Ended()[0].Resource()
			if v, _ := res.Set().Value("service.name"); v.AsString() != "patcher" {
				t.Errorf("service.name = %q, want patcher", v.AsString())
			}
		})
	}
	// The WithGlobal subtest has ended; the other one waits for this
	// function to return.
	if otel.GetTracerProvider() != prev {
		t.Error("the global provider was not put back after the test")
	}
}

// TestRecorderStrict: invalid input panics in the contexts of a recorder
// made WithStrict; with WithGlobal too, in every context.
func TestRecorderStrict(t *testing.T) {
	for _, global := range []bool{false, true} {
		t.Run(fmt.Sprintf("global=%t", global), func(t *testing.T) {
			opts := []crsteltest.RecorderOption{crsteltest.WithStrict()}
			if global {
				// Serial: with WithGlobal, strict mode is the process's
				// (violation.SetStrict).
				opts = append(opts, crsteltest.WithGlobal())
			} else {
				t.Parallel()
			}
			rec := crsteltest.NewRecorder(t, opts...)
			ctx := rec.Context(t.Context())
			if global {
				ctx = t.Context()
			}
			defer func() {
				if recover() == nil {
					t.Error("invalid category did not panic in strict mode")
				}
			}()
			crstel.Action(ctx, "unknown", "x", nil)
		})
	}
}

// TestCheckCases: the rulebook's cases through the SDK's spans, as
// AssertConforms and Check read them.
func TestCheckCases(t *testing.T) {
	conformtest.Test(t, func(c conformtest.Case) []conformtest.Got {
		spans := make([]sdktrace.ReadOnlySpan, len(c.Spans))
		for i, s := range c.Spans {
			res := resource.Empty()
			switch {
			case s.ServiceInt:
				res = resource.NewSchemaless(attribute.Int("service.name", 7))
			case s.Service != "":
				res = resource.NewSchemaless(attribute.String("service.name", s.Service))
			}
			stub := tracetest.SpanStub{
				Name:        s.Name,
				SpanContext: trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{s.Trace}, SpanID: trace.SpanID{s.ID}}),
				Attributes:  s.Attributes,
				Resource:    res,
			}
			if s.Parent != 0 {
				stub.Parent = trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{s.Trace}, SpanID: trace.SpanID{s.Parent}})
			}
			spans[i] = stub.Snapshot()
		}
		var got []conformtest.Got
		conform.New(c.Config).Check(len(spans), func(i int) conform.Span { return crsteltest.Span(spans[i]) },
			func(i int, f conform.Finding) { got = append(got, conformtest.Got{Span: i, Rule: f.Rule, Key: f.Key}) })
		return got
	})
}
