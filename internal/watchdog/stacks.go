package watchdog

import (
	"bytes"
	"context"
	"encoding/hex"
	"runtime/pprof"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/trace"
)

// LabelKey is the pprof goroutine label that names the actions a goroutine
// runs: the span ids, in hex, of the action it started last and of the
// actions enclosing that one, innermost first, separated by spaces, such as
// "00f067aa0ba902b7 53995c3f42cd8ad8". Goroutines started inside an action
// inherit it; CPU profiles show it.
//
// The label is set when an action starts and not put back when it ends: Go
// has no way to read a goroutine's labels, so an End cannot know which
// actions are still open on the goroutine that calls it (an action may be
// ended on another goroutine, or out of order). A report therefore counts a
// goroutine in the innermost action of its label that is still open.
const LabelKey = "crstel.span"

// maxLabelIDs bounds the span ids in one label.
const maxLabelIDs = 8

// idLen is the length of a span id in hex.
const idLen = 2 * len(trace.SpanID{})

// Labels sets a's goroutine label, after the label of enclosing, the action
// a was started in (nil if none), and returns ctx with it, to pass to
// pprof.SetGoroutineLabels. The label holds strings only, so a goroutine
// that keeps it does not keep the action alive.
func Labels(ctx context.Context, a, enclosing *Action) context.Context {
	outer := ""
	if enclosing != nil {
		outer = enclosing.label
		if n := (maxLabelIDs - 1) * (idLen + 1); len(outer) >= n {
			outer = outer[:n-1]
		}
	}
	var id [idLen]byte
	hex.Encode(id[:], a.id[:])
	var b strings.Builder
	b.Grow(idLen + 1 + len(outer))
	b.Write(id[:])
	if outer != "" {
		b.WriteByte(' ')
		b.WriteString(outer)
	}
	a.label = b.String()
	return pprof.WithLabels(ctx, pprof.Labels(LabelKey, a.label))
}

// maxGoroutines bounds the goroutines shown in one report.
const maxGoroutines = 8

// stacks is one goroutine profile, taken once per round of reports.
type stacks struct {
	w *Watchdog
	// groups are the profile's stack groups with a crstel label.
	groups []group
	// open maps the span ids of open actions to them, made on first need.
	open map[trace.SpanID]*Action
}

type group struct {
	spans []trace.SpanID // of its label, innermost first
	count int
	text  string // the stack, one frame per line
}

func newStacks(w *Watchdog) *stacks {
	var buf bytes.Buffer
	if err := pprof.Lookup("goroutine").WriteTo(&buf, 1); err != nil {
		return &stacks{w: w}
	}
	return &stacks{w: w, groups: parseProfile(buf.String())}
}

// parseProfile reads a goroutine profile in its debug=1 text form:
//
//	3 @ 0x43e1ae 0x4725ad ...
//	# labels: {"crstel.span":"00f067aa0ba902b7 53995c3f42cd8ad8"}
//	#	0x4725ac	main.work+0x2c	/src/main.go:20
//
// and returns the groups with a crstel label.
func parseProfile(text string) []group {
	var out []group
	for block := range strings.SplitSeq(text, "\n\n") {
		lines := strings.Split(block, "\n")
		if len(lines) < 2 {
			continue
		}
		head := lines[0]
		at := strings.Index(head, " @ ")
		if at < 0 {
			continue
		}
		count, err := strconv.Atoi(strings.TrimSpace(head[:at]))
		if err != nil {
			continue
		}
		var g group
		found := false
		var frames strings.Builder
		for _, l := range lines[1:] {
			switch {
			case strings.HasPrefix(l, "# labels: "):
				g.spans = labelSpans(l)
				found = len(g.spans) > 0
			case strings.HasPrefix(l, "#\t"):
				// "#\t0x4725ac\tmain.work+0x2c\t/src/main.go:20", aligned
				// with more tabs by a tabwriter.
				if f := strings.Fields(l[1:]); len(f) >= 3 {
					frames.WriteString(f[1] + "\n\t" + f[2] + "\n")
				}
			}
		}
		if found {
			g.count, g.text = count, frames.String()
			out = append(out, g)
		}
	}
	return out
}

// labelSpans returns the span ids of a "# labels: {...}" line.
func labelSpans(line string) []trace.SpanID {
	key := strconv.Quote(LabelKey) + ":"
	i := strings.Index(line, key)
	if i < 0 {
		return nil
	}
	v, err := strconv.QuotedPrefix(line[i+len(key):])
	if err != nil {
		return nil
	}
	v, _ = strconv.Unquote(v)
	var ids []trace.SpanID
	for f := range strings.FieldsSeq(v) {
		var id trace.SpanID
		if len(f) != idLen {
			return nil
		}
		if _, err := hex.Decode(id[:], []byte(f)); err != nil {
			return nil
		}
		ids = append(ids, id)
	}
	return ids
}

// place returns the innermost open action of a goroutine whose label lists
// spans, and how many levels below target it is, if it is target or one of
// its open descendants. A label that starts with target needs no look at
// the other open actions: the common case, and the cheap one when a
// million are open.
func (s *stacks) place(spans []trace.SpanID, target trace.SpanID) (trace.SpanID, int, bool) {
	if len(spans) > 0 && spans[0] == target {
		return target, 0, true
	}
	span, ok := s.innermost(spans)
	if !ok {
		return trace.SpanID{}, 0, false
	}
	depth, ok := s.descends(span, target)
	return span, depth, ok
}

// innermost returns the first of spans that is an open action.
func (s *stacks) innermost(spans []trace.SpanID) (trace.SpanID, bool) {
	s.index()
	for _, id := range spans {
		if s.open[id] != nil {
			return id, true
		}
	}
	return trace.SpanID{}, false
}

// of returns the stacks of the goroutines running a or one of its open
// descendants, bounded by the watchdog's StackBytes.
func (s *stacks) of(a *Action) string {
	if len(s.groups) == 0 {
		return ""
	}
	target := a.id
	var b strings.Builder
	shown := 0
	for _, g := range s.groups {
		span, depth, ok := s.place(g.spans, target)
		if !ok {
			continue
		}
		if shown == maxGoroutines {
			b.WriteString("... more goroutines not shown\n")
			break
		}
		shown++
		b.WriteString(strconv.Itoa(g.count) + " goroutine(s) in span " + span.String())
		if depth > 0 {
			b.WriteString(" (an open descendant, " + strconv.Itoa(depth) + " level(s) down)")
		}
		b.WriteString(":\n")
		b.WriteString(g.text)
	}
	if shown == 0 {
		s.ofAncestor(a, &b)
	}
	out := b.String()
	if len(out) > s.w.cfg.StackBytes {
		out = out[:s.w.cfg.StackBytes] + "\n... (cut)"
	}
	return out
}

// descends reports whether span is target or an open descendant of it, and
// how many levels down.
func (s *stacks) descends(span, target trace.SpanID) (int, bool) {
	for depth := 0; depth < 64; depth++ {
		if span == target {
			return depth, true
		}
		s.index()
		a := s.open[span]
		if a == nil || !a.Owner.ParentSpanID().IsValid() {
			return 0, false
		}
		span = a.Owner.ParentSpanID()
	}
	return 0, false
}

// ofAncestor writes the stacks of the goroutines running the nearest open
// ancestor of a that has any: an operation such as an LLM call has no
// goroutine label of its own, but the goroutine of its action waits for it.
func (s *stacks) ofAncestor(a *Action, b *strings.Builder) {
	s.index()
	span := a.Owner.ParentSpanID()
	for depth := 1; depth < 64 && span.IsValid(); depth++ {
		for _, g := range s.groups {
			if in, ok := s.innermost(g.spans); ok && in == span {
				b.WriteString(strconv.Itoa(g.count) + " goroutine(s) in span " + span.String() +
					" (the enclosing action, " + strconv.Itoa(depth) + " level(s) up):\n")
				b.WriteString(g.text)
			}
		}
		if b.Len() > 0 {
			return
		}
		up := s.open[span]
		if up == nil {
			return
		}
		span = up.Owner.ParentSpanID()
	}
}

// index makes the map of open actions by span id, once.
func (s *stacks) index() {
	if s.open != nil {
		return
	}
	snap := s.w.Snapshot()
	s.open = make(map[trace.SpanID]*Action, len(snap))
	for _, a := range snap {
		s.open[a.id] = a
	}
}
