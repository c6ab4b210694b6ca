package crsconformanceprocessor

import (
	"context"
	"slices"
	"testing"

	"go.opentelemetry.io/collector/processor/processortest"

	"github.com/crstel/crstel/crs/conform"
	"github.com/crstel/crstel/crs/conform/conformtest"
)

// TestCheckCases: the rulebook's cases through the adapter of pdata, as
// the processor reads a batch.
func TestCheckCases(t *testing.T) {
	conformtest.Test(t, func(c conformtest.Case) []conformtest.Got {
		cfg := createDefaultConfig().(*Config)
		cfg.RequiredMetadata, cfg.TraceMetadata = c.Config.RequiredMetadata, c.Config.TraceMetadata
		conf, err := newConformer(processortest.NewNopSettings(processortest.NopType), cfg)
		if err != nil {
			t.Fatal(err)
		}
		b := new(batch)
		conf.collectSpans(b, tracesOf(c.Spans))
		var got []conformtest.Got
		conf.checker.Check(len(b.items), b.span, func(i int, f conform.Finding) {
			got = append(got, conformtest.Got{Span: i, Rule: f.Rule, Key: f.Key})
		})
		return got
	})
}

// TestMarkCases: the rulebook's cases through the processor in mode mark
// without inheritance: each span is marked with exactly its findings, one
// entry each (but marked_invalid, a mark already there).
func TestMarkCases(t *testing.T) {
	for _, c := range conformtest.Cases() {
		t.Run(c.Name, func(t *testing.T) {
			cfg := createDefaultConfig().(*Config)
			cfg.Inherit = false
			cfg.RequiredMetadata, cfg.TraceMetadata = c.Config.RequiredMetadata, c.Config.TraceMetadata
			p := newPipeline(t, cfg)
			td := tracesOf(c.Spans)
			if err := p.traces.ConsumeTraces(context.Background(), td); err != nil {
				t.Fatal(err)
			}
			out := p.sink.AllTraces()
			if len(out) != 1 {
				t.Fatalf("got %d batches, want 1", len(out))
			}
			rss := out[0].ResourceSpans()
			for i := range rss.Len() {
				var want []string
				for _, w := range c.Want {
					if w.Span == i && w.Rule != conform.MarkedInvalid {
						want = append(want, string(w.Rule))
					}
				}
				attrs := rss.At(i).ScopeSpans().At(0).Spans().At(0).Attributes()
				got := rulesOf(attrs, InvalidKey)
				if slices.Contains(rulesOf(attrs, InvalidKey), "crs") { // crstel's own mark, kept first
					got = got[1:]
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("span %d (%s) marked %v, want %v", i, c.Spans[i].Name, strs(attrs, InvalidKey), want)
				}
			}
		})
	}
}
