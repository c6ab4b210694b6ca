package crstel

import (
	"context"
	"os"
	"slices"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
)

// ContextFromEnv returns ctx with the trace context and baggage that this
// process's parent put in its environment, as the OpenTelemetry convention
// for environment variables as context carriers has it: the variables
// TRACEPARENT, TRACESTATE and BAGGAGE (the global propagator's fields, in
// upper case). It uses the global propagator, which [Setup] sets to W3C
// tracecontext and baggage, so call it after Setup, once, at the start:
//
//	tel, err := crstel.Setup(ctx)
//	...
//	ctx = crstel.ContextFromEnv(ctx)
//	ctx, span := crstel.Action(ctx, crs.Testing, "run_tests", nil)
//
// An [Action] started from the returned context continues the parent's
// trace, as a child of the span that started this process (such as the
// action of package [github.com/crstel/crstel/subprocess]), with the task
// metadata the parent had ([Task] returns it). Without the variables, or
// with invalid ones, ctx is returned as it is. A nil ctx is taken as
// context.Background.
func ContextFromEnv(ctx context.Context) context.Context {
	if ctx == nil {
		ctx = context.Background()
	}
	return otel.GetTextMapPropagator().Extract(ctx, envCarrier(os.Environ()))
}

// ContextToEnv returns a copy of env with the trace context and baggage of
// ctx set as TRACEPARENT, TRACESTATE and BAGGAGE (the global propagator's
// fields, in upper case), for a child process that calls [ContextFromEnv].
// Earlier values of these variables, and of TRACEPARENT, TRACESTATE and
// BAGGAGE whatever the propagator, are removed, so a child never sees a
// stale trace context; a nil env stands for os.Environ(), as for
// exec.Cmd.Env. The result holds only what the propagator injects: no
// variable at all if ctx has no span and no baggage.
func ContextToEnv(ctx context.Context, env []string) []string {
	if env == nil {
		env = os.Environ()
	}
	if ctx == nil {
		ctx = context.Background()
	}
	prop := otel.GetTextMapPropagator()
	fields := slices.Sorted(slices.Values(prop.Fields())) // for a stable order
	// The W3C names are removed whatever the propagator: a process with
	// none installed, or another one, must not pass on its parent's trace
	// context as if it were its own.
	names := map[string]bool{"TRACEPARENT": true, "TRACESTATE": true, "BAGGAGE": true}
	for _, f := range fields {
		names[envName(f)] = true
	}
	out := make([]string, 0, len(env)+len(fields))
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		if !names[name] {
			out = append(out, kv)
		}
	}
	carrier := propagation.MapCarrier{}
	prop.Inject(ctx, carrier)
	for _, f := range fields {
		if v, ok := carrier[f]; ok {
			out = append(out, envName(f)+"="+v)
		}
	}
	return out
}

// envCarrier is a TextMapCarrier over environment variables, read only:
// keys are looked up by their environment name.
type envCarrier []string

func (e envCarrier) Get(key string) string {
	prefix := envName(key) + "="
	for i := len(e) - 1; i >= 0; i-- { // the last one wins, as for getenv
		if v, ok := strings.CutPrefix(e[i], prefix); ok {
			return v
		}
	}
	return ""
}

func (envCarrier) Set(string, string) {}

func (e envCarrier) Keys() []string {
	out := make([]string, 0, len(e))
	for _, kv := range e {
		name, _, _ := strings.Cut(kv, "=")
		out = append(out, name)
	}
	return out
}

// envName returns the environment variable name of a propagator field:
// upper case, every character other than a letter, a digit or an
// underscore replaced by an underscore.
func envName(field string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		case 'A' <= r && r <= 'Z', '0' <= r && r <= '9', r == '_':
			return r
		}
		return '_'
	}, field)
}
