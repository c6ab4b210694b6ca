package crstel_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/internal/violation"
)

func manyKeys(n int) crs.Metadata {
	m := make(crs.Metadata, n)
	for i := range n {
		m[fmt.Sprintf("key.%05d", i)] = "v"
	}
	return m
}

// TestInvalidInput: bad input never panics and never loses the span: the
// span is recorded with the input repaired, marked with crstel.invalid, and
// the problem reaches otel.Handle naming the value.
func TestInvalidInput(t *testing.T) {
	long := strings.Repeat("a", 10_000)
	tests := []struct {
		name     string
		nilCtx   bool
		category crs.Category // default crs.Testing
		action   string       // default "run_unit_tests"
		empty    bool         // use the category and action as given, even if empty
		meta     crs.Metadata
		want     string // in the crstel.invalid attribute and the handled error
		sentinel error
	}{
		{name: "empty name", category: crs.Testing, empty: true, want: "empty", sentinel: crs.ErrInvalidName},
		{name: "blank name", action: " ", want: `" "`, sentinel: crs.ErrInvalidName},
		{name: "name with space", action: "generate patch", want: `"generate patch"`, sentinel: crs.ErrInvalidName},
		{name: "name with tab", action: "a\tb", want: `"a\tb"`, sentinel: crs.ErrInvalidName},
		{name: "name with newline", action: "a\nb", want: `"a\nb"`, sentinel: crs.ErrInvalidName},
		{name: "name 10000 chars", action: long, want: "10000 bytes", sentinel: crs.ErrInvalidName},
		{name: "name invalid UTF-8", action: "bad\xff\xfe", want: `"bad\xff\xfe"`, sentinel: crs.ErrInvalidName},
		{name: "name with NUL", action: "nul\x00", want: `"nul\x00"`, sentinel: crs.ErrInvalidName},
		{name: "unknown category", category: "unknown", want: `"unknown"`, sentinel: crs.ErrUnknownCategory},
		{name: "empty category", action: "run_unit_tests", empty: true, want: `""`, sentinel: crs.ErrUnknownCategory},
		{name: "invented telemetry_init", category: "telemetry_init", want: `"telemetry_init"`, sentinel: crs.ErrUnknownCategory},
		{name: "invented non_scoring_submission", category: "non_scoring_submission", want: `"non_scoring_submission"`, sentinel: crs.ErrUnknownCategory},
		{name: "draft name vulnerability_discovery", category: "vulnerability_discovery", want: `"vulnerability_discovery"`, sentinel: crs.ErrUnknownCategory},
		{name: "capitalised Fuzzing", category: "Fuzzing", want: `"Fuzzing"`, sentinel: crs.ErrUnknownCategory},
		{name: "category with space", category: "patch generation", want: `"patch generation"`, sentinel: crs.ErrUnknownCategory},
		{name: "metadata empty key", meta: crs.Metadata{"": "x"}, want: "empty key", sentinel: crs.ErrInvalidMetadata},
		{name: "metadata key crs.action.name", meta: crs.Metadata{"crs.action.name": "evil"}, want: `"crs.action.name"`, sentinel: crs.ErrInvalidMetadata},
		{name: "metadata key crs.action.category", meta: crs.Metadata{"crs.action.category": "fuzzing"}, want: `"crs.action.category"`, sentinel: crs.ErrInvalidMetadata},
		{name: "metadata 1 MB value", meta: crs.Metadata{"blob": strings.Repeat("x", 1<<20)}, want: `"blob"`, sentinel: crs.ErrInvalidMetadata},
		{name: "metadata 10000 keys", meta: manyKeys(10_000), want: "10000 entries", sentinel: crs.ErrInvalidMetadata},
		{name: "metadata invalid UTF-8 value", meta: crs.Metadata{"k": "\xff"}, want: `"k"`, sentinel: crs.ErrInvalidMetadata},
		{name: "metadata key not a baggage token", meta: crs.Metadata{"task id": "1"}, want: `"task id"`, sentinel: crs.ErrInvalidMetadata},
		{name: "metadata key crstel.invalid", meta: crs.Metadata{"crstel.invalid": "no"}, want: `"crstel.invalid"`, sentinel: crs.ErrInvalidMetadata},
		{name: "nil context", nilCtx: true, want: "nil context"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			errs := crsteltest.CaptureErrors(t)                       // global: not in parallel
			rec := crsteltest.NewRecorder(t, crsteltest.WithGlobal()) // a nil ctx takes the global provider
			ctx := crstel.WithTask(context.Background(), task1)
			if tt.nilCtx {
				ctx = nil
			}
			category, name := tt.category, tt.action
			if !tt.empty {
				category, name = cmp.Or(category, crs.Testing), cmp.Or(name, "run_unit_tests")
			}

			_, span := crstel.Action(ctx, category, name, tt.meta)
			span.End()

			spans := rec.Ended()
			if len(spans) != 1 {
				t.Fatalf("recorded %d spans, want 1", len(spans))
			}
			s := spans[0]
			a := crsteltest.Attrs(s)
			marks := strings.Join(a[crstel.InvalidKey].AsStringSlice(), "\n")
			if !strings.Contains(marks, tt.want) {
				t.Errorf("crstel.invalid = %q, want it to mention %s", marks, tt.want)
			}
			if errs.Count(tt.want) == 0 {
				t.Errorf("otel.Handle got %v, want an error mentioning %s", errs.Errors(), tt.want)
			}
			if tt.sentinel != nil {
				found := false
				for _, err := range errs.Errors() {
					found = found || errors.Is(err, tt.sentinel)
				}
				if !found {
					t.Errorf("no handled error wraps %v", tt.sentinel)
				}
			}
			// The span stays usable: valid UTF-8 everywhere (an OTLP export
			// of invalid UTF-8 fails as a whole), bounded sizes, the
			// mandatory attributes present and not overwritten.
			if len(s.Name()) > crs.MaxNameLen || crs.ValidateName(s.Name()) != nil {
				t.Errorf("span name %q is not a valid name", s.Name())
			}
			if got := a[crs.ActionNameKey].AsString(); got != s.Name() {
				t.Errorf("crs.action.name = %q, want the span name %q", got, s.Name())
			}
			if category.Valid() {
				wantAttr(t, s, crs.ActionCategoryKey, attribute.StringValue(string(category)))
			} else if _, ok := a[crs.ActionCategoryKey]; !ok {
				t.Error("crs.action.category missing")
			}
			for _, kv := range s.Attributes() {
				if kv.Value.Type() == attribute.STRING && len(kv.Value.AsString()) > crs.MaxMetadataValueLen {
					t.Errorf("attribute %s is %d bytes, want at most %d", kv.Key, len(kv.Value.AsString()), crs.MaxMetadataValueLen)
				}
				if !validUTF8(string(kv.Key)) || kv.Value.Type() == attribute.STRING && !validUTF8(kv.Value.AsString()) {
					t.Errorf("attribute %q has invalid UTF-8", kv.Key)
				}
			}
			if s.DroppedAttributes() != 0 {
				t.Errorf("%d attributes dropped by the span limits, want 0", s.DroppedAttributes())
			}
			// Everything that was valid is still there.
			if !tt.nilCtx {
				for k, v := range task1 {
					wantAttr(t, s, attribute.Key(k), attribute.StringValue(v))
				}
			}
		})
	}
}

func validUTF8(s string) bool { return strings.ToValidUTF8(s, "") == s }

// TestStrictPanics: in strict mode, invalid input panics with an error
// wrapping the sentinel, and valid input does not.
func TestStrictPanics(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t, crsteltest.WithStrict())
	ctx := rec.Context(t.Context())
	tests := []struct {
		name string
		f    func()
		want error
	}{
		{"unknown category", func() { crstel.Action(ctx, "telemetry_init", "x", nil) }, crs.ErrUnknownCategory},
		{"bad name", func() { crstel.Action(ctx, crs.Testing, "two words", nil) }, crs.ErrInvalidName},
		{"bad metadata", func() { crstel.Action(ctx, crs.Testing, "x", crs.Metadata{"": "v"}) }, crs.ErrInvalidMetadata},
		{"bad WithTask", func() { crstel.WithTask(ctx, crs.Metadata{"crs.action.name": "v"}) }, crs.ErrInvalidMetadata},
		{"an attribute replacing the category", func() {
			crstel.Action(ctx, crs.Testing, "x", nil, crstel.WithAttributes(attribute.String("crs.action.category", "y")))
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				err, ok := r.(error)
				if !ok || tt.want != nil && !errors.Is(err, tt.want) {
					t.Errorf("recovered %v, want an error wrapping %v", r, tt.want)
				}
			}()
			tt.f()
		})
	}
	_, span := crstel.Action(ctx, crs.Testing, "run_unit_tests", task1)
	span.End()
	if n := len(rec.Ended()); n != 1 {
		t.Errorf("%d spans recorded, want the valid action's alone", n)
	}
}

// TestSetupWithStrict: Setup's WithStrict makes invalid input panic.
func TestSetupWithStrict(t *testing.T) {
	restoreGlobals(t)
	tel, err := crstel.Setup(context.Background(), crstel.WithStrict(),
		crstel.WithExporter(tracetest.NewInMemoryExporter()), crstel.WithoutJournal())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		violation.SetStrict(false)
		tel.Shutdown(context.Background())
	})
	defer func() {
		if err, ok := recover().(error); !ok || !errors.Is(err, crs.ErrUnknownCategory) {
			t.Errorf("recovered %v, want an error wrapping ErrUnknownCategory", err)
		}
	}()
	crstel.Action(context.Background(), "telemetry_init", "init", nil)
}
