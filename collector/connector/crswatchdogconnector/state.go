package crswatchdogconnector

import (
	"encoding/hex"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
)

// actionID identifies an action: its span's trace id and span id.
type actionID [24]byte

func idOf(tid pcommon.TraceID, sid pcommon.SpanID) actionID {
	var id actionID
	copy(id[:16], tid[:])
	copy(id[16:], sid[:])
	return id
}

func (id actionID) traceID() pcommon.TraceID { return pcommon.TraceID(id[:16]) }
func (id actionID) spanID() pcommon.SpanID   { return pcommon.SpanID(id[16:]) }
func (id actionID) String() string           { return hex.EncodeToString(id[:]) }

// action is an open action the connector has heard of.
type action struct {
	id   actionID
	proc *process
	// prev and next link the actions tracked, least recently heard of
	// first, for eviction; pprev and pnext those of the process.
	prev, next   *action
	pprev, pnext *action
	// snap is the latest snapshot: the span with its resource and scope,
	// as OTLP protobuf TracesData.
	snap  []byte
	start int64 // the span's start, unix nanoseconds
	beat  int64 // the last heartbeat: the record's time, unix nanoseconds
	// heard is when the last heartbeat arrived, by the collector's clock.
	heard  time.Time
	budget time.Duration
	labels *labelSet
	// overdue tells that the action was found past its budget (reported
	// at the next check, once).
	overdue bool
}

// process is a process whose actions the connector tracks.
type process struct {
	key     string
	service string
	// seen is when the connector last received a heartbeat of any of its
	// actions, by the collector's clock.
	seen    time.Time
	head    *action
	actions int
}

// labelKey is the labels of the connector's metrics for an action.
type labelKey struct{ service, category string }

// labelSet counts the actions of a labelKey.
type labelSet struct {
	labelKey
	open, lost, overdue int64
}

// doneEntry is an action closed (ended, its real span seen, or reported
// lost) at a time, by the collector's clock.
type doneEntry struct {
	id actionID
	at time.Time
}

// list operations, under watchdog.mu.

func (w *watchdog) pushBack(a *action) {
	a.prev, a.next = w.tail, nil
	if w.tail != nil {
		w.tail.next = a
	} else {
		w.head = a
	}
	w.tail = a
}

func (w *watchdog) unlink(a *action) {
	if a.prev != nil {
		a.prev.next = a.next
	} else {
		w.head = a.next
	}
	if a.next != nil {
		a.next.prev = a.prev
	} else {
		w.tail = a.prev
	}
	a.prev, a.next = nil, nil
}

func (p *process) add(a *action) {
	a.proc = p
	a.pprev, a.pnext = nil, p.head
	if p.head != nil {
		p.head.pprev = a
	}
	p.head = a
	p.actions++
}

func (p *process) remove(a *action) {
	if a.pprev != nil {
		a.pprev.pnext = a.pnext
	} else {
		p.head = a.pnext
	}
	if a.pnext != nil {
		a.pnext.pprev = a.pprev
	}
	a.pprev, a.pnext = nil, nil
	p.actions--
}
