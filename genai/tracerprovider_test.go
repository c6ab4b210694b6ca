package genai_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/genai"
)

// TestWithTracerProvider: the spans of calls, made with Start or through
// NewTransport, go to the provider given, not to the one of the context
// (a recorder's, as the enclosing action's would be); a nil provider is
// ignored.
func TestWithTracerProvider(t *testing.T) {
	t.Parallel()
	// call makes one chat call in ctx with opts and ends it.
	type call func(t *testing.T, ctx context.Context, opts ...genai.Option)
	start := func(t *testing.T, ctx context.Context, opts ...genai.Option) {
		_, c := genai.Start(ctx, genai.Request{Provider: genai.ProviderOpenAI, Model: "gpt-4o-mini"}, opts...)
		c.End(genai.Response{ID: "chatcmpl-1"}, nil)
	}
	transport := func(t *testing.T, ctx context.Context, opts ...genai.Option) {
		srv, _ := serve(t, jsonResponse(openAIResponse))
		resp := post(t, ctx, newClient(t, transportOptions(opts)...), srv.URL+"/v1/chat/completions", openAIRequest)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200", resp.StatusCode)
		}
	}
	// The options of a case, given the test's own provider.
	own := func(tp *sdktrace.TracerProvider) []genai.Option { return []genai.Option{genai.WithTracerProvider(tp)} }
	ownThenNil := func(tp *sdktrace.TracerProvider) []genai.Option {
		return []genai.Option{genai.WithTracerProvider(tp), genai.WithTracerProvider(nil)}
	}
	onlyNil := func(*sdktrace.TracerProvider) []genai.Option { return []genai.Option{genai.WithTracerProvider(nil)} }
	tests := []struct {
		name    string
		call    call
		opts    func(*sdktrace.TracerProvider) []genai.Option
		wantOwn bool // the span goes to the provider given, else to the context's
	}{
		{name: "Start", call: start, opts: own, wantOwn: true},
		{name: "Start nil after provider", call: start, opts: ownThenNil, wantOwn: true},
		{name: "Start nil", call: start, opts: onlyNil},
		{name: "NewTransport", call: transport, opts: own, wantOwn: true},
		{name: "NewTransport nil after provider", call: transport, opts: ownThenNil, wantOwn: true},
		{name: "NewTransport nil", call: transport, opts: onlyNil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := crsteltest.NewRecorder(t)
			sr := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
			t.Cleanup(func() {
				if err := tp.Shutdown(context.Background()); err != nil {
					t.Errorf("shutting the provider down: %v", err)
				}
			})

			tt.call(t, rec.Context(t.Context()), tt.opts(tp)...)

			mine, theirs := scopeSpans(sr.Ended(), genai.ScopeName), scopeSpans(rec.Ended(), genai.ScopeName)
			if !tt.wantOwn {
				mine, theirs = theirs, mine
			}
			if len(mine) != 1 || mine[0].Name() != "chat gpt-4o-mini" {
				t.Errorf("spans of the provider that should have the call: %v, want [chat gpt-4o-mini]", names(mine))
			}
			if len(theirs) != 0 {
				t.Errorf("spans of the other provider: %v, want none", names(theirs))
			}
		})
	}
}

// TestUnhashableProviders: providers of a type that == cannot compare (a
// struct holding a map) work as with the plain OpenTelemetry API: no panic,
// the spans and metrics go to them.
func TestUnhashableProviders(t *testing.T) {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() { tp.Shutdown(context.Background()); mp.Shutdown(context.Background()) })
	opts := []genai.Option{
		genai.WithTracerProvider(mapTracerProvider{tp, map[string]int{}}),
		genai.WithMeterProvider(mapMeterProvider{mp, map[string]int{}}),
	}
	for range 2 {
		_, c := genai.Start(context.Background(), genai.Request{Provider: genai.ProviderOpenAI, Model: "gpt-4o-mini"}, opts...)
		c.End(genai.Response{ID: "chatcmpl-1", InputTokens: 3, OutputTokens: 4}, nil)
	}
	if n := len(sr.Ended()); n != 2 {
		t.Errorf("%d spans, want 2", n)
	}
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if len(rm.ScopeMetrics) == 0 {
		t.Error("no metrics recorded through the meter provider")
	}
}

type mapTracerProvider struct {
	trace.TracerProvider
	m map[string]int
}

type mapMeterProvider struct {
	metric.MeterProvider
	m map[string]int
}
