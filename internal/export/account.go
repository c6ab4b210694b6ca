// Package export is what crstel puts between the OpenTelemetry SDK's batch
// processors and their exporters, for spans and log records alike: a
// queue bounded in items and in estimated bytes, the account of every item
// handed to it (exported, failed, dropped from a full queue, unsent at
// shutdown), and one way to report export failures, without repeating them
// or showing credentials, and to pause after refused credentials.
package export

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

// Counts counts what happened to the items handed to an [Account]. Each
// item is counted once, where its fate is decided: once the account is
// sealed, Ended = Exported + Lost(); before, the rest are Queued.
type Counts struct {
	Ended, Exported, Failed, Dropped int64
	// Unsent is the number still queued, or being sent, when the account
	// was sealed.
	Unsent int64
	// Queued is the number waiting in the queue or being sent now; 0 once
	// sealed.
	Queued int64
}

// Lost is the number of items that ended but were not exported.
func (c Counts) Lost() int64 { return c.Failed + c.Dropped + c.Unsent }

// account counts one signal's items (spans, or log records) from the moment
// they are handed to crstel's pipeline (a span ends, a record is emitted)
// to their fate: exported, failed, dropped from a full queue, or still
// unsent when Shutdown gave up. It holds the queue's bound, and reports
// export failures without repeating the same one for every batch. Spans
// and log records each have one, behind the same policy.
type Account struct {
	what  string // "spans" or "log records", for messages
	queue *Queue // the bound of the export queue

	ended, exported, failed, dropped atomic.Int64
	// sealed is set when Shutdown returns: what is not exported or lost
	// by then is unsent, and stays so.
	sealed atomic.Bool

	endpoint string   // for messages, without credentials
	secrets  []string // header values, scrubbed from error messages

	mu          sync.Mutex
	lastCode    codes.Code
	lastReport  time.Time
	suppressed  int
	pause       time.Duration // the current pause after refused credentials
	pausedUntil time.Time
}

// NewAccount returns the account of the items (what: "spans" or "log
// records", for messages) sent to endpoint (for messages, without
// credentials) through queue. secrets are scrubbed from the error messages
// of the exporter.
func NewAccount(what, endpoint string, secrets []string, queue *Queue) *Account {
	return &Account{what: what, endpoint: endpoint, secrets: secrets, queue: queue}
}

// reportEvery is how often a repeated export failure is reported again.
const reportEvery = time.Minute

// Pauses after the collector refused the credentials: the first is
// refusalPause, each next one twice as long, up to maxRefusalPause.
const (
	refusalPause    = 5 * time.Second
	maxRefusalPause = 5 * time.Minute
)

// admit counts an item of n bytes handed to the pipeline, and reports
// whether it has room in the queue; if not, it is counted as dropped. After
// Shutdown it takes nothing, and counts nothing.
func (a *Account) Admit(n int64) bool {
	if a.sealed.Load() {
		return false
	}
	a.ended.Add(1)
	if a.queue.admit(n) {
		return true
	}
	a.dropped.Add(1)
	return false
}

// AdmitWait is Admit for an item that must not be dropped (an audit
// record): it waits for room in a full queue, whatever the queue's
// policy, and is dropped, and counted, only once the queue is closed.
func (a *Account) AdmitWait(n int64) bool {
	if a.sealed.Load() {
		return false
	}
	a.ended.Add(1)
	if a.queue.admitBlocking(n, true) {
		return true
	}
	a.dropped.Add(1)
	return false
}

// export runs one export of n items of bytes bytes in all, counts its
// outcome and frees their room in the queue. A failure is reported once
// (see reportFailure), not returned: the batch processors would report
// every failed batch again. After the collector refused the credentials,
// batches are not sent for a while, so that a component with wrong
// credentials does not hammer the collector. After Shutdown, nothing is
// sent or counted: what was not exported by then is unsent.
func (a *Account) Export(n int, bytes int64, send func() error) {
	defer a.queue.release(int64(n), bytes)
	switch {
	case a.sealed.Load():
		return
	case a.paused(time.Now()):
		a.count(n, &a.failed)
		a.mu.Lock()
		a.suppressed++
		a.mu.Unlock()
		return
	}
	if err := send(); err != nil {
		a.count(n, &a.failed)
		a.reportFailure(n, err)
		return
	}
	a.count(n, &a.exported)
	a.mu.Lock()
	a.lastCode, a.pause, a.pausedUntil = codes.OK, 0, time.Time{}
	a.mu.Unlock()
}

// count adds n to c, unless Shutdown has returned: an export that ends
// after it gave up on the export is counted as unsent.
func (a *Account) count(n int, c *atomic.Int64) {
	if !a.sealed.Load() {
		c.Add(int64(n))
	}
}

// seal marks the end of the pipeline, when Shutdown returns: the items not
// exported or lost by then are unsent, and exports that end later count
// nothing. It closes the queue, so that items waiting for room are
// dropped. It is safe on a nil account.
func (a *Account) Seal() {
	if a == nil {
		return
	}
	a.sealed.Store(true)
	a.queue.close()
}

// OldestAge estimates how long the oldest item of the queue has waited
// at now (see Queue.OldestAge); 0 if none waits, or after Shutdown.
func (a *Account) OldestAge(now time.Time) time.Duration {
	if a == nil || a.sealed.Load() {
		return 0
	}
	return a.queue.OldestAge(now)
}

func (a *Account) Counts() Counts {
	// The outcomes first, the items ended last: an item counted in an
	// outcome has ended, so the rest is never negative.
	st := Counts{Exported: a.exported.Load(), Failed: a.failed.Load(), Dropped: a.dropped.Load()}
	sealed := a.sealed.Load()
	st.Ended = a.ended.Load()
	rest := max(0, st.Ended-st.Exported-st.Failed-st.Dropped)
	if sealed {
		st.Unsent = rest
	} else {
		st.Queued = rest
	}
	return st
}

// lossError returns an error if items were lost so far, or nil.
func (a *Account) LossError() error {
	st := a.Counts()
	if st.Lost() == 0 {
		return nil
	}
	var why []string
	for _, r := range []struct {
		n    int64
		what string
	}{
		{st.Dropped, "dropped from a full queue"},
		{st.Failed, "failed to export"},
		{st.Unsent, "still unsent when Shutdown ended"},
	} {
		if r.n > 0 {
			why = append(why, fmt.Sprintf("%d %s", r.n, r.what))
		}
	}
	return fmt.Errorf("crstel: %d of %d %s were not exported to %s (%s)",
		st.Lost(), st.Ended, a.what, a.endpoint, strings.Join(why, ", "))
}

// paused reports whether exports are paused at now.
func (a *Account) paused(now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return now.Before(a.pausedUntil)
}

func (a *Account) reportFailure(n int, err error) {
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
	msg := fmt.Sprintf("crstel: exporting %d %s to %s failed: %s%s (%d %s lost so far",
		n, a.what, a.endpoint, a.scrub(err.Error()), hint, a.failed.Load(), a.what)
	if suppressed > 0 {
		msg += fmt.Sprintf("; %d similar failures not reported", suppressed)
	}
	otel.Handle(fmt.Errorf("%s)", msg))
}

// refused pauses exports if code says the collector refused the
// credentials.
func (a *Account) refused(code codes.Code, now time.Time) {
	if code != codes.Unauthenticated && code != codes.PermissionDenied {
		return
	}
	a.mu.Lock()
	a.pause = min(max(2*a.pause, refusalPause), maxRefusalPause)
	a.pausedUntil = now.Add(a.pause)
	a.mu.Unlock()
}

// scrub removes every secret from s.
func (a *Account) scrub(s string) string {
	for _, secret := range a.secrets {
		if len(secret) >= 4 {
			s = strings.ReplaceAll(s, secret, "[REDACTED]")
		}
	}
	return s
}

// NewSpanProcessor returns bsp, a batch span processor, behind acc: an
// ended span reaches it if acc admits it.
func NewSpanProcessor(bsp sdktrace.SpanProcessor, acc *Account) sdktrace.SpanProcessor {
	return countingProcessor{SpanProcessor: bsp, acc: acc}
}

// countingProcessor hands ended spans to the batch span processor behind
// it if the account admits them.
type countingProcessor struct {
	sdktrace.SpanProcessor // the batch span processor
	acc                    *Account
}

func (p countingProcessor) OnEnd(s sdktrace.ReadOnlySpan) {
	if s.SpanContext().IsSampled() && p.acc.Admit(spanBytes(s)) {
		p.SpanProcessor.OnEnd(s)
	}
}

// NewSpanExporter returns exp, counted by acc (see Account.Export).
func NewSpanExporter(exp sdktrace.SpanExporter, acc *Account) sdktrace.SpanExporter {
	return countingExporter{SpanExporter: exp, acc: acc}
}

// countingExporter exports spans through the account.
type countingExporter struct {
	sdktrace.SpanExporter // the real exporter
	acc                   *Account
}

// ExportSpans exports spans and counts the outcome; it never returns an
// error (see Account.Export).
func (e countingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	var bytes int64
	for _, s := range spans {
		bytes += spanBytes(s)
	}
	e.acc.Export(len(spans), bytes, func() error { return e.SpanExporter.ExportSpans(ctx, spans) })
	return nil
}

// shutdownWithin shuts a provider down with shutdown, and returns its
// error, or ctx's error if ctx ends first. Even then the shutdown goes on,
// with ctx's values but not its end: the SDK's providers would otherwise
// leave their goroutines running for good. Their exports then send nothing
// (see Account.Seal), so the goroutines end as soon as the exports under
// way return, within the exporters' timeouts.
func ShutdownWithin(ctx context.Context, shutdown func(context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- shutdown(context.WithoutCancel(ctx)) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
