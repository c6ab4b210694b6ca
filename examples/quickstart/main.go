// Command quickstart shows crstel's core in one small CRS component: the
// task metadata set once with WithTask, nested actions in two goroutines,
// optional attributes, and export.
//
// With no collector configured it prints every span and its attributes to
// stderr:
//
//	go run ./examples/quickstart
//
// To send the spans to a collector instead, set the specification's
// variables:
//
//	OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 \
//	OTEL_EXPORTER_OTLP_HEADERS="Authorization=Basic $(printf crs:s3cret | base64)" \
//	OTEL_EXPORTER_OTLP_PROTOCOL=grpc \
//	go run ./examples/quickstart
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"sync"
	"time"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
)

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) (err error) {
	tel, err := crstel.Setup(ctx, crstel.WithServiceName("quickstart"))
	if err != nil {
		return err
	}
	defer func() {
		// Shutdown exports what is still buffered; without it the last
		// spans are lost.
		if serr := tel.Shutdown(context.WithoutCancel(ctx)); serr != nil && err == nil {
			err = serr
		}
	}()

	// The metadata of the TaskDetail received from the CRS API: every span
	// below carries it.
	ctx = crstel.WithTask(ctx, crs.Metadata{
		"round.id": "round-1",
		"task.id":  "task-1",
		"team.id":  "team-1",
	})

	ctx, span := crstel.Action(ctx, crs.DynamicAnalysis, "analyze_crash", nil)
	defer span.End()

	// Two pieces of work in parallel, each an action of its own, nested
	// under analyze_crash.
	var wg sync.WaitGroup
	wg.Go(func() { build(ctx) })
	wg.Go(func() { fuzz(ctx) })
	wg.Wait()

	fmt.Fprintln(os.Stderr, "quickstart: done; the spans follow")
	return nil
}

func build(ctx context.Context) {
	_, span := crstel.Action(ctx, crs.Building, "compile_source_code", nil,
		crstel.WithAttributes(crs.CodeFile("module1.c")))
	defer span.End()
	time.Sleep(20 * time.Millisecond) // stands in for the build
}

func fuzz(ctx context.Context) {
	ctx, span := crstel.Action(ctx, crs.Fuzzing, "fuzz_test_network_inputs", nil,
		crstel.WithAttributes(crs.TargetHarness("network_harness"), crs.EffortWeight(2)))
	defer span.End()

	_, check := crstel.Action(ctx, crs.Testing, "reproduce_crash", nil)
	time.Sleep(10 * time.Millisecond) // stands in for running the input
	check.End()
}
