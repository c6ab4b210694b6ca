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
	// limits; bagInvalid and leftOut are what building it found.
	bag                 baggage.Baggage
	bagInvalid, leftOut error
	starts              startOptions
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
	t, bctx, invalid, leftOut := withMeta(ctx, parent, meta)
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
func withMeta(ctx context.Context, parent *task, meta crs.Metadata) (*task, context.Context, error, error) {
	switch {
	case len(meta) == 0:
		return parent, ctx, nil, nil
	case parent != nil && parent.has(meta):
		return parent, ctx, nil, nil
	}
	if parent == nil {
		if b := baggage.FromContext(ctx); b.Len() == 0 {
			e := intern(meta)
			switch {
			case e.background != nil && ctx == context.Background():
				ctx = e.background
			case e.t.bag.Len() > 0:
				ctx = baggage.ContextWithBaggage(ctx, e.t.bag)
			}
			return e.t, ctx, errors.Join(e.invalid, e.t.bagInvalid), e.t.leftOut
		}
	}
	// Metadata added to other metadata, or to a context with other baggage.
	invalid := meta.Validate()
	t := &task{attrs: mergeAttrs(parent, meta)}
	b, bagInvalid, leftOut := withTaskBaggage(baggage.FromContext(ctx), t.attrs)
	return t, baggage.ContextWithBaggage(ctx, b), errors.Join(invalid, bagInvalid), leftOut
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
	hash    uint64
	given   []attribute.KeyValue // the metadata as given, sorted by key
	t       *task
	invalid error // what Validate found in it
	// background is context.Background with the task's baggage, made
	// once: the context of a worker's actions, often.
	background context.Context
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

// intern returns the entry of meta, made on first use: its task, with its
// baggage, and what Validate found.
func intern(meta crs.Metadata) *internEntry {
	if e := lastInterned.Load(); e != nil && e.matches(meta) {
		return e
	}
	var h uint64
	for k, v := range meta {
		// The sum does not depend on the order of the map's iteration.
		h += maphash.String(internSeed, k)*31 ^ maphash.String(internSeed, v)
	}
	slot := &interned[h%uint64(len(interned))]
	if e := slot.Load(); e != nil && e.hash == h && e.matches(meta) {
		lastInterned.Store(e)
		return e
	}
	e := &internEntry{hash: h, invalid: meta.Validate()}
	e.t = &task{attrs: meta.Attributes()}
	e.given = e.t.attrs // valid metadata is its attributes
	if e.invalid != nil {
		e.given = make([]attribute.KeyValue, 0, len(meta))
		for k, v := range meta {
			e.given = append(e.given, attribute.String(k, v))
		}
	}
	e.t.bag, e.t.bagInvalid, e.t.leftOut = withTaskBaggage(baggage.Baggage{}, e.t.attrs)
	if e.t.bag.Len() > 0 {
		e.background = baggage.ContextWithBaggage(context.Background(), e.t.bag)
	}
	slot.Store(e)
	lastInterned.Store(e)
	return e
}

// matches reports whether meta is the metadata e was made from.
func (e *internEntry) matches(meta crs.Metadata) bool {
	if len(meta) != len(e.given) {
		return false
	}
	for _, kv := range e.given {
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
// a task is used with costs nothing to keep, so a task used once (fresh
// metadata on every call) pays for its option alone.
type startOptions struct {
	// first is the first valid pair: written once by the caller that
	// claims it, read once set says so.
	first          startOption
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
	if s.isSet.Load() && s.first.startKey == key {
		return s.first.opts, true
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
// the task attributes attrs (those of the task owning s), and keeps them if
// the pair is valid.
func (s *startOptions) make(category crs.Category, name string, attrs []attribute.KeyValue, valid bool) []trace.SpanStartOption {
	key := startKey{category, name}
	kvs := make([]attribute.KeyValue, 0, 2+len(attrs))
	kvs = append(kvs, crs.ActionCategory(category), crs.ActionName(name))
	opts := []trace.SpanStartOption{trace.WithAttributes(append(kvs, attrs...)...)}
	if !valid {
		return opts
	}
	if s.claimed.CompareAndSwap(false, true) {
		s.first = startOption{key, opts}
		s.isSet.Store(true)
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
