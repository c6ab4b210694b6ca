package violation_test

import (
	"errors"
	"slices"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel/internal/violation"
)

var errBad = errors.New("bad value")

func TestMarkAndReport(t *testing.T) {
	violation.SetStrict(false)
	var handled []error
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { handled = append(handled, err) }))
	t.Cleanup(func() { otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {})) })

	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	_, span := tp.Tracer("t").Start(t.Context(), "s")
	violation.Mark(t.Context(), span, errBad, nil)
	violation.Mark(t.Context(), span) // nothing
	span.End()

	got := sr.Ended()[0].Attributes()
	if len(got) != 1 || got[0].Key != violation.Key || got[0].Value.AsStringSlice()[0] != "bad value" {
		t.Errorf("attributes = %v, want crstel.invalid=[bad value]", got)
	}
	if len(handled) != 1 || !errors.Is(handled[0], errBad) || handled[0].Error() != "crstel: bad value" {
		t.Errorf("handled = %v, want one error wrapping errBad", handled)
	}
	violation.Report(t.Context(), nil) // nothing
	if len(handled) != 1 {
		t.Errorf("Report(nil) reached otel.Handle")
	}
}

// TestMarkKeepsEarlierMarks: a second Mark adds to the first, never
// replaces it.
func TestMarkKeepsEarlierMarks(t *testing.T) {
	violation.SetStrict(false)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	_, span := tp.Tracer("t").Start(t.Context(), "s",
		trace.WithAttributes(attribute.String("other", "kept")))
	violation.Mark(t.Context(), span, errors.New("first"))
	violation.Mark(t.Context(), span, errors.New("second"), errors.New("third"))
	violation.Mark(t.Context(), span, nil)
	span.End()
	var got []string
	for _, kv := range sr.Ended()[0].Attributes() {
		if kv.Key == violation.Key {
			got = kv.Value.AsStringSlice()
		}
	}
	if want := []string{"first", "second", "third"}; !slices.Equal(got, want) {
		t.Errorf("crstel.invalid = %q, want %q", got, want)
	}
}

func TestStrict(t *testing.T) {
	violation.SetStrict(true)
	t.Cleanup(func() { violation.SetStrict(false) })
	//lint:ignore SA1012 a nil context is the process's setting, which crstel.WithTask(nil, ...) reports with
	if !violation.Strict(nil) {
		t.Fatal("Strict() = false after SetStrict(true)")
	}
	defer func() {
		r := recover()
		if err, ok := r.(error); !ok || !errors.Is(err, errBad) {
			t.Errorf("recovered %v, want an error wrapping errBad", r)
		}
	}()
	violation.Report(t.Context(), errBad)
}
