//go:build unix

package subprocess_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"syscall"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/logs"
	"github.com/crstel/crstel/subprocess"
)

// A test run that fails: its output lines are logged in the action, its
// exit code recorded.
func ExampleRun() {
	ctx := context.Background()
	tel, err := crstel.Setup(ctx, crstel.WithServiceName("tester"), crstel.WithConsole(io.Discard), crstel.WithoutJournal())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tel.Shutdown(ctx)

	// JSON logs; the time and the random ids left out of the output here.
	logger := slog.New(logs.NewHandler(slog.NewJSONHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == logs.TraceIDKey || a.Key == logs.SpanIDKey {
				return slog.Attr{}
			}
			return a
		},
	})))
	ctx = crstel.WithTask(ctx, crs.Metadata{"task.id": "task-1"})
	cmd := exec.Command("sh", "-c", "echo '=== RUN TestDecode'; echo '--- FAIL: TestDecode'; exit 1")
	err = subprocess.Run(ctx, crs.Testing, "run_tests", cmd,
		subprocess.WithBudget(10*time.Minute), subprocess.WithOutputLog(logger, 0))
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		fmt.Println("exit code", exitErr.ExitCode())
	}
	// Output:
	// {"level":"INFO","msg":"=== RUN TestDecode","crs.action.category":"testing","crs.action.name":"run_tests","task.id":"task-1","log.iostream":"stdout"}
	// {"level":"INFO","msg":"--- FAIL: TestDecode","crs.action.category":"testing","crs.action.name":"run_tests","task.id":"task-1","log.iostream":"stdout"}
	// exit code 1
}

// A hung child killed at its time limit, its context's deadline, with its
// process group, and what its span records.
func ExampleRun_deadline() {
	sr, restore := recording()
	defer restore()

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	err := subprocess.Run(ctx, crs.Fuzzing, "fuzz", exec.Command("sleep", "60"), subprocess.WithProcessGroup())
	fmt.Println("deadline:", errors.Is(err, context.DeadlineExceeded))
	fmt.Println(err)
	printAttributes(sr.Ended()[0])
	// Output:
	// deadline: true
	// subprocess: stopped: context deadline exceeded: signal: killed
	// process.command_args: ["sleep","60"]
	// crstel.process.signal: SIGKILL
	// crstel.process.killed: subprocess: stopped: context deadline exceeded
}

// A child asked to end with SIGTERM at its deadline, as the Cancel of
// exec.CommandContext says, and killed only if it still runs WaitDelay
// later.
func ExampleRun_cancel() {
	sr, restore := recording()
	defer restore()

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sleep", "60")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	err := subprocess.Run(ctx, crs.Fuzzing, "fuzz", cmd)
	fmt.Println(err)
	printAttributes(sr.Ended()[0])
	// Output:
	// subprocess: stopped: context deadline exceeded: signal: terminated
	// process.command_args: ["sleep","60"]
	// crstel.process.signal: SIGTERM
	// crstel.process.killed: subprocess: stopped: context deadline exceeded
}

// recording installs a global tracer provider with crstel's span processor,
// as crstel.Setup would, that records spans in memory; restore puts the
// previous provider back.
func recording() (sr *tracetest.SpanRecorder, restore func()) {
	sr = tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(crstel.NewSpanProcessor()), sdktrace.WithSpanProcessor(sr))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	return sr, func() {
		otel.SetTracerProvider(prev)
		tp.Shutdown(context.Background())
	}
}

// printAttributes prints the attributes of s that tell how its child
// ended.
func printAttributes(s sdktrace.ReadOnlySpan) {
	for _, kv := range s.Attributes() {
		switch kv.Key {
		case subprocess.CommandArgsKey, subprocess.SignalKey, subprocess.KilledKey:
			fmt.Printf("%s: %s\n", kv.Key, kv.Value.String())
		}
	}
}

// The default redaction of a command line.
func ExampleRedactArgs() {
	fmt.Println(subprocess.RedactArgs([]string{"curl", "-H", "Authorization: Bearer abc", "--api-key", "sk-1", "https://crs:s3cret@example.com/?page=2"}))
	// Output:
	// [curl -H Authorization: [REDACTED] --api-key [REDACTED] https://crs:[REDACTED]@example.com/?page=2]
}
