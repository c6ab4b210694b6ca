package fuzz

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel"

	"github.com/crstel/crstel/internal/violation"
)

// Defaults of a [Watcher].
const (
	// DefaultInterval is how often a polling Watcher looks at its
	// directory; see WithInterval.
	DefaultInterval = 5 * time.Second
	// DefaultFullSnapshotEvery is how many updates apart a Watcher records
	// full snapshots; see WithFullSnapshotEvery.
	DefaultFullSnapshotEvery = 10
	// DefaultCoalesce is how long a Watcher with MethodOnChange gathers
	// changes into one update; see WithCoalesce.
	DefaultCoalesce = time.Second
)

// racyWindow is how recent a directory's modification time may be for a
// listing not to be trusted: a file added just after the listing, within
// the file system's timestamp granularity (jiffies on Linux, up to 2 s on
// FAT), leaves the time unchanged.
const racyWindow = 2 * time.Second

// Watcher watches a fuzzer's corpus directory and records each update with
// [Record]: the number of inputs (files), the names of those added, and
// every so often a full snapshot listing them all.
//
// It suits any fuzzer that keeps its corpus as one file per input in one
// directory. For libFuzzer, watch the corpus directory given on its command
// line (the first one, where it writes new inputs). For AFL++, watch the
// queue of the fuzzer instance: <output dir>/default/queue, or
// <output dir>/<name>/queue for an instance started with -M or -S <name>.
// Dotfiles (temporary files, AFL++'s .state) and subdirectories are not
// inputs.
//
// A Watcher looks at the directory every [DefaultInterval] (see
// [WithInterval]) and records updates with method [MethodPeriodic]; with
// WithMethod([MethodOnChange]), it is told of changes by the kernel on
// Linux (inotify) and records them with method MethodOnChange. It reads only the names of
// the files, never their content or their metadata, and only when the
// directory changed, so that a corpus of 100,000 inputs costs one stat(2)
// per interval while the fuzzer finds nothing new.
//
// A Watcher is not safe for concurrent use, but its Run may be called again
// after it returned: it goes on from what it knew.
type Watcher struct {
	dir string
	cfg watcherConfig

	running  atomic.Bool
	c        *corpus
	buf      []byte      // listing buffer
	last     os.FileInfo // the directory when last listed, nil to list it anyway
	updates  int         // updates recorded
	listings int         // listings of the directory made, for tests
	lastErr  string      // the last error reported, not to repeat it each interval
}

// WatcherOption configures a [Watcher]. Every [Option] of [Record] is a
// WatcherOption too, and configures the Watcher's records.
type WatcherOption interface{ applyWatcher(*watcherConfig) }

type watcherConfig struct {
	record    config
	interval  time.Duration
	fullEvery int
	method    Method
	coalesce  time.Duration
	onUpdate  func(CorpusUpdate)
}

type watcherOptionFunc func(*watcherConfig)

func (f watcherOptionFunc) applyWatcher(c *watcherConfig) { f(c) }

// WithInterval sets how often the Watcher looks at its directory when it
// polls: always, unless WithMethod([MethodOnChange]) is given and inotify
// works. The
// default is [DefaultInterval]; d <= 0 is ignored.
func WithInterval(d time.Duration) WatcherOption {
	return watcherOptionFunc(func(c *watcherConfig) {
		if d > 0 {
			c.interval = d
		}
	})
}

// WithFullSnapshotEvery makes every n-th update, starting with the first, a
// full snapshot: FullSnapshot is true and Additions lists every input,
// those added since the previous update first, then the others, oldest
// first, capped as any Additions (see [WithMaxAdditions]). n == 0 turns
// full snapshots off. The default is [DefaultFullSnapshotEvery]; a negative
// n is ignored.
func WithFullSnapshotEvery(n int) WatcherOption {
	return watcherOptionFunc(func(c *watcherConfig) {
		if n >= 0 {
			c.fullEvery = n
		}
	})
}

// WithMethod sets how the Watcher finds the updates of the corpus, and so
// the method it records them with. [MethodPeriodic], the default, looks at
// the directory every interval ([WithInterval]). [MethodOnChange] records
// updates as the corpus changes, gathering changes for [WithCoalesce]'s
// duration into one update, so that a fuzzer finding many inputs at once
// does not make a span for each. It works on Linux, with inotify;
// elsewhere, or where inotify fails (such as when the system's limit of
// watches is reached, reported through otel.Handle), the Watcher polls, as
// with MethodPeriodic, and records updates with method MethodPeriodic,
// since that is how it found them. Another method is ignored (the Watcher
// polls) and reported through otel.Handle, or panics in strict mode
// (crstel.WithStrict, CRSTEL_STRICT=1).
func WithMethod(m Method) WatcherOption {
	return watcherOptionFunc(func(c *watcherConfig) {
		switch m {
		case MethodPeriodic, MethodOnChange:
			c.method = m
		default:
			violation.Report(context.Background(), fmt.Errorf("fuzz.WithMethod: method %s is unknown, want %q or %q; the Watcher polls",
				violation.Quote(string(m)), MethodPeriodic, MethodOnChange))
		}
	})
}

// WithCoalesce sets how long a Watcher with [MethodOnChange] waits after a
// change before recording it, gathering the changes that follow into the
// same update. The default is [DefaultCoalesce]; d <= 0 is ignored.
func WithCoalesce(d time.Duration) WatcherOption {
	return watcherOptionFunc(func(c *watcherConfig) {
		if d > 0 {
			c.coalesce = d
		}
	})
}

// WithOnUpdate makes the Watcher call f with each update, after recording
// it, in Run's goroutine. f gets every name: Additions is not capped. The
// default is no callback; a nil f is ignored.
func WithOnUpdate(f func(CorpusUpdate)) WatcherOption {
	return watcherOptionFunc(func(c *watcherConfig) {
		if f != nil {
			c.onUpdate = f
		}
	})
}

// NewWatcher returns a Watcher of the corpus directory dir. It does not
// look at dir until Run.
func NewWatcher(dir string, opts ...WatcherOption) *Watcher {
	cfg := watcherConfig{
		record:    defaultConfig,
		method:    MethodPeriodic,
		interval:  DefaultInterval,
		fullEvery: DefaultFullSnapshotEvery,
		coalesce:  DefaultCoalesce,
	}
	for _, o := range opts {
		if o != nil {
			o.applyWatcher(&cfg)
		}
	}
	return &Watcher{dir: dir, cfg: cfg, c: newCorpus()}
}

// Dir returns the directory the Watcher watches.
func (w *Watcher) Dir() string { return w.dir }

// errRunning is returned by a Run called while another runs.
var errRunning = errors.New("fuzz: Watcher.Run called while it is running")

// errNilContext is returned by Run(nil): it could never stop.
var errNilContext = errors.New("fuzz: Watcher.Run: nil context")

// errUnsupported tells that the system has no inotify.
var errUnsupported = errors.New("fuzz: watching for changes is not supported here")

// errGone tells that the directory is missing or went away.
var errGone = errors.New("fuzz: corpus directory is gone")

// Run watches the directory until ctx is done, recording updates as
// children of the current span of ctx: call it with the context of the
// fuzzing action (see [Record]).
//
// Run first lists the directory and records the whole corpus as the first
// update (a full snapshot unless WithFullSnapshotEvery(0)), even if it is
// empty. After that, it records an update only when inputs were added or
// removed. When ctx is done, Run lists the directory a last time, records
// what changed since the previous update, and returns nil; it leaves no
// goroutine behind.
//
// A directory that cannot be read, such as one the fuzzer has not yet
// created, does not stop Run: the error goes to otel.Handle (once, not at
// every interval) and Run tries again at the next interval. Run returns an
// error, at once, if ctx is nil or if it is called while it is already
// running.
func (w *Watcher) Run(ctx context.Context) error {
	if ctx == nil {
		return errNilContext
	}
	if !w.running.CompareAndSwap(false, true) {
		return errRunning
	}
	defer w.running.Store(false)
	if w.cfg.method == MethodOnChange {
		err := w.watchChanges(ctx)
		if ctx.Err() != nil {
			w.stop(ctx, MethodOnChange)
			return nil
		}
		if !errors.Is(err, errUnsupported) {
			w.report(fmt.Errorf("fuzz: watching %s for changes failed, polling it every %v instead: %w", w.dir, w.cfg.interval, err))
		}
		w.last = nil
	}
	w.scan(ctx, MethodPeriodic, false)
	tick := time.NewTicker(w.cfg.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			w.stop(ctx, MethodPeriodic)
			return nil
		case <-tick.C:
			w.scan(ctx, MethodPeriodic, false)
		}
	}
}

// stop lists the directory a last time as Run stops, and records what
// changed, with ctx's values but not its cancellation.
func (w *Watcher) stop(ctx context.Context, method Method) {
	w.scan(context.WithoutCancel(ctx), method, true)
}

// watchChanges watches the directory with inotify until ctx is done, or
// until inotify fails; while the directory is missing, it tries again
// every interval.
func (w *Watcher) watchChanges(ctx context.Context) error {
	for {
		err := w.watchOnce(ctx)
		if ctx.Err() != nil || !errors.Is(err, errGone) {
			return err
		}
		t := time.NewTimer(w.cfg.interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// scan lists the directory, unless it did not change since the last
// listing, and records what changed. force lists it anyway.
func (w *Watcher) scan(ctx context.Context, method Method, force bool) {
	info, err := os.Stat(w.dir)
	if err != nil {
		w.report(fmt.Errorf("fuzz: corpus directory: %w", err))
		return
	}
	if !force && w.unchanged(info) {
		return
	}
	now := time.Now()
	w.listings++
	if err := w.c.list(w.dir, &w.buf); err != nil {
		w.last = nil
		w.report(fmt.Errorf("fuzz: corpus directory: %w", err))
		return
	}
	w.lastErr = ""
	// A change within the timestamp granularity after the listing would
	// leave the modification time as it is: trust only an older one.
	if now.Sub(info.ModTime()) > racyWindow {
		w.last = info
	} else {
		w.last = nil
	}
	w.flush(ctx, method, now)
}

// unchanged reports whether the directory is the one last listed, with the
// same modification time and size: no file was added, removed or renamed.
func (w *Watcher) unchanged(info os.FileInfo) bool {
	return w.last != nil && os.SameFile(w.last, info) &&
		w.last.ModTime().Equal(info.ModTime()) && w.last.Size() == info.Size()
}

// flush records an update if the corpus changed since the last one, or if
// none was recorded yet.
func (w *Watcher) flush(ctx context.Context, method Method, now time.Time) {
	if w.updates > 0 && !w.c.changed() {
		return
	}
	added := w.c.additions()
	u := CorpusUpdate{Method: method, Time: now, Size: w.c.live, Additions: added}
	omitted := 0
	if n := w.cfg.fullEvery; n > 0 && w.updates%n == 0 {
		u.FullSnapshot = true
		limit := w.c.live
		if w.cfg.onUpdate == nil {
			limit = min(limit, w.cfg.record.maxAdditions)
		}
		u.Additions = w.c.snapshot(added, limit)
		omitted = w.c.live - len(u.Additions)
	}
	record(ctx, u, omitted, &w.cfg.record)
	w.updates++
	w.c.updated()
	if w.cfg.onUpdate != nil {
		w.cfg.onUpdate(u)
	}
}

// report hands err to otel.Handle unless it is the one reported last.
func (w *Watcher) report(err error) {
	if msg := err.Error(); msg != w.lastErr {
		w.lastErr = msg
		otel.Handle(err)
	}
}
