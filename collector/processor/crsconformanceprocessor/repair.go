package crsconformanceprocessor

import (
	"math"
	"strconv"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/otel/attribute"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crs/conform"
)

// repair repairs the finding f of attrs if a repair is safe: one that
// keeps the value the sender meant, in the form the specification wants.
// It returns what it did, "rule: what", or false if it did nothing.
//
// The repairs:
//   - type_mismatch: an int sent as a decimal string ("8") or as a double
//     with no fraction (8.0) becomes that int; a bool sent as the string
//     "true" or "false" (in any case) becomes that bool;
//   - misspelled_key: the attribute is renamed to the key its fix names,
//     unless the item has that key already;
//   - unknown_category: a category that is one of the nine once put in
//     lower case with '-' and ' ' as '_' ("Fuzzing", "static-analysis")
//     becomes that category.
//
// Nothing else is safe: a name with an id in it, a missing service.name,
// a value of the wrong form, or a list sent as one string cannot be put
// right without guessing.
func repair(attrs pcommon.Map, f conform.Finding) (string, bool) {
	switch f.Rule {
	case conform.TypeMismatch:
		return convertType(attrs, string(f.Key))
	case conform.MisspelledKey:
		return rename(attrs, string(f.Key))
	case conform.UnknownCategory:
		return normalizeCategory(attrs)
	}
	return "", false
}

func convertType(attrs pcommon.Map, key string) (string, bool) {
	spec, ok := crs.Lookup(attribute.Key(key))
	v, found := attrs.Get(key)
	if !ok || !found {
		return "", false
	}
	was := describe(v)
	switch {
	case spec.Type == attribute.INT64 && v.Type() == pcommon.ValueTypeStr:
		n, err := strconv.ParseInt(v.Str(), 10, 64)
		if err != nil {
			return "", false
		}
		v.SetInt(n)
	case spec.Type == attribute.INT64 && v.Type() == pcommon.ValueTypeDouble:
		d := v.Double()
		if d != math.Trunc(d) || d < math.MinInt64 || d >= math.MaxInt64 {
			return "", false
		}
		v.SetInt(int64(d))
	case spec.Type == attribute.BOOL && v.Type() == pcommon.ValueTypeStr:
		switch strings.ToLower(v.Str()) {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			return "", false
		}
	default:
		return "", false
	}
	return string(conform.TypeMismatch) + ": " + key + " " + was + " set to " + describe(v), true
}

func rename(attrs pcommon.Map, key string) (string, bool) {
	meant, ok := conform.Nearest(attribute.Key(key))
	if !ok {
		return "", false
	}
	if _, taken := attrs.Get(string(meant)); taken {
		return "", false
	}
	v, ok := attrs.Get(key)
	if !ok {
		return "", false
	}
	v.CopyTo(attrs.PutEmpty(string(meant)))
	attrs.Remove(key)
	return string(conform.MisspelledKey) + ": " + key + " renamed to " + string(meant), true
}

func normalizeCategory(attrs pcommon.Map) (string, bool) {
	key := string(crs.ActionCategoryKey)
	v, ok := attrs.Get(key)
	if !ok || v.Type() != pcommon.ValueTypeStr {
		return "", false
	}
	norm := strings.NewReplacer("-", "_", " ", "_").Replace(strings.ToLower(strings.TrimSpace(v.Str())))
	if !crs.Category(norm).Valid() {
		return "", false
	}
	was := describe(v)
	v.SetStr(norm)
	return string(conform.UnknownCategory) + ": " + key + " " + was + " set to " + describe(v), true
}

// describe returns v as a repair's message shows it: "8" (a string), 8
// (an int).
func describe(v pcommon.Value) string {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		return conform.Quote(v.Str()) + " (a string)"
	case pcommon.ValueTypeInt:
		return strconv.FormatInt(v.Int(), 10) + " (an int)"
	case pcommon.ValueTypeDouble:
		return strconv.FormatFloat(v.Double(), 'g', -1, 64) + " (a double)"
	case pcommon.ValueTypeBool:
		return strconv.FormatBool(v.Bool()) + " (a bool)"
	}
	return conform.Quote(v.AsString())
}
