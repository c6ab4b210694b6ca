package journal

import (
	"encoding/hex"
	"math"
	"strconv"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
)

// MaxLine is the longest line [Read] accepts, newline included. The writer
// bounds each field so that its lines stay below it.
const MaxLine = 1 << 20

// Bounds of the encoded fields, in bytes of JSON string content. With them a
// record is at most about 750 KiB, below MaxLine.
const (
	maxShort    = 1 << 10   // ids, category, name, status, service, metadata keys
	maxValue    = 2 << 10   // a metadata value
	maxMetadata = 64        // metadata entries
	maxError    = 16 << 10  // error
	maxStack    = 512 << 10 // stack
)

// ellipsis ends a string cut to its bound.
const ellipsis = "…"

// appendHead appends the opening of a record: kind, time and pid. pid is
// the pre-encoded `,"pid":N`.
func appendHead(b []byte, kind string, t time.Time, pid []byte) []byte {
	b = append(b, `{"kind":`...)
	b = appendString(b, kind, maxShort)
	b = appendTime(b, "time", t)
	return append(b, pid...)
}

// appendHeader appends a header record.
func appendHeader(b []byte, t time.Time, pid int, service, host, exe string) []byte {
	b = append(b, `{"kind":"header","version":`...)
	b = strconv.AppendInt(b, Version, 10)
	b = appendTime(b, "time", t)
	b = append(b, `,"pid":`...)
	b = strconv.AppendInt(b, int64(pid), 10)
	b = appendField(b, "service", service, maxShort)
	b = appendField(b, "host", host, maxShort)
	b = appendField(b, "exe", exe, maxShort)
	return append(b, "}\n"...)
}

// appendEvent appends the record of e, written at now if e.Time is zero.
func appendEvent(b []byte, e *Event, now time.Time, pid []byte) []byte {
	t := e.Time
	if t.IsZero() {
		t = now
	}
	b = appendHead(b, e.Kind.String(), t, pid)
	if e.Span.HasTraceID() {
		b = append(b, `,"trace_id":"`...)
		id := e.Span.TraceID()
		b = hex.AppendEncode(b, id[:])
		b = append(b, '"')
	}
	if e.Span.HasSpanID() {
		b = append(b, `,"span_id":"`...)
		id := e.Span.SpanID()
		b = hex.AppendEncode(b, id[:])
		b = append(b, '"')
	}
	if e.Parent.IsValid() {
		b = append(b, `,"parent_id":"`...)
		b = hex.AppendEncode(b, e.Parent[:])
		b = append(b, '"')
	}
	b = appendField(b, "category", e.Category, maxShort)
	b = appendField(b, "name", e.Name, maxShort)
	b = appendMetadata(b, e.Metadata)
	switch e.Kind {
	case KindStart:
		b = appendMS(b, "budget_ms", e.Budget, false)
		if !e.Deadline.IsZero() {
			b = appendTime(b, "deadline", e.Deadline)
		}
		b = appendMS(b, "heartbeat_ms", e.Heartbeat, false)
	case KindEnd:
		b = appendField(b, "status", e.Status, maxShort)
		b = appendField(b, "error", e.Error, maxError)
		if e.Cancelled {
			b = append(b, `,"cancelled":true`...)
		}
		b = appendMS(b, "duration_ms", e.Elapsed, true)
		b = appendCost(b, e.Cost)
	case KindCost:
		b = appendCost(b, e.Cost)
	default: // reports, and kinds this version does not know
		b = appendMS(b, "elapsed_ms", e.Elapsed, true)
		b = appendMS(b, "budget_ms", e.Budget, false)
		b = appendField(b, "error", e.Error, maxError)
		b = appendField(b, "stack", e.Stack, maxStack)
	}
	return append(b, "}\n"...)
}

// appendCost appends `,"cost":{...}` with c's non-zero fields, unless c
// is nil.
func appendCost(b []byte, c *Cost) []byte {
	if c == nil {
		return b
	}
	b = append(b, `,"cost":{`...)
	n := len(b)
	sep := func(b []byte, key string) []byte {
		if len(b) > n {
			b = append(b, ',')
		}
		b = append(b, '"')
		b = append(b, key...)
		return append(b, '"', ':')
	}
	str := func(b []byte, key, v string) []byte {
		if v == "" {
			return b
		}
		return appendString(sep(b, key), v, maxShort)
	}
	num := func(b []byte, key string, v int64) []byte {
		if v == 0 {
			return b
		}
		return strconv.AppendInt(sep(b, key), v, 10)
	}
	flt := func(b []byte, key string, v float64) []byte {
		if v == 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return b
		}
		return strconv.AppendFloat(sep(b, key), v, 'g', -1, 64)
	}
	b = str(b, "model", c.Model)
	b = flt(b, "llm_amount", c.LLMAmount)
	b = str(b, "llm_currency", c.LLMCurrency)
	b = num(b, "llm_calls", c.LLMCalls)
	b = num(b, "llm_unpriced_calls", c.LLMUnpricedCalls)
	b = num(b, "llm_other_currency_calls", c.LLMOtherCurrencyCalls)
	b = num(b, "input_tokens", c.InputTokens)
	b = num(b, "output_tokens", c.OutputTokens)
	b = num(b, "cache_read_tokens", c.CacheReadTokens)
	b = num(b, "cache_write_tokens", c.CacheWriteTokens)
	b = flt(b, "cpu_seconds", c.CPUSeconds)
	b = num(b, "memory_byte_seconds", c.MemoryByteSeconds)
	b = num(b, "subprocesses", c.Subprocesses)
	return append(b, '}')
}

// appendTime appends `,"key":"t"`, t in UTC, RFC 3339. A time whose year
// is outside 0–9999, which RFC 3339 cannot represent, is written as the
// nearest one it can (see [ClampTime]).
func appendTime(b []byte, key string, t time.Time) []byte {
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, `":"`...)
	b = ClampTime(t).UTC().AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendSimple appends a record with nothing but kind, time and pid, and
// count if positive.
func appendSimple(b []byte, kind string, t time.Time, pid []byte, count int64) []byte {
	b = appendHead(b, kind, t, pid)
	if count > 0 {
		b = append(b, `,"count":`...)
		b = strconv.AppendInt(b, count, 10)
	}
	return append(b, "}\n"...)
}

// appendField appends `,"key":"value"` unless value is empty.
func appendField(b []byte, key, value string, limit int) []byte {
	if value == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return appendString(b, value, limit)
}

// appendMS appends `,"key":ms` with d in (fractional) milliseconds, unless
// d is zero and always is false. Negative durations are written as 0.
func appendMS(b []byte, key string, d time.Duration, always bool) []byte {
	if d == 0 && !always {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, key...)
	b = append(b, '"', ':')
	return strconv.AppendFloat(b, float64(max(d, 0))/float64(time.Millisecond), 'f', -1, 64)
}

// appendMetadata appends `,"metadata":{...}` with each value as a string,
// unless md is empty.
func appendMetadata(b []byte, md []attribute.KeyValue) []byte {
	if len(md) == 0 {
		return b
	}
	b = append(b, `,"metadata":{`...)
	for i, kv := range md {
		if i == maxMetadata {
			break
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, string(kv.Key), maxShort)
		b = append(b, ':')
		if kv.Value.Type() == attribute.STRING {
			b = appendString(b, kv.Value.AsString(), maxValue)
		} else {
			b = appendString(b, kv.Value.String(), maxValue)
		}
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
// When the escaped content would pass limit bytes, it is cut at a rune
// boundary and ends with "…".
func appendString(b []byte, s string, limit int) []byte {
	b = append(b, '"')
	n := 0 // content bytes appended
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			if n+1 > limit {
				b = append(b, ellipsis...)
				break
			}
			b = append(b, c)
			n++
			i++
			continue
		}
		if c < utf8.RuneSelf {
			var esc string
			switch c {
			case '"':
				esc = `\"`
			case '\\':
				esc = `\\`
			case '\n':
				esc = `\n`
			case '\r':
				esc = `\r`
			case '\t':
				esc = `\t`
			}
			w := len(esc)
			if w == 0 {
				w = 6 // \u00XX
			}
			if n+w > limit {
				b = append(b, ellipsis...)
				break
			}
			if esc != "" {
				b = append(b, esc...)
			} else {
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			n += w
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r == '\u2028', r == '\u2029':
			if n+6 > limit {
				b = append(b, ellipsis...)
				i = len(s)
				continue
			}
			if r == utf8.RuneError {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			}
			n += 6
		default:
			if n+size > limit {
				b = append(b, ellipsis...)
				i = len(s)
				continue
			}
			b = append(b, s[i:i+size]...)
			n += size
		}
		i += size
	}
	return append(b, '"')
}
