package crsconformanceprocessor

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer/consumertest"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor"
	"go.opentelemetry.io/otel/attribute"

	"github.com/crstel/crstel/collector/processor/crsconformanceprocessor/internal/metadatatest"
	"github.com/crstel/crstel/crs/conform/conformtest"
)

// tracesOf returns spans as pdata, one resource each.
func tracesOf(spans []conformtest.Span) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, s := range spans {
		rs := td.ResourceSpans().AppendEmpty()
		switch {
		case s.ServiceInt:
			rs.Resource().Attributes().PutInt("service.name", 7)
		case s.Service != "":
			rs.Resource().Attributes().PutStr("service.name", s.Service)
		}
		sp := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
		sp.SetName(s.Name)
		sp.SetTraceID(pcommon.TraceID{s.Trace})
		sp.SetSpanID(pcommon.SpanID{s.ID})
		if s.Parent != 0 {
			sp.SetParentSpanID(pcommon.SpanID{s.Parent})
		}
		for _, kv := range s.Attributes {
			putAttr(sp.Attributes(), kv)
		}
	}
	return td
}

// putAttr puts kv into m, as an OTLP exporter would send it.
func putAttr(m pcommon.Map, kv attribute.KeyValue) {
	k := string(kv.Key)
	switch kv.Value.Type() {
	case attribute.STRING:
		m.PutStr(k, kv.Value.AsString())
	case attribute.INT64:
		m.PutInt(k, kv.Value.AsInt64())
	case attribute.FLOAT64:
		m.PutDouble(k, kv.Value.AsFloat64())
	case attribute.BOOL:
		m.PutBool(k, kv.Value.AsBool())
	case attribute.STRINGSLICE:
		s := m.PutEmptySlice(k)
		for _, v := range kv.Value.AsStringSlice() {
			s.AppendEmpty().SetStr(v)
		}
	default:
		panic("putAttr: type " + kv.Value.Type().String())
	}
}

// pipeline is the processor under test, its sink and its telemetry.
type pipeline struct {
	traces processor.Traces
	logs   processor.Logs
	sink   *consumertest.TracesSink
	lsink  *consumertest.LogsSink
	tel    *componenttest.Telemetry
}

// newPipeline starts the processor with cfg (the default if nil) in front
// of sinks.
func newPipeline(t testing.TB, cfg *Config) *pipeline {
	t.Helper()
	if cfg == nil {
		cfg = createDefaultConfig().(*Config)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	p := &pipeline{sink: new(consumertest.TracesSink), lsink: new(consumertest.LogsSink), tel: componenttest.NewTelemetry()}
	t.Cleanup(func() { _ = p.tel.Shutdown(context.Background()) })
	f := NewFactory()
	set := metadatatest.NewSettings(p.tel)
	var err error
	if p.traces, err = f.CreateTraces(context.Background(), set, cfg, p.sink); err != nil {
		t.Fatalf("CreateTraces: %v", err)
	}
	if p.logs, err = f.CreateLogs(context.Background(), set, cfg, p.lsink); err != nil {
		t.Fatalf("CreateLogs: %v", err)
	}
	for _, c := range []component.Component{p.traces, p.logs} {
		if err := c.Start(context.Background(), componenttest.NewNopHost()); err != nil {
			t.Fatalf("Start: %v", err)
		}
		t.Cleanup(func() {
			if err := c.Shutdown(context.Background()); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		})
	}
	return p
}

// run sends spans through the processor and returns what came out, by
// span name.
func (p *pipeline) run(t testing.TB, spans ...conformtest.Span) map[string]ptrace.Span {
	t.Helper()
	p.sink.Reset()
	if err := p.traces.ConsumeTraces(context.Background(), tracesOf(spans)); err != nil {
		t.Fatalf("ConsumeTraces: %v", err)
	}
	return spansByName(p.sink.AllTraces())
}

func spansByName(tds []ptrace.Traces) map[string]ptrace.Span {
	out := make(map[string]ptrace.Span)
	for _, td := range tds {
		rss := td.ResourceSpans()
		for i := range rss.Len() {
			sss := rss.At(i).ScopeSpans()
			for j := range sss.Len() {
				spans := sss.At(j).Spans()
				for k := range spans.Len() {
					out[spans.At(k).Name()] = spans.At(k)
				}
			}
		}
	}
	return out
}

// strs returns the string slice attribute key of m, nil if absent.
func strs(m pcommon.Map, key string) []string {
	v, ok := m.Get(key)
	if !ok {
		return nil
	}
	var out []string
	s := v.Slice()
	for i := range s.Len() {
		out = append(out, s.At(i).AsString())
	}
	return out
}

// rulesOf returns the rule ids that prefix the entries of the string slice
// attribute key of m, in order.
func rulesOf(m pcommon.Map, key string) []string {
	var out []string
	for _, s := range strs(m, key) {
		rule, _, _ := strings.Cut(s, ":")
		out = append(out, rule)
	}
	return out
}

// logsOf returns one log record per entry of attrs, in the span of the
// same index of spanIDs (0: none), all of service.
func logsOf(service string, spanIDs []byte, attrs ...[]attribute.KeyValue) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", service)
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i, kvs := range attrs {
		r := recs.AppendEmpty()
		r.Body().SetStr("record " + string(rune('a'+i)))
		if spanIDs[i] != 0 {
			r.SetTraceID(pcommon.TraceID{1})
			r.SetSpanID(pcommon.SpanID{spanIDs[i]})
		}
		for _, kv := range kvs {
			putAttr(r.Attributes(), kv)
		}
	}
	return ld
}
