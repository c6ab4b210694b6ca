// Package crstel makes the telemetry of CRS (cyber reasoning system)
// components follow the CRS Telemetry Specification v1.0 by construction.
//
// A component calls [Setup] once, puts the metadata of the task it works on
// in its context with [WithTask], and wraps each unit of work in an
// [Action]:
//
//	tel, err := crstel.Setup(ctx, crstel.WithServiceName("patcher"))
//	if err != nil {
//		return err
//	}
//	defer tel.Shutdown(context.WithoutCancel(ctx))
//
//	ctx = crstel.WithTask(ctx, task.Metadata)
//	ctx, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
//	defer span.End()
//	span.SetAttributes(crs.CodeFile("vuln_module.c"))
//
// Every span then carries crs.action.category, crs.action.name and the task
// metadata: the action's own span, the spans of actions inside it, spans
// made by other instrumentation inside it (otelhttp, otelgrpc, an LLM
// client), and actions in other processes that receive the context over
// HTTP, gRPC or a queue. Categories are the typed constants of package
// [github.com/crstel/crstel/crs]; optional attributes have typed
// constructors there, so a key cannot be misspelled or an int sent as a
// string.
//
// # Configuration
//
// [Setup] exports over OTLP gRPC and is configured the standard
// OpenTelemetry way: options, then the OTEL_* environment variables the
// specification names (OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_HEADERS, OTEL_EXPORTER_OTLP_PROTOCOL=grpc,
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES), then defaults. With no
// endpoint configured it prints spans to stderr. crstel's own variables:
//
//	CRSTEL_STRICT=1          invalid input panics (for tests); see WithStrict
//	CRSTEL_QUEUE_FULL=block  span.End waits for room in a full export queue
//	                         instead of dropping the span; see WithQueueFullPolicy
//
// # Invalid input
//
// Invalid input — an unknown category, a name with spaces, metadata that
// would overwrite crs.action.name — never makes crstel panic or drop a span.
// The span is exported with the input repaired and marked with
// [InvalidKey], and the error reaches otel.Handle naming the value. Strict
// mode turns these into panics, so tests find them.
//
// # Nothing lost silently
//
// The export queue holds [DefaultQueueSize] spans, enough for a burst of
// 200,000. Spans dropped from a full queue or refused by the collector are
// counted ([Telemetry.Stats]) and reported through otel.Handle and by
// [Telemetry.Shutdown], which flushes everything buffered.
//
// Package [github.com/crstel/crstel/crsteltest] checks that spans conform.
package crstel
