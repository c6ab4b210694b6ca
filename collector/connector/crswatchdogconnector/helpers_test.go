package crswatchdogconnector

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/connector"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/crstel/crstel/collector/connector/crswatchdogconnector/internal/metadatatest"
)

// rec is a span lifecycle record, as OpenTelemetry Python contrib's
// partial-span processor writes it.
type rec struct {
	state    string // heartbeat or ended
	trace    string // hex, as written: the Python processor strips leading zeros
	span     string
	parent   string
	name     string
	start    time.Time
	at       time.Time // the record's timestamp
	attrs    map[string]any
	instance string // the resource's service.instance.id
	service  string
}

// body returns the record's body: OTLP JSON TracesData.
func (r rec) body() string {
	var attrs []map[string]any
	for k, v := range r.attrs {
		var val map[string]any
		switch v := v.(type) {
		case string:
			val = map[string]any{"stringValue": v}
		case float64:
			val = map[string]any{"doubleValue": v}
		case int:
			val = map[string]any{"intValue": strconv.Itoa(v)}
		default:
			panic(fmt.Sprintf("type %T", v))
		}
		attrs = append(attrs, map[string]any{"key": k, "value": val})
	}
	span := map[string]any{
		"traceId": r.trace, "spanId": r.span, "parentSpanId": r.parent,
		"name": r.name, "kind": 1, "startTimeUnixNano": strconv.FormatInt(r.start.UnixNano(), 10),
		"attributes": attrs,
	}
	if r.state == StateEnded {
		span["endTimeUnixNano"] = strconv.FormatInt(r.at.UnixNano(), 10)
		span["status"] = map[string]any{"code": 1}
	}
	td := map[string]any{"resourceSpans": []any{map[string]any{
		"resource": map[string]any{"attributes": []any{
			map[string]any{"key": "service.name", "value": map[string]any{"stringValue": r.service}},
		}},
		"scopeSpans": []any{map[string]any{
			"scope": map[string]any{"name": "crstel"},
			"spans": []any{span},
		}},
	}}}
	b, err := json.Marshal(td)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// logsOf returns the records as OTLP logs, one resource per record.
func logsOf(recs ...rec) plog.Logs {
	ld := plog.NewLogs()
	for _, r := range recs {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", r.service)
		if r.instance != "" {
			rl.Resource().Attributes().PutStr("service.instance.id", r.instance)
		}
		lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(r.at))
		lr.Attributes().PutStr(StateAttr, r.state)
		lr.Attributes().PutStr(BodyTypeAttr, BodyTypeJSON)
		lr.Body().SetStr(r.body())
	}
	return ld
}

// act returns a heartbeat of an action of process "p1" started at
// start, with ids written without leading zeros.
func act(n int, start time.Time) rec {
	return rec{
		state:  StateHeartbeat,
		trace:  fmt.Sprintf("%x", 0x0abc0000+n), // "abc0001": 25 leading zeros stripped
		span:   fmt.Sprintf("%x", 0x00de0000+n),
		parent: "f00d",
		name:   "generate_patch", start: start, at: start,
		attrs: map[string]any{
			"crs.action.category": "patch_generation", "crs.action.name": "generate_patch",
			"task.id": "t-1", "round.id": "r-1",
		},
		instance: "p1", service: "patcher",
	}
}

func (r rec) beatAt(at time.Time) rec { r.at = at; return r }
func (r rec) ended(at time.Time) rec  { r.state = StateEnded; r.at = at; return r }
func (r rec) in(instance string) rec  { r.instance = instance; return r }
func (r rec) with(k string, v any) rec {
	attrs := make(map[string]any, len(r.attrs)+1)
	for k, v := range r.attrs {
		attrs[k] = v
	}
	attrs[k] = v
	r.attrs = attrs
	return r
}

// traceID and spanID are the record's ids, left-padded.
func (r rec) traceID() pcommon.TraceID { return pcommon.TraceID(mustHex(r.trace, 16)) }
func (r rec) spanID() pcommon.SpanID   { return pcommon.SpanID(mustHex(r.span, 8)) }
func (r rec) parentID() pcommon.SpanID { return pcommon.SpanID(mustHex(r.parent, 8)) }

func mustHex(s string, n int) []byte {
	s = strings.Repeat("0", 2*n-len(s)) + s
	var b []byte
	for i := 0; i < len(s); i += 2 {
		v, err := strconv.ParseUint(s[i:i+2], 16, 8)
		if err != nil {
			panic(err)
		}
		b = append(b, byte(v))
	}
	return b
}

// harness is a connector's three instances and what they emit.
type harness struct {
	tel     *componenttest.Telemetry
	reports *consumertest.TracesSink
	metrics *consumertest.MetricsSink
	passed  *consumertest.TracesSink
	logs    connector.Logs
	mlogs   connector.Logs
	traces  connector.Traces
	host    component.Host
}

// newHarness creates and starts the connector of cfg (the default if nil)
// with the host (a nop host if nil). Its cleanup shuts it down.
func newHarness(t testing.TB, cfg *Config, host component.Host) *harness {
	t.Helper()
	if cfg == nil {
		cfg = createDefaultConfig().(*Config)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	if host == nil {
		host = componenttest.NewNopHost()
	}
	h := &harness{
		tel: componenttest.NewTelemetry(), reports: new(consumertest.TracesSink),
		metrics: new(consumertest.MetricsSink), passed: new(consumertest.TracesSink), host: host,
	}
	f := NewFactory()
	set := metadatatest.NewSettings(h.tel)
	ctx := context.Background()
	var err error
	if h.logs, err = f.CreateLogsToTraces(ctx, set, cfg, h.reports); err != nil {
		t.Fatal(err)
	}
	if h.mlogs, err = f.CreateLogsToMetrics(ctx, set, cfg, h.metrics); err != nil {
		t.Fatal(err)
	}
	if h.traces, err = f.CreateTracesToTraces(ctx, set, cfg, h.passed); err != nil {
		t.Fatal(err)
	}
	for _, c := range []component.Component{h.logs, h.mlogs, h.traces} {
		if err := c.Start(ctx, host); err != nil {
			t.Fatalf("Start: %v", err)
		}
	}
	t.Cleanup(func() { h.shutdown(t); _ = h.tel.Shutdown(context.Background()) })
	return h
}

func (h *harness) shutdown(t testing.TB) {
	t.Helper()
	for _, c := range []component.Component{h.logs, h.mlogs, h.traces} {
		if err := c.Shutdown(context.Background()); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	}
}

// send sends records through both logs instances, as a collector whose
// logs pipeline exports to the connector twice would.
func (h *harness) send(t testing.TB, recs ...rec) {
	t.Helper()
	for _, c := range []connector.Logs{h.logs, h.mlogs} {
		if err := c.ConsumeLogs(context.Background(), logsOf(recs...)); err != nil {
			t.Fatal(err)
		}
	}
}

// spans returns the spans reported so far, by name then span id.
func (h *harness) spans() []ptrace.Span {
	var out []ptrace.Span
	for _, td := range h.reports.AllTraces() {
		for _, rs := range td.ResourceSpans().All() {
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

func attrStr(s ptrace.Span, k string) string {
	v, ok := s.Attributes().Get(k)
	if !ok {
		return "<absent>"
	}
	return v.AsString()
}
