package crstel_test

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/crstel/crstel/crsteltest"
)

// one returns the only ended span named name, failing the test otherwise.
func one(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	got := crsteltest.ByName(spans, name)
	if len(got) != 1 {
		t.Fatalf("got %d spans named %q, want 1", len(got), name)
	}
	return got[0]
}

// wantAttr fails the test unless s has key with value want.
func wantAttr(t *testing.T, s sdktrace.ReadOnlySpan, key attribute.Key, want attribute.Value) {
	t.Helper()
	got, ok := crsteltest.Attrs(s)[key]
	if !ok {
		t.Errorf("span %q: attribute %s missing, want %s", s.Name(), key, want.String())
		return
	}
	if got != want {
		t.Errorf("span %q: %s = %s (%s), want %s (%s)", s.Name(), key, got.String(), got.Type(), want.String(), want.Type())
	}
}
