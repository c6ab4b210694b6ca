package pricetable

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"strings"
)

// Entry is the price of one model family, per million tokens; genai.Price
// is the same struct.
type Entry struct {
	Model      string  `json:"model"`
	Input      float64 `json:"input"`
	Output     float64 `json:"output"`
	CacheRead  float64 `json:"cache_read"`
	CacheWrite float64 `json:"cache_write"`
	Currency   string  `json:"currency"`
	Source     string  `json:"source,omitempty"`
	AsOf       string  `json:"as_of,omitempty"`
}

// Table is a price table: its version, and its entries longest model name
// first, so that the first family that matches a model is its own.
type Table struct {
	Version string
	Entries []Entry
}

// pricesFile is the JSON form of a price table.
type pricesFile struct {
	// Version names the table; it is recorded on each priced call.
	Version string `json:"version"`
	// Currency is the default of the entries' currency.
	Currency string `json:"currency"`
	// Note says what the prices are (a tier, the units): for people.
	Note   string            `json:"note,omitempty"`
	Models []json.RawMessage `json:"models"`
}

// priceEntry is an Entry as a file gives it: the cache prices may be
// absent.
type priceEntry struct {
	Model      string   `json:"model"`
	Input      *float64 `json:"input"`
	Output     *float64 `json:"output"`
	CacheRead  *float64 `json:"cache_read"`
	CacheWrite *float64 `json:"cache_write"`
	Currency   string   `json:"currency"`
	Source     string   `json:"source"`
	AsOf       string   `json:"as_of"`
}

// parseEntry reads one entry; its errors start with what names it.
func parseEntry(raw json.RawMessage, currency string) (Entry, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var e priceEntry
	if err := dec.Decode(&e); err != nil {
		return Entry{}, fmt.Errorf(": %w", err)
	}
	if e.Model == "" || strings.TrimSpace(e.Model) != e.Model {
		return Entry{}, fmt.Errorf(`: "model" %q must be a model name without spaces around it`, e.Model)
	}
	name := fmt.Sprintf(" %q", e.Model)
	pr := Entry{Model: strings.ToLower(e.Model), Currency: cmpOr(e.Currency, currency), Source: e.Source, AsOf: e.AsOf}
	if !ValidCurrency(pr.Currency) {
		return Entry{}, fmt.Errorf("%s: currency %q is not an ISO 4217 code such as USD (set it on the entry or the table)", name, pr.Currency)
	}
	for _, f := range []struct {
		field string
		v     *float64
		dst   *float64
		def   *float64
	}{
		{"input", e.Input, &pr.Input, nil},
		{"output", e.Output, &pr.Output, nil},
		{"cache_read", e.CacheRead, &pr.CacheRead, &pr.Input},
		{"cache_write", e.CacheWrite, &pr.CacheWrite, &pr.Input},
	} {
		switch {
		case f.v == nil && f.def == nil:
			return Entry{}, fmt.Errorf("%s: %q is missing", name, f.field)
		case f.v == nil:
			*f.dst = *f.def
		case *f.v < 0 || math.IsInf(*f.v, 0) || math.IsNaN(*f.v):
			return Entry{}, fmt.Errorf("%s: %q is %v, want a price of 0 or more per million tokens", name, f.field, *f.v)
		default:
			*f.dst = *f.v
		}
	}
	return pr, nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

var currencyCode = regexp.MustCompile(`^[A-Z]{3}$`)

// ValidCurrency reports whether s has the form of an ISO 4217 currency
// code, three capital letters such as USD, as the entries' currencies
// must.
func ValidCurrency(s string) bool { return currencyCode.MatchString(s) }

// Parse reads a price table in JSON (see genai.ParsePrices). Errors name
// the entry (its index and model) and the field.
func Parse(data []byte) (*Table, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var f pricesFile
	if err := dec.Decode(&f); err != nil {
		return nil, fmt.Errorf("price table: %w", err)
	}
	if f.Version == "" {
		return nil, errors.New(`price table: "version" is missing: name the table, such as "team-prices-2026-12"`)
	}
	if f.Currency != "" && !ValidCurrency(f.Currency) {
		return nil, fmt.Errorf("price table: currency %q is not an ISO 4217 code such as USD", f.Currency)
	}
	if len(f.Models) == 0 {
		return nil, errors.New(`price table: "models" is empty`)
	}
	t := &Table{Version: f.Version}
	for i, raw := range f.Models {
		e, err := parseEntry(raw, f.Currency)
		if err != nil {
			return nil, fmt.Errorf("price table: models[%d]%s", i, err)
		}
		if slices.ContainsFunc(t.Entries, func(q Entry) bool { return q.Model == e.Model }) {
			return nil, fmt.Errorf("price table: models[%d] %q: the model appears twice", i, e.Model)
		}
		t.Entries = append(t.Entries, e)
	}
	slices.SortStableFunc(t.Entries, func(a, b Entry) int { return len(b.Model) - len(a.Model) })
	return t, nil
}

// Load reads the price table file path. Errors name the file.
func Load(path string) (*Table, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}
