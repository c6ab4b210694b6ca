package journal

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

func TestWriteConcurrent(t *testing.T) {
	opts := testOptions(t)
	opts.Queue = 256 // small: some events are dropped
	w := mustOpen(t, opts)
	const writers, each = 8, 2000
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				w.Write(Event{Kind: KindStart, Time: t0, Span: spanCtx(byte(g)), Category: "fuzzing", Name: "run_fuzzer", Metadata: task, Elapsed: time.Duration(i)})
			}
		})
	}
	wg.Wait()
	mustClose(t, w)

	var starts, dropped int64
	for _, r := range mustRead(t, w.Path()) {
		switch r.Kind {
		case "start":
			starts++
		case "dropped":
			dropped += r.Count
		}
	}
	if starts+dropped != writers*each || dropped != w.Dropped() {
		t.Errorf("%d starts written and %d dropped (Dropped() = %d), want %d in all", starts, dropped, w.Dropped(), writers*each)
	}
}

// benchEvent is a typical start event.
var benchEvent = Event{
	Kind: KindStart, Time: t0, Span: spanCtx(1), Parent: spanID(2), Category: "patch_generation", Name: "generate_patch",
	Metadata: []attribute.KeyValue{attribute.String("round.id", "round-3"), attribute.String("task.id", "task-1"), attribute.String("team.id", "team-1")},
	Budget:   5 * time.Minute, Deadline: t0.Add(time.Hour),
}

// BenchmarkWrite is the cost to the caller: a send on a buffered channel.
func BenchmarkWrite(b *testing.B) {
	opts := Options{Dir: b.TempDir(), Service: "bench"}
	w, err := Open(opts)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w.Write(benchEvent)
		}
	})
	b.StopTimer()
	if err := w.Close(b.Context()); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(w.Dropped())/float64(b.N), "dropped/op")
}

// BenchmarkEncode compares the writer's encoding with encoding/json
// encoding the same record.
func BenchmarkEncode(b *testing.B) {
	b.Run("journal", func(b *testing.B) {
		b.ReportAllocs()
		buf := make([]byte, 0, 1024)
		pid := []byte(`,"pid":4242`)
		for b.Loop() {
			buf = appendEvent(buf[:0], &benchEvent, t0, pid)
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			md := make(map[string]string, len(benchEvent.Metadata))
			for _, kv := range benchEvent.Metadata {
				md[string(kv.Key)] = kv.Value.String()
			}
			r := Record{
				Kind: benchEvent.Kind.String(), Time: benchEvent.Time, PID: 4242,
				TraceID: benchEvent.Span.TraceID().String(), SpanID: benchEvent.Span.SpanID().String(), ParentID: benchEvent.Parent.String(),
				Category: benchEvent.Category, Name: benchEvent.Name, Metadata: md,
				BudgetMS: float64(benchEvent.Budget) / 1e6, Deadline: benchEvent.Deadline,
			}
			if _, err := json.Marshal(&r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
