package crs

import (
	"fmt"
	"slices"
)

// Category is the kind of work a CRS action performs. It is the value of the
// mandatory crs.action.category attribute. Only the nine constants below are
// valid; use [ParseCategory] to turn outside input into a Category.
type Category string

// The nine categories of the specification.
const (
	StaticAnalysis    Category = "static_analysis"
	DynamicAnalysis   Category = "dynamic_analysis"
	Fuzzing           Category = "fuzzing"
	ProgramAnalysis   Category = "program_analysis"
	Building          Category = "building"
	InputGeneration   Category = "input_generation"
	PatchGeneration   Category = "patch_generation"
	Testing           Category = "testing"
	ScoringSubmission Category = "scoring_submission"
)

var categories = [...]Category{
	StaticAnalysis, DynamicAnalysis, Fuzzing, ProgramAnalysis, Building,
	InputGeneration, PatchGeneration, Testing, ScoringSubmission,
}

// Categories returns the nine valid categories in the specification's order.
// The returned slice is a fresh copy that the caller may modify.
func Categories() []Category { return slices.Clone(categories[:]) }

// Valid reports whether c is one of the nine categories of the specification.
func (c Category) Valid() bool {
	switch c {
	case StaticAnalysis, DynamicAnalysis, Fuzzing, ProgramAnalysis, Building,
		InputGeneration, PatchGeneration, Testing, ScoringSubmission:
		return true
	}
	return false
}

// String returns the category's attribute value, such as "patch_generation".
func (c Category) String() string { return string(c) }

// ParseCategory returns the Category whose value is s. The match is exact:
// "Fuzzing" or "fuzz" are errors wrapping [ErrUnknownCategory] that name the
// value and list the valid ones.
func ParseCategory(s string) (Category, error) {
	if c := Category(s); c.Valid() {
		return c, nil
	}
	return "", fmt.Errorf("%w %s (valid: static_analysis, dynamic_analysis, fuzzing, "+
		"program_analysis, building, input_generation, patch_generation, testing, scoring_submission)",
		ErrUnknownCategory, quote(s))
}

// Validate returns nil if c is valid, else an error wrapping
// [ErrUnknownCategory] that names c.
func (c Category) Validate() error {
	if c.Valid() {
		return nil
	}
	_, err := ParseCategory(string(c))
	return err
}
