package crsconformanceprocessor

import (
	"context"
	"slices"
	"sync"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/collector/processor/processorhelper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"

	"github.com/crstel/crstel/collector/processor/crsconformanceprocessor/internal/metadata"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crs/conform"
)

// The attributes the processor sets on the items it marks or repairs.
const (
	// InvalidKey lists the findings of a marked item, one string each,
	// "rule: message; fix: fix", after those already there: crstel's Go
	// library marks its own invalid spans with the same key.
	InvalidKey = "crstel.invalid"
	// RepairedKey lists the repairs made by rules in mode repair, one
	// string each, "rule: what was done".
	RepairedKey = "crstel.repaired"
	// InheritedKeysKey lists the keys an item inherited from its nearest
	// ancestor action.
	InheritedKeysKey = "crstel.inherited.keys"
	// InheritedFromKey is the span id (16 hex digits) of the action the
	// keys of InheritedKeysKey were copied from.
	InheritedFromKey = "crstel.inherited.from"
)

// The values of the service.name attribute of the processor's metrics
// other than the services' own names.
const (
	// UnknownService counts items whose resource has no string
	// service.name.
	UnknownService = "unknown_service"
	// OtherServices counts the items of the services seen after
	// Config.MaxServiceNames others.
	OtherServices = "other"
)

// maxRepairRounds bounds the rounds of repair and check of one item: a
// repair can reveal another finding (a misspelled key renamed to an
// attribute whose value has the wrong type).
const maxRepairRounds = 3

// signal is the value of the signal attribute of the metrics.
type signal string

const (
	signalTraces signal = "traces"
	signalLogs   signal = "logs"
)

// conformer checks, marks, repairs and drops the items of a pipeline.
type conformer struct {
	cfg     *Config
	checker *conform.Checker
	tel     *metadata.TelemetryBuilder
	// inheritPair: crs.action.category and crs.action.name are inherited;
	// inheritKeys the task metadata keys that are.
	inheritPair bool
	inheritKeys []string
	// required: the keys of Config.RequiredMetadata.
	required []string

	mu       sync.Mutex
	services map[string]struct{} // the service names with a label of their own

	pool sync.Pool // of *batch
}

func newConformer(set processor.Settings, cfg *Config) (*conformer, error) {
	tel, err := metadata.NewTelemetryBuilder(set.TelemetrySettings)
	if err != nil {
		return nil, err
	}
	c := &conformer{
		cfg:      cfg,
		checker:  conform.New(conform.Config{RequiredMetadata: cfg.RequiredMetadata, TraceMetadata: cfg.TraceMetadata}),
		tel:      tel,
		required: slices.Clone(cfg.RequiredMetadata),
		services: make(map[string]struct{}),
	}
	traceMeta := cfg.TraceMetadata
	if traceMeta == nil { // the rulebook's default, as the checker's
		traceMeta = conform.DefaultTraceMetadata
	}
	if cfg.Inherit {
		c.inheritPair = cfg.mode(conform.MissingAttribute) != ModeObserve
		if cfg.mode(conform.MissingMetadata) != ModeObserve {
			for _, k := range append(slices.Clone(cfg.RequiredMetadata), traceMeta...) {
				if !slices.Contains(c.inheritKeys, k) {
					c.inheritKeys = append(c.inheritKeys, k)
				}
			}
		}
	}
	c.pool.New = func() any { return new(batch) }
	return c, nil
}

func (c *conformer) shutdown(context.Context) error {
	c.tel.Shutdown()
	return nil
}

// label returns the value of the service.name attribute of the metrics
// for a resource's service.name.
func (c *conformer) label(name string, ok bool) string {
	if !ok || name == "" {
		return UnknownService
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.services[name]; ok {
		return name
	}
	if len(c.services) < c.cfg.MaxServiceNames {
		c.services[name] = struct{}{}
		return name
	}
	return OtherServices
}

// processTraces checks the spans of td.
func (c *conformer) processTraces(ctx context.Context, td ptrace.Traces) (ptrace.Traces, error) {
	b := c.pool.Get().(*batch)
	defer c.pool.Put(b)
	c.collectSpans(b, td)
	c.run(ctx, b, b.spanParent)
	if b.dropped == nil {
		return td, nil
	}
	k := 0
	rss := td.ResourceSpans()
	rss.RemoveIf(func(rs ptrace.ResourceSpans) bool {
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			ss.Spans().RemoveIf(func(ptrace.Span) bool {
				k++
				return b.items[k-1].drop
			})
			return ss.Spans().Len() == 0
		})
		return rs.ScopeSpans().Len() == 0
	})
	if rss.Len() == 0 {
		return td, processorhelper.ErrSkipProcessingData
	}
	return td, nil
}

// checked tells whether the log record r is checked: it was emitted in a
// span (it has a span id), and is not a span lifecycle record. A lifecycle
// record (span.state heartbeat or ended, the format of OpenTelemetry
// Python contrib's partial-span processor, which crstel's library sends
// too) carries its span in its body, with the span's ids: the span is
// checked when it ends, and the record is for crs_watchdog, not an event
// of the action.
func checked(r plog.LogRecord) bool {
	if r.SpanID().IsEmpty() {
		return false
	}
	st, ok := r.Attributes().Get(spanStateKey)
	return !ok || st.Type() != pcommon.ValueTypeStr || (st.Str() != "heartbeat" && st.Str() != "ended")
}

// spanStateKey is the attribute of a span lifecycle record that says which
// record it is.
const spanStateKey = "span.state"

// processLogs checks the log records of ld that were emitted in a span:
// those inside an action carry the action's attributes, as its spans do.
// Span lifecycle records are left alone (see checked).
func (c *conformer) processLogs(ctx context.Context, ld plog.Logs) (plog.Logs, error) {
	b := c.pool.Get().(*batch)
	defer c.pool.Put(b)
	b.reset(signalLogs)
	rls := ld.ResourceLogs()
	for i := range rls.Len() {
		rl := rls.At(i)
		svc, ok := serviceName(rl.Resource())
		label := c.label(svc, ok)
		start := len(b.items)
		sls := rl.ScopeLogs()
		for j := range sls.Len() {
			recs := sls.At(j).LogRecords()
			for k := range recs.Len() {
				r := recs.At(k)
				if !checked(r) {
					continue
				}
				b.items = append(b.items, item{attrs: r.Attributes(), service: svc, hasService: ok, label: label,
					trace: r.TraceID(), span: r.SpanID()})
			}
		}
		b.count(&b.checked, label, len(b.items)-start)
	}
	c.run(ctx, b, b.recordParent)
	if b.dropped == nil {
		return ld, nil
	}
	k := 0
	rls.RemoveIf(func(rl plog.ResourceLogs) bool {
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			sl.LogRecords().RemoveIf(func(r plog.LogRecord) bool {
				if !checked(r) {
					return false
				}
				k++
				return b.items[k-1].drop
			})
			return sl.LogRecords().Len() == 0
		})
		return rl.ScopeLogs().Len() == 0
	})
	if rls.Len() == 0 {
		return ld, processorhelper.ErrSkipProcessingData
	}
	return ld, nil
}

// collectSpans resets b to the spans of td.
func (c *conformer) collectSpans(b *batch, td ptrace.Traces) {
	b.reset(signalTraces)
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		rs := rss.At(i)
		svc, ok := serviceName(rs.Resource())
		label := c.label(svc, ok)
		start := len(b.items)
		sss := rs.ScopeSpans()
		for j := range sss.Len() {
			spans := sss.At(j).Spans()
			for k := range spans.Len() {
				s := spans.At(k)
				b.items = append(b.items, item{attrs: s.Attributes(), service: svc, hasService: ok, label: label,
					trace: s.TraceID(), span: s.SpanID(), parent: s.ParentSpanID()})
			}
		}
		b.count(&b.checked, label, len(b.items)-start)
	}
}

// run checks, inherits, marks, repairs and drops the items of b, and
// records the metrics. parentOf returns the index of the item an item
// inherits through (its parent span), or -1.
//
// The batch is checked first, and the items whose findings inheritance
// can put right inherit then, and are checked again: the same outcome as
// inheriting first, for a batch that conforms at the cost of the check.
func (c *conformer) run(ctx context.Context, b *batch, parentOf func(i int) int) {
	c.checker.Check(len(b.items), b.span, b.report)
	b.parentOf = parentOf
	for start := 0; start < len(b.found); {
		i := b.found[start].i
		end := start + 1
		for end < len(b.found) && b.found[end].i == i {
			end++
		}
		fs := make([]conform.Finding, 0, end-start)
		for _, f := range b.found[start:end] {
			fs = append(fs, f.f)
		}
		if c.inheritable(fs) {
			c.inherit(b, i)
			if b.items[i].inherited { // now, or as the ancestor of one before
				fs = c.recheck(&b.items[i], fs)
			}
		}
		c.apply(b, &b.items[i], fs)
		start = end
	}
	for i := range b.items {
		it := &b.items[i]
		switch {
		case it.drop:
			b.count(&b.dropped, it.label, 1)
		case it.repaired:
			b.count(&b.repaired, it.label, 1)
		}
	}
	c.record(ctx, b)
}

// inheritable reports whether inheritance may put right some of the
// findings fs of an item: both mandatory attributes missing, or task
// metadata.
func (c *conformer) inheritable(fs []conform.Finding) bool {
	pair := 0
	for _, f := range fs {
		switch {
		case f.Rule == conform.MissingAttribute && c.inheritPair:
			pair++
		case f.Rule == conform.MissingMetadata && len(c.inheritKeys) > 0:
			return true
		}
	}
	return pair == 2
}

// recheck returns the findings of it after it changed: those of the item
// alone, and those of fs that only its trace can tell (task metadata of
// the trace) and that still hold.
func (c *conformer) recheck(it *item, fs []conform.Finding) []conform.Finding {
	out := c.checker.CheckSpan(it)
	for _, f := range fs {
		if f.Rule != conform.MissingMetadata || slices.Contains(c.required, string(f.Key)) {
			continue
		}
		if _, ok := it.attrs.Get(string(f.Key)); !ok {
			out = append(out, f)
		}
	}
	return out
}

// apply does what the modes of the rules say about the findings fs of it.
func (c *conformer) apply(b *batch, it *item, fs []conform.Finding) {
	var repairs []string
	for round := 0; ; round++ {
		for _, f := range fs {
			if c.cfg.mode(f.Rule) == ModeDrop {
				it.drop = true
				for _, f := range fs {
					b.violation(f, it.label, "dropped")
				}
				return
			}
		}
		if round == maxRepairRounds {
			break
		}
		var rest []conform.Finding
		for _, f := range fs {
			if c.cfg.mode(f.Rule) == ModeRepair {
				if msg, ok := repair(it.attrs, f); ok {
					repairs = append(repairs, msg)
					b.violation(f, it.label, "repaired")
					continue
				}
			}
			rest = append(rest, f)
		}
		if len(rest) == len(fs) {
			break
		}
		// Check the item again: its trace's metadata is as it was.
		fs = c.checker.CheckSpan(it)
		for _, f := range rest {
			if f.Rule == conform.MissingMetadata && !slices.Contains(c.required, string(f.Key)) {
				fs = append(fs, f)
			}
		}
	}
	var marks []string
	for _, f := range fs {
		if c.cfg.mode(f.Rule) == ModeObserve {
			b.violation(f, it.label, "observed")
			continue
		}
		b.violation(f, it.label, "marked")
		if f.Rule != conform.MarkedInvalid { // marked already
			marks = append(marks, f.String())
		}
	}
	appendStrings(it.attrs, InvalidKey, marks)
	if len(repairs) > 0 {
		appendStrings(it.attrs, RepairedKey, repairs)
		it.repaired = true
	}
}

// appendStrings appends to the string slice attribute key of attrs those
// of values it does not hold yet. A value of key that is not a slice is
// kept as the slice's first element.
func appendStrings(attrs pcommon.Map, key string, values []string) {
	if len(values) == 0 {
		return
	}
	var s pcommon.Slice
	switch v, ok := attrs.Get(key); {
	case !ok:
		s = attrs.PutEmptySlice(key)
	case v.Type() != pcommon.ValueTypeSlice:
		old := v.AsString()
		s = v.SetEmptySlice()
		s.AppendEmpty().SetStr(old)
	default:
		s = v.Slice()
	}
	for _, val := range values {
		if !sliceHas(s, val) {
			s.AppendEmpty().SetStr(val)
		}
	}
}

func sliceHas(s pcommon.Slice, val string) bool {
	for i := range s.Len() {
		if e := s.At(i); e.Type() == pcommon.ValueTypeStr && e.Str() == val {
			return true
		}
	}
	return false
}

// inherit copies the action's category and name and the task metadata
// from the nearest ancestor action in b into item i where it lacks them,
// (item.inherited).
func (c *conformer) inherit(b *batch, i int) {
	if b.anc == nil || len(b.anc) != len(b.items) {
		// What each item is, as it arrived, before any inherits.
		b.anc = slices.Grow(b.anc[:0], len(b.items))[:len(b.items)]
		b.state = slices.Grow(b.state[:0], len(b.items))[:len(b.items)]
		for j := range b.items {
			it := &b.items[j]
			_, hasCat := it.attrs.Get(string(crs.ActionCategoryKey))
			_, hasName := it.attrs.Get(string(crs.ActionNameKey))
			it.action = hasCat && hasName
			b.anc[j] = -2
			b.state[j] = 0
		}
	}
	c.inheritOne(b, i)
}

// inheritOne makes item i inherit from its nearest ancestor action, after
// that action inherited from its own.
func (c *conformer) inheritOne(b *batch, i int) {
	if b.state[i] != 0 {
		return
	}
	b.state[i] = 1
	defer func() { b.state[i] = 2 }()
	a := b.ancestor(i)
	if a < 0 {
		return
	}
	c.inheritOne(b, a)
	it, from := &b.items[i], &b.items[a]
	var added []string
	if c.inheritPair && !it.action {
		_, hasCat := it.attrs.Get(string(crs.ActionCategoryKey))
		_, hasName := it.attrs.Get(string(crs.ActionNameKey))
		if !hasCat && !hasName {
			for _, k := range [...]attribute.Key{crs.ActionCategoryKey, crs.ActionNameKey} {
				if v, ok := from.attrs.Get(string(k)); ok {
					v.CopyTo(it.attrs.PutEmpty(string(k)))
					added = append(added, string(k))
					b.violation(conform.Finding{Rule: conform.MissingAttribute, Level: conform.Violation}, it.label, "repaired")
				}
			}
		}
	}
	for _, k := range c.inheritKeys {
		if _, ok := it.attrs.Get(k); ok {
			continue
		}
		if v, ok := from.attrs.Get(k); ok {
			v.CopyTo(it.attrs.PutEmpty(k))
			added = append(added, k)
			b.violation(conform.Finding{Rule: conform.MissingMetadata, Level: conform.Violation}, it.label, "repaired")
		}
	}
	if len(added) == 0 {
		return
	}
	appendStrings(it.attrs, InheritedKeysKey, added)
	it.attrs.PutStr(InheritedFromKey, from.span.String())
	it.inherited, it.repaired = true, true
}

// record records the metrics of b.
func (c *conformer) record(ctx context.Context, b *batch) {
	sig := attribute.String("signal", string(b.signal))
	for label, n := range b.checked {
		c.tel.ProcessorCrsConformanceItemsChecked.Add(ctx, int64(n), metric.WithAttributeSet(
			attribute.NewSet(sig, attribute.String("service.name", label))))
	}
	for label, n := range b.repaired {
		c.tel.ProcessorCrsConformanceItemsRepaired.Add(ctx, int64(n), metric.WithAttributeSet(
			attribute.NewSet(sig, attribute.String("service.name", label))))
	}
	for label, n := range b.dropped {
		c.tel.ProcessorCrsConformanceItemsDropped.Add(ctx, int64(n), metric.WithAttributeSet(
			attribute.NewSet(sig, attribute.String("service.name", label))))
	}
	for v, n := range b.violations {
		c.tel.ProcessorCrsConformanceViolations.Add(ctx, int64(n), metric.WithAttributeSet(attribute.NewSet(sig,
			attribute.String("rule", string(v.rule)), attribute.String("level", string(v.level)),
			attribute.String("service.name", v.service), attribute.String("outcome", v.outcome))))
	}
}

// batch is the processor's working state for one batch of items, reused
// across batches.
type batch struct {
	signal signal
	items  []item
	found  []found
	// The metrics of the batch, by service label.
	checked, repaired, dropped map[string]int
	violations                 map[violation]int

	// For inheritance, made on first use: the index of the items by span,
	// the memo of each item's nearest ancestor action (-2 unknown, -1
	// none), and the state of each item (0 to do, 1 doing, 2 done).
	parentOf func(i int) int
	indexed  bool
	bySpan   map[spanKey]int
	anc      []int
	state    []uint8
}

// found is a finding of the item of index i.
type found struct {
	i int
	f conform.Finding
}

// violation is a key of the violations metric.
type violation struct {
	rule             conform.Rule
	level            conform.Level
	service, outcome string
}

// spanKey identifies a span.
type spanKey struct {
	trace pcommon.TraceID
	span  pcommon.SpanID
}

func (b *batch) reset(s signal) {
	b.signal = s
	clear(b.items) // let go of the batch's pdata
	b.items = b.items[:0]
	b.found = b.found[:0]
	b.checked, b.repaired, b.dropped, b.violations = nil, nil, nil, nil
	b.parentOf = nil
	b.indexed = false
	clear(b.bySpan)
	b.anc = b.anc[:0]
}

func (b *batch) span(i int) conform.Span { return &b.items[i] }

func (b *batch) report(i int, f conform.Finding) { b.found = append(b.found, found{i, f}) }

func (b *batch) count(m *map[string]int, label string, n int) {
	if n == 0 {
		return
	}
	if *m == nil {
		*m = make(map[string]int)
	}
	(*m)[label] += n
}

func (b *batch) violation(f conform.Finding, label, outcome string) {
	if b.violations == nil {
		b.violations = make(map[violation]int)
	}
	b.violations[violation{f.Rule, f.Level, label, outcome}]++
}

// ancestor returns the index of the nearest ancestor action of item i in
// the batch, or -1.
func (b *batch) ancestor(i int) int {
	if b.anc[i] != -2 {
		return b.anc[i]
	}
	b.anc[i] = -1 // a cycle of parents ends here
	switch p := b.parentOf(i); {
	case p < 0:
	case b.items[p].action:
		b.anc[i] = p
	default:
		b.anc[i] = b.ancestor(p)
	}
	return b.anc[i]
}

// spanParent returns the index of the parent span of span i in the batch,
// or -1.
func (b *batch) spanParent(i int) int {
	it := &b.items[i]
	if it.parent.IsEmpty() {
		return -1
	}
	if !b.indexed {
		b.indexed = true
		if b.bySpan == nil {
			b.bySpan = make(map[spanKey]int, len(b.items))
		}
		for j := range b.items {
			b.bySpan[spanKey{b.items[j].trace, b.items[j].span}] = j
		}
	}
	if p, ok := b.bySpan[spanKey{it.trace, it.parent}]; ok {
		return p
	}
	return -1
}

// recordParent returns, for log record i, the index of the first record
// of its span that carries the action's category and name, or -1: the
// records of one span inherit from it.
func (b *batch) recordParent(i int) int {
	it := &b.items[i]
	if it.action {
		return -1
	}
	if !b.indexed {
		b.indexed = true
		if b.bySpan == nil {
			b.bySpan = make(map[spanKey]int)
		}
		for j := len(b.items) - 1; j >= 0; j-- {
			if b.items[j].action {
				b.bySpan[spanKey{b.items[j].trace, b.items[j].span}] = j
			}
		}
	}
	if p, ok := b.bySpan[spanKey{it.trace, it.span}]; ok {
		return p
	}
	return -1
}
