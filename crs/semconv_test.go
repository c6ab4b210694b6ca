package crs_test

import (
	"testing"

	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

	"github.com/crstel/crstel/crs"
)

// TestSemconvKeys: the keys package crs shares with the OpenTelemetry
// semantic conventions are theirs (crs imports the attribute package alone,
// so it spells them out).
func TestSemconvKeys(t *testing.T) {
	if crs.ServiceNameKey != semconv.ServiceNameKey {
		t.Errorf("ServiceNameKey = %q, want semconv's %q", crs.ServiceNameKey, semconv.ServiceNameKey)
	}
}
