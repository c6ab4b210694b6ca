package crstel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/internal/actionref"
	"github.com/crstel/crstel/internal/violation"
)

// taskProperty marks the W3C baggage members that hold task metadata.
const taskProperty = actionref.TaskProperty

// task is task metadata: its entries as span attributes, sorted by key and
// repaired (see crs.Metadata.Attributes), computed once, with what is made
// of them once too: the start options of its actions, and, for a task
// WithTask or Action made, its W3C baggage.
type task struct {
	attrs []attribute.KeyValue
	// bag is the task's members as baggage, alone, within a header's
	// limits, made once (see task.baggage); bagProblems is what building
	// it finds, known when the task is made: nil if nothing.
	bag         atomic.Pointer[taskBaggage]
	bagProblems *baggageProblems
	starts      startOptions
}

// baggageProblems is what making a task's baggage found: invalid names
// the entries that cannot travel in baggage, leftOut those that did not
// fit (see withTaskBaggage).
type baggageProblems struct{ invalid, leftOut error }

// baggageErrors returns the problems of t's baggage: invalid entries,
// and those left out.
func (t *task) baggageErrors() (invalid, leftOut error) {
	if p := t.bagProblems; p != nil {
		return p.invalid, p.leftOut
	}
	return nil, nil
}

// taskBaggage is the W3C baggage of a task, and context.Background with
// it: the context of a worker's actions, often.
type taskBaggage struct {
	bag        baggage.Baggage
	background context.Context // nil if bag is empty
}

// on returns ctx, which has no baggage, with tb's.
func (tb *taskBaggage) on(ctx context.Context) context.Context {
	switch {
	case tb.background != nil && ctx == context.Background():
		return tb.background
	case tb.bag.Len() > 0:
		return baggage.ContextWithBaggage(ctx, tb.bag)
	}
	return ctx
}

// baggage returns t's baggage, made on first use: for an interned task
// whose baggage surely fits (see intern), which has no problems to report;
// those of another were found, and kept in bagProblems, when it was made.
func (t *task) baggage() *taskBaggage {
	if tb := t.bag.Load(); tb != nil {
		return tb
	}
	b, invalid, leftOut := withTaskBaggage(baggage.Baggage{}, t.attrs)
	if err := errors.Join(invalid, leftOut); err != nil {
		// Not expected: baggageFits said the members fit and are tokens.
		otel.Handle(err)
	}
	return t.setBaggage(b)
}

// setBaggage makes b t's baggage, unless t has one already, and returns
// t's.
func (t *task) setBaggage(b baggage.Baggage) *taskBaggage {
	tb := &taskBaggage{bag: b}
	if b.Len() > 0 {
		tb.background = baggage.ContextWithBaggage(context.Background(), b)
	}
	if !t.bag.CompareAndSwap(nil, tb) {
		return t.bag.Load()
	}
	return tb
}

// taskKey is the context key of the task.
type taskKey = actionref.TaskKey

// Attributes returns the task's entries as attributes, sorted by key; for
// the packages that find it through actionref.
func (t *task) Attributes() []attribute.KeyValue { return t.attrs }

// value returns the value of key, and whether t has it.
func (t *task) value(key string) (string, bool) {
	i, ok := slices.BinarySearchFunc(t.attrs, key, func(kv attribute.KeyValue, k string) int { return strings.Compare(string(kv.Key), k) })
	if !ok {
		return "", false
	}
	return t.attrs[i].Value.AsString(), true
}

// has reports whether t has every entry of meta, with the same value: the
// metadata merged with meta is t's.
func (t *task) has(meta crs.Metadata) bool {
	switch {
	case len(meta) > len(t.attrs):
		return false
	case len(meta) == len(t.attrs):
		// The same metadata, usually: a lookup in meta for each entry of t
		// is cheaper than ranging over meta.
		for _, kv := range t.attrs {
			if v, ok := meta[string(kv.Key)]; !ok || v != kv.Value.AsString() {
				return false
			}
		}
		return true
	}
	for k, v := range meta {
		if got, ok := t.value(k); !ok || got != v {
			return false
		}
	}
	return true
}

// metadata returns t's entries as a new map.
func (t *task) metadata() crs.Metadata {
	m := make(crs.Metadata, len(t.attrs))
	for _, kv := range t.attrs {
		m[string(kv.Key)] = kv.Value.AsString()
	}
	return m
}

// WithTask returns a copy of ctx that carries the task metadata meta, the
// metadata map of the TaskDetail the CRS received. Every [Action] started
// from the returned context, and every span started inside such an action,
// carries each entry as an attribute, as the specification requires.
//
// The entries are merged with any task metadata ctx already holds (meta wins
// on a clash). They are also put in the context's W3C baggage, each member
// marked with the property crstel.task, so that the installed propagators
// carry them to other processes with the trace context: over HTTP or gRPC
// with otelhttp and otelgrpc, or through a queue by injecting into a
// [propagation.MapCarrier]. An Action on the receiving side finds them there.
// meta is not kept: the caller may change it afterwards.
//
// Invalid entries (see [crs.Metadata.Validate]) are reported through
// otel.Handle, or panic in strict mode; they are repaired or left out, never
// passed on broken. A nil ctx is replaced by context.Background and reported.
func WithTask(ctx context.Context, meta crs.Metadata) context.Context {
	if ctx == nil {
		violation.Report(context.Background(), errNilContext("WithTask"))
		ctx = context.Background()
	}
	parent := taskFrom(ctx)
	t, bctx, _, invalid, leftOut := withMeta(ctx, parent, meta, false, startKey{})
	violation.Report(ctx, errors.Join(invalid, leftOut))
	if t == parent {
		return ctx
	}
	return context.WithValue(bctx, taskKey{}, t)
}

// withMeta returns the task of parent (the task of ctx, nil if none) with
// meta merged in, the context with its baggage (ctx, or ctx with the task's
// baggage), what was invalid in meta, and which entries did not fit in the
// baggage. It returns parent itself, and ctx, if meta changes nothing.
// Metadata passed again and again (as the TaskDetail's map is, action after
// action) is found in a small table of recent tasks, so that its task,
// baggage and start options are made once.
//
// If mayDefer is true, the baggage of metadata seen for the first time, in
// a context without other metadata or baggage, is not made: deferred is
// then true, the returned context is ctx, and the caller adds the task's
// baggage with a lazyBaggage, which makes it only if asked for it. Action
// does, since the context of an action with fresh metadata is seldom asked
// for its baggage. pair is the category and name of the action that calls,
// zero for WithTask: a task made here has its start options made with it.
func withMeta(ctx context.Context, parent *task, meta crs.Metadata, mayDefer bool, pair startKey) (_ *task, _ context.Context, deferred bool, invalid, leftOut error) {
	switch {
	case len(meta) == 0:
		return parent, ctx, false, nil, nil
	case parent != nil && parent.has(meta):
		return parent, ctx, false, nil, nil
	}
	if parent == nil {
		if b := baggage.FromContext(ctx); b.Len() == 0 {
			e, made := intern(meta, pair)
			t := &e.t
			tb := t.bag.Load()
			switch {
			case tb == nil && made && mayDefer:
				// Metadata seen for the first time, fresh on each call
				// perhaps: its baggage is made only if the context is
				// asked for it.
				deferred = true
			default:
				if tb == nil {
					tb = t.baggage() // metadata given again: made once
				}
				ctx = tb.on(ctx)
			}
			bagInvalid, leftOut := t.baggageErrors()
			return t, ctx, deferred, errors.Join(e.invalid(), bagInvalid), leftOut
		}
	}
	// Metadata added to other metadata, or to a context with other baggage.
	invalid = meta.Validate()
	t := &task{attrs: mergeAttrs(parent, meta)}
	b, bagInvalid, leftOut := withTaskBaggage(baggage.FromContext(ctx), t.attrs)
	return t, baggage.ContextWithBaggage(ctx, b), false, errors.Join(invalid, bagInvalid), leftOut
}

// mergeAttrs returns the attributes of parent's metadata with meta's added,
// meta winning on a clash, sorted by key. If the result would have more than
// crs.MaxMetadataKeys entries, parent's entries are kept first, then meta's
// in key order: metadata set earlier is not pushed out by a flood of new
// keys.
func mergeAttrs(parent *task, meta crs.Metadata) []attribute.KeyValue {
	add := meta.Attributes() // sorted, repaired, at most MaxMetadataKeys
	if parent == nil || len(parent.attrs) == 0 {
		return add
	}
	out := make([]attribute.KeyValue, 0, min(len(parent.attrs)+len(add), crs.MaxMetadataKeys))
	room := crs.MaxMetadataKeys - len(parent.attrs)
	i, j := 0, 0
	for i < len(parent.attrs) || j < len(add) {
		switch {
		case j == len(add) || i < len(parent.attrs) && parent.attrs[i].Key < add[j].Key:
			out = append(out, parent.attrs[i])
			i++
		case i == len(parent.attrs) || add[j].Key < parent.attrs[i].Key:
			if room > 0 { // a new key
				out = append(out, add[j])
				room--
			}
			j++
		default: // the same key: meta wins
			out = append(out, add[j])
			i++
			j++
		}
	}
	return out
}

// Task returns the task metadata that ctx carries: set by [WithTask] in this
// process, or received in W3C baggage from another. The result is a copy;
// it is nil if ctx carries none.
func Task(ctx context.Context) crs.Metadata {
	if ctx == nil {
		return nil
	}
	if t := taskFrom(ctx); t != nil {
		return t.metadata()
	}
	return nil
}

// taskFrom returns the task in ctx, or, failing that, the one in its
// baggage; nil if there is none.
func taskFrom(ctx context.Context) *task {
	if t, ok := ctx.Value(taskKey{}).(*task); ok {
		return t
	}
	meta := actionref.BaggageTask(baggage.FromContext(ctx))
	if meta == nil {
		return nil
	}
	return &task{attrs: meta.Attributes()}
}

// internEntry is a task made from metadata given as it was, for a context
// without other metadata or baggage.
type internEntry struct {
	hash uint64
	bad  *invalidMeta // nil if the metadata is valid
	t    task         // in the same allocation
}

// invalidMeta is invalid metadata, as given, and what Validate found in it.
type invalidMeta struct {
	given []attribute.KeyValue
	err   error
}

// invalid returns what Validate found in e's metadata.
func (e *internEntry) invalid() error {
	if e.bad == nil {
		return nil
	}
	return e.bad.err
}

// interned holds the tasks of the metadata given most recently: a table
// small enough to stay in the cache, large enough for the tasks a process
// works on at once; lastInterned is the entry used last, tried first,
// which saves hashing the metadata when one task is at work.
var (
	interned     [64]atomic.Pointer[internEntry]
	lastInterned atomic.Pointer[internEntry]
)

var internSeed = maphash.MakeSeed()

// intern returns the entry of meta, made on first use (made is then true):
// its task and what Validate found. The task's baggage is made then only if
// it may not fit in a header or has entries that cannot travel (so that
// what is left out is known, and reported, at once); else on first use
// (see task.baggage).
func intern(meta crs.Metadata, pair startKey) (e *internEntry, made bool) {
	last := lastInterned.Load()
	switch {
	case last == nil:
		return internMiss(meta, pair, nil, 0, "")
	case last.bad == nil && len(meta) == len(last.t.attrs) && len(meta) <= maxStackEntries:
		// The keys of the metadata given last, usually, if not its
		// values: looked up in its key order.
		for i, kv := range last.t.attrs {
			v, ok := meta[string(kv.Key)]
			if !ok { // other keys
				return internMiss(meta, pair, nil, 0, "")
			}
			if v != kv.Value.AsString() {
				return internMiss(meta, pair, last, i, v)
			}
		}
		return last, false
	case last.matches(meta):
		return last, false
	}
	return internMiss(meta, pair, nil, 0, "")
}

// maxStackEntries is the most entries internMiss takes as attributes on
// the stack.
const maxStackEntries = 8

// internMiss returns the entry of meta, which is not the last one used:
// found in the table, or made. If same is not nil, meta has its keys, and
// its first i values, but v, not same's, at the i-th key. A task made
// here has the start options of pair (an action's category and name; none
// if zero) made with it, if the pair is valid (see startOptions).
func internMiss(meta crs.Metadata, pair startKey, same *internEntry, i int, v string) (e *internEntry, made bool) {
	// The entries are taken as attributes in kvs, which then need not
	// range over meta again: in same's key order, which is sorted, if
	// meta has its keys (small metadata only: buf stays on the stack; it
	// is not in intern, so that a hit does not clear it).
	var buf [maxStackEntries]attribute.KeyValue
	kvs := buf[:0]
	if same != nil {
		kvs = append(kvs, same.t.attrs[:i]...)
		kvs = append(kvs, attribute.String(string(same.t.attrs[i].Key), v))
		for _, kv := range same.t.attrs[i+1:] {
			v, ok := meta[string(kv.Key)]
			if !ok { // other keys
				kvs = kvs[:0]
				break
			}
			kvs = append(kvs, attribute.String(string(kv.Key), v))
		}
	}
	sorted := len(kvs) == len(meta)
	var h uint64
	if sorted {
		for _, kv := range kvs {
			h += maphash.String(internSeed, kv.Value.AsString())
		}
	} else {
		for k, v := range meta {
			// The sum does not depend on the order of the map's
			// iteration. Values alone: the keys are usually the same
			// from task to task, and matches tells metadata of the same
			// sum apart.
			h += maphash.String(internSeed, v)
			if len(kvs) < len(buf) {
				kvs = append(kvs, attribute.String(k, v))
			}
		}
	}
	slot := &interned[h%uint64(len(interned))]
	if e := slot.Load(); e != nil && e.hash == h && e.matches(meta) {
		lastInterned.Store(e)
		return e, false
	}
	if err := validate(meta, kvs); err == nil {
		// Valid metadata is its attributes as they are, sorted, made
		// here with room in front for an action's category and name.
		var room []attribute.KeyValue
		e, room = newEntry(len(meta))
		room = room[:2]
		if len(kvs) == len(meta) {
			if !sorted {
				sortByKey(kvs) // on the stack: cheaper than on the heap
			}
			room = append(room, kvs...)
		} else {
			for k, v := range meta {
				room = append(room, attribute.String(k, v))
			}
			sortByKey(room[2:])
		}
		e.t.attrs = room[2:]
		if pair.valid() {
			// Not yet shared: the first pair is claimed, and its
			// attributes written in the room, at once.
			e.t.starts.claimFirst(pair, room)
		}
	} else {
		e = &internEntry{}
		e.t.attrs = meta.Attributes()
		e.bad = &invalidMeta{given: make([]attribute.KeyValue, 0, len(meta)), err: err}
		for k, v := range meta {
			e.bad.given = append(e.bad.given, attribute.String(k, v))
		}
	}
	e.hash = h
	if len(e.t.attrs) == 0 || !baggageFits(e.t.attrs) {
		b, invalid, leftOut := withTaskBaggage(baggage.Baggage{}, e.t.attrs)
		if invalid != nil || leftOut != nil {
			e.t.bagProblems = &baggageProblems{invalid, leftOut}
		}
		e.t.setBaggage(b)
	}
	slot.Store(e)
	lastInterned.Store(e)
	return e, true
}

// validate returns meta.Validate(), checking the entries in kvs if it
// holds them all: ranging over a map costs more than checking a few
// entries.
func validate(meta crs.Metadata, kvs []attribute.KeyValue) error {
	if len(kvs) != len(meta) {
		return meta.Validate()
	}
	for _, kv := range kvs {
		if crs.ValidateEntry(string(kv.Key), kv.Value.AsString()) != nil {
			return meta.Validate() // every problem, listed as Validate lists them
		}
	}
	return nil
}

// newEntry returns a new entry and an empty slice with room for n+2
// attributes, in one allocation if n is small, as metadata usually is.
func newEntry(n int) (*internEntry, []attribute.KeyValue) {
	type kv = attribute.KeyValue
	switch n {
	case 1:
		x := new(entryWith[[3]kv])
		return &x.internEntry, x.room[:0]
	case 2:
		x := new(entryWith[[4]kv])
		return &x.internEntry, x.room[:0]
	case 3:
		x := new(entryWith[[5]kv])
		return &x.internEntry, x.room[:0]
	case 4:
		x := new(entryWith[[6]kv])
		return &x.internEntry, x.room[:0]
	}
	return &internEntry{}, make([]kv, 0, n+2)
}

// entryWith is an entry and the array R its attributes are kept in.
type entryWith[R any] struct {
	internEntry
	room R
}

// sortByKey sorts kvs by key: by insertion if they are few, as metadata
// usually is.
func sortByKey(kvs []attribute.KeyValue) {
	if len(kvs) > 12 {
		slices.SortFunc(kvs, func(a, b attribute.KeyValue) int { return strings.Compare(string(a.Key), string(b.Key)) })
		return
	}
	for i := 1; i < len(kvs); i++ {
		for j := i; j > 0 && kvs[j].Key < kvs[j-1].Key; j-- {
			kvs[j], kvs[j-1] = kvs[j-1], kvs[j]
		}
	}
}

// matches reports whether meta is the metadata e was made from.
func (e *internEntry) matches(meta crs.Metadata) bool {
	given := e.t.attrs // valid metadata is its attributes
	if e.bad != nil {
		given = e.bad.given
	}
	if len(meta) != len(given) {
		return false
	}
	for _, kv := range given {
		if v, ok := meta[string(kv.Key)]; !ok || v != kv.Value.AsString() {
			return false
		}
	}
	return true
}

// startOptions caches the start options of a task's actions, by category
// and name: the attributes crs.action.category, crs.action.name and the
// task's, given to samplers at the start, made once, in a slice of one
// that Action passes to the tracer as it is (a slice made for each call
// would escape to the heap). Only valid pairs are kept, so a pair found
// needs no validation. Names are low-cardinality by design; past
// maxStartOptions pairs, options are made for each action. The first pair
// a task is used with costs nothing to keep: its option is held here, and
// for a task Action makes, its attributes are the task's, in the room
// made in front of them (see internMiss), so that a task used once (fresh
// metadata on every call) makes nothing but the option.
type startOptions struct {
	// first is the first valid pair, and firstOpt its option: written
	// once by the caller that claims it, read once set says so.
	first          startKey
	firstOpt       [1]trace.SpanStartOption
	claimed, isSet atomic.Bool
	last           atomic.Pointer[startOption] // the other pair used last
	m              atomic.Pointer[map[startKey][]trace.SpanStartOption]
}

type startKey struct {
	category crs.Category
	name     string
}

type startOption struct {
	startKey
	opts []trace.SpanStartOption
}

const maxStartOptions = 256

// lookup returns the start options of a valid pair seen before, and true;
// or nil and false.
func (s *startOptions) lookup(category crs.Category, name string) ([]trace.SpanStartOption, bool) {
	key := startKey{category, name}
	if s.isSet.Load() && s.first == key {
		return s.firstOpt[:], true
	}
	if l := s.last.Load(); l != nil && l.startKey == key {
		return l.opts, true
	}
	if m := s.m.Load(); m != nil {
		if o, ok := (*m)[key]; ok {
			s.last.Store(&startOption{key, o})
			return o, true
		}
	}
	return nil, false
}

// make returns the start options of an action of category and name with
// the attributes of t (the task owning s), and keeps them if the pair is
// valid.
func (s *startOptions) make(category crs.Category, name string, t *task, valid bool) []trace.SpanStartOption {
	key := startKey{category, name}
	kvs := make([]attribute.KeyValue, 2, 2+len(t.attrs))
	kvs = append(kvs, t.attrs...)
	if valid && s.claimFirst(key, kvs) {
		return s.firstOpt[:]
	}
	kvs[0], kvs[1] = crs.ActionCategory(category), crs.ActionName(name)
	opts := []trace.SpanStartOption{trace.WithAttributes(kvs...)}
	if !valid {
		return opts
	}
	m := s.m.Load()
	if m == nil || len(*m) < maxStartOptions {
		next := make(map[startKey][]trace.SpanStartOption, 1+lenOf(m))
		if m != nil {
			maps.Copy(next, *m)
		}
		next[key] = opts
		s.m.Store(&next) // a race may lose an entry: it is made again
	}
	s.last.Store(&startOption{key, opts})
	return opts
}

// claimFirst makes key the first pair, with the attributes kvs: its
// category and name written in kvs[0] and kvs[1], then the task's; and
// returns true. It returns false if another pair was first: nobody else
// writes the first pair's fields, nor reads them before isSet.
func (s *startOptions) claimFirst(key startKey, kvs []attribute.KeyValue) bool {
	if !s.claimed.CompareAndSwap(false, true) {
		return false
	}
	kvs[0], kvs[1] = crs.ActionCategory(key.category), crs.ActionName(key.name)
	s.firstOpt[0] = trace.WithAttributes(kvs...)
	s.first = key
	s.isSet.Store(true)
	return true
}

// valid reports whether k is an action's category and name, both valid.
func (k startKey) valid() bool {
	return k.category.Valid() && crs.ValidateName(k.name) == nil
}

func lenOf(m *map[startKey][]trace.SpanStartOption) int {
	if m == nil {
		return 0
	}
	return len(*m)
}

// noTask holds the start options of actions without task metadata.
var noTask task

// Limits of a W3C baggage header that receivers enforce: the W3C
// specification's 8192 bytes and 64 members (a Go receiver drops the whole
// header beyond them), and the 4096 bytes per member that the Python and
// JavaScript SDKs still apply.
const (
	baggageMaxBytes       = 8192
	baggageMaxMembers     = 64
	baggageMaxMemberBytes = 4096
)

// withTaskBaggage returns b with the task metadata attrs as members marked
// with taskProperty, within the limits of a baggage header, so that a
// receiver keeps all of it rather than dropping the whole header. When
// everything does not fit, the ids (keys ending in ".id", such as task.id)
// go first, then b's other members, then the other task entries, smallest
// first; what is left out stays on this process's spans and is named in
// leftOut, largest first. invalid names the entries that cannot travel in
// baggage at all.
func withTaskBaggage(b baggage.Baggage, attrs []attribute.KeyValue) (_ baggage.Baggage, invalid, leftOut error) {
	var errs []error
	for _, kv := range attrs {
		if !baggageToken(string(kv.Key)) {
			errs = append(errs, fmt.Errorf("%w: key %s cannot travel in W3C baggage (it is not an HTTP token); "+
				"it stays on this process's spans only", crs.ErrInvalidMetadata, violation.Quote(string(kv.Key))))
		}
	}
	// Usually everything fits: the header is encoded once and parsed, which
	// costs a third of adding the members one by one (SetMember copies the
	// baggage each time).
	if header, ok := encodeBaggage(b, attrs); ok {
		out, err := baggage.Parse(header)
		return out, errors.Join(append(errs, err)...), nil
	}
	members := make([]baggage.Member, 0, len(attrs))
	for _, kv := range attrs {
		if !baggageToken(string(kv.Key)) {
			continue
		}
		m, err := baggage.NewMemberRaw(string(kv.Key), kv.Value.AsString(), taskProperties()...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: key %s not put in baggage: %w", crs.ErrInvalidMetadata, violation.Quote(string(kv.Key)), err))
			continue
		}
		members = append(members, m)
	}
	kept, left := fitBaggage(members, b)
	out, err := baggage.New(kept...)
	if err != nil {
		return b, errors.Join(append(errs, err)...), nil
	}
	return out, errors.Join(errs...), leftOutError(left)
}

// baggageFits reports whether the task members attrs, alone, surely fit in
// a baggage header (counting each value's bytes as escaped) and all have
// keys that can travel: withTaskBaggage then finds nothing to report.
func baggageFits(attrs []attribute.KeyValue) bool {
	if len(attrs) > baggageMaxMembers {
		return false
	}
	total := 0
	for _, kv := range attrs {
		if !baggageToken(string(kv.Key)) {
			return false
		}
		n := len(kv.Key) + 1 + 3*len(kv.Value.AsString()) + 1 + len(taskProperty)
		if n > baggageMaxMemberBytes {
			return false
		}
		total += n + 1 // and a comma
	}
	return total <= baggageMaxBytes
}

// lazyBaggage is Context (which has no baggage) with the W3C baggage of
// task t, made the first time the context is asked for a value by a key
// that is not one of crstel's: any other key may be the baggage's, so that
// whatever it is asked, it answers as Context with the baggage would. A
// context is seldom asked for its baggage but by a propagator: the context
// of an action with metadata never seen before (fresh on each call, say)
// makes none if it reaches no propagator.
//
// A span started from it would ask it for its parent span and so make the
// baggage: Action starts its span from a context that holds the parent
// span above it (trace.ContextWithSpan), where the tracer finds it. It is
// allocated with the action (see withLazy).
type lazyBaggage struct {
	context.Context
	t    *task
	with atomic.Pointer[context.Context] // Context with the baggage, once made
}

func (c *lazyBaggage) Value(key any) any {
	switch key.(type) {
	case actionKey, taskKey, actionref.Key:
		return c.Context.Value(key)
	}
	return c.withBaggage().Value(key)
}

// withBaggage returns Context with t's baggage, made on first use.
func (c *lazyBaggage) withBaggage() context.Context {
	if p := c.with.Load(); p != nil {
		return *p
	}
	ctx := c.t.baggage().on(c.Context)
	c.with.CompareAndSwap(nil, &ctx)
	return *c.with.Load()
}

// taskProperties returns the property that marks task members.
var taskProperties = sync.OnceValue(func() []baggage.Property {
	p, err := baggage.NewKeyProperty(taskProperty)
	if err != nil {
		panic(err) // a constant that is a valid key
	}
	return []baggage.Property{p}
})

// encodeBaggage returns the W3C baggage header of b's members that are not
// task metadata and of the task members attrs (but those whose keys are not
// tokens), and true; or false if it would pass the limits of a header.
func encodeBaggage(b baggage.Baggage, attrs []attribute.KeyValue) (string, bool) {
	if b.Len()+len(attrs) > baggageMaxMembers {
		return "", false
	}
	var buf strings.Builder
	buf.Grow(64 * len(attrs))
	for _, kv := range attrs {
		if !baggageToken(string(kv.Key)) {
			continue
		}
		if buf.Len() > 0 {
			buf.WriteByte(',')
		}
		start := buf.Len()
		buf.WriteString(string(kv.Key))
		buf.WriteByte('=')
		writeBaggageValue(&buf, kv.Value.AsString())
		buf.WriteByte(';')
		buf.WriteString(taskProperty)
		if buf.Len()-start > baggageMaxMemberBytes {
			return "", false
		}
	}
	if b.Len() > 0 {
		for _, m := range b.Members() {
			if actionref.IsTaskMember(m) || slices.ContainsFunc(attrs, func(kv attribute.KeyValue) bool { return string(kv.Key) == m.Key() }) {
				continue
			}
			s := m.String()
			if len(s) > baggageMaxMemberBytes {
				return "", false
			}
			if buf.Len() > 0 {
				buf.WriteByte(',')
			}
			buf.WriteString(s)
		}
	}
	if buf.Len() > baggageMaxBytes {
		return "", false
	}
	return buf.String(), true
}

// writeBaggageValue writes v percent-encoded as a W3C baggage value, as the
// OpenTelemetry baggage package encodes it: every byte but the
// baggage-octets, and '%', as %XX.
func writeBaggageValue(buf *strings.Builder, v string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c == '%' || !baggageOctet(c) {
			buf.WriteByte('%')
			buf.WriteByte(hex[c>>4])
			buf.WriteByte(hex[c&15])
		} else {
			buf.WriteByte(c)
		}
	}
}

// baggageOctet reports whether c may stand in a W3C baggage value as it is.
func baggageOctet(c byte) bool {
	return c == 0x21 || 0x23 <= c && c <= 0x2B || 0x2D <= c && c <= 0x3A || 0x3C <= c && c <= 0x5B || 0x5D <= c && c <= 0x7E
}

// fitBaggage returns the task members and b's other members that fit in
// one baggage header, and those left out: the task's ids (keys ending in
// ".id") first, then b's other members, then the rest of the task's,
// smallest first.
func fitBaggage(task []baggage.Member, b baggage.Baggage) (kept []baggage.Member, left []sizedMember) {
	isTask := make(map[string]bool, len(task))
	var ids, rest []sizedMember
	for _, m := range task {
		isTask[m.Key()] = true
		if strings.HasSuffix(m.Key(), ".id") {
			ids = append(ids, sized(m))
		} else {
			rest = append(rest, sized(m))
		}
	}
	bySize := func(a, b sizedMember) int {
		return cmp.Or(cmp.Compare(a.size, b.size), strings.Compare(a.m.Key(), b.m.Key()))
	}
	slices.SortFunc(ids, bySize)
	slices.SortFunc(rest, bySize)
	var fit baggageFit
	fit.add(ids)
	for _, m := range b.Members() {
		if !isTask[m.Key()] && !actionref.IsTaskMember(m) {
			fit.add([]sizedMember{sized(m)})
		}
	}
	fit.add(rest)
	return fit.kept, fit.left
}

// sizedMember is a baggage member with the length of its encoding.
type sizedMember struct {
	m    baggage.Member
	size int
}

func sized(m baggage.Member) sizedMember { return sizedMember{m, len(m.String())} }

// baggageFit collects the members that fit in one baggage header, in the
// order they are offered, and those that do not.
type baggageFit struct {
	kept  []baggage.Member
	bytes int // of the header so far, with the commas between members
	left  []sizedMember
}

func (f *baggageFit) add(ms []sizedMember) {
	for _, sm := range ms {
		n := sm.size
		if len(f.kept) > 0 {
			n++ // the comma
		}
		if sm.size > baggageMaxMemberBytes || len(f.kept) == baggageMaxMembers || f.bytes+n > baggageMaxBytes {
			f.left = append(f.left, sm)
			continue
		}
		f.kept = append(f.kept, sm.m)
		f.bytes += n
	}
}

// leftOutError names the members left out, largest first; nil if none.
func leftOutError(left []sizedMember) error {
	if len(left) == 0 {
		return nil
	}
	left = slices.Clone(left)
	slices.SortStableFunc(left, func(a, b sizedMember) int { return cmp.Compare(b.size, a.size) })
	names := make([]string, 0, min(len(left), maxLeftNamed))
	for _, sm := range left[:min(len(left), maxLeftNamed)] {
		names = append(names, fmt.Sprintf("%s (%d bytes)", violation.Quote(sm.m.Key()), sm.size))
	}
	if len(left) > maxLeftNamed {
		names = append(names, fmt.Sprintf("and %d more", len(left)-maxLeftNamed))
	}
	return fmt.Errorf("%w: %d baggage members left out of the W3C baggage header, which holds at most %d members of %d bytes each and %d bytes in all: %s; "+
		"task metadata left out stays on this process's spans but does not reach other processes",
		crs.ErrInvalidMetadata, len(left), baggageMaxMembers, baggageMaxMemberBytes, baggageMaxBytes, strings.Join(names, ", "))
}

// maxLeftNamed is how many left-out members an error names.
const maxLeftNamed = 10

// baggageToken reports whether s is an RFC 7230 token, the form W3C baggage
// requires of keys.
func baggageToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '!' || c == '#' || c == '$' || c == '%' || c == '&' || c == '\'' || c == '*' ||
			c == '+' || c == '-' || c == '.' || c == '^' || c == '_' || c == '`' || c == '|' || c == '~':
		default:
			return false
		}
	}
	return true
}

func errNilContext(fn string) error {
	return fmt.Errorf("%s called with a nil context; using context.Background()", fn)
}
