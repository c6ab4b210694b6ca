package journal_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel/internal/journal"
)

// A process writes its journal; after it is gone, the journal tells which
// actions never ended.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "journal-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	w, err := journal.Open(journal.Options{Dir: dir, Service: "patcher"})
	if err != nil {
		fmt.Println(err)
		return
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:  trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
	})
	start := time.Now()
	w.Write(journal.Event{
		Kind: journal.KindStart, Time: start, Span: sc,
		Category: "patch_generation", Name: "generate_patch",
		Metadata: []attribute.KeyValue{attribute.String("task.id", "task-1")},
		Budget:   5 * time.Minute,
	})
	if err := w.Close(context.Background()); err != nil {
		fmt.Println(err)
		return
	}

	records, err := journal.ReadFile(w.Path())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, r := range records {
		if r.Kind == "start" {
			fmt.Println(r.Kind, r.SpanID, r.Name, r.Metadata, r.BudgetMS)
		} else {
			fmt.Println(r.Kind)
		}
	}
	rep := journal.Analyze(records, start.Add(time.Minute))
	for _, e := range rep.Running {
		fmt.Printf("still running: %s (%s) for %v of its %v\n", e.Name, e.Category, e.Duration, e.Budget)
	}
	// Output:
	// header
	// start 00f067aa0ba902b7 generate_patch map[task.id:task-1] 300000
	// close
	// still running: generate_patch (patch_generation) for 1m0s of its 5m0s
}

func ExampleAnalyze() {
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	records := []journal.Record{
		{Kind: "header", Version: 1, Time: t0, PID: 4242, Service: "patcher"},
		{Kind: "start", Time: t0, SpanID: "aaaaaaaaaaaaaaaa", Category: "patch_generation", Name: "generate_patch"},
		{Kind: "start", Time: t0.Add(time.Second), SpanID: "bbbbbbbbbbbbbbbb", ParentID: "aaaaaaaaaaaaaaaa", Category: "testing", Name: "run_tests"},
		{Kind: "start", Time: t0.Add(2 * time.Second), SpanID: "cccccccccccccccc", ParentID: "bbbbbbbbbbbbbbbb", Category: "building", Name: "compile", BudgetMS: 60000},
		{Kind: "start", Time: t0.Add(3 * time.Second), SpanID: "dddddddddddddddd", Category: "fuzzing", Name: "run_fuzzer"},
		{Kind: "end", Time: t0.Add(4 * time.Second), SpanID: "dddddddddddddddd", Category: "fuzzing", Name: "run_fuzzer", Status: "error", Cancelled: true, DurationMS: 1000},
		{Kind: "overdue", Time: t0.Add(62 * time.Second), SpanID: "cccccccccccccccc", Category: "building", Name: "compile", ElapsedMS: 60000, BudgetMS: 60000, Error: "past its budget"},
	}
	// The process was killed: durations run to its last record.
	rep := journal.Analyze(records, time.Time{})
	fmt.Println("as of", rep.AsOf.Format(time.TimeOnly))
	for _, e := range rep.Running {
		fmt.Printf("running %s for %v", e.Name, e.Duration)
		if d := e.Deepest; d != nil {
			fmt.Printf(", deepest open: %s for %v", d.Name, d.Duration)
		}
		fmt.Println()
	}
	for _, e := range rep.Overdue {
		fmt.Printf("overdue %s for %v: %s\n", e.Name, e.Duration, e.Error)
	}
	for _, e := range rep.Cancelled {
		fmt.Printf("cancelled %s after %v\n", e.Name, e.Duration)
	}
	// Output:
	// as of 12:01:02
	// running generate_patch for 1m2s, deepest open: compile for 1m0s
	// running run_tests for 1m1s, deepest open: compile for 1m0s
	// overdue compile for 1m0s: past its budget
	// cancelled run_fuzzer after 1s
}

func ExampleClampTime() {
	// A deadline far off: after the year 9999, which RFC 3339, and so JSON,
	// cannot represent.
	deadline := time.Date(12345, 1, 1, 0, 0, 0, 0, time.UTC)
	fmt.Println(journal.ClampTime(deadline).Format(time.RFC3339Nano))
	fmt.Println(journal.ClampTime(time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC)).Format(time.RFC3339Nano))
	fmt.Println(journal.ClampTime(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)).Format(time.RFC3339Nano))
	// Output:
	// 9999-12-31T23:59:59.999999999Z
	// 0000-01-01T00:00:00Z
	// 2025-03-01T12:00:00Z
}
