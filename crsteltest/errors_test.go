package crsteltest_test

import (
	"errors"
	"slices"
	"testing"

	"go.opentelemetry.io/otel"

	"github.com/crstel/crstel/crsteltest"
)

// TestCaptureErrors: the log gets the errors of its test, and the handler
// that was there before gets those after it.
func TestCaptureErrors(t *testing.T) {
	// Serial: the OpenTelemetry error handler is global.
	before := crsteltest.CaptureErrors(t)
	var during *crsteltest.ErrorLog
	t.Run("capturing", func(t *testing.T) {
		during = crsteltest.CaptureErrors(t)
		otel.Handle(errors.New("export failed: refused"))
		otel.Handle(errors.New("invalid name"))
	})
	otel.Handle(errors.New("after the test"))

	for _, tt := range []struct {
		name string
		log  *crsteltest.ErrorLog
		want []string
	}{
		{"the test's log", during, []string{"export failed: refused", "invalid name"}},
		{"the handler before", before, []string{"after the test"}},
	} {
		if got := tt.log.Messages(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: got %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := during.Count("refused"); got != 1 {
		t.Errorf("Count(refused): got %d, want 1", got)
	}
	if got := len(during.Errors()); got != 2 {
		t.Errorf("Errors(): got %d, want 2", got)
	}
}
