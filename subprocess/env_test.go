package subprocess_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/subprocess"
)

// TestChildEnvironment: the child gets the action's trace context and the
// task metadata, and none of the stale values its parent had.
func TestChildEnvironment(t *testing.T) {
	// Serial: Run puts the trace context in the child's environment with
	// the global propagator (otel.SetTextMapPropagator).
	rec := crsteltest.NewRecorder(t, crsteltest.WithGlobal())
	cmd := childCmd(t, "env")
	cmd.Env = append(cmd.Env, "TRACESTATE=stale=1", "BAGGAGE=stale=1")
	var out bytes.Buffer
	cmd.Stdout = &out
	ctx := crstel.WithTask(context.Background(), task1)
	if err := subprocess.Run(ctx, crs.Testing, "run_tests", cmd); err != nil {
		t.Fatal(err)
	}
	sc := only(t, rec.Ended()).SpanContext()
	env := map[string]string{}
	for line := range strings.Lines(out.String()) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		env[k] = v
	}
	if want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"; env["TRACEPARENT"] != want {
		t.Errorf("TRACEPARENT=%s, want %s", env["TRACEPARENT"], want)
	}
	if env["TRACESTATE"] != "" {
		t.Errorf("TRACESTATE=%s, want it unset (the stale value removed)", env["TRACESTATE"])
	}
	for _, member := range []string{"round.id=round-1;crstel.task", "task.id=task-1;crstel.task", "team.id=team-1;crstel.task"} {
		if !strings.Contains(env["BAGGAGE"], member) {
			t.Errorf("BAGGAGE=%s, want it to hold %s", env["BAGGAGE"], member)
		}
	}
	if strings.Contains(env["BAGGAGE"], "stale") {
		t.Errorf("BAGGAGE=%s holds the stale value", env["BAGGAGE"])
	}
}

func TestContextToEnv(t *testing.T) {
	// Serial: ContextToEnv injects with the global propagator
	// (otel.SetTextMapPropagator).
	crsteltest.NewRecorder(t, crsteltest.WithGlobal())
	ctx, span := crstel.Action(crstel.WithTask(context.Background(), crs.Metadata{"task.id": "t-1"}), crs.Testing, "t", nil)
	defer span.End()
	env := crstel.ContextToEnv(ctx, []string{"PATH=/bin", "TRACEPARENT=old", "traceparent=lower", "TRACESTATE=old"})
	want := []string{
		"PATH=/bin", "traceparent=lower",
		"BAGGAGE=task.id=t-1;crstel.task",
		"TRACEPARENT=00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01",
	}
	if !slices.Equal(env, want) {
		t.Errorf("ContextToEnv = %q, want %q", env, want)
	}
	if got := crstel.ContextToEnv(context.Background(), []string{"A=1", "BAGGAGE=x"}); !slices.Equal(got, []string{"A=1"}) {
		t.Errorf("ContextToEnv of an empty context = %q, want [A=1]", got)
	}
	//lint:ignore SA1012 a nil context must not panic
	if got := crstel.ContextToEnv(nil, []string{}); len(got) != 0 {
		t.Errorf("ContextToEnv(nil) = %q", got)
	}
}

// TestContextToEnvWithoutPropagator: with no propagator installed, or one
// with other fields, the child still never sees the parent's stale W3C
// variables.
func TestContextToEnvWithoutPropagator(t *testing.T) {
	// Serial: it sets the global propagator.
	prev := otel.GetTextMapPropagator()
	t.Cleanup(func() { otel.SetTextMapPropagator(prev) })
	stale := []string{"A=1", "TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "TRACESTATE=x=1", "BAGGAGE=task.id=old"}
	for name, prop := range map[string]propagation.TextMapPropagator{
		"none":       propagation.NewCompositeTextMapPropagator(),
		"other only": fieldsPropagator{"x-trace"},
	} {
		otel.SetTextMapPropagator(prop)
		got := crstel.ContextToEnv(context.Background(), stale)
		if !slices.Equal(got, []string{"A=1"}) {
			t.Errorf("%s: ContextToEnv = %q, want [A=1]", name, got)
		}
	}
}

// fieldsPropagator is a propagator with fields of its own, which injects
// and extracts nothing.
type fieldsPropagator []string

func (fieldsPropagator) Inject(context.Context, propagation.TextMapCarrier) {}
func (fieldsPropagator) Extract(ctx context.Context, _ propagation.TextMapCarrier) context.Context {
	return ctx
}
func (p fieldsPropagator) Fields() []string { return p }

func TestContextFromEnv(t *testing.T) {
	// Serial: the environment (t.Setenv) is the process's, and
	// ContextFromEnv extracts with the global propagator.
	crsteltest.NewRecorder(t, crsteltest.WithGlobal())
	t.Setenv("TRACEPARENT", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	t.Setenv("BAGGAGE", "round.id=round-1;crstel.task,task.id=task-1;crstel.task,other=x")
	ctx := crstel.ContextFromEnv(context.Background())
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsRemote() || sc.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sc.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("span context %v, want the remote parent of TRACEPARENT", sc)
	}
	if got := crstel.Task(ctx); len(got) != 2 || got["round.id"] != "round-1" || got["task.id"] != "task-1" {
		t.Errorf("Task = %v, want round.id and task.id", got)
	}
	_, span := crstel.Action(ctx, crs.Testing, "child", nil)
	defer span.End()
	if span.SpanContext().TraceID() != sc.TraceID() {
		t.Error("an action started from the context is not in the parent's trace")
	}

	t.Setenv("TRACEPARENT", "garbage")
	t.Setenv("BAGGAGE", "")
	if sc := trace.SpanContextFromContext(crstel.ContextFromEnv(context.Background())); sc.IsValid() {
		t.Errorf("an invalid TRACEPARENT gave %v", sc)
	}
	//lint:ignore SA1012 a nil context must not panic
	if crstel.ContextFromEnv(nil) == nil {
		t.Error("ContextFromEnv(nil) = nil")
	}
}
