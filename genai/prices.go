package genai

import (
	_ "embed"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"

	"github.com/crstel/crstel/internal/actionref"
	"github.com/crstel/crstel/internal/pricetable"
)

// Price is the list price of one model family, per million tokens. (It has
// the fields of the parser's entry, in the same order: a conversion makes
// one the other, and does not compile if they drift apart.)
type Price struct {
	// Model is the family: it prices the model of that name, and its
	// versions, the name followed by a date ("gpt-4o-2024-08-06",
	// "claude-sonnet-4-5-20250929") or "-latest". Another family is
	// another entry: "gpt-4o" does not price "gpt-4o-mini".
	Model string `json:"model"`
	// Input is the price of input tokens that are neither read from nor
	// written to a prompt cache.
	Input float64 `json:"input"`
	// Output is the price of output tokens, reasoning tokens included.
	Output float64 `json:"output"`
	// CacheRead is the price of input tokens read from the prompt cache
	// (OpenAI's cached tokens, Anthropic's cache hits). A file that
	// leaves it out prices them as Input.
	CacheRead float64 `json:"cache_read"`
	// CacheWrite is the price of input tokens written to the prompt cache
	// (Anthropic's 5-minute cache writes). A file that leaves it out
	// prices them as Input.
	CacheWrite float64 `json:"cache_write"`
	// Currency is the ISO 4217 code of the prices, such as "USD".
	Currency string `json:"currency"`
	// Source and AsOf say where the price was read, and when.
	Source string `json:"source,omitempty"`
	AsOf   string `json:"as_of,omitempty"`
}

// Cost returns the price of a call's usage: the uncached input tokens at
// Input, those read from the cache at CacheRead, those written to it at
// CacheWrite, and the output tokens at Output. InputTokens counts the
// cached tokens in, as gen_ai.usage.input_tokens does.
func (p Price) Cost(r Response) float64 {
	uncached := max(r.InputTokens-r.CacheReadInputTokens-r.CacheCreationInputTokens, 0)
	return (float64(uncached)*p.Input + float64(r.CacheReadInputTokens)*p.CacheRead +
		float64(r.CacheCreationInputTokens)*p.CacheWrite + float64(r.OutputTokens)*p.Output) / 1e6
}

// Prices is a price table: what [Start] and [NewTransport] price each
// call's tokens with. It is immutable; [SetPrices] swaps the table in use.
type Prices struct {
	version string
	// byLen holds the entries, longest Model first, so that the first
	// family that matches a model is its own.
	byLen []Price
	// warned holds the models without a price that were reported, up to
	// maxWarned of them.
	warned sync.Map
	nWarn  atomic.Int32
}

// maxWarned bounds the models without a price that a table reports, one
// report each: a client sending a new model name on every call must not
// grow memory.
const maxWarned = 1000

// ParsePrices reads a price table in JSON:
//
//	{
//	  "version": "team-prices-2026-12",
//	  "currency": "USD",
//	  "models": [
//	    {"model": "gpt-4o", "input": 2.5, "cache_read": 1.25, "output": 10},
//	    {"model": "claude-sonnet-4-5", "input": 3, "cache_read": 0.3, "cache_write": 3.75, "output": 15,
//	     "source": "https://platform.claude.com/docs/en/about-claude/pricing", "as_of": "2026-10"}
//	  ]
//	}
//
// Prices are per million tokens, zero or more; each entry's currency, or
// the table's, is an ISO 4217 code. A model may appear once. Unknown
// fields are errors, so that a misspelled price is not silently zero.
// Errors name the entry (its index and model) and the field.
func ParsePrices(data []byte) (*Prices, error) {
	t, err := pricetable.Parse(data)
	if err != nil {
		return nil, err
	}
	return fromTable(t), nil
}

// LoadPrices reads the price table file path (see [ParsePrices]). Errors
// name the file.
func LoadPrices(path string) (*Prices, error) {
	t, err := pricetable.Load(path)
	if err != nil {
		return nil, err
	}
	return fromTable(t), nil
}

func fromTable(t *pricetable.Table) *Prices {
	p := &Prices{version: t.Version, byLen: make([]Price, len(t.Entries))}
	for i, e := range t.Entries {
		p.byLen[i] = Price(e)
	}
	return p
}

// Version returns the table's name, recorded on each call it priced
// ([CostPricesVersionKey]).
func (p *Prices) Version() string { return p.version }

// Models returns the table's entries, longest family name first.
func (p *Prices) Models() []Price { return slices.Clone(p.byLen) }

// Lookup returns the price of model: the entry of its family, matched
// without regard to case and to a provider prefix ("openai/gpt-4o").
func (p *Prices) Lookup(model string) (Price, bool) {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:]
	}
	for _, pr := range p.byLen {
		if rest, ok := strings.CutPrefix(m, pr.Model); ok && (rest == "" || isVersion(rest)) {
			return pr, true
		}
	}
	return Price{}, false
}

// isVersion reports whether s, what follows a family's name in a model
// name, is a version of it: "-2024-08-06", "-20250929" or "-latest".
func isVersion(s string) bool {
	s, ok := strings.CutPrefix(s, "-")
	if !ok {
		return false
	}
	if s == "latest" {
		return true
	}
	digits := func(s string) bool {
		return s != "" && strings.Trim(s, "0123456789") == ""
	}
	if len(s) == 8 && digits(s) { // 20250929
		return true
	}
	// 2024-08-06
	parts := strings.Split(s, "-")
	return len(parts) == 3 && len(parts[0]) == 4 && len(parts[1]) == 2 && len(parts[2]) == 2 &&
		digits(parts[0]) && digits(parts[1]) && digits(parts[2])
}

// firstWarning reports whether model's missing price has not been
// reported yet, and notes it.
func (p *Prices) firstWarning(model string) bool {
	if p.nWarn.Load() >= maxWarned {
		return false
	}
	if _, loaded := p.warned.LoadOrStore(model, struct{}{}); loaded {
		return false
	}
	p.nWarn.Add(1)
	return true
}

//go:embed prices.json
var defaultPricesJSON []byte

var defaultPrices = sync.OnceValue(func() *Prices {
	p, err := ParsePrices(defaultPricesJSON)
	if err != nil {
		panic("genai: the embedded prices.json: " + err.Error()) // TestDefaultPrices
	}
	return p
})

// DefaultPrices returns crstel's snapshot of the public list prices of
// common OpenAI and Anthropic models, embedded from prices.json, which
// gives each price's source and date. Prices change: load your own with
// [LoadPrices] (CRSTEL_LLM_PRICES for Setup) to be current.
func DefaultPrices() *Prices { return defaultPrices() }

var current atomic.Pointer[Prices]

// SetPrices makes p the price table of every call that no [WithPrices]
// option prices, at once: calls that end after it use p. nil restores
// [DefaultPrices]. crstel.Setup calls it with the file of
// CRSTEL_LLM_PRICES.
func SetPrices(p *Prices) { current.Store(p) }

// CurrentPrices returns the price table set by [SetPrices], or
// [DefaultPrices].
func CurrentPrices() *Prices {
	if p := current.Load(); p != nil {
		return p
	}
	return DefaultPrices()
}

// WithPrices prices the calls with p instead of the table of
// [SetPrices]. nil is ignored.
func WithPrices(p *Prices) Option {
	return optionFunc(func(c *config) {
		if p != nil {
			c.prices = p
		}
	})
}

// Cost is an amount of money.
type Cost struct {
	Amount float64
	// Currency is an ISO 4217 code; empty means USD.
	Currency string
}

// cost appends to kvs the cost of the call with response r: the
// provider's, or its tokens priced with the call's price table, or the
// unpriced marker with one report per model that has no price. It fills
// in the amount of ev, the call's cost event, when it is priced.
func (c *Call) cost(kvs []attribute.KeyValue, r Response, ev *actionref.Cost) []attribute.KeyValue {
	if pc := r.ProviderCost; pc != nil && pc.Amount >= 0 && !math.IsInf(pc.Amount, 0) && !math.IsNaN(pc.Amount) {
		ev.Priced, ev.Amount, ev.Currency = true, pc.Amount, cmpOr(pc.Currency, "USD")
		return append(kvs, CostAmountKey.Float64(pc.Amount), CostCurrencyKey.String(ev.Currency),
			CostSourceKey.String(CostSourceProvider))
	}
	if r.InputTokens == 0 && r.OutputTokens == 0 {
		return kvs // nothing was used, or nothing said so
	}
	prices := c.cfg.prices
	if prices == nil {
		prices = CurrentPrices()
	}
	model := cmpOr(r.Model, c.req.Model)
	pr, ok := prices.Lookup(model)
	if !ok {
		if prices.firstWarning(model) {
			otel.Handle(fmt.Errorf("genai: no price for model %q in the price table %q: its calls are marked %s, without an amount; add the model to a price table (CRSTEL_LLM_PRICES)",
				model, prices.version, CostUnpricedKey))
		}
		ev.Unpriced = true
		return append(kvs, CostUnpricedKey.Bool(true), CostPricesVersionKey.String(prices.version))
	}
	ev.Priced, ev.Amount, ev.Currency = true, pr.Cost(r), cmpOr(pr.Currency, "USD")
	return append(kvs, CostAmountKey.Float64(ev.Amount), CostCurrencyKey.String(pr.Currency),
		CostSourceKey.String(CostSourceLocal), CostPricesVersionKey.String(prices.version))
}

// The cost of an LLM call, on its span only (not on the enclosing
// action's, so that a backend summing them counts each call once): the
// attributes of the GenAI semantic conventions' proposal (PR #443), which
// no semconv release has yet, and crstel's own.
const (
	// CostAmountKey is the call's cost, a double, in CostCurrencyKey.
	CostAmountKey = attribute.Key("gen_ai.usage.cost.amount")
	// CostCurrencyKey is the ISO 4217 code of CostAmountKey.
	CostCurrencyKey = attribute.Key("gen_ai.usage.cost.currency")
	// CostSourceKey says who computed CostAmountKey: CostSourceProvider
	// or CostSourceLocal.
	CostSourceKey = attribute.Key("gen_ai.usage.cost.source")
	// CostPricesVersionKey is the Version of the price table the call
	// was priced with, or found no price in.
	CostPricesVersionKey = attribute.Key("crstel.cost.prices_version")
	// CostUnpricedKey is true on a call whose model has no price in the
	// table: it has no CostAmountKey, rather than a cost of 0.
	CostUnpricedKey = attribute.Key("crstel.cost.unpriced")
)

// The values of CostSourceKey.
const (
	// CostSourceProvider: the provider reported the cost in its response.
	CostSourceProvider = "provider"
	// CostSourceLocal: crstel priced the tokens with its price table.
	CostSourceLocal = "local"
)

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
