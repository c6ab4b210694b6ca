// Command categories makes one CRS action of each of the nine categories,
// with the optional attributes of the specification's "Other Usage
// Examples", built with the typed constructors of package crs.
//
//	go run ./examples/categories
package main

import (
	"context"
	"log"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
)

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

// examples are the specification's usage examples, one per category.
var examples = []struct {
	category crs.Category
	name     string
	attrs    []attribute.KeyValue
}{
	{crs.StaticAnalysis, "analyze_vulnerabilities", []attribute.KeyValue{
		crs.CodeFile("file1.c"), crs.CodeLines(10, 50)}},
	{crs.DynamicAnalysis, "runtime_behavior_monitoring", []attribute.KeyValue{
		crs.CodeFile("main.c"), crs.CodeLines(120, 180), crs.TargetHarness("test_harness_1"), crs.EffortWeight(8)}},
	{crs.Fuzzing, "fuzz_test_network_inputs", []attribute.KeyValue{
		crs.TargetHarness("network_harness"), crs.FuzzCorpusUpdateMethod("periodic"),
		crs.FuzzCorpusUpdateTime(time.Now()), crs.FuzzCorpusSize(1500),
		crs.FuzzCorpusAdditions([]string{"inputA", "inputB"}), crs.FuzzCorpusFullSnapshot(false)}},
	{crs.ProgramAnalysis, "analyze_control_flow", []attribute.KeyValue{crs.CodeFile("utils.c")}},
	{crs.Building, "compile_source_code", []attribute.KeyValue{crs.CodeFile("module1.c")}},
	{crs.InputGeneration, "generate_test_cases", []attribute.KeyValue{crs.CodeFile("input_parser.c")}},
	// The specification's example says crs.action.code.files here, a typo:
	// crs.CodeFile makes the canonical crs.action.code.file.
	{crs.PatchGeneration, "generate_security_patch", []attribute.KeyValue{crs.CodeFile("vuln_module.c")}},
	{crs.Testing, "run_unit_tests", nil},
	{crs.ScoringSubmission, "submit_final_results", nil},
}

func run(ctx context.Context) (err error) {
	tel, err := crstel.Setup(ctx, crstel.WithServiceName("categories"))
	if err != nil {
		return err
	}
	defer func() {
		if serr := tel.Shutdown(context.WithoutCancel(ctx)); serr != nil && err == nil {
			err = serr
		}
	}()

	ctx = crstel.WithTask(ctx, crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"})
	for _, e := range examples {
		_, span := crstel.Action(ctx, e.category, e.name, nil, crstel.WithAttributes(e.attrs...))
		span.End()
	}
	return nil
}
