package crswatchdogconnector

import (
	"encoding/binary"
	"hash/fnv"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Attribute keys of the reports, those of crstel's in-process watchdog.
// Durations are doubles in seconds.
const (
	// StateKey is the state reported: lost or overdue.
	StateKey = "crstel.watchdog.state"
	// ElapsedKey is how long the action had run at its last heartbeat,
	// in seconds.
	ElapsedKey = "crstel.watchdog.elapsed"
	// BudgetKey is the action's budget, in seconds; absent if it has none.
	// On an action's span it gives the action's own budget.
	BudgetKey = "crstel.watchdog.budget"
	// ReasonKey says why, in words.
	ReasonKey = "crstel.watchdog.reason"
	// ReportKey counts the reports of this state for the action, from 1.
	ReportKey = "crstel.watchdog.report"
	// ReportedSpanKey is the hex id of the span reported.
	ReportedSpanKey = "crstel.watchdog.span_id"
)

// The states reported.
const (
	// StateLost is the state of an action whose process went silent.
	StateLost = "lost"
	// StateOverdue is the state of an action that runs past its budget.
	StateOverdue = "overdue"
)

const budgetKey = BudgetKey

// scopeName is the instrumentation scope of the connector's metrics.
const scopeName = "github.com/crstel/crstel/collector/connector/crswatchdogconnector"

var (
	snapMarshaler   ptrace.ProtoMarshaler
	snapUnmarshaler ptrace.ProtoUnmarshaler
)

// snapshot encodes a span with its resource and scope.
func snapshot(res pcommon.Resource, scope pcommon.InstrumentationScope, span ptrace.Span) ([]byte, error) {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	res.CopyTo(rs.Resource())
	ss := rs.ScopeSpans().AppendEmpty()
	scope.CopyTo(ss.Scope())
	span.CopyTo(ss.Spans().AppendEmpty())
	return snapMarshaler.MarshalTraces(td)
}

// restore decodes a snapshot: the resource spans holding the span.
func restore(snap []byte) (ptrace.Traces, ptrace.ScopeSpans, ptrace.Span, error) {
	td, err := snapUnmarshaler.UnmarshalTraces(snap)
	if err != nil {
		return td, ptrace.ScopeSpans{}, ptrace.Span{}, err
	}
	ss := td.ResourceSpans().At(0).ScopeSpans().At(0)
	return td, ss, ss.Spans().At(0), nil
}

// elapsed is how long a ran until its last heartbeat.
// elapsedAt returns how long the action has run at now: up to its last
// heartbeat by its process's clock, and since that heartbeat arrived by
// the collector's.
func (a *action) elapsedAt(now time.Time) time.Duration {
	el := a.elapsed()
	if !a.heard.IsZero() && now.After(a.heard) {
		el += now.Sub(a.heard)
	}
	return el
}

func (a *action) elapsed() time.Duration {
	if a.start <= 0 || a.beat < a.start {
		return 0
	}
	return time.Duration(a.beat - a.start)
}

// appendLost appends to reports the span of a lost action, rebuilt from its
// last snapshot, and a report span, a child of it.
func appendLost(reports ptrace.Traces, a *action, silent, lostAfter time.Duration, now time.Time) error {
	td, ss, span, err := restore(a.snap)
	if err != nil {
		return err
	}
	el := a.elapsed()
	reason := "no heartbeat from its process for " + silent.Round(time.Millisecond).String() +
		" (lost_after " + lostAfter.String() + "); running " + el.Round(time.Millisecond).String() + " at its last heartbeat"
	if a.beat > int64(span.StartTimestamp()) {
		span.SetEndTimestamp(pcommon.Timestamp(a.beat))
	} else {
		span.SetEndTimestamp(span.StartTimestamp())
	}
	span.Status().SetCode(ptrace.StatusCodeError)
	span.Status().SetMessage(reason)
	span.Attributes().PutStr(StateKey, StateLost)
	span.Attributes().PutStr(ReasonKey, reason)
	span.Attributes().PutDouble(ElapsedKey, el.Seconds())
	appendReport(ss, span, a, StateLost, reason, el, now)
	td.ResourceSpans().MoveAndAppendTo(reports.ResourceSpans())
	return nil
}

// appendOverdue appends to reports a report span, a child of the overdue
// action a.
func appendOverdue(reports ptrace.Traces, a *action, now time.Time) error {
	td, ss, span, err := restore(a.snap)
	if err != nil {
		return err
	}
	el := a.elapsedAt(now)
	reason := "running " + el.Round(time.Millisecond).String() + ", past its budget of " + a.budget.String()
	if silent := now.Sub(a.heard); !a.heard.IsZero() && silent > time.Second {
		reason += "; its last heartbeat came " + silent.Round(time.Millisecond).String() + " ago"
	}
	appendReport(ss, span, a, StateOverdue, reason, el, now)
	ss.Spans().RemoveIf(func(s ptrace.Span) bool { return s.SpanID() == span.SpanID() })
	td.ResourceSpans().MoveAndAppendTo(reports.ResourceSpans())
	return nil
}

// appendReport appends to ss the report span of action a, whose span is
// span, in the style of the in-process watchdog's: a short child span of
// the action, with the action's category, name and task metadata. Its
// span id is derived from the action's ids and the state, so that a report
// made twice (by two collectors, or after a restart) is the same span.
func appendReport(ss ptrace.ScopeSpans, span ptrace.Span, a *action, state, reason string, elapsed time.Duration, now time.Time) {
	r := ss.Spans().AppendEmpty()
	r.SetTraceID(span.TraceID())
	r.SetSpanID(reportSpanID(a.id, state))
	r.SetParentSpanID(span.SpanID())
	r.SetName("crstel.watchdog " + state)
	r.SetKind(ptrace.SpanKindInternal)
	ts := pcommon.NewTimestampFromTime(now)
	r.SetStartTimestamp(ts)
	r.SetEndTimestamp(ts)
	r.Status().SetCode(ptrace.StatusCodeError)
	r.Status().SetMessage(reason)
	attrs := r.Attributes()
	for k, v := range span.Attributes().All() {
		if k == categoryKey || k == actionNameKey || isMetadata(k) {
			v.CopyTo(attrs.PutEmpty(k))
		}
	}
	attrs.PutStr(StateKey, state)
	attrs.PutDouble(ElapsedKey, elapsed.Seconds())
	attrs.PutStr(ReasonKey, reason)
	attrs.PutInt(ReportKey, 1)
	attrs.PutStr(ReportedSpanKey, span.SpanID().String())
	if a.budget > 0 {
		attrs.PutDouble(BudgetKey, a.budget.Seconds())
	}
}

// isMetadata tells whether an attribute of an action is task metadata:
// none of the specification's, crstel's or GenAI's own.
func isMetadata(k string) bool {
	for _, p := range []string{"crs.", "crstel.", "fuzz.", "gen_ai.", "code.", "http.", "url.", "server.", "error."} {
		if strings.HasPrefix(k, p) {
			return false
		}
	}
	return true
}

// reportSpanID derives the span id of a report from the action's ids and
// the state.
func reportSpanID(id actionID, state string) pcommon.SpanID {
	h := fnv.New64a()
	h.Write(id[:])
	h.Write([]byte(state))
	var sid pcommon.SpanID
	binary.BigEndian.PutUint64(sid[:], h.Sum64()|1) // never the invalid zero id
	return sid
}
