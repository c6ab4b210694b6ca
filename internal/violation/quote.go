package violation

import (
	"strconv"
	"unicode/utf8"
)

// quoteLimit is how many bytes of an offending value [Quote] shows.
const quoteLimit = 64

// Quote returns s quoted for an error message: invalid UTF-8 is escaped and
// a value longer than 64 bytes is cut, with its full length noted, so a
// 1 MB value never ends up in a log line:
//
//	Quote("bad\xff")                   "bad\xff"
//	Quote(strings.Repeat("a", 1<<20))  "aaa…a"... (1048576 bytes)
//
// Package crs, which imports the attribute package only, quotes the values
// in its own errors the same way, with a copy of its own; TestQuoteAgrees
// keeps the two the same.
func Quote(s string) string {
	if len(s) <= quoteLimit {
		return strconv.Quote(s)
	}
	// Cut on a rune boundary, at most UTFMax-1 bytes back; invalid UTF-8
	// may have no boundary, and is then cut where it is.
	cut := quoteLimit
	for back := 0; back < utf8.UTFMax-1 && !utf8.RuneStart(s[cut]); back++ {
		cut--
	}
	if !utf8.RuneStart(s[cut]) {
		cut = quoteLimit
	}
	return strconv.Quote(s[:cut]) + "... (" + strconv.Itoa(len(s)) + " bytes)"
}
