package journal

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"iter"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of [Options].
const (
	DefaultMaxBytes   = 64 << 20
	DefaultKeep       = 10
	DefaultFlushEvery = 200 * time.Millisecond
	DefaultQueue      = 65536
)

// Options configure [Open]. Zero fields take their defaults.
type Options struct {
	// Dir is the directory of the journals; the default is [DefaultDir].
	// The caller applies CRSTEL_TRACE_DIR.
	Dir string
	// Service is the service name, written in the header and in the file
	// name.
	Service string
	// MaxBytes caps the size of one journal segment; the default is
	// [DefaultMaxBytes] (64 MiB). A full segment is renamed "<name>.1",
	// replacing an older one, and a new one started. A segment may pass the
	// cap by one record, or when the open actions re-written at its top
	// ([Options.Snapshot]) fill more than half of it.
	MaxBytes int64
	// Keep is how many journals the directory keeps, the new one included;
	// the default is [DefaultKeep] (10). Journals of live processes are
	// never deleted, so there may be more.
	Keep int
	// FlushEvery bounds how long an event waits in memory before it is
	// written to the file; the default is [DefaultFlushEvery] (200 ms).
	FlushEvery time.Duration
	// Queue is how many events wait between the callers of [Writer.Write]
	// and the writer's goroutine; the default is [DefaultQueue] (65536).
	// Events that find it full are dropped and counted.
	Queue int
	// Snapshot yields the start events of the actions still open. The
	// writer calls it from its goroutine when it rotates the journal, and
	// writes the events at the top of the new segment, so that every
	// segment is self-contained. It may be nil; it must not block for long.
	Snapshot iter.Seq[Event]
	// Starts, if not nil, is called every FlushEvery from the writer's
	// goroutine, and yields the start events of the actions that started
	// since its last call and are still open; they are written then. This
	// way a busy process pays nothing for its many short actions, and every
	// action open for longer than FlushEvery is on disk. It must not block
	// for long.
	Starts iter.Seq[Event]

	// Test hooks, settable only from this package's tests.
	now  func() time.Time
	pid  int
	host string
	hold <-chan struct{} // the goroutine waits for it before its first event
}

// DefaultDir returns the default directory of the journals:
// $XDG_STATE_HOME/crstel/traces, else ~/.local/state/crstel/traces, else
// crstel/traces in the user's cache directory, else in the temporary
// directory. CRSTEL_TRACE_DIR is not read here; the caller applies it.
func DefaultDir() string {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "crstel", "traces")
	}
	if h, err := os.UserHomeDir(); err == nil && h != "" {
		return filepath.Join(h, ".local", "state", "crstel", "traces")
	}
	if c, err := os.UserCacheDir(); err == nil && c != "" {
		return filepath.Join(c, "crstel", "traces")
	}
	return filepath.Join(os.TempDir(), "crstel", "traces")
}

// Writer writes one process's journal. Its methods are safe for concurrent
// use, and are no-ops on a nil *Writer. It owns one goroutine, which
// [Writer.Close] stops.
type Writer struct {
	path string

	mu      sync.Mutex
	pending []Event       // events waiting for the goroutine
	wake    chan struct{} // signalled when pending gets its first event, or fills up

	quit    chan struct{} // closed by Close
	done    chan struct{} // closed when the goroutine has ended
	closed  atomic.Bool
	dropped atomic.Int64
	once    sync.Once

	// Owned by the goroutine; err is read by Close after done.
	opts     Options
	header   func(time.Time) []byte
	pid      []byte // `,"pid":N`
	f        *os.File
	bw       *bufio.Writer
	buf      []byte
	batch    []Event // the events being written
	size     int64   // bytes in the current segment
	baseline int64   // bytes of the segment's header and snapshot
	reported int64   // drops already reported in a dropped record
	err      error   // first I/O error
}

// Open creates the directory (with its parents) if needed, deletes the
// oldest journals so that at most opts.Keep remain with the new one, creates
// the journal "<UTC time YYYYMMDDTHHMMSS>-<pid>-<service>.jsonl", writes its
// header, and starts the writer's goroutine.
func Open(opts Options) (*Writer, error) {
	opts.Dir = cmp.Or(opts.Dir, DefaultDir())
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Keep <= 0 {
		opts.Keep = DefaultKeep
	}
	if opts.FlushEvery <= 0 {
		opts.FlushEvery = DefaultFlushEvery
	}
	if opts.Queue <= 0 {
		opts.Queue = DefaultQueue
	}
	if opts.now == nil {
		opts.now = time.Now
	}
	if opts.pid == 0 {
		opts.pid = os.Getpid()
	}
	if opts.host == "" {
		opts.host, _ = os.Hostname()
	}
	exe, _ := os.Executable()
	if exe != "" {
		exe = filepath.Base(exe)
	}

	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	prune(opts.Dir, opts.Keep-1)
	now := opts.now()
	f, err := create(opts.Dir, fileName(now, opts.pid, opts.Service))
	if err != nil {
		return nil, fmt.Errorf("journal: %w", err)
	}
	w := &Writer{
		path: f.Name(),
		wake: make(chan struct{}, 1),
		quit: make(chan struct{}),
		done: make(chan struct{}),
		opts: opts,
		f:    f,
		bw:   bufio.NewWriterSize(f, 64<<10),
		pid:  strconv.AppendInt([]byte(`,"pid":`), int64(opts.pid), 10),
	}
	w.header = func(t time.Time) []byte { return appendHeader(nil, t, opts.pid, opts.Service, opts.host, exe) }
	w.write(w.header(now))
	w.baseline = w.size
	if err := w.flush(); err != nil {
		f.Close()
		os.Remove(w.path)
		return nil, fmt.Errorf("journal: %w", err)
	}
	go w.run()
	return w, nil
}

// Path returns the path of the journal.
func (w *Writer) Path() string {
	if w == nil {
		return ""
	}
	return w.path
}

// Write hands e to the writer's goroutine. It never blocks: when the queue
// is full, or the writer is closed, the event is dropped and counted (see
// [Writer.Dropped]). Events written while Close runs may be lost.
func (w *Writer) Write(e Event) {
	if w == nil {
		return
	}
	if w.closed.Load() {
		w.dropped.Add(1)
		return
	}
	w.mu.Lock()
	n := len(w.pending)
	if n >= w.opts.Queue {
		w.mu.Unlock()
		w.dropped.Add(1)
		return
	}
	w.pending = append(w.pending, e)
	w.mu.Unlock()
	if n == 0 || n+1 == w.opts.Queue/2 {
		select {
		case w.wake <- struct{}{}:
		default:
		}
	}
}

// Dropped returns the number of events dropped so far: those that found the
// queue full or the writer closed, and those lost to a write error.
func (w *Writer) Dropped() int64 {
	if w == nil {
		return 0
	}
	return w.dropped.Load()
}

// Close writes the events still queued and a close record, flushes and
// closes the file, and stops the goroutine. It returns the first error
// writing the journal met. If ctx ends first, Close returns ctx.Err(); the
// goroutine still finishes its work and ends. Close may be called more than
// once; later calls wait in the same way and return the same error.
func (w *Writer) Close(ctx context.Context) error {
	if w == nil {
		return nil
	}
	if ctx == nil {
		ctx = context.Background()
	}
	w.once.Do(func() {
		w.closed.Store(true)
		close(w.quit)
	})
	select {
	case <-w.done:
		return w.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the writer's goroutine. It writes the pending events at most
// FlushEvery after the first of them arrived, or at once when the queue is
// half full, and flushes the file each time.
func (w *Writer) run() {
	defer close(w.done)
	if w.opts.hold != nil {
		<-w.opts.hold
	}
	timer := time.NewTimer(w.opts.FlushEvery)
	armed := true // the timer runs: something may wait to be written
	if w.opts.Starts == nil {
		timer.Stop()
		armed = false
	}
	for {
		select {
		case <-w.wake:
			w.mu.Lock()
			full := len(w.pending) >= w.opts.Queue/2
			w.mu.Unlock()
			if full {
				w.drain()
			} else if !armed {
				timer.Reset(w.opts.FlushEvery)
				armed = true
			}
		case <-timer.C:
			armed = false
			w.drain()
			if w.opts.Starts != nil {
				timer.Reset(w.opts.FlushEvery) // new actions may start at any time
				armed = true
			}
		case <-w.quit:
			timer.Stop()
			w.drain()
			w.write(appendSimple(w.buf[:0], RecordClose, w.opts.now(), w.pid, 0))
			w.flush()
			if w.f != nil {
				if err := w.f.Close(); err != nil && w.err == nil {
					w.err = err
				}
				w.f = nil
			}
			return
		}
	}
}

// drain writes the starts of the new open actions and the pending
// events, and flushes the file.
func (w *Writer) drain() {
	if w.opts.Starts != nil {
		for e := range w.opts.Starts {
			e.Kind = KindStart
			w.event(&e)
		}
	}
	w.mu.Lock()
	w.batch, w.pending = w.pending, w.batch[:0]
	w.mu.Unlock()
	for i := range w.batch {
		w.event(&w.batch[i])
	}
	clear(w.batch) // drop references to metadata and stacks
	w.noteDrops()
	w.flush()
}

// event writes the record of e, rotating first if it would overfill the
// segment.
func (w *Writer) event(e *Event) {
	w.buf = appendEvent(w.buf[:0], e, w.opts.now(), w.pid)
	if w.size+int64(len(w.buf)) > w.opts.MaxBytes && w.size-w.baseline >= w.opts.MaxBytes/2 {
		w.rotate() // uses w.buf for the header and snapshot
		w.buf = appendEvent(w.buf[:0], e, w.opts.now(), w.pid)
	}
	if !w.write(w.buf) {
		w.dropped.Add(1)
	}
}

// noteDrops writes a dropped record if events were dropped since the last
// one.
func (w *Writer) noteDrops() {
	if d := w.dropped.Load(); d > w.reported && w.err == nil {
		n := d - w.reported
		w.reported = d
		w.write(appendSimple(w.buf[:0], RecordDropped, w.opts.now(), w.pid, n))
	}
}

// write appends a record to the buffer, reporting whether it was written.
func (w *Writer) write(rec []byte) bool {
	if w.err != nil || w.bw == nil {
		return false
	}
	n, err := w.bw.Write(rec)
	w.size += int64(n)
	if err != nil {
		w.err = err
		return false
	}
	return true
}

// flush writes the buffer to the file.
func (w *Writer) flush() error {
	if w.err != nil || w.bw == nil || w.bw.Buffered() == 0 {
		return w.err
	}
	if err := w.bw.Flush(); err != nil {
		w.err = err
	}
	return w.err
}

// rotate renames the journal "<name>.1" and starts a new segment with a
// header and the snapshot. If the rename fails, writing goes on in the
// current segment.
func (w *Writer) rotate() {
	if w.flush() != nil {
		return
	}
	if err := os.Rename(w.path, w.path+".1"); err != nil {
		w.baseline = w.size // retry after another MaxBytes/2
		return
	}
	if testHookRotated != nil {
		testHookRotated(w.path)
	}
	old := w.f
	w.f, w.bw = nil, nil
	if err := old.Close(); err != nil {
		w.err = err
		return
	}
	// The name is free now. Whatever takes it meanwhile (a FIFO would block
	// the open until a reader comes) is not opened: the journal ends.
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		w.err = err
		return
	}
	w.f = f
	w.bw = bufio.NewWriterSize(f, 64<<10)
	w.size = 0
	now := w.opts.now()
	w.write(w.header(now))
	if w.opts.Snapshot != nil {
		for e := range w.opts.Snapshot {
			if e.Kind == 0 {
				e.Kind = KindStart
			}
			w.buf = appendEvent(w.buf[:0], &e, now, w.pid)
			w.write(w.buf)
		}
	}
	w.baseline = w.size
}

// testHookRotated, set by tests, is called when rotate has renamed the
// journal, before it creates the new segment.
var testHookRotated func(path string)

// fileName returns the name of a journal started at t by process pid of
// service.
func fileName(t time.Time, pid int, service string) string {
	return ClampTime(t).UTC().Format("20060102T150405") + "-" + strconv.Itoa(pid) + "-" + sanitize(service) + ".jsonl"
}

// sanitize returns service as a safe part of a file name: at most 64 bytes
// of ASCII letters, digits, '.', '_' and '-'; "unknown_service" if empty.
func sanitize(service string) string {
	var b strings.Builder
	for _, r := range service {
		if b.Len() == 64 {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		case r == '.' && b.Len() > 0:
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "unknown_service"
	}
	return b.String()
}

// parseName parses a journal's file name: its start time and pid.
func parseName(name string) (started time.Time, pid int, ok bool) {
	name = strings.TrimSuffix(name, ".1")
	if !strings.HasSuffix(name, ".jsonl") || len(name) < len("20060102T150405-1-.jsonl") || name[15] != '-' {
		return time.Time{}, 0, false
	}
	t, err := time.Parse("20060102T150405", name[:15])
	if err != nil {
		return time.Time{}, 0, false
	}
	p, _, found := strings.Cut(name[16:], "-")
	if !found {
		return time.Time{}, 0, false
	}
	pid, err = strconv.Atoi(p)
	if err != nil || pid <= 0 || p[0] == '+' {
		return time.Time{}, 0, false
	}
	return t, pid, true
}

// create creates a new journal file named name in dir, or name with "-2",
// "-3"... before its extension if taken.
func create(dir, name string) (*os.File, error) {
	base := strings.TrimSuffix(name, ".jsonl")
	for i := 1; ; i++ {
		if i > 1 {
			name = base + "-" + strconv.Itoa(i) + ".jsonl"
		}
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) && i < 100 {
			continue
		}
		return f, err
	}
}

// prune deletes the oldest journals in dir, with their rotated segments,
// until at most keep remain. It deletes only files named like journals, and
// never the journal of a live process. Errors are ignored: another process
// may prune the same directory.
func prune(dir string, keep int) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type journal struct {
		name string
		mod  time.Time
	}
	var js []journal
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".jsonl") {
			continue
		}
		if _, _, ok := parseName(e.Name()); !ok {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		js = append(js, journal{e.Name(), fi.ModTime()})
	}
	excess := len(js) - max(keep, 0)
	if excess <= 0 {
		return
	}
	slices.SortFunc(js, func(a, b journal) int {
		return cmp.Or(a.mod.Compare(b.mod), strings.Compare(a.name, b.name))
	})
	for _, j := range js {
		if excess == 0 {
			break
		}
		path := filepath.Join(dir, j.name)
		if info, err := Stat(path); err == nil && info.State() == StateLive {
			continue
		}
		os.Remove(path + ".1")
		os.Remove(path)
		excess--
	}
}
