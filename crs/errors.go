package crs

import (
	"errors"
	"strconv"
	"unicode/utf8"
)

// Sentinel errors. Every validation error of this package wraps exactly one
// of them together with the offending value; test with [errors.Is].
var (
	// ErrUnknownCategory: a category that is not one of the nine of the
	// specification.
	ErrUnknownCategory = errors.New("crs: unknown action category")
	// ErrInvalidName: an action name that breaks the rules of [ValidateName].
	ErrInvalidName = errors.New("crs: invalid action name")
	// ErrInvalidMetadata: task metadata that breaks the rules of
	// [Metadata.Validate].
	ErrInvalidMetadata = errors.New("crs: invalid task metadata")
	// ErrInvalidAttribute: a span attribute whose key is not in the
	// specification (in a namespace it owns) or whose value has the wrong type
	// or form; see [CheckAttribute].
	ErrInvalidAttribute = errors.New("crs: invalid attribute")
)

// quoteLimit is how many bytes of an offending value an error message shows.
const quoteLimit = 64

// quote returns s quoted for an error message: invalid UTF-8 is escaped and
// a value longer than 64 bytes is cut, with its full length noted, so a
// 1 MB value never ends up in a log line. It is conform.Quote
// (and the internal violation.Quote), which this package, importing the attribute package
// only, cannot import; violation's TestQuoteAgrees keeps the two the same.
func quote(s string) string {
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
