package crstel_test

import (
	"context"
	"fmt"
	"slices"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
)

// printSpans prints each span's name and attributes, sorted, in a stable
// form for the examples' output.
func printSpans(spans tracetest.SpanStubs) {
	for _, s := range spans {
		kvs := slices.Clone(s.Attributes)
		slices.SortFunc(kvs, func(a, b attribute.KeyValue) int { return cmpString(string(a.Key), string(b.Key)) })
		fmt.Println(s.Name)
		for _, kv := range kvs {
			fmt.Printf("  %s=%s\n", kv.Key, kv.Value.String())
		}
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// Setup with an in-memory exporter, so that the example can print what
// would have been exported. A real component calls Setup with no exporter
// option and configures the collector with OTEL_EXPORTER_OTLP_ENDPOINT.
func ExampleSetup() {
	ctx := context.Background()
	exp := tracetest.NewInMemoryExporter()
	tel, err := crstel.Setup(ctx, crstel.WithServiceName("patcher"), crstel.WithExporter(exp))
	if err != nil {
		fmt.Println(err)
		return
	}

	ctx = crstel.WithTask(ctx, crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"})
	_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
	span.SetAttributes(crs.CodeFile("vuln_module.c"))
	span.End()

	// ForceFlush, not Shutdown, before reading: the in-memory exporter
	// forgets its spans when it is shut down.
	if err := tel.ForceFlush(ctx); err != nil {
		fmt.Println(err)
	}
	spans := exp.GetSpans()
	defer tel.Shutdown(ctx)
	service, _ := spans[0].Resource.Set().Value("service.name")
	fmt.Println("service.name:", service.String())
	printSpans(spans)
	fmt.Printf("%+v\n", tel.Stats())
	// Output:
	// service.name: patcher
	// generate_patch
	//   crs.action.category=patch_generation
	//   crs.action.code.file=vuln_module.c
	//   crs.action.name=generate_patch
	//   round.id=round-1
	//   task.id=task-1
	//   team.id=team-1
	// {Ended:1 Exported:1 Failed:0 Dropped:0 Unsent:0 Queued:0}
}

// exampleProvider installs a provider with crstel's span processor that
// keeps spans in memory, as crsteltest.NewRecorder does in tests.
func exampleProvider() (*tracetest.InMemoryExporter, func()) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(crstel.NewSpanProcessor()),
		sdktrace.WithSyncer(exp),
	)
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	return exp, func() {
		_ = tp.Shutdown(context.Background())
		otel.SetTracerProvider(prev)
	}
}

func ExampleAction() {
	exp, done := exampleProvider()
	defer done()

	ctx := crstel.WithTask(context.Background(), crs.Metadata{"task.id": "task-1"})
	ctx, span := crstel.Action(ctx, crs.DynamicAnalysis, "runtime_behavior_monitoring", nil,
		crstel.WithAttributes(crs.CodeFile("main.c"), crs.CodeLines(120, 180),
			crs.TargetHarness("test_harness_1"), crs.EffortWeight(8)))
	// ... the work ...
	span.End()

	printSpans(exp.GetSpans())
	// Output:
	// runtime_behavior_monitoring
	//   crs.action.category=dynamic_analysis
	//   crs.action.code.file=main.c
	//   crs.action.code.lines=120-180
	//   crs.action.effort.weight=8
	//   crs.action.name=runtime_behavior_monitoring
	//   crs.action.target.harness=test_harness_1
	//   task.id=task-1
}

// An action's metadata argument adds to the task metadata of the context;
// it wins on a clash.
func ExampleAction_metadata() {
	exp, done := exampleProvider()
	defer done()

	ctx := crstel.WithTask(context.Background(), crs.Metadata{"round.id": "round-1", "task.id": "task-1"})
	_, span := crstel.Action(ctx, crs.Testing, "run_unit_tests", crs.Metadata{"task.id": "task-2"})
	span.End()

	printSpans(exp.GetSpans())
	// Output:
	// run_unit_tests
	//   crs.action.category=testing
	//   crs.action.name=run_unit_tests
	//   round.id=round-1
	//   task.id=task-2
}

// Invalid input does not panic and does not lose the span: it is marked.
func ExampleAction_invalid() {
	exp, done := exampleProvider()
	defer done()
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { fmt.Println("handled:", err) }))
	defer otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))

	_, span := crstel.Action(context.Background(), "telemetry_init", "init telemetry", nil)
	span.End()

	s := exp.GetSpans()[0]
	fmt.Println("exported:", s.Name)
	// Output:
	// handled: crstel: crs: unknown action category "telemetry_init" (valid: static_analysis, dynamic_analysis, fuzzing, program_analysis, building, input_generation, patch_generation, testing, scoring_submission)
	// handled: crstel: crs: invalid action name "init telemetry": contains whitespace U+0020
	// exported: init_telemetry
}

// WithTask's metadata travels in W3C baggage: here through a queue message,
// as a propagation.MapCarrier. Over HTTP or gRPC, otelhttp and otelgrpc
// carry it the same way.
func ExampleWithTask() {
	exp, done := exampleProvider()
	defer done()

	// Producer.
	ctx := crstel.WithTask(context.Background(), crs.Metadata{"round.id": "round-1", "task.id": "task-1"})
	ctx, span := crstel.Action(ctx, crs.Fuzzing, "fuzz_test_network_inputs", nil)
	msg := propagation.MapCarrier{}
	otel.GetTextMapPropagator().Inject(ctx, msg)
	span.End()

	// Consumer, maybe in another process.
	cctx := otel.GetTextMapPropagator().Extract(context.Background(), msg)
	fmt.Println("task:", crstel.Task(cctx))
	_, span = crstel.Action(cctx, crs.PatchGeneration, "generate_security_patch", nil)
	span.End()

	printSpans(exp.GetSpans()[1:])
	// Output:
	// task: map[round.id:round-1 task.id:task-1]
	// generate_security_patch
	//   crs.action.category=patch_generation
	//   crs.action.name=generate_security_patch
	//   round.id=round-1
	//   task.id=task-1
}

// Spans that other instrumentation starts inside an action are stamped with
// the action's category, name and metadata.
func ExampleNewSpanProcessor() {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithSpanProcessor(crstel.NewSpanProcessor()),
		sdktrace.WithSyncer(exp),
	)
	defer tp.Shutdown(context.Background())
	otel.SetTracerProvider(tp)

	ctx := crstel.WithTask(context.Background(), crs.Metadata{"task.id": "task-1"})
	ctx, action := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
	_, llm := tp.Tracer("some-llm-client").Start(ctx, "chat gpt-4o", trace.WithSpanKind(trace.SpanKindClient))
	llm.End()
	action.End()

	printSpans(exp.GetSpans()[:1])
	// Output:
	// chat gpt-4o
	//   crs.action.category=patch_generation
	//   crs.action.name=generate_patch
	//   task.id=task-1
}

// A component that captures LLM prompts and completions makes large spans:
// bound the export queue in bytes as well as in spans, so that an outage of
// the collector cannot exhaust its memory. Spans beyond either bound are
// dropped and counted.
func ExampleWithQueueBytes() {
	ctx := context.Background()
	tel, err := crstel.Setup(ctx, crstel.WithServiceName("patcher"),
		crstel.WithExporter(tracetest.NewInMemoryExporter()),
		crstel.WithQueueSize(10_000), crstel.WithQueueBytes(64<<20))
	if err != nil {
		fmt.Println(err)
		return
	}
	_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
	span.End()
	if err := tel.Shutdown(ctx); err != nil {
		fmt.Println(err)
	}
	fmt.Printf("%+v\n", tel.Stats())
	// Output:
	// {Ended:1 Exported:1 Failed:0 Dropped:0 Unsent:0 Queued:0}
}
