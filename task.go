package crstel

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/internal/violation"
)

// taskProperty marks the W3C baggage members that hold task metadata, so
// that a remote Action takes them and leaves other baggage alone:
//
//	baggage: round.id=round-1;crstel.task,task.id=task-1;crstel.task
const taskProperty = "crstel.task"

// task is the task metadata in a context: the map, and the same entries as
// span attributes, computed once by WithTask.
type task struct {
	meta  crs.Metadata
	attrs []attribute.KeyValue
}

type taskKey struct{}

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
		violation.Report(errNilContext("WithTask"))
		ctx = context.Background()
	}
	ctx, err := withTask(ctx, meta)
	violation.Report(err)
	return ctx
}

// withTask is WithTask without the reporting: it returns what was wrong.
func withTask(ctx context.Context, meta crs.Metadata) (context.Context, error) {
	verr := meta.Validate()
	t := newTask(merge(taskFrom(ctx), meta))
	ctx = context.WithValue(ctx, taskKey{}, t)
	b, berr := withTaskBaggage(baggage.FromContext(ctx), t.attrs)
	return baggage.ContextWithBaggage(ctx, b), errors.Join(verr, berr)
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
	if b.Len() == 0 {
		return nil
	}
	var meta crs.Metadata
	for _, m := range b.Members() {
		for _, p := range m.Properties() {
			if p.Key() == taskProperty {
				if meta == nil {
					meta = make(crs.Metadata)
				}
				meta[m.Key()] = m.Value()
				break
			}
		}
	}
	if meta == nil {
		return nil
	}
	return newTask(meta)
}

func withTaskBaggage(b baggage.Baggage, attrs []attribute.KeyValue) (baggage.Baggage, error) {
	prop, err := baggage.NewKeyProperty(taskProperty)
	if err != nil {
		return b, err
	}
	var errs []error
	for _, kv := range attrs {
		k := string(kv.Key)
		if !baggageToken(k) {
			errs = append(errs, fmt.Errorf("%w: key %s cannot travel in W3C baggage (it is not an HTTP token); "+
				"it stays on this process's spans only", crs.ErrInvalidMetadata, crs.Quote(k)))
			continue
		}
		m, err := baggage.NewMemberRaw(k, kv.Value.AsString(), prop)
		if err == nil {
			b, err = b.SetMember(m)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: key %s not put in baggage: %w", crs.ErrInvalidMetadata, crs.Quote(k), err))
		}
	}
	return b, errors.Join(errs...)
}

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
