package crstel

import "github.com/crstel/crstel/internal/export"

// Stats counts what happened to the spans that ended since [Setup]. Each
// span is counted once, where its fate is decided, so that once
// [Telemetry.Shutdown] has returned, Ended = Exported + Lost(); before, the
// rest are Queued. The counts only grow.
type Stats struct {
	// Ended is the number of sampled spans that ended.
	Ended int64
	// Exported is the number the exporter accepted.
	Exported int64
	// Failed is the number the exporter gave up on, after its retries (the
	// collector was unreachable for too long, or refused them).
	Failed int64
	// Dropped is the number dropped because the export queue was full, in
	// spans or in bytes (see [WithQueueSize] and [WithQueueBytes]).
	Dropped int64
	// Unsent is the number still queued, or being sent, when
	// [Telemetry.Shutdown] returned because its context ended first.
	Unsent int64
	// Queued is the number waiting in the export queue or being sent now;
	// 0 after Shutdown.
	Queued int64
}

// Lost is the number of spans that ended but did not reach the collector.
func (s Stats) Lost() int64 { return s.Failed + s.Dropped + s.Unsent }

// statsOf returns the counts of an account as Stats.
func statsOf(c export.Counts) Stats {
	return Stats{Ended: c.Ended, Exported: c.Exported, Failed: c.Failed, Dropped: c.Dropped, Unsent: c.Unsent, Queued: c.Queued}
}
