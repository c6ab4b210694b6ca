package export

import (
	"context"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// endedSpan returns an ended span with the attributes, an event and a link.
func endedSpan(t *testing.T, kvs ...attribute.KeyValue) sdktrace.ReadOnlySpan {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer tp.Shutdown(context.Background())
	_, s := tp.Tracer("t").Start(context.Background(), "span", trace.WithAttributes(kvs...))
	s.AddEvent("event", trace.WithAttributes(attribute.String("k", "v")))
	s.End()
	return rec.Ended()[0]
}

func TestSpanBytes(t *testing.T) {
	base := spanBytes(endedSpan(t))
	if base < spanOverhead {
		t.Fatalf("spanBytes of a bare span = %d, want at least %d", base, spanOverhead)
	}
	for _, tt := range []struct {
		kv   attribute.KeyValue
		more int64 // at least this much over the bare span
	}{
		{attribute.String("prompt", strings.Repeat("x", 10_000)), 10_000},
		{attribute.StringSlice("additions", []string{strings.Repeat("a", 500), strings.Repeat("b", 500)}), 1000},
		{attribute.Int64Slice("n", make([]int64, 100)), 800},
		{attribute.Float64Slice("f", make([]float64, 100)), 800},
		{attribute.BoolSlice("b", make([]bool, 100)), 100},
		{attribute.Int("int", 1), attributeOverhead},
	} {
		got := spanBytes(endedSpan(t, tt.kv))
		if got < base+tt.more {
			t.Errorf("spanBytes with %s = %d, want at least %d", tt.kv.Key, got, base+tt.more)
		}
		if again := spanBytes(endedSpan(t, tt.kv)); again != got {
			t.Errorf("spanBytes with %s: %d, then %d; want the same", tt.kv.Key, got, again)
		}
	}
}

func TestAdmission(t *testing.T) {
	t.Run("spans", func(t *testing.T) {
		q := NewQueue(2, 1<<20, false)
		for i, want := range []bool{true, true, false} {
			if got := q.admit(100); got != want {
				t.Errorf("admit of span %d into a queue of 2 = %v, want %v", i+1, got, want)
			}
		}
	})
	t.Run("bytes", func(t *testing.T) {
		q := NewQueue(100, 1000, false)
		for _, step := range []struct {
			bytes int64
			want  bool
		}{{600, true}, {600, false}, {400, true}, {1, false}} {
			if got := q.admit(step.bytes); got != step.want {
				t.Errorf("admit(%d) into a queue of 1000 bytes holding %d = %v, want %v", step.bytes, q.bytes.Load(), got, step.want)
			}
		}
		if q.spans.Load() != 2 || q.bytes.Load() != 1000 {
			t.Errorf("after refusals: %d spans, %d bytes; want 2, 1000", q.spans.Load(), q.bytes.Load())
		}
	})
	t.Run("an empty queue takes a span of any size", func(t *testing.T) {
		q := NewQueue(100, 1000, false)
		if !q.admit(5000) || q.admit(1) {
			t.Error("an empty queue refused a large span, or a full one took another")
		}
	})
	t.Run("release", func(t *testing.T) {
		q := NewQueue(100, 1<<20, false)
		big := endedSpan(t, attribute.String("p", strings.Repeat("x", 1000)))
		n := spanBytes(big)
		q.admit(n)
		q.admit(n)
		q.release(2, 2*n)
		if q.spans.Load() != 0 || q.bytes.Load() != 0 {
			t.Errorf("after releasing what was admitted: %d spans, %d bytes; want 0, 0", q.spans.Load(), q.bytes.Load())
		}
	})
	t.Run("block waits for a release", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			q := NewQueue(1, 1<<20, true)
			s := endedSpan(t)
			q.admit(spanBytes(s))
			admitted := make(chan bool)
			go func() { admitted <- q.admit(spanBytes(s)) }()
			synctest.Wait()
			select {
			case <-admitted:
				t.Fatal("a blocking queue took a span while full")
			default:
			}
			time.Sleep(time.Second)
			q.release(1, spanBytes(s))
			if !<-admitted {
				t.Error("the waiting span was dropped after a release, want it taken")
			}
		})
	})
	t.Run("close drops the waiting spans", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			q := NewQueue(1, 1<<20, true)
			q.admit(10)
			admitted := make(chan bool)
			go func() { admitted <- q.admit(10) }()
			synctest.Wait()
			q.close()
			if <-admitted {
				t.Error("a span waiting at close was taken, want it dropped")
			}
			if q.admit(10) {
				t.Error("a closed, full queue took a span")
			}
		})
	})
}

// TestOldestAge: the age of the oldest queued item, exact with a queue of
// at most ageSlots items, and estimated within stride items beyond.
func TestOldestAge(t *testing.T) {
	for _, tt := range []struct {
		name    string
		size    int
		admit   int   // one a second
		release int64 // then
		want    time.Duration
	}{
		{name: "empty", size: 16, want: 0},
		{name: "one", size: 16, admit: 1, want: 1 * time.Second},
		{name: "first in, first out", size: 16, admit: 5, release: 2, want: 3 * time.Second},
		{name: "all released", size: 16, admit: 5, release: 5, want: 0},
		// A queue of 4*ageSlots keeps one time in 4: the oldest (number 5)
		// is estimated by number 8, admitted 3 seconds after it.
		{name: "stride", size: 4 * ageSlots, admit: 10, release: 5, want: 2 * time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				q := NewQueue(tt.size, 1<<30, false)
				for range tt.admit {
					if !q.admit(10) {
						t.Fatal("admit refused")
					}
					time.Sleep(time.Second)
				}
				q.release(tt.release, 10*tt.release)
				if got := q.OldestAge(time.Now()); got != tt.want {
					t.Errorf("OldestAge: got %v, want %v", got, tt.want)
				}
			})
		})
	}
	if got := (*Queue)(nil).OldestAge(time.Now()); got != 0 {
		t.Errorf("nil queue: got %v, want 0", got)
	}
}
