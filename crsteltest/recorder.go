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
	"github.com/crstel/crstel/internal/actionref"
	"github.com/crstel/crstel/internal/violation"
)

// DefaultServiceName is the service.name of a [Recorder]'s resource unless
// [WithServiceName] says otherwise.
const DefaultServiceName = "crsteltest"

// Recorder is a tracer provider that records spans in memory, with crstel's
// span processor installed, as [crstel.Setup] would. It is not global by
// default: the actions started from [Recorder.Context] (and the actions,
// LLM calls and corpus updates inside them) go to it, so that tests with
// recorders of their own run in parallel:
//
//	func TestPatcher(t *testing.T) {
//		t.Parallel()
//		rec := crsteltest.NewRecorder(t)
//		runPatcher(rec.Context(t.Context())) // code under test, using crstel.Action
//		crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(task))
//	}
//
// Code that starts spans with the global provider itself (otel.Tracer)
// takes [Recorder.Provider], or a recorder made [WithGlobal].
type Recorder struct {
	*tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	strict bool
}

// RecorderOption configures [NewRecorder].
type RecorderOption interface{ apply(*recorderConfig) }

type recorderConfig struct {
	serviceName string
	strict      bool
	global      bool
	processors  []sdktrace.SpanProcessor
}

type recorderOptionFunc func(*recorderConfig)

func (f recorderOptionFunc) apply(c *recorderConfig) { f(c) }

// WithServiceName sets the resource's service.name. The default is
// [DefaultServiceName].
func WithServiceName(name string) RecorderOption {
	return recorderOptionFunc(func(c *recorderConfig) { c.serviceName = name })
}

// WithStrict makes invalid input to crstel panic, as crstel.WithStrict
// does, in the contexts [Recorder.Context] returns; with [WithGlobal], in
// the whole process for the duration of the test. The default is what
// CRSTEL_STRICT says.
func WithStrict() RecorderOption {
	return recorderOptionFunc(func(c *recorderConfig) { c.strict = true })
}

// WithGlobal installs the recorder as the global tracer provider, with the
// tracecontext and baggage propagators, for the duration of the test, for
// code that uses the global provider directly. Tests that use it must not
// run in parallel with each other. The default is not to.
func WithGlobal() RecorderOption {
	return recorderOptionFunc(func(c *recorderConfig) { c.global = true })
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

// NewRecorder returns a Recorder; tb.Cleanup shuts it down (and, with
// [WithGlobal], puts the previous global provider, propagator and strict
// mode back).
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
	tb.Cleanup(func() {
		if err := tp.Shutdown(context.Background()); err != nil {
			tb.Errorf("crsteltest: shutting the recorder down: %v", err)
		}
	})
	if cfg.global {
		prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
		otel.SetTracerProvider(tp)
		otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
		prevStrict := violation.Strict(context.Background()) // the process's setting
		if cfg.strict {
			violation.SetStrict(true)
		}
		tb.Cleanup(func() {
			violation.SetStrict(prevStrict)
			otel.SetTracerProvider(prevTP)
			otel.SetTextMapPropagator(prevProp)
		})
	}
	return &Recorder{SpanRecorder: sr, tp: tp, strict: cfg.strict}
}

// Provider returns the recording tracer provider, for instrumentation that
// takes one (otelhttp.WithTracerProvider, crstel.WithTracerProvider).
func (r *Recorder) Provider() *sdktrace.TracerProvider { return r.tp }

// Context returns a copy of ctx from which actions (crstel.Action) go to
// r, and with them what is started inside them: actions, LLM calls
// (package genai), corpus updates (package fuzz), subprocesses. With
// [WithStrict], invalid input to crstel panics in it.
func (r *Recorder) Context(ctx context.Context) context.Context {
	ctx = actionref.WithTracerProvider(ctx, r.tp)
	if r.strict {
		ctx = violation.WithStrict(ctx)
	}
	return ctx
}
