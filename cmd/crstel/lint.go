package main

import (
	"bufio"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crs/conform"
	"github.com/crstel/crstel/internal/otlpjson"
)

// Bounds of the report: how many distinct examples (span name, message,
// fix) of a rule and key the report shows, the most frequent, and how many
// it tells apart before it only counts the others, which bounds its memory
// with an input of millions of spans of distinct names.
const (
	maxExamples = 3
	maxDistinct = 10000
)

// noService labels the spans whose resource has no string service.name.
const noService = "spans without a service.name"

// errViolations is the error of a lint that found violations: exit code 1,
// the report saying what they are.
var errViolations = errors.New("violations found")

// lint is "crstel lint".
func (c *cli) lint(args []string) error {
	flags := flag.NewFlagSet("lint", flag.ContinueOnError)
	asJSON := flags.Bool("json", false, "print JSON")
	var require keyList
	flags.Var(&require, "require", "task metadata `KEY[,KEY...]` every span must carry")
	traceMeta := flags.String("trace-metadata", strings.Join(conform.DefaultTraceMetadata, ","),
		"task metadata `KEY[,KEY...]` every span of a trace must carry if one does; empty or none for none")
	pos, err := parse(flags, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError{"lint: no FILE (- reads the standard input)"}
	}
	cfg := conform.Config{RequiredMetadata: require, TraceMetadata: []string{}}
	if tm := strings.TrimSpace(*traceMeta); tm != "" && tm != "none" {
		var keys keyList
		if err := keys.Set(tm); err != nil {
			return usageError{"lint: --trace-metadata: " + err.Error()}
		}
		cfg.TraceMetadata = keys
	}

	l := newLinter(cfg)
	for _, name := range pos {
		if err := c.lintFile(l, name); err != nil {
			return err
		}
	}
	if len(l.spans) == 0 {
		return fmt.Errorf("lint: no spans in %s: nothing was checked (want OTLP JSON traces: resourceSpans)", strings.Join(pos, ", "))
	}
	rep := l.report()
	if *asJSON {
		if err := writeJSON(c.stdout, rep); err != nil {
			return err
		}
	} else if err := printLint(c.stdout, rep); err != nil {
		return err
	}
	if rep.Violations > 0 {
		return errViolations
	}
	return nil
}

// keyList is a flag of comma-separated keys, repeatable.
type keyList []string

// String returns the keys, comma-separated.
func (k *keyList) String() string { return strings.Join(*k, ",") }

// Set adds the comma-separated keys of s; an empty one is an error.
func (k *keyList) Set(s string) error {
	for key := range strings.SplitSeq(s, ",") {
		key = strings.TrimSpace(key)
		if key == "" {
			return fmt.Errorf("empty key in %q", s)
		}
		*k = append(*k, key)
	}
	return nil
}

// lintFile reads the spans of the file name, the standard input if "-",
// into l.
func (c *cli) lintFile(l *linter, name string) error {
	if name == "-" {
		return l.read(name, c.stdin)
	}
	if name == "" {
		return usageError{"lint: empty FILE"}
	}
	f, err := os.Open(name)
	if err != nil {
		return inputError{err}
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil {
		return inputError{err}
	} else if fi.IsDir() {
		return inputError{fmt.Errorf("%s: is a folder, not a file of OTLP JSON", name)}
	}
	return l.read(name, f)
}

// linter collects spans of OTLP JSON and checks them with the rulebook, the
// spans of each trace together, wherever in the input they are.
type linter struct {
	cfg        conform.Config
	files      []string
	spans      []lintSpan
	seen       map[[24]byte]bool // trace and span ids
	duplicates int
}

// newLinter returns a linter that checks with cfg.
func newLinter(cfg conform.Config) *linter {
	return &linter{cfg: cfg, seen: make(map[[24]byte]bool)}
}

// read adds the spans of r, the file called name ("-" for the standard
// input), to l. A span read before (the same trace and span id: a batch
// the collector wrote twice after a retry) is counted, not added.
func (l *linter) read(name string, r io.Reader) error {
	l.files = append(l.files, name)
	if name == "-" {
		name = "<stdin>"
	}
	rd := otlpjson.NewReader(r)
	for {
		batch, err := rd.Next()
		if err == io.EOF {
			return nil
		}
		var e *otlpjson.Error
		if errors.As(err, &e) {
			return inputError{fmt.Errorf("%s:%d: %w", name, e.Line, e.Err)}
		}
		for _, s := range batch {
			var id [24]byte
			copy(id[:16], s.TraceID[:])
			copy(id[16:], s.SpanID[:])
			if s.SpanID != ([8]byte{}) && l.seen[id] {
				l.duplicates++
				continue
			}
			l.seen[id] = true
			l.spans = append(l.spans, newLintSpan(s))
		}
	}
}

// check checks the spans and calls report with the index of each span
// that breaks a rule and the finding. A span without a trace id is
// checked alone.
func (l *linter) check(report func(i int, f conform.Finding)) {
	c := conform.New(l.cfg)
	var traced []int
	for i := range l.spans {
		if l.spans[i].trace == ([16]byte{}) {
			for _, f := range c.CheckSpan(&l.spans[i]) {
				report(i, f)
			}
			continue
		}
		traced = append(traced, i)
	}
	c.Check(len(traced), func(j int) conform.Span { return &l.spans[traced[j]] },
		func(j int, f conform.Finding) { report(traced[j], f) })
}

// lintSpan is a span as the rules read it: the adapter of OTLP JSON.
type lintSpan struct {
	name      string
	trace     [16]byte
	service   string
	serviceOK bool // service.name is a string
	attrs     []attribute.KeyValue
}

// newLintSpan returns s as the rules read it.
func newLintSpan(s otlpjson.Span) lintSpan {
	ls := lintSpan{name: s.Name, trace: s.TraceID, attrs: make([]attribute.KeyValue, len(s.Attributes))}
	for i, kv := range s.Attributes {
		ls.attrs[i] = attribute.KeyValue{Key: attribute.Key(kv.Key), Value: otlpjson.Value(kv.Value)}
	}
	for _, kv := range s.Resource {
		if kv.Key == string(crs.ServiceNameKey) {
			ls.service, ls.serviceOK = kv.Value.(string)
		}
	}
	return ls
}

// TraceID returns the id of the span's trace.
func (s *lintSpan) TraceID() [16]byte { return s.trace }

// Attr returns the value of the span attribute key: the first, if the
// input has it twice.
func (s *lintSpan) Attr(key attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.attrs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// Range calls f with each attribute of the span, in the order of the
// input, until f returns false.
func (s *lintSpan) Range(f func(attribute.KeyValue) bool) {
	for _, kv := range s.attrs {
		if !f(kv) {
			return
		}
	}
}

// ServiceName returns the resource's service.name, and whether it is a
// string.
func (s *lintSpan) ServiceName() (string, bool) { return s.service, s.serviceOK }

// lintReport is the report of a lint, as --json prints it (see doc.go).
type lintReport struct {
	Files               []string         `json:"files"`
	Require             []string         `json:"require"`
	TraceMetadata       []string         `json:"trace_metadata"`
	Spans               int              `json:"spans"`
	Traces              int              `json:"traces"`
	Duplicates          int              `json:"duplicates"`
	SpansWithViolations int              `json:"spans_with_violations"`
	Violations          int              `json:"violations"`
	Improvements        int              `json:"improvements"`
	Services            []*serviceReport `json:"services"`
}

// serviceReport is the part of a report about one service.
type serviceReport struct {
	Service             string        `json:"service"`
	Spans               int           `json:"spans"`
	SpansWithViolations int           `json:"spans_with_violations"`
	Violations          int           `json:"violations"`
	Improvements        int           `json:"improvements"`
	Rules               []*ruleReport `json:"rules"`
	lastViolating       int           // the last span counted in SpansWithViolations, plus one
}

// ruleReport is the findings of one rule in a service.
type ruleReport struct {
	Rule     conform.Rule  `json:"rule"`
	Level    conform.Level `json:"level"`
	Findings int           `json:"findings"`
	Keys     []*keyReport  `json:"keys"`
}

// keyReport is the findings of one rule about one key in a service.
type keyReport struct {
	Key      attribute.Key        `json:"key"`
	Spans    int                  `json:"spans"`
	Findings int                  `json:"findings"`
	Examples []*example           `json:"examples"`
	More     int                  `json:"more"`
	last     int                  // the last span counted in Spans, plus one
	distinct map[example]*example // by span, message and fix, Count 0
	order    []*example           // in the order found, at most maxDistinct
}

// example is findings of one rule and key on spans of one name, with the
// same message and fix.
type example struct {
	Span    string `json:"span"`
	Value   string `json:"value"`
	Message string `json:"message"`
	Fix     string `json:"fix"`
	Count   int    `json:"count"`
}

// report checks the spans and returns the report.
func (l *linter) report() *lintReport {
	rep := &lintReport{Files: l.files, Require: l.cfg.RequiredMetadata, TraceMetadata: l.cfg.TraceMetadata,
		Spans: len(l.spans), Duplicates: l.duplicates, Services: []*serviceReport{}}
	if rep.Require == nil {
		rep.Require = []string{}
	}
	services := map[string]*serviceReport{}
	service := make([]*serviceReport, len(l.spans)) // of each span
	traces := map[[16]byte]bool{}
	for i, s := range l.spans {
		traces[s.trace] = true
		name := s.service
		if !s.serviceOK {
			name = ""
		}
		sr := services[name]
		if sr == nil {
			sr = &serviceReport{Service: name, Rules: []*ruleReport{}}
			services[name] = sr
		}
		sr.Spans++
		service[i] = sr
	}
	rep.Traces = len(traces)

	l.check(func(i int, f conform.Finding) {
		sr := service[i]
		if f.Level == conform.Improvement {
			sr.Improvements++
			rep.Improvements++
		} else {
			sr.Violations++
			rep.Violations++
			if sr.lastViolating != i+1 {
				sr.lastViolating = i + 1
				sr.SpansWithViolations++
				rep.SpansWithViolations++
			}
		}
		sr.rule(f.Rule, f.Level).key(f.Key).add(i, example{
			Span: conform.Quote(l.spans[i].name), Value: f.Value, Message: f.Message, Fix: f.Fix,
		})
	})

	rules := conform.Rules()
	rank := func(r conform.Rule) int {
		if i := slices.Index(rules, r); i >= 0 {
			return i
		}
		return len(rules)
	}
	for _, name := range slices.Sorted(maps.Keys(services)) {
		sr := services[name]
		slices.SortFunc(sr.Rules, func(a, b *ruleReport) int {
			return cmp.Or(cmp.Compare(rank(a.Rule), rank(b.Rule)), strings.Compare(string(a.Rule), string(b.Rule)))
		})
		for _, rr := range sr.Rules {
			slices.SortFunc(rr.Keys, func(a, b *keyReport) int {
				return cmp.Or(cmp.Compare(b.Spans, a.Spans), strings.Compare(string(a.Key), string(b.Key)))
			})
			for _, k := range rr.Keys {
				k.finish()
			}
		}
		if name != "" {
			rep.Services = append(rep.Services, sr)
		}
	}
	if sr := services[""]; sr != nil {
		rep.Services = append(rep.Services, sr) // last
	}
	return rep
}

// rule returns the report of rule r, added if new.
func (sr *serviceReport) rule(r conform.Rule, level conform.Level) *ruleReport {
	for _, rr := range sr.Rules {
		if rr.Rule == r {
			rr.Findings++
			return rr
		}
	}
	rr := &ruleReport{Rule: r, Level: level, Findings: 1}
	sr.Rules = append(sr.Rules, rr)
	return rr
}

// key returns the report of key k, added if new.
func (rr *ruleReport) key(k attribute.Key) *keyReport {
	for _, kr := range rr.Keys {
		if kr.Key == k {
			return kr
		}
	}
	kr := &keyReport{Key: k, distinct: map[example]*example{}}
	rr.Keys = append(rr.Keys, kr)
	return kr
}

// add counts a finding on span i, as example e.
func (kr *keyReport) add(i int, e example) {
	kr.Findings++
	if kr.last != i+1 {
		kr.last = i + 1
		kr.Spans++
	}
	ex := kr.distinct[e]
	if ex == nil {
		if len(kr.order) == maxDistinct {
			return // counted in Findings, and so in More
		}
		ex = &e
		kr.distinct[e] = ex
		kr.order = append(kr.order, ex)
	}
	ex.Count++
}

// finish picks the examples to show: the most frequent, the first found
// first among equals.
func (kr *keyReport) finish() {
	slices.SortStableFunc(kr.order, func(a, b *example) int { return cmp.Compare(b.Count, a.Count) })
	kr.Examples = kr.order[:min(len(kr.order), maxExamples)]
	kr.More = kr.Findings
	for _, e := range kr.Examples {
		kr.More -= e.Count
	}
}

// printLint prints the report for a human: a part per service, then a
// summary.
func printLint(w io.Writer, rep *lintReport) error {
	bw := bufio.NewWriter(w)
	for _, sr := range rep.Services {
		label := "service " + clean(conform.Quote(sr.Service))
		if sr.Service == "" {
			label = noService
		}
		if sr.Violations+sr.Improvements == 0 {
			bw.WriteString(wrap(label+": "+count(sr.Spans, "span")+", all conform", "", indent) + "\n")
			continue
		}
		head := label + ": " + count(sr.Spans, "span") + ", " + strconv.Itoa(sr.SpansWithViolations) + " " + violate(sr.SpansWithViolations) + " the specification"
		if sr.Improvements > 0 {
			head += ", " + count(sr.Improvements, "improvement") + " to make"
		}
		bw.WriteString(wrap(head, "", indent))
		for _, rr := range sr.Rules {
			head := string(rr.Rule) + ": " + count(rr.Findings, "finding")
			if rr.Level != conform.Violation {
				head += " (" + clean(string(rr.Level)) + ")"
			}
			bw.WriteString(wrap(head, "  ", indent))
			for _, kr := range rr.Keys {
				key := string(kr.Key)
				if len(key) > 64 || needsCleaning(key) {
					key = clean(conform.Quote(key)) // a key of the input, not the specification's
				}
				bw.WriteString(wrap(key+" on "+count(kr.Spans, "span")+":", "    ", indent+"  "))
				printExamples(bw, kr)
			}
		}
		bw.WriteString("\n")
	}
	bw.WriteString(wrap(summary(rep), "", ""))
	return bw.Flush()
}

// printExamples prints the examples of kr, each with its fix, or the fix
// once after them if they share it.
func printExamples(bw *bufio.Writer, kr *keyReport) {
	const at = "      "
	shared := true
	for _, e := range kr.Examples {
		shared = shared && e.Fix == kr.Examples[0].Fix
	}
	for _, e := range kr.Examples {
		line := e.Span
		if e.Count > 1 {
			line += " (" + count(e.Count, "span") + ")"
		}
		bw.WriteString(wrap(clean(line+": "+e.Message), at, at+"  "))
		if !shared && e.Fix != "" {
			bw.WriteString(wrap(clean("fix: "+e.Fix), at+"  ", at+"  "))
		}
	}
	if kr.More > 0 {
		bw.WriteString(at + "and " + count(kr.More, "more span") + "\n")
	}
	if shared && kr.Examples[0].Fix != "" {
		bw.WriteString(wrap(clean("fix: "+kr.Examples[0].Fix), at, at+"  "))
	}
}

// summary returns the last line of the report.
func summary(rep *lintReport) string {
	s := "Checked " + count(rep.Spans, "span") + " (" + count(rep.Traces, "trace") + ", " + count(len(rep.Services), "service")
	if rep.Duplicates > 0 {
		s += "; " + count(rep.Duplicates, "duplicate") + " read again, checked once"
	}
	s += "): "
	if rep.Violations == 0 {
		s += "all conform to the CRS Telemetry Specification v1.0"
		if rep.Improvements > 0 {
			s += ", with " + count(rep.Improvements, "improvement") + " to make"
		}
		return s + "."
	}
	failing := 0
	for _, sr := range rep.Services {
		if sr.Violations > 0 {
			failing++
		}
	}
	return fmt.Sprintf("%s%s of %s %s the CRS Telemetry Specification v1.0, %s in all.", s,
		count(rep.SpansWithViolations, "span"), count(failing, "service"), violate(rep.SpansWithViolations), count(rep.Violations, "violation"))
}

// violate returns the verb for n spans.
func violate(n int) string {
	if n == 1 {
		return "violates"
	}
	return "violate"
}

// count returns "n things": n and noun, plural unless n is 1.
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

// wrap returns text, clean, in lines of at most width columns and a line
// feed: the first line starts with first, the others with rest. A word
// wider than a line is cut.
func wrap(text, first, rest string) string {
	var b strings.Builder
	line, lineW := first, textWidth(first)
	fresh := true // nothing but the indent on the line yet
	for _, word := range strings.Split(text, " ") {
		wordW := textWidth(word)
		if !fresh {
			if lineW+1+wordW <= width {
				line, lineW = line+" "+word, lineW+1+wordW
				continue
			}
			b.WriteString(line + "\n")
			line, lineW = rest, textWidth(rest)
		}
		for lineW+wordW > width {
			n := fit(word, width-lineW)
			b.WriteString(line + word[:n] + "\n")
			line, lineW, word, wordW = rest, textWidth(rest), word[n:], wordW-textWidth(word[:n])
		}
		line, lineW, fresh = line+word, lineW+wordW, false
	}
	b.WriteString(line + "\n")
	return b.String()
}

// fit returns the length in bytes of the longest start of s that is at
// most room columns wide, and at least one rune long.
func fit(s string, room int) int {
	w := 0
	for i, r := range s {
		w += runeWidth(r)
		if w > room && i > 0 {
			return i
		}
	}
	return len(s)
}
