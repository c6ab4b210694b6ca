package crsteltest

import (
	"log"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
)

// ErrorLog records the errors that reach otel.Handle during a test, such as
// crstel's reports of invalid input and of spans it could not export. Make
// one with [CaptureErrors]. It is safe for concurrent use.
type ErrorLog struct {
	mu   sync.Mutex
	errs []error
	done bool // the test ended: Handle does what OpenTelemetry's default does
}

// CaptureErrors makes otel.Handle record errors in the returned log until
// tb ends, then puts the previous error handler back. The error handler is
// global: tests that call CaptureErrors must not run in parallel with tests
// that report errors.
func CaptureErrors(tb testing.TB) *ErrorLog {
	tb.Helper()
	l := &ErrorLog{}
	prev := otel.GetErrorHandler()
	otel.SetErrorHandler(l)
	tb.Cleanup(func() {
		// OpenTelemetry's default handler, once replaced, passes errors on
		// to the first replacement for good: l then logs them, as the
		// default handler did.
		l.mu.Lock()
		l.done = true
		l.mu.Unlock()
		otel.SetErrorHandler(prev)
	})
	return l
}

// Handle records err; after the test, it logs err with the log package, as
// OpenTelemetry's default handler does. It makes an ErrorLog an
// otel.ErrorHandler.
func (l *ErrorLog) Handle(err error) {
	l.mu.Lock()
	done := l.done
	if !done {
		l.errs = append(l.errs, err)
	}
	l.mu.Unlock()
	if done {
		log.Print(err)
	}
}

// Errors returns the errors recorded so far, oldest first.
func (l *ErrorLog) Errors() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

// Messages returns the messages of the errors recorded so far, oldest
// first.
func (l *ErrorLog) Messages() []string {
	errs := l.Errors()
	out := make([]string, len(errs))
	for i, err := range errs {
		out[i] = err.Error()
	}
	return out
}

// Count returns how many of the errors recorded so far have a message that
// contains substr.
func (l *ErrorLog) Count(substr string) int {
	n := 0
	for _, m := range l.Messages() {
		if strings.Contains(m, substr) {
			n++
		}
	}
	return n
}
