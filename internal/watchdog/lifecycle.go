package watchdog

import (
	"cmp"
	"slices"
	"time"
)

// DefaultLifecycleMax is the most open actions that get lifecycle
// heartbeats at once unless Lifecycle.Max says otherwise.
const DefaultLifecycleMax = 1000

// Lifecycle says which open actions get lifecycle records (see package
// lifecycle), and when: an action still open Interval after its start gets
// a heartbeat then, and every Interval after, as long as it is open, and
// an ended record when it ends. Actions that end before Interval get
// nothing, and cost nothing more: they never reach the heap. The records
// are due on the watchdog's check (Config.Interval), so they come at most
// one check interval late; all those of a check are handed to Emit at
// once. No goroutine or timer is made per action.
type Lifecycle struct {
	// Interval is the initial delay and the interval of heartbeats; 0
	// turns lifecycle records off.
	Interval time.Duration
	// Max is the most open actions with heartbeats at once; default
	// DefaultLifecycleMax. An action keeps its heartbeats until it ends;
	// a freed place goes to the oldest of the actions whose heartbeat is
	// due at a check, so that those with heartbeats are the oldest open
	// ones, within an interval. The others are counted in
	// LifecycleBatch.Omitted.
	Max int
	// Emit is called on the watchdog's goroutine, at each check with
	// records to make, and once at Shutdown with the last ended records;
	// nil turns lifecycle records off.
	Emit func(LifecycleBatch)
}

// LifecycleBatch is the lifecycle records of one check.
type LifecycleBatch struct {
	// Now is the time of the check.
	Now time.Time
	// Heartbeats are the actions open at the check whose heartbeat is
	// due, oldest first. One may have ended since: its heartbeat comes
	// first, then its ended record, in this batch or the next.
	Heartbeats []*Action
	// Ended are the actions that had a heartbeat and ended since the last
	// batch.
	Ended []*Action
	// Omitted, if not 0, is the number of open actions past the initial
	// delay without heartbeats, because Max others have them. It is set
	// on the checks that left out an action whose heartbeat was due.
	Omitted int
}

// lifecycleState says whether an action gets lifecycle heartbeats.
type lifecycleState uint8

const (
	lcNone    lifecycleState = iota // not past the delay, or off
	lcActive                        // gets heartbeats, and an ended record
	lcOmitted                       // past the delay, left out by the cap
	lcRemoved                       // ended
)

// chooseBeats returns those of due, the actions whose heartbeat is due,
// that get one: those that had one before, and the oldest of the others
// while fewer than Max actions have heartbeats; oldest first. It reports
// whether it left some out. Called with mu held.
func (w *Watchdog) chooseBeats(due []*Action) (beats []*Action, omitted bool) {
	slices.SortFunc(due, func(a, b *Action) int { return cmp.Compare(a.start, b.start) })
	beats = due[:0]
	for _, a := range due {
		switch {
		case a.lc == lcActive:
		case w.lcActive < w.cfg.Lifecycle.Max:
			if a.lc == lcOmitted {
				w.lcOmitted--
			}
			a.lc = lcActive
			w.lcActive++
		default:
			if a.lc != lcOmitted {
				a.lc = lcOmitted
				w.lcOmitted++
			}
			omitted = true
			continue
		}
		beats = append(beats, a)
	}
	return beats, omitted
}

// lifecycleEnded takes a, removed, out of the lifecycle counts, and keeps
// it for its ended record if it had heartbeats. Called with mu held.
func (w *Watchdog) lifecycleEnded(a *Action) {
	switch a.lc {
	case lcActive:
		w.lcActive--
		if !w.lcDone {
			w.lcEnded = append(w.lcEnded, a)
		}
	case lcOmitted:
		w.lcOmitted--
	}
	a.lc = lcRemoved
}

// emitLifecycle hands the records of a check at now to Lifecycle.Emit:
// the heartbeats of beats, those still open, and the ended records since
// the last call; omitted tells that the check left some out.
func (w *Watchdog) emitLifecycle(now time.Time, beats []*Action, omitted bool) {
	if w.cfg.Lifecycle.Interval <= 0 {
		return
	}
	// Each action chosen was open at the check: it has its heartbeat,
	// even if it ends meanwhile, so that no ended record comes without one.
	// One whose span ended without Remove is forgotten, which makes its
	// ended record, after the heartbeat.
	for _, a := range beats {
		if a.Owner.Ended() {
			w.forget(a)
		}
	}
	b := LifecycleBatch{Now: now, Heartbeats: beats}
	w.mu.Lock()
	b.Ended, w.lcEnded = w.lcEnded, nil
	if omitted {
		b.Omitted = w.lcOmitted
	}
	w.mu.Unlock()
	if len(b.Heartbeats) > 0 || len(b.Ended) > 0 || b.Omitted > 0 {
		w.cfg.Lifecycle.Emit(b)
	}
}

// flushLifecycle emits the last ended records, at Shutdown; later ends
// make none.
func (w *Watchdog) flushLifecycle() {
	w.emitLifecycle(time.Now(), nil, false)
	w.mu.Lock()
	w.lcDone = true
	w.lcEnded = nil
	w.mu.Unlock()
}
