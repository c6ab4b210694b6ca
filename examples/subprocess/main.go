// Command subprocess runs a build and a test run as CRS actions with
// package subprocess, and logs in both through package logs.
//
// Each child process is an action: its span records the command line
// (secrets redacted), the exit code or signal, the wall and CPU time and
// the peak memory; the child gets the trace context and the task metadata
// in its environment (TRACEPARENT, BAGGAGE). Each line the children write is
// logged as JSON to stderr with the trace, the action and the task:
//
//	go run ./examples/subprocess
//
// The test run fails, on purpose: its span has an error status and exit
// code 1, and the program goes on. With a collector configured, spans and
// logs go to it:
//
//	OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 go run ./examples/subprocess
package main

import (
	"context"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"os"
	"os/exec"
	"time"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/logs"
	"github.com/crstel/crstel/subprocess"
)

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) (err error) {
	// JSON logs for the container, with the trace, the action and the task
	// on each record; also sent over OTLP where the spans go.
	logger := slog.New(logs.NewHandler(slog.NewJSONHandler(os.Stderr, nil), logs.WithOTLP()))

	tel, err := crstel.Setup(ctx, crstel.WithServiceName("subprocess-example"), crstel.WithLogger(logger))
	if err != nil {
		return err
	}
	defer func() {
		if serr := tel.Shutdown(context.WithoutCancel(ctx)); serr != nil && err == nil {
			err = serr
		}
	}()

	ctx = crstel.WithTask(ctx, crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"})
	logger.InfoContext(ctx, "building and testing the challenge project")

	// The build's time limit is its context's deadline: at an hour, it is
	// killed, with the compilers it started.
	bctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	build := exec.Command("sh", "-c", "echo 'compiling png.c'; echo 'linking libpng.so'")
	if err := subprocess.Run(bctx, crs.Building, "build_project", build,
		subprocess.WithBudget(30*time.Minute), // the watchdog reports it after 30 minutes
		subprocess.WithProcessGroup(),         // its whole process group is killed
		subprocess.WithOutputLog(logger, 0)); err != nil {
		return fmt.Errorf("build: %w", err)
	}

	tests := exec.Command("sh", "-c", "echo '=== RUN TestDecode'; echo '--- FAIL: TestDecode (0.01s)'; echo 'FAIL' >&2; exit 1")
	err = subprocess.Run(ctx, crs.Testing, "run_tests", tests,
		subprocess.WithBudget(10*time.Minute), subprocess.WithOutputLog(logger, 0))
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		// Expected: the patch is not there yet.
		logger.WarnContext(ctx, "tests failed", "exit_code", exitErr.ExitCode())
	case err != nil:
		return fmt.Errorf("tests: %w", err)
	}
	fmt.Println("subprocess: done")
	return nil
}
