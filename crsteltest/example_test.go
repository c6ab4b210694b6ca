package crsteltest_test

import (
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
)

// Check finds what a hand-made span got wrong.
func ExampleCheck() {
	bad := tracetest.SpanStub{
		Name: "patch",
		Attributes: []attribute.KeyValue{
			attribute.String("crs.action.category", "patch_generation"),
			attribute.String("crs.action.name", "patch"),
			attribute.String("crs.code.file", "vuln_module.c"),
			attribute.String("crs.action.effort.weight", "8"),
			attribute.String("task.id", "task-1"),
		},
	}.Snapshot()
	err := crsteltest.Check([]sdktrace.ReadOnlySpan{bad}, crsteltest.WantMetadata(crs.Metadata{"task.id": "task-1", "round.id": "round-1"}))
	fmt.Println(err)
	// Output:
	// span "patch" (span id 0000000000000000) does not conform:
	// 	missing_service_name: the resource has no string service.name; fix: set OTEL_SERVICE_NAME, or service.name in the SDK's resource
	// 	misspelled_key: unknown key "crs.code.file" in the specification's namespace, a misspelling of crs.action.code.file; fix: use crs.action.code.file
	// 	type_mismatch: crs.action.effort.weight is a string "8", want an int; fix: send it as an int, not a string: crs.EffortWeight and crs.FuzzCorpusSize do in Go
	// 	missing_metadata: task metadata round.id missing; fix: put the TaskDetail's metadata on every span: crstel.WithTask does
}
