package fuzz

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/internal/actionref"
	"github.com/crstel/crstel/internal/violation"
)

// ScopeName is the instrumentation scope of the spans of this package.
const ScopeName = "github.com/crstel/crstel/fuzz"

// SpanName is the name of the span [Record] starts for each corpus update.
const SpanName = "fuzz.corpus.update"

// Method is how a corpus update was found: the value of
// fuzz.corpus.update.method. The specification has two, [MethodPeriodic]
// and [MethodOnChange].
type Method string

// Update methods of the specification: the values of
// fuzz.corpus.update.method that [Record] accepts, and that [WithMethod]
// gives a [Watcher].
const (
	// MethodPeriodic is an update found by looking at the corpus at a fixed
	// interval, as a polling [Watcher] does.
	MethodPeriodic Method = "periodic"
	// MethodOnChange is an update recorded because the corpus changed, as
	// a [Watcher] with WithMethod(MethodOnChange) reports on Linux.
	MethodOnChange Method = "on_change"
)

// DefaultMaxAdditions is how many names of CorpusUpdate.Additions a span
// carries unless [WithMaxAdditions] says otherwise.
const DefaultMaxAdditions = 100

// AdditionsOmittedKey is the number of names of CorpusUpdate.Additions left
// out of fuzz.corpus.additions by the cap (see [WithMaxAdditions]), an int.
// It is set only when names were left out. The key is crstel's own, outside
// the fuzz.corpus. namespace, which belongs to the specification.
const AdditionsOmittedKey = attribute.Key("crstel.fuzz.corpus.additions_omitted")

// CorpusUpdate is one update of a fuzzer's input corpus, as the
// specification's fuzz.corpus.* attributes describe it.
type CorpusUpdate struct {
	// Method is how the update was found: MethodPeriodic or
	// MethodOnChange (fuzz.corpus.update.method). Another value is
	// recorded, but marks the span invalid; an empty one is not recorded
	// and marks the span invalid too.
	Method Method
	// Time is when the corpus was updated (fuzz.corpus.update.time, an RFC
	// 3339 string in UTC). The zero Time means now.
	Time time.Time
	// Size is the number of inputs in the corpus after the update
	// (fuzz.corpus.size, an int). A negative size is recorded, but marks
	// the span invalid.
	Size int
	// Additions are the names of the inputs added by the update
	// (fuzz.corpus.additions, a string slice), or, for a full snapshot,
	// the names of all inputs. At most DefaultMaxAdditions names are
	// recorded (see WithMaxAdditions); invalid UTF-8 in a name is escaped
	// as \xNN, since an OTLP export of invalid UTF-8 fails as a whole.
	Additions []string
	// FullSnapshot tells that Additions lists the whole corpus rather than
	// what the update added (fuzz.corpus.full_snapshot).
	FullSnapshot bool
}

// Option configures [Record]. Every Option is also a [WatcherOption], which
// configures the records of a [Watcher].
type Option interface {
	WatcherOption
	apply(*config)
}

type config struct {
	maxAdditions int
	tp           trace.TracerProvider
}

var defaultConfig = config{maxAdditions: DefaultMaxAdditions}

type optionFunc func(*config)

func (f optionFunc) apply(c *config)               { f(c) }
func (f optionFunc) applyWatcher(c *watcherConfig) { f(&c.record) }

// WithMaxAdditions caps the names fuzz.corpus.additions carries at n; the
// number left out is recorded under [AdditionsOmittedKey]. n == 0 records
// an empty list and the count only. The default is [DefaultMaxAdditions];
// a negative n is ignored.
func WithMaxAdditions(n int) Option {
	return optionFunc(func(c *config) {
		if n >= 0 {
			c.maxAdditions = n
		}
	})
}

// WithTracerProvider sets the tracer provider of the spans. The default is
// the provider of the enclosing crstel action, else the global one
// (otel.GetTracerProvider), which crstel.Setup installs; a nil tp is
// ignored.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return optionFunc(func(c *config) {
		if tp != nil {
			c.tp = tp
		}
	})
}

// Record records u as a span named [SpanName] that starts and ends at once,
// a child of the current span of ctx, with the fuzz.corpus.* attributes of
// the specification, each of its type: update.method, update.time (RFC
// 3339), size (int), additions (string slice, capped) and full_snapshot
// (bool).
//
// Call it with the context of the fuzzing action:
//
//	ctx, span := crstel.Action(ctx, crs.Fuzzing, "fuzz_test_network_inputs", nil)
//	defer span.End()
//	fuzz.Record(ctx, fuzz.CorpusUpdate{Method: fuzz.MethodPeriodic, Size: 1500, Additions: []string{"inputA", "inputB"}})
//
// crstel's span processor (installed by crstel.Setup) then stamps the
// span with the action's crs.action.category, crs.action.name and task
// metadata, so that it conforms to the specification. Inside an action of
// another category the span is stamped with that action instead. Outside
// any action, the span is recorded without crs.action.* attributes or task
// metadata, and so does not conform to the specification: only do that
// when something else adds them.
//
// Invalid input (an unknown or empty method, a negative size, a nil ctx)
// never makes Record panic or lose the update: the span is recorded with
// the values given, marked with crstel.invalid, and the problem reported
// through otel.Handle with the offending value. In strict mode
// (crstel.WithStrict, CRSTEL_STRICT=1) Record panics instead, before
// starting the span.
func Record(ctx context.Context, u CorpusUpdate, opts ...Option) {
	cfg := &defaultConfig
	if len(opts) > 0 {
		c := defaultConfig
		for _, o := range opts {
			if o != nil {
				o.apply(&c)
			}
		}
		cfg = &c
	}
	record(ctx, u, 0, cfg)
}

// record is Record with omitted names already left out of u.Additions, as
// a Watcher does for a full snapshot of a large corpus.
func record(ctx context.Context, u CorpusUpdate, omitted int, cfg *config) {
	var problems []error
	if ctx == nil {
		problems = append(problems, errors.New("fuzz.Record: nil context"))
		ctx = context.Background()
	}
	switch u.Method {
	case MethodPeriodic, MethodOnChange:
	case "":
		problems = append(problems, fmt.Errorf("%w: %s is empty, want %q or %q",
			crs.ErrInvalidAttribute, crs.FuzzCorpusUpdateMethodKey, MethodPeriodic, MethodOnChange))
	default:
		problems = append(problems, fmt.Errorf("%w: %s %s is unknown, want %q or %q",
			crs.ErrInvalidAttribute, crs.FuzzCorpusUpdateMethodKey, violation.Quote(string(u.Method)), MethodPeriodic, MethodOnChange))
	}
	if u.Size < 0 {
		problems = append(problems, fmt.Errorf("%w: %s %d is negative",
			crs.ErrInvalidAttribute, crs.FuzzCorpusSizeKey, u.Size))
	}
	if len(problems) > 0 && violation.Strict(ctx) {
		violation.Report(ctx, problems[0])
	}

	t := u.Time
	if t.IsZero() {
		t = time.Now()
	}
	additions := u.Additions
	if len(additions) > cfg.maxAdditions {
		omitted += len(additions) - cfg.maxAdditions
		additions = additions[:cfg.maxAdditions]
	}
	additions = validNames(additions)
	if additions == nil {
		additions = []string{} // an empty list, not a missing one
	}

	attrs := make([]attribute.KeyValue, 0, 6)
	if u.Method != "" {
		attrs = append(attrs, crs.FuzzCorpusUpdateMethod(validUTF8(string(u.Method))))
	}
	attrs = append(attrs,
		crs.FuzzCorpusUpdateTime(t),
		crs.FuzzCorpusSize(u.Size),
		crs.FuzzCorpusAdditions(additions),
		crs.FuzzCorpusFullSnapshot(u.FullSnapshot),
	)
	if omitted > 0 {
		attrs = append(attrs, AdditionsOmittedKey.Int(omitted))
	}

	tp := cfg.tp
	if tp == nil {
		tp = actionref.TracerProvider(ctx) // the enclosing action's
	}
	if tp == nil {
		tp = otel.GetTracerProvider()
	}
	_, span := tp.Tracer(ScopeName).Start(ctx, SpanName, trace.WithAttributes(attrs...))
	if len(problems) > 0 {
		violation.Mark(ctx, span, problems...)
	}
	span.End()
}

// validNames returns names with invalid UTF-8 escaped; names itself if
// every name is valid, else a copy.
func validNames(names []string) []string {
	for i, n := range names {
		if !utf8.ValidString(n) {
			out := make([]string, len(names))
			copy(out, names[:i])
			for j := i; j < len(names); j++ {
				out[j] = validUTF8(names[j])
			}
			return out
		}
	}
	return names
}

// validUTF8 returns s with each byte of invalid UTF-8 escaped as \xNN, so
// that the name still tells which file it was.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			fmt.Fprintf(&b, `\x%02x`, s[i])
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}
