// Package otlpjson decodes traces in the OTLP JSON encoding
// (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding): the
// output of the OpenTelemetry Collector's file exporter, one
// ExportTraceServiceRequest (or TracesData: the same JSON) a line, or one
// such document over many lines, pretty-printed.
//
// It decodes by hand, with encoding/json, so that neither "crstel lint"
// nor the tests that read the collector's spans file pull in the
// collector's pdata and its tree of dependencies. It takes what OTLP JSON
// producers write, beyond the letter of the specification: trace and span
// ids in hex, as the specification says, or in base64, as the protobuf
// JSON mapping writes bytes; 64-bit integers as JSON strings or numbers;
// enums (span kind, status code) as numbers or names; every AnyValue
// (string, bool, int, double, bytes, array, key-value list, empty).
//
// A [Reader] reads one JSON value (a line, or a document over several
// lines) at a time, at most [DefaultMaxValue] bytes unless told otherwise,
// and names the line of whatever it cannot decode.
package otlpjson
