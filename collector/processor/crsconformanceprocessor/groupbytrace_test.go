package crsconformanceprocessor

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/open-telemetry/opentelemetry-collector-contrib/processor/groupbytraceprocessor"
	"go.opentelemetry.io/collector/component/componenttest"
	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/crstel/crstel/crs/conform/conformtest"
)

// TestGroupByTrace: a parent and its child arriving in different batches
// meet in one batch when contrib's groupbytrace processor is in front, as
// the README's gateway configuration has it, and the child inherits.
func TestGroupByTrace(t *testing.T) {
	p := newPipeline(t, nil)
	f := groupbytraceprocessor.NewFactory()
	cfg := f.CreateDefaultConfig().(*groupbytraceprocessor.Config)
	cfg.WaitDuration = 100 * time.Millisecond
	group, err := f.CreateTraces(context.Background(), processortest.NewNopSettings(f.Type()), cfg, p.traces)
	if err != nil {
		t.Fatal(err)
	}
	if err := group.Start(context.Background(), componenttest.NewNopHost()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := group.Shutdown(context.Background()); err != nil {
			t.Errorf("groupbytrace Shutdown: %v", err)
		}
	}()

	// The child first, as a BatchSpanProcessor exports a child that ends
	// before its parent.
	for _, s := range []conformtest.Span{span("chat gpt-4o-mini", 2, 1, llm()), span("generate_patch", 1, 0, action())} {
		if err := group.ConsumeTraces(context.Background(), tracesOf([]conformtest.Span{s})); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for p.sink.SpanCount() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := p.sink.SpanCount(); n != 2 {
		t.Fatalf("got %d spans out of groupbytrace and crs_conformance in 10s, want 2", n)
	}
	checkOutcomes(t, spansByName(p.sink.AllTraces()), map[string]outcome{
		"generate_patch":   {},
		"chat gpt-4o-mini": {inherited: inheritedAll, from: 1},
	})
}

// TestSeparateBatches: without groupbytrace, a child whose parent is in
// another batch inherits nothing and is marked.
func TestSeparateBatches(t *testing.T) {
	p := newPipeline(t, nil)
	p.run(t, span("generate_patch", 1, 0, action()))
	got := p.run(t, span("chat gpt-4o-mini", 2, 1, llm()))
	marks := rulesOf(got["chat gpt-4o-mini"].Attributes(), InvalidKey)
	if want := []string{"missing_attribute", "missing_attribute"}; !slices.Equal(marks, want) {
		t.Errorf("marked %v, want %v", marks, want)
	}
}
