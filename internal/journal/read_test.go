package journal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
)

const (
	header = `{"kind":"header","version":1,"time":"2025-03-01T12:00:00Z","pid":7,"service":"patcher"}`
	start  = `{"kind":"start","time":"2025-03-01T12:00:01Z","pid":7,"span_id":"00f067aa0ba90201","name":"generate_patch"}`
	end    = `{"kind":"end","time":"2025-03-01T12:00:02Z","pid":7,"span_id":"00f067aa0ba90201","name":"generate_patch","status":"ok","duration_ms":1000}`
)

func TestRead(t *testing.T) {
	long := `{"kind":"start","name":"` + strings.Repeat("x", MaxLine) + `"}`
	for _, tt := range []struct {
		name  string
		input string
		want  []string // kinds, and for corrupt records "corrupt N: error prefix"
	}{
		{"empty", "", nil},
		{"journal", header + "\n" + start + "\n" + end + "\n", []string{"header", "start", "end"}},
		{"no newline at the end", header + "\n" + start, []string{"header", "start"}},
		{"torn last line", header + "\n" + start + "\n" + end[:40], []string{"header", "start"}},
		{"torn last line of spaces", header + "\n  ", []string{"header"}},
		{"blank lines and CRLF", "\n" + header + "\r\n\r\n  \t\n" + start + "\r\n", []string{"header", "start"}},
		{
			"corrupt lines in the middle",
			header + "\n" + "garbage\n{}\n" + start + "\n" + "[1]\n" + end + "\n",
			[]string{"header", "corrupt 2: line 2: invalid character 'g'", "start", "corrupt 1: line 5: json: cannot unmarshal array", "end"},
		},
		{"corrupt last line", header + "\n" + `{"kind":"start","pid":"7"}` + "\n", []string{"header", "corrupt 1: line 2: json: cannot unmarshal string"}},
		{"no kind", `{"time":"2025-03-01T12:00:00Z"}` + "\nnull\n", []string{"corrupt 2: line 1: no kind"}},
		{"bad time", `{"kind":"start","time":"noon"}` + "\n", []string{"corrupt 1: line 1: parsing time"}},
		{"unknown kind kept", `{"kind":"future","pid":7,"extra":[1,2]}` + "\n", []string{"future"}},
		{"line too long", header + "\n" + long + "\n" + end + "\n", []string{"header", "corrupt 1: line 2: longer than 1048576 bytes", "end"}},
		{"torn long last line", header + "\n" + long, []string{"header"}},
		// Files that are not clean journals.
		{"header only", header + "\n", []string{"header"}},
		{"NUL bytes", header + "\n\x00\x00\x00\n" + start + "\n", []string{"header", "corrupt 1: line 2: ", "start"}},
		{"NUL-filled tail of a crash", header + "\n" + start + "\n\x00\x00\x00\x00", []string{"header", "start"}},
		{"binary garbage", "\x89PNG\r\n\x1a\n\xff\xfe\x00\x01\n" + header + "\n", []string{"corrupt 3: line 1: ", "header"}},
		{"invalid UTF-8 in a string", "{\"kind\":\"start\",\"name\":\"a\xffb\"}\n", []string{"start"}},
		{"invalid UTF-8 as a kind", "{\"kind\":\"\xff\"}\n", []string{"\ufffd"}},
		{"line of MaxLine bytes", start[:len(start)-1] + `,"error":"` + strings.Repeat("y", MaxLine-len(start)-12) + `"}` + "\n", []string{"start"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := Read(strings.NewReader(tt.input))
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			var got []string
			for i, r := range recs {
				s := r.Kind
				if r.Kind == RecordCorrupt {
					s = "corrupt " + strconv.FormatInt(r.Count, 10) + ": " + r.Error
				}
				if i < len(tt.want) && strings.HasPrefix(s, tt.want[i]) {
					s = tt.want[i]
				}
				got = append(got, s)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got records\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// failingReader returns its data, then an error.
type failingReader struct {
	data []byte
	err  error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p, r.data)
	r.data = r.data[n:]
	return n, nil
}

func TestReadError(t *testing.T) {
	boom := errors.New("boom")
	recs, err := Read(&failingReader{data: []byte(header + "\n" + start + "\n" + end[:10]), err: boom})
	if !errors.Is(err, boom) {
		t.Errorf("Read: %v, want %v", err, boom)
	}
	if got := kinds(recs); !slices.Equal(got, []string{"header", "start"}) {
		t.Errorf("got records %q before the error, want [header start]", got)
	}
	if _, err := ReadFile("/nonexistent/journal.jsonl"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadFile of a missing file: %v, want %v", err, os.ErrNotExist)
	}
}

// sampleJournal returns a journal written by a Writer, with every kind of
// record.
func sampleJournal(tb testing.TB, dir string) []byte {
	tb.Helper()
	opts := Options{Dir: dir, Service: "patcher", now: func() time.Time { return t0 }, pid: fakePID, host: "builder-1"}
	w, err := Open(opts)
	if err != nil {
		tb.Fatal(err)
	}
	md := []attribute.KeyValue{attribute.String("task.id", "task-1"), attribute.String("note", "é\n\"q\"")}
	w.Write(Event{Kind: KindStart, Time: t0, Span: spanCtx(1), Category: "fuzzing", Name: "fuzz", Metadata: md, Budget: time.Minute})
	w.Write(Event{Kind: KindStart, Time: t0.Add(time.Second), Span: spanCtx(2), Parent: spanID(1), Category: "fuzzing", Name: "run", Heartbeat: time.Second})
	w.Write(Event{Kind: KindStalled, Time: t0.Add(time.Minute), Span: spanCtx(2), Parent: spanID(1), Category: "fuzzing", Name: "run", Elapsed: 59 * time.Second, Stack: "goroutine 1:\n\tmain.go:1"})
	w.Write(Event{Kind: KindEnd, Time: t0.Add(2 * time.Minute), Span: spanCtx(2), Parent: spanID(1), Category: "fuzzing", Name: "run", Status: "error", Error: "exit status 1", Elapsed: 119 * time.Second})
	w.Write(Event{Kind: KindAbandoned, Time: t0.Add(3 * time.Minute), Span: spanCtx(1), Category: "fuzzing", Name: "fuzz", Metadata: md, Elapsed: 3 * time.Minute})
	if err := w.Close(context.Background()); err != nil {
		tb.Fatal(err)
	}
	data, err := os.ReadFile(w.Path())
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

func TestReadTruncated(t *testing.T) {
	data := sampleJournal(t, t.TempDir())
	full, err := Read(bytes.NewReader(data))
	if err != nil || len(full) != 7 {
		t.Fatalf("Read of the whole journal: %d records, %v; want 7", len(full), err)
	}
	for cut := range len(data) + 1 {
		checkPrefix(t, data, full, cut)
	}
}

// checkPrefix checks that Read of data[:cut] returns the records of the
// complete lines in it, and at most the one torn by the cut besides.
func checkPrefix(t *testing.T, data []byte, full []Record, cut int) {
	t.Helper()
	got, err := Read(bytes.NewReader(data[:cut]))
	if err != nil {
		t.Fatalf("Read of %d bytes: %v", cut, err)
	}
	complete := 0 // records whose line ends within the cut
	for _, l := range splitLines(data) {
		if l.end <= cut && l.ok {
			complete++
		}
	}
	if len(got) < complete || len(got) > complete+1 || len(got) > len(full) {
		t.Fatalf("Read of %d bytes: %d records, want %d or %d", cut, len(got), complete, complete+1)
	}
	for i := range got {
		if !reflect.DeepEqual(got[i], full[i]) {
			t.Fatalf("Read of %d bytes: record %d is %+v, want %+v", cut, i, got[i], full[i])
		}
	}
}

// line is a line of a journal as the fuzz test's reference reads it.
type line struct {
	end      int  // offset after its newline
	complete bool // it ends with a newline
	ok       bool // it holds a record
	rec      Record
	blank    bool
}

// splitLines reads data line by line without bufio: the reference Read is
// compared with.
func splitLines(data []byte) []line {
	var out []line
	for off := 0; off < len(data); {
		n := bytes.IndexByte(data[off:], '\n')
		l := line{complete: n >= 0}
		if n < 0 {
			n = len(data) - off - 1
		}
		raw := data[off : off+n+1]
		l.end = off + n + 1
		off = l.end
		if len(raw) > MaxLine {
			out = append(out, l)
			continue
		}
		trimmed := bytes.TrimSpace(raw)
		l.blank = len(trimmed) == 0
		l.ok = !l.blank && json.Unmarshal(trimmed, &l.rec) == nil && l.rec.Kind != ""
		out = append(out, l)
	}
	return out
}

func FuzzRead(f *testing.F) {
	data := sampleJournal(f, f.TempDir())
	f.Add(data, uint(len(data)/2))
	f.Add(data[:len(data)-5], uint(100))
	f.Add([]byte(header+"\ngarbage\n"+start+"\n{}\n"+end), uint(3))
	f.Add([]byte("\n\r\n{\"kind\":\"x\"}"), uint(0))
	f.Fuzz(func(t *testing.T, data []byte, cut uint) {
		got, err := Read(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Read: %v", err)
		}

		// The records are those of the valid lines, with a corrupt record
		// for each run of complete invalid lines.
		var want []Record
		corrupt := 0
		for i, l := range splitLines(data) {
			switch {
			case l.ok:
				want = append(want, l.rec)
			case l.complete && !l.blank:
				corrupt++
				if n := len(want); n > 0 && want[n-1].Kind == RecordCorrupt && want[n-1].PID == -1 {
					want[n-1].Count++
					continue
				}
				want = append(want, Record{Kind: RecordCorrupt, Count: 1, Error: "line " + strconv.Itoa(i+1) + ": ", PID: -1})
			}
		}
		if len(got) != len(want) {
			t.Fatalf("got %d records %q, want %d %q", len(got), kinds(got), len(want), kinds(want))
		}
		for i, w := range want {
			g := got[i]
			if w.PID == -1 { // a run of corrupt lines
				if g.Kind != RecordCorrupt || g.Count != w.Count || !strings.HasPrefix(g.Error, w.Error) {
					t.Errorf("record %d is %+v, want %d corrupt lines from %s", i, g, w.Count, w.Error)
				}
				continue
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("record %d is %+v, want %+v", i, g, w)
			}
		}

		// Truncating a valid journal, one whose every line holds a record,
		// loses at most the record cut.
		valid := true
		for _, l := range splitLines(data) {
			valid = valid && (l.ok || l.blank)
		}
		if valid {
			checkPrefix(t, data, got, int(cut%uint(len(data)+1)))
		}
	})
}
