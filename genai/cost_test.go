package genai_test

import (
	"math"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
	"go.opentelemetry.io/otel/attribute"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/genai"
)

// TestClientsRollUp: calls of the official OpenAI and Anthropic clients,
// plain and streamed, with cached tokens, add up on their action: its
// roll-up is the exact sum of the calls' usage and cost, and CostOf says
// the same while the action runs.
func TestClientsRollUp(t *testing.T) {
	t.Parallel()
	rec, ctx, action := inAction(t)
	srv := fakeAPI(t, 0)
	oc, ac := openAIClient(t, srv), anthropicClient(t, srv)

	chat := openai.ChatCompletionNewParams{
		Model:    "gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("Write a short poem about OpenTelemetry")},
	}
	if _, err := oc.Chat.Completions.New(ctx, chat); err != nil {
		t.Fatal(err)
	}
	chat.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
	stream := oc.Chat.Completions.NewStreaming(ctx, chat)
	for stream.Next() {
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	stream.Close()
	msg := anthropic.MessageNewParams{
		Model:     "claude-sonnet-4-5-20250929",
		MaxTokens: 1024,
		Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("Hello"))},
	}
	if _, err := ac.Messages.New(ctx, msg); err != nil {
		t.Fatal(err)
	}
	astream := ac.Messages.NewStreaming(ctx, msg)
	for astream.Next() {
	}
	if err := astream.Err(); err != nil {
		t.Fatal(err)
	}
	astream.Close()
	running, _ := crstel.CostOf(ctx)
	action.End()

	// What the calls' spans say, added up.
	var calls, in, out, cacheRead, cacheWrite, nanos int64
	for _, s := range scopeSpans(rec.Ended(), genai.ScopeName) {
		a := crsteltest.Attrs(s)
		calls++
		in += a[genai.UsageInputTokensKey].AsInt64()
		out += a[genai.UsageOutputTokensKey].AsInt64()
		cacheRead += a[genai.UsageCacheReadInputTokensKey].AsInt64()
		cacheWrite += a[genai.UsageCacheCreationInputTokensKey].AsInt64()
		if c := a[genai.CostCurrencyKey].AsString(); c != "USD" {
			t.Fatalf("%s: currency %q, want USD (the default table prices both models)", s.Name(), c)
		}
		nanos += int64(math.Round(a[genai.CostAmountKey].AsFloat64() * 1e9))
	}
	if calls != 4 || cacheRead == 0 || cacheWrite == 0 {
		t.Fatalf("%d calls, %d cache reads and %d writes; want 4 calls with both (the fixtures have them)", calls, cacheRead, cacheWrite)
	}
	got := crsteltest.Attrs(only(t, rec.Ended(), crstel.ScopeName))
	wantAttrs(t, got,
		crstel.CostLLMCallsKey.Int64(calls), crstel.CostLLMCurrencyKey.String("USD"),
		crstel.CostLLMInputTokensKey.Int64(in), crstel.CostLLMOutputTokensKey.Int64(out),
		crstel.CostLLMCacheReadTokensKey.Int64(cacheRead), crstel.CostLLMCacheWriteTokensKey.Int64(cacheWrite))
	if a := got[crstel.CostLLMAmountKey]; a.Type() != attribute.FLOAT64 || int64(math.Round(a.AsFloat64()*1e9)) != nanos {
		t.Errorf("%s = %s, want %d nano-USD, the sum of the calls'", crstel.CostLLMAmountKey, a.String(), nanos)
	}
	if running.LLMCalls != calls || running.InputTokens != in || running.CacheReadTokens != cacheRead ||
		int64(math.Round(running.LLMAmount*1e9)) != nanos {
		t.Errorf("CostOf before End = %+v, want the roll-up", running)
	}
	crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(task))
}
