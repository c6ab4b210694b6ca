package crstel_test

import (
	"log"
	"strings"
	"sync"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// errorLog collects what reaches otel.Handle during a test.
type errorLog struct {
	mu   sync.Mutex
	errs []error
}

func (l *errorLog) Handle(err error) {
	l.mu.Lock()
	l.errs = append(l.errs, err)
	l.mu.Unlock()
}

func (l *errorLog) all() []error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]error(nil), l.errs...)
}

func (l *errorLog) messages() []string {
	var out []string
	for _, err := range l.all() {
		out = append(out, err.Error())
	}
	return out
}

func (l *errorLog) containing(s string) int {
	n := 0
	for _, err := range l.all() {
		if strings.Contains(err.Error(), s) {
			n++
		}
	}
	return n
}

// captureErrors routes otel.Handle to a log for the duration of the test.
func captureErrors(t *testing.T) *errorLog {
	t.Helper()
	l := &errorLog{}
	otel.SetErrorHandler(l)
	// The SDK's default handler cannot be put back once replaced; this one
	// does what it does.
	t.Cleanup(func() { otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Print(err) })) })
	return l
}

// attrs returns a span's attributes by key.
func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := make(map[attribute.Key]attribute.Value)
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

// byName returns the ended spans named name.
func byName(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// one returns the only ended span named name, failing the test otherwise.
func one(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	got := byName(spans, name)
	if len(got) != 1 {
		t.Fatalf("got %d spans named %q, want 1", len(got), name)
	}
	return got[0]
}

// wantAttr fails the test unless s has key with value want.
func wantAttr(t *testing.T, s sdktrace.ReadOnlySpan, key attribute.Key, want attribute.Value) {
	t.Helper()
	got, ok := attrs(s)[key]
	if !ok {
		t.Errorf("span %q: attribute %s missing, want %s", s.Name(), key, want.String())
		return
	}
	if got != want {
		t.Errorf("span %q: %s = %s (%s), want %s (%s)", s.Name(), key, got.String(), got.Type(), want.String(), want.Type())
	}
}
