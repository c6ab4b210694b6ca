package genai_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/genai"
)

// TestWithTracerProvider: the spans of calls, made with Start or through
// NewTransport, go to the provider given, not to the global one; a nil
// provider is ignored.
func TestWithTracerProvider(t *testing.T) {
	// call makes one chat call with opts and ends it.
	type call func(t *testing.T, opts ...genai.Option)
	start := func(t *testing.T, opts ...genai.Option) {
		_, c := genai.Start(context.Background(), genai.Request{Provider: genai.ProviderOpenAI, Model: "gpt-4o-mini"}, opts...)
		c.End(genai.Response{ID: "chatcmpl-1"}, nil)
	}
	transport := func(t *testing.T, opts ...genai.Option) {
		srv, _ := serve(t, jsonResponse(openAIResponse))
		resp := post(t, context.Background(), newClient(t, opts...), srv.URL+"/v1/chat/completions", openAIRequest)
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
		wantOwn bool // the span goes to the provider given, else to the global one
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
			global := crsteltest.NewRecorder(t)
			sr := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
			t.Cleanup(func() {
				if err := tp.Shutdown(context.Background()); err != nil {
					t.Errorf("shutting the provider down: %v", err)
				}
			})

			tt.call(t, tt.opts(tp)...)

			mine, theirs := scopeSpans(sr.Ended(), genai.ScopeName), scopeSpans(global.Ended(), genai.ScopeName)
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
