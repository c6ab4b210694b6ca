package journal

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// States of the process that wrote a journal; see [Info.State].
const (
	// StateLive is a journal still being written: no close record, and its
	// process runs on this host.
	StateLive = "live"
	// StateExited is a journal closed cleanly.
	StateExited = "exited"
	// StateCrashed is a journal without a close record whose process is
	// gone, or runs on another host: it crashed, was killed, or hung until
	// it was killed.
	StateCrashed = "crashed"
	// StateUnreadable is a journal that could not be read, such as one of
	// another user; [Info.Err] tells why.
	StateUnreadable = "unreadable"
)

// Info describes a journal.
type Info struct {
	Path    string
	PID     int
	Service string
	Host    string
	Exe     string
	// Started is the time in the header, or in the file name without one.
	Started time.Time
	// Size is the size of the file in bytes, without rotated segments.
	Size int64
	// Modified is the time of the last write.
	Modified time.Time
	// Closed tells that the journal ends with a close record.
	Closed bool
	// Alive tells that the process runs: it ran on this host, and a
	// process with its pid exists. (A pid may have been reused.)
	Alive bool
	// Err, set only by [List], tells why the journal could not be read;
	// then only Path, Size, Modified and what the file name tells are set.
	Err error
}

// State returns [StateLive], [StateExited], [StateCrashed] or
// [StateUnreadable].
func (i Info) State() string {
	switch {
	case i.Err != nil:
		return StateUnreadable
	case i.Closed:
		return StateExited
	case i.Alive:
		return StateLive
	}
	return StateCrashed
}

// headSize and tailSize are how much of the start and the end of a
// journal [Stat] reads to find its header and its last record: a header is
// at most a few KiB, and a close record is short. maxHeader bounds a
// header that the first read does not hold.
const (
	headSize  = 4 << 10
	tailSize  = 4 << 10
	maxHeader = 64 << 10
)

// Stat describes the journal at path from its file information, its first
// line (the header) and its last line. It reads at most 68 KiB, whatever
// the size of the file and of its lines. Anything but a regular file, or a
// symbolic link to one, is refused with an error wrapping [ErrNotRegular],
// without blocking on a FIFO.
func Stat(path string) (Info, error) {
	host, _ := os.Hostname()
	return stat(path, host)
}

// stat is Stat, with the name of this host.
func stat(path, host string) (Info, error) {
	f, fi, err := openRegular(path)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	if testHookOpened != nil {
		testHookOpened(f)
	}
	info := Info{Path: path, Size: fi.Size(), Modified: fi.ModTime()}

	if h, ok := readHeader(f, info.Size); ok {
		info.PID, info.Service, info.Host, info.Exe, info.Started = h.PID, h.Service, h.Host, h.Exe, h.Time
	}
	if info.PID == 0 || info.Started.IsZero() {
		if t, pid, ok := parseName(filepath.Base(path)); ok {
			info.PID = cmp.Or(info.PID, pid)
			if info.Started.IsZero() {
				info.Started = t
			}
		}
	}
	info.Closed = readClosed(f, info.Size)
	info.Alive = (info.Host == "" || info.Host == host) && processAlive(info.PID)
	return info, nil
}

// readHeader reads the header of the journal f, of size bytes: its first
// line, if it is a header record of at most maxHeader bytes.
func readHeader(f io.ReaderAt, size int64) (Record, bool) {
	head := make([]byte, min(size, headSize))
	n, _ := f.ReadAt(head, 0) // a file truncated meanwhile is shorter
	head = head[:n]
	i := bytes.IndexByte(head, '\n')
	if i < 0 && n == headSize && size > headSize {
		// A long header: read on, up to maxHeader.
		more := make([]byte, min(size, maxHeader)-headSize)
		m, _ := f.ReadAt(more, headSize)
		head = append(head, more[:m]...)
		i = bytes.IndexByte(head, '\n')
	}
	if i < 0 {
		return Record{}, false
	}
	var h Record
	if json.Unmarshal(head[:i], &h) != nil || h.Kind != RecordHeader {
		return Record{}, false
	}
	return h, true
}

// readClosed tells whether the journal f, of size bytes, ends with a
// complete close record.
func readClosed(f io.ReaderAt, size int64) bool {
	off := max(size-tailSize, 0)
	tail := make([]byte, size-off)
	n, err := f.ReadAt(tail, off)
	if err != nil && err != io.EOF {
		return false
	}
	// A record is complete when its newline is written.
	last, ok := bytes.CutSuffix(tail[:n], []byte("\n"))
	if !ok {
		return false
	}
	if i := bytes.LastIndexByte(last, '\n'); i >= 0 {
		last = last[i+1:]
	}
	var r Record
	return json.Unmarshal(last, &r) == nil && r.Kind == RecordClose
}

// List returns the journals in dir (the files named *.jsonl), newest
// first by start time. It skips what is not a regular file, as the writer
// does when it prunes the directory: directories, named pipes, sockets,
// devices, and symbolic links to them or to nothing. It lists a journal
// that cannot be read, such as another user's, with its error in
// [Info.Err]. It reads at most 68 KiB of each journal (see [Stat]).
func List(dir string) ([]Info, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	host, _ := os.Hostname()
	var out []Info
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".jsonl") || !e.Type().IsRegular() && e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		path := filepath.Join(dir, e.Name())
		info, err := stat(path, host)
		switch {
		case err == nil:
		case errors.Is(err, ErrNotRegular), errors.Is(err, fs.ErrNotExist):
			continue // not a journal, or deleted meanwhile
		case e.Type()&fs.ModeSymlink != 0 && !errors.Is(err, fs.ErrPermission):
			continue // a loop, or a path through a file: not to a journal
		default:
			info = Info{Path: path, Err: err}
			if fi, err := os.Stat(path); err == nil {
				info.Size, info.Modified = fi.Size(), fi.ModTime()
			}
			info.Started, info.PID, _ = parseName(e.Name())
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b Info) int {
		return cmp.Or(b.Started.Compare(a.Started), b.Modified.Compare(a.Modified), strings.Compare(b.Path, a.Path))
	})
	return out, nil
}
