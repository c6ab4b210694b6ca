package main

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// A journal is outside input: everything from it that reaches the
// terminal goes through clean, which escapes what could drive the
// terminal, and is measured in columns by textWidth and cut by truncate,
// so that tables stay within width columns whatever the text.

// table writes rows aligned in columns two spaces apart, by display
// width. The last column is not padded: no trailing spaces.
func table(w io.Writer, rows [][]string) {
	var widths []int
	for _, row := range rows {
		for i, cell := range row {
			if i == len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], textWidth(cell))
		}
	}
	var b strings.Builder
	for _, row := range rows {
		b.Reset()
		for i, cell := range row {
			b.WriteString(cell)
			if i < len(row)-1 {
				b.WriteString(strings.Repeat(" ", widths[i]-textWidth(cell)+2))
			}
		}
		b.WriteByte('\n')
		io.WriteString(w, b.String())
	}
}

// tableString returns the lines of table(rows).
func tableString(rows [][]string) string {
	var b strings.Builder
	table(&b, rows)
	return b.String()
}

// clean makes s safe to print: tabs and line breaks, which would break
// the layout, become spaces; other control characters (ESC and its ANSI
// sequences, C1 controls, DEL), format characters (bidirectional
// overrides, zero-width characters) and line or paragraph separators are
// escaped as \x1b or \u202e, and so are the bytes of invalid UTF-8, as
// \xff. Nothing from a journal reaches the terminal raw.
func clean(s string) string {
	if !needsCleaning(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\t', r == '\n', r == '\r':
			b.WriteByte(' ')
		case r < 0x100 && unicode.IsControl(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			if r > 0xffff {
				fmt.Fprintf(&b, `\U%08x`, r)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// needsCleaning tells whether clean would change s.
func needsCleaning(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= utf8.RuneSelf {
			if c < utf8.RuneSelf {
				return true
			}
			// Something beyond ASCII: decide rune by rune.
			for _, r := range s[i:] {
				if r == utf8.RuneError || r < 0x100 && unicode.IsControl(r) || unsafeRune(r) {
					return true
				}
			}
			return false
		}
	}
	return false
}

// escapeJSON escapes, as \u escapes, the runes of JSON text b that
// encoding/json writes raw and that could drive a terminal: DEL, C1
// controls, bidirectional and other format characters. They can only be in strings,
// where the escape means the same.
func escapeJSON(b []byte) []byte {
	if !needsCleaning(string(b)) {
		return b
	}
	out := make([]byte, 0, len(b)+64)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == 0x7f || r >= 0x80 && r != utf8.RuneError && unsafeRune(r) {
			if r > 0xffff { // a surrogate pair
				r1, r2 := utf16.EncodeRune(r)
				out = fmt.Appendf(out, `\u%04x\u%04x`, r1, r2)
			} else {
				out = fmt.Appendf(out, `\u%04x`, r)
			}
		} else {
			out = append(out, b[i:i+size]...)
		}
		i += size
	}
	return out
}

// unsafeRune tells whether r, not a control character, must not be
// printed raw: a format character (bidirectional controls, zero-width
// characters) or a line or paragraph separator.
func unsafeRune(r rune) bool {
	return r >= 0x80 && (unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Zl, r) || unicode.Is(unicode.Zp, r) || unicode.IsControl(r))
}

// textWidth returns the number of terminal columns s takes, cleaned.
func textWidth(s string) int {
	n := 0
	for _, r := range s {
		n += runeWidth(r)
	}
	return n
}

// runeWidth returns the number of terminal columns r takes: 0 for a
// combining mark, 2 for East Asian wide and full-width characters and
// emoji (a generous approximation: too wide a guess only makes a line
// shorter), 1 for others.
func runeWidth(r rune) int {
	switch {
	case r < 0x300:
		return 1
	case unicode.In(r, unicode.Mn, unicode.Me):
		return 0
	}
	_, found := slices.BinarySearchFunc(wideRanges, r, func(rg [2]rune, r rune) int {
		switch {
		case rg[1] < r:
			return -1
		case rg[0] > r:
			return 1
		}
		return 0
	})
	if found {
		return 2
	}
	return 1
}

// wideRanges are the ranges of wide characters, sorted: the East Asian
// Wide and Fullwidth ones of Unicode, and the emoji blocks whole.
var wideRanges = [][2]rune{
	{0x1100, 0x115f}, {0x231a, 0x231b}, {0x2329, 0x232a}, {0x23e9, 0x23ec}, {0x23f0, 0x23f0},
	{0x23f3, 0x23f3}, {0x25fd, 0x25fe}, {0x2614, 0x2615}, {0x2648, 0x2653}, {0x267f, 0x267f},
	{0x2693, 0x2693}, {0x26a1, 0x26a1}, {0x26aa, 0x26ab}, {0x26bd, 0x26be}, {0x26c4, 0x26c5},
	{0x26ce, 0x26ce}, {0x26d4, 0x26d4}, {0x26ea, 0x26ea}, {0x26f2, 0x26f3}, {0x26f5, 0x26f5},
	{0x26fa, 0x26fa}, {0x26fd, 0x26fd}, {0x2705, 0x2705}, {0x270a, 0x270b}, {0x2728, 0x2728},
	{0x274c, 0x274c}, {0x274e, 0x274e}, {0x2753, 0x2755}, {0x2757, 0x2757}, {0x2795, 0x2797},
	{0x27b0, 0x27b0}, {0x27bf, 0x27bf}, {0x2b1b, 0x2b1c}, {0x2b50, 0x2b50}, {0x2b55, 0x2b55},
	{0x2e80, 0x303e}, {0x3041, 0x33ff}, {0x3400, 0x4dbf}, {0x4e00, 0x9fff}, {0xa000, 0xa4cf},
	{0xa960, 0xa97f}, {0xac00, 0xd7a3}, {0xf900, 0xfaff}, {0xfe10, 0xfe19}, {0xfe30, 0xfe6f},
	{0xff00, 0xff60}, {0xffe0, 0xffe6}, {0x16fe0, 0x16fe4}, {0x17000, 0x18aff}, {0x1b000, 0x1b2ff},
	{0x1f004, 0x1f004}, {0x1f0cf, 0x1f0cf}, {0x1f18e, 0x1f18e}, {0x1f191, 0x1f19a}, {0x1f200, 0x1f251},
	{0x1f300, 0x1f64f}, {0x1f680, 0x1f6ff}, {0x1f7e0, 0x1f7eb}, {0x1f90c, 0x1f9ff}, {0x1fa70, 0x1faff},
	{0x20000, 0x2fffd}, {0x30000, 0x3fffd},
}

// truncate cuts s to n columns, ending it with "…" if cut. s must be
// clean.
func truncate(s string, n int) string {
	if textWidth(s) <= n {
		return s
	}
	if n <= 0 {
		return ""
	}
	w := 0
	for i, r := range s {
		rw := runeWidth(r)
		if w+rw > n-1 {
			return s[:i] + "…"
		}
		w += rw
	}
	return s
}

// itoa formats n in at most 10 columns: a pid from a journal may be any
// number.
func itoa(n int) string { return truncate(strconv.Itoa(n), 10) }

// day is the unit of the longest durations.
const day = 24 * time.Hour

// duration formats d in at most 8 characters: 850µs, 120ms, 12.3s, 12m05s,
// 1h02m03s, 3d04h05m, 123d04h, 106751d. Negative durations, which only
// clock skew or a corrupt journal give, are 0s.
func duration(d time.Duration) string {
	switch {
	case d <= 0:
		return "0s"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return strconv.Itoa(int(d/time.Millisecond)) + "ms"
	case d < time.Minute:
		return strconv.FormatFloat(d.Truncate(100*time.Millisecond).Seconds(), 'f', 1, 64) + "s"
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", d/time.Minute, d%time.Minute/time.Second)
	case d < day:
		return fmt.Sprintf("%dh%02dm%02ds", d/time.Hour, d%time.Hour/time.Minute, d%time.Minute/time.Second)
	case d < 100*day:
		return fmt.Sprintf("%dd%02dh%02dm", d/day, d%day/time.Hour, d%time.Hour/time.Minute)
	case d < 1000*day:
		return fmt.Sprintf("%dd%02dh", d/day, d%day/time.Hour)
	}
	return fmt.Sprintf("%dd", d/day) // at most 106751d
}

// budget formats a budget; "-" for none.
func budget(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return duration(d)
}

// size formats a file size in at most 10 characters.
func size(n int64) string {
	if n < 1<<10 {
		return strconv.FormatInt(max(n, 0), 10) + " B"
	}
	v, unit := float64(n)/(1<<10), 0
	for v >= 1<<10 && unit < 5 {
		v, unit = v/(1<<10), unit+1
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + [...]string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}[unit]
}

// shortTime formats t for a table, in 14 columns.
func (c *cli) shortTime(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.In(c.loc).Format("01-02 15:04:05")
}

// longTime formats t with its date and zone.
func (c *cli) longTime(t time.Time) string {
	if t.IsZero() {
		return "?"
	}
	return t.In(c.loc).Format("2006-01-02 15:04:05 MST")
}

// otherPairWidth bounds a metadata key=value pair that is not an id.
const otherPairWidth = 38

// isID tells whether a metadata key names an id: round.id, task.id,
// team.id, any *.id.
func isID(key string) bool { return key == "id" || strings.HasSuffix(key, ".id") }

// metadataLines lays out metadata as key=value pairs in lines of at most
// room columns. The ids (see isID) come first, whole unless one alone is
// wider than room, on as many lines as they need, so that no other value,
// however long or many, hides them. The other pairs follow, each cut to
// otherPairWidth columns, in what room the ids leave and one more line;
// "+N more" counts those left out.
func metadataLines(md map[string]string, room int) []string {
	var ids, others []string
	for _, k := range slices.Sorted(maps.Keys(md)) {
		pair := clean(k) + "=" + clean(md[k])
		if isID(k) {
			ids = append(ids, truncate(pair, room))
		} else {
			others = append(others, truncate(pair, min(otherPairWidth, room)))
		}
	}
	type line struct {
		pairs  []string
		width  int
		others int // the trailing pairs that are not ids
	}
	var lines []line
	// place puts pair at the end of the last line, or on a new one if
	// allowed.
	place := func(pair string, other, newLine bool) bool {
		w := textWidth(pair)
		if n := len(lines); n > 0 && lines[n-1].width+1+w <= room {
			l := &lines[n-1]
			l.pairs, l.width = append(l.pairs, pair), l.width+1+w
			if other {
				l.others++
			}
			return true
		}
		if !newLine {
			return false
		}
		l := line{pairs: []string{pair}, width: w}
		if other {
			l.others = 1
		}
		lines = append(lines, l)
		return true
	}
	for _, p := range ids {
		place(p, false, true)
	}
	limit := max(len(lines), 1) + 1
	for i, p := range others {
		if place(p, true, len(lines) < limit) {
			continue
		}
		for more := len(others) - i; ; more++ {
			tag := "+" + strconv.Itoa(more) + " more"
			if place(tag, false, false) {
				break
			}
			l := &lines[len(lines)-1]
			if l.others == 0 {
				place(tag, false, true)
				break
			}
			// Make room: leave out the last pair.
			last := l.pairs[len(l.pairs)-1]
			l.pairs, l.width, l.others = l.pairs[:len(l.pairs)-1], l.width-1-textWidth(last), l.others-1
		}
		break
	}
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = strings.Join(l.pairs, " ")
	}
	return out
}
