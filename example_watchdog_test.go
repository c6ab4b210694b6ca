package crstel_test

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
)

// An action past its budget is reported while it still runs. Reports also
// go to the logger, the journal, and the trace: a short span under the hung
// one.
func ExampleWithOverdueAfter() {
	ctx := context.Background()
	tel, _ := crstel.Setup(ctx,
		crstel.WithExporter(tracetest.NewInMemoryExporter()), crstel.WithoutJournal(),
		crstel.WithLogger(slog.New(slog.DiscardHandler)),
		crstel.WithWatchdogInterval(20*time.Millisecond),
		crstel.WithOnReport(func(r crstel.Report) {
			fmt.Printf("%s %s (report %d, budget %v)\n", r.Name, r.State, r.N, r.Budget)
		}))

	_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil,
		crstel.WithOverdueAfter(100*time.Millisecond))
	time.Sleep(400 * time.Millisecond) // the LLM takes too long
	span.End()
	tel.Shutdown(ctx)
	// Output:
	// generate_patch overdue (report 1, budget 100ms)
}

// A long action that promises heartbeats is stalled when they stop, however
// long it has been running.
func ExampleHeartbeat() {
	ctx := context.Background()
	tel, _ := crstel.Setup(ctx,
		crstel.WithExporter(tracetest.NewInMemoryExporter()), crstel.WithoutJournal(),
		crstel.WithLogger(slog.New(slog.DiscardHandler)),
		crstel.WithWatchdogInterval(20*time.Millisecond),
		crstel.WithOnReport(func(r crstel.Report) { fmt.Println(r.Name, r.State) }))

	ctx, span := crstel.Action(ctx, crs.Fuzzing, "fuzz_test_network_inputs", nil,
		crstel.WithHeartbeat(250*time.Millisecond))
	for range 5 {
		time.Sleep(20 * time.Millisecond)
		crstel.Heartbeat(ctx) // progress: a new corpus entry, an iteration
	}
	time.Sleep(400 * time.Millisecond) // no progress
	span.End()
	tel.Shutdown(ctx)
	// Output:
	// fuzz_test_network_inputs stalled
}

// Actions still open at Shutdown are reported as abandoned, and ended with
// an error status so that they are exported, not lost.
func ExampleTelemetry_Shutdown() {
	ctx := context.Background()
	exp := keepExporter{tracetest.NewInMemoryExporter()}
	tel, _ := crstel.Setup(ctx, crstel.WithExporter(exp), crstel.WithoutJournal(),
		crstel.WithLogger(slog.New(slog.DiscardHandler)),
		crstel.WithOnReport(func(r crstel.Report) { fmt.Println(r.Name, r.State) }))

	crstel.Action(ctx, crs.Building, "compile_source_code", nil) // never ended: hung
	if err := tel.Shutdown(ctx); err != nil {
		fmt.Println(err)
	}
	for _, s := range exp.GetSpans() {
		fmt.Println("exported:", s.Name, s.Status.Code)
	}
	// Output:
	// compile_source_code abandoned
	// exported: crstel.watchdog abandoned Unset
	// exported: compile_source_code Error
}

func ExampleDefaultBudgets() {
	budgets := crstel.DefaultBudgets()
	for _, k := range slices.Sorted(maps.Keys(budgets)) {
		fmt.Printf("%s=%v\n", k, budgets[k])
	}
	// Output:
	// building=30m0s
	// default=15m0s
	// dynamic_analysis=30m0s
	// fuzzing=0s
	// llm=10m0s
	// scoring_submission=5m0s
	// testing=30m0s
}
