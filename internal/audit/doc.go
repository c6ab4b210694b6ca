// Package audit writes and checks crstel's audit trail: one process's
// security-relevant events (submissions, refused credentials, a sandbox
// escape attempt a harness saw), one JSON object a line, in files that
// only grow.
//
// # Format
//
// A trail is a chain of files in one directory, named
//
//	audit-<start>-<pid>-<n>.jsonl
//
// where start is the writer's start time (UTC, 20060102T150405.000000000Z
// without the dots), pid the process's id and n the file's number in the
// chain, from 0000. A file is rotated when the next line would make it
// larger than the writer's bound. Each line is a [Record]: "seq" counts
// the records of the chain from 0, and "prev" holds the SHA-256, in hex,
// of the previous line's bytes (without its newline); the first line of a
// file holds that of the previous file's last line, and the chain's first
// line an empty "prev". Changing, removing, inserting or moving a line, or
// removing lines from a file's end when another file follows it, breaks a
// link, which [Chains] finds and names.
//
// A line is written with one write call, and the file synced by the
// writer's goroutine at least every [DefaultSyncEvery] and at Close. A
// process that dies leaves at most a cut last line, which Chains reports
// as truncation, not tampering. Removing whole lines from the end of the
// last file cannot be told from a process that died before writing them;
// a chain closed by [Writer.Close] ends with an "audit.closed" record.
package audit
