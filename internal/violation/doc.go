// Package violation reports input that breaks the CRS specification: on the
// span, through [otel.Handle], or, in strict mode, as a panic.
//
// Every crstel package that validates user input reports through here, so
// that one switch (crstel.WithStrict or CRSTEL_STRICT=1) makes all of them
// fail loudly in tests, and names offending values with [Quote], so that
// every message shows them the same way, cut to a readable length.
package violation
