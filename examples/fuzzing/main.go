// Command fuzzing watches the corpus of a fuzzer and records its updates as
// the specification's fuzz.corpus.* attributes, inside a fuzzing action.
//
// A fake fuzzer fills a temporary corpus directory with new inputs, as
// libFuzzer does; fuzz.Watcher notices them and records one short span per
// update, a child of the fuzzing action, with the corpus size (an int), the
// new inputs by name (a string slice), the update time (RFC 3339), the
// method, and now and then a full snapshot. The fuzzing action also sends
// heartbeats, so the watchdog would report it as stalled if the fuzzer
// stopped making progress.
//
//	go run ./examples/fuzzing
package main

import (
	"context"
	"crypto/sha1"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/fuzz"
)

func main() {
	if err := run(context.Background()); err != nil {
		log.Fatal(err)
	}
}

func run(ctx context.Context) (err error) {
	tel, err := crstel.Setup(ctx, crstel.WithServiceName("fuzzer"))
	if err != nil {
		return err
	}
	defer func() {
		if serr := tel.Shutdown(context.WithoutCancel(ctx)); serr != nil && err == nil {
			err = serr
		}
	}()

	corpus, err := os.MkdirTemp("", "corpus-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(corpus)

	ctx = crstel.WithTask(ctx, crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"})
	ctx, span := crstel.Action(ctx, crs.Fuzzing, "fuzz_test_network_inputs", nil,
		crstel.WithAttributes(crs.TargetHarness("network_harness")),
		crstel.WithHeartbeat(time.Minute))
	defer span.End()

	wctx, stop := context.WithCancel(ctx)
	w := fuzz.NewWatcher(corpus,
		fuzz.WithInterval(200*time.Millisecond),
		fuzz.WithFullSnapshotEvery(3),
		fuzz.WithOnUpdate(func(u fuzz.CorpusUpdate) {
			crstel.Heartbeat(ctx) // new inputs are progress
			if u.FullSnapshot {
				fmt.Printf("corpus update (%s): full snapshot of %d inputs\n", u.Method, u.Size)
			} else {
				fmt.Printf("corpus update (%s): %d inputs, %d new\n", u.Method, u.Size, len(u.Additions))
			}
		}))
	watched := make(chan error, 1)
	go func() { watched <- w.Run(wctx) }()

	// The fake fuzzer: a few new inputs every 300 ms.
	for round := range 6 {
		for i := range 3 {
			data := fmt.Appendf(nil, "input %d.%d", round, i)
			name := fmt.Sprintf("%x", sha1.Sum(data)) // libFuzzer names inputs by their SHA-1
			if err := os.WriteFile(filepath.Join(corpus, name), data, 0o600); err != nil {
				stop()
				return err
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	stop()
	return <-watched
}
