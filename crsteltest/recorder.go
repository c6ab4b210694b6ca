package crsteltest

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/internal/violation"
)

// DefaultServiceName is the service.name of a [Recorder]'s resource unless
// [WithServiceName] says otherwise.
const DefaultServiceName = "crsteltest"

// Recorder is a tracer provider that records spans in memory, with crstel's
// span processor installed, as [crstel.Setup] would.
type Recorder struct {
	*tracetest.SpanRecorder
	tp *sdktrace.TracerProvider
}

// RecorderOption configures [NewRecorder].
type RecorderOption interface{ apply(*recorderConfig) }

type recorderConfig struct {
	serviceName string
	strict      bool
	processors  []sdktrace.SpanProcessor
}

type recorderOptionFunc func(*recorderConfig)

func (f recorderOptionFunc) apply(c *recorderConfig) { f(c) }

// WithServiceName sets the resource's service.name. The default is
// [DefaultServiceName].
func WithServiceName(name string) RecorderOption {
	return recorderOptionFunc(func(c *recorderConfig) { c.serviceName = name })
}

// WithStrict makes invalid input to crstel panic for the duration of the
// test, as crstel.WithStrict does. The default is what CRSTEL_STRICT says.
func WithStrict() RecorderOption {
	return recorderOptionFunc(func(c *recorderConfig) { c.strict = true })
}

// WithSpanProcessor adds a span processor after crstel's own. A nil
// processor is ignored.
func WithSpanProcessor(p sdktrace.SpanProcessor) RecorderOption {
	return recorderOptionFunc(func(c *recorderConfig) {
		if p != nil {
			c.processors = append(c.processors, p)
		}
	})
}

// NewRecorder returns a Recorder and installs it as the global tracer
// provider, with the tracecontext and baggage propagators, for the duration
// of the test; tb.Cleanup shuts it down and puts the previous provider and
// propagator back. Tests that use it must not run in parallel with each
// other, as the provider is global.
func NewRecorder(tb testing.TB, opts ...RecorderOption) *Recorder {
	tb.Helper()
	cfg := recorderConfig{serviceName: DefaultServiceName}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	sr := tracetest.NewSpanRecorder()
	tpOpts := []sdktrace.TracerProviderOption{
		sdktrace.WithResource(resource.NewSchemaless(attribute.String(string(crs.ServiceNameKey), cfg.serviceName))),
		sdktrace.WithSpanProcessor(crstel.NewSpanProcessor()),
	}
	for _, p := range cfg.processors {
		tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(p))
	}
	tpOpts = append(tpOpts, sdktrace.WithSpanProcessor(sr))
	tp := sdktrace.NewTracerProvider(tpOpts...)

	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	prevStrict := violation.Strict()
	if cfg.strict {
		violation.SetStrict(true)
	}
	tb.Cleanup(func() {
		violation.SetStrict(prevStrict)
		otel.SetTracerProvider(prevTP)
		otel.SetTextMapPropagator(prevProp)
		if err := tp.Shutdown(context.Background()); err != nil {
			tb.Errorf("crsteltest: shutting the recorder down: %v", err)
		}
	})
	return &Recorder{SpanRecorder: sr, tp: tp}
}

// Provider returns the recording tracer provider.
func (r *Recorder) Provider() *sdktrace.TracerProvider { return r.tp }
