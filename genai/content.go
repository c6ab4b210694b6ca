package genai

import (
	"encoding/json"
	"os"
	"strings"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Capture says whether and where message content is recorded.
type Capture int

// Capture modes, as OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT names
// them.
const (
	// CaptureNone records no content: the default, since prompts may hold
	// code, secrets and personal data.
	CaptureNone Capture = iota
	// CaptureSpan records content as span attributes ("true" or
	// "SPAN_ONLY").
	CaptureSpan
	// CaptureEvent records content on a span event named
	// gen_ai.client.inference.operation.details ("EVENT_ONLY").
	CaptureEvent
	// CaptureSpanAndEvent does both ("SPAN_AND_EVENT").
	CaptureSpanAndEvent
)

// EnvCapture is the variable that turns content capture on.
const EnvCapture = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"

// EventName is the name of the span event that carries content with
// CaptureEvent.
const EventName = "gen_ai.client.inference.operation.details"

// ParseCapture parses a value of OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT:
// "true" (the specification's form) and "SPAN_ONLY" mean CaptureSpan,
// "EVENT_ONLY" CaptureEvent, "SPAN_AND_EVENT" CaptureSpanAndEvent, "",
// "false" and "NO_CONTENT" CaptureNone; case does not matter. Anything else
// is CaptureNone and ok is false.
func ParseCapture(v string) (c Capture, ok bool) {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "", "FALSE", "NO_CONTENT", "0":
		return CaptureNone, true
	case "TRUE", "SPAN_ONLY", "1":
		return CaptureSpan, true
	case "EVENT_ONLY":
		return CaptureEvent, true
	case "SPAN_AND_EVENT":
		return CaptureSpanAndEvent, true
	}
	return CaptureNone, false
}

func captureFromEnv() Capture {
	c, _ := ParseCapture(os.Getenv(EnvCapture))
	return c
}

// Limits of captured content and buffered bodies.
const (
	// DefaultMaxContentBytes bounds each content attribute.
	DefaultMaxContentBytes = 32 << 10
	// DefaultMaxBodyBytes bounds how much of a request or response body the
	// transport keeps to parse; the caller always gets the whole body.
	DefaultMaxBodyBytes = 4 << 20
)

func inputContent(r Request, cfg config) []attribute.KeyValue {
	var kvs []attribute.KeyValue
	if len(r.SystemInstructions) > 0 {
		kvs = append(kvs, SystemInstructionsKey.String(encodeContent(r.SystemInstructions, cfg)))
	}
	if len(r.InputMessages) > 0 {
		kvs = append(kvs, InputMessagesKey.String(encodeContent(r.InputMessages, cfg)))
	}
	return kvs
}

func outputContent(r Response, cfg config) []attribute.KeyValue {
	return []attribute.KeyValue{OutputMessagesKey.String(encodeContent(r.OutputMessages, cfg))}
}

// content records kvs as the capture mode says.
func (c *Call) content(mode Capture, kvs []attribute.KeyValue) {
	if len(kvs) == 0 {
		return
	}
	if mode == CaptureSpan || mode == CaptureSpanAndEvent {
		c.span.SetAttributes(kvs...)
	}
	if mode == CaptureEvent || mode == CaptureSpanAndEvent {
		c.span.AddEvent(EventName, trace.WithAttributes(kvs...))
	}
}

// encodeContent returns v (parts or messages) as JSON, with every text
// redacted and the whole within cfg.maxContent bytes: long contents are cut
// ("…[cut N bytes]") until it fits, so the JSON stays valid.
func encodeContent[T Part | Message](v []T, cfg config) string {
	limit := cfg.maxContent
	for cut := limit; ; cut /= 2 {
		b, err := json.Marshal(redactAll(v, cfg.redact, cut))
		if err != nil {
			return `[]`
		}
		if len(b) <= limit || cut < 16 {
			if len(b) > limit {
				return `[{"type":"text","content":"…[content over ` + itoa(limit) + ` bytes left out]"}]`
			}
			return string(b)
		}
	}
}

// redactAll returns a copy of v with every text content redacted and cut
// to at most cut bytes.
func redactAll[T Part | Message](v []T, redact func(string) string, cut int) []T {
	out := make([]T, len(v))
	fix := func(p Part) Part {
		if redact != nil {
			p.Content = redact(p.Content)
		}
		p.Content = cutString(p.Content, cut)
		return p
	}
	for i, x := range v {
		switch x := any(x).(type) {
		case Part:
			out[i] = any(fix(x)).(T)
		case Message:
			parts := make([]Part, len(x.Parts))
			for j, p := range x.Parts {
				parts[j] = fix(p)
			}
			x.Parts = parts
			out[i] = any(x).(T)
		}
	}
	return out
}

func cutString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…[cut " + itoa(len(s)-i) + " bytes]"
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
