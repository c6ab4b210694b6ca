// Package journal writes, reads and analyses crstel's trace journals: one
// JSON-lines file per process recording when each CRS action started and
// ended, and the watchdog's reports on actions that are overdue, stalled,
// abandoned or over their cost budget. OpenTelemetry exports a span only when it ends, so a hung action
// is invisible to the collector; the journal makes it visible afterwards,
// even when the process was killed with SIGKILL, because the writer flushes
// at least every 200 ms.
//
// A process opens one [Writer] and hands it [Event] values; the writer
// encodes them on a goroutine of its own and never blocks the caller. A
// journal looks like this (one record a line, wrapped here):
//
//	{"kind":"header","version":1,"time":"2025-03-01T12:00:00.000000001Z","pid":4242,
//	 "service":"patcher","host":"builder-1","exe":"patcher"}
//	{"kind":"start","time":"2025-03-01T12:00:01Z","pid":4242,
//	 "trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7",
//	 "category":"patch_generation","name":"generate_patch",
//	 "metadata":{"task.id":"task-1"},"budget_ms":300000}
//	{"kind":"end","time":"2025-03-01T12:00:04.5Z","pid":4242,
//	 "trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7",
//	 "category":"patch_generation","name":"generate_patch",
//	 "metadata":{"task.id":"task-1"},"status":"ok","duration_ms":3500}
//	{"kind":"close","time":"2025-03-01T12:00:05Z","pid":4242}
//
// The costs go in too: a "cost" record for each LLM call (its model,
// tokens and amount) and each subprocess (CPU seconds, memory byte-seconds),
// and, on the end record of an action, its roll-up, the sum of the costs
// inside it ([Cost]):
//
//	{"kind":"cost","time":"2025-03-01T12:00:03Z","pid":4242,
//	 "trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"53995c3f42cd8ad8",
//	 "parent_id":"00f067aa0ba902b7","category":"patch_generation","name":"generate_patch",
//	 "metadata":{"task.id":"task-1"},"cost":{"model":"gpt-4o","llm_amount":0.0105,
//	 "llm_currency":"USD","llm_calls":1,"input_tokens":1200,"output_tokens":750}}
//
// A report of the cost is the sum of the cost records ("crstel trace
// costs"), never of the roll-ups as well, which hold the same costs again.
//
// Journals are named "<UTC start time>-<pid>-<service>.jsonl" and live in
// one directory ([DefaultDir], or CRSTEL_TRACE_DIR as the caller applies
// it), which keeps the last 10. A journal larger than its size cap is
// rotated to "<name>.1", and the new segment starts with the actions still
// open, so that each segment can be analysed alone.
//
// [Read] reads a journal back, tolerating the torn last line a crash
// leaves, [List] lists the journals of a directory with the state of their
// processes, and [Analyze] sorts the actions into the buckets that
// "crstel trace anomalies" prints: running, overdue, stalled, abandoned,
// cancelled and errors, with the deepest open action under each open one.
//
// A journal is outside input, and the reader is hardened against it: it
// opens only regular files, never a FIFO, socket or device put in a
// journal's place ([ErrNotRegular]); memory stays bounded whatever the
// length of a line; [Stat] and [List] read a few KiB of each file; times
// outside the years 0 to 9999, which RFC 3339 cannot represent, are written
// and read as the nearest ones it can ([ClampTime]); durations saturate
// instead of overflowing.
package journal
