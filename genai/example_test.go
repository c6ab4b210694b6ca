package genai_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/genai"
)

// recording installs a global tracer provider with crstel's span processor,
// as crstel.Setup would, that records spans in memory; restore puts the
// previous provider back.
func recording() (sr *tracetest.SpanRecorder, restore func()) {
	sr = tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(crstel.NewSpanProcessor()), sdktrace.WithSpanProcessor(sr))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	return sr, func() {
		otel.SetTracerProvider(prev)
		tp.Shutdown(context.Background())
	}
}

// printAttributes prints the attributes of kvs whose keys start with one of
// prefixes, sorted by key, with their types.
func printAttributes(kvs []attribute.KeyValue, prefixes ...string) {
	kvs = slices.Clone(kvs)
	slices.SortFunc(kvs, func(a, b attribute.KeyValue) int { return strings.Compare(string(a.Key), string(b.Key)) })
	for _, kv := range kvs {
		for _, p := range prefixes {
			if strings.HasPrefix(string(kv.Key), p) {
				fmt.Printf("  %s=%s (%s)\n", kv.Key, kv.Value.String(), kv.Value.Type())
				break
			}
		}
	}
}

// An LLM call traced by hand, for a client NewTransport does not know,
// inside the CRS action it serves.
func ExampleStart() {
	sr, restore := recording()
	defer restore()

	ctx, action := crstel.Action(context.Background(), crs.PatchGeneration, "generate_patch", crs.Metadata{"task.id": "task-1"})
	temperature := 0.2
	_, call := genai.Start(ctx, genai.Request{
		Provider:      genai.ProviderAnthropic,
		Model:         "claude-sonnet-4-5",
		ServerAddress: "api.anthropic.com",
		MaxTokens:     1024,
		Temperature:   &temperature,
	})
	// ... the call, with the call's context ...
	call.End(genai.Response{
		ID:            "msg_013Zva2CMHLNnXjNJJKqJ2EF",
		Model:         "claude-sonnet-4-5-20250929",
		FinishReasons: []string{"end_turn"},
		InputTokens:   2095,
		OutputTokens:  503,
	}, nil)
	action.End()

	llm, act := sr.Ended()[0], sr.Ended()[1]
	fmt.Println(llm.Name(), llm.SpanKind(), "in", act.Name())
	printAttributes(llm.Attributes(), "gen_ai.", "server.", "crs.", "task.")
	fmt.Println(act.Name())
	printAttributes(act.Attributes(), "crs.action.gen_ai.")
	// Output:
	// chat claude-sonnet-4-5 client in generate_patch
	//   crs.action.category=patch_generation (STRING)
	//   crs.action.gen_ai.id=msg_013Zva2CMHLNnXjNJJKqJ2EF (STRING)
	//   crs.action.name=generate_patch (STRING)
	//   gen_ai.operation.name=chat (STRING)
	//   gen_ai.provider.name=anthropic (STRING)
	//   gen_ai.request.max_tokens=1024 (INT64)
	//   gen_ai.request.model=claude-sonnet-4-5 (STRING)
	//   gen_ai.request.temperature=0.2 (FLOAT64)
	//   gen_ai.response.finish_reasons=["end_turn"] (STRINGSLICE)
	//   gen_ai.response.id=msg_013Zva2CMHLNnXjNJJKqJ2EF (STRING)
	//   gen_ai.response.model=claude-sonnet-4-5-20250929 (STRING)
	//   gen_ai.usage.cost.amount=0.01383 (FLOAT64)
	//   gen_ai.usage.cost.currency=USD (STRING)
	//   gen_ai.usage.cost.source=local (STRING)
	//   gen_ai.usage.input_tokens=2095 (INT64)
	//   gen_ai.usage.output_tokens=503 (INT64)
	//   server.address=api.anthropic.com (STRING)
	//   task.id=task-1 (STRING)
	// generate_patch
	//   crs.action.gen_ai.id=msg_013Zva2CMHLNnXjNJJKqJ2EF (STRING)
}

// rateLimited is an error that knows its error.type, as ErrorTyper says.
type rateLimited struct{}

func (rateLimited) Error() string     { return "HTTP 429 Too Many Requests: rate limit reached" }
func (rateLimited) ErrorType() string { return "429" }

// A call that failed: error.type and an error status.
func ExampleCall_End() {
	sr, restore := recording()
	defer restore()

	_, call := genai.Start(context.Background(), genai.Request{Provider: genai.ProviderOpenAI, Model: "gpt-4o-mini"})
	call.End(genai.Response{}, fmt.Errorf("chat: %w", rateLimited{}))

	llm := sr.Ended()[0]
	fmt.Println(llm.Status().Code, llm.Status().Description)
	printAttributes(llm.Attributes(), "error.")
	// Output:
	// Error chat: HTTP 429 Too Many Requests: rate limit reached
	//   error.type=429 (STRING)
}

// A streamed call traced by hand: FirstChunk at the first chunk, End at
// the end of the stream.
func ExampleCall_FirstChunk() {
	sr, restore := recording()
	defer restore()

	_, call := genai.Start(context.Background(), genai.Request{Provider: genai.ProviderOpenAI, Model: "gpt-4o-mini", Stream: true})
	for range 3 { // the chunks as they arrive
		call.FirstChunk() // only the first counts
	}
	call.End(genai.Response{ID: "chatcmpl-stream1", OutputTokens: 3}, nil)

	a := attribute.NewSet(sr.Ended()[0].Attributes()...)
	ttfc, ok := a.Value(genai.ResponseTimeToFirstChunkKey)
	fmt.Println(genai.ResponseTimeToFirstChunkKey, "recorded:", ok, ttfc.Type())
	// Output:
	// gen_ai.response.time_to_first_chunk recorded: true FLOAT64
}

// With capture on, the messages are recorded, as JSON, through the redact
// function.
func ExampleWithCapture() {
	sr, restore := recording()
	defer restore()

	_, call := genai.Start(context.Background(), genai.Request{
		Model:              "gpt-4o-mini",
		SystemInstructions: []genai.Part{{Type: "text", Content: "You fix C bugs."}},
		InputMessages:      []genai.Message{{Role: "user", Parts: []genai.Part{{Type: "text", Content: "Token sk-abc: patch vuln_module.c"}}}},
	}, genai.WithCapture(genai.CaptureSpan), genai.WithRedact(func(s string) string {
		return strings.ReplaceAll(s, "sk-abc", "[REDACTED]")
	}))
	call.End(genai.Response{OutputMessages: []genai.Message{
		{Role: "assistant", Parts: []genai.Part{{Type: "text", Content: "Done."}}, FinishReason: "stop"},
	}}, nil)

	printAttributes(sr.Ended()[0].Attributes(), "gen_ai.input.", "gen_ai.output.", "gen_ai.system_")
	// Output:
	//   gen_ai.input.messages=[{"role":"user","parts":[{"type":"text","content":"Token [REDACTED]: patch vuln_module.c"}]}] (STRING)
	//   gen_ai.output.messages=[{"role":"assistant","parts":[{"type":"text","content":"Done."}],"finish_reason":"stop"}] (STRING)
	//   gen_ai.system_instructions=[{"type":"text","content":"You fix C bugs."}] (STRING)
}

func ExampleParseCapture() {
	for _, v := range []string{"true", "EVENT_ONLY", "", "maybe"} {
		c, ok := genai.ParseCapture(v)
		fmt.Printf("%q: %d %t\n", v, c, ok)
	}
	// Output:
	// "true": 1 true
	// "EVENT_ONLY": 2 true
	// "": 0 true
	// "maybe": 0 false
}

func ExampleErrorType() {
	for _, err := range []error{
		fmt.Errorf("chat: %w", rateLimited{}),
		context.DeadlineExceeded,
		context.Canceled,
		errors.New("boom"),
	} {
		fmt.Println(genai.ErrorType(err))
	}
	// Output:
	// 429
	// timeout
	// canceled
	// *errors.errorString
}

// ExampleParsePrices prices calls with a team's own table: here, the price
// of a fine-tuned model that no public table has. Setup does the same with
// the file CRSTEL_LLM_PRICES names.
func ExampleParsePrices() {
	prices, err := genai.ParsePrices([]byte(`{
	  "version": "team-prices-2026-12",
	  "currency": "USD",
	  "models": [{"model": "ft-patcher", "input": 3, "cache_read": 0.3, "output": 12}]
	}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	p, _ := prices.Lookup("ft-patcher-2026-11-30")
	fmt.Printf("%s: %s\n", prices.Version(), p.Model)
	fmt.Printf("%.6f %s\n", p.Cost(genai.Response{InputTokens: 10_000, CacheReadInputTokens: 8_000, OutputTokens: 500}), p.Currency)

	genai.SetPrices(prices) // every call from now on; or genai.WithPrices(prices) for some
	defer genai.SetPrices(nil)
	// Output:
	// team-prices-2026-12: ft-patcher
	// 0.014400 USD
}
