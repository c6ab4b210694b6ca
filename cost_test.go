package crstel_test

import (
	"context"
	"errors"
	"math"
	"os/exec"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crs/conform"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/genai"
	"github.com/crstel/crstel/internal/journal"
	"github.com/crstel/crstel/subprocess"
)

// costPrices prices "coder" at 3 (input), 0.3 (cache reads), 3.75 (cache
// writes) and 15 (output) USD per million tokens.
func costPrices(t *testing.T) *genai.Prices {
	t.Helper()
	p, err := genai.ParsePrices([]byte(`{"version": "test-1", "currency": "USD", "models": [
		{"model": "coder", "input": 3, "cache_read": 0.3, "cache_write": 3.75, "output": 15}]}`))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// llmCall makes one LLM call inside ctx that ends with resp.
func llmCall(ctx context.Context, p *genai.Prices, model string, resp genai.Response) {
	_, call := genai.Start(ctx, genai.Request{Provider: genai.ProviderOpenAI, Model: model}, genai.WithPrices(p))
	call.End(resp, nil)
}

// nanos returns seconds as whole nanoseconds, as crstel adds them up.
func nanos(s float64) int64 { return int64(math.Round(s * 1e9)) }

// TestCostRollUp: an action's roll-up is the exact sum of the LLM calls
// and the subprocess inside it, through a nested action and a goroutine;
// the calls in another currency and without a price are counted apart;
// only the calls carry gen_ai.usage.cost.*, only the actions crstel.cost.*;
// CostOf gives the innermost action's and the task's running totals; the
// journal has a cost record for each call and subprocess.
func TestCostRollUp(t *testing.T) {
	w := setupWatched(t)
	p := costPrices(t)
	ctx := crstel.WithTask(context.Background(), task1)
	tctx, task := crstel.Action(ctx, crs.PatchGeneration, "solve_task", nil)
	ictx, inner := crstel.Action(tctx, crs.PatchGeneration, "generate_patch", nil)

	// 1000 in (200 cache reads, 100 cache writes), 500 out:
	// 700*3 + 200*0.3 + 100*3.75 + 500*15 = 10,035 µUSD.
	llmCall(ictx, p, "coder", genai.Response{InputTokens: 1000, CacheReadInputTokens: 200, CacheCreationInputTokens: 100, OutputTokens: 500})
	// 2000 in, 10 out: 6,150 µUSD.
	llmCall(ictx, p, "coder", genai.Response{InputTokens: 2000, OutputTokens: 10})
	// Unpriced: its tokens count, its money does not.
	llmCall(ictx, p, "secret-model", genai.Response{InputTokens: 7, OutputTokens: 3})
	// Failed, without usage: a call, neither priced nor unpriced.
	_, failed := genai.Start(ictx, genai.Request{Provider: genai.ProviderOpenAI, Model: "coder"}, genai.WithPrices(p))
	failed.End(genai.Response{}, errors.New("HTTP 429"))
	// dd's buffer makes a peak of 64 MiB, more than this process's (which
	// the child's would include otherwise; see subprocess.MaxRSSKey).
	if err := subprocess.Run(ictx, crs.Building, "compile_patch", exec.Command("dd", "if=/dev/zero", "of=/dev/null", "bs=256M", "count=1", "status=none")); err != nil {
		t.Fatal(err)
	}
	action, taskCost := crstel.CostOf(ictx)
	var wg sync.WaitGroup
	wg.Go(func() {
		// A goroutine of the task, outside the inner action: 100 in: 300 µUSD.
		llmCall(tctx, p, "coder", genai.Response{InputTokens: 100})
		// Priced by the provider in EUR: counted apart.
		llmCall(tctx, p, "coder", genai.Response{InputTokens: 5, ProviderCost: &genai.Cost{Amount: 1, Currency: "EUR"}})
	})
	wg.Wait()
	_, taskAfter := crstel.CostOf(ictx)
	inner.End()
	task.End()

	if action.LLMCalls != 4 || action.LLMUnpricedCalls != 1 || action.Subprocesses != 1 || math.Abs(action.LLMAmount-0.016185) > 1e-12 || action.LLMCurrency != "USD" {
		t.Errorf("CostOf(inner) = %+v, want 4 calls (1 unpriced), 1 subprocess, 0.016185 USD", action)
	}
	if taskCost != action {
		t.Errorf("CostOf(inner)'s task before the goroutine = %+v, want the inner action's %+v", taskCost, action)
	}
	if taskAfter.LLMCalls != 6 || math.Abs(taskAfter.LLMAmount-0.016485) > 1e-12 || taskAfter.LLMOtherCurrencyCalls != 1 {
		t.Errorf("CostOf(inner)'s task after the goroutine = %+v, want 6 calls, 0.016485 USD, 1 in another currency", taskAfter)
	}

	spans := w.spans(t)
	sub := stubNamed(spans, "compile_patch")
	user, sys := stubAttr(sub, subprocess.UserCPUKey).AsFloat64(), stubAttr(sub, subprocess.SystemCPUKey).AsFloat64()
	rss, wall := stubAttr(sub, subprocess.MaxRSSKey).AsInt64(), stubAttr(sub, subprocess.WallTimeKey).AsFloat64()
	if wall <= 0 {
		t.Fatalf("the subprocess has wall time %v", wall)
	}
	if rss <= 0 {
		// max_rss is recorded only past this process's own peak (see
		// subprocess.MaxRSSKey), which a test binary under -race among
		// many tests can pass 256 MiB; the roll-up must then count no
		// memory, which the checks below compare exactly too.
		t.Logf("the subprocess's peak was not past this process's: no max_rss, no memory-seconds")
	}
	cpu, mem := nanos(user)+nanos(sys), int64(math.Round(float64(rss)*wall))

	for _, tc := range []struct {
		name                        string
		calls, unpriced, other      int64
		amount                      float64
		in, out, cacheRead, cacheWr int64
	}{
		{"generate_patch", 4, 1, 0, 0.016185, 3007, 513, 200, 100},
		{"solve_task", 6, 1, 1, 0.016485, 3112, 513, 200, 100},
	} {
		s := stubNamed(spans, tc.name)
		got := map[attribute.Key]attribute.Value{}
		for _, kv := range s.Attributes {
			got[kv.Key] = kv.Value
		}
		want := map[attribute.Key]attribute.Value{
			crstel.CostLLMCallsKey:              attribute.Int64Value(tc.calls),
			crstel.CostLLMUnpricedCallsKey:      attribute.Int64Value(tc.unpriced),
			crstel.CostLLMCurrencyKey:           attribute.StringValue("USD"),
			crstel.CostLLMInputTokensKey:        attribute.Int64Value(tc.in),
			crstel.CostLLMOutputTokensKey:       attribute.Int64Value(tc.out),
			crstel.CostLLMCacheReadTokensKey:    attribute.Int64Value(tc.cacheRead),
			crstel.CostLLMCacheWriteTokensKey:   attribute.Int64Value(tc.cacheWr),
			crstel.CostSubprocessesKey:          attribute.Int64Value(1),
			crstel.CostMemoryByteSecondsKey:     attribute.Int64Value(mem),
			crstel.CostLLMOtherCurrencyCallsKey: attribute.Int64Value(tc.other),
		}
		if tc.other == 0 {
			delete(want, crstel.CostLLMOtherCurrencyCallsKey)
			if _, ok := got[crstel.CostLLMOtherCurrencyCallsKey]; ok {
				t.Errorf("%s: %s set, want it absent", tc.name, crstel.CostLLMOtherCurrencyCallsKey)
			}
		}
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: %s = %s (%s), want %s (%s)", tc.name, k, got[k].String(), got[k].Type(), v.String(), v.Type())
			}
		}
		if a := got[crstel.CostLLMAmountKey]; a.Type() != attribute.FLOAT64 || math.Abs(a.AsFloat64()-tc.amount) > 1e-12 {
			t.Errorf("%s: %s = %s (%s), want %v (float64)", tc.name, crstel.CostLLMAmountKey, a.String(), a.Type(), tc.amount)
		}
		if c := got[crstel.CostCPUSecondsKey]; c.Type() != attribute.FLOAT64 || nanos(c.AsFloat64()) != cpu {
			t.Errorf("%s: %s = %s (%s), want %d ns (user %v + system %v s)", tc.name, crstel.CostCPUSecondsKey, c.String(), c.Type(), cpu, user, sys)
		}
		if _, ok := got[genai.CostAmountKey]; ok {
			t.Errorf("%s: the action carries %s, which only LLM calls may", tc.name, genai.CostAmountKey)
		}
	}
	for _, s := range spans {
		if s.InstrumentationScope.Name != genai.ScopeName {
			continue
		}
		for _, kv := range s.Attributes {
			if kv.Key == crstel.CostLLMAmountKey || kv.Key == crstel.CostLLMCallsKey {
				t.Errorf("LLM call %s carries the roll-up %s", s.Name, kv.Key)
			}
		}
	}
	crsteltest.AssertConforms(t, spans.Snapshots(), crsteltest.WantMetadata(task1))
	// The rulebook knows the type of every cost attribute recorded.
	types := conform.CostTypes()
	for _, s := range spans {
		for _, kv := range s.Attributes {
			k := string(kv.Key)
			if !strings.HasPrefix(k, "crstel.cost.") && !strings.HasPrefix(k, "gen_ai.usage.") && !strings.HasPrefix(k, "crstel.process.") {
				continue
			}
			if want, ok := types[kv.Key]; !ok || want != kv.Value.Type() {
				t.Errorf("%s: %s is %s; the rulebook's type: %s (known: %v)", s.Name, kv.Key, kv.Value.Type(), want, ok)
			}
		}
	}

	// The metrics: by category, model and currency, never by task.
	var rm metricdata.ResourceMetrics
	if err := w.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	patching, coder := attribute.String("crs.action.category", "patch_generation"), attribute.String("gen_ai.request.model", "coder")
	for _, m := range []struct {
		name string
		kvs  []attribute.KeyValue
		want float64
	}{
		{crstel.MetricCostLLM, []attribute.KeyValue{patching, coder, attribute.String("crstel.cost.currency", "USD")}, 0.016485},
		{crstel.MetricCostLLM, []attribute.KeyValue{attribute.String("crstel.cost.currency", "EUR")}, 1},
		{crstel.MetricCostTokens, []attribute.KeyValue{patching, coder, attribute.String("gen_ai.token.type", "input")}, 3105},
		{crstel.MetricCostTokens, []attribute.KeyValue{attribute.String("gen_ai.request.model", "secret-model")}, 10},
		{crstel.MetricCostTokens, []attribute.KeyValue{attribute.String("gen_ai.token.type", "cache_read")}, 200},
		{crstel.MetricCostCPU, []attribute.KeyValue{attribute.String("crs.action.category", "building")}, float64(cpu) / 1e9},
	} {
		if got := sumOf(rm, m.name, m.kvs...); math.Abs(got-m.want) > 1e-9 {
			t.Errorf("%s%v = %v, want %v", m.name, m.kvs, got, m.want)
		}
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if sum, ok := m.Data.(metricdata.Sum[int64]); ok {
				for _, p := range sum.DataPoints {
					if p.Attributes.HasValue("task.id") {
						t.Errorf("%s has a task.id label", m.Name)
					}
				}
			}
			if sum, ok := m.Data.(metricdata.Sum[float64]); ok {
				for _, p := range sum.DataPoints {
					if p.Attributes.HasValue("task.id") {
						t.Errorf("%s has a task.id label", m.Name)
					}
				}
			}
		}
	}

	if err := w.tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var sum journal.Cost
	n := 0
	for _, r := range w.journal(t) {
		if r.Kind != "cost" || r.Cost == nil {
			continue
		}
		n++
		sum.LLMCalls += r.Cost.LLMCalls
		sum.LLMAmount += r.Cost.LLMAmount * 1e6
		sum.InputTokens += r.Cost.InputTokens
		sum.Subprocesses += r.Cost.Subprocesses
		sum.MemoryByteSeconds += r.Cost.MemoryByteSeconds
	}
	// µUSD, of the four calls in USD; the one in EUR says 1e6.
	if n != 7 || sum.LLMCalls != 6 || math.Round(sum.LLMAmount) != 16485+1e6 || sum.InputTokens != 3112 || sum.Subprocesses != 1 || sum.MemoryByteSeconds != mem {
		t.Errorf("journal: %d cost records, summing %+v; want 7, 6 calls, 16485+1e6 µ, 3112 input tokens, 1 subprocess, %d byte-seconds", n, sum, mem)
	}
}

// TestCostNothingInside: an action inside which nothing cost anything
// carries no roll-up, and CostOf is zero inside it and outside actions.
func TestCostNothingInside(t *testing.T) {
	rec := crsteltest.NewRecorder(t)
	ctx, span := crstel.Action(rec.Context(context.Background()), crs.Testing, "run_tests", nil)
	if a, tk := crstel.CostOf(ctx); a != (crstel.Cost{}) || tk != (crstel.Cost{}) {
		t.Errorf("CostOf = %+v, %+v, want zero", a, tk)
	}
	if a, tk := crstel.CostOf(context.Background()); a != (crstel.Cost{}) || tk != (crstel.Cost{}) {
		t.Errorf("CostOf outside actions = %+v, %+v, want zero", a, tk)
	}
	span.End()
	for kv := range crsteltest.Attrs(rec.Ended()[0]) {
		if len(kv) > len("crstel.cost.") && kv[:len("crstel.cost.")] == "crstel.cost." {
			t.Errorf("an action without costs carries %s", kv)
		}
	}
}

// TestCostConcurrent: cost events from many goroutines at once, in
// nested actions, add up exactly (run with -race), and a budget that they
// cross is reported once.
func TestCostConcurrent(t *testing.T) {
	w := setupWatched(t)
	p := costPrices(t)
	ctx := crstel.WithTask(context.Background(), task1)
	tctx, task := crstel.Action(ctx, crs.PatchGeneration, "solve_task", nil,
		crstel.WithCostBudget(crstel.CostBudget{LLM: 0.01}))
	const workers, calls = 8, 50
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			actx, a := crstel.Action(tctx, crs.PatchGeneration, "generate_patch", nil)
			defer a.End()
			for range calls {
				llmCall(actx, p, "coder", genai.Response{InputTokens: 100, OutputTokens: 1}) // 315 µUSD
			}
		})
	}
	wg.Wait()
	got, _ := crstel.CostOf(tctx)
	task.End()
	if err := w.tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := int64(workers * calls); got.LLMCalls != want || got.InputTokens != 100*want || got.OutputTokens != want {
		t.Errorf("CostOf = %+v, want %d calls, %d input and %d output tokens", got, want, 100*want, want)
	}
	if want := float64(workers*calls) * 315e-6; math.Abs(got.LLMAmount-want) > 1e-12 {
		t.Errorf("LLM amount %v, want %v", got.LLMAmount, want)
	}
	var over []crstel.Report
	for _, r := range w.got() {
		if r.State == crstel.OverBudget {
			over = append(over, r)
		}
	}
	if len(over) != 1 || over[0].Name != "solve_task" {
		t.Errorf("over-budget reports %+v, want one of solve_task", over)
	}
}

// TestCostBudget: the LLM call whose cost crosses the action's budget is
// reported before its End returns, once, as over budget: the callback
// (which cancels the work here), the report span under the action, the
// log record, the journal record and the reports metric. A CPU budget
// crossed by a subprocess is reported the same way, on an enclosing
// action.
func TestCostBudget(t *testing.T) {
	var cancel context.CancelFunc
	var w *watched
	w = setupWatched(t, crstel.WithOnReport(func(r crstel.Report) {
		w.mu.Lock()
		w.reports = append(w.reports, r)
		w.mu.Unlock()
		if r.State == crstel.OverBudget && r.Name == "generate_patch" {
			cancel()
		}
	}))
	p := costPrices(t)
	ctx, cancel := context.WithCancel(crstel.WithTask(context.Background(), task1))
	defer cancel()
	actx, action := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil,
		crstel.WithCostBudget(crstel.CostBudget{LLM: 0.001}))
	calls := 0
	for actx.Err() == nil && calls < 100 {
		llmCall(actx, p, "coder", genai.Response{InputTokens: 100}) // 300 µUSD
		calls++
		if n := len(w.got()); calls < 4 && n != 0 {
			t.Fatalf("after %d calls (%d µUSD) %d reports, want none", calls, 300*calls, n)
		}
	}
	action.End()
	if calls != 4 {
		t.Errorf("the loop made %d calls, want 4: the 4th crosses 1000 µUSD and cancels", calls)
	}
	got := w.got()
	if len(got) != 1 || got[0].State != crstel.OverBudget || got[0].State.String() != "over_budget" ||
		got[0].Reason != "LLM cost 0.0012 USD, past its budget of 0.001 USD" {
		t.Fatalf("reports = %+v, want one over_budget with the cost in its reason", got)
	}

	// A CPU budget on the enclosing action, crossed by a subprocess of a
	// nested one.
	octx, outer := crstel.Action(crstel.WithTask(context.Background(), task1), crs.Building, "build_all", nil,
		crstel.WithCostBudget(crstel.CostBudget{CPUSeconds: 1e-9}))
	bctx, build := crstel.Action(octx, crs.Building, "build_one", nil)
	if err := subprocess.Run(bctx, crs.Building, "compile", exec.Command("sh", "-c", "i=0; while [ $i -lt 30000 ]; do i=$((i+1)); done")); err != nil {
		t.Fatal(err)
	}
	got = w.got()
	if len(got) != 2 || got[1].State != crstel.OverBudget || got[1].Name != "build_all" {
		t.Fatalf("reports after the subprocess = %+v, want a second, over_budget, of build_all", got)
	}
	build.End()
	outer.End()

	spans := w.spans(t)
	rep := stubNamed(spans, "crstel.watchdog over_budget")
	if rep == nil || rep.Parent.SpanID() != action.SpanContext().SpanID() ||
		stubAttr(rep, "crstel.watchdog.state").AsString() != "over_budget" {
		t.Errorf("report span %+v, want one under generate_patch with state over_budget", rep)
	}
	crsteltest.AssertConforms(t, spans.Snapshots(), crsteltest.WantMetadata(task1))
	var rm metricdata.ResourceMetrics
	if err := w.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	if n := sumOf(rm, crstel.MetricWatchdogReports, attribute.String("crstel.watchdog.state", "over_budget")); n != 2 {
		t.Errorf("%s{over_budget} = %v, want 2", crstel.MetricWatchdogReports, n)
	}
	if err := w.tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var kinds []string
	var rollUp *journal.Cost
	for _, r := range w.journal(t) {
		switch {
		case r.Kind == "over_budget":
			kinds = append(kinds, r.Name)
		case r.Kind == "end" && r.Name == "generate_patch":
			rollUp = r.Cost // journaled: it was cancelled
		}
	}
	if rollUp == nil || rollUp.LLMCalls != 4 || math.Abs(rollUp.LLMAmount-0.0012) > 1e-12 || rollUp.LLMCurrency != "USD" || rollUp.InputTokens != 400 {
		t.Errorf("the end record of generate_patch has the roll-up %+v, want 4 calls, 0.0012 USD, 400 input tokens", rollUp)
	}
	if len(kinds) != 2 || kinds[0] != "generate_patch" || kinds[1] != "build_all" {
		t.Errorf("journal over_budget records of %v, want generate_patch and build_all", kinds)
	}
}

// TestCostBudgetCurrency: a budget with a currency counts only the calls
// priced in it, and the action's roll-up is in it even when the first
// call is priced in another; a currency that is not an ISO 4217 code is
// left out, marked and reported, and the budget is in the currency of the
// first priced call.
func TestCostBudgetCurrency(t *testing.T) {
	errs := isolate(t)
	w := setupWatched(t)
	p, err := genai.ParsePrices([]byte(`{"version": "test-2", "currency": "USD", "models": [
		{"model": "coder", "input": 3, "output": 15},
		{"model": "eurocoder", "currency": "EUR", "input": 3, "output": 15}]}`))
	if err != nil {
		t.Fatal(err)
	}
	ctx := crstel.WithTask(context.Background(), task1)
	actx, action := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil,
		crstel.WithCostBudget(crstel.CostBudget{LLM: 0.001, Currency: "EUR"}))
	for range 5 {
		llmCall(actx, p, "coder", genai.Response{InputTokens: 100}) // 300 µUSD: another currency
	}
	if got := w.got(); len(got) != 0 {
		t.Errorf("after 1500 µUSD against a budget of 1000 µEUR: reports %+v, want none", got)
	}
	for range 4 {
		llmCall(actx, p, "eurocoder", genai.Response{InputTokens: 100}) // 300 µEUR
	}
	cost, _ := crstel.CostOf(actx)
	action.End()
	got := w.got()
	if len(got) != 1 || got[0].Reason != "LLM cost 0.0012 EUR, past its budget of 0.001 EUR" {
		t.Errorf("reports = %+v, want one over_budget at 0.0012 EUR", got)
	}
	if cost.LLMCurrency != "EUR" || cost.LLMAmount != 0.0012 || cost.LLMOtherCurrencyCalls != 5 {
		t.Errorf("cost = %s %v, %d calls in another currency; want EUR 0.0012, 5", cost.LLMCurrency, cost.LLMAmount, cost.LLMOtherCurrencyCalls)
	}

	// Not a currency code: marked, reported, and the first call's
	// currency (USD) is the budget's.
	bctx, bad := crstel.Action(ctx, crs.PatchGeneration, "generate_patch_again", nil,
		crstel.WithCostBudget(crstel.CostBudget{LLM: 0.001, Currency: "usd"}))
	for range 4 {
		llmCall(bctx, p, "coder", genai.Response{InputTokens: 100})
	}
	bad.End()
	if got := w.got(); len(got) != 2 || got[1].Reason != "LLM cost 0.0012 USD, past its budget of 0.001 USD" {
		t.Errorf("reports = %+v, want a second, at 0.0012 USD", got)
	}
	s := stubNamed(w.spans(t), "generate_patch_again")
	if marks := stubAttr(s, crstel.InvalidKey).AsStringSlice(); len(marks) != 1 || !strings.Contains(marks[0], `WithCostBudget: currency "usd"`) {
		t.Errorf("%s = %q, want the currency named", crstel.InvalidKey, marks)
	}
	if e := errs.Errors(); len(e) != 1 || !strings.Contains(e[0].Error(), `currency "usd" is not an ISO 4217 code`) {
		t.Errorf("otel.Handle got %v, want the currency named", e)
	}
	if err := w.tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// sumOf returns the sum of the points of the metric name with attribute
// kv (all points if kv is empty), whatever its number type.
func sumOf(rm metricdata.ResourceMetrics, name string, kvs ...attribute.KeyValue) float64 {
	var total float64
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name != name {
				continue
			}
			match := func(set attribute.Set) bool {
				for _, kv := range kvs {
					if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
						return false
					}
				}
				return true
			}
			switch d := m.Data.(type) {
			case metricdata.Sum[int64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						total += float64(p.Value)
					}
				}
			case metricdata.Sum[float64]:
				for _, p := range d.DataPoints {
					if match(p.Attributes) {
						total += p.Value
					}
				}
			}
		}
	}
	return total
}
