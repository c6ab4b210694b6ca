package crstel_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/genai"
)

// BenchmarkCostEvent measures an LLM call's Start and End (span, metrics,
// pricing) at several depths of nested actions, each of which adds the
// call's cost to its roll-up: depth=0 is a call outside any action (no
// roll-up), so that the difference is what the roll-up costs per level.
func BenchmarkCostEvent(b *testing.B) {
	tp := benchProvider(b)
	prices, err := genai.ParsePrices([]byte(`{"version": "bench", "currency": "USD", "models": [{"model": "coder", "input": 3, "output": 15}]}`))
	if err != nil {
		b.Fatal(err)
	}
	req := genai.Request{Provider: genai.ProviderOpenAI, Model: "coder"}
	resp := genai.Response{InputTokens: 1000, OutputTokens: 100, CacheReadInputTokens: 200}
	for _, depth := range []int{0, 1, 4} {
		b.Run("depth="+strconv.Itoa(depth), func(b *testing.B) {
			ctx := crstel.WithTask(context.Background(), task1)
			var ends []func()
			for i := range depth {
				opts := []crstel.ActionOption{}
				if i == 0 {
					opts = append(opts, crstel.WithTracerProvider(tp))
				}
				c, s := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil, opts...)
				ctx = c
				ends = append(ends, func() { s.End() })
			}
			opts := []genai.Option{genai.WithPrices(prices), genai.WithTracerProvider(tp)}
			b.ReportAllocs()
			for b.Loop() {
				_, call := genai.Start(ctx, req, opts...)
				call.End(resp, nil)
			}
			b.StopTimer()
			for i := len(ends) - 1; i >= 0; i-- {
				ends[i]()
			}
		})
	}
}
