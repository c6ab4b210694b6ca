package watchdog

import (
	"strings"
	"testing"
	"time"
)

// TestReasonNeverNegative: a heartbeat that lands between a check and its
// report, or a clock read out of order, never makes a reason read a
// negative duration.
func TestReasonNeverNegative(t *testing.T) {
	w := &Watchdog{epoch: time.Now()}
	a := &Action{w: w, Heartbeat: time.Second, Budget: time.Minute}
	now := w.epoch.Add(10 * time.Second)
	a.start = int64(20 * time.Second) // started "after" now
	a.lastBeat.Store(int64(30 * time.Second))
	for _, state := range []State{Stalled, Overdue, Abandoned} {
		got := reason(a, state, now.Sub(a.Start()), now)
		if strings.Contains(got, "-") {
			t.Errorf("reason(%s) = %q, want no negative duration", state, got)
		}
	}
}
