package crs_test

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/crstel/crstel/crs"
)

func ExampleParseCategory() {
	c, err := crs.ParseCategory("patch_generation")
	fmt.Println(c, err)

	_, err = crs.ParseCategory("Fuzzing")
	fmt.Println(errors.Is(err, crs.ErrUnknownCategory))
	fmt.Println(err)
	// Output:
	// patch_generation <nil>
	// true
	// crs: unknown action category "Fuzzing" (valid: static_analysis, dynamic_analysis, fuzzing, program_analysis, building, input_generation, patch_generation, testing, scoring_submission)
}

func ExampleCategories() {
	for _, c := range crs.Categories() {
		fmt.Println(c)
	}
	// Output:
	// static_analysis
	// dynamic_analysis
	// fuzzing
	// program_analysis
	// building
	// input_generation
	// patch_generation
	// testing
	// scoring_submission
}

func ExampleValidateName() {
	fmt.Println(crs.ValidateName("generate_patch"))
	fmt.Println(crs.ValidateName("generate patch"))
	fmt.Println(crs.ValidateName(""))

	err := crs.ValidateName(strings.Repeat("x", 10000))
	fmt.Println(errors.Is(err, crs.ErrInvalidName))
	// Output:
	// <nil>
	// crs: invalid action name "generate patch": contains whitespace U+0020
	// crs: invalid action name: empty
	// true
}

func ExampleSanitizeName() {
	fmt.Println(crs.SanitizeName("generate_patch"))
	fmt.Println(crs.SanitizeName("generate patch\n"))
	fmt.Println(crs.SanitizeName("bad\xffname"))
	fmt.Println(crs.SanitizeName(""))
	fmt.Println(len(crs.SanitizeName(strings.Repeat("x", 10000))))
	// Output:
	// generate_patch
	// generate_patch_
	// bad_name
	// unnamed
	// 128
}

func ExampleMetadata_Validate() {
	m := crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"}
	fmt.Println(m.Validate())

	bad := crs.Metadata{"task.id": "task-1", "crs.action.name": "overwrite", "": "no key"}
	err := bad.Validate()
	fmt.Println(errors.Is(err, crs.ErrInvalidMetadata))
	fmt.Println(err)
	// Output:
	// <nil>
	// true
	// crs: invalid task metadata: empty key (value "no key")
	// crs: invalid task metadata: key "crs.action.name" is reserved for the specification's attributes
}

func ExampleValidateEntry() {
	fmt.Println(crs.ValidateEntry("task.id", "task-1"))
	fmt.Println(crs.ValidateEntry("task.id", "bad\xff"))
	// Output:
	// <nil>
	// crs: invalid task metadata: value of "task.id" is not valid UTF-8
}

func ExampleMetadata_Attributes() {
	m := crs.Metadata{
		"team.id":         "team-1",
		"round.id":        "round-1",
		"task.id":         "task-1",
		"crs.action.name": "left out: reserved",
	}
	for _, kv := range m.Attributes() {
		fmt.Printf("%s=%s\n", kv.Key, kv.Value.AsString())
	}
	// Output:
	// round.id=round-1
	// task.id=task-1
	// team.id=team-1
}

func ExampleCodeLines() {
	kv := crs.CodeLines(10, 50)
	fmt.Println(kv.Key, kv.Value.AsString())
	// Output:
	// crs.action.code.lines 10-50
}

func ExampleCodeFile() {
	kv := crs.CodeFile("vuln_module.c")
	fmt.Println(kv.Key, kv.Value.AsString())
	// Output:
	// crs.action.code.file vuln_module.c
}

func ExampleEffortWeight() {
	kv := crs.EffortWeight(8)
	fmt.Println(kv.Key, kv.Value.Type(), kv.Value.AsInt64())
	// Output:
	// crs.action.effort.weight INT64 8
}

func ExampleCheckAttribute() {
	for _, kv := range []attribute.KeyValue{
		crs.EffortWeight(8),
		attribute.String("round.id", "round-1"),
		attribute.String("crs.action.code.files", "vuln_module.c"),
		attribute.String("crs.action.effort.weight", "8"),
		attribute.String("crs.action.code.lines", "50-10"),
		attribute.String("crs.action.category", "fuzz"),
	} {
		err := crs.CheckAttribute(kv)
		if err != nil && !errors.Is(err, crs.ErrInvalidAttribute) {
			panic(err)
		}
		fmt.Println(err)
	}
	// Output:
	// <nil>
	// <nil>
	// crs: invalid attribute: unknown key "crs.action.code.files" (misspelled?)
	// crs: invalid attribute: crs.action.effort.weight is STRING "8", want INT64
	// crs: invalid attribute: crs.action.code.lines: "50-10" is not a line range like "10-50"
	// crs: invalid attribute: crs.action.category: crs: unknown action category "fuzz" (valid: static_analysis, dynamic_analysis, fuzzing, program_analysis, building, input_generation, patch_generation, testing, scoring_submission)
}

func ExampleFuzzCorpusUpdateTime() {
	cest := time.FixedZone("CEST", 2*60*60)
	t := time.Date(2025, time.March, 1, 14, 30, 0, 500_000_000, cest)
	kv := crs.FuzzCorpusUpdateTime(t)
	fmt.Println(kv.Key, kv.Value.AsString())
	// Output:
	// fuzz.corpus.update.time 2025-03-01T12:30:00.5Z
}
