package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/crstel/crstel/internal/journal"
)

// writeCosts writes the journal of one process of service with the cost
// records of calls (each an LLM call or a subprocess) and, for each action,
// an end record with its roll-up, which trace costs must not count again.
func writeCosts(t *testing.T, dir, service string, calls []journal.Event, rollUps []journal.Event) {
	t.Helper()
	w, err := journal.Open(journal.Options{Dir: dir, Service: service})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range calls {
		e.Kind = journal.KindCost
		w.Write(e)
	}
	for _, e := range rollUps {
		e.Kind, e.Status = journal.KindEnd, "ok"
		w.Write(e)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// costFixture writes two processes' journals: a patcher (task-1: two
// calls of gpt-4o, one of claude in EUR, one unpriced, a build) and a
// fuzzer (task-2: one call of gpt-4o).
func costFixture(t *testing.T) string {
	dir := t.TempDir()
	patch := action{1, 0, "patch_generation", "generate_patch", task("task-1"), 0, 0}
	build := action{2, 1, "building", "compile", task("task-1"), 0, 0}
	llm := func(a action, id int, c journal.Cost) journal.Event {
		e := a.event(journal.KindCost, t0, 0)
		e.Span, e.Parent = span(id), spanID(a.id)
		e.Cost = &c
		return e
	}
	writeCosts(t, dir, "patcher", []journal.Event{
		llm(patch, 10, journal.Cost{Model: "gpt-4o", LLMCalls: 1, LLMAmount: 0.1, LLMCurrency: "USD", InputTokens: 1000, OutputTokens: 100, CacheReadTokens: 200}),
		llm(patch, 11, journal.Cost{Model: "gpt-4o", LLMCalls: 1, LLMAmount: 0.2, LLMCurrency: "USD", InputTokens: 2000, OutputTokens: 200}),
		llm(patch, 12, journal.Cost{Model: "claude", LLMCalls: 1, LLMAmount: 0.5, LLMCurrency: "EUR", InputTokens: 10, OutputTokens: 1}),
		llm(patch, 13, journal.Cost{Model: "secret", LLMCalls: 1, LLMUnpricedCalls: 1, InputTokens: 5, OutputTokens: 5}),
		llm(build, 2, journal.Cost{Subprocesses: 1, CPUSeconds: 1.25, MemoryByteSeconds: 1000}),
	}, []journal.Event{
		func() journal.Event {
			e := build.event(journal.KindEnd, t0, 0)
			e.Cost = &journal.Cost{Subprocesses: 1, CPUSeconds: 1.25, MemoryByteSeconds: 1000}
			return e
		}(),
		func() journal.Event {
			e := patch.event(journal.KindEnd, t0, 0)
			e.Cost = &journal.Cost{LLMCalls: 4, LLMAmount: 0.3, LLMCurrency: "USD", LLMOtherCurrencyCalls: 1, Subprocesses: 1, CPUSeconds: 1.25}
			return e
		}(),
	})
	fuzz := action{3, 0, "fuzzing", "generate_inputs", task("task-2"), 0, 0}
	writeCosts(t, dir, "fuzzer", []journal.Event{
		llm(fuzz, 20, journal.Cost{Model: "gpt-4o", LLMCalls: 1, LLMAmount: 0.05, LLMCurrency: "USD", InputTokens: 500, OutputTokens: 50}),
	}, nil)
	return dir
}

// TestCosts: trace costs adds up the cost records of every journal, by
// task, category or model, and never the roll-ups as well.
func TestCosts(t *testing.T) {
	dir := costFixture(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"trace", "costs"}, `Costs by task, from 2 journal file(s): each LLM call and subprocess once.

TASK    LLM CALLS  UNPRICED  LLM AMOUNT          INPUT  OUTPUT  CACHE READ  CPU S  SUBPROCESSES
task-1  4          1         0.5 EUR + 0.3 USD  3015   306     200         1.250  1
task-2  1          0         0.05 USD          500    50      0           0.000  0
total   5          1         0.5 EUR + 0.35 USD  3515   356     200         1.250  1
`},
		{[]string{"trace", "costs", "--by", "model"}, `Costs by model, from 2 journal file(s): each LLM call and subprocess once.

MODEL           LLM CALLS  UNPRICED  LLM AMOUNT          INPUT  OUTPUT  CACHE READ  CPU S  SUBPROCESSES
(subprocesses)  0          0         -                   0      0       0           1.250  1
claude          1          0         0.5 EUR             10     1       0           0.000  0
gpt-4o          3          0         0.35 USD            3500   350     200         0.000  0
secret          1          1         -                   5      5       0           0.000  0
total           5          1         0.5 EUR + 0.35 USD  3515   356     200         1.250  1
`},
	} {
		got := mustCmd(t, dir, tc.args...)
		if norm(got) != norm(tc.want) {
			t.Errorf("crstel %s:\n%s\nwant:\n%s", strings.Join(tc.args, " "), got, tc.want)
		}
	}

	var out struct {
		By     string
		Groups []costGroup
		Total  costGroup
	}
	if err := json.Unmarshal([]byte(mustCmd(t, dir, "trace", "costs", "--by", "category", "--json")), &out); err != nil {
		t.Fatal(err)
	}
	if out.By != "category" || len(out.Groups) != 3 || out.Groups[0].Key != "building" || out.Groups[0].CPUSeconds != 1.25 ||
		out.Groups[2].Key != "patch_generation" || out.Groups[2].Amounts["USD"] != 0.3 || out.Groups[2].Amounts["EUR"] != 0.5 ||
		out.Total.LLMCalls != 5 || out.Total.Amounts["USD"] != 0.35 || out.Total.MemoryByteSec != 1000 {
		t.Errorf("--by category --json = %+v", out)
	}

	if _, errOut, code := cmd(t, dir, "trace", "costs", "--by", "team"); code != exitUsage || !strings.Contains(errOut, `--by "team": want task, category or model`) {
		t.Errorf("--by team: exit %d, stderr %q; want a usage error", code, errOut)
	}
}

// norm lets the columns of a table be as wide as they come out.
func norm(s string) string { return strings.Join(strings.Fields(s), " ") }
