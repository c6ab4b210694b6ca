package violation

import (
	"context"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel/internal/envconfig"
)

// Key marks a span whose input was invalid. Its value is a string slice with
// one entry per problem, each naming the offending value.
const Key = attribute.Key("crstel.invalid")

var (
	strictSet atomic.Int32 // 0: not set, 1: off, 2: on
	envStrict = sync.OnceValue(func() bool {
		c, _ := envconfig.ReadVars(nil, envconfig.Strict)
		return c.Strict
	})
)

// SetStrict turns strict mode on or off for the process, overriding
// CRSTEL_STRICT.
func SetStrict(on bool) {
	if on {
		strictSet.Store(2)
	} else {
		strictSet.Store(1)
	}
}

type strictKey struct{}

// WithStrict returns a copy of ctx in which strict mode is on, whatever the
// process's setting: the context of a test recorder made with
// crsteltest.WithStrict, so that tests that want it and tests that do not
// can run in parallel.
func WithStrict(ctx context.Context) context.Context {
	return context.WithValue(ctx, strictKey{}, true)
}

// Strict reports whether strict mode is on in ctx: set there by
// [WithStrict], else for the process by [SetStrict], else by CRSTEL_STRICT.
// A nil ctx is the process's setting.
func Strict(ctx context.Context) bool {
	if ctx != nil {
		if on, _ := ctx.Value(strictKey{}).(bool); on {
			return true
		}
	}
	switch strictSet.Load() {
	case 1:
		return false
	case 2:
		return true
	}
	return envStrict()
}

// Error is what crstel panics with in strict mode and hands to otel.Handle
// otherwise.
type Error struct{ Err error }

func (e *Error) Error() string { return "crstel: " + e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// Report hands err to otel.Handle, or panics with it in strict mode (see
// [Strict]). A nil err does nothing.
func Report(ctx context.Context, err error) {
	if err == nil {
		return
	}
	e := &Error{Err: err}
	if Strict(ctx) {
		panic(e)
	}
	otel.Handle(e)
}

// Mark records problems on span under [Key], after those it records
// already, and reports them (see [Report]). The span keeps the rest of its
// data, so it is still exported.
func Mark(ctx context.Context, span trace.Span, problems ...error) {
	if len(problems) == 0 {
		return
	}
	var msgs []string
	if s, ok := span.(interface{ Attributes() []attribute.KeyValue }); ok {
		for _, kv := range s.Attributes() {
			if kv.Key == Key {
				msgs = append(msgs, kv.Value.AsStringSlice()...)
			}
		}
	}
	n := len(msgs)
	for _, p := range problems {
		if p != nil {
			msgs = append(msgs, p.Error())
		}
	}
	if len(msgs) == n {
		return
	}
	span.SetAttributes(Key.StringSlice(msgs))
	for _, p := range problems {
		Report(ctx, p)
	}
}
