package lifecycle

import (
	"context"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/log"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Attribute keys and values of lifecycle records, those of the Python
// partial-span processor, and crstel's summary of the actions left out.
const (
	// StateKey is the span's state: Heartbeat or Ended.
	StateKey = attribute.Key("span.state")
	// BodyTypeKey says what the body is: BodyType.
	BodyTypeKey = attribute.Key("log.body.type")
	// BodyType is a string body holding an OTLP JSON TracesData.
	BodyType = "json/v1"
	// Heartbeat is the state of a span still open.
	Heartbeat = "heartbeat"
	// Ended is the state of a span that ended.
	Ended = "ended"
	// OmittedKey is the number of open actions, past the delay, that got
	// no heartbeat because of the cap (an int), on a summary record without
	// StateKey.
	OmittedKey = attribute.Key("crstel.lifecycle.omitted")
)

// Emitter emits lifecycle records through a logger, such as one of
// crstel.Setup's LoggerProvider, whose batch processor exports them.
type Emitter struct {
	Logger log.Logger
}

// Emit emits a record of s, a heartbeat, or its end if ended, at now; extra
// attributes are added to those of the span in the body. The record's
// trace and span ids are the span's. It returns an error, and emits
// nothing, if the body cannot be encoded.
func (e Emitter) Emit(s sdktrace.ReadOnlySpan, ended bool, now time.Time, extra ...attribute.KeyValue) error {
	body, err := Body(s, ended, extra...)
	if err != nil {
		return err
	}
	state := Heartbeat
	if ended {
		state = Ended
	}
	var r log.Record
	r.SetTimestamp(now)
	r.SetSeverity(log.SeverityInfo)
	r.SetSeverityText("INFO")
	r.SetBody(attribute.StringValue(string(body)))
	r.AddAttributes(StateKey.String(state), BodyTypeKey.String(BodyType))
	e.Logger.Emit(trace.ContextWithSpanContext(context.Background(), s.SpanContext()), r)
	return nil
}

// Omitted emits the summary of a check that left n open actions without
// heartbeats, as only the oldest max are sent.
func (e Emitter) Omitted(n, max int, now time.Time) {
	var r log.Record
	r.SetTimestamp(now)
	r.SetSeverity(log.SeverityWarn)
	r.SetSeverityText("WARN")
	r.SetBody(attribute.StringValue("crstel: " + strconv.Itoa(n) + " open actions not heartbeated: lifecycle records go to the oldest " +
		strconv.Itoa(max) + " only"))
	r.AddAttributes(OmittedKey.Int(n))
	e.Logger.Emit(context.Background(), r)
}
