package crstel

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/internal/actionref"
	"github.com/crstel/crstel/internal/violation"
)

// taskProperty marks the W3C baggage members that hold task metadata.
const taskProperty = actionref.TaskProperty

// task is the task metadata in a context: the map, and the same entries as
// span attributes, computed once by WithTask.
type task struct {
	meta  crs.Metadata
	attrs []attribute.KeyValue
}

// taskKey is the context key of the task.
type taskKey = actionref.TaskKey

func newTask(meta crs.Metadata) *task {
	return &task{meta: meta, attrs: meta.Attributes()}
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
//
// Invalid entries (see [crs.Metadata.Validate]) are reported through
// otel.Handle, or panic in strict mode; they are repaired or left out, never
// passed on broken. A nil ctx is replaced by context.Background and reported.
func WithTask(ctx context.Context, meta crs.Metadata) context.Context {
	if ctx == nil {
		violation.Report(nil, errNilContext("WithTask"))
		ctx = context.Background()
	}
	ctx, invalid, leftOut := withTask(ctx, meta)
	violation.Report(ctx, errors.Join(invalid, leftOut))
	return ctx
}

// withTask is WithTask without the reporting: it returns what was invalid,
// and which entries were left out of the baggage.
func withTask(ctx context.Context, meta crs.Metadata) (_ context.Context, invalid, leftOut error) {
	invalid = meta.Validate()
	t := newTask(merge(taskFrom(ctx), meta))
	ctx = context.WithValue(ctx, taskKey{}, t)
	b, berr, leftOut := withTaskBaggage(baggage.FromContext(ctx), t.attrs)
	return baggage.ContextWithBaggage(ctx, b), errors.Join(invalid, berr), leftOut
}

// merge returns the metadata of old with meta added, meta winning on a
// clash. If the result would have more than crs.MaxMetadataKeys entries,
// old's entries are kept first, then meta's in key order: metadata set
// earlier is not pushed out by a flood of new keys.
func merge(old *task, meta crs.Metadata) crs.Metadata {
	if old == nil || len(old.meta) == 0 {
		return maps.Clone(meta)
	}
	merged := maps.Clone(old.meta)
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		if _, ok := merged[k]; ok || len(merged) < crs.MaxMetadataKeys {
			merged[k] = meta[k]
		}
	}
	return merged
}

// Task returns the task metadata that ctx carries: set by [WithTask] in this
// process, or received in W3C baggage from another. The result is a copy;
// it is nil if ctx carries none.
func Task(ctx context.Context) crs.Metadata {
	if ctx == nil {
		return nil
	}
	if t := taskFrom(ctx); t != nil {
		return maps.Clone(t.meta)
	}
	return nil
}

// taskFrom returns the task in ctx, or, failing that, the one in its
// baggage; nil if there is none.
func taskFrom(ctx context.Context) *task {
	if t, ok := ctx.Value(taskKey{}).(*task); ok {
		return t
	}
	return taskFromBaggage(baggage.FromContext(ctx))
}

func taskFromBaggage(b baggage.Baggage) *task {
	meta := actionref.BaggageTask(b)
	if meta == nil {
		return nil
	}
	return newTask(meta)
}

// Attributes returns the task's entries as attributes, sorted by key; for
// the packages that find it through actionref.
func (t *task) Attributes() []attribute.KeyValue { return t.attrs }

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
	members := make([]baggage.Member, 0, len(attrs))
	for _, kv := range attrs {
		k := string(kv.Key)
		if !baggageToken(k) {
			errs = append(errs, fmt.Errorf("%w: key %s cannot travel in W3C baggage (it is not an HTTP token); "+
				"it stays on this process's spans only", crs.ErrInvalidMetadata, violation.Quote(k)))
			continue
		}
		m, err := baggage.NewMemberRaw(k, kv.Value.AsString(), taskProperties()...)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: key %s not put in baggage: %w", crs.ErrInvalidMetadata, violation.Quote(k), err))
			continue
		}
		members = append(members, m)
	}
	if !mayExceed(b, members) {
		for _, m := range members {
			b, _ = b.SetMember(m) // a valid member: no error
		}
		return b, errors.Join(errs...), nil
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

// mayExceed reports whether the task members, with b's, might not fit in
// one baggage header, by a bound computed without encoding them: a task
// member's encoding is at most its key, three bytes a byte of its value
// (percent-encoding) and the property; b's is its encoding.
func mayExceed(b baggage.Baggage, task []baggage.Member) bool {
	if b.Len()+len(task) > baggageMaxMembers {
		return true
	}
	total := 0
	if b.Len() > 0 {
		total = len(b.String()) + 1
	}
	for _, m := range task {
		n := len(m.Key()) + 1 + 3*len(m.Value()) + 1 + len(taskProperty)
		if n > baggageMaxMemberBytes {
			return true
		}
		total += n + 1
	}
	return total > baggageMaxBytes
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
