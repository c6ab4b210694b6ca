package fuzz_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/fuzz"
)

// recording installs a global tracer provider with crstel's span processor,
// as crstel.Setup would, that records spans in memory; restore puts the
// previous provider back.
func recording() (sr *tracetest.SpanRecorder, restore func()) {
	sr = tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(crstel.NewSpanProcessor()), sdktrace.WithSpanProcessor(sr))
	prev := otel.GetTracerProvider()
	otel.SetTracerProvider(tp)
	return sr, func() {
		otel.SetTracerProvider(prev)
		tp.Shutdown(context.Background())
	}
}

// printSpan prints a span's name and its attributes, sorted by key, with
// their types.
func printSpan(s sdktrace.ReadOnlySpan) {
	kvs := slices.Clone(s.Attributes())
	slices.SortFunc(kvs, func(a, b attribute.KeyValue) int { return strings.Compare(string(a.Key), string(b.Key)) })
	fmt.Println(s.Name())
	for _, kv := range kvs {
		fmt.Printf("  %s=%s (%s)\n", kv.Key, kv.Value.String(), kv.Value.Type())
	}
}

func ExampleRecord() {
	sr, restore := recording()
	defer restore()

	ctx := crstel.WithTask(context.Background(), crs.Metadata{"round.id": "round-1", "task.id": "task-1"})
	ctx, span := crstel.Action(ctx, crs.Fuzzing, "fuzz_test_network_inputs", nil)
	fuzz.Record(ctx, fuzz.CorpusUpdate{
		Method:    fuzz.MethodPeriodic,
		Time:      time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Size:      1500,
		Additions: []string{"inputA", "inputB"},
	})
	span.End()

	printSpan(sr.Ended()[0])
	// Output:
	// fuzz.corpus.update
	//   crs.action.category=fuzzing (STRING)
	//   crs.action.name=fuzz_test_network_inputs (STRING)
	//   fuzz.corpus.additions=["inputA","inputB"] (STRINGSLICE)
	//   fuzz.corpus.full_snapshot=false (BOOL)
	//   fuzz.corpus.size=1500 (INT64)
	//   fuzz.corpus.update.method=periodic (STRING)
	//   fuzz.corpus.update.time=2025-03-01T12:00:00Z (STRING)
	//   round.id=round-1 (STRING)
	//   task.id=task-1 (STRING)
}

// Additions beyond the cap are counted, not listed.
func ExampleWithMaxAdditions() {
	sr, restore := recording()
	defer restore()

	ctx, span := crstel.Action(context.Background(), crs.Fuzzing, "fuzz_test_network_inputs", crs.Metadata{"task.id": "task-1"})
	fuzz.Record(ctx, fuzz.CorpusUpdate{
		Method:       fuzz.MethodOnChange,
		Time:         time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC),
		Size:         5,
		Additions:    []string{"a", "b", "c", "d", "e"},
		FullSnapshot: true,
	}, fuzz.WithMaxAdditions(2))
	span.End()

	printSpan(sr.Ended()[0])
	// Output:
	// fuzz.corpus.update
	//   crs.action.category=fuzzing (STRING)
	//   crs.action.name=fuzz_test_network_inputs (STRING)
	//   crstel.fuzz.corpus.additions_omitted=3 (INT64)
	//   fuzz.corpus.additions=["a","b"] (STRINGSLICE)
	//   fuzz.corpus.full_snapshot=true (BOOL)
	//   fuzz.corpus.size=5 (INT64)
	//   fuzz.corpus.update.method=on_change (STRING)
	//   fuzz.corpus.update.time=2025-03-01T12:00:00Z (STRING)
	//   task.id=task-1 (STRING)
}

// A Watcher of a libFuzzer corpus directory, in the fuzzing action, while a
// stand-in for the fuzzer adds an input.
func ExampleWatcher() {
	sr, restore := recording()
	defer restore()
	dir, err := os.MkdirTemp("", "corpus")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	for _, name := range []string{"seed1", "seed2"} {
		os.WriteFile(filepath.Join(dir, name), []byte(name), 0o644)
	}

	ctx, span := crstel.Action(context.Background(), crs.Fuzzing, "fuzz_test_network_inputs", crs.Metadata{"task.id": "task-1"})
	defer span.End()
	updates := make(chan fuzz.CorpusUpdate, 10)
	w := fuzz.NewWatcher(dir, fuzz.WithInterval(10*time.Millisecond),
		fuzz.WithOnUpdate(func(u fuzz.CorpusUpdate) { updates <- u }))
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(wctx) }()

	show := func(u fuzz.CorpusUpdate) {
		fmt.Printf("%s size=%d full_snapshot=%v additions=%q\n", u.Method, u.Size, u.FullSnapshot, u.Additions)
	}
	show(<-updates)
	os.WriteFile(filepath.Join(dir, "crash-1f2e"), []byte("input"), 0o644) // the fuzzer finds an input
	show(<-updates)
	stop()
	fmt.Println("Run:", <-done)
	fmt.Println("spans:", len(sr.Ended()))
	// Output:
	// periodic size=2 full_snapshot=true additions=["seed1" "seed2"]
	// periodic size=3 full_snapshot=false additions=["crash-1f2e"]
	// Run: <nil>
	// spans: 2
}

// On Linux, a Watcher with WithMethod(MethodOnChange) is told of new
// inputs by inotify; elsewhere it polls, here every 10 ms.
func ExampleWithMethod() {
	dir, err := os.MkdirTemp("", "corpus")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	updates := make(chan fuzz.CorpusUpdate, 10)
	w := fuzz.NewWatcher(dir, fuzz.WithMethod(fuzz.MethodOnChange), fuzz.WithCoalesce(10*time.Millisecond),
		fuzz.WithInterval(10*time.Millisecond), fuzz.WithOnUpdate(func(u fuzz.CorpusUpdate) { updates <- u }))
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()

	u := <-updates
	fmt.Printf("size=%d additions=%q\n", u.Size, u.Additions)
	for _, name := range []string{"crash-1", "crash-2"} {
		os.WriteFile(filepath.Join(dir, name), nil, 0o644)
	}
	var added []string
	for len(added) < 2 { // one update, or two if the poll falls between the files
		u = <-updates
		added = append(added, u.Additions...)
	}
	fmt.Printf("size=%d added=%q\n", u.Size, added)
	stop()
	<-done
	// Output:
	// size=0 additions=[]
	// size=2 added=["crash-1" "crash-2"]
}

// For AFL++, watch the queue of the fuzzer instance: dotfiles and
// subdirectories, such as .state, are not inputs.
func ExampleNewWatcher_aflplusplus() {
	out, err := os.MkdirTemp("", "afl-out")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(out)
	queue := filepath.Join(out, "default", "queue") // -o out, no -M/-S name
	os.MkdirAll(filepath.Join(queue, ".state", "auto_extras"), 0o755)
	for _, name := range []string{"id:000000,time:0,execs:0,orig:seed", "id:000001,src:000000,time:12,execs:40,op:havoc,rep:2,+cov"} {
		os.WriteFile(filepath.Join(queue, name), nil, 0o644)
	}

	ctx, stop := context.WithCancel(context.Background())
	w := fuzz.NewWatcher(queue, fuzz.WithOnUpdate(func(u fuzz.CorpusUpdate) {
		fmt.Printf("size=%d additions=%q\n", u.Size, u.Additions)
		stop() // after the first update, for the example
	}))
	w.Run(ctx)
	// Output:
	// size=2 additions=["id:000000,time:0,execs:0,orig:seed" "id:000001,src:000000,time:12,execs:40,op:havoc,rep:2,+cov"]
}
