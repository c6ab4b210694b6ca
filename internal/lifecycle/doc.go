// Package lifecycle makes span lifecycle records: OTLP log records that
// carry a span still open ("heartbeat") or just ended ("ended"), so that a
// collector sees the actions of a process that dies before it exports
// them. The format is that of OpenTelemetry Python contrib's partial-span
// processor (opentelemetry-processor-partial-span), so that one collector
// reads both:
//
//   - the attributes span.state ("heartbeat" or "ended") and
//     log.body.type ("json/v1");
//   - a string body, the span as an OTLP JSON TracesData: one resource,
//     one scope, one span, with its attributes so far, events, links and
//     status, and its end time once ended.
//
// The body follows the OTLP JSON encoding
// (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
// trace and span ids in lower-case hex, 64-bit integers as decimal strings,
// enums (span kind, status code) as numbers, bytes in base64. The Python
// processor writes ids as hex without leading zeros (Python's hex()) and
// enums by name; these records write ids in full (32 and 16 hex digits)
// and enums as numbers, as the specification says. Unlike the Python one,
// each record also carries the span's trace and span ids as its own.
//
// Which actions get records, and when, is the watchdog's decision (see
// package watchdog, Config.Lifecycle); this package encodes and emits.
package lifecycle
