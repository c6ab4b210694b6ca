package genai_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/genai"
)

// NewTransport traces the LLM calls of any HTTP client: here a chat
// completion made with net/http inside a CRS action.
func ExampleNewTransport() {
	// A provider as crstel.Setup builds one, recording instead of exporting.
	sr, restore := recording()
	defer restore()

	// A stand-in for the OpenAI API.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT","object":"chat.completion",`+
			`"model":"gpt-4o-mini-2024-07-18","choices":[{"index":0,"message":{"role":"assistant",`+
			`"content":"Spans in a trace."},"finish_reason":"stop"}],`+
			`"usage":{"prompt_tokens":19,"completion_tokens":10,"total_tokens":29}}`)
	}))
	defer srv.Close()

	client := &http.Client{Transport: genai.NewTransport(nil)}
	ctx := crstel.WithTask(context.Background(), crs.Metadata{"task.id": "task-1"})
	ctx, action := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"temperature":0.7}`))
	req.Header.Set("Authorization", "Bearer sk-...")
	resp, err := client.Do(req)
	if err != nil {
		fmt.Println(err)
		return
	}
	io.Copy(io.Discard, resp.Body) // the call's span ends at the end of the body
	resp.Body.Close()
	action.End()

	llm := sr.Ended()[0]
	fmt.Println(llm.Name(), llm.SpanKind())
	a := attribute.NewSet(llm.Attributes()...)
	for _, k := range []attribute.Key{"crs.action.category", "crs.action.name", "task.id", "gen_ai.operation.name",
		"gen_ai.provider.name", "gen_ai.request.model", "gen_ai.request.temperature", "gen_ai.response.id",
		"gen_ai.response.model", "gen_ai.response.finish_reasons", "gen_ai.usage.input_tokens",
		"gen_ai.usage.output_tokens", "crs.action.gen_ai.id"} {
		v, _ := a.Value(k)
		fmt.Printf("%s: %s\n", k, v.String())
	}
	// Output:
	// chat gpt-4o-mini client
	// crs.action.category: patch_generation
	// crs.action.name: generate_patch
	// task.id: task-1
	// gen_ai.operation.name: chat
	// gen_ai.provider.name: openai
	// gen_ai.request.model: gpt-4o-mini
	// gen_ai.request.temperature: 0.7
	// gen_ai.response.id: chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT
	// gen_ai.response.model: gpt-4o-mini-2024-07-18
	// gen_ai.response.finish_reasons: ["stop"]
	// gen_ai.usage.input_tokens: 19
	// gen_ai.usage.output_tokens: 10
	// crs.action.gen_ai.id: chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT
}

// WithProviderName names the vendor behind a proxy that speaks OpenAI's
// format, such as LiteLLM in front of Azure OpenAI; without it, the
// transport would record "openai", the format's.
func ExampleWithProviderName() {
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	defer tp.Shutdown(context.Background())

	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"chatcmpl-1","model":"gpt-4o","choices":[]}`)
	}))
	defer proxy.Close()

	client := &http.Client{Transport: genai.NewTransport(nil,
		genai.WithProviderName(genai.ProviderAzureAIOpenAI), genai.WithTracerProvider(tp))}
	resp, err := client.Post(proxy.URL+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"gpt-4o"}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	a := attribute.NewSet(sr.Ended()[0].Attributes()...)
	provider, _ := a.Value(genai.ProviderNameKey)
	fmt.Println(genai.ProviderNameKey, provider.AsString())
	// Output:
	// gen_ai.provider.name azure.ai.openai
}
