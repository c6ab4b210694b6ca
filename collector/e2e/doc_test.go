// Package e2e tests crstelcol, the collector distribution, as a process:
// its default configuration, its components, and what it makes of spans
// from components in other languages and from Go, read back through its
// file exporter and its own Prometheus metrics. The tests build the binary
// (cached by the hash of its sources) and skip under -short, but for those
// of renderDashboard, which draws a dashboard's panels as a PNG from query
// results and needs neither the binary nor a network.
package e2e
