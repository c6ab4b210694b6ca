package crs_test

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/crstel/crstel/crs"
)

// specCategories are the values of crs.action.category, copied from the
// specification's table of mandatory span attributes, in its order.
var specCategories = []string{
	"static_analysis",
	"dynamic_analysis",
	"fuzzing",
	"program_analysis",
	"building",
	"input_generation",
	"patch_generation",
	"testing",
	"scoring_submission",
}

func TestParseCategory(t *testing.T) {
	tests := []struct {
		in   string
		want crs.Category
	}{
		{"static_analysis", crs.StaticAnalysis},
		{"dynamic_analysis", crs.DynamicAnalysis},
		{"fuzzing", crs.Fuzzing},
		{"program_analysis", crs.ProgramAnalysis},
		{"building", crs.Building},
		{"input_generation", crs.InputGeneration},
		{"patch_generation", crs.PatchGeneration},
		{"testing", crs.Testing},
		{"scoring_submission", crs.ScoringSubmission},
	}
	if len(tests) != len(specCategories) {
		t.Fatalf("table has %d categories, want %d", len(tests), len(specCategories))
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := crs.ParseCategory(tt.in)
			if err != nil {
				t.Fatalf("ParseCategory(%q): got error %v, want nil", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("ParseCategory(%q): got %q, want %q", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.in {
				t.Errorf("ParseCategory(%q).String(): got %q, want %q", tt.in, s, tt.in)
			}
			if !got.Valid() {
				t.Errorf("%q.Valid(): got false, want true", got)
			}
			if err := got.Validate(); err != nil {
				t.Errorf("%q.Validate(): got %v, want nil", got, err)
			}
			// Round trip through the attribute.
			kv := crs.ActionCategory(got)
			if kv.Key != crs.ActionCategoryKey {
				t.Errorf("ActionCategory(%q).Key: got %q, want %q", got, kv.Key, crs.ActionCategoryKey)
			}
			back, err := crs.ParseCategory(kv.Value.AsString())
			if err != nil || back != got {
				t.Errorf("ParseCategory(ActionCategory(%q).Value): got (%q, %v), want (%q, nil)", got, back, err, got)
			}
		})
	}
}

func TestParseCategoryUnknown(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"old telemetry_init", "telemetry_init"},
		{"old non_scoring_submission", "non_scoring_submission"},
		{"capitalised", "Fuzzing"},
		{"upper case", "STATIC_ANALYSIS"},
		{"abbreviation", "fuzz"},
		{"hyphen", "static-analysis"},
		{"space", "static analysis"},
		{"leading space", " fuzzing"},
		{"trailing space", "fuzzing "},
		{"trailing newline", "fuzzing\n"},
		{"NUL", "fuzzing\x00"},
		{"plural", "tests"},
		{"invented", "exploitation"},
		{"invalid UTF-8", "fuzz\xffing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := crs.ParseCategory(tt.in)
			if err == nil {
				t.Fatalf("ParseCategory(%q): got (%q, nil), want error", tt.in, got)
			}
			if !errors.Is(err, crs.ErrUnknownCategory) {
				t.Errorf("ParseCategory(%q): got error %v, want one wrapping ErrUnknownCategory", tt.in, err)
			}
			if got != "" {
				t.Errorf("ParseCategory(%q): got category %q with error, want \"\"", tt.in, got)
			}
			if want := strconv.Quote(tt.in); !strings.Contains(err.Error(), want) {
				t.Errorf("ParseCategory(%q): got message %q, want it to name the value %s", tt.in, err, want)
			}
			c := crs.Category(tt.in)
			if c.Valid() {
				t.Errorf("Category(%q).Valid(): got true, want false", tt.in)
			}
			if verr := c.Validate(); !errors.Is(verr, crs.ErrUnknownCategory) {
				t.Errorf("Category(%q).Validate(): got %v, want error wrapping ErrUnknownCategory", tt.in, verr)
			}
		})
	}
}

func TestParseCategoryListsValid(t *testing.T) {
	_, err := crs.ParseCategory("fuzz")
	if err == nil {
		t.Fatal("ParseCategory(\"fuzz\"): got nil error, want error")
	}
	for _, c := range specCategories {
		if !strings.Contains(err.Error(), c) {
			t.Errorf("ParseCategory(\"fuzz\"): got message %q, want it to list valid category %q", err, c)
		}
	}
}

func TestParseCategoryLongValueIsCut(t *testing.T) {
	in := strings.Repeat("x", 10000)
	_, err := crs.ParseCategory(in)
	if !errors.Is(err, crs.ErrUnknownCategory) {
		t.Fatalf("ParseCategory(10000 x): got %v, want error wrapping ErrUnknownCategory", err)
	}
	msg := err.Error()
	if strings.Contains(msg, in) {
		t.Errorf("ParseCategory(10000 x): message holds the whole value (%d bytes), want it cut", len(msg))
	}
	if !strings.Contains(msg, "xxxxxxxxxx") || !strings.Contains(msg, "10000 bytes") {
		t.Errorf("ParseCategory(10000 x): got message %q, want the start of the value and its length", msg)
	}
	if len(msg) > 512 {
		t.Errorf("ParseCategory(10000 x): got %d-byte message, want at most 512", len(msg))
	}
}

func TestCategories(t *testing.T) {
	got := crs.Categories()
	if len(got) != 9 {
		t.Fatalf("len(Categories()): got %d, want 9", len(got))
	}
	for i, c := range got {
		if string(c) != specCategories[i] {
			t.Errorf("Categories()[%d]: got %q, want %q (specification order)", i, c, specCategories[i])
		}
		if !c.Valid() {
			t.Errorf("Categories()[%d] = %q: Valid() got false, want true", i, c)
		}
	}
	sorted := slices.Clone(got)
	slices.Sort(sorted)
	if n := len(slices.Compact(sorted)); n != 9 {
		t.Errorf("Categories(): got %d distinct values, want 9", n)
	}
}

func TestCategoriesReturnsCopy(t *testing.T) {
	first := crs.Categories()
	for i := range first {
		first[i] = "mutated"
	}
	_ = append(first[:0], "appended")
	second := crs.Categories()
	for i, c := range second {
		if string(c) != specCategories[i] {
			t.Errorf("Categories()[%d] after the caller changed an earlier result: got %q, want %q", i, c, specCategories[i])
		}
	}
	if !crs.Fuzzing.Valid() {
		t.Error("Fuzzing.Valid() after the caller changed Categories(): got false, want true")
	}
}

func TestCategoryZeroValue(t *testing.T) {
	var c crs.Category
	if c.Valid() {
		t.Error("Category(\"\").Valid(): got true, want false")
	}
	if err := c.Validate(); !errors.Is(err, crs.ErrUnknownCategory) {
		t.Errorf("Category(\"\").Validate(): got %v, want error wrapping ErrUnknownCategory", err)
	}
}
