// Command hang shows how crstel makes hung work visible.
//
// A patch-generation action waits on an LLM call that never returns. The
// action has a budget of one second: the watchdog reports it as overdue
// while it is still open, with the stack of the goroutine that is stuck,
// as a span under the hung one, a log line and a journal record. A fuzzing
// action that stops sending heartbeats is reported as stalled. When the
// program gives up and shuts down, the hung action is reported as
// abandoned and exported with an error status instead of being lost.
//
//	go run ./examples/hang
//
// Afterwards, list what the journal recorded:
//
//	go run ./cmd/crstel trace anomalies
//
// With -killed, the process dies instead, as an OOM-killed pod does:
// generate_patch is running, its lifecycle heartbeats have reached the
// collector, and then a SIGKILL leaves no End, no Shutdown and nothing
// flushed. The in-process watchdog dies with it; the collector's
// crs_watchdog connector reports the action as lost, with its own trace
// and span ids, once the heartbeats stop:
//
//	cd collector && go run ./cmd/crstelcol --config examples/watchdog.yaml &
//	OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 go run ./examples/hang -killed
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
)

var killed = flag.Bool("killed", false, "die by SIGKILL in the middle of an action, for a collector to report it lost")

func main() {
	flag.Parse()
	do := run
	if *killed {
		do = runKilled
	}
	if err := do(context.Background()); err != nil {
		log.Fatal(err)
	}
}

// runKilled starts generate_patch, lets three lifecycle heartbeats go out,
// and kills the process.
func runKilled(ctx context.Context) error {
	_, err := crstel.Setup(ctx,
		crstel.WithServiceName("hang-demo"),
		crstel.WithLifecycleInterval(time.Second), // the default is 5s
	)
	if err != nil {
		return err
	}
	ctx = crstel.WithTask(ctx, crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"})
	_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil, crstel.WithOverdueAfter(time.Minute))
	sc := span.SpanContext()
	fmt.Printf("generate_patch: trace %s span %s, running; a lifecycle heartbeat every second\n", sc.TraceID(), sc.SpanID())
	time.Sleep(3500 * time.Millisecond)
	fmt.Println("killed, as the OOM killer kills: no End, no Shutdown, nothing flushed")
	self, err := os.FindProcess(os.Getpid())
	if err != nil {
		return err
	}
	if err := self.Kill(); err != nil {
		return err
	}
	select {} // the signal is on its way
}

func run(ctx context.Context) error {
	tel, err := crstel.Setup(ctx,
		crstel.WithServiceName("hang-demo"),
		crstel.WithWatchdogInterval(250*time.Millisecond),
		// Reports go to the logger too; here the callback prints them.
		crstel.WithLogger(slog.New(slog.DiscardHandler)),
		crstel.WithOnReport(func(r crstel.Report) {
			fmt.Printf("watchdog: %s %s: %s\n", r.Name, r.State, r.Reason)
			if r.Stack != "" {
				fmt.Printf("  where it is stuck:\n%s", indent(r.Stack))
			}
		}),
	)
	if err != nil {
		return err
	}

	ctx = crstel.WithTask(ctx, crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"})

	// An LLM call that never returns, in an action with a one-second budget.
	pctx, _ := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil,
		crstel.WithOverdueAfter(time.Second))
	go waitForLLM(pctx) // never ends; the span is never ended either

	// A fuzzing campaign has no budget, but promises a heartbeat every
	// 500 ms; after a while it stops making progress.
	fctx, fuzz := crstel.Action(ctx, crs.Fuzzing, "fuzz_test_network_inputs", nil,
		crstel.WithHeartbeat(500*time.Millisecond))
	for range 4 {
		time.Sleep(200 * time.Millisecond)
		crstel.Heartbeat(fctx)
	}
	time.Sleep(1500 * time.Millisecond) // no heartbeat: stalled
	fuzz.End()

	fmt.Println("giving up on generate_patch and shutting down with it still open")
	if err := tel.Shutdown(context.WithoutCancel(ctx)); err != nil {
		fmt.Fprintln(os.Stderr, "shutdown:", err)
	}
	if path := tel.JournalPath(); path != "" {
		fmt.Printf("journal: %s\nlist its anomalies with: go run ./cmd/crstel trace anomalies %s\n", path, path)
	}
	return nil
}

// waitForLLM stands in for a client call without a timeout.
func waitForLLM(context.Context) {
	select {} // the answer never comes
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n    ") + "\n"
}
