package crswatchdogconnector

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Attribute keys and values of span lifecycle records, those of
// OpenTelemetry Python contrib's partial-span processor.
const (
	// StateAttr is the record's attribute that says which record it is.
	StateAttr = "span.state"
	// BodyTypeAttr is the record's attribute that says how its body
	// holds the span.
	BodyTypeAttr = "log.body.type"
	// BodyTypeJSON is the body type read: a string holding the span as
	// OTLP JSON TracesData.
	BodyTypeJSON = "json/v1"
	// StateHeartbeat marks a record of a span still open.
	StateHeartbeat = "heartbeat"
	// StateEnded marks the record of a span that ended.
	StateEnded = "ended"
)

// recordKind is what a log record is to the connector.
type recordKind uint8

const (
	notLifecycle recordKind = iota // not a span lifecycle record: ignored
	heartbeat
	ended
)

// kindOf tells whether lr is a span lifecycle record, and which.
func kindOf(lr plog.LogRecord) (recordKind, error) {
	st, ok := lr.Attributes().Get(StateAttr)
	if !ok {
		return notLifecycle, nil
	}
	if bt, ok := lr.Attributes().Get(BodyTypeAttr); ok && bt.AsString() != BodyTypeJSON {
		return notLifecycle, fmt.Errorf("%s %q: want %q", BodyTypeAttr, bt.AsString(), BodyTypeJSON)
	}
	switch st.AsString() {
	case StateHeartbeat:
		return heartbeat, nil
	case StateEnded:
		return ended, nil
	}
	return notLifecycle, fmt.Errorf("%s %q: want %s or %s", StateAttr, st.AsString(), StateHeartbeat, StateEnded)
}

// idField matches the ids of an OTLP JSON span, whose value the Python
// processor writes without leading zeros.
var idField = regexp.MustCompile(`"(traceId|spanId|parentSpanId)"\s*:\s*"([0-9a-fA-F]*)"`)

// normalizeIDs left-pads the hex ids of an OTLP JSON body to 32 (trace)
// and 16 (span) digits. An empty id stays empty; a longer one is left as
// it is, for the decoder to refuse.
func normalizeIDs(body []byte) []byte {
	return idField.ReplaceAllFunc(body, func(m []byte) []byte {
		sub := idField.FindSubmatch(m)
		want := 16
		if string(sub[1]) == "traceId" {
			want = 32
		}
		hex := sub[2]
		if len(hex) == 0 || len(hex) >= want {
			return m
		}
		return []byte(`"` + string(sub[1]) + `":"` + strings.Repeat("0", want-len(hex)) + string(hex) + `"`)
	})
}

var unmarshaler ptrace.JSONUnmarshaler

// errNoSpan is the error of a body that holds no span with valid ids.
var errNoSpan = errors.New("no span with a valid trace id and span id in the body")

// decodeBody decodes the body of a lifecycle record: the span(s) it holds,
// with their resource and scope.
func decodeBody(body pcommon.Value) (ptrace.Traces, error) {
	var raw []byte
	switch body.Type() {
	case pcommon.ValueTypeStr:
		raw = []byte(body.Str())
	case pcommon.ValueTypeBytes:
		raw = body.Bytes().AsRaw()
	default:
		return ptrace.Traces{}, fmt.Errorf("body of type %s; want a string of OTLP JSON", body.Type())
	}
	td, err := unmarshaler.UnmarshalTraces(normalizeIDs(raw))
	if err != nil {
		return ptrace.Traces{}, fmt.Errorf("body: %w", err)
	}
	if td.SpanCount() == 0 {
		return ptrace.Traces{}, errNoSpan
	}
	return td, nil
}
