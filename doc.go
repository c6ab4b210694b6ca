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
// OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_PROPAGATORS), then
// defaults. With no endpoint configured it prints spans to stderr. Every
// variable crstel or the SDK reads is checked first: a bad value, or a
// number out of its range, is one error naming the variable, and never a
// header's value. crstel's own variables:
//
//	CRSTEL_STRICT=1          invalid input panics (for tests); see WithStrict
//	CRSTEL_QUEUE_FULL=block  span.End waits for room in a full export queue
//	                         instead of dropping the span; see WithQueueFullPolicy
//	CRSTEL_QUEUE_BYTES=N     the export queue's bound in bytes, 64 KiB to
//	                         64 GiB; see WithQueueBytes
//	CRSTEL_OVERDUE=...       watchdog budgets by category, such as
//	                         llm=10m,building=30m,fuzzing=0,default=15m
//	CRSTEL_TRACE_DIR=DIR     the folder of the action journals; off: none
//	CRSTEL_AUDIT_DIR=DIR     the folder of the audit trail's files; off: none;
//	                         see Audit and WithAuditDir
//	CRSTEL_HEARTBEAT=5s      the interval of lifecycle records of open actions;
//	                         off: none; see WithLifecycleInterval
//	CRSTEL_HEARTBEAT_MAX=N   the most open actions with lifecycle heartbeats;
//	                         see WithLifecycleMax
//
// # Hung actions
//
// A span is exported only when it ends, so the action that hangs a run is
// the one a collector never sees. [Setup]'s watchdog reports an action that
// runs past its budget ([WithOverdueAfter], [DefaultBudgets]) or its
// context's deadline as overdue while it is still open, one that misses its
// heartbeat ([WithHeartbeat], [Heartbeat]) as stalled, and one still open at
// [Telemetry.Shutdown] as abandoned, which it then ends and exports. A report
// is a span under the hung one, with the stacks of the goroutines running
// it, a log record, a journal record and a [WithOnReport] callback. Each
// process keeps a journal of its actions, which the command
// "crstel trace anomalies" reads after a crash.
//
// An action still open after [DefaultLifecycleInterval] also sends span
// lifecycle records, heartbeats while it runs and one when it ends: OTLP log
// records that carry the span, so that a collector learns of the actions of
// a process that dies; see [WithLifecycleInterval].
//
// # What each task costs
//
// Every action adds up the costs of what runs inside it — LLM calls made
// through package genai, subprocesses run with package subprocess, the
// actions inside it and the goroutines started from its context — and
// writes the sum on its span at End, under crstel.cost.* (see
// [CostLLMAmountKey] and the keys after it). [CostOf] gives the running
// totals of an action and of its task; [WithCostBudget] has the watchdog
// report an action as over budget the moment its costs cross the budget.
// The journal records each cost, and "crstel trace costs" adds them up.
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
// 200,000, and at most [DefaultQueueBytes] of them. An export is retried
// through an outage of the collector for [DefaultOutage]. Spans dropped from
// a full queue, refused by the collector or still unsent when a bounded
// Shutdown gives up are counted by reason ([Telemetry.Stats]) and reported
// through otel.Handle and by [Telemetry.Shutdown], which flushes everything
// buffered.
//
// # The other packages
//
//   - [github.com/crstel/crstel/crs]: the specification as Go types.
//   - [github.com/crstel/crstel/genai]: LLM calls with the GenAI conventions,
//     and an http.RoundTripper that traces OpenAI-compatible and Anthropic
//     calls.
//   - [github.com/crstel/crstel/fuzz]: fuzz corpus updates and a corpus
//     watcher.
//   - [github.com/crstel/crstel/logs]: a log/slog handler that puts records
//     in their action.
//   - [github.com/crstel/crstel/subprocess]: commands run as actions.
//   - [github.com/crstel/crstel/crsteltest]: for tests, a recorder that
//     runs tests in parallel, and checks that spans conform.
//
// The command crstel (cmd/crstel) lists and reads the action journals, and
// finds in them the actions a hung, crashed or killed process never ended.
package crstel
