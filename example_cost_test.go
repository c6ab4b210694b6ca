package crstel_test

import (
	"context"
	"fmt"
	"log/slog"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/genai"
)

// examplePrices prices the model "coder" at 3 USD per million input
// tokens and 15 per million output tokens.
func examplePrices() *genai.Prices {
	p, _ := genai.ParsePrices([]byte(`{"version": "example", "currency": "USD",
		"models": [{"model": "coder", "input": 3, "output": 15}]}`))
	return p
}

// askLLM stands for an LLM call made through genai.NewTransport: a call of
// 1000 input and 100 output tokens, 0.0045 USD.
func askLLM(ctx context.Context, prices *genai.Prices) {
	_, call := genai.Start(ctx, genai.Request{Provider: genai.ProviderOpenAI, Model: "coder"}, genai.WithPrices(prices))
	call.End(genai.Response{InputTokens: 1000, OutputTokens: 100}, nil)
}

// A budget stops a loop of LLM calls: the call that crosses it is reported
// as over budget before it returns, and the callback cancels the work.
func ExampleWithCostBudget() {
	ctx := context.Background()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	tel, _ := crstel.Setup(ctx,
		crstel.WithExporter(tracetest.NewInMemoryExporter()), crstel.WithoutJournal(),
		crstel.WithLogger(slog.New(slog.DiscardHandler)),
		crstel.WithOnReport(func(r crstel.Report) {
			if r.State == crstel.OverBudget {
				fmt.Printf("%s %s: %s\n", r.Name, r.State, r.Reason)
				cancel() // one callback for the process: here, one action
			}
		}))
	defer tel.Shutdown(context.WithoutCancel(ctx))

	prices := examplePrices()
	ctx, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil,
		crstel.WithCostBudget(crstel.CostBudget{LLM: 0.01, Currency: "USD"}))
	calls := 0
	for ctx.Err() == nil { // until the patch is good, or the money is spent
		askLLM(ctx, prices)
		calls++
	}
	cost, _ := crstel.CostOf(ctx)
	span.End()
	fmt.Printf("%d calls, %.4f %s\n", calls, cost.LLMAmount, cost.LLMCurrency)
	// Output:
	// generate_patch over_budget: LLM cost 0.0135 USD, past its budget of 0.01 USD
	// 3 calls, 0.0135 USD
}

// CostOf gives the running costs of the innermost action and of its task,
// the outermost action of the same task in this process: here, a call in
// each of two nested actions.
func ExampleCostOf() {
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	prices := examplePrices()

	ctx := crstel.WithTask(context.Background(), crs.Metadata{"round.id": "round-1", "task.id": "task-1"})
	ctx, task := crstel.Action(ctx, crs.PatchGeneration, "solve_task", nil, crstel.WithTracerProvider(tp))
	defer task.End()
	askLLM(ctx, prices)
	ctx, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil)
	defer span.End()
	askLLM(ctx, prices)

	action, all := crstel.CostOf(ctx)
	fmt.Printf("generate_patch: %d call, %.4f %s, %d input tokens\n", action.LLMCalls, action.LLMAmount, action.LLMCurrency, action.InputTokens)
	fmt.Printf("task-1: %d calls, %.4f %s, %d input tokens\n", all.LLMCalls, all.LLMAmount, all.LLMCurrency, all.InputTokens)
	// Output:
	// generate_patch: 1 call, 0.0045 USD, 1000 input tokens
	// task-1: 2 calls, 0.0090 USD, 2000 input tokens
}

// An action's span carries its roll-up at End: the sum of what ran inside
// it, under crstel.cost.*; the LLM calls' spans keep their own
// gen_ai.usage.cost.*.
func ExampleCost() {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer tp.Shutdown(context.Background())
	prices := examplePrices()

	ctx, span := crstel.Action(context.Background(), crs.PatchGeneration, "generate_patch", nil, crstel.WithTracerProvider(tp))
	askLLM(ctx, prices)
	askLLM(ctx, prices)
	span.End()
	for _, s := range exp.GetSpans() {
		for _, kv := range s.Attributes {
			switch kv.Key {
			case genai.CostAmountKey, crstel.CostLLMAmountKey, crstel.CostLLMCallsKey, crstel.CostLLMOutputTokensKey:
				fmt.Printf("%s: %s = %s\n", s.Name, kv.Key, kv.Value.String())
			}
		}
	}
	// Output:
	// chat coder: gen_ai.usage.cost.amount = 0.0045
	// chat coder: gen_ai.usage.cost.amount = 0.0045
	// generate_patch: crstel.cost.llm.calls = 2
	// generate_patch: crstel.cost.llm.amount = 0.009
	// generate_patch: crstel.cost.llm.output_tokens = 200
}
