package crstel_test

import (
	"context"
	"fmt"
	"os"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
)

// The environment a child process gets: the trace context and the task
// metadata of its parent's action (here a span with fixed ids).
func ExampleContextToEnv() {
	// Setup installs these propagators.
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))

	ctx := crstel.WithTask(context.Background(), crs.Metadata{"task.id": "task-1"})
	ctx = trace.ContextWithSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	}))
	for _, kv := range crstel.ContextToEnv(ctx, []string{"PATH=/usr/bin", "TRACEPARENT=stale"}) {
		fmt.Println(kv)
	}
	// Output:
	// PATH=/usr/bin
	// BAGGAGE=task.id=task-1;crstel.task
	// TRACEPARENT=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
}

// A child process continues its parent's trace, with its task metadata.
func ExampleContextFromEnv() {
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	// What the parent put in the environment (see ContextToEnv).
	os.Setenv("TRACEPARENT", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	os.Setenv("BAGGAGE", "task.id=task-1;crstel.task")
	defer os.Unsetenv("TRACEPARENT")
	defer os.Unsetenv("BAGGAGE")

	ctx := crstel.ContextFromEnv(context.Background())
	sc := trace.SpanContextFromContext(ctx)
	fmt.Println("trace", sc.TraceID(), "parent", sc.SpanID())
	fmt.Println("task", crstel.Task(ctx))
	// Output:
	// trace 4bf92f3577b34da6a3ce929d0e0e4736 parent 00f067aa0ba902b7
	// task map[task.id:task-1]
}

func ExampleActionOf() {
	ctx, span := crstel.Action(context.Background(), crs.Building, "build", nil)
	defer span.End()
	category, name, ok := crstel.ActionOf(ctx)
	fmt.Println(category, name, ok)
	_, _, ok = crstel.ActionOf(context.Background())
	fmt.Println(ok)
	// Output:
	// building build true
	// false
}
