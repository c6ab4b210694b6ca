package crstel

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel/internal/actionref"
	"github.com/crstel/crstel/internal/journal"
	"github.com/crstel/crstel/internal/pricetable"
	"github.com/crstel/crstel/internal/violation"
)

// The roll-up of an action: the sum of the costs of everything inside it
// (LLM calls, subprocesses, the actions inside it in this process and the
// goroutines started from its context), which End writes on the action's
// span when there was any. Only LLM call spans carry
// gen_ai.usage.cost.amount and subprocess spans crstel.process.*: a backend
// that sums those counts each once, and one that sums roll-ups takes the
// actions without an enclosing action (or it counts twice).
const (
	// CostLLMAmountKey is the cost of the priced LLM calls inside the
	// action (double), in CostLLMCurrencyKey.
	CostLLMAmountKey = attribute.Key("crstel.cost.llm.amount")
	// CostLLMCurrencyKey is the ISO 4217 code of CostLLMAmountKey: the
	// currency of the first priced call. Calls priced in another currency
	// are counted in CostLLMOtherCurrencyCallsKey and not added.
	CostLLMCurrencyKey = attribute.Key("crstel.cost.llm.currency")
	// CostLLMCallsKey counts the LLM calls (int), failed ones included.
	CostLLMCallsKey = attribute.Key("crstel.cost.llm.calls")
	// CostLLMUnpricedCallsKey counts the LLM calls without a price (int;
	// see genai's crstel.cost.unpriced): their tokens count, their money
	// does not.
	CostLLMUnpricedCallsKey = attribute.Key("crstel.cost.llm.unpriced_calls")
	// CostLLMOtherCurrencyCallsKey counts the LLM calls priced in a
	// currency other than CostLLMCurrencyKey (int), whose amounts are left
	// out of CostLLMAmountKey.
	CostLLMOtherCurrencyCallsKey = attribute.Key("crstel.cost.llm.other_currency_calls")
	// CostLLMInputTokensKey counts the input tokens (int), cache reads and
	// writes included, as gen_ai.usage.input_tokens does.
	CostLLMInputTokensKey = attribute.Key("crstel.cost.llm.input_tokens")
	// CostLLMOutputTokensKey counts the output tokens (int).
	CostLLMOutputTokensKey = attribute.Key("crstel.cost.llm.output_tokens")
	// CostLLMCacheReadTokensKey counts the input tokens read from the
	// provider's cache (int).
	CostLLMCacheReadTokensKey = attribute.Key("crstel.cost.llm.cache_read_tokens")
	// CostLLMCacheWriteTokensKey counts the input tokens written to the
	// provider's cache (int).
	CostLLMCacheWriteTokensKey = attribute.Key("crstel.cost.llm.cache_write_tokens")
	// CostCPUSecondsKey is the user and system CPU time of the
	// subprocesses, in seconds (double).
	CostCPUSecondsKey = attribute.Key("crstel.cost.cpu.seconds")
	// CostMemoryByteSecondsKey is the memory the subprocesses held: the
	// sum of each one's peak resident memory in bytes times its wall time
	// in seconds (int, byte-seconds, each subprocess's rounded). A build
	// that peaks at 2 GiB for 30 s is 64.4e9.
	CostMemoryByteSecondsKey = attribute.Key("crstel.cost.memory.byte_seconds")
	// CostSubprocessesKey counts the subprocesses (int).
	CostSubprocessesKey = attribute.Key("crstel.cost.subprocesses")
)

// Cost is what an action used: the running sum of the costs inside it;
// see [CostOf].
type Cost struct {
	// LLMAmount is the cost of the priced LLM calls, in LLMCurrency (the
	// currency of the first priced call; "" if none was). Amounts are added
	// in units of 1e-9 of the currency, exactly.
	LLMAmount   float64
	LLMCurrency string
	// LLMCalls counts the LLM calls; LLMUnpricedCalls those of them
	// without a price, LLMOtherCurrencyCalls those priced in another
	// currency than LLMCurrency (left out of LLMAmount).
	LLMCalls, LLMUnpricedCalls, LLMOtherCurrencyCalls int64
	// Tokens of the LLM calls: input (cache reads and writes included),
	// output, read from and written to the provider's cache.
	InputTokens, OutputTokens, CacheReadTokens, CacheWriteTokens int64
	// CPUSeconds is the user and system CPU time of the subprocesses.
	CPUSeconds float64
	// MemoryByteSeconds is the sum over the subprocesses of peak resident
	// memory in bytes times wall time in seconds.
	MemoryByteSeconds int64
	// Subprocesses counts the subprocesses.
	Subprocesses int64
}

// CostOf returns the running costs of the innermost action of ctx, and of
// its task: the outermost action enclosing it, in this process, with the
// same task.id (the action itself if none encloses it). Both count what
// ended inside them so far: LLM calls that returned, subprocesses that
// exited. Outside an action both are zero.
func CostOf(ctx context.Context) (action, task Cost) {
	if ctx == nil {
		return Cost{}, Cost{}
	}
	a := actionFrom(ctx)
	if a == nil {
		return Cost{}, Cost{}
	}
	id, _ := a.taskID()
	t := a
	for p := a.parent; p != nil; p = p.parent {
		if pid, _ := p.taskID(); pid == id {
			t = p
		}
	}
	return a.cost.Load().snapshot(), t.cost.Load().snapshot()
}

// taskID returns the action's task.id.
func (a *actionCtx) taskID() (string, bool) {
	if a.task == nil {
		return "", false
	}
	return a.task.value("task.id")
}

// CostBudget is a cost budget of an action; see [WithCostBudget]. Zero
// fields are no budget.
type CostBudget struct {
	// LLM is the most the LLM calls may cost, in Currency.
	LLM float64
	// Currency is the currency of LLM, an ISO 4217 code such as USD, as
	// the price table's: the action's roll-up (Cost.LLMAmount) is then in
	// it, and calls priced in another currency are counted apart
	// (Cost.LLMOtherCurrencyCalls), not against the budget. The default
	// "" is the currency of the action's first priced call. A currency
	// that is not such a code is left out, and reported as invalid input.
	Currency string
	// CPUSeconds is the most CPU time, user and system, the subprocesses
	// may use.
	CPUSeconds float64
}

// WithCostBudget gives the action a cost budget: the moment the costs
// inside it (see [CostOf]) cross b's LLM amount or CPU seconds, the
// watchdog of [Setup] reports it as [OverBudget], once for each, as it
// reports an overdue action (a report span, a log record, a journal
// record, and the callback of [WithOnReport], which may cancel the work).
// The report is made on the goroutine whose LLM call or subprocess crossed
// the budget, before that call or [subprocess.Run] returns. The action
// goes on: the budget reports, it does not stop. The default is no
// budget; without Setup's pipeline nothing reports, and the roll-up still
// adds up.
//
// [subprocess.Run]: https://pkg.go.dev/github.com/crstel/crstel/subprocess#Run
func WithCostBudget(b CostBudget) ActionOption {
	return actionOptionFunc(func(c *actionConfig) { c.costBudget = b })
}

// accumulator returns the roll-up of an action with budget b, nil if b
// has none; its LLM amount in b's currency, if b names one (an error if
// the name is not a currency code, which is then left out).
func (b CostBudget) accumulator() (*costAcc, error) {
	if !(b.LLM > 0 || b.CPUSeconds > 0) { // NaN is no budget too
		return nil, nil
	}
	acc := &costAcc{llmBudget: budgetUnits(b.LLM, nano), cpuBudget: budgetUnits(b.CPUSeconds, 1e9)}
	switch {
	case b.Currency == "" || !(b.LLM > 0):
	case pricetable.ValidCurrency(b.Currency):
		currency := b.Currency
		acc.currency.Store(&currency)
	default:
		return acc, fmt.Errorf("WithCostBudget: currency %s is not an ISO 4217 code such as USD; "+
			"the LLM budget is in the currency of the first priced call", violation.Quote(b.Currency))
	}
	return acc, nil
}

// budgetUnits returns v in units of 1/scale, 0 (none) if v is not
// positive or NaN, at most math.MaxInt64.
func budgetUnits(v, scale float64) int64 {
	switch u := v * scale; {
	case !(u > 0):
		return 0
	case u >= math.MaxInt64:
		return math.MaxInt64
	default:
		return int64(math.Round(u))
	}
}

// nano is the unit of amounts: 1e-9 of the currency.
const nano = 1e9

// costAcc is an action's running roll-up: atomic counters, added to by
// each cost event inside the action (one atomic add a field that
// changes, for the action and each action enclosing it), made on the
// first event, or at the start for an action with a budget.
type costAcc struct {
	currency atomic.Pointer[string] // of the first priced call
	amount   atomic.Int64           // nano-units of currency
	calls, unpriced, other,
	input, output, cacheRead, cacheWrite atomic.Int64
	cpu          atomic.Int64 // nanoseconds
	memory       atomic.Int64 // byte-seconds
	subprocesses atomic.Int64

	// The budget, set before the accumulator is shared; 0: none.
	llmBudget int64 // nano-units
	cpuBudget int64 // nanoseconds
}

// costs returns a's accumulator, making it if it has none.
func (a *actionCtx) costs() *costAcc {
	if c := a.cost.Load(); c != nil {
		return c
	}
	c := new(costAcc)
	if a.cost.CompareAndSwap(nil, c) {
		return c
	}
	return a.cost.Load()
}

// AddCost adds the cost of one LLM call or subprocess, whose span is span,
// to the action and to every action enclosing it in this process, reports
// each of them it puts over its budget, counts it in the cost metrics and
// journals it.
func (a *actionCtx) AddCost(span trace.Span, c actionref.Cost) {
	var amount, memory int64
	if c.Priced {
		amount = int64(math.Round(c.Amount * nano))
		if c.Currency == "" {
			c.Currency = "USD"
		}
	}
	if c.MaxRSS > 0 && c.Wall > 0 {
		memory = int64(math.Round(float64(c.MaxRSS) * c.Wall.Seconds()))
	}
	for x := a; x != nil; x = x.parent {
		x.costs().add(x, &c, amount, memory)
	}
	recordCostMetrics(a.category, &c)
	if p := a.tc.pipeline; p != nil {
		p.Cost(journal.Event{
			Span: span.SpanContext(), Parent: parentOf(span),
			Category: a.category, Name: a.name, Metadata: a.Metadata(),
			Cost: journalCost(&c, amount, memory),
		})
	}
}

// parentOf returns the id of the parent of span, as the SDK records it.
func parentOf(span trace.Span) trace.SpanID {
	if s, ok := span.(interface{ Parent() trace.SpanContext }); ok {
		return s.Parent().SpanID()
	}
	if s, ok := span.(*actionCtx); ok {
		return s.ParentSpanID()
	}
	return trace.SpanID{}
}

// journalCost returns the journal's record of one cost event.
func journalCost(c *actionref.Cost, amount, memory int64) *journal.Cost {
	jc := &journal.Cost{
		Model: c.Model, LLMCalls: c.LLMCalls,
		InputTokens: c.InputTokens, OutputTokens: c.OutputTokens,
		CacheReadTokens: c.CacheReadTokens, CacheWriteTokens: c.CacheWriteTokens,
		CPUSeconds: c.CPU.Seconds(), MemoryByteSeconds: memory, Subprocesses: c.Subprocesses,
	}
	switch {
	case c.Priced:
		jc.LLMAmount, jc.LLMCurrency = float64(amount)/nano, c.Currency
	case c.Unpriced:
		jc.LLMUnpricedCalls = max(c.LLMCalls, 1)
	}
	return jc
}

// add adds one cost event to acc, the accumulator of x, and reports x if
// it crosses x's budget.
func (acc *costAcc) add(x *actionCtx, c *actionref.Cost, amount, memory int64) {
	addIf(&acc.calls, c.LLMCalls)
	addIf(&acc.input, c.InputTokens)
	addIf(&acc.output, c.OutputTokens)
	addIf(&acc.cacheRead, c.CacheReadTokens)
	addIf(&acc.cacheWrite, c.CacheWriteTokens)
	addIf(&acc.memory, memory)
	addIf(&acc.subprocesses, c.Subprocesses)
	if c.Unpriced {
		acc.unpriced.Add(max(c.LLMCalls, 1))
	}
	if c.Priced {
		cur := acc.currency.Load()
		if cur == nil {
			first := c.Currency // its own copy: c stays on the caller's stack
			acc.currency.CompareAndSwap(nil, &first)
			cur = acc.currency.Load()
		}
		if *cur != c.Currency {
			acc.other.Add(max(c.LLMCalls, 1))
		} else if amount != 0 {
			n := acc.amount.Add(amount)
			if b := acc.llmBudget; b > 0 && n > b && n-amount <= b {
				x.overBudget(fmt.Sprintf("LLM cost %s %s, past its budget of %s %s",
					formatAmount(n), *cur, formatAmount(b), *cur))
			}
		}
	}
	if ns := int64(c.CPU); ns != 0 {
		n := acc.cpu.Add(ns)
		if b := acc.cpuBudget; b > 0 && n > b && n-ns <= b {
			x.overBudget(fmt.Sprintf("CPU time %ss, past its budget of %ss",
				strconv.FormatFloat(time.Duration(n).Seconds(), 'f', -1, 64),
				strconv.FormatFloat(time.Duration(b).Seconds(), 'f', -1, 64)))
		}
	}
}

// formatAmount formats nano-units as a decimal amount, with at least two
// decimals: "2.04", "0.000125".
func formatAmount(n int64) string {
	s := strconv.FormatFloat(float64(n)/nano, 'f', -1, 64)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '.' {
			if len(s)-i == 2 {
				s += "0"
			}
			return s
		}
	}
	return s + ".00"
}

func addIf(n *atomic.Int64, d int64) {
	if d != 0 {
		n.Add(d)
	}
}

// overBudget has the pipeline's watchdog report the action as over
// budget; without a pipeline nothing reports.
func (a *actionCtx) overBudget(why string) {
	if a.w != nil {
		a.w.p.OverBudget(&a.w.Action, why)
	}
}

// snapshot returns the totals of acc; zero for a nil acc.
func (acc *costAcc) snapshot() Cost {
	if acc == nil {
		return Cost{}
	}
	c := Cost{
		LLMAmount: float64(acc.amount.Load()) / nano,
		LLMCalls:  acc.calls.Load(), LLMUnpricedCalls: acc.unpriced.Load(), LLMOtherCurrencyCalls: acc.other.Load(),
		InputTokens: acc.input.Load(), OutputTokens: acc.output.Load(),
		CacheReadTokens: acc.cacheRead.Load(), CacheWriteTokens: acc.cacheWrite.Load(),
		CPUSeconds:        time.Duration(acc.cpu.Load()).Seconds(),
		MemoryByteSeconds: acc.memory.Load(),
		Subprocesses:      acc.subprocesses.Load(),
	}
	if cur := acc.currency.Load(); cur != nil {
		c.LLMCurrency = *cur
	}
	return c
}

// attributes returns the roll-up attributes of c: those of the LLM calls
// if there were any, those of the subprocesses if there were any.
func (c Cost) attributes() []attribute.KeyValue {
	var kvs []attribute.KeyValue
	if c.LLMCalls > 0 {
		kvs = make([]attribute.KeyValue, 0, 12)
		kvs = append(kvs, CostLLMCallsKey.Int64(c.LLMCalls))
		if c.LLMCurrency != "" {
			kvs = append(kvs, CostLLMAmountKey.Float64(c.LLMAmount), CostLLMCurrencyKey.String(c.LLMCurrency))
		}
		for _, f := range []struct {
			k attribute.Key
			n int64
		}{{CostLLMUnpricedCallsKey, c.LLMUnpricedCalls}, {CostLLMOtherCurrencyCallsKey, c.LLMOtherCurrencyCalls},
			{CostLLMInputTokensKey, c.InputTokens}, {CostLLMOutputTokensKey, c.OutputTokens},
			{CostLLMCacheReadTokensKey, c.CacheReadTokens}, {CostLLMCacheWriteTokensKey, c.CacheWriteTokens}} {
			if f.n != 0 {
				kvs = append(kvs, f.k.Int64(f.n))
			}
		}
	}
	if c.Subprocesses > 0 {
		kvs = append(kvs, CostSubprocessesKey.Int64(c.Subprocesses),
			CostCPUSecondsKey.Float64(c.CPUSeconds), CostMemoryByteSecondsKey.Int64(c.MemoryByteSeconds))
	}
	return kvs
}

// RollUp returns the action's roll-up for the journal's record of its
// end; nil if nothing inside it cost anything.
func (a *actionCtx) RollUp() *journal.Cost {
	acc := a.cost.Load()
	if acc == nil || acc.empty() {
		return nil
	}
	c := acc.snapshot()
	return &journal.Cost{
		LLMAmount: c.LLMAmount, LLMCurrency: c.LLMCurrency,
		LLMCalls: c.LLMCalls, LLMUnpricedCalls: c.LLMUnpricedCalls, LLMOtherCurrencyCalls: c.LLMOtherCurrencyCalls,
		InputTokens: c.InputTokens, OutputTokens: c.OutputTokens,
		CacheReadTokens: c.CacheReadTokens, CacheWriteTokens: c.CacheWriteTokens,
		CPUSeconds: c.CPUSeconds, MemoryByteSeconds: c.MemoryByteSeconds, Subprocesses: c.Subprocesses,
	}
}

// empty reports whether no cost event reached acc (it was made for a
// budget).
func (acc *costAcc) empty() bool { return acc.calls.Load() == 0 && acc.subprocesses.Load() == 0 }

// writeRollUp sets the action's roll-up on its span, at End.
func (a *actionCtx) writeRollUp() {
	acc := a.cost.Load()
	if acc == nil || acc.empty() {
		return
	}
	a.Span.SetAttributes(acc.snapshot().attributes()...)
}
