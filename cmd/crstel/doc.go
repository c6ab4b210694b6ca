// Command crstel reads the trace journals that processes using crstel
// write, to find the CRS actions that never ended: the work a hung,
// crashed or killed process was doing; and it checks recordings of
// telemetry against the CRS Telemetry Specification v1.0.
//
// Usage:
//
//	crstel trace list [--json]
//	crstel trace read FILE
//	crstel trace anomalies [FILE] [--all] [--json] [--filter TEXT] [--stacks]
//	crstel trace costs [FILE...] [--by task|category|model] [--json]
//	crstel lint [--json] [--require KEYS] [--trace-metadata KEYS] FILE...
//	crstel audit verify [DIR|FILE] [--json]
//	crstel audit list [DIR|FILE] [--filter TEXT] [--json]
//
// # Trace journals
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
// "trace costs" adds up what the work cost: the journals named, with
// their rotated segments, or every journal of the directory (every
// process of a run). It sums the journals' cost records, one for each LLM
// call (its tokens, and its amount in its currency) and each subprocess
// (its CPU time, memory-seconds), and never the roll-ups of the actions'
// end records, which hold the same costs again: nothing is counted twice.
// A subprocess's CPU time and peak memory include those of the children it
// waited for: when one journal's process is the subprocess of a cost record
// in another (its actions continue that record's span, as
// crstel.ContextFromEnv makes them), its own subprocesses' CPU time and
// memory are left out, and a warning says how many CPU seconds.
// --by task (the default) groups them by the task.id of their action's
// task metadata, --by category by their action's category, --by model by
// the LLM model (subprocesses are one row). Amounts in different
// currencies are kept apart. --json prints the groups and the total as
// JSON.
//
// "trace anomalies" analyses a journal, the newest if FILE is not given,
// and prints its actions in seven buckets:
//
//	running    open, not reported by the watchdog
//	overdue    open, past their budget (crstel.WithOverdueAfter)
//	stalled    open, a heartbeat missed
//	over_budget  costs past their cost budget (crstel.WithCostBudget)
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
//
// # The audit trail: crstel audit
//
// Processes using crstel record security-relevant events (crstel.Audit,
// and every scoring_submission action) in an audit trail: JSON lines in
// the directory CRSTEL_AUDIT_DIR names, else audit beside the journals'
// default directory ($XDG_STATE_HOME/crstel/audit or
// ~/.local/state/crstel/audit). Each process writes a chain of files,
// "audit-<UTC start time>-<pid>-<n>.jsonl"; each line holds its seq and
// the SHA-256 of the line before it, the first line of a file that of the
// previous file's last line.
//
// "audit verify" checks every chain of DIR (the audit directory if not
// given), or the one FILE, and prints a line per chain: ok (with the
// number of records and files, and whether the chain was closed at
// shutdown), truncated (the last line is cut short: the process died
// while writing it; the records before it are intact), or TAMPERED with the
// file and line of the first break and its kind: changed, removed (the
// records missing before the line), inserted, reordered, or missing (a
// file of the chain). A FILE alone is checked from its first line, whose
// link to a previous file is not. --json prints the chains as one JSON
// object. The exit code is 0 when no chain was tampered with (a truncated
// one included), 1 when one was, 2 for a usage error or a trail that
// cannot be read.
//
// "audit list" prints the records of DIR or FILE, one a line: time, event,
// category/action, status, service and pid, trace and span ids, task
// metadata and attributes. --filter TEXT keeps the records whose line
// contains TEXT; --json prints them as a JSON array. A chain tampered with
// is warned of on stderr. Text from the files is escaped as for "trace
// anomalies".
//
// # Checking a recording: crstel lint
//
// "crstel lint" checks spans recorded as OTLP JSON with the rules of the
// specification (package crs/conform, which crsteltest.AssertConforms and
// the collector's crs_conformance processor apply too), for example what
// the OpenTelemetry Collector's file exporter wrote during a rehearsal:
//
//	exporters:
//	  file:
//	    path: ./spans.jsonl
//
//	crstel lint spans.jsonl
//
// Each FILE, or the standard input for "-", holds JSON Lines, one
// ExportTraceServiceRequest or TracesData a line, as the file exporter
// writes them, or such documents each over several lines, pretty-printed:
// the first value of a FILE decides which. Ids may be hex, as OTLP JSON
// says, or base64; 64-bit integers JSON strings or numbers; enums numbers
// or names; every attribute value type is read (an array of strings is a
// string slice, an empty array an empty one). A value is at most 64 MiB: a
// longer line is not read further. The spans of a trace are checked
// together, wherever they are in the input, since one rule compares them:
// task metadata (round.id, task.id, team.id) that some spans of a trace
// carry is missing from those that do not. A span read twice (the same
// trace and span id, as when the collector wrote a batch again after a
// retry) is checked once and counted as a duplicate.
//
// --require KEY[,KEY...] (repeatable) names task metadata every span must
// carry. --trace-metadata KEY[,KEY...] names the keys compared within a
// trace, round.id,task.id,team.id by default; "" or none compares none.
//
// The report has a part per service (service.name of the resource; the
// spans without a string one come last, as "spans without a service.name"):
// how many spans it has and how many violate the specification, then the
// findings by rule, in the order of conform.Rules (missing_service_name,
// missing_attribute, type_mismatch, unknown_category, invalid_name,
// invalid_value, misspelled_key, missing_metadata, marked_invalid), and
// within a rule by key: how many spans, the three most frequent examples
// (span name and message, with the value found; among the first 10,000
// distinct ones), "and N more", and the fix. A last line sums up. Names and values from the input are quoted,
// escaped and cut to 64 bytes (conform.Quote), and lines fit in 80
// columns.
//
// --json prints the same report as one JSON object:
//
//	{
//	  "files": ["spans.jsonl"],        // the FILEs, "-" for the standard input
//	  "require": [],                    // --require
//	  "trace_metadata": ["round.id", "task.id", "team.id"],
//	  "spans": 57,                      // spans checked, duplicates not counted
//	  "traces": 9,
//	  "duplicates": 0,
//	  "spans_with_violations": 3,
//	  "violations": 5,                  // findings of level violation
//	  "improvements": 0,                // findings of level improvement
//	  "services": [{
//	    "service": "patcher",           // service.name, whole; "" for spans without one (last)
//	    "spans": 45, "spans_with_violations": 3, "violations": 5, "improvements": 0,
//	    "rules": [{                     // in the order of conform.Rules
//	      "rule": "type_mismatch",
//	      "level": "violation",         // or "improvement"
//	      "findings": 1,
//	      "keys": [{                    // most spans first
//	        "key": "crs.action.effort.weight",  // whole, as in the input
//	        "spans": 1, "findings": 1,
//	        "examples": [{              // at most 3, most frequent first
//	          "span": "\"generate_patch\"",   // the span name, quoted and cut as in the text
//	          "value": "\"8\"",              // the value found, quoted and cut; "" if none
//	          "message": "crs.action.effort.weight is a string \"8\", want an int",
//	          "fix": "send it as an int, not a string: ...",
//	          "count": 1                // findings with this span name, message and fix
//	        }],
//	        "more": 0                   // findings not among the examples
//	      }]
//	    }]
//	  }]
//	}
//
// Rules are stable names (see conform.Rule); fields are added, never
// renamed or removed.
//
// lint exits with 0 when every span conforms (findings of level
// improvement alone do not fail), 1 when a span violates the
// specification or no span was found, and 2 for a usage error or a FILE
// that cannot be read or decoded, with one line naming the FILE and line:
//
//	crstel: spans.jsonl:3: the line ends inside a JSON string: it is cut off (JSON strings hold no raw line breaks)
package main
