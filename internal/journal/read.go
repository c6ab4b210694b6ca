package journal

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"strconv"
	"time"
)

// Record is one line of a journal, as [Read] decodes it. Its JSON form is
// the journal's.
type Record struct {
	// Kind is an event's kind ("start", "end", "overdue", "stalled",
	// "abandoned", "over_budget", "cost"), or RecordHeader, RecordClose, RecordDropped or
	// RecordCorrupt.
	Kind string    `json:"kind"`
	Time time.Time `json:"time,omitzero"`
	PID  int       `json:"pid,omitempty"`

	// Header.
	Version int    `json:"version,omitempty"`
	Service string `json:"service,omitempty"`
	Host    string `json:"host,omitempty"`
	Exe     string `json:"exe,omitempty"`

	// Events: trace, span and parent span ids in hex.
	TraceID  string            `json:"trace_id,omitempty"`
	SpanID   string            `json:"span_id,omitempty"`
	ParentID string            `json:"parent_id,omitempty"`
	Category string            `json:"category,omitempty"`
	Name     string            `json:"name,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`

	// Start.
	BudgetMS    float64   `json:"budget_ms,omitempty"`
	Deadline    time.Time `json:"deadline,omitzero"`
	HeartbeatMS float64   `json:"heartbeat_ms,omitempty"`

	// End.
	Status     string  `json:"status,omitempty"`
	Error      string  `json:"error,omitempty"`
	Cancelled  bool    `json:"cancelled,omitempty"`
	DurationMS float64 `json:"duration_ms,omitempty"`
	// Cost is an action's roll-up (end), or one operation's cost (cost).
	Cost *Cost `json:"cost,omitempty"`

	// Reports (and their Error and BudgetMS).
	ElapsedMS float64 `json:"elapsed_ms,omitempty"`
	Stack     string  `json:"stack,omitempty"`

	// Dropped and corrupt.
	Count int64 `json:"count,omitempty"`
}

// UnmarshalJSON decodes a journal's line into r. It accepts times with a
// year outside 0–9999, which earlier versions wrote for deadlines far off,
// as the nearest time RFC 3339 can represent (see [ClampTime]), so that
// every Record read can be encoded again.
func (r *Record) UnmarshalJSON(b []byte) error {
	type plain Record // without this method
	aux := struct {
		*plain
		Time     wireTime `json:"time"`
		Deadline wireTime `json:"deadline"`
	}{plain: (*plain)(r), Time: wireTime{r.Time}, Deadline: wireTime{r.Deadline}}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	r.Time, r.Deadline = aux.Time.t, aux.Deadline.t
	return nil
}

// Read reads a journal's records. It tolerates a torn last line, as a
// crash mid-write leaves, by ignoring it. Lines that are not a JSON record
// with a kind (binary garbage, NUL bytes), or are longer than [MaxLine],
// are skipped; a [RecordCorrupt] record stands where they were, with their
// number and the first problem. A line longer than MaxLine is read through
// but not kept, so that memory stays bounded whatever the input. Invalid
// UTF-8 in strings becomes U+FFFD. Read returns an error only when reading
// fails, with the records read until then.
func Read(r io.Reader) ([]Record, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		recs    []Record
		buf     []byte
		lineNo  int
		corrupt Record // the run of corrupt lines since the last record
	)
	endRun := func() {
		if corrupt.Count > 0 {
			recs = append(recs, corrupt)
			corrupt = Record{}
		}
	}
	for {
		line, tooLong, err := readLine(br, buf[:0], MaxLine)
		buf = line
		if err != nil && err != io.EOF {
			endRun()
			return recs, err
		}
		complete := err == nil // a torn last line lacks its newline
		lineNo++
		var problem string
		if tooLong {
			problem = "longer than " + strconv.Itoa(MaxLine) + " bytes"
		} else if line = bytes.TrimSpace(line); len(line) > 0 {
			var rec Record
			if jerr := json.Unmarshal(line, &rec); jerr != nil {
				problem = jerr.Error()
			} else if rec.Kind == "" {
				problem = "no kind"
			} else {
				endRun()
				recs = append(recs, rec)
			}
		}
		if problem != "" && complete {
			if corrupt.Count == 0 {
				corrupt = Record{Kind: RecordCorrupt, Error: "line " + strconv.Itoa(lineNo) + ": " + problem}
			}
			corrupt.Count++
		}
		if err == io.EOF {
			endRun()
			return recs, nil
		}
	}
}

// ReadFile reads the journal at path; see [Read]. It reads what the file
// holds when it is opened: records written meanwhile are left out, and a
// file that shrinks meanwhile ends early. Anything but a regular file, or
// a symbolic link to one, is refused with an error wrapping
// [ErrNotRegular], without blocking on a FIFO.
func ReadFile(path string) ([]Record, error) {
	f, fi, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if testHookOpened != nil {
		testHookOpened(f)
	}
	// Bounded by the size: a file that grows as fast as it is read would
	// otherwise be read forever.
	return Read(io.LimitReader(f, fi.Size()))
}

// testHookOpened, set by tests, is called when ReadFile and Stat have
// opened a file, before they read it.
var testHookOpened func(*os.File)

// readLine reads one line into buf, newline included. A line longer than
// limit is consumed but not kept: tooLong is set and line is empty. err is
// nil for a line ending in a newline, io.EOF for the last line without one
// (possibly empty), or the error reading.
func readLine(br *bufio.Reader, buf []byte, limit int) (line []byte, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(buf)+len(chunk) > limit {
				tooLong, buf = true, buf[:0]
			} else {
				buf = append(buf, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		return buf, tooLong, err
	}
}
