package crsconformanceprocessor

import (
	"context"
	"slices"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/metric/metricdata/metricdatatest"

	"github.com/crstel/crstel/collector/processor/crsconformanceprocessor/internal/metadatatest"
	"github.com/crstel/crstel/crs/conform/conformtest"
)

func point(n int64, kvs ...attribute.KeyValue) metricdata.DataPoint[int64] {
	return metricdata.DataPoint[int64]{Value: n, Attributes: attribute.NewSet(kvs...)}
}

func svc(name string) attribute.KeyValue { return attribute.String("service.name", name) }

var traces = attribute.String("signal", "traces")

func violationPoint(n int64, rule, service, outcome string) metricdata.DataPoint[int64] {
	return point(n, traces, attribute.String("rule", rule), attribute.String("level", "violation"), svc(service),
		attribute.String("outcome", outcome))
}

func TestMetrics(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.Rules = map[string]Mode{"type_mismatch": ModeRepair, "invalid_name": ModeDrop, "misspelled_key": ModeObserve}
	p := newPipeline(t, cfg)
	named := func(s conformtest.Span, service string) conformtest.Span { s.Service = service; return s }
	p.run(t,
		span("generate_patch", 1, 0, action()),
		span("chat", 2, 1, llm()), // repaired: 5 keys inherited
		span("weight", 3, 1, action(attribute.String("crs.action.effort.weight", "8"))),                                                  // repaired
		span("files", 4, 1, action(attribute.String("crs.action.code.files", "a.c"))),                                                    // observed
		named(span("bad name", 5, 0, append(slices.Delete(action(), 1, 2), attribute.String("crs.action.name", "Bad Name"))), "patcher"), // dropped
		named(span("no service", 6, 0, action()), ""),                                                                                    // marked
	)
	opts := []metricdatatest.Option{metricdatatest.IgnoreTimestamp()}
	metadatatest.AssertEqualProcessorCrsConformanceItemsChecked(t, p.tel, []metricdata.DataPoint[int64]{
		point(4, traces, svc("agent")), point(1, traces, svc("patcher")), point(1, traces, svc(UnknownService)),
	}, opts...)
	metadatatest.AssertEqualProcessorCrsConformanceItemsRepaired(t, p.tel, []metricdata.DataPoint[int64]{
		point(2, traces, svc("agent")),
	}, opts...)
	metadatatest.AssertEqualProcessorCrsConformanceItemsDropped(t, p.tel, []metricdata.DataPoint[int64]{
		point(1, traces, svc("patcher")),
	}, opts...)
	metadatatest.AssertEqualProcessorCrsConformanceViolations(t, p.tel, []metricdata.DataPoint[int64]{
		violationPoint(2, "missing_attribute", "agent", "repaired"),
		violationPoint(3, "missing_metadata", "agent", "repaired"),
		violationPoint(1, "type_mismatch", "agent", "repaired"),
		violationPoint(1, "misspelled_key", "agent", "observed"),
		violationPoint(1, "invalid_name", "patcher", "dropped"),
		violationPoint(1, "missing_service_name", UnknownService, "marked"),
	}, opts...)
}

// TestMetricsServiceNames: past max_service_names distinct names, the
// rest count as "other".
func TestMetricsServiceNames(t *testing.T) {
	cfg := createDefaultConfig().(*Config)
	cfg.MaxServiceNames = 2
	p := newPipeline(t, cfg)
	var spans []conformtest.Span
	for i, name := range []string{"a", "b", "c", "d", "a"} {
		s := span("s", byte(i+1), 0, action())
		s.Service = name
		spans = append(spans, s)
	}
	p.run(t, spans...)
	metadatatest.AssertEqualProcessorCrsConformanceItemsChecked(t, p.tel, []metricdata.DataPoint[int64]{
		point(2, traces, svc("a")), point(1, traces, svc("b")), point(2, traces, svc(OtherServices)),
	}, metricdatatest.IgnoreTimestamp())
}

func TestMetricsLogs(t *testing.T) {
	p := newPipeline(t, nil)
	if err := p.logs.ConsumeLogs(context.Background(), logsOf("agent", []byte{1, 1, 0}, action(), nil, nil)); err != nil {
		t.Fatal(err)
	}
	logs := attribute.String("signal", "logs")
	metadatatest.AssertEqualProcessorCrsConformanceItemsChecked(t, p.tel, []metricdata.DataPoint[int64]{
		point(2, logs, svc("agent")),
	}, metricdatatest.IgnoreTimestamp())
	metadatatest.AssertEqualProcessorCrsConformanceItemsRepaired(t, p.tel, []metricdata.DataPoint[int64]{
		point(1, logs, svc("agent")),
	}, metricdatatest.IgnoreTimestamp())
}
