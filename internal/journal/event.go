package journal

import (
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Kind is the kind of an [Event].
type Kind uint8

// Kinds of events.
const (
	// KindStart is the start of an action.
	KindStart Kind = iota + 1
	// KindEnd is the end of an action.
	KindEnd
	// KindOverdue reports an open action past its budget.
	KindOverdue
	// KindStalled reports an open action that missed its heartbeat.
	KindStalled
	// KindAbandoned reports an action still open at shutdown, which the
	// watchdog ended.
	KindAbandoned
)

// kindNames are the names of the kinds, as written in journals.
var kindNames = [...]string{
	KindStart:     "start",
	KindEnd:       "end",
	KindOverdue:   "overdue",
	KindStalled:   "stalled",
	KindAbandoned: "abandoned",
}

// String returns the name of k as written in journals: "start", "end",
// "overdue", "stalled" or "abandoned"; "Kind(n)" for others.
func (k Kind) String() string {
	if int(k) < len(kindNames) && kindNames[k] != "" {
		return kindNames[k]
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Kinds of the records that are not events.
const (
	// RecordHeader starts each journal segment: version, service, host, exe.
	RecordHeader = "header"
	// RecordClose ends a journal closed cleanly by [Writer.Close].
	RecordClose = "close"
	// RecordDropped counts events dropped because the writer's queue was
	// full, since the previous such record.
	RecordDropped = "dropped"
	// RecordCorrupt is not written: [Read] puts it where it skipped lines it
	// could not decode, with their number in Count and the first problem in
	// Error.
	RecordCorrupt = "corrupt"
)

// Version is the version of the journal format, written in each header.
const Version = 1

// Event is what a process hands the [Writer]: a plain value, cheap to send.
// Which fields matter depends on Kind; zero fields are not written.
type Event struct {
	Kind Kind
	// Time is when the event happened; zero means when it is written.
	Time time.Time
	// Span holds the trace and span id of the action.
	Span trace.SpanContext
	// Parent is the span id of the enclosing action; zero for a root.
	Parent   trace.SpanID
	Category string
	Name     string
	// Metadata is the task metadata. It is shared, never modified: the
	// writer reads it once, when it encodes the event, and keeps no
	// reference.
	Metadata []attribute.KeyValue
	// Budget is the action's budget (start and reports); 0 means none.
	Budget time.Duration
	// Deadline is the deadline of the action's context (start); zero if
	// none.
	Deadline time.Time
	// Heartbeat is the expected heartbeat interval (start); 0 means none.
	Heartbeat time.Duration
	// Elapsed is the time since the start (end and reports).
	Elapsed time.Duration
	// Status is "ok", "error" or "unset" (end).
	Status string
	// Error is the status description or panic (end), or why the action is
	// reported (reports).
	Error string
	// Cancelled tells that the action's context was cancelled or expired
	// (end).
	Cancelled bool
	// Stack holds goroutine stacks (reports), bounded by the caller.
	Stack string
}
