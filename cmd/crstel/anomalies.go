package main

import (
	"bufio"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/crstel/crstel/internal/journal"
)

// recentLimit is how many cancelled and failed actions anomalies prints
// without --all.
const recentLimit = 10

// width is the width the tables fit in.
const width = 80

// bucket is one list of a report, as printed.
type bucket struct {
	title   string // "Running"
	what    string // what the entries are
	key     string // in JSON
	entries []journal.Entry
	ended   bool   // ended actions: most recent first, limited without --all
	reason  string // what a report's or end's Error is called
}

func buckets(rep journal.Report) []bucket {
	return []bucket{
		{"Running", "open, not reported", "running", rep.Running, false, ""},
		{"Overdue", "past their budget, open or ended late", "overdue", rep.Overdue, false, "overdue"},
		{"Stalled", "heartbeat missed, open or ended since", "stalled", rep.Stalled, false, "stalled"},
		{"Over budget", "costs past their cost budget, open or ended since", "over_budget", rep.OverBudget, false, "over budget"},
		{"Abandoned", "still open at shutdown", "abandoned", rep.Abandoned, false, "abandoned"},
		{"Cancelled", "ended cancelled, most recent first", "cancelled", rep.Cancelled, true, "error"},
		{"Errors", "ended with an error, most recent first", "errors", rep.Errors, true, "error"},
	}
}

// anomalies is "crstel trace anomalies".
func (c *cli) anomalies(args []string) error {
	flags := flag.NewFlagSet("trace anomalies", flag.ContinueOnError)
	all := flags.Bool("all", false, "show every cancelled and failed action")
	asJSON := flags.Bool("json", false, "print JSON")
	filter := flags.String("filter", "", "keep actions whose name, category, span id or metadata value contains `TEXT`")
	stacks := flags.Bool("stacks", false, "print the goroutine stacks of reports")
	pos, err := parse(flags, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageError{fmt.Sprintf("trace anomalies: unexpected argument %q", pos[1])}
	}

	// Warnings say what could not be read.
	var (
		path     string
		warnings []string
	)
	if len(pos) == 1 {
		if path, err = c.resolve(pos[0]); err != nil {
			return err
		}
	} else {
		var skipped int
		if path, skipped, err = c.newest(); err != nil {
			return err
		}
		if skipped > 0 {
			warnings = append(warnings, fmt.Sprintf("%d newer journals could not be read (trace list says why)", skipped))
		}
	}
	info, err := journal.Stat(path)
	if err != nil {
		return inputError{err}
	}
	// A rotated segment holds the older history of the same process. If it
	// cannot be read, the newer one still can.
	var (
		recs    []journal.Record
		rotated bool
	)
	if !strings.HasSuffix(path, ".1") {
		if r, err := journal.ReadFile(path + ".1"); err == nil {
			recs, rotated = r, true
		} else if !errors.Is(err, fs.ErrNotExist) {
			warnings = append(warnings, "older segment not read: "+err.Error())
		}
	}
	r, err := journal.ReadFile(path)
	if err != nil {
		return inputError{err}
	}
	recs = append(recs, r...)

	live := info.State() == journal.StateLive
	var asOf time.Time // a dead process: its last record
	if live {
		asOf = c.now
	}
	rep := journal.Analyze(recs, asOf)
	if *filter != "" {
		for _, p := range []*[]journal.Entry{&rep.Running, &rep.Overdue, &rep.Stalled, &rep.Abandoned, &rep.Cancelled, &rep.Errors} {
			*p = slices.DeleteFunc(*p, func(e journal.Entry) bool { return !matches(e, *filter) })
		}
	}
	if *asJSON {
		return writeJSON(c.stdout, jsonReport(path, info, rep, warnings))
	}

	bw := bufio.NewWriter(c.stdout)
	c.printHeader(bw, path, rotated, info, rep, warnings)
	for _, b := range buckets(rep) {
		bw.WriteByte('\n')
		c.printBucket(bw, b, *all, *stacks)
	}
	return bw.Flush()
}

// matches tells whether e's name, category, span id or a metadata value
// contains text.
func matches(e journal.Entry, text string) bool {
	if strings.Contains(e.Name, text) || strings.Contains(e.Category, text) || strings.Contains(e.SpanID, text) {
		return true
	}
	for _, v := range e.Metadata {
		if strings.Contains(v, text) {
			return true
		}
	}
	return false
}

func (c *cli) printHeader(bw *bufio.Writer, path string, rotated bool, info journal.Info, rep journal.Report, warnings []string) {
	fmt.Fprintf(bw, "journal  %s\n", clean(path))
	if rotated {
		fmt.Fprintf(bw, "         and its older segment %s\n", truncate(clean(fileBase(path))+".1", width-9-len("and its older segment ")))
	}
	fmt.Fprintf(bw, "process  %s, pid %s", truncate(clean(cmp.Or(rep.Service, "?")), 24), itoa(cmp.Or(rep.PID, info.PID)))
	if rep.Host != "" {
		fmt.Fprintf(bw, ", host %s", truncate(clean(rep.Host), 24))
	}
	bw.WriteByte('\n')
	switch info.State() {
	case journal.StateLive:
		fmt.Fprintf(bw, "state    live: the process is running\n")
		fmt.Fprintf(bw, "as of    %s, now\n", c.longTime(rep.AsOf))
	case journal.StateExited:
		fmt.Fprintf(bw, "state    exited: the journal was closed cleanly\n")
		fmt.Fprintf(bw, "as of    %s, the journal's last record\n", c.longTime(rep.AsOf))
	default:
		fmt.Fprintf(bw, "state    crashed or killed: no close record, and the process is gone\n")
		fmt.Fprintf(bw, "as of    %s, the journal's last record\n", c.longTime(rep.AsOf))
	}
	fmt.Fprintf(bw, "actions  %d\n", rep.Actions)
	if rep.Dropped > 0 {
		fmt.Fprintf(bw, "warning  %d events dropped: actions may look open or be missing\n", rep.Dropped)
	}
	if rep.Corrupt > 0 {
		fmt.Fprintf(bw, "warning  %d corrupt lines were skipped\n", rep.Corrupt)
	}
	for _, w := range warnings {
		bw.WriteString(truncate("warning  "+clean(w), width) + "\n")
	}
}

func (c *cli) printBucket(bw *bufio.Writer, b bucket, all, stacks bool) {
	if len(b.entries) == 0 {
		fmt.Fprintf(bw, "%s: none\n", b.title)
		return
	}
	fmt.Fprintf(bw, "%s (%d): %s\n", b.title, len(b.entries), b.what)
	entries := b.entries
	if b.ended && !all && len(entries) > recentLimit {
		entries = entries[:recentLimit]
	}
	rows := [][]string{{"DURATION", "BUDGET", "CATEGORY", "NAME", "SPAN"}}
	if b.ended {
		rows[0][0], rows[0][1] = "ENDED", "DURATION"
	}
	for _, e := range entries {
		row := []string{duration(e.Duration), budget(e.Budget)}
		if b.ended {
			row = []string{e.End.In(c.loc).Format(time.TimeOnly), duration(e.Duration)}
		}
		rows = append(rows, append(row, truncate(clean(e.Category), 18), truncate(clean(e.Name), 20), truncate(clean(e.SpanID), 16)))
	}
	lines := strings.SplitAfter(tableString(rows), "\n")
	bw.WriteString(lines[0])
	for i, e := range entries {
		bw.WriteString(lines[i+1])
		detail := func(s string) { bw.WriteString(truncate(indent+s, width) + "\n") }
		for _, l := range metadataLines(e.Metadata, width-len(indent)) {
			detail(l)
		}
		if d := e.Deepest; d != nil {
			// The name gets what room the rest leaves.
			rest := " (" + truncate(clean(d.Category), 18) + ") " + truncate(clean(d.SpanID), 16) + ", " + duration(d.Duration)
			const label = "deepest open: "
			room := max(width-len(indent)-len(label)-textWidth(rest), 12)
			detail(label + truncate(clean(d.Name), room) + rest)
		}
		if e.Error != "" && b.reason != "" {
			detail(b.reason + ": " + clean(e.Error))
		}
		if !b.ended && !e.End.IsZero() {
			detail("ended " + truncate(cmp.Or(clean(e.Status), "unset"), 16) + " at " + e.End.In(c.loc).Format(time.TimeOnly))
		}
		if stacks && e.Stack != "" {
			bw.WriteString("    stack:\n")
			for _, l := range strings.Split(strings.TrimRight(e.Stack, "\n"), "\n") {
				bw.WriteString("      " + clean(l) + "\n")
			}
		}
	}
	if n := len(b.entries) - len(entries); n > 0 {
		fmt.Fprintf(bw, "... and %d more (--all shows them)\n", n)
	}
}

// indent starts the lines that detail a table's row.
const indent = "    "

// The JSON output of anomalies.
type (
	jsonOutput struct {
		File       string      `json:"file"`
		Service    string      `json:"service"`
		PID        int         `json:"pid"`
		Host       string      `json:"host"`
		State      string      `json:"state"`
		Live       bool        `json:"live"`
		AsOf       time.Time   `json:"as_of"`
		Actions    int         `json:"actions"`
		Dropped    int64       `json:"dropped"`
		Corrupt    int64       `json:"corrupt"`
		Running    []jsonEntry `json:"running"`
		Overdue    []jsonEntry `json:"overdue"`
		Stalled    []jsonEntry `json:"stalled"`
		OverBudget []jsonEntry `json:"over_budget"`
		Abandoned  []jsonEntry `json:"abandoned"`
		Cancelled  []jsonEntry `json:"cancelled"`
		Errors     []jsonEntry `json:"errors"`
		// Warnings tell what could not be read, such as the older segment.
		Warnings []string `json:"warnings,omitempty"`
	}
	jsonEntry struct {
		TraceID    string            `json:"trace_id,omitempty"`
		SpanID     string            `json:"span_id"`
		ParentID   string            `json:"parent_id,omitempty"`
		Category   string            `json:"category"`
		Name       string            `json:"name"`
		Metadata   map[string]string `json:"metadata,omitempty"`
		Start      time.Time         `json:"start"`
		End        time.Time         `json:"end,omitzero"`
		DurationMS float64           `json:"duration_ms"`
		BudgetMS   float64           `json:"budget_ms,omitempty"`
		Status     string            `json:"status,omitempty"`
		Error      string            `json:"error,omitempty"`
		Cancelled  bool              `json:"cancelled,omitempty"`
		Stack      string            `json:"stack,omitempty"`
		Deepest    *jsonDescendant   `json:"deepest,omitempty"`
	}
	jsonDescendant struct {
		SpanID     string    `json:"span_id"`
		Category   string    `json:"category"`
		Name       string    `json:"name"`
		Depth      int       `json:"depth"`
		Start      time.Time `json:"start"`
		DurationMS float64   `json:"duration_ms"`
	}
)

// jsonReport returns the JSON form of rep. Its times are clamped to the
// years 0 to 9999, which JSON's RFC 3339 times can represent (see
// journal.ClampTime): an action that a corrupt journal or a skewed clock
// dates out of them still prints.
func jsonReport(path string, info journal.Info, rep journal.Report, warnings []string) jsonOutput {
	clamp := journal.ClampTime
	entries := func(es []journal.Entry) []jsonEntry {
		out := make([]jsonEntry, 0, len(es))
		for _, e := range es {
			je := jsonEntry{
				TraceID: e.TraceID, SpanID: e.SpanID, ParentID: e.ParentID, Category: e.Category, Name: e.Name,
				Metadata: e.Metadata, Start: clamp(e.Start), End: clamp(e.End), DurationMS: ms(e.Duration), BudgetMS: ms(e.Budget),
				Status: e.Status, Error: e.Error, Cancelled: e.Cancelled, Stack: e.Stack,
			}
			if d := e.Deepest; d != nil {
				je.Deepest = &jsonDescendant{d.SpanID, d.Category, d.Name, d.Depth, clamp(d.Start), ms(d.Duration)}
			}
			out = append(out, je)
		}
		return out
	}
	return jsonOutput{
		File: path, Service: rep.Service, PID: cmp.Or(rep.PID, info.PID), Host: rep.Host,
		State: info.State(), Live: info.State() == journal.StateLive, AsOf: clamp(rep.AsOf),
		Actions: rep.Actions, Dropped: rep.Dropped, Corrupt: rep.Corrupt,
		Running: entries(rep.Running), Overdue: entries(rep.Overdue), Stalled: entries(rep.Stalled), OverBudget: entries(rep.OverBudget),
		Abandoned: entries(rep.Abandoned), Cancelled: entries(rep.Cancelled), Errors: entries(rep.Errors),
		Warnings: warnings,
	}
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fileBase(path string) string {
	if i := strings.LastIndexByte(path, os.PathSeparator); i >= 0 {
		return path[i+1:]
	}
	return path
}
