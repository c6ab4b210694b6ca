package console

import (
	"bufio"
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Exporter writes spans to a writer in a human-readable form. It is safe
// for concurrent use.
type Exporter struct {
	mu       sync.Mutex
	w        io.Writer
	shutdown bool
}

// New returns an Exporter writing to w.
func New(w io.Writer) *Exporter { return &Exporter{w: w} }

var errShutdown = errors.New("console exporter: already shut down")

// ExportSpans prints spans.
func (e *Exporter) ExportSpans(_ context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.shutdown {
		return errShutdown
	}
	bw := bufio.NewWriter(e.w)
	for _, s := range spans {
		Write(bw, s)
	}
	return bw.Flush()
}

// Shutdown stops the exporter; later exports fail.
func (e *Exporter) Shutdown(context.Context) error {
	e.mu.Lock()
	e.shutdown = true
	e.mu.Unlock()
	return nil
}

// Write prints one span to w, as the package documentation shows.
func Write(w io.Writer, s sdktrace.ReadOnlySpan) {
	var b strings.Builder
	b.WriteString("span ")
	b.WriteString(s.Name())
	for _, kv := range s.Attributes() {
		if kv.Key == "crs.action.category" {
			b.WriteString(" (" + kv.Value.String() + ")")
			break
		}
	}
	b.WriteString(" " + duration(s.EndTime().Sub(s.StartTime())))
	switch st := s.Status(); st.Code {
	case codes.Error:
		b.WriteString(" ERROR " + strconv.Quote(st.Description))
	case codes.Ok:
		b.WriteString(" OK")
	default:
		b.WriteString(" UNSET")
	}
	if s.SpanKind() != 0 && s.SpanKind().String() != "internal" {
		b.WriteString(" kind=" + s.SpanKind().String())
	}
	if res := s.Resource(); res != nil {
		if v, ok := res.Set().Value("service.name"); ok {
			b.WriteString(" service=" + v.String())
		}
	}
	b.WriteString("\n  trace=" + s.SpanContext().TraceID().String() + " span=" + s.SpanContext().SpanID().String())
	if p := s.Parent(); p.IsValid() {
		b.WriteString(" parent=" + p.SpanID().String())
	}
	b.WriteByte('\n')
	writeAttrs(&b, "  ", s.Attributes())
	for _, l := range s.Links() {
		b.WriteString("  link trace=" + l.SpanContext.TraceID().String() + " span=" + l.SpanContext.SpanID().String() + "\n")
		writeAttrs(&b, "    ", l.Attributes)
	}
	for _, ev := range s.Events() {
		b.WriteString("  event " + ev.Name + " at +" + duration(ev.Time.Sub(s.StartTime())) + "\n")
		writeAttrs(&b, "    ", ev.Attributes)
	}
	if n := s.DroppedAttributes(); n > 0 {
		b.WriteString("  (" + strconv.Itoa(n) + " attributes dropped by the span limits)\n")
	}
	io.WriteString(w, b.String())
}

func writeAttrs(b *strings.Builder, indent string, attrs []attribute.KeyValue) {
	sorted := slices.Clone(attrs)
	slices.SortStableFunc(sorted, func(x, y attribute.KeyValue) int { return strings.Compare(string(x.Key), string(y.Key)) })
	for _, kv := range sorted {
		b.WriteString(indent + string(kv.Key) + " = " + value(kv.Value) + "\n")
	}
}

// value returns v as Write prints it: strings quoted, each on its own in a
// slice, and other values in the form of attribute.Value.String, such as
// [true,false] for a bool slice and Infinity for an infinite float.
func value(v attribute.Value) string {
	switch v.Type() {
	case attribute.STRING:
		return strconv.Quote(v.AsString())
	case attribute.STRINGSLICE:
		q := v.AsStringSlice()
		for i := range q {
			q[i] = strconv.Quote(q[i])
		}
		return "[" + strings.Join(q, ", ") + "]"
	default:
		return v.String()
	}
}

func duration(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Millisecond:
		return d.Round(time.Microsecond).String()
	case d < time.Second:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Millisecond).String()
	}
}

// String returns what Write prints for s.
func String(s sdktrace.ReadOnlySpan) string {
	var b strings.Builder
	Write(&b, s)
	return b.String()
}

var _ sdktrace.SpanExporter = (*Exporter)(nil)
