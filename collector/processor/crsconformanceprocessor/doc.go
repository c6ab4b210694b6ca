//go:generate go tool mdatagen metadata.yaml

// Package crsconformanceprocessor is the crs_conformance processor of the
// OpenTelemetry Collector: it checks spans and log records against the CRS
// Telemetry Specification v1.0 with the rules of package
// [github.com/crstel/crstel/crs/conform], the rulebook that crstel's Go
// library and its tests apply too, and marks, repairs or drops those that
// break them, so that components in every language reach the backend
// conforming or visibly marked.
//
// With no configuration it marks every finding, as crstel's Go library
// marks its own invalid spans ([InvalidKey]), and repairs by inheritance: a
// span without the action's attributes (an OpenLIT LLM span, an
// auto-instrumented HTTP span) gets crs.action.category, crs.action.name
// and the task metadata of its nearest ancestor action in the batch,
// recorded under [InheritedKeysKey] and [InheritedFromKey]. Each rule can
// be set to observe, mark, repair or drop ([Mode]); see the README for the
// configuration, the repairs, and how to gather a trace into one batch
// with contrib's groupbytrace processor.
//
// Its metrics (documentation.md) count the items checked, the findings by
// rule, level, service and outcome, and the items repaired and dropped.
package crsconformanceprocessor
