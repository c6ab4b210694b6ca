// Package provider compares the OpenTelemetry providers that crstel caches
// by identity (the global TracerProvider, a MeterProvider, a
// LoggerProvider). A provider is a user's value: it may be of a type that
// == cannot compare, such as a struct holding a map, where a plain
// comparison panics.
package provider

// Same reports whether a and b are the same provider; false, never a panic,
// when they cannot be compared.
func Same(a, b any) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}
