package main

import (
	"bufio"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/crstel/crstel/internal/journal"
)

// costGroup is the sum of the cost records of one task, category or
// model.
type costGroup struct {
	Key string `json:"key"`
	// Amounts holds the LLM amounts by currency, in nano-units while
	// adding up.
	Amounts       map[string]float64 `json:"llm_amounts,omitempty"`
	nanos         map[string]int64
	LLMCalls      int64   `json:"llm_calls"`
	Unpriced      int64   `json:"llm_unpriced_calls"`
	InputTokens   int64   `json:"input_tokens"`
	OutputTokens  int64   `json:"output_tokens"`
	CacheRead     int64   `json:"cache_read_tokens"`
	CacheWrite    int64   `json:"cache_write_tokens"`
	CPUSeconds    float64 `json:"cpu_seconds"`
	cpuNanos      int64
	MemoryByteSec int64 `json:"memory_byte_seconds"`
	Subprocesses  int64 `json:"subprocesses"`
}

// add adds one cost record to g.
func (g *costGroup) add(c *journal.Cost) {
	if c.LLMCurrency != "" && c.LLMAmount > 0 && !math.IsInf(c.LLMAmount, 0) {
		if g.nanos == nil {
			g.nanos = make(map[string]int64)
		}
		g.nanos[c.LLMCurrency] += int64(math.Round(c.LLMAmount * 1e9))
	}
	g.LLMCalls += c.LLMCalls
	g.Unpriced += c.LLMUnpricedCalls
	g.InputTokens += c.InputTokens
	g.OutputTokens += c.OutputTokens
	g.CacheRead += c.CacheReadTokens
	g.CacheWrite += c.CacheWriteTokens
	if c.CPUSeconds > 0 && !math.IsInf(c.CPUSeconds, 0) {
		g.cpuNanos += int64(math.Round(c.CPUSeconds * 1e9))
	}
	g.MemoryByteSec += c.MemoryByteSeconds
	g.Subprocesses += c.Subprocesses
}

// finish turns the sums in nano-units into amounts.
func (g *costGroup) finish() {
	if len(g.nanos) > 0 {
		g.Amounts = make(map[string]float64, len(g.nanos))
		for cur, n := range g.nanos {
			g.Amounts[cur] = float64(n) / 1e9
		}
	}
	g.CPUSeconds = float64(g.cpuNanos) / 1e9
}

// amounts formats the LLM amounts, one per currency: "0.016485 USD".
func (g *costGroup) amounts() string {
	if len(g.nanos) == 0 {
		return "-"
	}
	var parts []string
	for _, cur := range slices.Sorted(maps.Keys(g.nanos)) {
		parts = append(parts, strconv.FormatFloat(float64(g.nanos[cur])/1e9, 'f', -1, 64)+" "+cur)
	}
	return strings.Join(parts, " + ")
}

// costKey returns the key of the record r in a report by by.
func costKey(r *journal.Record, by string) string {
	switch by {
	case "category":
		return cmp.Or(r.Category, "(none)")
	case "model":
		if r.Cost.LLMCalls == 0 {
			return "(subprocesses)"
		}
		return cmp.Or(r.Cost.Model, "(unknown)")
	}
	return cmp.Or(r.Metadata["task.id"], "(no task.id)")
}

// countedByParent returns a function that reports whether the CPU time and
// memory of the subprocess cost record r, of the process of journals[j],
// are counted already in another journal: whether that process is a
// subprocess, run by subprocess.Run (its action's span the remote parent of
// the process's actions, as crstel.ContextFromEnv makes it), whose cost
// record is in one of the journals. The CPU time and peak memory of a
// subprocess include those of the children it waited for, as
// subprocess.Run does.
func countedByParent(journals [][]journal.Record) func(j int, r *journal.Record) bool {
	type spanRef struct{ trace, span string }
	subprocesses := map[spanRef]bool{}                  // the spans of subprocess cost records
	parents := make([]map[string]string, len(journals)) // by journal: span id -> parent id
	for j, recs := range journals {
		parents[j] = map[string]string{}
		for i := range recs {
			r := &recs[i]
			if r.SpanID == "" {
				continue
			}
			if _, ok := parents[j][r.SpanID]; !ok {
				parents[j][r.SpanID] = r.ParentID
			}
			if r.Kind == journal.KindCost.String() && r.Cost != nil && r.Cost.Subprocesses > 0 && r.Cost.CPUSeconds > 0 {
				subprocesses[spanRef{r.TraceID, r.SpanID}] = true
			}
		}
	}
	return func(j int, r *journal.Record) bool {
		// Up to the first ancestor this process did not record: the
		// remote parent of its outermost action (bounded, in case of a
		// cycle in a damaged journal).
		id := r.ParentID
		for range len(parents[j]) + 1 {
			parent, local := parents[j][id]
			if !local {
				return id != "" && subprocesses[spanRef{r.TraceID, id}]
			}
			id = parent
		}
		return false // a cycle
	}
}

// costs is "crstel trace costs".
func (c *cli) costs(args []string) error {
	flags := flag.NewFlagSet("trace costs", flag.ContinueOnError)
	by := flags.String("by", "task", "group by `task`, category or model")
	asJSON := flags.Bool("json", false, "print JSON")
	pos, err := parse(flags, args)
	if err != nil {
		return err
	}
	switch *by {
	case "task", "category", "model":
	default:
		return usageError{fmt.Sprintf("trace costs: --by %q: want task, category or model", *by)}
	}

	var paths, warnings []string
	if len(pos) > 0 {
		for _, f := range pos {
			p, err := c.resolve(f)
			if err != nil {
				return err
			}
			paths = append(paths, p)
		}
	} else {
		infos, exists, err := c.journals()
		if err != nil {
			return err
		}
		for _, i := range infos {
			if i.Err != nil {
				warnings = append(warnings, fmt.Sprintf("%s not read: %v", fileBase(i.Path), i.Err))
				continue
			}
			paths = append(paths, i.Path)
		}
		if len(paths) == 0 && len(warnings) == 0 {
			where := c.dirFrom
			if !exists {
				where += "; the folder does not exist"
			}
			return fmt.Errorf("no trace journals in %s (%s)", c.dir, where)
		}
	}

	var journals [][]journal.Record // by process: its segments' records
	seen := map[string]bool{}
	var read []string // the files read
	for _, p := range paths {
		var recs []journal.Record
		// A rotated segment holds the older records of the same process.
		segments := []string{p}
		if !strings.HasSuffix(p, ".1") {
			segments = []string{p + ".1", p}
		}
		for _, s := range segments {
			if seen[s] {
				continue // named twice, or as a segment and on its own
			}
			seen[s] = true
			segment, err := journal.ReadFile(s)
			if errors.Is(err, fs.ErrNotExist) && s != p {
				continue
			}
			if err != nil {
				if len(pos) > 0 && s == p {
					return inputError{err}
				}
				warnings = append(warnings, fmt.Sprintf("%s not read: %v", fileBase(s), err))
				continue
			}
			read = append(read, s)
			recs = append(recs, segment...)
		}
		journals = append(journals, recs)
	}

	groups := map[string]*costGroup{}
	total := &costGroup{Key: "total"}
	var dropped int64
	var nestedCPU float64
	counted := countedByParent(journals)
	for j, recs := range journals {
		for i := range recs {
			r := &recs[i]
			switch {
			case r.Kind == journal.RecordDropped:
				dropped += r.Count
			case r.Kind == journal.KindCost.String() && r.Cost != nil:
				c := r.Cost
				if (c.CPUSeconds > 0 || c.MemoryByteSeconds > 0) && counted(j, r) {
					// Its parent's subprocess record has this CPU time,
					// and a peak memory at least this one's for longer.
					nestedCPU += c.CPUSeconds
					without := *c
					without.CPUSeconds, without.MemoryByteSeconds = 0, 0
					c = &without
				}
				k := costKey(r, *by)
				g := groups[k]
				if g == nil {
					g = &costGroup{Key: k}
					groups[k] = g
				}
				g.add(c)
				total.add(c)
			}
		}
	}
	if dropped > 0 {
		warnings = append(warnings, fmt.Sprintf("%d journal records were dropped (the writer's queue was full): the totals may be low", dropped))
	}
	if nestedCPU > 0 {
		warnings = append(warnings, fmt.Sprintf("%.3f CPU seconds of the subprocesses of crstel processes that are themselves subprocesses "+
			"are counted once, in their parent's subprocess record, with their memory (a subprocess's CPU time and peak memory "+
			"include those of the children it waited for)", nestedCPU))
	}
	list := slices.SortedFunc(maps.Values(groups), func(a, b *costGroup) int { return strings.Compare(a.Key, b.Key) })
	for _, g := range list {
		g.finish()
	}
	total.finish()

	if *asJSON {
		out := struct {
			By       string       `json:"by"`
			Journals []string     `json:"journals"`
			Groups   []*costGroup `json:"groups"`
			Total    *costGroup   `json:"total"`
			Warnings []string     `json:"warnings,omitempty"`
		}{*by, read, list, total, warnings}
		if out.Groups == nil {
			out.Groups = []*costGroup{}
		}
		return writeJSON(c.stdout, out)
	}
	bw := bufio.NewWriter(c.stdout)
	fmt.Fprintf(bw, "Costs by %s, from %d journal file(s): each LLM call and subprocess once.\n", *by, len(read))
	for _, w := range warnings {
		fmt.Fprintf(bw, "warning: %s\n", clean(w))
	}
	bw.WriteByte('\n')
	rows := [][]string{{strings.ToUpper(*by), "LLM CALLS", "UNPRICED", "LLM AMOUNT", "INPUT", "OUTPUT", "CACHE READ", "CPU S", "SUBPROCESSES"}}
	for _, g := range append(list, total) {
		rows = append(rows, []string{
			truncate(clean(g.Key), 32), strconv.FormatInt(g.LLMCalls, 10), strconv.FormatInt(g.Unpriced, 10), clean(g.amounts()),
			strconv.FormatInt(g.InputTokens, 10), strconv.FormatInt(g.OutputTokens, 10), strconv.FormatInt(g.CacheRead, 10),
			strconv.FormatFloat(g.CPUSeconds, 'f', 3, 64), strconv.FormatInt(g.Subprocesses, 10),
		})
	}
	table(bw, rows)
	return bw.Flush()
}
