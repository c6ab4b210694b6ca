// Package logs makes log/slog records belong to the CRS action they were
// logged in.
//
// [NewHandler] wraps any slog.Handler, such as slog.NewJSONHandler for
// container logs. A record logged with a context inside an action
// ([github.com/crstel/crstel.Action]) gets the trace and span ids of the
// enclosing span, the action's crs.action.category and crs.action.name,
// and the task metadata ([github.com/crstel/crstel.WithTask]), so that a
// log line can be found from its span and the reverse:
//
//	logger := slog.New(logs.NewHandler(slog.NewJSONHandler(os.Stderr, nil), logs.WithOTLP()))
//	ctx, span := crstel.Action(ctx, crs.Building, "build", nil)
//	defer span.End()
//	logger.InfoContext(ctx, "compiling", "file", "png.c")
//
// prints
//
//	{"time":"...","level":"INFO","msg":"compiling","trace_id":"4bf9...","span_id":"00f0...",
//	 "crs.action.category":"building","crs.action.name":"build",
//	 "round.id":"round-1","task.id":"task-1","file":"png.c"}
//
// # Field names
//
// trace_id and span_id are the names the OpenTelemetry specification gives
// the trace context in logs that are not OTLP; the action and the task
// metadata have the keys they have as span attributes. These correlation
// fields are always at the top level of the record, before its own
// attributes: groups (slog.Logger.WithGroup) hold the caller's attributes
// only. Records logged without a context, or outside any span, action and
// task, pass through unchanged but for redaction; a record logged in a span
// that is not an action's, such as an otelhttp span, gets its ids.
//
// # Secrets
//
// Attributes whose keys name secrets, such as password, api_key, token,
// secret or Authorization, are replaced by [Redacted] before any handler
// sees them; [IsSecret] gives the rule, and [WithRedact] sets another.
//
// # OpenTelemetry
//
// With [WithOTLP], records also go to the global OpenTelemetry
// LoggerProvider through the otelslog bridge, which
// [github.com/crstel/crstel.Setup] installs and exports over OTLP gRPC
// where the spans go (OTEL_LOGS_EXPORTER=none turns that off). There they
// carry the trace context as OTLP fields, and the action and the task
// metadata as attributes.
//
// # Cost
//
// The action's category and name and the task metadata are those crstel
// computed once for the action's span, sorted: a record copies and sorts
// nothing. Without [WithOTLP], a record logged inside an action costs the
// allocations of the same record logged by the inner handler alone with
// the fields written by hand (the ids in hex), and one logged outside costs
// none beyond the inner handler's: the package's BenchmarkHandle compares
// the two.
package logs
