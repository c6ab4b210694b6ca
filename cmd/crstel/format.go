package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"
	"unicode/utf8"
)

// table writes rows aligned in columns two spaces apart.
func table(w io.Writer, rows [][]string) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, row := range rows {
		// The last column is not padded: no trailing spaces.
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
}

// tableString returns the lines of table(rows).
func tableString(rows [][]string) string {
	var b strings.Builder
	table(&b, rows)
	return b.String()
}

// clean makes s safe to print in a table: control characters, which could
// break the layout or drive the terminal, become spaces.
func clean(s string) string {
	if !strings.ContainsFunc(s, unicode.IsControl) && utf8.ValidString(s) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
}

// truncate cuts s to n runes, ending it with "…" if cut.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i, runes := 0, 0
	for i = range s {
		if runes == n-1 {
			break
		}
		runes++
	}
	return s[:i] + "…"
}

func itoa(n int) string { return strconv.Itoa(n) }

// duration formats d in at most 8 characters: 850µs, 120ms, 12.3s, 12m05s,
// 1h02m03s, 3d04h05m, 123d04h.
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
	case d < 24*time.Hour:
		return fmt.Sprintf("%dh%02dm%02ds", d/time.Hour, d%time.Hour/time.Minute, d%time.Minute/time.Second)
	case d < 100*24*time.Hour:
		return fmt.Sprintf("%dd%02dh%02dm", d/(24*time.Hour), d%(24*time.Hour)/time.Hour, d%time.Hour/time.Minute)
	}
	return fmt.Sprintf("%dd%02dh", d/(24*time.Hour), d%(24*time.Hour)/time.Hour)
}

// budget formats a budget; "-" for none.
func budget(d time.Duration) string {
	if d <= 0 {
		return "-"
	}
	return duration(d)
}

// size formats a file size.
func size(n int64) string {
	switch {
	case n < 1<<10:
		return strconv.FormatInt(n, 10) + " B"
	case n < 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	}
	return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
}

// shortTime formats t for a table.
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
