package journal

import (
	"bytes"
	"math"
	"reflect"
	"testing"
	"time"
)

// TestCostRoundTrip: the cost of an end record (a roll-up) and of a cost
// record is written with its non-zero fields and read back the same;
// records without one have no "cost".
func TestCostRoundTrip(t *testing.T) {
	full := Cost{
		Model: "gpt-4o", LLMAmount: 0.016485, LLMCurrency: "USD", LLMCalls: 5, LLMUnpricedCalls: 1, LLMOtherCurrencyCalls: 1,
		InputTokens: 3112, OutputTokens: 513, CacheReadTokens: 200, CacheWriteTokens: 100,
		CPUSeconds: 1.25, MemoryByteSeconds: 64 << 30, Subprocesses: 2,
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		e    Event
		want string // in the line
	}{
		{Event{Kind: KindEnd, Status: "ok", Cost: &full}, `"cost":{"model":"gpt-4o","llm_amount":0.016485,"llm_currency":"USD","llm_calls":5,"llm_unpriced_calls":1,"llm_other_currency_calls":1,"input_tokens":3112,"output_tokens":513,"cache_read_tokens":200,"cache_write_tokens":100,"cpu_seconds":1.25,"memory_byte_seconds":68719476736,"subprocesses":2}}`},
		{Event{Kind: KindCost, Cost: &Cost{Subprocesses: 1, CPUSeconds: math.Inf(1)}}, `"kind":"cost","time":"2026-12-01T12:00:00Z","pid":7,"cost":{"subprocesses":1}}`},
		{Event{Kind: KindEnd, Status: "ok"}, `"duration_ms":0}`},
	} {
		line := appendEvent(nil, &tc.e, now, []byte(`,"pid":7`))
		if !bytes.Contains(line, []byte(tc.want)) {
			t.Errorf("%s record:\n%s\nwant it to contain\n%s", tc.e.Kind, line, tc.want)
		}
		recs, err := Read(bytes.NewReader(line))
		if err != nil || len(recs) != 1 {
			t.Fatalf("read %d records, %v", len(recs), err)
		}
		want := tc.e.Cost
		if want != nil && math.IsInf(want.CPUSeconds, 0) {
			want = &Cost{Subprocesses: 1}
		}
		if !reflect.DeepEqual(recs[0].Cost, want) {
			t.Errorf("%s record: read cost %+v, want %+v", tc.e.Kind, recs[0].Cost, want)
		}
	}
	if KindOverBudget.String() != "over_budget" || KindCost.String() != "cost" {
		t.Errorf("kinds %q, %q; want over_budget, cost", KindOverBudget, KindCost)
	}
}
