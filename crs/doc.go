// Package crs is the CRS Telemetry Specification v1.0 written as Go.
//
// It holds the nine action categories ([Category]), an [attribute.Key] and a
// typed constructor for every attribute in the specification's tables, the
// task metadata type ([Metadata]) and the validation rules for action names
// and metadata. Every function here is pure: it imports only the
// OpenTelemetry attribute package, never the SDK, so any component can use
// it to describe spans without taking a dependency on how they are exported.
//
// Constructors keep the specification's types: [EffortWeight] and
// [FuzzCorpusSize] make ints, [FuzzCorpusAdditions] a string slice,
// [FuzzCorpusUpdateTime] an RFC 3339 string. The canonical key for the code
// file is crs.action.code.file; the specification's one example that spells
// it crs.action.code.files is a typo.
//
// Validation errors wrap the sentinel errors ([ErrUnknownCategory],
// [ErrInvalidName], [ErrInvalidMetadata], [ErrInvalidAttribute]) with the
// offending value, so callers can test them with [errors.Is] and users can
// read what was wrong.
package crs
