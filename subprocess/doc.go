// Package subprocess runs a child process as a CRS action: a compiler, a
// test runner, a fuzzer, a patch checker.
//
//	ctx, cancel := context.WithTimeout(ctx, time.Hour) // killed after an hour
//	defer cancel()
//	cmd := exec.Command("make", "-j8")
//	cmd.Dir = src
//	err := subprocess.Run(ctx, crs.Building, "build", cmd,
//		subprocess.WithBudget(20*time.Minute),   // reported overdue after 20 minutes
//		subprocess.WithProcessGroup(),           // with every process it started
//		subprocess.WithOutputLog(logger, 0))     // its output logged, 64 KiB at most
//
// [Run] starts a crstel.Action for the child, so the child's life is a span
// that carries the category, the name and the task metadata, like every
// other action. The span records the command line (with secrets redacted,
// see [RedactArgs]), the exit code or the signal that ended the child, its
// wall time, CPU time and peak memory, and an error status if it failed.
//
// # Hung children
//
// A child that never ends is an action that never ends: crstel's watchdog
// reports it while it runs, once past its budget ([WithBudget]) or its
// context's deadline. Its time limit is the deadline of the context given
// to [Run] (context.WithTimeout): Run then stops the child as
// exec.CommandContext does, with the command's Cancel if it has one, else
// with a kill, of its whole process group with [WithProcessGroup]; and
// kills it if it still runs cmd.WaitDelay later. To let a child end
// gently, make the command with exec.CommandContext and set its Cancel and
// WaitDelay:
//
//	cmd := exec.CommandContext(ctx, "fuzzer", "corpus/")
//	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
//	cmd.WaitDelay = 30 * time.Second // then SIGKILL
//	err := subprocess.Run(ctx, crs.Fuzzing, "fuzz", cmd)
//
// # The child's own telemetry
//
// The child gets the trace context and the task metadata in its
// environment, as TRACEPARENT, TRACESTATE and BAGGAGE, the OpenTelemetry
// convention for environment variables as context carriers. A Go child that
// uses crstel continues the trace with crstel.ContextFromEnv: its actions
// are children of the action Run started, with the same task metadata.
//
// # Output
//
// With [WithOutputLog], each line the child writes is logged through a
// slog.Logger with the action's context, bounded in size, the rest counted;
// with a handler of package [github.com/crstel/crstel/logs], each line
// carries the trace, the action and the task.
package subprocess
