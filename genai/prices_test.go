package genai_test

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/genai"
)

// TestDefaultPrices: the embedded table parses, and each price says where
// and when it was read.
func TestDefaultPrices(t *testing.T) {
	t.Parallel()
	p := genai.DefaultPrices()
	if p.Version() == "" {
		t.Error("the default table has no version")
	}
	models := p.Models()
	if len(models) < 20 {
		t.Errorf("the default table has %d models, want the common OpenAI and Anthropic ones", len(models))
	}
	for _, m := range models {
		if !strings.HasPrefix(m.Source, "https://") || len(m.AsOf) < 7 || m.Currency != "USD" {
			t.Errorf("%s: source %q, as of %q, currency %q: want a source address, a month, USD", m.Model, m.Source, m.AsOf, m.Currency)
		}
		if m.Input <= 0 || m.Output <= 0 || m.CacheRead <= 0 || m.CacheRead > m.Input {
			t.Errorf("%s: %+v: want input and output prices, and cache reads cheaper than input", m.Model, m)
		}
	}
	for _, model := range []string{"gpt-4o", "gpt-4o-mini", "gpt-4.1", "o3", "claude-sonnet-4-5", "claude-haiku-4-5", "claude-opus-4-1"} {
		if _, ok := p.Lookup(model); !ok {
			t.Errorf("the default table has no price for %s", model)
		}
	}
}

// TestLookup: versioned names find their family; a longer family is not
// priced as the shorter one.
func TestLookup(t *testing.T) {
	t.Parallel()
	p, err := genai.ParsePrices([]byte(`{"version": "t", "currency": "USD", "models": [
		{"model": "gpt-4o", "input": 2.5, "output": 10},
		{"model": "gpt-4o-mini", "input": 0.15, "output": 0.6},
		{"model": "claude-sonnet-4", "input": 3, "output": 15},
		{"model": "o3", "input": 2, "output": 8}]}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ model, want string }{
		{"gpt-4o", "gpt-4o"},
		{"gpt-4o-2024-08-06", "gpt-4o"},
		{"GPT-4o", "gpt-4o"},
		{"openai/gpt-4o", "gpt-4o"},
		{"gpt-4o-mini-2024-07-18", "gpt-4o-mini"},
		{"claude-sonnet-4-20250514", "claude-sonnet-4"},
		{"claude-sonnet-4-latest", "claude-sonnet-4"},
		{"claude-sonnet-4-5", ""},          // another family, not a version
		{"claude-sonnet-4-5-20250929", ""}, // idem
		{"gpt-4o-audio-preview", ""},
		{"o3-mini", ""},
		{"o3-2025-04-16", "o3"},
		{"gpt-4o-2024-8-6", ""},
		{"", ""},
		{"llama3", ""},
	}
	for _, tt := range tests {
		got, ok := p.Lookup(tt.model)
		if ok != (tt.want != "") || got.Model != tt.want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", tt.model, got.Model, ok, tt.want)
		}
	}
}

// TestPriceCost: each kind of token at its own price; input tokens count
// the cached ones in.
func TestPriceCost(t *testing.T) {
	t.Parallel()
	p := genai.Price{Input: 3, CacheRead: 0.3, CacheWrite: 3.75, Output: 15}
	r := genai.Response{InputTokens: 1_000_000 + 200_000 + 100_000, CacheReadInputTokens: 200_000, CacheCreationInputTokens: 100_000, OutputTokens: 500_000}
	want := 3 + 0.2*0.3 + 0.1*3.75 + 0.5*15
	if got := p.Cost(r); math.Abs(got-want) > 1e-9 {
		t.Errorf("Cost = %v, want %v", got, want)
	}
	// Cache prices left out of a file are the input price.
	tab, err := genai.ParsePrices([]byte(`{"version": "t", "models": [{"model": "m", "input": 1, "output": 2, "currency": "EUR"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := tab.Lookup("m")
	if m.CacheRead != 1 || m.CacheWrite != 1 || m.Currency != "EUR" {
		t.Errorf("defaults: %+v, want cache prices 1 and EUR", m)
	}
}

// TestParsePricesErrors: a bad table is an error that names the entry and
// the field, never a price silently zero.
func TestParsePricesErrors(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, json, want string }{
		{"not json", `{`, "price table: unexpected EOF"},
		{"no version", `{"currency": "USD", "models": [{"model": "m", "input": 1, "output": 1}]}`, `"version" is missing`},
		{"no models", `{"version": "t", "currency": "USD", "models": []}`, `"models" is empty`},
		{"bad table currency", `{"version": "t", "currency": "usd", "models": [{"model": "m", "input": 1, "output": 1}]}`, `currency "usd" is not an ISO 4217 code`},
		{"no currency", `{"version": "t", "models": [{"model": "m", "input": 1, "output": 1}]}`, `models[0] "m": currency "" is not an ISO 4217 code`},
		{"misspelled field", `{"version": "t", "currency": "USD", "models": [{"model": "m", "input": 1, "ouptut": 1}]}`, `models[0]: json: unknown field "ouptut"`},
		{"missing output", `{"version": "t", "currency": "USD", "models": [{"model": "a", "input": 1, "output": 1}, {"model": "m", "input": 1}]}`, `models[1] "m": "output" is missing`},
		{"negative", `{"version": "t", "currency": "USD", "models": [{"model": "m", "input": -1, "output": 1}]}`, `models[0] "m": "input" is -1, want a price of 0 or more`},
		{"string price", `{"version": "t", "currency": "USD", "models": [{"model": "m", "input": "1", "output": 1}]}`, `models[0]: json: cannot unmarshal string`},
		{"no model", `{"version": "t", "currency": "USD", "models": [{"input": 1, "output": 1}]}`, `models[0]: "model" "" must be a model name`},
		{"twice", `{"version": "t", "currency": "USD", "models": [{"model": "m", "input": 1, "output": 1}, {"model": "M", "input": 2, "output": 2}]}`, `models[1] "m": the model appears twice`},
		{"unknown table field", `{"version": "t", "currency": "USD", "modles": []}`, `unknown field "modles"`},
	}
	for _, tt := range tests {
		_, err := genai.ParsePrices([]byte(tt.json))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: err = %v, want one containing %q", tt.name, err, tt.want)
		}
	}
	path := filepath.Join(t.TempDir(), "prices.json")
	if err := os.WriteFile(path, []byte(`{"version": "t", "currency": "USD", "models": [{"model": "m", "input": 1}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := genai.LoadPrices(path); err == nil || !strings.Contains(err.Error(), path+`: price table: models[0] "m": "output" is missing`) {
		t.Errorf("LoadPrices: %v, want the path and the entry named", err)
	}
	if _, err := genai.LoadPrices(path + ".absent"); err == nil || !strings.Contains(err.Error(), path+".absent") {
		t.Errorf("LoadPrices of a missing file: %v, want the path named", err)
	}
}

// TestCallCost: the span of a call records its cost, priced locally or
// reported by the provider; a model without a price gets the unpriced
// marker and no amount, and one report however many calls.
func TestCallCost(t *testing.T) {
	errs := crsteltest.CaptureErrors(t)
	sr := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(sr))
	prices, err := genai.ParsePrices([]byte(`{"version": "test-1", "currency": "USD", "models": [
		{"model": "gpt-4o", "input": 2.5, "cache_read": 1.25, "output": 10}]}`))
	if err != nil {
		t.Fatal(err)
	}
	opts := []genai.Option{genai.WithTracerProvider(tp), genai.WithPrices(prices)}
	call := func(model string, resp genai.Response) map[string]any {
		_, c := genai.Start(t.Context(), genai.Request{Model: model}, opts...)
		resp.Model = model
		c.End(resp, nil)
		spans := sr.Ended()
		got := map[string]any{}
		for _, kv := range spans[len(spans)-1].Attributes() {
			if strings.Contains(string(kv.Key), "cost") {
				got[string(kv.Key)] = kv.Value.AsInterface()
			}
		}
		return got
	}

	got := call("gpt-4o-2024-08-06", genai.Response{InputTokens: 1000, CacheReadInputTokens: 400, OutputTokens: 100})
	want := (600*2.5 + 400*1.25 + 100*10) / 1e6
	if a, _ := got["gen_ai.usage.cost.amount"].(float64); math.Abs(a-want) > 1e-12 ||
		got["gen_ai.usage.cost.currency"] != "USD" || got["gen_ai.usage.cost.source"] != "local" ||
		got["crstel.cost.prices_version"] != "test-1" || got["crstel.cost.unpriced"] != nil {
		t.Errorf("priced call: %v, want amount %v USD local test-1", got, want)
	}

	got = call("gpt-4o", genai.Response{InputTokens: 10, OutputTokens: 1, ProviderCost: &genai.Cost{Amount: 0.0042}})
	if got["gen_ai.usage.cost.amount"] != 0.0042 || got["gen_ai.usage.cost.source"] != "provider" || got["gen_ai.usage.cost.currency"] != "USD" {
		t.Errorf("provider's cost: %v", got)
	}

	for range 3 {
		got = call("my-finetune", genai.Response{InputTokens: 10, OutputTokens: 1})
		if _, ok := got["gen_ai.usage.cost.amount"]; ok || got["crstel.cost.unpriced"] != true || got["crstel.cost.prices_version"] != "test-1" {
			t.Errorf("unpriced call: %v, want the marker and no amount", got)
		}
	}
	if n := strings.Count(strings.Join(errs.Messages(), "\n"), `no price for model "my-finetune"`); n != 1 {
		t.Errorf("%d reports of the unpriced model, want 1: %q", n, errs.Messages())
	}

	got = call("gpt-4o", genai.Response{})
	if len(got) != 0 {
		t.Errorf("a call without usage: %v, want no cost attributes", got)
	}
}

// TestSetPrices: swapping the table is atomic under concurrent calls,
// and nil restores the default.
func TestSetPrices(t *testing.T) {
	a, _ := genai.ParsePrices([]byte(`{"version": "a", "currency": "USD", "models": [{"model": "m", "input": 1, "output": 1}]}`))
	b, _ := genai.ParsePrices([]byte(`{"version": "b", "currency": "USD", "models": [{"model": "m", "input": 2, "output": 2}]}`))
	t.Cleanup(func() { genai.SetPrices(nil) })
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for range 1000 {
				if i%2 == 0 {
					genai.SetPrices(a)
				} else {
					genai.SetPrices(b)
				}
				p := genai.CurrentPrices()
				m, _ := p.Lookup("m")
				if (p.Version() == "a") != (m.Input == 1) {
					t.Errorf("table %s with price %v", p.Version(), m.Input)
					return
				}
			}
		})
	}
	wg.Wait()
	genai.SetPrices(nil)
	if genai.CurrentPrices() != genai.DefaultPrices() {
		t.Error("SetPrices(nil) did not restore the default table")
	}
}
