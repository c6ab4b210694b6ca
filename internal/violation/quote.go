package violation

import "github.com/crstel/crstel/crs/conform"

// Quote returns s quoted for an error message: invalid UTF-8 is escaped and
// a value longer than 64 bytes is cut, with its full length noted. It is
// [conform.Quote], so crstel's errors and the rulebook's findings show a
// value the same way.
//
// Package crs, which imports the attribute package only, quotes the values
// in its own errors the same way, with a copy of its own; TestQuoteAgrees
// keeps the two the same.
func Quote(s string) string { return conform.Quote(s) }
