package logs_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/logs"
)

// hideVarying replaces what changes from run to run (the time, the random
// trace and span ids) so that the output can be checked.
func hideVarying(_ []string, a slog.Attr) slog.Attr {
	switch a.Key {
	case slog.TimeKey:
		return slog.Attr{}
	case logs.TraceIDKey, logs.SpanIDKey:
		a.Value = slog.StringValue(fmt.Sprintf("<%d hex digits>", len(a.Value.String())))
	}
	return a
}

// A JSON handler for container logs, wrapped so that records logged in an
// action carry the trace, the action and the task metadata; the api_key is
// redacted.
func Example() {
	ctx := context.Background()
	tel, err := crstel.Setup(ctx, crstel.WithServiceName("builder"), crstel.WithConsole(io.Discard), crstel.WithoutJournal())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tel.Shutdown(ctx)

	logger := slog.New(logs.NewHandler(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{ReplaceAttr: hideVarying})))
	ctx = crstel.WithTask(ctx, crs.Metadata{"round.id": "round-1", "task.id": "task-1"})
	ctx, span := crstel.Action(ctx, crs.Building, "build", nil)
	defer span.End()

	logger.InfoContext(ctx, "compiling", "file", "png.c", "api_key", "sk-123")
	logger.Info("no context: no fields added")
	// Output:
	// {"level":"INFO","msg":"compiling","trace_id":"<32 hex digits>","span_id":"<16 hex digits>","crs.action.category":"building","crs.action.name":"build","round.id":"round-1","task.id":"task-1","file":"png.c","api_key":"[REDACTED]"}
	// {"level":"INFO","msg":"no context: no fields added"}
}

// Groups hold the caller's attributes; the correlation fields stay at the
// top level. (The trace and span ids are left out of the output here.)
func ExampleHandler_WithGroup() {
	ctx := crstel.WithTask(context.Background(), crs.Metadata{"task.id": "task-1"})
	ctx, span := crstel.Action(ctx, crs.Testing, "run_tests", nil)
	defer span.End()

	opts := &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey || a.Key == logs.TraceIDKey || a.Key == logs.SpanIDKey {
			return slog.Attr{}
		}
		return a
	}}
	logger := slog.New(logs.NewHandler(slog.NewJSONHandler(os.Stdout, opts)))
	logger.WithGroup("test").With("suite", "png").InfoContext(ctx, "failed", "name", "TestDecode")
	// Output:
	// {"level":"INFO","msg":"failed","crs.action.category":"testing","crs.action.name":"run_tests","task.id":"task-1","test":{"suite":"png","name":"TestDecode"}}
}

// A redaction of one's own, which keeps the default.
func ExampleWithRedact() {
	redact := func(key string, v slog.Value) slog.Value {
		if key == "prompt" {
			return slog.StringValue(fmt.Sprintf("<%d bytes>", len(v.String())))
		}
		return logs.RedactSecrets(key, v)
	}
	opts := &slog.HandlerOptions{ReplaceAttr: hideVarying}
	logger := slog.New(logs.NewHandler(slog.NewJSONHandler(os.Stdout, opts), logs.WithRedact(redact)))
	logger.Info("llm call", "prompt", "Fix the overflow in png.c", "token", "sk-123", "max_tokens", 1024)
	// Output:
	// {"level":"INFO","msg":"llm call","prompt":"<25 bytes>","token":"[REDACTED]","max_tokens":1024}
}

func ExampleIsSecret() {
	for _, key := range []string{"password", "OPENAI_API_KEY", "access_token", "max_tokens", "secret_name"} {
		fmt.Println(key, logs.IsSecret(key))
	}
	// Output:
	// password true
	// OPENAI_API_KEY true
	// access_token true
	// max_tokens false
	// secret_name false
}
