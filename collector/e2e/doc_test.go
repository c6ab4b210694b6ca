// Package e2e tests crstelcol, the collector distribution, as a process:
// its default configuration, its components, and what it makes of spans
// from components in other languages and from Go, read back through its
// file exporter and its own Prometheus metrics. The tests build the binary
// (cached by the hash of its sources) and skip under -short.
package e2e
