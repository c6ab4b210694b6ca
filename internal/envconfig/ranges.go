package envconfig

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A Range is the valid values of an integer setting, from the environment
// or from one of crstel's options.
type Range struct {
	Min, Max int64
	// Unit is what is counted, for messages: "spans", "bytes",
	// "milliseconds".
	Unit string
	// NoLimit tells that -1 is valid too, and means no limit, as the SDK's
	// limits take it.
	NoLimit bool
}

// Ranges of the integer settings. Each bounds what the SDK allocates up
// front, or what makes sense, so that no value can crash Setup or make it
// silently useless.
var (
	// QueueSizeRange is that of the span queue (OTEL_BSP_MAX_QUEUE_SIZE,
	// WithQueueSize) and of the span batch (OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
	// WithBatchSize). The batch span processor allocates a channel of the
	// queue's size, and a batch's slice, up front: 4,194,304 spans make
	// 64 MiB each, 16 times the default queue.
	QueueSizeRange = Range{Min: 1, Max: 1 << 22, Unit: "spans"}
	// LogQueueSizeRange is that of OTEL_BLRP_MAX_QUEUE_SIZE and
	// OTEL_BLRP_MAX_EXPORT_BATCH_SIZE. The log SDK allocates a ring of
	// records of the queue's size, and a batch's, up front, about 600 bytes
	// a record: 262,144 records make 150 MiB, 4 times the default queue.
	LogQueueSizeRange = Range{Min: 1, Max: 1 << 18, Unit: "log records"}
	// QueueBytesRange is that of CRSTEL_QUEUE_BYTES and WithQueueBytes,
	// the estimated memory of the spans waiting for export: from 64 KiB,
	// about a hundred typical spans, to 64 GiB.
	QueueBytesRange = Range{Min: 64 << 10, Max: 64 << 30, Unit: "bytes"}
	// TimeoutRange is that of every timeout, delay and interval the SDK
	// reads in milliseconds: more than 0 (0 makes the SDK's timers fire
	// without end, or its exports fail at once), at most an hour (larger
	// values overflow into negative durations).
	TimeoutRange = Range{Min: 1, Max: int64(time.Hour / time.Millisecond), Unit: "milliseconds"}
	// AttributeCountRange is that of the span and log record attribute
	// count limits (OTEL_ATTRIBUTE_COUNT_LIMIT,
	// OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT,
	// OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT): at least the SDK's default of
	// 128, so that crstel's own attributes (the action's category and name
	// and up to 64 task metadata keys) are never dropped.
	AttributeCountRange = Range{Min: 128, Max: 1 << 16, Unit: "attributes", NoLimit: true}
	// CountRange is that of the event, link, and event and link attribute
	// count limits.
	CountRange = Range{Min: 0, Max: 1 << 16, NoLimit: true}
	// ValueLengthRange is that of the attribute value length limits: at
	// least 4096 bytes, so that task metadata values (up to
	// crs.MaxMetadataValueLen) are never cut, at most 64 MiB, the largest
	// export request.
	ValueLengthRange = Range{Min: 4096, Max: 64 << 20, Unit: "bytes", NoLimit: true}
	// CardinalityRange is that of OTEL_GO_X_CARDINALITY_LIMIT, the data
	// points of one metric per collection.
	CardinalityRange = Range{Min: 1, Max: 1_000_000, Unit: "data points", NoLimit: true}
	// PortRange is that of OTEL_EXPORTER_PROMETHEUS_PORT: 0 asks for a
	// free port.
	PortRange = Range{Min: 0, Max: 65535, Unit: "port"}
	// LifecycleMaxRange is that of CRSTEL_HEARTBEAT_MAX and
	// WithLifecycleMax, the most open actions with lifecycle heartbeats:
	// at most the largest log queue, so that one interval's heartbeats
	// can fit.
	LifecycleMaxRange = Range{Min: 1, Max: 1 << 18, Unit: "actions"}
)

// Want says what the range takes: "an integer from 1 to 4194304 (spans)".
func (r Range) Want() string {
	s := fmt.Sprintf("an integer from %d to %d", r.Min, r.Max)
	if r.Unit != "" {
		s += " (" + r.Unit + ")"
	}
	if r.NoLimit {
		s += ", or -1 for no limit"
	}
	return s
}

// Check returns an error saying what r takes if n is outside it.
func (r Range) Check(n int64) error {
	if n >= r.Min && n <= r.Max || r.NoLimit && n == -1 {
		return nil
	}
	return fmt.Errorf("want %s", r.Want())
}

// Parse parses v, a decimal integer as the SDK's strconv.Atoi takes it, and
// checks it.
func (r Range) Parse(v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("want %s", r.Want())
	}
	return n, r.Check(n)
}

// Duration returns n milliseconds.
func (r Range) Duration(n int64) time.Duration { return time.Duration(n) * time.Millisecond }

// A DurationRange is the valid values of a duration setting.
type DurationRange struct{ Min, Max time.Duration }

var (
	// BudgetRange is that of a watchdog budget (CRSTEL_OVERDUE,
	// WithBudgets), besides 0 for none: from 1 ms to 365 days.
	BudgetRange = DurationRange{Min: time.Millisecond, Max: 365 * 24 * time.Hour}
	// WatchdogIntervalRange is that of WithWatchdogInterval: from 1 ms to
	// an hour.
	WatchdogIntervalRange = DurationRange{Min: time.Millisecond, Max: time.Hour}
	// LifecycleIntervalRange is that of CRSTEL_HEARTBEAT and
	// WithLifecycleInterval: from 100 ms (records come on the watchdog's
	// check, 500 ms by default) to an hour.
	LifecycleIntervalRange = DurationRange{Min: 100 * time.Millisecond, Max: time.Hour}
)

// Want says what the range takes: "from 1ms to 1h".
func (r DurationRange) Want() string {
	return "from " + shortDuration(r.Min) + " to " + shortDuration(r.Max)
}

// Check returns an error saying what r takes if d is outside it.
func (r DurationRange) Check(d time.Duration) error {
	if d >= r.Min && d <= r.Max {
		return nil
	}
	return fmt.Errorf("want a duration %s", r.Want())
}

// shortDuration is d.String() without zero minutes and seconds: "1h", not
// "1h0m0s".
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
