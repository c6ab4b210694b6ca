// Package crsteltest helps test code that uses crstel: [NewRecorder]
// makes a recording tracer provider with crstel's processors, which the
// actions started from its [Recorder.Context] use, so that tests with
// recorders of their own run in parallel; and [AssertConforms] checks
// recorded spans against every rule of the CRS Telemetry Specification
// v1.0.
//
//	func TestPatcher(t *testing.T) {
//		t.Parallel()
//		rec := crsteltest.NewRecorder(t)
//		runPatcher(rec.Context(t.Context())) // code under test, using crstel.Action
//		crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(task))
//	}
//
// [Check] returns the same findings as an error, for use outside tests, such
// as a conformance check in a component's own pipeline.
//
// Smaller helpers: [Attrs] gives a span's attributes by key, [ByName] the
// spans of a name, and [CaptureErrors] the errors crstel (or any
// OpenTelemetry component) reports through otel.Handle during a test.
package crsteltest
