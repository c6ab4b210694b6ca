// Package redact holds the one rule that tells secrets by their key, which
// package logs applies to log records (logs.IsSecret, logs.RedactSecrets)
// and crstel to the attributes of its audit trail.
package redact
