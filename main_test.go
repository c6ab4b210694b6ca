package crstel_test

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
)

// TestMain keeps the action journals of every test and example in a
// temporary folder, not in the user's state directory. Run with
// CRSTEL_TEST_CHILD set, the test binary is instead a child process for the
// tests that need one (see child).
func TestMain(m *testing.M) {
	if mode := os.Getenv("CRSTEL_TEST_CHILD"); mode != "" {
		child(mode)
		return
	}
	dir, err := os.MkdirTemp("", "crstel-test-journals-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("CRSTEL_TRACE_DIR", dir)
	os.Setenv("CRSTEL_AUDIT_DIR", filepath.Join(dir, "audit"))
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		// Every goroutine crstel started ended at Shutdown.
		if err := goleak.Find(goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop")); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines left after the tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// child is a CRS component that hangs in an action with a budget of 500 ms,
// configured by the environment the test gives it, until it is killed (or
// after a minute, so that it cannot outlive a test that forgot it).
func child(mode string) {
	ctx := context.Background()
	tel, err := crstel.Setup(ctx, crstel.WithServiceName("hung-child"), crstel.WithWatchdogInterval(100*time.Millisecond))
	if err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		os.Exit(2)
	}
	ctx = crstel.WithTask(ctx, task1)
	_, span := crstel.Action(ctx, crs.PatchGeneration, "generate_patch", nil, crstel.WithOverdueAfter(500*time.Millisecond))
	fmt.Println("child: in the action; journal", tel.JournalPath())
	switch mode {
	case "hang":
		time.Sleep(time.Minute)
	case "sigterm":
		// A busy component, with generate_patch still open, until SIGTERM.
		sctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM)
		defer stop()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
	loop:
		for {
			select {
			case <-sctx.Done():
				break loop
			case <-tick.C:
				_, it := crstel.Action(ctx, crs.Fuzzing, "fuzz_iteration", nil)
				it.End()
			}
		}
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := tel.Shutdown(shutdownCtx)
		st := tel.Stats()
		fmt.Printf("child: ended=%d exported=%d lost=%d shutdown=%v\n", st.Ended, st.Exported, st.Lost(), err)
		return
	}
	span.End()
	tel.Shutdown(ctx)
}
