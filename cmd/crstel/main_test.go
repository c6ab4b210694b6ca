package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/crstel/crstel/internal/journal"
)

func TestMain(m *testing.M) {
	if os.Getenv("CRSTEL_TEST_HANG") != "" {
		hangingComponent()
		return
	}
	if role := os.Getenv("CRSTEL_TEST_NESTED"); role != "" {
		nestedComponent(role)
		return
	}
	if args := os.Getenv("CRSTEL_TEST_CLI"); args != "" {
		// The command itself, for tests that must survive its hanging.
		var a []string
		if err := json.Unmarshal([]byte(args), &a); err != nil {
			panic(err)
		}
		os.Exit(run(a, os.Stdout, os.Stderr, os.Getenv))
	}
	goleak.VerifyTestMain(m)
}

// childBound is how long the command may take in a child process: far
// more than it takes, far less than a hang.
const childBound = 30 * time.Second

// cmdChild runs the command in a child process with CRSTEL_TRACE_DIR=dir
// and TZ=UTC, and kills it if it takes longer than childBound, so that a
// command that hangs fails the test instead of hanging it.
func cmdChild(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return cmdChildInput(t, dir, nil, args...)
}

// cmdChildInput is cmdChild with stdin as the child's standard input.
func cmdChildInput(t *testing.T, dir string, stdin io.Reader, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), childBound)
	defer cancel()
	a, _ := json.Marshal(args)
	child := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
	// With -race, a child that exits with 0 waits a second for the race
	// detector, unless told not to.
	child.Env = append(os.Environ(), "CRSTEL_TEST_CLI="+string(a), "CRSTEL_TRACE_DIR="+dir, "TZ=UTC", "GORACE=atexit_sleep_ms=0")
	child.WaitDelay = time.Second
	var out, errOut bytes.Buffer
	child.Stdin, child.Stdout, child.Stderr = stdin, &out, &errOut
	err := child.Run()
	if ctx.Err() != nil {
		t.Errorf("crstel %s: still running after %v, killed: it hangs", strings.Join(args, " "), childBound)
	}
	code = child.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Errorf("crstel %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// t0 is the start of the crashed fixture.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// deadPID is a pid no process has: pids are at most 2^22 on Linux.
const deadPID = 1 << 30

// crashedName is the file name of the crashed fixture.
const crashedName = "20250301T120000-1073741824-patcher.jsonl"

var traceID = trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36}

func span(n int) trace.SpanContext {
	return trace.NewSpanContext(trace.SpanContextConfig{TraceID: traceID, SpanID: spanID(n)})
}

func spanID(n int) trace.SpanID { return trace.SpanID{0xa0, 0, 0, 0, 0, 0, byte(n >> 8), byte(n)} }

// action is a fixture action; its events are written with times relative
// to a base.
type action struct {
	id, parent     int
	category, name string
	meta           []attribute.KeyValue
	start          time.Duration
	budget         time.Duration
}

func (a action) event(kind journal.Kind, base time.Time, at time.Duration) journal.Event {
	e := journal.Event{Kind: kind, Time: base.Add(at), Span: span(a.id), Category: a.category, Name: a.name, Metadata: a.meta, Budget: a.budget}
	if a.parent != 0 {
		e.Parent = spanID(a.parent)
	}
	if kind != journal.KindStart {
		e.Elapsed = at - a.start
	}
	return e
}

func task(id string) []attribute.KeyValue {
	return []attribute.KeyValue{attribute.String("round.id", "round-3"), attribute.String("task.id", id)}
}

// writeFixture writes, with the Writer, the journal of a CRS process that
// hung: one task's patching is deep in a build, a fuzzer stalled, LLM calls
// were cancelled, submissions failed. Event times are base plus offsets.
// It returns the Writer, still open.
func writeFixture(t testing.TB, dir string, base time.Time) *journal.Writer {
	t.Helper()
	w, err := journal.Open(journal.Options{Dir: dir, Service: "patcher"})
	if err != nil {
		t.Fatal(err)
	}
	root := action{1, 0, "patch_generation", "process_task", task("task-1"), 0, 0}
	patch := action{2, 1, "patch_generation", "generate_patch", task("task-1"), time.Second, 5 * time.Minute}
	tests := action{3, 2, "testing", "run_tests", task("task-1"), 2 * time.Minute, 0}
	build := action{4, 3, "building", "compile_target_with_sanitizers_and_coverage", task("task-1"), 3 * time.Minute, 0}
	fuzz := action{5, 0, "fuzzing", "run_fuzzer", task("task-2"), 10 * time.Second, 0}
	index := action{6, 0, "program_analysis", "index_repository", task("task-2"), 30 * time.Second, 0}
	for _, a := range []action{root, patch, tests, build, fuzz, index} {
		w.Write(a.event(journal.KindStart, base, a.start))
	}
	for i := range 12 {
		a := action{100 + i, 1, "static_analysis", "query_llm", task("task-1"), time.Duration(i) * 10 * time.Second, 0}
		w.Write(a.event(journal.KindStart, base, a.start))
		e := a.event(journal.KindEnd, base, a.start+5*time.Second)
		e.Status, e.Error, e.Cancelled = "error", "context canceled", true
		w.Write(e)
	}
	for i, at := range []time.Duration{4 * time.Minute, 7 * time.Minute} {
		a := action{200 + i, 0, "scoring_submission", "submit_pov", task("task-" + strconv.Itoa(i+1)), at - 2*time.Second, 0}
		w.Write(a.event(journal.KindStart, base, a.start))
		e := a.event(journal.KindEnd, base, at)
		e.Status, e.Error = "error", "HTTP 503: service unavailable\nretry later"
		w.Write(e)
	}
	ok := action{300, 1, "static_analysis", "find_vulnerable_functions", task("task-1"), 40 * time.Second, 0}
	w.Write(ok.event(journal.KindStart, base, ok.start))
	e := ok.event(journal.KindEnd, base, 90*time.Second)
	e.Status = "ok"
	w.Write(e)

	e = patch.event(journal.KindOverdue, base, 5*time.Minute+time.Second)
	e.Error, e.Stack = "past its budget of 5m0s", "goroutine 42 [syscall]:\nos/exec.(*Cmd).Wait(...)\n\t/usr/lib/go/src/os/exec/exec.go:906"
	w.Write(e)
	e = fuzz.event(journal.KindStalled, base, 6*time.Minute)
	e.Error = "no heartbeat for 1m0s"
	w.Write(e)
	e = index.event(journal.KindAbandoned, base, 8*time.Minute)
	e.Error = "still open at shutdown"
	w.Write(e)
	last := action{301, 0, "fuzzing", "merge_corpus", task("task-2"), 9 * time.Minute, 0}
	w.Write(last.event(journal.KindStart, base, last.start))
	e = last.event(journal.KindEnd, base, 10*time.Minute)
	e.Status = "ok"
	w.Write(e)
	return w
}

// crashedFixture writes the fixture journal of a process killed at
// t0+10m: it is closed, then its close record removed, and its pid, start
// time and name made those of a dead process of 2025.
func crashedFixture(t testing.TB, dir string) string {
	t.Helper()
	w := writeFixture(t, dir, t0)
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(w.Path())
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(data), "\n")
	if !strings.Contains(lines[len(lines)-2], `"kind":"close"`) || lines[len(lines)-1] != "" {
		t.Fatalf("journal does not end with a close record: %q", lines[len(lines)-2:])
	}
	lines = lines[:len(lines)-2]
	header, _ := json.Marshal(journal.Record{Kind: "header", Version: 1, Time: t0, PID: deadPID, Service: "patcher", Host: "builder-1", Exe: "patcher"})
	lines[0] = string(header) + "\n"
	out := regexp.MustCompile(`"pid":\d+`).ReplaceAllString(strings.Join(lines, ""), `"pid":`+strconv.Itoa(deadPID))
	path := filepath.Join(dir, crashedName)
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(w.Path()); err != nil {
		t.Fatal(err)
	}
	return path
}

// waitFlushed waits until the writer of the live fixture at path has
// flushed its events, which it does within 200 ms.
func waitFlushed(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs, err := journal.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) >= 38 { // header and events
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d records after 10s, want 38", path, len(recs))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// cmd runs the command with CRSTEL_TRACE_DIR=dir, CRSTEL_AUDIT_DIR=dir and
// TZ=UTC.
func cmd(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := map[string]string{"CRSTEL_TRACE_DIR": dir, "CRSTEL_AUDIT_DIR": dir, "TZ": "UTC"}
	code = run(args, &out, &errOut, func(k string) string { return env[k] })
	return out.String(), errOut.String(), code
}

// mustCmd runs the command and fails unless it succeeds.
func mustCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, errOut, code := cmd(t, dir, args...)
	if code != 0 || errOut != "" {
		t.Fatalf("crstel %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
	}
	return out
}

const wantAnomalies = `journal  DIR/20250301T120000-1073741824-patcher.jsonl
process  patcher, pid 1073741824, host builder-1
state    crashed or killed: no close record, and the process is gone
as of    2025-03-01 12:10:00 UTC, the journal's last record
actions  22

Running (3): open, not reported
DURATION  BUDGET  CATEGORY          NAME                  SPAN
10m00s    -       patch_generation  process_task          a000000000000001
    round.id=round-3 task.id=task-1
    deepest open: compile_target_with_saniti… (building) a000000000000004, 7m00s
8m00s     -       testing           run_tests             a000000000000003
    round.id=round-3 task.id=task-1
    deepest open: compile_target_with_saniti… (building) a000000000000004, 7m00s
7m00s     -       building          compile_target_with…  a000000000000004
    round.id=round-3 task.id=task-1

Overdue (1): past their budget, open or ended late
DURATION  BUDGET  CATEGORY          NAME            SPAN
9m59s     5m00s   patch_generation  generate_patch  a000000000000002
    round.id=round-3 task.id=task-1
    deepest open: compile_target_with_saniti… (building) a000000000000004, 7m00s
    overdue: past its budget of 5m0s

Stalled (1): heartbeat missed, open or ended since
DURATION  BUDGET  CATEGORY  NAME        SPAN
9m50s     -       fuzzing   run_fuzzer  a000000000000005
    round.id=round-3 task.id=task-2
    stalled: no heartbeat for 1m0s

Over budget: none

Abandoned (1): still open at shutdown
DURATION  BUDGET  CATEGORY          NAME              SPAN
7m30s     -       program_analysis  index_repository  a000000000000006
    round.id=round-3 task.id=task-2
    abandoned: still open at shutdown

Cancelled (12): ended cancelled, most recent first
ENDED     DURATION  CATEGORY         NAME       SPAN
12:01:55  5.0s      static_analysis  query_llm  a00000000000006f
    round.id=round-3 task.id=task-1
    error: context canceled
12:01:45  5.0s      static_analysis  query_llm  a00000000000006e
    round.id=round-3 task.id=task-1
    error: context canceled
12:01:35  5.0s      static_analysis  query_llm  a00000000000006d
    round.id=round-3 task.id=task-1
    error: context canceled
12:01:25  5.0s      static_analysis  query_llm  a00000000000006c
    round.id=round-3 task.id=task-1
    error: context canceled
12:01:15  5.0s      static_analysis  query_llm  a00000000000006b
    round.id=round-3 task.id=task-1
    error: context canceled
12:01:05  5.0s      static_analysis  query_llm  a00000000000006a
    round.id=round-3 task.id=task-1
    error: context canceled
12:00:55  5.0s      static_analysis  query_llm  a000000000000069
    round.id=round-3 task.id=task-1
    error: context canceled
12:00:45  5.0s      static_analysis  query_llm  a000000000000068
    round.id=round-3 task.id=task-1
    error: context canceled
12:00:35  5.0s      static_analysis  query_llm  a000000000000067
    round.id=round-3 task.id=task-1
    error: context canceled
12:00:25  5.0s      static_analysis  query_llm  a000000000000066
    round.id=round-3 task.id=task-1
    error: context canceled
... and 2 more (--all shows them)

Errors (2): ended with an error, most recent first
ENDED     DURATION  CATEGORY            NAME        SPAN
12:07:00  2.0s      scoring_submission  submit_pov  a0000000000000c9
    round.id=round-3 task.id=task-2
    error: HTTP 503: service unavailable retry later
12:04:00  2.0s      scoring_submission  submit_pov  a0000000000000c8
    round.id=round-3 task.id=task-1
    error: HTTP 503: service unavailable retry later
`

func TestAnomaliesText(t *testing.T) {
	dir := t.TempDir()
	crashedFixture(t, dir)
	out := mustCmd(t, dir, "trace", "anomalies", crashedName)
	t.Logf("crstel trace anomalies %s:\n%s", crashedName, out)
	got := strings.ReplaceAll(out, dir, "DIR")
	if got != wantAnomalies {
		t.Errorf("got\n%s\nwant\n%s", got, wantAnomalies)
	}
	checkWidth(t, out)
}

// checkWidth checks that every line but the first (the path) fits in 80
// columns of a terminal, and that none holds a control or format
// character that could drive it.
func checkWidth(t *testing.T, out string) {
	t.Helper()
	for i, l := range strings.Split(out, "\n") {
		if n := textWidth(l); n > width && i > 0 {
			t.Errorf("line %d is %d columns wide, want at most %d: %q", i+1, n, width, l)
		}
		if hasRawControls(l) {
			t.Errorf("line %d holds raw control characters or invalid UTF-8: %q", i+1, l)
		}
	}
}

// hasRawControls tells whether s holds a control or format character,
// but for line feeds, or invalid UTF-8.
func hasRawControls(s string) bool {
	return !utf8.ValidString(s) || strings.ContainsFunc(s, func(r rune) bool { return r != '\n' && (unicode.IsControl(r) || unsafeRune(r)) })
}

func TestAnomaliesAll(t *testing.T) {
	dir := t.TempDir()
	path := crashedFixture(t, dir)
	out := mustCmd(t, dir, "trace", "anomalies", "--all", path)
	if got := strings.Count(out, "query_llm"); got != 12 {
		t.Errorf("with --all, %d cancelled query_llm, want 12:\n%s", got, out)
	}
	if strings.Contains(out, "more (--all") {
		t.Errorf("with --all, output says there are more:\n%s", out)
	}
	checkWidth(t, out)

	out = mustCmd(t, dir, "trace", "anomalies", path, "--stacks")
	for _, want := range []string{"    stack:\n      goroutine 42 [syscall]:\n      os/exec.(*Cmd).Wait(...)\n       /usr/lib/go/src/os/exec/exec.go:906\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("with --stacks, output lacks %q:\n%s", want, out)
		}
	}
}

func TestAnomaliesFilter(t *testing.T) {
	dir := t.TempDir()
	crashedFixture(t, dir)
	for _, tt := range []struct {
		filter string
		want   []string // the names printed in the tables, in order
	}{
		{"task-2", []string{"run_fuzzer", "index_repository", "submit_pov"}},
		{"run_", []string{"run_tests", "run_fuzzer"}},
		{"building", []string{"compile_target_with…"}},
		{"a0000000000000c9", []string{"submit_pov"}},
		{"no such thing", nil},
	} {
		t.Run(tt.filter, func(t *testing.T) {
			out := mustCmd(t, dir, "trace", "anomalies", "--filter", tt.filter, crashedName)
			var names []string
			for _, l := range strings.Split(out, "\n") {
				if f := strings.Fields(l); len(f) == 5 && len(f[4]) == 16 && !strings.HasPrefix(l, " ") {
					names = append(names, f[3])
				}
			}
			if !slices.Equal(names, tt.want) {
				t.Errorf("--filter %q: got %q, want %q\n%s", tt.filter, names, tt.want, out)
			}
			if tt.want == nil && strings.Count(out, ": none\n") != 7 {
				t.Errorf("--filter %q: want seven empty buckets:\n%s", tt.filter, out)
			}
			checkWidth(t, out)
		})
	}
}

func TestAnomaliesJSON(t *testing.T) {
	dir := t.TempDir()
	path := crashedFixture(t, dir)
	empty := filepath.Join(dir, "empty.jsonl")
	os.WriteFile(empty, nil, 0o600)

	for _, tt := range []struct {
		name   string
		args   []string
		counts map[string]int
	}{
		{
			"fixture", []string{path},
			map[string]int{"running": 3, "overdue": 1, "stalled": 1, "abandoned": 1, "cancelled": 12, "errors": 2},
		},
		{
			"filtered", []string{"--filter", "task-2", path},
			map[string]int{"running": 0, "overdue": 0, "stalled": 1, "abandoned": 1, "cancelled": 0, "errors": 1},
		},
		{
			"empty journal", []string{empty},
			map[string]int{"running": 0, "overdue": 0, "stalled": 0, "abandoned": 0, "cancelled": 0, "errors": 0},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out := mustCmd(t, dir, append([]string{"trace", "anomalies", "--json"}, tt.args...)...)
			var got map[string]any
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, out)
			}
			for bucket, n := range tt.counts {
				entries, ok := got[bucket].([]any)
				if !ok {
					t.Errorf("%q is %#v, want an array", bucket, got[bucket])
				} else if len(entries) != n {
					t.Errorf("%q has %d entries, want %d", bucket, len(entries), n)
				}
			}
			if _, ok := got["live"].(bool); !ok {
				t.Errorf(`"live" is %#v, want a bool`, got["live"])
			}
			if _, ok := got["as_of"].(string); !ok {
				t.Errorf(`"as_of" is %#v, want a string`, got["as_of"])
			}
		})
	}

	// The fixture in full.
	var got jsonOutput
	if err := json.Unmarshal([]byte(mustCmd(t, dir, "trace", "anomalies", path, "--json")), &got); err != nil {
		t.Fatal(err)
	}
	if got.File != path || got.Service != "patcher" || got.PID != deadPID || got.Host != "builder-1" || got.State != "crashed" || got.Live ||
		!got.AsOf.Equal(t0.Add(10*time.Minute)) || got.Actions != 22 {
		t.Errorf("got %+v", got)
	}
	root := got.Running[0]
	wantRoot := jsonEntry{
		TraceID: traceID.String(), SpanID: "a000000000000001", Category: "patch_generation", Name: "process_task",
		Metadata: map[string]string{"round.id": "round-3", "task.id": "task-1"}, Start: t0, DurationMS: 600000,
		Deepest: &jsonDescendant{SpanID: "a000000000000004", Category: "building", Name: "compile_target_with_sanitizers_and_coverage", Depth: 3, Start: t0.Add(3 * time.Minute), DurationMS: 420000},
	}
	if !reflect.DeepEqual(root, wantRoot) {
		t.Errorf("running[0] = %+v %+v,\nwant %+v %+v", root, root.Deepest, wantRoot, wantRoot.Deepest)
	}
	if e := got.Overdue[0]; e.BudgetMS != 300000 || e.Error != "past its budget of 5m0s" || !strings.HasPrefix(e.Stack, "goroutine 42") {
		t.Errorf("overdue[0] = %+v", e)
	}
	if e := got.Errors[0]; e.Status != "error" || e.Error != "HTTP 503: service unavailable\nretry later" || !e.End.Equal(t0.Add(7*time.Minute)) {
		t.Errorf("errors[0] = %+v", e)
	}
}

func TestAnomaliesLiveAndExited(t *testing.T) {
	dir := t.TempDir()
	crashedFixture(t, dir)

	// An exited process: closed cleanly.
	exited := writeFixture(t, dir, time.Now().Add(-time.Hour))
	if err := exited.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	out := mustCmd(t, dir, "trace", "anomalies", exited.Path())
	if !strings.Contains(out, "state    exited: the journal was closed cleanly\n") || !strings.Contains(out, "Running (3)") {
		t.Errorf("exited journal:\n%s", out)
	}

	// A live process: this one, still writing. Without FILE, anomalies
	// reads the newest journal: this one.
	base := time.Now().Add(-20 * time.Minute)
	live := writeFixture(t, dir, base)
	defer live.Close(context.Background())
	waitFlushed(t, live.Path())
	var got jsonOutput
	before := time.Now()
	if err := json.Unmarshal([]byte(mustCmd(t, dir, "trace", "anomalies", "--json")), &got); err != nil {
		t.Fatal(err)
	}
	if got.File != live.Path() || !got.Live || got.State != "live" || got.PID != os.Getpid() {
		t.Errorf("without FILE: file %s, live %v, state %s, pid %d; want %s, live, pid %d", got.File, got.Live, got.State, got.PID, live.Path(), os.Getpid())
	}
	// Durations run to now, not to the last record (base+10m).
	if got.AsOf.Before(before) || got.Running[0].DurationMS < float64(20*time.Minute/time.Millisecond) {
		t.Errorf("as of %v, root open for %vms; want now, and at least 20 minutes", got.AsOf, got.Running[0].DurationMS)
	}
	out = mustCmd(t, dir, "trace", "anomalies")
	t.Logf("crstel trace anomalies (live):\n%s", out)
	if !strings.Contains(out, "state    live: the process is running\n") || !strings.Contains(out, ", now\n") {
		t.Errorf("live journal:\n%s", out)
	}
	checkWidth(t, out)
}

func TestAnomaliesRotated(t *testing.T) {
	dir := t.TempDir()
	path := crashedFixture(t, dir)
	// Split the journal in two segments, as rotation does: the second
	// starts with a header and the start of the open root action.
	data, _ := os.ReadFile(path)
	lines := strings.SplitAfter(string(data), "\n")
	cut := 20
	first := strings.Join(lines[:cut], "")
	second := lines[0] + lines[1] + strings.Join(lines[cut:], "")
	os.WriteFile(path+".1", []byte(first), 0o600)
	os.WriteFile(path, []byte(second), 0o600)

	out := mustCmd(t, dir, "trace", "anomalies", crashedName)
	want := strings.Replace(wantAnomalies, ".jsonl\n", ".jsonl\n         and its older segment "+crashedName+".1\n", 1)
	if got := strings.ReplaceAll(out, dir, "DIR"); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestList(t *testing.T) {
	dir := t.TempDir()
	if got, want := mustCmd(t, dir, "trace", "list"), "No trace journals in "+dir+" (CRSTEL_TRACE_DIR).\n"; got != want {
		t.Errorf("empty directory: got %q, want %q", got, want)
	}
	if got, want := mustCmd(t, filepath.Join(dir, "missing"), "trace", "list", "--json"), "[]\n"; got != want {
		t.Errorf("missing directory, --json: got %q, want %q", got, want)
	}

	crashed := crashedFixture(t, dir)
	exited := writeFixture(t, dir, t0)
	exited.Close(context.Background())
	live := writeFixture(t, dir, t0)
	defer live.Close(context.Background())
	waitFlushed(t, live.Path())

	out := mustCmd(t, dir, "trace", "list")
	t.Logf("crstel trace list:\n%s", out)
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 9 || lines[0] != "Trace journals in "+dir+", newest first:" {
		t.Fatalf("got\n%s", out)
	}
	checkWidth(t, out)
	if f := strings.Fields(lines[2]); !slices.Equal(f, []string{"STATE", "SERVICE", "PID", "STARTED", "LAST", "WRITE", "SIZE"}) {
		t.Errorf("header %q", lines[2])
	}
	for i, want := range []struct {
		path, state, pid, started string
	}{
		// The two journals of this process started in the same second;
		// the later one is listed first.
		{live.Path(), "live", strconv.Itoa(os.Getpid()), ""},
		{exited.Path(), "exited", strconv.Itoa(os.Getpid()), ""},
		{crashed, "crashed", strconv.Itoa(deadPID), "03-01 12:00:00"},
	} {
		l, file := lines[3+2*i], strings.TrimSpace(lines[4+2*i])
		f := strings.Fields(l)
		if file != filepath.Base(want.path) || f[1] != "patcher" || f[2] != want.pid || f[0] != want.state ||
			!strings.Contains(l, want.started) {
			t.Errorf("line %q, want %s, patcher, pid %s, started %q, %s", l, filepath.Base(want.path), want.pid, want.started, want.state)
		}
	}

	var infos []map[string]any
	if err := json.Unmarshal([]byte(mustCmd(t, dir, "trace", "list", "--json")), &infos); err != nil {
		t.Fatal(err)
	}
	var states []string
	for _, i := range infos {
		states = append(states, fmt.Sprint(i["state"]))
		for _, k := range []string{"path", "file", "service", "pid", "host", "started", "last_write", "size", "state"} {
			if _, ok := i[k]; !ok {
				t.Errorf("--json: %v lacks %q", i, k)
			}
		}
	}
	if want := []string{"live", "exited", "crashed"}; !slices.Equal(states, want) {
		t.Errorf("--json: states %q, want %q", states, want)
	}
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	path := crashedFixture(t, dir)
	want, err := journal.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{path, crashedName, strings.TrimSuffix(crashedName, ".jsonl")} {
		out := mustCmd(t, dir, "trace", "read", arg)
		var got []journal.Record
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("trace read %s: not a JSON array: %v", arg, err)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("trace read %s: got\n%v\nwant\n%v", arg, got, want)
		}
		if lines := strings.Count(out, "\n"); lines != len(want)+2 {
			t.Errorf("trace read %s: %d lines, want one a record and two for the brackets", arg, lines)
		}
	}
	empty := filepath.Join(dir, "empty.jsonl")
	os.WriteFile(empty, nil, 0o600)
	if got := mustCmd(t, dir, "trace", "read", empty); got != "[]\n" {
		t.Errorf("trace read of an empty journal: %q, want []", got)
	}
}

func TestUsage(t *testing.T) {
	dir := t.TempDir()
	crashedFixture(t, dir)
	const input = 3 // exit code 2 for unreadable input: one line, no usage
	for _, tt := range []struct {
		args     []string
		code     int
		inStderr string
		inStdout string
	}{
		{nil, 2, "no command", ""},
		{[]string{"tarce"}, 2, `unknown command "tarce"`, ""},
		{[]string{"trace"}, 2, "no subcommand", ""},
		{[]string{"trace", "anomaly"}, 2, `unknown subcommand "anomaly"`, ""},
		{[]string{"trace", "list", "extra"}, 2, `unexpected argument "extra"`, ""},
		{[]string{"trace", "list", "--all"}, 2, "flag provided but not defined: -all", ""},
		{[]string{"trace", "read"}, 2, "no FILE", ""},
		{[]string{"trace", "read", "a", "b"}, 2, `unexpected argument "b"`, ""},
		{[]string{"trace", "read", ""}, 2, "empty FILE", ""},
		{[]string{"trace", "anomalies", ""}, 2, "empty FILE", ""},
		{[]string{"trace", "read", "a\x00b"}, input, "invalid argument", ""},
		{[]string{"trace", "anomalies", "a", "b"}, 2, `unexpected argument "b"`, ""},
		{[]string{"trace", "anomalies", "--nope"}, 2, "flag provided but not defined: -nope", ""},
		{[]string{"trace", "anomalies", "--filter"}, 2, "flag needs an argument: -filter", ""},
		{[]string{"trace", "anomalies", crashedName, "--json=maybe"}, 2, "invalid boolean value", ""},
		{[]string{"trace", "read", "missing.jsonl"}, input, "missing.jsonl: no such file, here or in the journal folder " + dir, ""},
		{[]string{"trace", "anomalies", "missing.jsonl"}, input, "missing.jsonl: no such file, here or in the journal folder " + dir, ""},
		{[]string{"trace", "read", dir + "/missing.jsonl"}, input, "no such file", ""},
		{[]string{"trace", "read", "\x1b[2Jmissing"}, input, `\x1b[2Jmissing: no such file`, ""},
		{[]string{"-h"}, 0, "", "usage: crstel trace list"},
		{[]string{"help"}, 0, "", "usage: crstel trace list"},
		{[]string{"trace", "--help"}, 0, "", "usage: crstel trace list"},
		{[]string{"trace", "anomalies", "-h"}, 0, "", "Journals are in " + dir + " (CRSTEL_TRACE_DIR).\n"},
		{[]string{"trace", "anomalies", "--", crashedName}, 0, "", "\nRunning (3)"},
		{[]string{"trace", "anomalies", "--json", crashedName, "--all", "--filter", "index"}, 0, "", `"running": [],`},
		{[]string{"trace", "anomalies", "--filter=index", crashedName, "-json"}, 0, "", `"name": "index_repository"`},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, code := cmd(t, dir, tt.args...)
			if want := min(tt.code, 2); code != want {
				t.Errorf("exit %d, want %d; stderr %q", code, want, errOut)
			}
			if !strings.Contains(errOut, tt.inStderr) {
				t.Errorf("stderr %q, want it to contain %q", errOut, tt.inStderr)
			}
			switch tt.code {
			case 2:
				if !strings.Contains(errOut, "usage: crstel trace list") || out != "" {
					t.Errorf("stdout %q, stderr %q; want the usage on stderr", out, errOut)
				}
			case 1, input:
				if strings.Contains(errOut, "usage:") || !strings.HasPrefix(errOut, "crstel: ") || strings.Count(errOut, "\n") != 1 || out != "" {
					t.Errorf("stdout %q, stderr %q; want one error line", out, errOut)
				}
			}
			if !strings.Contains(out, tt.inStdout) {
				t.Errorf("stdout %q, want it to contain %q", out, tt.inStdout)
			}
			checkWidth(t, errOut)
		})
	}

	// No journal at all.
	_, errOut, code := cmd(t, t.TempDir(), "trace", "anomalies")
	if code != 1 || !strings.Contains(errOut, "no trace journals in ") {
		t.Errorf("anomalies without journals: exit %d, stderr %q; want 1 and a message", code, errOut)
	}
}

func TestDuration(t *testing.T) {
	for _, tt := range []struct {
		d    time.Duration
		want string
	}{
		{0, "0s"}, {-time.Second, "0s"}, {math.MinInt64, "0s"}, {850 * time.Microsecond, "850µs"}, {120 * time.Millisecond, "120ms"},
		{12345 * time.Millisecond, "12.3s"}, {59999 * time.Millisecond, "59.9s"}, {12*time.Minute + 5*time.Second, "12m05s"},
		{time.Hour + 2*time.Minute + 3*time.Second, "1h02m03s"}, {76*time.Hour + 5*time.Minute, "3d04h05m"},
		{123*24*time.Hour + 4*time.Hour, "123d04h"}, {999*24*time.Hour + 23*time.Hour, "999d23h"},
		{1000 * 24 * time.Hour, "1000d"}, {math.MaxInt64, "106751d"},
	} {
		if got := duration(tt.d); got != tt.want {
			t.Errorf("duration(%v) = %q, want %q", tt.d, got, tt.want)
		}
		if n := textWidth(duration(tt.d)); n > 8 {
			t.Errorf("duration(%v) is %d wide, want at most 8", tt.d, n)
		}
	}
	for _, tt := range []struct {
		n    int64
		want string
	}{
		{0, "0 B"}, {-1, "0 B"}, {1023, "1023 B"}, {1024, "1.0 KiB"}, {1<<20 - 1, "1024.0 KiB"}, {5 << 30, "5.0 GiB"},
		{1 << 40, "1.0 TiB"}, {math.MaxInt64, "8.0 EiB"},
	} {
		if got := size(tt.n); got != tt.want || len(got) > 10 {
			t.Errorf("size(%d) = %q, want %q, at most 10 wide", tt.n, got, tt.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"}, {"exactly10!", 10, "exactly10!"}, {"a bit too long", 10, "a bit too…"},
		{"ééééééé", 4, "ééé…"}, {"x", 1, "x"}, {"xy", 1, "…"}, {"xy", 0, ""}, {"xy", -3, ""},
		{"漢字漢字", 8, "漢字漢字"}, {"漢字漢字", 7, "漢字漢…"}, {"漢字漢字", 6, "漢字…"},
		{"ééé", 3, "ééé"}, {"🙂🙂🙂", 4, "🙂…"},
	} {
		got := truncate(tt.in, tt.n)
		if got != tt.want || textWidth(got) > max(tt.n, 0) {
			t.Errorf("truncate(%q, %d) = %q (%d columns), want %q", tt.in, tt.n, got, textWidth(got), tt.want)
		}
	}
}

// TestClean: nothing of a journal reaches the terminal raw.
func TestClean(t *testing.T) {
	for _, tt := range []struct {
		in, want string
	}{
		{"plain text", "plain text"},
		{"a\tb\nc\rd", "a b c d"},
		{"\x1b[31mred\x1b[0m", `\x1b[31mred\x1b[0m`},
		{"\x1b]0;title\x07", `\x1b]0;title\x07`},
		{"\x00\x7f\u0085\u009b", `\x00\x7f\x85\x9b`},
		{"bad \xff\xfe UTF-8", `bad \xff\xfe UTF-8`},
		{"right-to-left \u202eevil", `right-to-left \u202eevil`},
		{"zero\u200bwidth\ufeff", `zero\u200bwidth\ufeff`},
		{"line\u2028paragraph\u2029", `line\u2028paragraph\u2029`},
		{"tag \U000e0041", `tag \U000e0041`},
		{"héllo 漢字 🙂 e\u0301", "héllo 漢字 🙂 e\u0301"},
	} {
		if got := clean(tt.in); got != tt.want {
			t.Errorf("clean(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := clean(clean(tt.in)); got != tt.want {
			t.Errorf("clean(clean(%q)) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
