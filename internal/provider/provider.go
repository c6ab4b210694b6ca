// Package provider compares the OpenTelemetry providers that crstel caches
// by identity (the global TracerProvider, a MeterProvider, a
// LoggerProvider). A provider is a user's value: it may be of a type that
// == cannot compare, such as a struct holding a map, where a plain
// comparison panics.
package provider

import "reflect"

// Same reports whether a and b are the same provider; false, never a panic,
// when they cannot be compared.
func Same(a, b any) bool {
	if t := reflect.TypeOf(a); t != nil && t.Kind() == reflect.Pointer {
		// A pointer compares without panicking, and providers usually
		// are pointers: this path is inlined, without the deferred
		// recover of sameOrPanic (BenchmarkSame: 3.3 ns against 12 ns;
		// Action compares the global provider on each call).
		return a == b
	}
	return sameOrPanic(a, b)
}

// sameOrPanic reports whether a == b, false if == panics.
func sameOrPanic(a, b any) (same bool) {
	defer func() {
		if recover() != nil {
			same = false
		}
	}()
	return a == b
}
