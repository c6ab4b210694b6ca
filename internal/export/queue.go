package export

import (
	"sync"
	"sync/atomic"

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
	q.spans.Add(-n)
	q.bytes.Add(-bytes)
	if q.block || q.waiters.Load() > 0 {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	}
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
