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
	// KindOverBudget reports an action whose costs crossed its cost
	// budget.
	KindOverBudget
	// KindCost is the cost of one operation inside an action: an LLM call
	// (Span is the call's) or a subprocess (Span is its action's).
	KindCost
)

// kindNames are the names of the kinds, as written in journals.
var kindNames = [...]string{
	KindStart:      "start",
	KindEnd:        "end",
	KindOverdue:    "overdue",
	KindStalled:    "stalled",
	KindAbandoned:  "abandoned",
	KindOverBudget: "over_budget",
	KindCost:       "cost",
}

// String returns the name of k as written in journals: "start", "end",
// "overdue", "stalled", "abandoned", "over_budget" or "cost"; "Kind(n)"
// for others.
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
	// Cost is the action's roll-up, the sum of the costs inside it (end),
	// or the cost of one operation (cost); nil if none.
	Cost *Cost
}

// Cost is what an action, or one operation inside it, used: the journal's
// form of crstel.Cost, written as the object "cost" of end and cost
// records with the keys of its JSON tags. Zero fields are not written.
type Cost struct {
	// Model is the model of an LLM call (cost records only).
	Model string `json:"model,omitempty"`
	// LLMAmount is the cost of the priced LLM calls in LLMCurrency; LLM
	// calls in another currency are counted in LLMOtherCurrencyCalls and
	// not added.
	LLMAmount             float64 `json:"llm_amount,omitempty"`
	LLMCurrency           string  `json:"llm_currency,omitempty"`
	LLMCalls              int64   `json:"llm_calls,omitempty"`
	LLMUnpricedCalls      int64   `json:"llm_unpriced_calls,omitempty"`
	LLMOtherCurrencyCalls int64   `json:"llm_other_currency_calls,omitempty"`
	InputTokens           int64   `json:"input_tokens,omitempty"`
	OutputTokens          int64   `json:"output_tokens,omitempty"`
	CacheReadTokens       int64   `json:"cache_read_tokens,omitempty"`
	CacheWriteTokens      int64   `json:"cache_write_tokens,omitempty"`
	// CPUSeconds is subprocesses' user and system CPU time.
	CPUSeconds float64 `json:"cpu_seconds,omitempty"`
	// MemoryByteSeconds is the sum over subprocesses of peak resident
	// memory (bytes) times wall time (seconds).
	MemoryByteSeconds int64 `json:"memory_byte_seconds,omitempty"`
	Subprocesses      int64 `json:"subprocesses,omitempty"`
}
