package collectortest

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/crstel/crstel/internal/otlpjson"
	"github.com/crstel/crstel/internal/otlptest"
)

// Span is a span received by the collector, in the same form as the spans
// the in-process OTLP server of package otlptest receives, so that
// otlptest.ToReadOnly converts both for crsteltest.Check.
type Span = otlptest.Span

// Event is a span event received by the collector.
type Event = otlptest.Event

// Spans returns the spans the collector wrote to its spans file so far, in
// the order it wrote them, including the spans of the runs before restarts.
// The collector writes each batch to the file before it answers the
// exporter, unbuffered, so every span it acknowledged is there, even after
// [Collector.Kill]; a span sent again after a kill cut off the answer
// appears twice (see [Unique]). Use WaitForSpans to wait for spans in
// flight. Spans
// fails the test if the file cannot be read or decoded.
func (c *Collector) Spans(tb testing.TB) []Span {
	tb.Helper()

	c.mu.Lock()
	data, err := os.ReadFile(c.spansPath)
	data = slices.Concat(c.previous, completeLines(data))
	c.mu.Unlock()
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		tb.Fatalf("collectortest: %v", err)
	}
	spans, err := decodeSpans(data)
	if err != nil {
		tb.Fatalf("collectortest: %s: %v", c.spansPath, err)
	}
	return spans
}

// SpansPath returns the path of the file the collector writes the spans it
// receives to: OTLP JSON, one ExportTraceServiceRequest a line, as its file
// exporter writes them, the spans it acknowledged included (see Spans). A
// restart starts the file anew: it then holds the spans of the runs since.
func (c *Collector) SpansPath() string { return c.spansPath }

// WaitForSpans polls Spans until the collector wrote at least n spans or
// timeout passed, and returns the spans written then: fewer than n on
// timeout, more if more arrived.
func (c *Collector) WaitForSpans(tb testing.TB, n int, timeout time.Duration) []Span {
	tb.Helper()

	deadline := time.Now().Add(timeout)
	for {
		spans := c.Spans(tb)
		left := time.Until(deadline)
		if len(spans) >= n || left <= 0 {
			return spans
		}
		time.Sleep(min(pollInterval, left))
	}
}

// Unique returns spans without repeats: the first of the spans with the
// same trace and span id, in order. An exporter that sends a batch again
// after a lost answer makes the collector write its spans twice.
func Unique(spans []Span) []Span {
	type id struct{ trace, span string }
	seen := make(map[id]bool, len(spans))
	out := make([]Span, 0, len(spans))
	for _, s := range spans {
		k := id{s.TraceID, s.SpanID}
		if !seen[k] {
			seen[k] = true
			out = append(out, s)
		}
	}
	return out
}

// completeLines returns data up to its last newline: the exporter may be in
// the middle of writing the last line.
func completeLines(data []byte) []byte {
	return data[:bytes.LastIndexByte(data, '\n')+1]
}

// decodeSpans decodes OTLP-JSON lines, one TracesData message per line.
func decodeSpans(data []byte) ([]Span, error) {
	var spans []Span
	r := otlpjson.NewReader(bytes.NewReader(data))
	for {
		batch, err := r.Next()
		if err == io.EOF {
			return spans, nil
		}
		if err != nil {
			return nil, err
		}
		for _, s := range batch {
			spans = append(spans, span(s))
		}
	}
}

// span returns s as otlptest reads spans.
func span(s otlpjson.Span) Span {
	out := Span{
		Name:          s.Name,
		TraceID:       hex.EncodeToString(s.TraceID[:]),
		SpanID:        hex.EncodeToString(s.SpanID[:]),
		Kind:          s.Kind,
		StartTime:     s.StartTime,
		EndTime:       s.EndTime,
		Attributes:    attributes(s.Attributes),
		Resource:      attributes(s.Resource),
		Scope:         s.Scope,
		ScopeVersion:  s.ScopeVersion,
		StatusCode:    s.StatusCode,
		StatusMessage: s.StatusMessage,
	}
	if s.ParentSpanID != ([8]byte{}) {
		out.ParentSpanID = hex.EncodeToString(s.ParentSpanID[:])
	}
	for _, e := range s.Events {
		out.Events = append(out.Events, Event{Name: e.Name, Time: e.Time, Attributes: attributes(e.Attributes)})
	}
	for _, l := range s.Links {
		out.Links = append(out.Links, otlptest.Link{TraceID: hex.EncodeToString(l.TraceID[:]), SpanID: hex.EncodeToString(l.SpanID[:]),
			Attributes: attributes(l.Attributes)})
	}
	return out
}

// attributes returns kvs as a map, as otlptest holds attributes.
func attributes(kvs []otlpjson.KeyValue) map[string]any {
	m := make(map[string]any, len(kvs))
	for _, kv := range kvs {
		m[kv.Key] = kv.Value
	}
	return m
}
