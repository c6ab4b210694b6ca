package actionref

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace/noop"
)

// deepContext is a context ten values deep, as a server's request context
// often is.
func deepContext() context.Context {
	type key int
	ctx := context.Background()
	for i := range 10 {
		ctx = context.WithValue(ctx, key(i), i)
	}
	return ctx
}

// TestScopedTracerProvider: a provider put in a context is found in it,
// and in the contexts made from it; not in another.
func TestScopedTracerProvider(t *testing.T) {
	tp := noop.NewTracerProvider()
	ctx := WithTracerProvider(context.Background(), tp)
	type other struct{}
	if got := ScopedTracerProvider(context.WithValue(ctx, other{}, 1)); got != tp {
		t.Errorf("ScopedTracerProvider = %v, want %v", got, tp)
	}
	if got := ScopedTracerProvider(deepContext()); got != nil {
		t.Errorf("ScopedTracerProvider of a context without one = %v, want nil", got)
	}
}

// BenchmarkScopedTracerProvider measures the lookup Action makes in the
// context it is given, before and after any WithTracerProvider: the
// lookup is skipped until then.
func BenchmarkScopedTracerProvider(b *testing.B) {
	ctx := deepContext()
	was := scoped.Load()
	b.Cleanup(func() { scoped.Store(was) })
	for _, s := range []struct {
		name   string
		scoped bool
	}{{"never_scoped", false}, {"scoped", true}} {
		b.Run(s.name, func(b *testing.B) {
			scoped.Store(s.scoped)
			for b.Loop() {
				if ScopedTracerProvider(ctx) != nil {
					b.Fatal("found a provider")
				}
			}
		})
	}
}
