package export

import (
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Queue bounds what waits for export, in items (spans or log records)
// and in estimated bytes,
// counting from the moment a span ends until the export of its batch
// returns (with success or not). Spans beyond either bound are dropped, or
// with [QueueBlock] wait for room. The batch span processor behind it has
// the same span bound, so that it never drops a span itself: every drop is
// decided, and counted, here.
type Queue struct {
	maxSpans, maxBytes int64
	block              bool

	spans, bytes atomic.Int64

	// The ages: items are admitted, and released, in order (the batch
	// processors export first in, first out). admitted and released count
	// them since the start; the admission time of every stride-th item
	// admitted is kept in the ring, at its number / stride, with that
	// number as its tag, so that a reader can tell a slot being written.
	admitted, released atomic.Int64
	stride             int64
	ring               [ageSlots]struct{ tag, nanos atomic.Int64 }

	// With block, End waits on cond for an export to free room.
	mu     sync.Mutex
	cond   sync.Cond
	closed bool
	// waiters counts the items waiting for room in a queue that drops
	// (see Account.AdmitWait).
	waiters atomic.Int64
}

func NewQueue(maxSpans int, maxBytes int64, block bool) *Queue {
	q := &Queue{maxSpans: int64(maxSpans), maxBytes: maxBytes, block: block}
	q.stride = max(1, (q.maxSpans+ageSlots-1)/ageSlots)
	for i := range q.ring {
		q.ring[i].tag.Store(-1)
	}
	q.cond.L = &q.mu
	return q
}

// admit takes room for a span of n bytes, and reports false if the span
// must be dropped. An empty queue takes a span of any size.
func (q *Queue) admit(n int64) bool { return q.admitBlocking(n, q.block) }

// admitBlocking is admit, waiting for room if block, whatever the queue's
// policy.
func (q *Queue) admitBlocking(n int64, block bool) bool {
	for {
		s, b := q.spans.Add(1), q.bytes.Add(n)
		if s == 1 || s <= q.maxSpans && b <= q.maxBytes {
			if n := q.admitted.Add(1) - 1; n%q.stride == 0 {
				slot := &q.ring[(n/q.stride)%ageSlots]
				slot.tag.Store(-1) // being written
				slot.nanos.Store(time.Now().UnixNano())
				slot.tag.Store(n)
			}
			return true
		}
		q.spans.Add(-1)
		q.bytes.Add(-n)
		if !block || !q.wait(n) {
			return false
		}
	}
}

// wait waits until a span of n bytes would fit, and reports false if the
// queue was closed meanwhile.
func (q *Queue) wait(n int64) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	// Counted before the check, so that a release after it sees a waiter.
	q.waiters.Add(1)
	defer q.waiters.Add(-1)
	for !q.closed {
		s := q.spans.Load()
		if s == 0 || s < q.maxSpans && q.bytes.Load()+n <= q.maxBytes {
			return true
		}
		q.cond.Wait()
	}
	return false
}

// release frees the room of an exported (or failed) batch of n items of
// bytes bytes in all.
func (q *Queue) release(n, bytes int64) {
	q.released.Add(n)
	q.spans.Add(-n)
	q.bytes.Add(-bytes)
	if q.block || q.waiters.Load() > 0 {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	}
}

// ageSlots is the number of admission times a queue keeps: 32 KiB.
const ageSlots = 2048

// OldestAge estimates the age of the oldest item in the queue at now: 0
// if the queue is empty. It reads the admission time kept for the first
// item admitted at or after the oldest one (at most stride items later),
// so it may be short by the time those items took to come.
func (q *Queue) OldestAge(now time.Time) time.Duration {
	if q == nil {
		return 0
	}
	released := q.released.Load()
	first := (released + q.stride - 1) / q.stride * q.stride // the first kept at or after it
	if first >= q.admitted.Load() {
		return 0
	}
	slot := &q.ring[(first/q.stride)%ageSlots]
	if slot.tag.Load() != first {
		return 0 // being written: just admitted
	}
	nanos := slot.nanos.Load()
	if slot.tag.Load() != first {
		return 0
	}
	return max(0, now.Sub(time.Unix(0, nanos)))
}

// close makes spans waiting for room, and later ones, be dropped: after
// Shutdown nothing frees room any more. It does nothing on a nil admission.
func (q *Queue) close() {
	if q == nil {
		return
	}
	q.mu.Lock()
	q.closed = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// Estimated sizes, in bytes, of what an ended span holds: the span itself
// with its fixed fields, and the overhead of each attribute, event and
// link beside its strings.
const (
	spanOverhead      = 512
	attributeOverhead = 48
	eventOverhead     = 64
	linkOverhead      = 96
)

// spanBytes estimates the memory an ended span holds while it waits for
// export: a fixed overhead plus its name, status, attributes, events and
// links. The same span always gives the same number.
func spanBytes(s sdktrace.ReadOnlySpan) int64 {
	n := spanOverhead + len(s.Name()) + len(s.Status().Description) + attributesBytes(s.Attributes())
	for _, e := range s.Events() {
		n += eventOverhead + len(e.Name) + attributesBytes(e.Attributes)
	}
	for _, l := range s.Links() {
		n += linkOverhead + attributesBytes(l.Attributes)
	}
	return int64(n)
}

// attributesBytes estimates the size of kvs. Strings and scalars cost no
// allocation; the OpenTelemetry attribute package copies slices out, so
// slice values (rare on actions) cost one.
func attributesBytes(kvs []attribute.KeyValue) int {
	n := 0
	for _, kv := range kvs {
		n += attributeOverhead + len(kv.Key) + valueBytes(kv.Value)
	}
	return n
}

func valueBytes(v attribute.Value) int {
	switch v.Type() {
	case attribute.BOOL, attribute.INT64, attribute.FLOAT64, attribute.EMPTY:
		return 0
	case attribute.STRING:
		return len(v.AsString())
	case attribute.STRINGSLICE:
		n := 0
		for _, s := range v.AsStringSlice() {
			n += 16 + len(s)
		}
		return n
	case attribute.BOOLSLICE:
		return len(v.AsBoolSlice())
	case attribute.INT64SLICE:
		return 8 * len(v.AsInt64Slice())
	case attribute.FLOAT64SLICE:
		return 8 * len(v.AsFloat64Slice())
	case attribute.BYTESLICE:
		return len(v.AsByteSlice())
	case attribute.SLICE:
		n := 0
		for _, e := range v.AsSlice() {
			n += attributeOverhead + valueBytes(e)
		}
		return n
	case attribute.MAP:
		return attributesBytes(v.AsMap())
	}
	return len(v.String())
}
