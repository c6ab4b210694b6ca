package crs

import (
	"fmt"
	"unicode"
	"unicode/utf8"
)

// MaxNameLen is the longest action name, in bytes, that [ValidateName]
// accepts. Action names are low-cardinality labels such as
// "generate_patch", not sentences.
const MaxNameLen = 128

// ValidateName checks an action name, the value of crs.action.name and the
// name of the action's span. A valid name is non-empty, at most [MaxNameLen]
// bytes of valid UTF-8, and has no whitespace or control characters. The
// error wraps [ErrInvalidName] and names the value.
//
// Names should also be lower_snake_case ("compile_source_code") and hold no
// ids: a task id, a file name or a pid in a name makes every span a group of
// its own in a backend. Put such values in attributes instead. These two
// recommendations are not checked.
func ValidateName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrInvalidName)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w %s: longer than %d bytes", ErrInvalidName, quote(name), MaxNameLen)
	}
	// Fast path for ASCII, the usual case: no space and no control byte.
	i := 0
	for ; i < len(name); i++ {
		if c := name[i]; c >= utf8.RuneSelf || c <= ' ' || c == 0x7f {
			break
		}
	}
	if i == len(name) {
		return nil
	}
	if !utf8.ValidString(name) {
		return fmt.Errorf("%w %s: not valid UTF-8", ErrInvalidName, quote(name))
	}
	for _, r := range name[i:] {
		if unicode.IsSpace(r) {
			return fmt.Errorf("%w %s: contains whitespace %U", ErrInvalidName, quote(name), r)
		}
		if unicode.IsControl(r) || r == utf8.RuneError {
			return fmt.Errorf("%w %s: contains control character %U", ErrInvalidName, quote(name), r)
		}
	}
	return nil
}

// SanitizeName returns a name that [ValidateName] accepts, made from name:
// invalid UTF-8, whitespace and control characters become '_', the result is
// cut to [MaxNameLen] bytes, and an empty name becomes "unnamed". It is what
// crstel puts on a span whose name was invalid, so that the span is still
// exported and still readable.
func SanitizeName(name string) string {
	if ValidateName(name) == nil {
		return name
	}
	if name == "" {
		return "unnamed"
	}
	b := make([]byte, 0, min(len(name), MaxNameLen))
	for i, r := range name {
		if r == utf8.RuneError {
			if _, size := utf8.DecodeRuneInString(name[i:]); size <= 1 {
				r = '_'
			}
		}
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError {
			r = '_'
		}
		if len(b)+utf8.RuneLen(r) > MaxNameLen {
			break
		}
		b = utf8.AppendRune(b, r)
	}
	return string(b)
}
