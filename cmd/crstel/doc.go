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
// Journals are in the directory CRSTEL_TRACE_DIR names, else
// $XDG_STATE_HOME/crstel/traces, else ~/.local/state/crstel/traces. Each
// process writes one, named "<UTC start time>-<pid>-<service>.jsonl"; the
// directory keeps the last 10. A FILE argument is a path, or the name of a
// journal in that directory.
//
// "trace list" lists the journals, newest first, with the service, pid,
// start time, last write, size and state of each: live (the process runs),
// exited (closed cleanly), or crashed (no close record, and the process is
// gone: it crashed, was killed, or hung until it was killed). --json prints
// them as a JSON array.
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
// The exit code is 0 on success, whatever the anomalies, 2 for a usage
// error, and 1 for other errors.
package main
