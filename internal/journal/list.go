package journal

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"io"
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
}

// State returns [StateLive], [StateExited] or [StateCrashed].
func (i Info) State() string {
	switch {
	case i.Closed:
		return StateExited
	case i.Alive:
		return StateLive
	}
	return StateCrashed
}

// tailSize is how much of the end of a journal [Stat] reads to find its
// last record. A close record is short.
const tailSize = 4 << 10

// Stat describes the journal at path from its file information, its first
// line (the header) and its last line.
func Stat(path string) (Info, error) {
	f, err := os.Open(path)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return Info{}, err
	}
	info := Info{Path: path, Size: fi.Size(), Modified: fi.ModTime()}

	line, tooLong, err := readLine(bufio.NewReaderSize(f, tailSize), nil, 64<<10)
	if err == nil && !tooLong {
		var h Record
		if json.Unmarshal(line, &h) == nil && h.Kind == RecordHeader {
			info.PID, info.Service, info.Host, info.Exe, info.Started = h.PID, h.Service, h.Host, h.Exe, h.Time
		}
	}
	if info.PID == 0 || info.Started.IsZero() {
		if t, pid, ok := parseName(filepath.Base(path)); ok {
			info.PID = cmp.Or(info.PID, pid)
			if info.Started.IsZero() {
				info.Started = t
			}
		}
	}

	off := max(info.Size-tailSize, 0)
	tail := make([]byte, info.Size-off)
	if n, err := f.ReadAt(tail, off); err == nil || err == io.EOF {
		tail = tail[:n]
		// A record is complete when its newline is written.
		if last, ok := bytes.CutSuffix(tail, []byte("\n")); ok {
			if i := bytes.LastIndexByte(last, '\n'); i >= 0 {
				last = last[i+1:]
			}
			var r Record
			info.Closed = json.Unmarshal(last, &r) == nil && r.Kind == RecordClose
		}
	}

	host, _ := os.Hostname()
	info.Alive = (info.Host == "" || info.Host == host) && processAlive(info.PID)
	return info, nil
}

// List returns the journals in dir (the files named *.jsonl), newest
// first by start time.
func List(dir string) ([]Info, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []Info
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".jsonl") {
			continue
		}
		info, err := Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // deleted meanwhile, or unreadable
		}
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b Info) int {
		return cmp.Or(b.Started.Compare(a.Started), b.Modified.Compare(a.Modified), strings.Compare(b.Path, a.Path))
	})
	return out, nil
}
