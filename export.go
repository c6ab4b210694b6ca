package crstel

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Stats counts what happened to the spans that ended since [Setup].
type Stats struct {
	// Ended is the number of sampled spans that ended.
	Ended int64
	// Exported is the number the exporter accepted.
	Exported int64
	// Failed is the number the exporter gave up on, after its retries (the
	// collector was unreachable for too long, or refused them).
	Failed int64
	// Dropped is the number dropped because the export queue was full, in
	// spans or in bytes (see [WithQueueSize] and [WithQueueBytes]). It
	// is exact once [Telemetry.ForceFlush] or [Telemetry.Shutdown] has
	// returned; before, spans still queued count here too.
	Dropped int64
}

// Lost is the number of spans that ended but did not reach the collector.
func (s Stats) Lost() int64 { return s.Failed + s.Dropped }

// accounting counts spans ended, exported and failed, and reports export
// failures without repeating the same one for every batch. Its
// countingProcessor wraps the batch span processor, and its countingExporter
// the exporter behind it.
type accounting struct {
	ended, exported, failed atomic.Int64
	queue                   *admission // the bound of the export queue; nil without an exporter

	endpoint string   // for messages, without credentials
	secrets  []string // header values, scrubbed from error messages

	mu          sync.Mutex
	lastCode    codes.Code
	lastReport  time.Time
	suppressed  int
	pause       time.Duration // the current pause after refused credentials
	pausedUntil time.Time
}

// reportEvery is how often a repeated export failure is reported again.
const reportEvery = time.Minute

type countingProcessor struct {
	sdktrace.SpanProcessor // the batch span processor
	acc                    *accounting
}

func (p countingProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if s.SpanContext().IsSampled() {
		p.acc.ended.Add(1)
		if !p.acc.queue.admit(spanBytes(s)) {
			return // dropped: counted as ended and never exported
		}
	}
	p.SpanProcessor.OnEnd(s)
}

type countingExporter struct {
	sdktrace.SpanExporter // the real exporter
	acc                   *accounting
}

// ExportSpans exports spans and counts the outcome. A failure is reported
// by the accounting, once, and not returned: the batch span processor would
// report every failed batch again. After the collector refused the
// credentials, batches are not sent for a while (see refusalPause), so
// that a component with wrong credentials does not hammer the collector.
func (e countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	defer e.acc.queue.release(spans)
	if e.acc.paused(time.Now()) {
		e.acc.failed.Add(int64(len(spans)))
		e.acc.mu.Lock()
		e.acc.suppressed++
		e.acc.mu.Unlock()
		return nil
	}
	if err := e.SpanExporter.ExportSpans(ctx, spans); err != nil {
		e.acc.failed.Add(int64(len(spans)))
		e.acc.reportFailure(len(spans), err)
		return nil
	}
	e.acc.exported.Add(int64(len(spans)))
	e.acc.mu.Lock()
	e.acc.lastCode, e.acc.pause, e.acc.pausedUntil = codes.OK, 0, time.Time{}
	e.acc.mu.Unlock()
	return nil
}

// Pauses after the collector refused the credentials: the first is
// refusalPause, each next one twice as long, up to maxRefusalPause.
const (
	refusalPause    = 5 * time.Second
	maxRefusalPause = 5 * time.Minute
)

// paused reports whether exports are paused at now.
func (a *accounting) paused(now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return now.Before(a.pausedUntil)
}

func (a *accounting) stats() Stats {
	st := Stats{Ended: a.ended.Load(), Exported: a.exported.Load(), Failed: a.failed.Load()}
	st.Dropped = max(0, st.Ended-st.Exported-st.Failed)
	return st
}

func (a *accounting) reportFailure(n int, err error) {
	code := status.Code(err)
	now := time.Now()
	a.mu.Lock()
	if code == a.lastCode && now.Sub(a.lastReport) < reportEvery {
		a.suppressed++
		a.mu.Unlock()
		a.refused(code, now)
		return
	}
	suppressed := a.suppressed
	a.lastCode, a.lastReport, a.suppressed = code, now, 0
	a.mu.Unlock()
	a.refused(code, now)

	var hint string
	switch code {
	case codes.Unauthenticated, codes.PermissionDenied:
		hint = "; the collector rejected the credentials: check OTEL_EXPORTER_OTLP_HEADERS or WithBasicAuth"
	case codes.Unavailable, codes.DeadlineExceeded:
		hint = "; the collector is unreachable: check OTEL_EXPORTER_OTLP_ENDPOINT and that it runs"
	}
	msg := fmt.Sprintf("crstel: exporting %d spans to %s failed: %s%s (%d spans lost so far",
		n, a.endpoint, a.scrub(err.Error()), hint, a.failed.Load())
	if suppressed > 0 {
		msg += fmt.Sprintf("; %d similar failures not reported", suppressed)
	}
	otel.Handle(fmt.Errorf("%s)", msg))
}

// refused pauses exports if code says the collector refused the
// credentials.
func (a *accounting) refused(code codes.Code, now time.Time) {
	if code != codes.Unauthenticated && code != codes.PermissionDenied {
		return
	}
	a.mu.Lock()
	a.pause = min(max(2*a.pause, refusalPause), maxRefusalPause)
	a.pausedUntil = now.Add(a.pause)
	a.mu.Unlock()
}

// scrub removes every secret from s.
func (a *accounting) scrub(s string) string {
	for _, secret := range a.secrets {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "[REDACTED]")
		}
	}
	return s
}
