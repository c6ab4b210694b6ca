// Package conform is the rulebook of the CRS Telemetry Specification v1.0:
// the one place its rules live, applied by every checker crstel has
// through a small adapter each: crsteltest.AssertConforms over the SDK's
// spans, the collector's crs_conformance processor over pdata, and
// "crstel lint" over OTLP JSON. Each finding names a stable rule (in the
// style of OpenTelemetry Weaver's live check: missing_attribute,
// type_mismatch, ...), a level, the attribute and its value, and the fix.
//
// A [Checker] checks spans in batches, because one rule needs the other
// spans of a span's trace: task metadata that some spans of a trace carry
// (round.id, task.id, team.id by default) is missing from those that do
// not.
package conform

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"

	"github.com/crstel/crstel/crs"
)

// Rule names a rule of the specification. The names are stable: metrics,
// dashboards and configurations use them.
type Rule string

// The rules.
const (
	// MissingServiceName: the resource has no string service.name.
	MissingServiceName Rule = "missing_service_name"
	// MissingAttribute: crs.action.category or crs.action.name is absent.
	MissingAttribute Rule = "missing_attribute"
	// TypeMismatch: an attribute of the specification has another type,
	// such as crs.action.effort.weight sent as the string "8".
	TypeMismatch Rule = "type_mismatch"
	// UnknownCategory: crs.action.category is none of the nine categories.
	UnknownCategory Rule = "unknown_category"
	// InvalidName: crs.action.name is not a valid action name (see
	// crs.ValidateName).
	InvalidName Rule = "invalid_name"
	// InvalidValue: a value has the wrong form: code lines that are not
	// "N-M", an update time that is not RFC 3339, a negative count.
	InvalidValue Rule = "invalid_value"
	// MisspelledKey: a key in a namespace the specification owns (crs.,
	// fuzz.corpus.) that is none of its attributes, such as
	// crs.action.code.files or crs.code.file; the fix names the key meant.
	MisspelledKey Rule = "misspelled_key"
	// MissingMetadata: a task metadata key is absent: one the
	// configuration requires, or one another span of the trace carries.
	MissingMetadata Rule = "missing_metadata"
	// MarkedInvalid: crstel marked the span invalid (crstel.invalid) when
	// it was made.
	MarkedInvalid Rule = "marked_invalid"
)

// Rules lists every rule, in a fixed order.
func Rules() []Rule {
	return []Rule{MissingServiceName, MissingAttribute, TypeMismatch, UnknownCategory, InvalidName,
		InvalidValue, MisspelledKey, MissingMetadata, MarkedInvalid}
}

// Level says how bad a finding is, in Weaver's terms.
type Level string

// The levels.
const (
	// Violation: the specification is broken.
	Violation Level = "violation"
	// Improvement: allowed, but worth fixing.
	Improvement Level = "improvement"
)

// Finding is one rule a span breaks.
type Finding struct {
	Rule  Rule
	Level Level
	// Key is the attribute concerned; "" if none (a missing resource).
	Key attribute.Key
	// Value is its value as found, quoted and bounded; "" if absent.
	Value string
	// Message says what is wrong; Fix how to put it right.
	Message, Fix string
}

// String returns the finding as "rule: message; fix: fix".
func (f Finding) String() string {
	s := string(f.Rule) + ": " + f.Message
	if f.Fix != "" {
		s += "; fix: " + f.Fix
	}
	return s
}

// Span is a span as the rules read it. Each representation has an adapter:
// the rules never see the SDK's, pdata's or JSON's types.
type Span interface {
	// TraceID returns the id of the span's trace.
	TraceID() [16]byte
	// Attr returns the value of the span attribute key.
	Attr(key attribute.Key) (attribute.Value, bool)
	// Range calls f with each attribute of the span, until f returns
	// false.
	Range(f func(attribute.KeyValue) bool)
	// ServiceName returns the resource's service.name, and whether it is
	// a string.
	ServiceName() (string, bool)
}

// DefaultTraceMetadata are the metadata keys reported missing from a span
// when another span of its trace carries them.
var DefaultTraceMetadata = []string{"round.id", "task.id", "team.id"}

// Config configures a Checker. The zero Config checks every rule with the
// defaults.
type Config struct {
	// RequiredMetadata are task metadata keys every span must carry. The
	// default is none.
	RequiredMetadata []string
	// TraceMetadata are the keys reported missing from a span when another
	// span of its trace carries them. nil means DefaultTraceMetadata; an
	// empty slice none.
	TraceMetadata []string
}

// Checker applies the rules. It holds no state between calls and is safe
// for concurrent use.
type Checker struct {
	required, trace []string
	// keys are the metadata keys of required and trace, each once;
	// requiredIdx and traceIdx the index in keys of each of theirs.
	keys                  []string
	requiredIdx, traceIdx []int
	// runs are the working states of calls to Check, reused: a check
	// allocates nothing per span.
	runs sync.Pool
}

// New returns a Checker for cfg.
func New(cfg Config) *Checker {
	c := &Checker{required: slices.Clone(cfg.RequiredMetadata), trace: slices.Clone(cfg.TraceMetadata)}
	if cfg.TraceMetadata == nil {
		c.trace = slices.Clone(DefaultTraceMetadata)
	}
	for _, k := range append(slices.Clone(c.required), c.trace...) {
		if !slices.Contains(c.keys, k) {
			c.keys = append(c.keys, k)
		}
	}
	for _, k := range c.required {
		c.requiredIdx = append(c.requiredIdx, slices.Index(c.keys, k))
	}
	for _, k := range c.trace {
		c.traceIdx = append(c.traceIdx, slices.Index(c.keys, k))
	}
	return c
}

// seenBits is how many metadata keys a check notes while it ranges over a
// span's attributes; it looks up those past them one by one. Bits 0 and 1
// are the category and the name.
const seenBits = 62

// run is the state of one call to Check or CheckSpan.
type run struct {
	c *Checker
	// traces holds, for each trace of the batch, the offset in vals of
	// the values of the keys of Config.TraceMetadata that some of its
	// spans carry ("" for none); last is the trace looked up last.
	traces  map[[16]byte]int
	vals    []string
	lastID  [16]byte
	lastOff int
	// i is the index of the span checked; report the caller's report.
	i      int
	report func(i int, f Finding)
	// emit reports a finding of span i; visit checks an attribute, notes
	// the keys it sees in seen, and keeps its findings in pending.
	emit    func(Finding)
	visit   func(attribute.KeyValue) bool
	seen    uint64
	pending []Finding
}

func (c *Checker) getRun(report func(i int, f Finding)) *run {
	r, _ := c.runs.Get().(*run)
	if r == nil {
		r = &run{c: c}
		r.emit = func(f Finding) { r.report(r.i, f) }
		keep := func(f Finding) { r.pending = append(r.pending, f) }
		r.visit = func(kv attribute.KeyValue) bool {
			switch kv.Key {
			case crs.ActionCategoryKey:
				r.seen |= 1
			case crs.ActionNameKey:
				r.seen |= 2
			default:
				for j, k := range r.c.keys[:min(len(r.c.keys), seenBits)] {
					if string(kv.Key) == k {
						r.seen |= 1 << (j + 2)
						break
					}
				}
			}
			checkAttribute(kv, keep)
			return true
		}
	}
	r.report = report
	r.lastOff = -1
	return r
}

func (c *Checker) putRun(r *run) {
	r.report = nil
	clear(r.traces)
	clear(r.vals)
	r.vals = r.vals[:0]
	clear(r.pending)
	r.pending = r.pending[:0]
	c.runs.Put(r)
}

// traceOffset returns the offset in r.vals of the values of trace id, or
// -1 if it has none; create adds them.
func (r *run) traceOffset(id [16]byte, create bool) int {
	if r.lastOff >= 0 && id == r.lastID {
		return r.lastOff
	}
	off, ok := r.traces[id]
	if !ok {
		if !create {
			return -1
		}
		if r.traces == nil {
			r.traces = make(map[[16]byte]int)
		}
		off = len(r.vals)
		r.vals = append(r.vals, make([]string, len(r.c.trace))...)
		r.traces[id] = off
	}
	r.lastID, r.lastOff = id, off
	return off
}

// Check checks n spans, span(i) returning the i-th, and calls report with
// the index of each span that breaks a rule and the finding, in the order
// of the spans; spans that conform are not reported. The spans of one
// trace are compared with each other for the metadata rule, so give a
// trace's spans in one call where they are at hand.
func (c *Checker) Check(n int, span func(i int) Span, report func(i int, f Finding)) {
	r := c.getRun(report)
	defer c.putRun(r)
	if len(c.trace) > 0 && n > 1 {
		for i := range n {
			s := span(i)
			off := r.traceOffset(s.TraceID(), true)
			for j, k := range c.trace {
				if r.vals[off+j] != "" {
					continue // known for this trace
				}
				if v, ok := s.Attr(attribute.Key(k)); ok && v.Type() == attribute.STRING {
					r.vals[off+j] = v.AsString()
				}
			}
		}
	}
	for i := range n {
		r.i = i
		r.checkSpan(span(i))
	}
}

// CheckSpan checks one span alone: the trace metadata rule does not apply.
func (c *Checker) CheckSpan(s Span) []Finding {
	var out []Finding
	r := c.getRun(func(_ int, f Finding) { out = append(out, f) })
	defer c.putRun(r)
	r.checkSpan(s)
	return out
}

// has reports whether the span s, whose attributes r.visit saw, has the
// metadata key of index j in c.keys.
func (r *run) has(s Span, j int) bool {
	if j < seenBits {
		return r.seen&(1<<(j+2)) != 0
	}
	_, ok := s.Attr(attribute.Key(r.c.keys[j]))
	return ok
}

// checkSpan reports the findings of s.
func (r *run) checkSpan(s Span) {
	c := r.c
	r.seen = 0
	r.pending = r.pending[:0]
	s.Range(r.visit)
	if name, ok := s.ServiceName(); !ok || name == "" {
		r.emit(Finding{Rule: MissingServiceName, Level: Violation, Key: crs.ServiceNameKey,
			Message: "the resource has no string service.name",
			Fix:     "set OTEL_SERVICE_NAME, or service.name in the SDK's resource"})
	}
	for b, k := range [...]attribute.Key{crs.ActionCategoryKey, crs.ActionNameKey} {
		if r.seen&(1<<b) == 0 {
			r.emit(Finding{Rule: MissingAttribute, Level: Violation, Key: k,
				Message: "mandatory attribute " + string(k) + " missing",
				Fix:     "start spans with crstel.Action, or set " + string(k) + " on every span; the crs_conformance processor copies it from the enclosing action"})
		}
	}
	for _, f := range r.pending {
		r.emit(f)
	}
	for j, k := range c.required {
		if !r.has(s, c.requiredIdx[j]) {
			r.emit(Finding{Rule: MissingMetadata, Level: Violation, Key: attribute.Key(k),
				Message: "task metadata " + k + " missing",
				Fix:     "put the TaskDetail's metadata on every span: crstel.WithTask does"})
		}
	}
	if len(r.traces) == 0 {
		return
	}
	off := r.traceOffset(s.TraceID(), false)
	if off < 0 {
		return
	}
	for j, k := range c.trace {
		want := r.vals[off+j]
		if want == "" || slices.Contains(c.required, k) || r.has(s, c.traceIdx[j]) {
			continue
		}
		r.emit(Finding{Rule: MissingMetadata, Level: Violation, Key: attribute.Key(k),
			Message: "task metadata " + k + "=" + Quote(want) + " of its trace missing",
			Fix:     "put the TaskDetail's metadata on every span of the task, not only on some"})
	}
}

// checkAttribute reports what is wrong with one span attribute.
func checkAttribute(kv attribute.KeyValue, report func(Finding)) {
	if kv.Key == invalidKey {
		report(Finding{Rule: MarkedInvalid, Level: Violation, Key: kv.Key, Value: Quote(kv.Value.String()),
			Message: "crstel marked the span invalid: " + strings.Join(kv.Value.AsStringSlice(), "; "),
			Fix:     "fix the input crstel names"})
		return
	}
	if want, ok := costTypes[kv.Key]; ok {
		if kv.Value.Type() != want {
			report(Finding{Rule: TypeMismatch, Level: Violation, Key: kv.Key, Value: Quote(kv.Value.String()),
				Message: fmt.Sprintf("%s is %s %s, want %s", kv.Key, typeName(kv.Value.Type()), Quote(kv.Value.String()), typeName(want)),
				Fix:     "send it as " + typeName(want) + costFix[want]})
		}
		return
	}
	k := string(kv.Key)
	if !strings.HasPrefix(k, "crs.") && !strings.HasPrefix(k, "fuzz.corpus.") && kv.Key != crs.ServiceNameKey {
		return // task metadata, gen_ai.*, http.*: not the specification's
	}
	spec, ok := crs.Lookup(kv.Key)
	if !ok {
		f := Finding{Rule: MisspelledKey, Level: Violation, Key: kv.Key, Value: Quote(kv.Value.String()),
			Message: "unknown key " + Quote(k) + " in the specification's namespace"}
		if meant, ok := Nearest(kv.Key); ok {
			f.Message += ", a misspelling of " + string(meant)
			f.Fix = "use " + string(meant)
		} else {
			f.Fix = "use one of the specification's keys"
		}
		report(f)
		return
	}
	if kv.Value.Type() != spec.Type {
		report(Finding{Rule: TypeMismatch, Level: Violation, Key: kv.Key, Value: Quote(kv.Value.String()),
			Message: fmt.Sprintf("%s is %s %s, want %s", kv.Key, typeName(kv.Value.Type()), Quote(kv.Value.String()), typeName(spec.Type)),
			Fix:     "send it as " + typeName(spec.Type) + fixByType[spec.Type]})
		return
	}
	var rule Rule
	var what, fix string
	switch kv.Key {
	case crs.ActionCategoryKey:
		if _, err := crs.ParseCategory(kv.Value.AsString()); err != nil {
			rule, what, fix = UnknownCategory, "is not a category of the specification",
				"use one of "+strings.Join(categoryNames(), ", ")
		}
	case crs.ActionNameKey:
		if err := crs.ValidateName(kv.Value.AsString()); err != nil {
			rule, what, fix = InvalidName, "is not a valid action name: "+strings.TrimPrefix(err.Error(), "crs: "),
				"use a low-cardinality lower_snake_case name, such as "+Quote(crs.SanitizeName(kv.Value.AsString()))+"; put ids in attributes"
		}
	default:
		if err := crs.CheckAttribute(kv); err != nil {
			rule, what, fix = InvalidValue, "has the wrong form", formFix[kv.Key]
		}
	}
	if rule != "" {
		report(Finding{Rule: rule, Level: Violation, Key: kv.Key, Value: Quote(kv.Value.String()),
			Message: string(kv.Key) + " " + Quote(kv.Value.String()) + " " + what, Fix: fix})
	}
}

// invalidKey is crstel.InvalidKey (crstel's mark of invalid input).
const invalidKey = attribute.Key("crstel.invalid")

var fixByType = map[attribute.Type]string{
	attribute.INT64:       ", not a string: crs.EffortWeight and crs.FuzzCorpusSize do in Go",
	attribute.BOOL:        ", not a string",
	attribute.STRINGSLICE: ", a list: crs.FuzzCorpusAdditions does in Go",
	attribute.STRING:      "",
}

// CostTypes returns the types of the cost attributes: of an LLM call's
// usage and cost (gen_ai.usage.*, as crstel's package genai records
// them), of a subprocess's resource usage (crstel.process.*), and of an
// action's roll-up (crstel.cost.*). They are not the specification's, but
// a dashboard that sums them breaks on a string as much. The map is a copy.
func CostTypes() map[attribute.Key]attribute.Type {
	out := make(map[attribute.Key]attribute.Type, len(costTypes))
	for k, t := range costTypes {
		out[k] = t
	}
	return out
}

var costTypes = map[attribute.Key]attribute.Type{
	// An LLM call's.
	"gen_ai.usage.input_tokens":                attribute.INT64,
	"gen_ai.usage.output_tokens":               attribute.INT64,
	"gen_ai.usage.cache_read.input_tokens":     attribute.INT64,
	"gen_ai.usage.cache_creation.input_tokens": attribute.INT64,
	"gen_ai.usage.reasoning.output_tokens":     attribute.INT64,
	"gen_ai.usage.cost.amount":                 attribute.FLOAT64,
	"gen_ai.usage.cost.currency":               attribute.STRING,
	"gen_ai.usage.cost.source":                 attribute.STRING,
	"crstel.cost.prices_version":               attribute.STRING,
	"crstel.cost.unpriced":                     attribute.BOOL,
	// A subprocess's.
	"crstel.process.cpu.user_time":   attribute.FLOAT64,
	"crstel.process.cpu.system_time": attribute.FLOAT64,
	"crstel.process.memory.max_rss":  attribute.INT64,
	"crstel.process.wall_time":       attribute.FLOAT64,
	// An action's roll-up.
	"crstel.cost.llm.amount":               attribute.FLOAT64,
	"crstel.cost.llm.currency":             attribute.STRING,
	"crstel.cost.llm.calls":                attribute.INT64,
	"crstel.cost.llm.unpriced_calls":       attribute.INT64,
	"crstel.cost.llm.other_currency_calls": attribute.INT64,
	"crstel.cost.llm.input_tokens":         attribute.INT64,
	"crstel.cost.llm.output_tokens":        attribute.INT64,
	"crstel.cost.llm.cache_read_tokens":    attribute.INT64,
	"crstel.cost.llm.cache_write_tokens":   attribute.INT64,
	"crstel.cost.cpu.seconds":              attribute.FLOAT64,
	"crstel.cost.memory.byte_seconds":      attribute.INT64,
	"crstel.cost.subprocesses":             attribute.INT64,
}

var costFix = map[attribute.Type]string{
	attribute.FLOAT64: " (a double even when whole: a backend keeps one type a key), not a string or an int",
	attribute.INT64:   ", not a string or a double",
	attribute.STRING:  ", an ISO 4217 code or a name",
	attribute.BOOL:    ", not a string",
}

var formFix = map[attribute.Key]string{
	crs.CodeLinesKey:            `send a line range "N-M", such as "10-50": crs.CodeLines does in Go`,
	crs.FuzzCorpusUpdateTimeKey: "send an RFC 3339 time, such as 2025-03-01T12:00:00Z: crs.FuzzCorpusUpdateTime does in Go",
	crs.FuzzCorpusSizeKey:       "send a count of 0 or more",
	crs.EffortWeightKey:         "send a weight of 0 or more",
}

func typeName(t attribute.Type) string {
	switch t {
	case attribute.STRING:
		return "a string"
	case attribute.INT64:
		return "an int"
	case attribute.BOOL:
		return "a bool"
	case attribute.FLOAT64:
		return "a double"
	case attribute.STRINGSLICE:
		return "a string slice"
	}
	return strings.ToLower(t.String())
}

func categoryNames() []string {
	var out []string
	for _, c := range crs.Categories() {
		out = append(out, string(c))
	}
	return out
}

// Nearest returns the specification's key that key most likely misspells:
// one at a small edit distance (crs.action.code.files), or one that ends
// with the same segments (crs.code.file for crs.action.code.file); false
// if none is close.
func Nearest(key attribute.Key) (attribute.Key, bool) {
	k := string(key)
	best, bestD := attribute.Key(""), 1<<30
	for _, s := range crs.Specs() {
		sk := string(s.Key)
		if sk == k || s.Requirement == crs.RequiredResource {
			continue
		}
		d := distance(k, sk)
		if d <= max(2, len(sk)/8) && d < bestD {
			best, bestD = s.Key, d
		}
	}
	if best != "" {
		return best, true
	}
	// The same namespace and the same last segment, with segments missing
	// or added between (crs.code.file, crs.action.file): the key with the
	// most segments in common.
	segs := strings.Split(k, ".")
	common := 0
	for _, s := range crs.Specs() {
		ss := strings.Split(string(s.Key), ".")
		if s.Requirement == crs.RequiredResource || len(segs) < 2 || segs[0] != ss[0] || segs[len(segs)-1] != ss[len(ss)-1] {
			continue
		}
		n := 0
		for _, seg := range segs {
			if slices.Contains(ss, seg) {
				n++
			}
		}
		if n > common {
			best, common = s.Key, n
		}
	}
	return best, best != ""
}

// distance returns the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	if len(a) > 256 || len(b) > 256 {
		return 1 << 30 // not a misspelling: too long to compare
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// quoteLimit is how many bytes of a value a finding shows.
const quoteLimit = 64

// Quote returns s quoted for a finding or an error message: invalid UTF-8
// is escaped and a value longer than 64 bytes is cut, with its full length
// noted, so a 1 MB value never ends up in a log line:
//
//	Quote("bad\xff")                   "bad\xff"
//	Quote(strings.Repeat("a", 1<<20))  "aaa…a"... (1048576 bytes)
//
// crstel's errors quote values with it too.
func Quote(s string) string {
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
