// Package crsteltest helps test code that uses crstel: [NewRecorder]
// installs a recording tracer provider with crstel's processors, and
// [AssertConforms] checks recorded spans against every rule of the CRS
// Telemetry Specification v1.0.
//
//	func TestPatcher(t *testing.T) {
//		rec := crsteltest.NewRecorder(t)
//		runPatcher(ctx) // code under test, using crstel.Action
//		crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(task))
//	}
//
// [Check] returns the same findings as an error, for use outside tests, such
// as a conformance check in a component's own pipeline.
package crsteltest
