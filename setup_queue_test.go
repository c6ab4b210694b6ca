package crstel_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel"
)

// Tests of the export queue Setup builds: drops counted and reported, the
// byte bound, the blocking policy, batches no larger than the queue.

// blockingExporter holds every export until release is closed.
type blockingExporter struct {
	release  chan struct{}
	entered  chan struct{} // closed when the first export starts
	once     sync.Once
	mu       sync.Mutex
	exported int
	batches  []int // sizes of the batches exported, in order
}

func newBlockingExporter() *blockingExporter {
	return &blockingExporter{release: make(chan struct{}), entered: make(chan struct{})}
}

func (e *blockingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	e.batches = append(e.batches, len(spans))
	e.mu.Unlock()
	e.once.Do(func() { close(e.entered) })
	select {
	case <-e.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	e.mu.Lock()
	e.exported += len(spans)
	e.mu.Unlock()
	return nil
}

func (e *blockingExporter) Shutdown(context.Context) error { return nil }

func (e *blockingExporter) batchSizes() []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.batches)
}

func (e *blockingExporter) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.exported
}

func TestSetupCountsDrops(t *testing.T) {
	errs := isolate(t)
	exp := newBlockingExporter()
	// WithBatchSize too, so that the exporter holds the first 10 spans,
	// which fill the queue: its bound counts the batch being exported.
	tel := startSetup(t, crstel.WithServiceName("patcher"), crstel.WithExporter(exp),
		crstel.WithQueueSize(10), crstel.WithBatchSize(10))

	tr := otel.Tracer("t")
	for range 100 {
		_, s := tr.Start(context.Background(), "s")
		s.End() // never blocks: a full queue drops
	}
	close(exp.release)
	shutdownErr := shutdownTel(t, tel)

	st := tel.Stats()
	if st.Ended != 100 || st.Exported+st.Dropped != 100 || st.Dropped < 80 || st.Failed != 0 {
		t.Fatalf("Stats() = %+v, want 100 ended, exported + dropped = 100, at least 80 dropped, none failed", st)
	}
	if int64(exp.count()) != st.Exported {
		t.Errorf("exporter got %d spans, Stats says %d exported", exp.count(), st.Exported)
	}
	dropped := fmt.Sprintf("%d dropped", st.Dropped)
	if shutdownErr == nil || !strings.Contains(shutdownErr.Error(), dropped) ||
		!strings.Contains(shutdownErr.Error(), fmt.Sprintf("%d of 100", st.Lost())) {
		t.Errorf("Shutdown = %v, want an error saying %q and %d of 100", shutdownErr, dropped, st.Lost())
	}
	var reported int
	for _, e := range errs.Messages() {
		if strings.Contains(e, dropped) {
			reported++
		}
	}
	if reported != 1 {
		t.Errorf("otel.Handle got %d errors saying %q, want 1; all: %q", reported, dropped, errs.Messages())
	}
	if again := shutdownTel(t, tel); fmt.Sprint(again) != fmt.Sprint(shutdownErr) {
		t.Errorf("second Shutdown = %v, want the first one's %v", again, shutdownErr)
	}
}

// TestSetupQueueBytes: spans of 10 KB against a queue of 100,000 bytes
// and 1,000 spans, while the exporter holds its first batch: the byte
// bound drops the spans that do not fit, and counts them, for both the
// option and CRSTEL_QUEUE_BYTES.
func TestSetupQueueBytes(t *testing.T) {
	for _, tt := range []struct {
		name string
		opt  crstel.Option
		env  string
	}{
		{name: "option", opt: crstel.WithQueueBytes(100_000)},
		{name: "CRSTEL_QUEUE_BYTES", env: "100000"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			if tt.env != "" {
				t.Setenv("CRSTEL_QUEUE_BYTES", tt.env)
			}
			exp := newBlockingExporter()
			tel := startSetup(t, crstel.WithServiceName("patcher"), crstel.WithExporter(exp),
				crstel.WithQueueSize(1000), crstel.WithBatchSize(2), tt.opt)
			tr := otel.Tracer("t")
			prompt := strings.Repeat("x", 10_000)
			for range 50 {
				_, s := tr.Start(context.Background(), "llm", trace.WithAttributes(attribute.String("gen_ai.prompt", prompt)))
				s.End() // never blocks: a full queue drops
			}
			close(exp.release)
			shutdownErr := shutdownTel(t, tel)
			st := tel.Stats()
			t.Logf("50 spans of 10 KB, a queue of 100,000 bytes: %+v", st)
			// At most 9 fit in 100,000 bytes at 10,000 bytes and more each.
			if st.Ended != 50 || st.Exported < 2 || st.Exported > 9 || st.Exported+st.Dropped != 50 {
				t.Errorf("Stats() = %+v, want 50 ended, between 2 and 9 exported, the rest dropped", st)
			}
			if want := fmt.Sprintf("%d dropped", st.Dropped); shutdownErr == nil || !strings.Contains(shutdownErr.Error(), want) {
				t.Errorf("Shutdown = %v, want an error saying %q", shutdownErr, want)
			}
		})
	}
}

func TestSetupQueueBlock(t *testing.T) {
	for _, tt := range []struct {
		name string
		opt  crstel.Option
		env  string
	}{
		{name: "option", opt: crstel.WithQueueFullPolicy(crstel.QueueBlock)},
		{name: "CRSTEL_QUEUE_FULL", env: "block"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			errs := isolate(t)
			if tt.env != "" {
				t.Setenv("CRSTEL_QUEUE_FULL", tt.env)
			}
			exp := newBlockingExporter()
			tel := startSetup(t, crstel.WithServiceName("patcher"), crstel.WithExporter(exp),
				crstel.WithQueueSize(10), crstel.WithBatchSize(10), tt.opt)

			done := make(chan struct{})
			go func() {
				defer close(done)
				tr := otel.Tracer("t")
				for range 100 {
					_, s := tr.Start(context.Background(), "s")
					s.End() // blocks while the queue is full
				}
			}()
			select {
			case <-exp.entered:
			case <-time.After(30 * time.Second):
				t.Fatal("the exporter got no batch")
			}
			select {
			case <-done:
				t.Error("100 spans ended while the exporter held the first batch; want End to block on the full queue")
			default:
			}
			close(exp.release)
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatal("span.End still blocked after the exporter was released")
			}
			if err := shutdownTel(t, tel); err != nil {
				t.Errorf("Shutdown: %v, want nil: nothing lost", err)
			}
			if st := tel.Stats(); st != (crstel.Stats{Ended: 100, Exported: 100}) {
				t.Errorf("Stats() = %+v, want 100 ended and exported", st)
			}
			if e := errs.Messages(); len(e) != 0 {
				t.Errorf("otel.Handle got %q, want nothing", e)
			}
		})
	}
}

// TestSetupQueueSizeBoundsBatch checks that a queue smaller than the
// default batch makes the batches smaller too, so that no more spans wait
// for export than the queue size says, the batch being exported included,
// and QueueBlock blocks once they do. The SDK clamps the batch size to the
// queue size when both come from OTEL_BSP_*, but not when they come from
// its options, which is how Setup passes them.
func TestSetupQueueSizeBoundsBatch(t *testing.T) {
	for _, tt := range []struct {
		name string
		opts []crstel.Option
		env  map[string]string
	}{
		{name: "WithQueueSize", opts: []crstel.Option{crstel.WithQueueSize(10)}},
		{name: "OTEL_BSP_MAX_QUEUE_SIZE", env: map[string]string{"OTEL_BSP_MAX_QUEUE_SIZE": "10"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			exp := newBlockingExporter()
			close(exp.release)
			opts := append([]crstel.Option{crstel.WithServiceName("patcher"), crstel.WithExporter(exp),
				crstel.WithQueueFullPolicy(crstel.QueueBlock)}, tt.opts...)
			tel := startSetup(t, opts...)
			tr := otel.Tracer("t")
			for range 100 {
				_, s := tr.Start(context.Background(), "s")
				s.End()
			}
			if err := shutdownTel(t, tel); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if st := tel.Stats(); st != (crstel.Stats{Ended: 100, Exported: 100}) {
				t.Errorf("Stats() = %+v, want 100 ended and exported", st)
			}
			if sizes := exp.batchSizes(); len(sizes) == 0 || slices.Max(sizes) > 10 {
				t.Errorf("batch sizes %v with a queue of 10, want none above 10: the batch buffers spans beyond the queue size", sizes)
			}
		})
	}
}
