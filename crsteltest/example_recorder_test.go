package crsteltest_test

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"testing"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
)

// exampleT stands in, in these examples, for the *testing.T of a test: it
// prints what the test would report, with the span ids, which vary from run
// to run, left out.
type exampleT struct {
	testing.TB // methods the examples do not use: nil
	cleanups   []func()
}

var spanID = regexp.MustCompile(`span id [0-9a-f]{16}`)

func (t *exampleT) Helper()          {}
func (t *exampleT) Cleanup(f func()) { t.cleanups = append(t.cleanups, f) }
func (t *exampleT) Error(args ...any) {
	fmt.Println("FAIL:", spanID.ReplaceAllString(fmt.Sprint(args...), "span id …"))
}
func (t *exampleT) Errorf(format string, args ...any) { t.Error(fmt.Sprintf(format, args...)) }

// end runs the cleanups, as the end of a test does.
func (t *exampleT) end() {
	for _, f := range slices.Backward(t.cleanups) {
		f()
	}
}

// A recorder gets the actions started from its context, with crstel's span
// processor at work: the HTTP call made inside the action carries the
// action's attributes too.
func ExampleNewRecorder() {
	t := &exampleT{} // a test's t
	defer t.end()

	rec := crsteltest.NewRecorder(t)
	ctx := crstel.WithTask(rec.Context(context.Background()), crs.Metadata{"task.id": "task-1"})
	ctx, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
	_, call := rec.Provider().Tracer("http-client").Start(ctx, "POST /v1/chat/completions")
	call.End()
	span.End()

	for _, s := range rec.Ended() {
		attrs := crsteltest.Attrs(s)
		fmt.Println(s.Name(), attrs[crs.ActionCategoryKey].AsString(), attrs["task.id"].AsString())
	}
	// Output:
	// POST /v1/chat/completions patch_generation task-1
	// generate_patch patch_generation task-1
}

// Each recorder gets the actions of its own contexts only, so that tests
// with recorders of their own run in parallel.
func ExampleRecorder_Context() {
	t := &exampleT{}
	defer t.end()

	fuzzer, patcher := crsteltest.NewRecorder(t), crsteltest.NewRecorder(t)
	_, span := crstel.Action(fuzzer.Context(context.Background()), crs.Fuzzing, "fuzz", nil)
	span.End()
	_, span = crstel.Action(patcher.Context(context.Background()), crs.PatchGeneration, "generate_patch", nil)
	span.End()

	fmt.Println("fuzzer:", len(fuzzer.Ended()), fuzzer.Ended()[0].Name())
	fmt.Println("patcher:", len(patcher.Ended()), patcher.Ended()[0].Name())
	// Output:
	// fuzzer: 1 fuzz
	// patcher: 1 generate_patch
}

// In strict mode, invalid input to crstel panics in the recorder's
// contexts, and only there.
func ExampleWithStrict() {
	t := &exampleT{}
	defer t.end()

	rec := crsteltest.NewRecorder(t, crsteltest.WithStrict())
	defer func() { fmt.Println("panic:", recover()) }()
	crstel.Action(rec.Context(context.Background()), crs.Category("patching"), "generate_patch", nil)
	// Output:
	// panic: crstel: crs: unknown action category "patching" (valid: static_analysis, dynamic_analysis, fuzzing, program_analysis, building, input_generation, patch_generation, testing, scoring_submission)
}

// AssertConforms reports nothing when every span conforms, and each span
// that does not, with all its problems: here, a span started outside any
// action, which has neither the mandatory attributes nor the task metadata.
func ExampleAssertConforms() {
	t := &exampleT{}
	defer t.end()

	rec := crsteltest.NewRecorder(t)
	task := crs.Metadata{"round.id": "round-1", "task.id": "task-1"}
	ctx := crstel.WithTask(rec.Context(context.Background()), task)
	_, span := crstel.Action(ctx, crs.Testing, "run_tests", nil)
	span.End()
	crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(task))
	fmt.Println("conforms")

	_, stray := rec.Provider().Tracer("db").Start(ctx, "SELECT")
	stray.End()
	crsteltest.AssertConforms(t, crsteltest.ByName(rec.Ended(), "SELECT"), crsteltest.WantMetadata(task))
	// Output:
	// conforms
	// FAIL: span "SELECT" (span id …) does not conform:
	// 	missing_attribute: mandatory attribute crs.action.category missing; fix: start spans with crstel.Action, or set crs.action.category on every span; the crs_conformance processor copies it from the enclosing action
	// 	missing_attribute: mandatory attribute crs.action.name missing; fix: start spans with crstel.Action, or set crs.action.name on every span; the crs_conformance processor copies it from the enclosing action
	// 	missing_metadata: task metadata round.id missing; fix: put the TaskDetail's metadata on every span: crstel.WithTask does
	// 	missing_metadata: task metadata task.id missing; fix: put the TaskDetail's metadata on every span: crstel.WithTask does
}

// ByName picks spans out of a recording; Attrs gives a span's attributes
// by key.
func ExampleByName() {
	t := &exampleT{}
	defer t.end()

	rec := crsteltest.NewRecorder(t)
	ctx := rec.Context(context.Background())
	for _, file := range []string{"png.c", "zlib.c"} {
		_, span := crstel.Action(ctx, crs.Building, "compile", nil, crstel.WithAttributes(crs.CodeFile(file)))
		span.End()
	}
	_, span := crstel.Action(ctx, crs.Building, "link", nil)
	span.End()

	for _, s := range crsteltest.ByName(rec.Ended(), "compile") {
		fmt.Println(crsteltest.Attrs(s)[crs.CodeFileKey].AsString())
	}
	// Output:
	// png.c
	// zlib.c
}

// CaptureErrors collects what crstel reports through otel.Handle, such as
// invalid input it repaired.
func ExampleCaptureErrors() {
	t := &exampleT{}
	defer t.end()

	rec := crsteltest.NewRecorder(t)
	errs := crsteltest.CaptureErrors(t)
	_, span := crstel.Action(rec.Context(context.Background()), crs.Testing, "run tests", nil)
	span.End()

	fmt.Println(errs.Count("invalid action name"), "error:")
	fmt.Println(errs.Messages()[0])
	fmt.Println("span name:", rec.Ended()[0].Name())
	// Output:
	// 1 error:
	// crstel: crs: invalid action name "run tests": contains whitespace U+0020
	// span name: run_tests
}
