// Package fuzz records the updates of a fuzzer's input corpus with the
// fuzz.corpus.* attributes of the CRS Telemetry Specification v1.0.
//
// Each update is a short span named "fuzz.corpus.update", a child of the
// fuzzing action, so that crstel stamps it with the action's category, name
// and task metadata:
//
//	ctx, span := crstel.Action(ctx, crs.Fuzzing, "fuzz_test_network_inputs", nil)
//	defer span.End()
//
//	// Either record each update by hand:
//	fuzz.Record(ctx, fuzz.CorpusUpdate{
//		Method:    fuzz.MethodOnChange,
//		Size:      1500,
//		Additions: []string{"inputA", "inputB"},
//	})
//
//	// or let a Watcher follow a libFuzzer corpus directory, or an AFL++
//	// queue (<output dir>/default/queue), while the fuzzer runs:
//	wctx, stop := context.WithCancel(ctx)
//	w := fuzz.NewWatcher("corpus/", fuzz.WithMethod(fuzz.MethodOnChange))
//	done := make(chan error, 1)
//	go func() { done <- w.Run(wctx) }()
//	runFuzzer(ctx)
//	stop()
//	<-done // the last state of the corpus is recorded
//
// [Record] gives each attribute the specification's type: the size an int,
// the additions a string slice (capped at [DefaultMaxAdditions] names, the
// count left out under [AdditionsOmittedKey]), the update time an RFC 3339
// string, full_snapshot a bool. Invalid input, such as a method that is
// neither [MethodPeriodic] nor [MethodOnChange], is recorded but marks the
// span invalid, as crstel.Action does, and panics in strict mode.
//
// A [Watcher] records an update when files are added to or removed from the
// directory: the number of files, the names of those added, and every
// [DefaultFullSnapshotEvery] updates a full snapshot naming them all. It
// polls every [DefaultInterval] ([MethodPeriodic]) or, with
// [WithMethod]([MethodOnChange]) on Linux, is told of changes by inotify. It reads names only, and only when the directory
// changed, so that a corpus of 100,000 files costs little.
package fuzz
