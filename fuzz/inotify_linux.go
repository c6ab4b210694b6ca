package fuzz

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// watchMask is what inotify tells of the directory: names added and
// removed, and the directory itself going away.
const watchMask = unix.IN_CREATE | unix.IN_MOVED_TO | unix.IN_DELETE | unix.IN_MOVED_FROM |
	unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR

// inotifyInit1 is unix.InotifyInit1; tests make it fail.
var inotifyInit1 = unix.InotifyInit1

// inotifyEvent is an event of interest: mask and the name it is about.
type inotifyEvent struct {
	mask uint32
	name string
}

// watchOnce watches the directory with inotify until ctx is done (it
// returns nil), the directory is missing or goes away (errGone), or
// inotify fails.
func (w *Watcher) watchOnce(ctx context.Context) error {
	fd, err := inotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return os.NewSyscallError("inotify_init1", err)
	}
	// Non-blocking, so that the file is read through the runtime's poller
	// and Close wakes a blocked Read.
	f := os.NewFile(uintptr(fd), "inotify")
	if _, err := unix.InotifyAddWatch(fd, w.dir, watchMask); err != nil {
		f.Close()
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			w.report(fmt.Errorf("fuzz: corpus directory: %w", &os.PathError{Op: "inotify_add_watch", Path: w.dir, Err: err}))
			return errGone
		}
		return &os.PathError{Op: "inotify_add_watch", Path: w.dir, Err: err}
	}

	events := make(chan []inotifyEvent)
	readErr := make(chan error, 1)
	done := make(chan struct{})
	exited := make(chan struct{})
	go func() {
		defer close(exited)
		readEvents(f, events, done, readErr)
	}()
	defer func() {
		close(done)
		f.Close() // wakes the reader
		<-exited
	}()

	// The watch is in place before the listing, so that no change falls
	// between the two; changes the listing saw already are no-ops.
	w.scan(ctx, MethodOnChange, true)

	var (
		timer   *time.Timer
		due     <-chan time.Time
		rescan  bool
		changed time.Time
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-readErr:
			return err
		case evs := <-events:
			overflow, gone := w.apply(evs)
			if gone {
				w.flush(ctx, MethodOnChange, time.Now())
				w.report(fmt.Errorf("fuzz: corpus directory %s was removed or moved", w.dir))
				return errGone
			}
			rescan = rescan || overflow
			changed = time.Now()
			if due == nil && (rescan || w.c.changed()) {
				timer = time.NewTimer(w.cfg.coalesce)
				due = timer.C
			}
		case <-due:
			due = nil
			if rescan {
				rescan = false
				w.scan(ctx, MethodOnChange, true)
			} else {
				w.flush(ctx, MethodOnChange, changed)
			}
		}
	}
}

// apply applies inotify events to the corpus. overflow tells that events
// were lost, so that the directory must be listed; gone that it was removed
// or moved, and is no longer watched.
func (w *Watcher) apply(evs []inotifyEvent) (overflow, gone bool) {
	for _, e := range evs {
		switch {
		case e.mask&unix.IN_Q_OVERFLOW != 0:
			overflow = true
		case e.mask&(unix.IN_IGNORED|unix.IN_DELETE_SELF|unix.IN_MOVE_SELF|unix.IN_UNMOUNT) != 0:
			return overflow, true
		case e.mask&unix.IN_ISDIR != 0 || ignored(e.name):
		case e.mask&(unix.IN_CREATE|unix.IN_MOVED_TO) != 0:
			w.c.add(e.name)
		case e.mask&(unix.IN_DELETE|unix.IN_MOVED_FROM) != 0:
			w.c.remove(e.name)
		}
	}
	return overflow, false
}

// inotifyBufSize holds many events; it must hold at least one with the
// longest name (16 + NAME_MAX + 1 bytes).
const inotifyBufSize = 64 << 10

// readEvents reads f's events and sends them on out until f is closed or
// done is closed. A read error other than f's closing goes to errc.
func readEvents(f *os.File, out chan<- []inotifyEvent, done <-chan struct{}, errc chan<- error) {
	buf := make([]byte, inotifyBufSize)
	for {
		n, err := f.Read(buf)
		if err != nil {
			select {
			case <-done:
			default:
				errc <- os.NewSyscallError("read inotify", err)
			}
			return
		}
		evs := parseEvents(buf[:n])
		if len(evs) == 0 {
			continue
		}
		select {
		case out <- evs:
		case <-done:
			return
		}
	}
}

// parseEvents parses struct inotify_event records: wd, mask, cookie, len
// (4 bytes each), then len bytes of NUL-padded name.
func parseEvents(b []byte) []inotifyEvent {
	var evs []inotifyEvent
	for len(b) >= unix.SizeofInotifyEvent {
		mask := binary.NativeEndian.Uint32(b[4:])
		n := int(binary.NativeEndian.Uint32(b[12:]))
		end := unix.SizeofInotifyEvent + n
		if end > len(b) {
			break // cannot happen: the kernel writes whole events
		}
		name := b[unix.SizeofInotifyEvent:end]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		b = b[end:]
		const self = unix.IN_Q_OVERFLOW | unix.IN_IGNORED | unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_UNMOUNT
		if mask&self == 0 && (mask&unix.IN_ISDIR != 0 || ignored(name)) {
			continue
		}
		evs = append(evs, inotifyEvent{mask: mask, name: string(name)})
	}
	return evs
}
