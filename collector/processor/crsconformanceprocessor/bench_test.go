package crsconformanceprocessor

import (
	"context"
	"fmt"
	"testing"

	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/processor/processortest"
)

// benchBatch returns a realistic batch of 1000 conforming spans: 250
// actions of a Go component, each with three children that crstel stamped
// with the action's attributes (an HTTP call, an LLM call, a subprocess).
func benchBatch() ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "patcher")
	rs.Resource().Attributes().PutStr("telemetry.sdk.language", "go")
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for a := range 250 {
		trace := pcommon.TraceID{byte(a), byte(a >> 8), 1}
		put := func(s ptrace.Span) {
			m := s.Attributes()
			m.PutStr("crs.action.category", "patch_generation")
			m.PutStr("crs.action.name", "generate_patch")
			m.PutStr("round.id", "round-1")
			m.PutStr("task.id", fmt.Sprintf("task-%d", a%7))
			m.PutStr("team.id", "team-1")
		}
		root := spans.AppendEmpty()
		root.SetName("generate_patch")
		root.SetTraceID(trace)
		root.SetSpanID(pcommon.SpanID{byte(a), byte(a >> 8), 1})
		put(root)
		root.Attributes().PutStr("crs.action.code.file", "vuln_module.c")
		root.Attributes().PutInt("crs.action.effort.weight", 4)
		for c, name := range []string{"POST", "chat gpt-4o-mini", "exec make"} {
			s := spans.AppendEmpty()
			s.SetName(name)
			s.SetTraceID(trace)
			s.SetSpanID(pcommon.SpanID{byte(a), byte(a >> 8), byte(c + 2)})
			s.SetParentSpanID(root.SpanID())
			put(s)
			switch c {
			case 0:
				s.Attributes().PutStr("http.request.method", "POST")
				s.Attributes().PutInt("http.response.status_code", 200)
				s.Attributes().PutStr("url.full", "http://127.0.0.1:8080/v1/patch")
			case 1:
				s.Attributes().PutStr("gen_ai.system", "openai")
				s.Attributes().PutStr("gen_ai.request.model", "gpt-4o-mini")
				s.Attributes().PutInt("gen_ai.usage.input_tokens", 812)
				s.Attributes().PutInt("gen_ai.usage.output_tokens", 230)
			case 2:
				s.Attributes().PutStr("process.executable.name", "make")
				s.Attributes().PutInt("process.exit.code", 0)
			}
		}
	}
	return td
}

// exporter is the end of the benchmark's pipeline: it encodes the batch as
// the OTLP exporter does.
type exporter struct{ n int }

func (e *exporter) Capabilities() consumer.Capabilities { return consumer.Capabilities{} }

func (e *exporter) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	b, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(td)
	e.n += len(b)
	return err
}

// BenchmarkPipeline: spans/s through a pipeline that decodes a batch as
// the OTLP receiver does and encodes it as the OTLP exporter does, with
// crs_conformance between the two (its zero configuration) and without.
// Compare them with benchstat -col /pipeline.
func BenchmarkPipeline(b *testing.B) {
	batch := benchBatch()
	raw, err := (&ptrace.ProtoMarshaler{}).MarshalTraces(batch)
	if err != nil {
		b.Fatal(err)
	}
	n := batch.SpanCount()
	for _, with := range []bool{false, true} {
		name := "pipeline=raw"
		if with {
			name = "pipeline=crs_conformance"
		}
		b.Run(name, func(b *testing.B) {
			var next consumer.Traces = &exporter{}
			if with {
				f := NewFactory()
				p, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), f.CreateDefaultConfig(), next)
				if err != nil {
					b.Fatal(err)
				}
				if err := p.Start(context.Background(), componenttest.NewNopHost()); err != nil {
					b.Fatal(err)
				}
				defer func() { _ = p.Shutdown(context.Background()) }()
				next = p
			}
			b.ReportAllocs()
			for b.Loop() {
				td, err := (&ptrace.ProtoUnmarshaler{}).UnmarshalTraces(raw)
				if err != nil {
					b.Fatal(err)
				}
				if err := next.ConsumeTraces(context.Background(), td); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "spans/s")
		})
	}
}
