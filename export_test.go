package crstel_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crstel/crstel"
)

// TestLossReasons: each lost span is counted once, under the reason it was
// lost for, where that is decided: a full queue, a failed export, or still
// queued when a bounded Shutdown gave up. After Shutdown, Ended = Exported +
// Lost; an export that ends after Shutdown changes nothing.
func TestLossReasons(t *testing.T) {
	tests := []struct {
		name  string
		spans int
		// opts configure the pipeline; the exporter holds every batch until
		// released, which happens before Shutdown if release is set.
		opts    []crstel.Option
		release bool
		fail    bool // the exporter refuses every batch
		want    crstel.Stats
		say     []string // in Shutdown's error
		notSay  []string
	}{
		{name: "unsent at shutdown", spans: 50, want: crstel.Stats{Ended: 50, Unsent: 50},
			say: []string{"50 of 50 spans", "50 still unsent"}, notSay: []string{"dropped", "failed"}},
		{name: "queue full, then unsent", spans: 30, opts: []crstel.Option{crstel.WithQueueSize(10), crstel.WithBatchSize(10)},
			want: crstel.Stats{Ended: 30, Dropped: 20, Unsent: 10},
			say:  []string{"30 of 30 spans", "20 dropped from a full queue", "10 still unsent"}, notSay: []string{"failed"}},
		{name: "queue full, the rest exported", spans: 30, release: true,
			opts: []crstel.Option{crstel.WithQueueSize(10), crstel.WithBatchSize(10)},
			want: crstel.Stats{Ended: 30, Exported: 10, Dropped: 20}, say: []string{"20 of 30 spans", "20 dropped"},
			notSay: []string{"unsent", "failed"}},
		{name: "failed", spans: 5, release: true, fail: true, want: crstel.Stats{Ended: 5, Failed: 5},
			say: []string{"5 of 5 spans", "5 failed to export"}, notSay: []string{"dropped", "unsent"}},
		{name: "nothing lost", spans: 5, release: true, want: crstel.Stats{Ended: 5, Exported: 5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			exp := newHoldingExporter()
			exp.fail = tt.fail
			tel, err := crstel.Setup(context.Background(), append([]crstel.Option{crstel.WithServiceName("patcher"),
				crstel.WithExporter(exp), crstel.WithoutJournal(), crstel.WithMetricReader(sdkmetric.NewManualReader())}, tt.opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			for range tt.spans {
				_, s := otel.Tracer("t").Start(context.Background(), "s")
				s.End()
			}
			if tt.release {
				close(exp.release)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			if !tt.release {
				<-exp.entered // the first batch is being sent
				cancel()      // Shutdown gives up at once
			}
			shutdownErr := tel.Shutdown(ctx)
			cancel()
			if got := tel.Stats(); got != tt.want {
				t.Errorf("Stats() after Shutdown = %+v, want %+v", got, tt.want)
			}
			if !tt.release {
				close(exp.release) // the export under way now ends well: too late to count
				exp.waitIdle()
				if got := tel.Stats(); got != tt.want {
					t.Errorf("Stats() after a late export = %+v, want still %+v", got, tt.want)
				}
			}
			if len(tt.say) == 0 && shutdownErr != nil {
				t.Errorf("Shutdown = %v, want nil", shutdownErr)
			}
			msg := fmt.Sprint(shutdownErr)
			for _, s := range tt.say {
				if !strings.Contains(msg, s) {
					t.Errorf("Shutdown error %q does not say %q", msg, s)
				}
			}
			for _, s := range tt.notSay {
				if strings.Contains(msg, s) {
					t.Errorf("Shutdown error %q says %q", msg, s)
				}
			}
		})
	}
}

// TestLostCounterMonotonic: the metric of lost spans counts a span once its
// loss is decided, and never goes down: a span only queued is not lost.
func TestLostCounterMonotonic(t *testing.T) {
	isolate(t)
	exp := newHoldingExporter()
	reader := sdkmetric.NewManualReader()
	tel := startSetup(t, crstel.WithServiceName("patcher"), crstel.WithExporter(exp), crstel.WithoutJournal(),
		crstel.WithMetricReader(reader), crstel.WithQueueSize(4), crstel.WithBatchSize(2))
	lost := func() map[string]int64 {
		t.Helper()
		out := map[string]int64{}
		for k, v := range metricSums(t, reader) {
			if strings.HasPrefix(k, crstel.MetricSpansLost) {
				out[k] = v
			}
		}
		return out
	}
	end := func(n int) {
		for range n {
			_, s := otel.Tracer("t").Start(context.Background(), "s")
			s.End()
		}
	}
	end(1)
	<-exp.entered
	if got := lost(); got[crstel.MetricSpansLost+"/queue_full"] != 0 {
		t.Errorf("with one span queued, lost = %v, want 0", got)
	}
	end(9) // the queue holds 4: 6 dropped
	if got := lost()[crstel.MetricSpansLost+"/queue_full"]; got != 6 {
		t.Errorf("lost{queue_full} = %d, want 6", got)
	}
	close(exp.release)
	if err := tel.ForceFlush(context.Background()); err == nil {
		t.Error("ForceFlush = nil, want the loss reported")
	}
	if got := lost()[crstel.MetricSpansLost+"/queue_full"]; got != 6 {
		t.Errorf("after the queue drained, lost{queue_full} = %d, want still 6", got)
	}
	if st := tel.Stats(); st.Exported != 4 || st.Dropped != 6 || st.Queued != 0 {
		t.Errorf("Stats() = %+v, want 4 exported, 6 dropped, none queued", st)
	}
}

// TestLogExportSafeguards: the log records of Setup's LoggerProvider go
// through the same safeguards as spans: a failure is reported once, without
// the credentials, and exports pause after refused credentials; the queue
// is bounded in bytes, and each lost record is counted under its reason.
func TestLogExportSafeguards(t *testing.T) {
	const secret = "sk-live-Sup3rS3cretT0ken"
	emit := func(tel *crstel.Telemetry, n int, body string) {
		logger := tel.LoggerProvider().Logger("t")
		for range n {
			var r log.Record
			r.SetBody(attribute.StringValue(body))
			logger.Emit(context.Background(), r)
		}
	}
	t.Run("refused credentials", func(t *testing.T) {
		errs := isolate(t)
		exp := &failingLogExporter{err: status.Error(codes.Unauthenticated, "invalid token "+secret)}
		tel := startSetup(t, crstel.WithServiceName("patcher"), crstel.WithExporter(newHoldingExporter()),
			crstel.WithLogExporter(exp), crstel.WithHeaders(map[string]string{"authorization": "Bearer " + secret}),
			crstel.WithoutJournal(), crstel.WithMetricReader(sdkmetric.NewManualReader()))
		for range 20 {
			emit(tel, 1, "patch applied")
			tel.ForceFlush(context.Background())
		}
		shutdownErr := shutdownTel(t, tel)
		if n := exp.calls(); n < 1 || n > 2 {
			t.Errorf("the log exporter was called %d times for 20 flushes within a second, want 1 or 2", n)
		}
		var reports []string
		for _, m := range errs.Messages() {
			if strings.Contains(m, "log records") && strings.Contains(m, "credentials") {
				reports = append(reports, m)
			}
		}
		if len(reports) != 1 {
			t.Errorf("%d reports of the refused log export, want 1: %q", len(reports), errs.Messages())
		}
		if !strings.Contains(fmt.Sprint(shutdownErr), "20 of 20 log records") {
			t.Errorf("Shutdown = %v, want 20 of 20 log records lost", shutdownErr)
		}
		for _, m := range append(errs.Messages(), fmt.Sprint(shutdownErr)) {
			if strings.Contains(m, secret) {
				t.Errorf("the secret appears in %q", m)
			}
		}
	})
	t.Run("byte bound and unsent", func(t *testing.T) {
		isolate(t)
		exp := &failingLogExporter{block: make(chan struct{})}
		tel, err := crstel.Setup(context.Background(), crstel.WithServiceName("patcher"),
			crstel.WithExporter(newHoldingExporter()), crstel.WithLogExporter(exp), crstel.WithoutJournal(),
			crstel.WithMetricReader(sdkmetric.NewManualReader()), crstel.WithQueueBytes(1<<20))
		if err != nil {
			t.Fatal(err)
		}
		emit(tel, 50, strings.Repeat("x", 100_000)) // 100 KB each: about 10 fit in 1 MiB
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		shutdownErr := tel.Shutdown(ctx)
		close(exp.block)
		msg := fmt.Sprint(shutdownErr)
		if !strings.Contains(msg, "50 of 50 log records") || !strings.Contains(msg, "dropped from a full queue") ||
			!strings.Contains(msg, "still unsent") {
			t.Errorf("Shutdown = %v, want 50 of 50 log records lost, dropped from a full queue and unsent", shutdownErr)
		}
	})
}

// failingLogExporter refuses every export with err, or blocks until block
// is closed.
type failingLogExporter struct {
	err   error
	block chan struct{}
	mu    sync.Mutex
	n     int
}

func (e *failingLogExporter) Export(ctx context.Context, records []sdklog.Record) error {
	e.mu.Lock()
	e.n++
	e.mu.Unlock()
	if e.block != nil {
		select {
		case <-e.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return e.err
}

func (e *failingLogExporter) calls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.n
}

func (*failingLogExporter) Shutdown(context.Context) error   { return nil }
func (*failingLogExporter) ForceFlush(context.Context) error { return nil }

// holdingExporter holds every batch until release is closed, then
// accepts it, or refuses it if fail is set.
type holdingExporter struct {
	release chan struct{}
	entered chan struct{} // closed when the first export starts
	fail    bool
	once    sync.Once
	busy    sync.WaitGroup
}

func newHoldingExporter() *holdingExporter {
	return &holdingExporter{release: make(chan struct{}), entered: make(chan struct{})}
}

func (e *holdingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.busy.Add(1)
	defer e.busy.Done()
	e.once.Do(func() { close(e.entered) })
	<-e.release // even past ctx: an export that ends after Shutdown gave up
	if e.fail {
		return status.Error(codes.Unavailable, "refused")
	}
	return nil
}

// waitIdle waits until no export is under way.
func (e *holdingExporter) waitIdle() { e.busy.Wait() }

func (*holdingExporter) Shutdown(context.Context) error { return nil }
