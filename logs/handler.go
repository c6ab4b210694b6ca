package logs

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync/atomic"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/internal/actionref"
	"github.com/crstel/crstel/internal/provider"
)

// ScopeName is the instrumentation scope of the log records a [Handler]
// sends to OpenTelemetry.
const ScopeName = "github.com/crstel/crstel/logs"

// Keys of the correlation fields a [Handler] adds to a record, at its top
// level, whatever groups the logger has. The task metadata keys are those of
// the metadata, such as round.id and task.id, as on spans.
const (
	// TraceIDKey is the trace id of the span enclosing the record, in
	// lower-case hex, the name the OpenTelemetry specification gives it in
	// logs that are not OTLP.
	TraceIDKey = "trace_id"
	// SpanIDKey is the span id of the span enclosing the record.
	SpanIDKey = "span_id"
	// CategoryKey is the category of the enclosing action, the key of the
	// span attribute.
	CategoryKey = string(crs.ActionCategoryKey)
	// NameKey is the name of the enclosing action, the key of the span
	// attribute.
	NameKey = string(crs.ActionNameKey)
)

// Option configures a [Handler].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	redact   func(key string, v slog.Value) slog.Value // nil: RedactSecrets
	otlp     bool
	provider log.LoggerProvider
}

// WithRedact sets the function that redacts attributes before they are
// logged: it is called with the key and the resolved value of every
// attribute of a record or of the logger (slog.Logger.With), and within
// groups with those of their members, and returns the value to log; a
// group it returns is redacted member by member in turn. It replaces the
// default, [RedactSecrets]; call RedactSecrets from f to keep it. A nil f is
// ignored. Values of kind slog.KindAny (a map, a struct) are not looked
// into, and the message is never redacted: put secrets in attributes of
// their own, or not at all.
func WithRedact(f func(key string, v slog.Value) slog.Value) Option {
	return optionFunc(func(c *config) {
		if f != nil {
			c.redact = f
		}
	})
}

// WithOTLP sends every record to OpenTelemetry as well, through the
// otelslog bridge, to the global LoggerProvider (otel.GetLoggerProvider):
// the one crstel.Setup installs, which exports over OTLP gRPC where the
// spans go. Records sent there carry the action's category and name and
// the task metadata as attributes; the bridge sets their trace and span ids
// from the context. The provider is looked up at each record, so a handler
// made before Setup works. The default is not to.
func WithOTLP() Option {
	return optionFunc(func(c *config) { c.otlp = true })
}

// WithLoggerProvider is [WithOTLP] with provider in place of the global
// one. A nil provider is ignored.
func WithLoggerProvider(provider log.LoggerProvider) Option {
	return optionFunc(func(c *config) {
		if provider != nil {
			c.otlp, c.provider = true, provider
		}
	})
}

// Handler is a slog.Handler that puts the trace, the CRS action and the
// task metadata on every record logged with a context inside an action,
// redacts secrets, and passes the record on to another handler (and to
// OpenTelemetry with [WithOTLP]). Make one with [NewHandler]. It is safe
// for concurrent use.
//
// A record logged with slog.InfoContext(ctx, ...) and the like gets these
// fields, in this order, before its own attributes (and after those the
// logger got from slog.Logger.With outside any group, which the next
// handler formats once):
//
//	trace_id, span_id       the span of ctx, if it has a valid one
//	crs.action.category     the innermost crstel.Action of ctx, if any
//	crs.action.name
//	round.id, task.id, ...  the task metadata of ctx (crstel.WithTask), by key
//
// These correlation fields are always at the top level of the record:
// groups opened with slog.Logger.WithGroup hold the caller's attributes
// only. A record logged without a context, or with one that holds no span,
// action or metadata, gets no field and passes through unchanged, but for
// the redaction of secrets.
type Handler struct {
	// next is the handler given to NewHandler with the attributes added
	// before the first group, which it can format once.
	next slog.Handler
	otlp *otlpSink // nil without WithOTLP
	// pre holds the attributes added before the first group, for otlp,
	// which is given whole records.
	pre []slog.Attr
	// groups are the groups opened, outermost first, each with the
	// attributes added inside it.
	groups []group
	redact redactor
}

type group struct {
	name  string
	attrs []slog.Attr
}

var _ slog.Handler = (*Handler)(nil)

// NewHandler returns a Handler that passes records on to next, such as
// slog.NewJSONHandler(os.Stderr, nil) for container logs. Wrap the root
// handler, not one with groups (next.WithGroup), or the correlation fields
// go in its group. A nil next is ignored: records then go only to
// OpenTelemetry with [WithOTLP], or nowhere.
//
// By default, attributes whose keys name secrets are redacted (see
// [RedactSecrets], [WithRedact]).
func NewHandler(next slog.Handler, opts ...Option) *Handler {
	var cfg config
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	h := &Handler{next: next, redact: redactor{f: cfg.redact}}
	if cfg.redact == nil {
		h.redact = redactor{f: RedactSecrets, byKey: true}
	}
	if cfg.otlp {
		h.otlp = &otlpSink{provider: cfg.provider}
	}
	return h
}

// Enabled reports whether the handler given to NewHandler, or
// OpenTelemetry with WithOTLP, takes records of level l.
func (h *Handler) Enabled(ctx context.Context, l slog.Level) bool {
	if ctx == nil {
		ctx = context.Background()
	}
	if h.next != nil && h.next.Enabled(ctx, l) {
		return true
	}
	return h.otlp != nil && h.otlp.handler().Enabled(ctx, l)
}

// Handle adds the correlation fields of ctx to r, redacts it, and passes
// it on. It returns the errors of the handlers it passed it to.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	if ctx == nil {
		ctx = context.Background()
	}
	// The fields and the attributes are gathered on the stack, so that the
	// record passed on is the only allocation beyond those of the fields'
	// values (the ids in hex): see BenchmarkHandle.
	var buf [correlationCap]slog.Attr
	corr := appendCorrelation(ctx, buf[:0:len(buf)])
	var nextErr, otlpErr error
	if h.next != nil && h.next.Enabled(ctx, r.Level) {
		if len(corr) == 0 && len(h.groups) == 0 && !h.redact.needed(r) {
			nextErr = h.next.Handle(ctx, r) // as it was logged
		} else {
			nextErr = h.next.Handle(ctx, h.record(r, corr, nil))
		}
	}
	if h.otlp != nil {
		if oh := h.otlp.handler(); oh.Enabled(ctx, r.Level) {
			// The bridge takes the trace and span ids from ctx.
			otlpErr = oh.Handle(ctx, h.record(r, withoutIDs(corr), h.pre))
		}
	}
	return errors.Join(nextErr, otlpErr)
}

// correlationCap is the number of correlation fields Handle gathers
// without allocating: the ids, the action and 12 entries of task metadata.
const correlationCap = 16

// record returns a new record like r with the attributes corr, then pre,
// then r's own, redacted and nested in the handler's groups.
func (h *Handler) record(r slog.Record, corr, pre []slog.Attr) slog.Record {
	out := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	var buf [recordCap]slog.Attr
	attrs := append(buf[:0], corr...)
	attrs = append(attrs, pre...)
	if len(h.groups) == 0 {
		r.Attrs(func(a slog.Attr) bool {
			ra, _ := h.redact.attr(a)
			attrs = append(attrs, ra)
			return true
		})
		out.AddAttrs(attrs...) // one allocation at most, for those past the record's first five
		return out
	}
	var own []slog.Attr
	if n := r.NumAttrs(); n > 0 {
		own = make([]slog.Attr, 0, n)
		r.Attrs(func(a slog.Attr) bool {
			ra, _ := h.redact.attr(a)
			own = append(own, ra)
			return true
		})
	}
	for i := len(h.groups) - 1; i >= 0; i-- {
		g := h.groups[i]
		members := make([]slog.Attr, 0, len(g.attrs)+len(own))
		members = append(members, g.attrs...)
		members = append(members, own...)
		if len(members) == 0 {
			own = nil // a group with no attributes is left out
			continue
		}
		own = []slog.Attr{{Key: g.name, Value: slog.GroupValue(members...)}}
	}
	out.AddAttrs(append(attrs, own...)...)
	return out
}

// recordCap is the number of attributes record gathers without
// allocating.
const recordCap = 24

// WithAttrs returns a Handler whose records have attrs too, after the
// correlation fields, inside the groups opened so far. They are redacted
// here, once.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	attrs, _ = h.redact.attrs(attrs)
	h2 := *h
	if len(h.groups) == 0 {
		if h.next != nil {
			h2.next = h.next.WithAttrs(attrs)
		}
		h2.pre = append(slices.Clip(h.pre), attrs...)
		return &h2
	}
	h2.groups = slices.Clone(h.groups)
	last := &h2.groups[len(h2.groups)-1]
	last.attrs = append(slices.Clip(last.attrs), attrs...)
	return &h2
}

// WithGroup returns a Handler that puts the attributes added later, and
// those of each record, in a group called name. The correlation fields stay
// at the top level. An empty name returns h.
func (h *Handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.groups = append(slices.Clip(h.groups), group{name: name})
	return &h2
}

// appendCorrelation appends the correlation fields of ctx to dst: the
// trace and span ids first, if any, then the action, then the task
// metadata. The action and the metadata are as crstel computed them once,
// for the action's span and its task: nothing is copied or sorted here.
func appendCorrelation(ctx context.Context, dst []slog.Attr) []slog.Attr {
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		dst = append(dst, slog.String(TraceIDKey, sc.TraceID().String()), slog.String(SpanIDKey, sc.SpanID().String()))
	}
	if a := actionref.From(ctx); a != nil {
		category, name, _ := a.Describe()
		dst = append(dst, slog.String(CategoryKey, category), slog.String(NameKey, name))
	}
	// The metadata of ctx, which may be more than the action's: WithTask
	// inside the action adds to it.
	for _, kv := range actionref.TaskAttributes(ctx) {
		dst = append(dst, slog.String(string(kv.Key), stringOf(kv.Value)))
	}
	return dst
}

// stringOf returns v as a string: task metadata values are strings.
func stringOf(v attribute.Value) string {
	if v.Type() == attribute.STRING {
		return v.AsString()
	}
	return v.String()
}

// withoutIDs returns corr without the trace and span ids.
func withoutIDs(corr []slog.Attr) []slog.Attr {
	if len(corr) >= 2 && corr[0].Key == TraceIDKey && corr[1].Key == SpanIDKey {
		return corr[2:]
	}
	return corr
}

// otlpSink finds the otelslog handler of the LoggerProvider records go to.
type otlpSink struct {
	provider log.LoggerProvider // nil: the global one
	cache    atomic.Pointer[otlpHandler]
}

type otlpHandler struct {
	provider log.LoggerProvider
	h        *otelslog.Handler
}

// handler returns the otelslog handler of the provider, made once per
// provider.
func (s *otlpSink) handler() *otelslog.Handler {
	p := s.provider
	if p == nil {
		p = otel.GetLoggerProvider()
	}
	if c := s.cache.Load(); c != nil && provider.Same(c.provider, p) {
		return c.h
	}
	c := &otlpHandler{provider: p, h: otelslog.NewHandler(ScopeName, otelslog.WithLoggerProvider(p))}
	s.cache.Store(c)
	return c.h
}
