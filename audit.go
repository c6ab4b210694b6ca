package crstel

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	otellog "go.opentelemetry.io/otel/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/internal/actionref"
	"github.com/crstel/crstel/internal/audit"
	"github.com/crstel/crstel/internal/redact"
)

// AuditEventName is the event name of the OTLP log records of the audit
// trail.
const AuditEventName = "crstel.audit"

// Keys of the attributes of the audit trail's OTLP log records, beside the
// action's category and name and the task metadata.
const (
	AuditEventKey  = attribute.Key("crstel.audit.event")
	AuditStatusKey = attribute.Key("crstel.audit.status")
)

// ErrNoAuditTrail is the error of [Audit] when no [Setup] pipeline records
// the event.
var ErrNoAuditTrail = errors.New("crstel: Audit: no audit trail: Setup was not called, or its Telemetry was shut down")

// Audit records a security-relevant event in the audit trail of [Setup]'s
// pipeline: a submission, a credential refused, a sandbox escape attempt a
// harness saw. event names it, such as "credential_refused"; attrs say
// more, and those whose key names a secret (see logs.IsSecret) are
// recorded as logs.Redacted. The record carries the time, the process
// (service, pid, host), the trace and span ids of ctx, and the category,
// name and task metadata of the action ctx is inside of.
//
// The record is appended to the trail's file (see [WithAuditDir]) before
// Audit returns, and synced within 200 ms, and at [Telemetry.Shutdown];
// each line holds the SHA-256 of the line before it, so that
// "crstel audit verify" finds a line that was changed, removed or
// inserted. When Setup's log records are exported, the record is sent as
// an OTLP log record too (event name [AuditEventName]), which waits for
// room in a full export queue rather than being dropped.
//
// Actions of category crs.ScoringSubmission are recorded at their end,
// with event "submission" and their status ("ok" or "error").
//
// Audit returns [ErrNoAuditTrail] without Setup, or the error that kept
// the record from the file (also sent to otel.Handle); an empty event is
// recorded as "unnamed" and reported.
func Audit(ctx context.Context, event string, attrs ...attribute.KeyValue) error {
	if ctx == nil {
		ctx = context.Background()
	}
	a := actionFrom(ctx)
	trail := lookupTrail(tracerFor(ctx, a, nil).provider)
	if trail == nil {
		return ErrNoAuditTrail
	}
	var bad error
	if event == "" {
		event, bad = "unnamed", errors.New("crstel: Audit: empty event name, recorded as \"unnamed\"")
		otel.Handle(bad)
	}
	e := auditEntry{ctx: ctx, event: event, span: trace.SpanContextFromContext(ctx), attrs: attrs}
	if a != nil {
		e.category, e.name, e.task = a.category, a.name, a.Metadata()
	} else {
		e.task = actionref.TaskAttributes(ctx)
	}
	return errors.Join(bad, trail.record(e))
}

// auditSubmission records the end of a, an action of category
// crs.ScoringSubmission, with its outcome.
func (a *actionCtx) auditSubmission() {
	trail := lookupTrail(a.tc.provider)
	if trail == nil {
		return
	}
	e := auditEntry{ctx: trace.ContextWithSpan(a.Context, a.Span), event: "submission", span: a.Span.SpanContext(),
		category: a.category, name: a.name, task: a.Metadata(), status: "ok"}
	if ro, ok := a.Span.(sdktrace.ReadOnlySpan); ok {
		st := ro.Status()
		if st.Code == codes.Error {
			e.status = "error"
		}
		e.statusMsg = st.Description
		for _, kv := range ro.Attributes() {
			if kv.Key != crs.ActionCategoryKey && kv.Key != crs.ActionNameKey && !hasKey(e.task, kv.Key) {
				e.attrs = append(e.attrs, kv)
			}
		}
	}
	trail.record(e)
}

func hasKey(kvs []attribute.KeyValue, k attribute.Key) bool {
	return slices.ContainsFunc(kvs, func(kv attribute.KeyValue) bool { return kv.Key == k })
}

// auditEntry is what one audit record is made of.
type auditEntry struct {
	ctx               context.Context
	event             string
	span              trace.SpanContext
	category, name    string
	task, attrs       []attribute.KeyValue
	status, statusMsg string
}

// auditTrails maps the tracer providers Setup made to their audit trails.
var auditTrails sync.Map // *sdktrace.TracerProvider → *auditTrail

func lookupTrail(tp trace.TracerProvider) *auditTrail {
	sdk, ok := tp.(*sdktrace.TracerProvider)
	if !ok {
		return nil
	}
	t, _ := auditTrails.Load(sdk)
	trail, _ := t.(*auditTrail)
	return trail
}

// auditTrail is the audit trail of one Setup: its file, opened at the
// first record, and its OTLP log records.
type auditTrail struct {
	dir           string // "" if the file is off
	service, host string
	pid           int
	logger        otellog.Logger // nil if log records are not exported
	maxBytes      int64          // 0: the default

	mu      sync.Mutex
	w       *audit.Writer
	openErr error
	closed  bool
	// failed counts the records that did not reach the file.
	failed atomic.Int64
}

func newAuditTrail(dir, service string, logger otellog.Logger) *auditTrail {
	host, _ := os.Hostname()
	return &auditTrail{dir: dir, service: service, host: host, pid: os.Getpid(), logger: logger}
}

// writer returns the trail's writer, opening it at the first call; nil if
// the file is off.
func (t *auditTrail) writer() (*audit.Writer, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil, audit.ErrClosed
	}
	if t.dir == "" || t.w != nil || t.openErr != nil {
		return t.w, t.openErr
	}
	t.w, t.openErr = audit.Open(t.dir, audit.Options{MaxBytes: t.maxBytes})
	return t.w, t.openErr
}

func (t *auditTrail) record(e auditEntry) error {
	now := time.Now()
	r := audit.Record{
		Time: now.UTC().Format(time.RFC3339Nano), Event: e.event,
		Service: t.service, PID: t.pid, Host: t.host,
		Category: e.category, Action: e.name, Status: e.status, StatusMessage: e.statusMsg,
	}
	if e.span.HasTraceID() {
		r.TraceID = e.span.TraceID().String()
	}
	if e.span.HasSpanID() {
		r.SpanID = e.span.SpanID().String()
	}
	if len(e.task) > 0 {
		r.Task = make(map[string]string, len(e.task))
		for _, kv := range e.task {
			r.Task[string(kv.Key)] = kv.Value.String()
		}
	}
	redacted := redactAttrs(e.attrs)
	if len(redacted) > 0 {
		r.Attrs = make(map[string]any, len(redacted))
		for _, kv := range redacted {
			r.Attrs[string(kv.Key)] = kv.Value.AsInterface()
		}
	}
	t.emit(e, r, redacted, now)
	w, err := t.writer()
	if err == nil && w != nil {
		err = w.Append(&r)
	}
	if err != nil {
		t.failed.Add(1)
		err = fmt.Errorf("crstel: audit record %q not written to the trail: %w", e.event, err)
		otel.Handle(err)
	}
	return err
}

// redactAttrs returns kvs with the values of secrets replaced, by the rule
// of logs.IsSecret and logs.RedactSecrets.
func redactAttrs(kvs []attribute.KeyValue) []attribute.KeyValue {
	var out []attribute.KeyValue
	for i, kv := range kvs {
		if !redact.IsSecret(string(kv.Key)) {
			if out != nil {
				out = append(out, kv)
			}
			continue
		}
		if out == nil {
			out = slices.Clone(kvs[:i])
		}
		out = append(out, kv.Key.String(redact.Redacted))
	}
	if out == nil {
		return kvs
	}
	return out
}

// emit sends r as an OTLP log record, if log records are exported.
func (t *auditTrail) emit(e auditEntry, r audit.Record, attrs []attribute.KeyValue, now time.Time) {
	if t.logger == nil {
		return
	}
	var lr otellog.Record
	lr.SetEventName(AuditEventName)
	lr.SetTimestamp(now)
	lr.SetSeverity(otellog.SeverityInfo)
	lr.SetBody(attribute.StringValue(e.event))
	lr.AddAttributes(AuditEventKey.String(e.event))
	if e.category != "" {
		lr.AddAttributes(crs.ActionCategory(crs.Category(e.category)), crs.ActionName(e.name))
	}
	if r.Status != "" {
		lr.AddAttributes(AuditStatusKey.String(r.Status))
	}
	lr.AddAttributes(e.task...)
	lr.AddAttributes(attrs...)
	ctx := e.ctx
	if e.span.IsValid() {
		ctx = trace.ContextWithSpanContext(context.WithoutCancel(ctx), e.span)
	}
	t.logger.Emit(ctx, lr)
}

// close syncs and closes the trail's file; records after it fail.
func (t *auditTrail) close() error {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.closed = true
	var err error
	if t.w != nil {
		err = t.w.Close(time.Now())
	}
	if n := t.failed.Load(); n > 0 {
		err = errors.Join(err, fmt.Errorf("crstel: %d audit records not written to the trail in %s", n, t.dir))
	}
	return err
}

// AuditPath returns the path of the audit trail's file being written, or
// "" if no record was written yet or the file is off.
func (t *Telemetry) AuditPath() string {
	if t.audit == nil {
		return ""
	}
	t.audit.mu.Lock()
	w := t.audit.w
	t.audit.mu.Unlock()
	if w == nil {
		return ""
	}
	return w.Path()
}
