package crstel_test

// Fault tests against the real OpenTelemetry Collector: what happens to
// spans when the collector is late, goes away, or the outage outlasts the
// buffer. Each prints its figures.

import (
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/internal/collectortest"
)

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// produce makes one action every interval until stop is closed, and returns
// how many it made.
func produce(ctx context.Context, interval time.Duration, stop <-chan struct{}) int {
	ctx = crstel.WithTask(ctx, task1)
	t := time.NewTicker(interval)
	defer t.Stop()
	n := 0
	for {
		select {
		case <-stop:
			return n
		case <-t.C:
			_, span := crstel.Action(ctx, crs.Fuzzing, "fuzz_iteration", nil)
			span.End()
			n++
		}
	}
}

// produceThrough makes one action every interval while fault runs, and a
// moment after, and returns how many it made.
func produceThrough(ctx context.Context, interval time.Duration, fault func()) int {
	stop := make(chan struct{})
	made := make(chan int)
	go func() { made <- produce(ctx, interval, stop) }()
	fault()
	close(stop)
	return <-made
}

// metricSums returns the sums of the int64 metrics reader collects now, by
// name, and by name + "/" + crstel.watchdog.state or crstel.reason where
// one is set.
func metricSums(t *testing.T, reader sdkmetric.Reader) map[string]int64 {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			sum, ok := m.Data.(metricdata.Sum[int64])
			if !ok {
				continue
			}
			for _, dp := range sum.DataPoints {
				got[m.Name] += dp.Value
				for _, k := range []attribute.Key{"crstel.watchdog.state", "crstel.reason"} {
					if v, ok := dp.Attributes.Value(k); ok {
						got[m.Name+"/"+v.AsString()] += dp.Value
					}
				}
			}
		}
	}
	return got
}

// waitAccepted waits until the collector has accepted want distinct spans,
// or 60 s, and returns how many distinct spans it has.
func waitAccepted(t *testing.T, c *collectortest.Collector, want int) int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := len(collectortest.Unique(c.Spans(t)))
		if got >= want || time.Now().After(deadline) {
			return got
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestCollectorLateStart: the collector is absent when the component starts
// and comes up 10 s later; every span made in those 10 s arrives.
func TestCollectorLateStart(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 15 s; skipped with -short")
	}
	restoreGlobals(t)
	errs := crsteltest.CaptureErrors(t)
	port := freePort(t)
	ctx := context.Background()
	tel, err := crstel.Setup(ctx, crstel.WithEndpoint("http://127.0.0.1:"+strconv.Itoa(port)), crstel.WithoutJournal())
	if err != nil {
		t.Fatal(err)
	}
	var start time.Time
	var c *collectortest.Collector
	n := produceThrough(ctx, 100*time.Millisecond, func() {
		time.Sleep(10 * time.Second)
		start = time.Now()
		c = collectortest.Start(t, collectortest.WithGRPCPort(port))
		time.Sleep(time.Second)
	})
	sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := tel.Shutdown(sctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	got := waitAccepted(t, c, n)
	t.Logf("made %d spans, the first 10 s with no collector; %d arrived, the last %v after the collector started; %+v; %d errors reported",
		n, got, time.Since(start).Round(100*time.Millisecond), tel.Stats(), len(errs.Errors()))
	if got != n || tel.Stats().Lost() != 0 {
		t.Errorf("collector received %d of %d spans, Stats %+v; want all", got, n, tel.Stats())
	}
}

// TestCollectorRestart: the collector is killed (SIGKILL) mid-run and
// restarted 15 s later; every span arrives, as the outage is within the
// buffer. Spans are counted once however often they arrived.
func TestCollectorRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 25 s; skipped with -short")
	}
	restoreGlobals(t)
	crsteltest.CaptureErrors(t)
	c := collectortest.Start(t)
	ctx := context.Background()
	tel, err := crstel.Setup(ctx, crstel.WithEndpoint("http://"+c.Endpoint()), crstel.WithoutJournal())
	if err != nil {
		t.Fatal(err)
	}
	n := produceThrough(ctx, 20*time.Millisecond, func() {
		time.Sleep(3 * time.Second)
		c.Kill() // SIGKILL: the collector has written what it acknowledged, and nothing else
		time.Sleep(15 * time.Second)
		c.Restart(t)
		time.Sleep(3 * time.Second)
	})
	sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := tel.Shutdown(sctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	got := waitAccepted(t, c, n)
	t.Logf("made %d spans over 21 s with a 15 s outage; %d arrived; %+v", n, got, tel.Stats())
	if got != n || tel.Stats().Lost() != 0 {
		t.Errorf("collector received %d of %d spans, Stats %+v; want all", got, n, tel.Stats())
	}
}

// TestCollectorOutageBeyondBound: with a queue of 200 spans, a 6 s outage
// loses spans; exactly the number lost is reported by Shutdown, through
// otel.Handle and as a metric, and everything else arrives.
func TestCollectorOutageBeyondBound(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 10 s; skipped with -short")
	}
	restoreGlobals(t)
	errs := crsteltest.CaptureErrors(t)
	c := collectortest.Start(t)
	reader := sdkmetric.NewManualReader()
	ctx := context.Background()
	tel, err := crstel.Setup(ctx, crstel.WithEndpoint("http://"+c.Endpoint()), crstel.WithoutJournal(),
		crstel.WithQueueSize(200), crstel.WithBatchSize(50), crstel.WithMetricReader(reader))
	if err != nil {
		t.Fatal(err)
	}
	n := produceThrough(ctx, 5*time.Millisecond, func() {
		time.Sleep(time.Second)
		// SIGTERM, so that the collector answers every batch it wrote: after
		// a SIGKILL, a batch written but not acknowledged might be dropped
		// by the client and still be in the file, and the count would not
		// be exact.
		c.Stop()
		time.Sleep(6 * time.Second)
		c.Restart(t)
		time.Sleep(2 * time.Second)
	})
	sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := tel.ForceFlush(sctx); err == nil {
		t.Error("ForceFlush after losing spans returned nil")
	}
	st := tel.Stats()
	metricLost := metricSums(t, reader)[crstel.MetricSpansLost]
	serr := tel.Shutdown(sctx)
	got := waitAccepted(t, c, int(st.Exported))
	t.Logf("made %d spans with a queue of 200 and a 6 s outage: %+v; the collector has %d; metric %s = %d; Shutdown: %v",
		n, st, got, crstel.MetricSpansLost, metricLost, serr)
	if st.Ended != int64(n) || st.Lost() == 0 || st.Exported+st.Lost() != st.Ended {
		t.Errorf("Stats %+v for %d spans: want some lost, and exported + lost = ended", st, n)
	}
	if int64(got) != st.Exported {
		t.Errorf("collector has %d spans, Stats says %d exported", got, st.Exported)
	}
	if metricLost != st.Lost() {
		t.Errorf("metric %s = %d, want %d", crstel.MetricSpansLost, metricLost, st.Lost())
	}
	want := strconv.Itoa(int(st.Lost())) + " of " + strconv.Itoa(n) + " spans"
	if serr == nil || !strings.Contains(serr.Error(), want) {
		t.Errorf("Shutdown error %v, want it to say %q", serr, want)
	}
	if errs.Count(want) == 0 {
		t.Errorf("otel.Handle got %q, want one saying %q", errs.Messages(), want)
	}
}

// TestWrongCredentialsNoStorm: a component whose credentials the collector
// refuses sends few export requests: after each refusal exports pause, 5 s
// and doubling, so that it does not hammer the collector.
func TestWrongCredentialsNoStorm(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		restoreGlobals(t)
		errs := crsteltest.CaptureErrors(t)
		attempts := 0
		exp := &refusingExporter{attempts: &attempts}
		tel, err := crstel.Setup(context.Background(), crstel.WithExporter(exp), crstel.WithoutJournal(),
			crstel.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		ctx := crstel.WithTask(context.Background(), task1)
		for range 600 { // a minute of one action every 100 ms
			_, span := crstel.Action(ctx, crs.Testing, "run_unit_tests", nil)
			span.End()
			time.Sleep(100 * time.Millisecond)
		}
		tel.Shutdown(context.Background())
		t.Logf("export requests in a minute of refusals: %d; errors reported: %d; %+v", attempts, len(errs.Errors()), tel.Stats())
		if attempts > 6 {
			t.Errorf("%d export requests in a minute of refused credentials, want at most 6", attempts)
		}
		if n := errs.Count("credentials"); n != 1 {
			t.Errorf("%d errors about the credentials, want 1: %q", n, errs.Messages())
		}
		if st := tel.Stats(); st.Failed != 600 {
			t.Errorf("Stats %+v, want 600 failed", st)
		}
	})
}

// refusingExporter refuses every export as a collector does wrong
// credentials.
type refusingExporter struct{ attempts *int }

func (e *refusingExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error {
	*e.attempts++
	return status.Error(codes.Unauthenticated, "authentication failed")
}

func (e *refusingExporter) Shutdown(context.Context) error { return nil }

// delayProxy forwards TCP connections from a loopback port to target,
// delaying everything target sends back by delay: a collector that answers
// slowly. Close stops it and waits for its goroutines.
type delayProxy struct {
	lis   net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns []net.Conn
}

func newDelayProxy(t *testing.T, target string, delay time.Duration) *delayProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &delayProxy{lis: lis}
	p.wg.Go(func() {
		for {
			client, err := lis.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, client, server)
			p.mu.Unlock()
			p.wg.Go(func() { io.Copy(server, client); server.Close() })
			p.wg.Go(func() { delayedCopy(client, server, delay); client.Close() })
		}
	})
	t.Cleanup(p.Close)
	return p
}

// delayedCopy copies src to dst, each chunk delay after it arrived.
func delayedCopy(dst io.Writer, src io.Reader, delay time.Duration) {
	type chunk struct {
		at   time.Time
		data []byte
	}
	chunks := make(chan chunk, 1024)
	go func() {
		defer close(chunks)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				chunks <- chunk{time.Now().Add(delay), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range chunks {
		time.Sleep(time.Until(c.at))
		if _, err := dst.Write(c.data); err != nil {
			for range chunks {
			}
			return
		}
	}
}

func (p *delayProxy) Addr() string { return p.lis.Addr().String() }

func (p *delayProxy) Close() {
	p.lis.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// TestCollectorSlow: the collector answers every request 2 s late. The
// goroutines making actions are never blocked (the default policy drops
// rather than waits, and the queue is far from full), and every span
// arrives.
func TestCollectorSlow(t *testing.T) {
	if testing.Short() {
		t.Skip("takes 10 s; skipped with -short")
	}
	restoreGlobals(t)
	crsteltest.CaptureErrors(t)
	c := collectortest.Start(t)
	proxy := newDelayProxy(t, c.Endpoint(), 2*time.Second)
	ctx := context.Background()
	tel, err := crstel.Setup(ctx, crstel.WithEndpoint("http://"+proxy.Addr()), crstel.WithoutJournal())
	if err != nil {
		t.Fatal(err)
	}
	actx := crstel.WithTask(ctx, task1)
	const n = 10_000
	var slowest time.Duration
	start := time.Now()
	for i := range n {
		_, span := crstel.Action(actx, crs.Fuzzing, "fuzz_iteration", nil)
		t0 := time.Now()
		span.End()
		slowest = max(slowest, time.Since(t0))
		if i%1000 == 0 {
			time.Sleep(500 * time.Millisecond) // a steady flow over ~5 s
		}
	}
	made := time.Since(start)
	sctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	if err := tel.Shutdown(sctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	got := waitAccepted(t, c, n)
	t.Logf("%d actions over %v with every export answered 2 s late: the slowest span.End took %v; %d arrived; %+v",
		n, made.Round(time.Millisecond), slowest, got, tel.Stats())
	if got != n {
		t.Errorf("collector received %d of %d spans", got, n)
	}
	// A span.End that waited for the collector would take its 2 s; a busy
	// shared machine can stall any call for a tenth of that.
	if slowest >= time.Second {
		t.Errorf("the slowest span.End took %v: the caller waited for the slow collector (2 s)", slowest)
	}
}
