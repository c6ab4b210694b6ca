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
	// span "patch" (span id 0000000000000000) does not conform: no resource, so no service.name; crs: invalid attribute: unknown key "crs.code.file" (misspelled?); crs: invalid attribute: crs.action.effort.weight is STRING "8", want INT64; task metadata round.id missing
}
