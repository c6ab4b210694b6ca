// Package console is a span exporter that prints spans for people: one
// header line per span (name, category, duration, status, kind, service),
// one with its ids, then one line per attribute, sorted by key, and the
// span's links and events with theirs.
//
//	span generate_patch (patch_generation) 1.2ms OK service=patcher
//	  trace=4bf92f3577b34da6a3ce929d0e0e4736 span=00f067aa0ba902b7 parent=a3ce929d0e0e4736
//	  crs.action.category = "patch_generation"
//	  crs.action.name = "generate_patch"
//	  task.id = "task-1"
//
// Strings are quoted, alone or in a slice; other values are printed as
// attribute.Value.String prints them, such as [true,false] for a bool slice.
// crstel.Setup prints spans this way when no OTLP endpoint is configured,
// with OTEL_TRACES_EXPORTER=console, and with crstel.WithConsole.
package console
