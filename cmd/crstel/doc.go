// Command crstel reads the trace journals that processes using crstel
// write, to find the CRS actions that never ended: the work a hung,
// crashed or killed process was doing.
//
// Usage:
//
//	crstel trace list [--json]
//	crstel trace read FILE
//	crstel trace anomalies [FILE] [--all] [--json] [--filter TEXT] [--stacks]
//
// Journals are in the directory CRSTEL_TRACE_DIR names (relative to the
// current directory if it is relative), else $XDG_STATE_HOME/crstel/traces,
// else ~/.local/state/crstel/traces. Each process writes one, named
// "<UTC start time>-<pid>-<service>.jsonl"; the directory keeps the last 10.
// CRSTEL_TRACE_DIR=off turns the journal off: then "trace list" and "trace
// anomalies" without FILE say so, and where the journals would be, instead
// of reading a directory named off. A FILE argument is a path, or the name
// of a journal in that directory.
//
// Only regular files are read. A FILE that is a directory, a named pipe
// (FIFO), a socket or a device, or a symbolic link to one, is refused at
// once, without being opened; "trace list" and "trace anomalies" skip such
// files in the directory, and list a journal they cannot read as
// unreadable. A journal is read as it is when opened, a few KiB of each
// for "trace list", and lines longer than 1 MiB, corrupt lines and a torn
// last line are skipped and counted.
//
// "trace list" lists the journals, newest first, with the service, pid,
// start time, last write, size and state of each: live (the process runs),
// exited (closed cleanly), crashed (no close record, and the process is
// gone: it crashed, was killed, or hung until it was killed), or unreadable
// (such as another user's journal), with why. --json prints them as a JSON
// array.
//
// "trace read" prints the records of a journal as one JSON array, one
// record a line.
//
// "trace anomalies" analyses a journal, the newest if FILE is not given,
// and prints its actions in six buckets:
//
//	running    open, not reported by the watchdog
//	overdue    open, past their budget (crstel.WithOverdueAfter)
//	stalled    open, a heartbeat missed
//	abandoned  still open at shutdown, ended by crstel
//	cancelled  ended with their context cancelled or expired
//	errors     ended with an error
//
// Open actions come longest first, each with the deepest open action under
// it, which is usually where the process hangs; ended ones come most recent
// first, the last 10 unless --all is given. Durations of open actions run
// to now for a live process, and to the journal's last record for a dead
// one. --filter TEXT keeps the actions whose name, category, span id or a
// task metadata value contains TEXT. --stacks prints the goroutine stacks
// of the watchdog's reports. --json prints every bucket, in full, as JSON.
//
// Text from a journal is outside input: control characters (ANSI escape
// sequences among them), bidirectional and zero-width characters and
// invalid UTF-8 are printed escaped, as \x1b or \u202e, never raw, and
// lines fit in 80 columns, wide characters counted twice. The ids of the
// task metadata (round.id, task.id, team.id, any *.id) are printed whole,
// first, on as many lines as they need; other values are cut. --stacks
// prints stack lines whole.
//
// Durations are never negative, and the longest print as 106751d. In JSON,
// times are RFC 3339; one outside the years 0 to 9999, which RFC 3339
// cannot represent (a deadline far off, a skewed clock, a corrupt journal),
// is clamped to 0000-01-01T00:00:00Z or 9999-12-31T23:59:59.999999999Z.
//
// The exit code is 0 on success, whatever the anomalies; 2 for a usage
// error, or for input that cannot be read: a FILE that does not exist, is
// not a regular file or is not readable, a journal directory that is not a
// directory or cannot be read, or CRSTEL_TRACE_DIR=off where the directory
// is needed; and 1 for other errors, such as no journal to analyse.
package main
