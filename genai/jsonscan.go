package genai

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// A JSON scanner for the hot paths: it walks the members of an object or
// the elements of an array, handing out each value as raw bytes, and skips
// the values nobody asks for at memchr speed, without decoding them (a
// prompt or a completion is a long string). It checks the structure
// (strings closed, brackets matched, commas and colons in place) but not
// the spelling of numbers and literals in the values it skips; the
// values it decodes are checked as they are decoded. encoding/json
// validates and decodes the whole body, several times slower.

// maxJSONDepth bounds the nesting of the values skipped, as encoding/json
// does.
const maxJSONDepth = 10000

// jsonIter iterates over the members of an object or the elements of an
// array.
type jsonIter struct {
	b     []byte
	i     int
	end   byte // '}' or ']'
	first bool
	done  bool // the closing bracket was read
	err   bool // the JSON is malformed
}

// iterObject returns an iterator over the object v, and false if v is not
// an object.
func iterObject(v []byte) (jsonIter, bool) { return iterValue(v, '{', '}') }

// iterArray returns an iterator over the array v, and false if v is not
// an array.
func iterArray(v []byte) (jsonIter, bool) { return iterValue(v, '[', ']') }

func iterValue(v []byte, open, end byte) (jsonIter, bool) {
	i := skipSpace(v, 0)
	if i >= len(v) || v[i] != open {
		return jsonIter{done: true}, false
	}
	return jsonIter{b: v, i: i + 1, end: end, first: true}, true
}

// next returns the next member of an object (key without its quotes, as
// it is written) or element of an array (key nil), and false at the end
// or on malformed JSON (then it.err is set).
func (it *jsonIter) next() (key, val []byte, ok bool) {
	if it.done || it.err {
		return nil, nil, false
	}
	b := it.b
	i := skipSpace(b, it.i)
	if i >= len(b) {
		it.err = true
		return nil, nil, false
	}
	if it.first {
		it.first = false
		if b[i] == it.end {
			it.i, it.done = i+1, true
			return nil, nil, false
		}
	} else {
		switch b[i] {
		case it.end:
			it.i, it.done = i+1, true
			return nil, nil, false
		case ',':
			i = skipSpace(b, i+1)
		default:
			it.err = true
			return nil, nil, false
		}
	}
	if it.end == '}' {
		if i >= len(b) || b[i] != '"' {
			it.err = true
			return nil, nil, false
		}
		j, ok := skipString(b, i)
		if !ok {
			it.err = true
			return nil, nil, false
		}
		key = b[i+1 : j-1]
		i = skipSpace(b, j)
		if i >= len(b) || b[i] != ':' {
			it.err = true
			return nil, nil, false
		}
		i = skipSpace(b, i+1)
	}
	j, ok := skipValue(b, i)
	if !ok {
		it.err = true
		return nil, nil, false
	}
	it.i = j
	return key, b[i:j], true
}

// complete says whether the iteration read the whole value, and nothing
// but white space follows it.
func (it *jsonIter) complete() bool {
	return it.done && !it.err && skipSpace(it.b, it.i) == len(it.b)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\r' || b[i] == '\t') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"'.
func skipString(b []byte, i int) (int, bool) {
	j := i + 1
	for {
		k := bytes.IndexByte(b[j:], '"')
		if k < 0 {
			return len(b), false
		}
		q := j + k
		n := 0 // backslashes before the quote: an odd number escapes it
		for p := q - 1; p > i && b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1, true
		}
		j = q + 1
	}
}

func isDelim(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\n', '\r', '\t', ':', '"', '{', '[':
		return true
	}
	return false
}

// skipValue returns the index after the value starting at b[i].
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		var buf [32]byte
		stack := buf[:0]
		for i < len(b) {
			switch c := b[i]; c {
			case '"':
				j, ok := skipString(b, i)
				if !ok {
					return j, false
				}
				i = j
				continue
			case '{', '[':
				if len(stack) >= maxJSONDepth {
					return i, false
				}
				stack = append(stack, c+2) // '{'+2 is '}', '['+2 is ']'
			case '}', ']':
				if len(stack) == 0 || stack[len(stack)-1] != c {
					return i, false
				}
				stack = stack[:len(stack)-1]
				if len(stack) == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return i, false
	case '}', ']', ',', ':':
		return i, false
	}
	j := i // a number or a literal
	for j < len(b) && !isDelim(b[j]) {
		j++
	}
	return j, j > i
}

// jsonStr returns the string v, and false if v is not a string. Invalid
// UTF-8 becomes U+FFFD, as encoding/json has it (the OTLP exporter
// rejects invalid UTF-8).
func jsonStr(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' {
		return "", false
	}
	if in := v[1 : len(v)-1]; bytes.IndexByte(in, '\\') < 0 && utf8.Valid(in) {
		return string(in), true
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// jsonInt returns the number v as an int, and false if v is not an
// integral number that fits.
func jsonInt(v []byte) (int, bool) {
	if n, err := strconv.Atoi(string(v)); err == nil {
		return n, true
	}
	f, ok := jsonFloat(v)
	if !ok || f != math.Trunc(f) || f < math.MinInt64 || f >= math.MaxInt64 {
		return 0, false
	}
	return int(f), true
}

// jsonFloat returns the number v, and false if v is not a number.
func jsonFloat(v []byte) (float64, bool) {
	if len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return 0, false // not "NaN", "Inf", "+1", which ParseFloat takes
	}
	f, err := strconv.ParseFloat(string(v), 64)
	return f, err == nil
}

func jsonIntPtr(v []byte) *int {
	if n, ok := jsonInt(v); ok {
		return &n
	}
	return nil
}

func jsonFloatPtr(v []byte) *float64 {
	if f, ok := jsonFloat(v); ok {
		return &f
	}
	return nil
}

// jsonStrings returns v, a string or an array of strings, as a list.
func jsonStrings(v []byte) []string {
	if s, ok := jsonStr(v); ok {
		if s == "" {
			return nil
		}
		return []string{s}
	}
	it, ok := iterArray(v)
	if !ok {
		return nil
	}
	var out []string
	for _, e, ok := it.next(); ok; _, e, ok = it.next() {
		if s, ok := jsonStr(e); ok {
			out = append(out, s)
		}
	}
	return out
}

// isNull says whether v is JSON's null (or missing).
func isNull(v []byte) bool { return len(v) == 0 || string(v) == "null" }
