package audit

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/crstel/crstel/internal/journal"
)

// Defaults of [Options].
const (
	DefaultMaxBytes  = 16 << 20
	DefaultSyncEvery = 200 * time.Millisecond
)

// ClosedEvent is the event of the record [Writer.Close] ends a chain with.
const ClosedEvent = "audit.closed"

// Record is one line of a trail. Seq and Prev are set by [Writer.Append].
type Record struct {
	Seq     uint64 `json:"seq"`
	Prev    string `json:"prev"`
	Time    string `json:"time"` // RFC 3339, nanoseconds, UTC
	Event   string `json:"event"`
	Service string `json:"service,omitempty"`
	PID     int    `json:"pid,omitempty"`
	Host    string `json:"host,omitempty"`
	TraceID string `json:"trace_id,omitempty"`
	SpanID  string `json:"span_id,omitempty"`
	// Category and Action are those of the enclosing action, if any.
	Category string            `json:"category,omitempty"`
	Action   string            `json:"action,omitempty"`
	Task     map[string]string `json:"task,omitempty"`
	// Status is "ok" or "error" for an action's outcome, with its
	// description in StatusMessage.
	Status        string         `json:"status,omitempty"`
	StatusMessage string         `json:"status_message,omitempty"`
	Attrs         map[string]any `json:"attrs,omitempty"`
}

// Options configure a [Writer]. Zero fields take the defaults.
type Options struct {
	// MaxBytes bounds a file's size: the file is rotated before a line
	// that would pass it (a longer line gets a file of its own).
	MaxBytes int64
	// SyncEvery is the longest a written line waits to be synced.
	SyncEvery time.Duration
	// Now returns the time of the file names; time.Now if nil.
	Now func() time.Time
}

// Writer appends records to one chain. Its methods are safe for
// concurrent use. It owns one goroutine, which [Writer.Close] ends.
type Writer struct {
	dir, base string
	max       int64

	mu     sync.Mutex
	f      *os.File
	n      int   // the number of the file f
	size   int64 // of f
	seq    uint64
	prev   string
	dirty  bool
	closed bool
	err    error // the first write or sync error, sticky

	stop chan struct{}
	done chan struct{}
}

// Open creates dir if needed and the chain's first file in it, and starts
// the goroutine that syncs it.
func Open(dir string, opts Options) (*Writer, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	every := opts.SyncEvery
	if every <= 0 {
		every = DefaultSyncEvery
	}
	w := &Writer{
		dir:  dir,
		base: fmt.Sprintf("audit-%s-%d", now().UTC().Format("20060102T150405.000000000Z"), os.Getpid()),
		max:  opts.MaxBytes,
		stop: make(chan struct{}),
		done: make(chan struct{}),
	}
	w.base = stripDot(w.base)
	if w.max <= 0 {
		w.max = DefaultMaxBytes
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	f, err := w.create(0)
	if err != nil {
		return nil, err
	}
	w.f = f
	go w.syncLoop(every)
	return w, nil
}

func stripDot(s string) string {
	b := []byte(s)
	out := b[:0]
	for _, c := range b {
		if c != '.' {
			out = append(out, c)
		}
	}
	return string(out)
}

// FileName returns the name of file n of the chain whose base is base.
func FileName(base string, n int) string { return fmt.Sprintf("%s-%04d.jsonl", base, n) }

func (w *Writer) create(n int) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(w.dir, FileName(w.base, n)), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return f, nil
}

// Path returns the path of the file being written.
func (w *Writer) Path() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return filepath.Join(w.dir, FileName(w.base, w.n))
}

// Dir returns the directory of the trail.
func (w *Writer) Dir() string { return w.dir }

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("audit: the trail is closed")

// Append sets r's Seq and Prev and writes it as the next line, with one
// write call; the line is synced within the writer's SyncEvery. It returns
// an error if the record could not be written; later records then fail
// too, as the chain would have a hole.
func (w *Writer) Append(r *Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ErrClosed
	}
	return w.appendLocked(r)
}

func (w *Writer) appendLocked(r *Record) error {
	if w.err != nil {
		return w.err
	}
	r.Seq, r.Prev = w.seq, w.prev
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("audit: encoding the record of %q: %w", r.Event, err)
	}
	line = append(line, '\n')
	if w.size > 0 && w.size+int64(len(line)) > w.max {
		if err := w.rotate(); err != nil {
			w.err = err
			return err
		}
	}
	if _, err := w.f.Write(line); err != nil {
		w.err = fmt.Errorf("audit: %w", err)
		return w.err
	}
	sum := sha256.Sum256(line[:len(line)-1])
	w.prev = hex.EncodeToString(sum[:])
	w.seq++
	w.size += int64(len(line))
	w.dirty = true
	return nil
}

// rotate syncs and closes the file and opens the next one.
func (w *Writer) rotate() error {
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if err := w.f.Close(); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	f, err := w.create(w.n + 1)
	if err != nil {
		return err
	}
	w.f, w.n, w.size, w.dirty = f, w.n+1, 0, false
	return nil
}

// Pending reports whether lines were written since the last sync.
func (w *Writer) Pending() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.dirty
}

// Sync syncs what was written.
func (w *Writer) Sync() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.syncLocked()
}

func (w *Writer) syncLocked() error {
	if !w.dirty || w.f == nil {
		return nil
	}
	if err := w.f.Sync(); err != nil {
		if w.err == nil {
			w.err = fmt.Errorf("audit: %w", err)
		}
		return w.err
	}
	w.dirty = false
	return nil
}

func (w *Writer) syncLoop(every time.Duration) {
	defer close(w.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
			w.Sync()
		}
	}
}

// Close ends the chain with an [ClosedEvent] record (at time now), syncs
// and closes the file, and ends the goroutine. Later calls return nil.
func (w *Writer) Close(now time.Time) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	close(w.stop)
	err := w.appendLocked(&Record{Time: now.UTC().Format(time.RFC3339Nano), Event: ClosedEvent, PID: os.Getpid()})
	err = errors.Join(err, w.syncLocked())
	if cerr := w.f.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("audit: %w", cerr))
	}
	w.mu.Unlock()
	<-w.done
	return err
}

// DefaultDir returns the default directory of the audit trail: audit
// beside the journals' default directory (journal.DefaultDir), such as
// ~/.local/state/crstel/audit. CRSTEL_AUDIT_DIR is not read here; the
// caller applies it.
func DefaultDir() string { return filepath.Join(filepath.Dir(journal.DefaultDir()), "audit") }
