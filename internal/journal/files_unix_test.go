//go:build unix

package journal

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crstel/crstel/internal/journal/journaltest"
)

// bound is how long a call that must not block may take: far more than it
// takes, far less than a hang.
const bound = 20 * time.Second

// within runs f, and fails the test if it takes longer than bound. Then it
// calls release until f returns: release must make f go on (by opening
// the FIFOs it waits on, or truncating the files it reads), so that no
// goroutine outlives the test.
func within(t *testing.T, release func(), f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	timer := time.NewTimer(bound)
	defer timer.Stop()
	select {
	case <-done:
		return
	case <-timer.C:
		t.Errorf("still running after %v: it blocks, or reads far too much", bound)
	}
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		release()
		select {
		case <-done:
			return
		case <-tick.C:
		}
	}
}

// unblockFIFOs opens the FIFOs at paths for writing and closes them, which
// ends a read blocked on one.
func unblockFIFOs(paths ...string) func() {
	return func() {
		for _, p := range paths {
			if fd, err := unix.Open(p, unix.O_WRONLY|unix.O_NONBLOCK, 0); err == nil {
				unix.Close(fd)
			}
		}
	}
}

// specials are the files that are not journals: each defect of this class
// is a row, with the error ReadFile and Stat return, and whether List
// lists it (as unreadable). (A link to /dev/zero, which nothing could
// release if it were read, is tried in a child process, by cmd/crstel's
// tests.)
var specials = []struct {
	kind   string
	want   error
	listed bool
}{
	{journaltest.FIFO, ErrNotRegular, false},
	{journaltest.Socket, ErrNotRegular, false},
	{journaltest.Directory, ErrNotRegular, false},
	{journaltest.LinkToNull, ErrNotRegular, false},
	{journaltest.LinkToFIFO, ErrNotRegular, false},
	{journaltest.LinkToDirectory, ErrNotRegular, false},
	{journaltest.DanglingLink, fs.ErrNotExist, false},
	{journaltest.LinkLoop, unix.ELOOP, false},
	{journaltest.Unreadable, fs.ErrPermission, true},
}

// TestReadFileNotRegular: ReadFile and Stat refuse what is not a regular
// file without blocking, and say what it is.
func TestReadFileNotRegular(t *testing.T) {
	for _, tt := range specials {
		t.Run(tt.kind, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "x.jsonl")
			if !journaltest.Make(t, tt.kind, path) {
				t.Skip("root reads any file")
			}
			release := unblockFIFOs(path)
			within(t, release, func() {
				recs, err := ReadFile(path)
				if !errors.Is(err, tt.want) || len(recs) != 0 {
					t.Errorf("ReadFile: %d records, %v; want none and %v", len(recs), err, tt.want)
				}
			})
			within(t, release, func() {
				if _, err := Stat(path); !errors.Is(err, tt.want) {
					t.Errorf("Stat: %v, want %v", err, tt.want)
				}
			})
		})
	}
}

// TestListSkipsNonJournals: List skips what is not a regular file, even
// named *.jsonl, without blocking, and lists an unreadable journal as
// such.
func TestListSkipsNonJournals(t *testing.T) {
	dir := t.TempDir()
	w := mustOpen(t, Options{Dir: dir, Service: "patcher", now: func() time.Time { return t0 }, pid: fakePID, host: "builder-1"})
	mustClose(t, w)
	var fifos []string
	want := []string{filepath.Base(w.Path()) + " " + StateExited}
	for i, s := range specials {
		name := "special-" + string(rune('a'+i)) + ".jsonl"
		path := filepath.Join(dir, name)
		if !journaltest.Make(t, s.kind, path) {
			continue
		}
		fifos = append(fifos, path)
		if s.listed {
			want = append(want, name+" "+StateUnreadable)
		}
	}
	within(t, unblockFIFOs(fifos...), func() {
		infos, err := List(dir)
		if err != nil {
			t.Errorf("List: %v", err)
			return
		}
		var got []string
		for _, i := range infos {
			got = append(got, filepath.Base(i.Path)+" "+i.State())
			if i.State() == StateUnreadable && !errors.Is(i.Err, fs.ErrPermission) {
				t.Errorf("%s: error %v, want %v", i.Path, i.Err, fs.ErrPermission)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("List: got %q, want %q", got, want)
		}
	})
}

// TestStatHugeFile: Stat and List read a few KiB of a journal, whatever
// its size and the length of its lines: here a sparse file of 1 TiB, one
// line of NUL bytes.
func TestStatHugeFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "20250301T120000-1073741824-huge.jsonl")
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, 1<<40); err != nil {
		t.Skipf("no sparse file of 1 TiB here: %v", err)
	}
	release := func() { os.Truncate(path, 0) }
	within(t, release, func() {
		info, err := Stat(path)
		if err != nil || info.Size != 1<<40 || info.Closed || info.PID != fakePID || !info.Started.Equal(t0) {
			t.Errorf("Stat = %+v, %v; want 1 TiB, not closed, pid and start time from the name", info, err)
		}
	})
	within(t, release, func() {
		if infos, err := List(dir); err != nil || len(infos) != 1 {
			t.Errorf("List = %+v, %v; want the huge journal", infos, err)
		}
	})
}

// TestRotateOntoFIFO: a FIFO put in the journal's place while it rotates
// is not opened, which would block the writer until a reader came: the
// journal ends with an error, and Close returns it at once.
func TestRotateOntoFIFO(t *testing.T) {
	opts := testOptions(t)
	opts.MaxBytes = 1024
	var fifo string
	testHookRotated = func(path string) {
		fifo = path
		if err := unix.Mkfifo(path, 0o600); err != nil {
			t.Error(err)
		}
	}
	defer func() { testHookRotated = nil }()
	w := mustOpen(t, opts)
	for i := range 50 {
		w.Write(Event{Kind: KindStart, Time: t0, Span: spanCtx(byte(i)), Category: "testing", Name: "run_test"})
	}
	release := func() { // a reader, which the writer waits for
		if fd, err := unix.Open(fifo, unix.O_RDONLY|unix.O_NONBLOCK, 0); err == nil {
			unix.Close(fd)
		}
	}
	within(t, release, func() {
		if err := w.Close(context.Background()); !errors.Is(err, fs.ErrExist) {
			t.Errorf("Close: %v, want %v", err, fs.ErrExist)
		}
	})
	if recs := mustRead(t, w.Path()+".1"); len(recs) < 2 || recs[0].Kind != RecordHeader {
		t.Errorf("the segment before the FIFO: %q, want a header and events", kinds(recs))
	}
}
