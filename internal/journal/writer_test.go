package journal

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// t0 is the time of the fixtures' first event.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fakePID is a pid no process has: pids are at most 2^22 on Linux.
const fakePID = 1 << 30

var (
	traceID = trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}
	task    = []attribute.KeyValue{attribute.String("task.id", "task-1"), attribute.String("round.id", "round-1")}
)

// spanCtx returns the span context of span n of the fixtures' trace.
func spanCtx(n byte) trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID(n)})
}

func spanID(n byte) trace.SpanID { return trace.SpanID{0, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, n} }

// hexSpan returns the hex form of spanID(n).
func hexSpan(n byte) string { return spanID(n).String() }

// testOptions returns Options for a journal in a new temporary directory,
// with a fixed clock, host and an impossible pid, so that the journal
// looks like one of a dead process.
func testOptions(t *testing.T) Options {
	return Options{Dir: t.TempDir(), Service: "patcher", now: func() time.Time { return t0 }, pid: fakePID, host: "builder-1"}
}

func mustOpen(t *testing.T, opts Options) *Writer {
	t.Helper()
	w, err := Open(opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return w
}

func mustClose(t *testing.T, w *Writer) {
	t.Helper()
	if err := w.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func mustRead(t *testing.T, path string) []Record {
	t.Helper()
	recs, err := ReadFile(path)
	if err != nil {
		t.Fatalf("ReadFile: %v", err)
	}
	return recs
}

func kinds(recs []Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, r.Kind)
	}
	return out
}

func exeName() string {
	exe, _ := os.Executable()
	return filepath.Base(exe)
}

func TestWriterRoundTrip(t *testing.T) {
	opts := testOptions(t)
	w := mustOpen(t, opts)
	events := []Event{
		{Kind: KindStart, Time: t0.Add(time.Second), Span: spanCtx(1), Category: "patch_generation", Name: "generate_patch",
			Metadata: task, Budget: 5 * time.Minute, Deadline: t0.Add(time.Hour), Heartbeat: 30 * time.Second},
		{Kind: KindStart, Time: t0.Add(2 * time.Second), Span: spanCtx(2), Parent: spanID(1), Category: "testing", Name: "run_tests",
			Metadata: []attribute.KeyValue{attribute.Int("attempt", 3), attribute.String("quote", "a \"b\"\n\tc\u2028")}},
		{Kind: KindOverdue, Time: t0.Add(6 * time.Minute), Span: spanCtx(1), Category: "patch_generation", Name: "generate_patch",
			Budget: 5 * time.Minute, Elapsed: 359*time.Second + 500*time.Microsecond, Error: "past its budget of 5m0s", Stack: "goroutine 7 [select]:\nmain.main()"},
		{Kind: KindStalled, Time: t0.Add(7 * time.Minute), Span: spanCtx(2), Parent: spanID(1), Category: "testing", Name: "run_tests",
			Elapsed: 418 * time.Second, Error: "no heartbeat for 1m0s"},
		{Kind: KindEnd, Time: t0.Add(8 * time.Minute), Span: spanCtx(2), Parent: spanID(1), Category: "testing", Name: "run_tests",
			Elapsed: 478 * time.Second, Status: "error", Error: "context deadline exceeded", Cancelled: true},
		{Kind: KindAbandoned, Time: t0.Add(9 * time.Minute), Span: spanCtx(1), Category: "patch_generation", Name: "generate_patch",
			Elapsed: 539 * time.Second, Budget: 5 * time.Minute, Error: "open at shutdown"},
		{Kind: KindEnd, Span: spanCtx(1), Category: "patch_generation", Name: "generate_patch", Status: "ok"}, // zero time: written at now
	}
	for _, e := range events {
		w.Write(e)
	}
	mustClose(t, w)

	span1 := Record{TraceID: traceID.String(), SpanID: hexSpan(1), Category: "patch_generation", Name: "generate_patch"}
	span2 := Record{TraceID: traceID.String(), SpanID: hexSpan(2), ParentID: hexSpan(1), Category: "testing", Name: "run_tests"}
	with := func(r Record, f func(*Record)) Record { f(&r); r.PID = fakePID; return r }
	want := []Record{
		{Kind: "header", Version: 1, Time: t0, PID: fakePID, Service: "patcher", Host: "builder-1", Exe: exeName()},
		with(span1, func(r *Record) {
			r.Kind, r.Time, r.Metadata = "start", t0.Add(time.Second), map[string]string{"task.id": "task-1", "round.id": "round-1"}
			r.BudgetMS, r.Deadline, r.HeartbeatMS = 300000, t0.Add(time.Hour), 30000
		}),
		with(span2, func(r *Record) {
			r.Kind, r.Time, r.Metadata = "start", t0.Add(2*time.Second), map[string]string{"attempt": "3", "quote": "a \"b\"\n\tc\u2028"}
		}),
		with(span1, func(r *Record) {
			r.Kind, r.Time, r.ElapsedMS, r.BudgetMS = "overdue", t0.Add(6*time.Minute), 359000.5, 300000
			r.Error, r.Stack = "past its budget of 5m0s", "goroutine 7 [select]:\nmain.main()"
		}),
		with(span2, func(r *Record) {
			r.Kind, r.Time, r.ElapsedMS, r.Error = "stalled", t0.Add(7*time.Minute), 418000, "no heartbeat for 1m0s"
		}),
		with(span2, func(r *Record) {
			r.Kind, r.Time, r.DurationMS, r.Status, r.Error, r.Cancelled = "end", t0.Add(8*time.Minute), 478000, "error", "context deadline exceeded", true
		}),
		with(span1, func(r *Record) {
			r.Kind, r.Time, r.ElapsedMS, r.BudgetMS, r.Error = "abandoned", t0.Add(9*time.Minute), 539000, 300000, "open at shutdown"
		}),
		with(span1, func(r *Record) { r.Kind, r.Time, r.Status = "end", t0, "ok" }),
		{Kind: "close", Time: t0, PID: fakePID},
	}
	got := mustRead(t, w.Path())
	if len(got) != len(want) {
		t.Fatalf("got %d records %q, want %d %q", len(got), kinds(got), len(want), kinds(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}

	// The file name, and the raw form of ids, times and the omitted fields.
	if got, want := filepath.Base(w.Path()), "20250301T120000-1073741824-patcher.jsonl"; got != want {
		t.Errorf("file name %q, want %q", got, want)
	}
	raw, _ := os.ReadFile(w.Path())
	lines := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	for _, want := range []struct {
		line int
		text string
	}{
		{0, `{"kind":"header","version":1,"time":"2025-03-01T12:00:00Z","pid":1073741824,"service":"patcher","host":"builder-1",`},
		{1, `"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba90201","category"`},
		{2, `"parent_id":"00f067aa0ba90201"`},
		{2, `"quote":"a \"b\"\n\tc\u2028"`},
		{8, `{"kind":"close","time":"2025-03-01T12:00:00Z","pid":1073741824}`},
	} {
		if !strings.Contains(lines[want.line], want.text) {
			t.Errorf("line %d = %s, want it to contain %s", want.line, lines[want.line], want.text)
		}
	}
	if strings.Contains(lines[1], "parent_id") {
		t.Errorf("root start %s has a parent_id", lines[1])
	}
}

func TestWriterFlushesWithoutClose(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opts := testOptions(t)
		opts.now = nil // the bubble's clock
		w := mustOpen(t, opts)
		defer mustClose(t, w)

		// The header is on disk as soon as Open returns.
		if got := kinds(mustRead(t, w.Path())); !slices.Equal(got, []string{"header"}) {
			t.Fatalf("after Open, got records %q, want [header]", got)
		}
		w.Write(Event{Kind: KindStart, Time: time.Now(), Span: spanCtx(1), Category: "fuzzing", Name: "run_fuzzer"})
		time.Sleep(DefaultFlushEvery)
		synctest.Wait()
		if got := kinds(mustRead(t, w.Path())); !slices.Equal(got, []string{"header", "start"}) {
			t.Fatalf("%v after Write, got records %q, want [header start]", DefaultFlushEvery, got)
		}

		// Idle, the writer does not wake up: no timer runs.
		time.Sleep(time.Hour)
		synctest.Wait()
		w.Write(Event{Kind: KindEnd, Time: time.Now(), Span: spanCtx(1), Category: "fuzzing", Name: "run_fuzzer", Status: "ok"})
		time.Sleep(50 * time.Millisecond)
		synctest.Wait()
		time.Sleep(DefaultFlushEvery - 50*time.Millisecond)
		synctest.Wait()
		if got := kinds(mustRead(t, w.Path())); !slices.Equal(got, []string{"header", "start", "end"}) {
			t.Fatalf("got records %q, want [header start end]", got)
		}
	})
}

func TestWriterRotation(t *testing.T) {
	opts := testOptions(t)
	opts.MaxBytes = 4096
	open := []Event{
		{Kind: KindStart, Time: t0, Span: spanCtx(1), Category: "fuzzing", Name: "fuzz_campaign", Metadata: task},
		{Kind: KindStart, Time: t0, Span: spanCtx(2), Parent: spanID(1), Category: "fuzzing", Name: "run_fuzzer", Metadata: task},
	}
	snapshots := 0
	opts.Snapshot = func(yield func(Event) bool) {
		snapshots++
		for _, e := range open {
			if !yield(e) {
				return
			}
		}
	}
	w := mustOpen(t, opts)
	for _, e := range open {
		w.Write(e)
	}
	const n = 200
	for i := range n {
		e := Event{Kind: KindStart, Time: t0.Add(time.Duration(i) * time.Second), Span: spanCtx(byte(10 + i)), Category: "testing", Name: "run_test"}
		w.Write(e)
		e.Kind, e.Status = KindEnd, "ok"
		w.Write(e)
	}
	mustClose(t, w)
	if snapshots < 2 {
		t.Fatalf("got %d rotations, want at least 2", snapshots)
	}

	cur, old := mustRead(t, w.Path()), mustRead(t, w.Path()+".1")
	for _, seg := range []struct {
		path string
		recs []Record
	}{{w.Path(), cur}, {w.Path() + ".1", old}} {
		fi, err := os.Stat(seg.path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Size() > opts.MaxBytes {
			t.Errorf("%s is %d bytes, want at most %d", filepath.Base(seg.path), fi.Size(), opts.MaxBytes)
		}
		// Each segment starts with a header and the open actions.
		if got, want := kinds(seg.recs[:3]), []string{"header", "start", "start"}; !slices.Equal(got, want) {
			t.Fatalf("%s starts with %q, want %q", filepath.Base(seg.path), got, want)
		}
		if seg.recs[1].SpanID != hexSpan(1) || seg.recs[2].SpanID != hexSpan(2) || seg.recs[2].ParentID != hexSpan(1) {
			t.Errorf("%s starts with %+v, %+v; want the snapshot", filepath.Base(seg.path), seg.recs[1], seg.recs[2])
		}
		// Analysed alone, it shows the open actions.
		rep := Analyze(seg.recs, time.Time{})
		if len(rep.Running) != 2 || rep.Running[0].Deepest == nil || rep.Running[0].Deepest.Name != "run_fuzzer" {
			t.Errorf("%s alone: running %+v, want fuzz_campaign with run_fuzzer under it", filepath.Base(seg.path), rep.Running)
		}
	}
	if got := cur[len(cur)-1].Kind; got != "close" {
		t.Errorf("last record %q, want close", got)
	}
	// No event is lost in the last two segments: the ends are consecutive.
	var ends []string
	for _, r := range append(old, cur...) {
		if r.Kind == "end" {
			ends = append(ends, r.SpanID)
		}
	}
	if got, want := ends[len(ends)-1], hexSpan(byte(10+n-1)); got != want {
		t.Errorf("last end %s, want %s", got, want)
	}
	for i := 1; i < len(ends); i++ {
		if ends[i] == ends[i-1] {
			t.Errorf("end of %s twice", ends[i])
		}
	}
	matches, _ := filepath.Glob(filepath.Join(opts.Dir, "*"))
	if len(matches) != 2 {
		t.Errorf("files %q, want the journal and its .1", matches)
	}
}

// writeJournal writes a fake journal of a process with the given pid,
// closed or not, modified at mod.
func writeJournal(t *testing.T, dir, name string, pid int, closed bool, mod time.Time) string {
	t.Helper()
	host, _ := os.Hostname()
	var b []byte
	b = appendHeader(b, mod, pid, "svc", host, "svc")
	if closed {
		b = appendSimple(b, RecordClose, mod, []byte(`,"pid":1`), 0)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(path, mod, mod); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOpenPrunes(t *testing.T) {
	dir := t.TempDir()
	var all []string
	// The oldest journal is of a live process (this one): it stays.
	live := writeJournal(t, dir, "20240101T000000-"+strconv.Itoa(os.Getpid())+"-svc.jsonl", os.Getpid(), false, t0.Add(-time.Hour))
	for i := range 12 {
		mod := t0.Add(time.Duration(i) * time.Minute)
		p := writeJournal(t, dir, mod.Format("20060102T150405")+"-"+strconv.Itoa(fakePID+i)+"-svc.jsonl", fakePID+i, i%2 == 0, mod)
		writeJournal(t, dir, filepath.Base(p)+".1", fakePID+i, false, mod)
		all = append(all, p)
	}
	// Files not named like journals stay.
	others := []string{
		writeJournal(t, dir, "notes.jsonl", fakePID, true, t0.Add(-2*time.Hour)),
		writeJournal(t, dir, "README.txt", fakePID, true, t0.Add(-2*time.Hour)),
	}

	opts := testOptions(t)
	opts.Dir = dir
	w := mustOpen(t, opts)
	mustClose(t, w)

	// 10 journals: the new one, the live one, and the 8 newest others.
	want := append([]string{live}, all[4:]...)
	want = append(want, w.Path())
	want = append(want, others...)
	for _, p := range all[4:] {
		want = append(want, p+".1")
	}
	slices.Sort(want)
	got, _ := filepath.Glob(filepath.Join(dir, "*"))
	if !slices.Equal(got, want) {
		t.Errorf("after Open, files\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// With Keep 1, only the new journal and the live one remain.
	opts.Keep = 1
	w = mustOpen(t, opts)
	mustClose(t, w)
	infos, _ := List(dir)
	var paths []string
	for _, info := range infos {
		paths = append(paths, info.Path)
	}
	if want := []string{w.Path(), live, others[0]}; !slices.Equal(paths, want) {
		t.Errorf("with Keep 1, journals %q, want %q", paths, want)
	}
}

func TestWriteNeverBlocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hold := make(chan struct{})
		opts := testOptions(t)
		opts.Queue = 4
		opts.hold = hold
		w := mustOpen(t, opts)

		// The writer's goroutine is held: the queue fills, and the rest is
		// dropped. A blocking Write would deadlock the bubble.
		for i := range 10 {
			w.Write(Event{Kind: KindStart, Time: t0, Span: spanCtx(byte(i)), Category: "fuzzing", Name: "run_fuzzer"})
		}
		if got, want := w.Dropped(), int64(6); got != want {
			t.Errorf("Dropped = %d, want %d", got, want)
		}
		close(hold)
		mustClose(t, w)
		w.Write(Event{Kind: KindStart}) // after Close: dropped too
		if got, want := w.Dropped(), int64(7); got != want {
			t.Errorf("after a Write after Close, Dropped = %d, want %d", got, want)
		}

		recs := mustRead(t, w.Path())
		if got, want := kinds(recs), []string{"header", "start", "start", "start", "start", "dropped", "close"}; !slices.Equal(got, want) {
			t.Fatalf("got records %q, want %q", got, want)
		}
		if got := recs[5].Count; got != 6 {
			t.Errorf("dropped record count %d, want 6", got)
		}
		if got := Analyze(recs, time.Time{}).Dropped; got != 6 {
			t.Errorf("Analyze: Dropped = %d, want 6", got)
		}
	})
}

func TestClose(t *testing.T) {
	t.Run("twice", func(t *testing.T) {
		w := mustOpen(t, testOptions(t))
		mustClose(t, w)
		mustClose(t, w)
		if got := kinds(mustRead(t, w.Path())); !slices.Equal(got, []string{"header", "close"}) {
			t.Errorf("got records %q, want [header close]", got)
		}
	})
	t.Run("context ends first", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			hold := make(chan struct{})
			opts := testOptions(t)
			opts.hold = hold
			w := mustOpen(t, opts)
			w.Write(Event{Kind: KindStart, Time: t0, Span: spanCtx(1), Category: "fuzzing", Name: "run_fuzzer"})
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := w.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Close with the writer held: %v, want %v", err, context.DeadlineExceeded)
			}
			close(hold) // the goroutine finishes its work and ends
			synctest.Wait()
			if got := kinds(mustRead(t, w.Path())); !slices.Equal(got, []string{"header", "start", "close"}) {
				t.Errorf("got records %q, want [header start close]", got)
			}
			mustClose(t, w)
		})
	})
	t.Run("nil writer", func(t *testing.T) {
		var w *Writer
		w.Write(Event{Kind: KindStart})
		if w.Path() != "" || w.Dropped() != 0 || w.Close(context.Background()) != nil {
			t.Error("a nil *Writer is not a no-op")
		}
	})
}

func TestOpenErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	opts := testOptions(t)
	opts.Dir = filepath.Join(file, "traces")
	if w, err := Open(opts); err == nil || !strings.HasPrefix(err.Error(), "journal: ") {
		w.Close(context.Background())
		t.Errorf("Open in a directory under a file: %v, want an error", err)
	}
}

func TestOpenNameTaken(t *testing.T) {
	opts := testOptions(t)
	var paths []string
	for range 3 {
		w := mustOpen(t, opts)
		mustClose(t, w)
		paths = append(paths, filepath.Base(w.Path()))
	}
	want := []string{"20250301T120000-1073741824-patcher.jsonl", "20250301T120000-1073741824-patcher-2.jsonl", "20250301T120000-1073741824-patcher-3.jsonl"}
	if !slices.Equal(paths, want) {
		t.Errorf("got %q, want %q", paths, want)
	}
}

func TestDefaultDir(t *testing.T) {
	home := t.TempDir()
	for _, tt := range []struct {
		name, xdg, home, want string
	}{
		{"XDG_STATE_HOME", "/state", home, "/state/crstel/traces"},
		{"relative XDG_STATE_HOME ignored", "state", home, filepath.Join(home, ".local/state/crstel/traces")},
		{"home", "", home, filepath.Join(home, ".local/state/crstel/traces")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("XDG_STATE_HOME", tt.xdg)
			t.Setenv("HOME", tt.home)
			if got := DefaultDir(); got != tt.want {
				t.Errorf("DefaultDir() = %q, want %q", got, tt.want)
			}
		})
	}
	t.Run("no home", func(t *testing.T) {
		t.Setenv("XDG_STATE_HOME", "")
		t.Setenv("HOME", "")
		t.Setenv("XDG_CACHE_HOME", "")
		if got, want := DefaultDir(), filepath.Join(os.TempDir(), "crstel", "traces"); got != want {
			t.Errorf("DefaultDir() = %q, want %q", got, want)
		}
	})
}

func TestFileNames(t *testing.T) {
	for _, tt := range []struct {
		service, want string
	}{
		{"patcher", "20250301T120000-42-patcher.jsonl"},
		{"", "20250301T120000-42-unknown_service.jsonl"},
		{"../../etc/passwd", "20250301T120000-42-_._.._etc_passwd.jsonl"},
		{".hidden", "20250301T120000-42-_hidden.jsonl"},
		{"fuzz er/ñ", "20250301T120000-42-fuzz_er__.jsonl"},
		{strings.Repeat("x", 100), "20250301T120000-42-" + strings.Repeat("x", 64) + ".jsonl"},
	} {
		got := fileName(t0, 42, tt.service)
		if got != tt.want {
			t.Errorf("fileName(%q) = %q, want %q", tt.service, got, tt.want)
		}
		started, pid, ok := parseName(got)
		if !ok || !started.Equal(t0) || pid != 42 {
			t.Errorf("parseName(%q) = %v, %d, %v; want %v, 42, true", got, started, pid, ok, t0)
		}
	}
	for _, name := range []string{"notes.jsonl", "20250301T120000-42.jsonl", "20250301T120000-x-a.jsonl", "20250301T120000-+4-a.jsonl", "20251301T120000-4-a.jsonl", "20250301T120000-4-a.json"} {
		if _, _, ok := parseName(name); ok {
			t.Errorf("parseName(%q) ok, want not a journal", name)
		}
	}
}

func TestAppendString(t *testing.T) {
	for _, tt := range []struct {
		name  string
		in    string
		limit int
		want  string // the JSON text
	}{
		{"plain", "generate_patch", 100, `"generate_patch"`},
		{"escapes", "a\"b\\c\nd\re\tf", 100, `"a\"b\\c\nd\re\tf"`},
		{"control", "\x00\x1f\x7f", 100, `"\u0000\u001f` + "\x7f" + `"`},
		{"invalid UTF-8", "a\xffb", 100, `"a\ufffdb"`},
		{"line separators", "\u2028\u2029", 100, `"\u2028\u2029"`},
		{"multibyte", "héllo…", 100, `"héllo…"`},
		{"cut ASCII", "abcdef", 3, `"abc…"`},
		{"cut before an escape", "ab\ncd", 3, `"ab…"`},
		{"cut before a rune", "aé", 2, `"a…"`},
		{"cut before invalid UTF-8", "ab\xff", 7, `"ab…"`},
		{"empty", "", 0, `""`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := string(appendString(nil, tt.in, tt.limit))
			if got != tt.want {
				t.Errorf("appendString(%q, %d) = %s, want %s", tt.in, tt.limit, got, tt.want)
			}
			var s string
			if err := json.Unmarshal([]byte(got), &s); err != nil {
				t.Errorf("%s is not a JSON string: %v", got, err)
			}
		})
	}
}

func TestBoundedLine(t *testing.T) {
	big := strings.Repeat("\x01", MaxLine) // 6 bytes each, escaped
	md := make([]attribute.KeyValue, 200)
	for i := range md {
		md[i] = attribute.String("k"+strconv.Itoa(i), big)
	}
	e := Event{Kind: KindOverdue, Time: t0, Span: spanCtx(1), Category: big, Name: big, Metadata: md, Error: big, Stack: big}
	line := appendEvent(nil, &e, t0, []byte(`,"pid":1`))
	if len(line) >= MaxLine {
		t.Errorf("a record of huge fields is %d bytes, want less than %d", len(line), MaxLine)
	}
	recs, err := Read(bytes.NewReader(line))
	if err != nil || len(recs) != 1 || len(recs[0].Metadata) != maxMetadata {
		t.Errorf("Read of a huge record: %d records, %v; want 1 with %d metadata entries", len(recs), err, maxMetadata)
	}
}

// TestWriterStarts: the starts of open actions are taken every FlushEvery,
// and written before the events that follow them.
func TestWriterStarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		opts := testOptions(t)
		var mu sync.Mutex
		var open []Event
		opts.Starts = func(yield func(Event) bool) {
			mu.Lock()
			starts := open
			open = nil
			mu.Unlock()
			for _, e := range starts {
				if !yield(e) {
					return
				}
			}
		}
		w := mustOpen(t, opts)
		mu.Lock()
		open = append(open, Event{Time: t0, Span: spanCtx(1), Category: "testing", Name: "long"})
		mu.Unlock()
		time.Sleep(DefaultFlushEvery + time.Millisecond)
		if got := kinds(mustRead(t, w.Path())); strings.Join(got, " ") != "header start" {
			t.Errorf("records after one FlushEvery: %v, want the header and the start", got)
		}
		w.Write(Event{Kind: KindEnd, Time: t0, Span: spanCtx(1), Category: "testing", Name: "long", Status: "ok"})
		mustClose(t, w)
		if got := kinds(mustRead(t, w.Path())); strings.Join(got, " ") != "header start end close" {
			t.Errorf("records: %v, want header start end close", got)
		}
	})
}
