package journal

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Records for the analysis tests. Actions are named by their span ids;
// times are minutes after t0.

func minute(m float64) time.Time { return t0.Add(time.Duration(m * float64(time.Minute))) }

func rStart(id, parent string, at float64, budgetMin float64) Record {
	return Record{Kind: "start", Time: minute(at), TraceID: "t", SpanID: id, ParentID: parent, Category: "fuzzing", Name: "n" + id,
		BudgetMS: budgetMin * 60000, Metadata: map[string]string{"task.id": "task-" + id}}
}

func rEnd(id string, at, durMin float64, status string, cancelled bool, err string) Record {
	return Record{Kind: "end", Time: minute(at), TraceID: "t", SpanID: id, Category: "fuzzing", Name: "n" + id,
		DurationMS: durMin * 60000, Status: status, Cancelled: cancelled, Error: err}
}

func rReport(kind, id string, at, elapsedMin float64, why string) Record {
	return Record{Kind: kind, Time: minute(at), TraceID: "t", SpanID: id, Category: "fuzzing", Name: "n" + id,
		ElapsedMS: elapsedMin * 60000, Error: why, Stack: "stack of " + id}
}

// summary describes a report's buckets in one line each:
// "bucket: id duration [deepest id/depth/duration] [error] [stack], ...".
func summary(rep Report) []string {
	var out []string
	for _, b := range []struct {
		name    string
		entries []Entry
	}{
		{"running", rep.Running}, {"overdue", rep.Overdue}, {"stalled", rep.Stalled},
		{"over_budget", rep.OverBudget}, {"abandoned", rep.Abandoned}, {"cancelled", rep.Cancelled}, {"errors", rep.Errors},
	} {
		if len(b.entries) == 0 {
			continue
		}
		var es []string
		for _, e := range b.entries {
			s := e.SpanID + " " + e.Duration.String()
			if d := e.Deepest; d != nil {
				s += fmt.Sprintf(" deepest %s/%d/%s", d.SpanID, d.Depth, d.Duration)
			}
			if e.Error != "" {
				s += " " + strings.ReplaceAll(e.Error, " ", "_")
			}
			if e.Stack != "" {
				s += " [" + e.Stack + "]"
			}
			es = append(es, s)
		}
		out = append(out, b.name+": "+strings.Join(es, ", "))
	}
	return out
}

func TestAnalyzeBuckets(t *testing.T) {
	asOf := minute(60)
	for _, tt := range []struct {
		name    string
		records []Record
		asOf    time.Time
		want    []string
	}{
		{"empty", nil, asOf, nil},
		{"running", []Record{rStart("a", "", 10, 0)}, asOf, []string{"running: a 50m0s"}},
		{"ended ok is no anomaly", []Record{rStart("a", "", 10, 0), rEnd("a", 12, 2, "ok", false, "")}, asOf, nil},
		{"ended unset is no anomaly", []Record{rStart("a", "", 10, 0), rEnd("a", 12, 2, "unset", false, "")}, asOf, nil},
		{
			"overdue", []Record{rStart("a", "", 10, 5), rReport("overdue", "a", 15, 5, "past budget")}, asOf,
			[]string{"overdue: a 50m0s past_budget [stack of a]"},
		},
		{
			"stalled", []Record{rStart("a", "", 10, 0), rReport("stalled", "a", 15, 5, "no heartbeat")}, asOf,
			[]string{"stalled: a 50m0s no_heartbeat [stack of a]"},
		},
		{
			"the latest report counts",
			[]Record{
				rStart("a", "", 10, 5), rReport("stalled", "a", 12, 2, "no heartbeat"), rReport("overdue", "a", 15, 5, "past budget"),
				rStart("b", "", 10, 5), rReport("overdue", "b", 15, 5, "past budget"), rReport("stalled", "b", 20, 10, "no heartbeat"),
			},
			asOf,
			[]string{"overdue: a 50m0s past_budget [stack of a]", "stalled: b 50m0s no_heartbeat [stack of b]"},
		},
		{
			"over budget, open and ended",
			[]Record{
				rStart("a", "", 10, 0), rReport("over_budget", "a", 15, 5, "LLM cost 2.10 USD, past its budget of 2 USD"),
				rStart("b", "", 10, 0), rReport("over_budget", "b", 11, 1, "CPU 700s, past its budget of 600s"), rEnd("b", 12, 2, "ok", false, ""),
				rStart("c", "", 10, 0), rReport("over_budget", "c", 11, 1, "LLM cost"), rEnd("c", 12, 2, "error", true, "context canceled"),
			},
			asOf,
			[]string{"over_budget: a 50m0s LLM_cost_2.10_USD,_past_its_budget_of_2_USD [stack of a], b 2m0s CPU_700s,_past_its_budget_of_600s [stack of b]",
				"cancelled: c 2m0s context_canceled [stack of c]"},
		},
		{
			"cancelled", []Record{rStart("a", "", 10, 0), rEnd("a", 12, 2, "error", true, "context canceled")}, asOf,
			[]string{"cancelled: a 2m0s context_canceled"},
		},
		{
			"cancelled with status ok", []Record{rStart("a", "", 10, 0), rEnd("a", 12, 2, "ok", true, "")}, asOf,
			[]string{"cancelled: a 2m0s"},
		},
		{
			"errors", []Record{rStart("a", "", 10, 0), rEnd("a", 12, 2, "error", false, "exit status 1")}, asOf,
			[]string{"errors: a 2m0s exit_status_1"},
		},
		{
			"overdue, then failed: an error with the report's stack",
			[]Record{rStart("a", "", 10, 1), rReport("overdue", "a", 11, 1, "past budget"), rEnd("a", 12, 2, "error", false, "boom")}, asOf,
			[]string{"errors: a 2m0s boom [stack of a]"},
		},
		{
			"abandoned",
			[]Record{rStart("a", "", 10, 0), rReport("abandoned", "a", 30, 20, "open at shutdown")}, asOf,
			[]string{"abandoned: a 20m0s open_at_shutdown [stack of a]"},
		},
		{
			"abandoned and ended: abandoned only",
			[]Record{
				rStart("a", "", 10, 0), rReport("overdue", "a", 20, 10, "past budget"),
				rReport("abandoned", "a", 30, 20, "open at shutdown"), rEnd("a", 30, 20, "error", false, "abandoned"),
			},
			asOf,
			[]string{"abandoned: a 20m0s open_at_shutdown [stack of a]"},
		},
		{
			"ended before its start was read (a rotated segment)",
			[]Record{rEnd("a", 12, 2, "error", false, "boom")}, asOf,
			[]string{"errors: a 2m0s boom"},
		},
		{
			"reported without a start", []Record{rReport("stalled", "a", 30, 20, "no heartbeat")}, asOf,
			[]string{"stalled: a 50m0s no_heartbeat [stack of a]"},
		},
		{
			"a start repeated by a snapshot counts once",
			[]Record{rStart("a", "", 10, 0), {Kind: "header"}, rStart("a", "", 10, 0)}, asOf,
			[]string{"running: a 50m0s"},
		},
		{
			"open ones longest first, ended ones most recent first",
			[]Record{
				rStart("a", "", 30, 0), rStart("b", "", 10, 0), rStart("c", "", 20, 0),
				rStart("d", "", 10, 0), rEnd("d", 15, 5, "error", false, ""),
				rStart("e", "", 10, 0), rEnd("e", 40, 30, "error", false, ""),
				rStart("f", "", 10, 0), rEnd("f", 20, 10, "error", false, ""),
			},
			asOf,
			[]string{"running: b 50m0s, c 40m0s, a 30m0s", "errors: e 30m0s, f 10m0s, d 5m0s"},
		},
		{
			"zero asOf: the last record",
			[]Record{rStart("a", "", 10, 0), rStart("b", "", 20, 0), {Kind: "close", Time: minute(25)}}, time.Time{},
			[]string{"running: a 15m0s, b 5m0s"},
		},
		{
			"asOf before the start", []Record{rStart("a", "", 10, 0)}, minute(5),
			[]string{"running: a 0s"},
		},
		{
			"records without a span id are ignored",
			[]Record{{Kind: "start", Time: minute(1), Name: "x"}, {Kind: "future", SpanID: "z"}}, asOf, nil,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := summary(Analyze(tt.records, tt.asOf))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestAnalyzeDeepest(t *testing.T) {
	asOf := minute(60)
	for _, tt := range []struct {
		name    string
		records []Record
		want    []string
	}{
		{
			"a chain",
			[]Record{rStart("root", "", 0, 0), rStart("mid", "root", 10, 0), rStart("leaf", "mid", 20, 0)},
			[]string{"running: root 1h0m0s deepest leaf/2/40m0s, mid 50m0s deepest leaf/1/40m0s, leaf 40m0s"},
		},
		{
			"the deepest branch wins over the longest",
			[]Record{
				rStart("root", "", 0, 0), rStart("x", "root", 1, 0), rStart("y", "x", 30, 0), rStart("z", "root", 2, 0),
			},
			[]string{"running: root 1h0m0s deepest y/2/30m0s, x 59m0s deepest y/1/30m0s, z 58m0s, y 30m0s"},
		},
		{
			"equally deep: the longest running",
			[]Record{rStart("root", "", 0, 0), rStart("x", "root", 20, 0), rStart("y", "root", 10, 0)},
			[]string{"running: root 1h0m0s deepest y/1/50m0s, y 50m0s, x 40m0s"},
		},
		{
			"ended actions are not followed",
			[]Record{
				rStart("root", "", 0, 0), rStart("x", "root", 10, 0), rStart("y", "x", 20, 0), rEnd("x", 30, 20, "error", false, ""),
			},
			[]string{"running: root 1h0m0s, y 40m0s", "errors: x 20m0s"},
		},
		{
			"the descendant of an overdue one may be running",
			[]Record{rStart("root", "", 0, 5), rReport("overdue", "root", 5, 5, ""), rStart("leaf", "root", 1, 0)},
			[]string{"running: leaf 59m0s", "overdue: root 1h0m0s deepest leaf/1/59m0s [stack of root]"},
		},
		{
			"a cycle in a corrupt journal",
			[]Record{rStart("a", "b", 0, 0), rStart("b", "a", 10, 0), rStart("c", "c", 20, 0)},
			[]string{"running: a 1h0m0s deepest b/1/50m0s, b 50m0s, c 40m0s"},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := summary(Analyze(tt.records, asOf))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestAnalyzeReport(t *testing.T) {
	records := []Record{
		{Kind: "header", Version: 1, Time: t0, PID: 7, Service: "patcher", Host: "builder-1", Exe: "patcher"},
		rStart("a", "", 1, 5),
		{Kind: "dropped", Time: minute(2), PID: 7, Count: 3},
		{Kind: "corrupt", Count: 2, Error: "line 4: garbage"},
		rReport("overdue", "a", 6, 5, "past budget"),
		{Kind: "header", Version: 1, Time: minute(7), PID: 7, Service: "patcher", Host: "builder-1"},
		rStart("a", "", 1, 5), // the snapshot of a rotated journal
		rStart("b", "", 8, 0),
		rEnd("b", 9, 1, "ok", false, ""),
		{Kind: "dropped", Time: minute(9), PID: 7, Count: 2},
		{Kind: "close", Time: minute(10), PID: 7},
	}
	got := Analyze(records, time.Time{})
	want := Report{
		AsOf: minute(10), Service: "patcher", Host: "builder-1", Exe: "patcher", PID: 7, Started: t0, Last: minute(10),
		Closed: true, Actions: 2, Dropped: 5, Corrupt: 2,
		Overdue: []Entry{{
			TraceID: "t", SpanID: "a", Category: "fuzzing", Name: "na", Metadata: map[string]string{"task.id": "task-a"},
			Start: minute(1), Duration: 9 * time.Minute, Budget: 5 * time.Minute, Error: "past budget", Stack: "stack of a",
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Analyze =\n%+v\nwant\n%+v", got, want)
	}
}

func TestMS(t *testing.T) {
	for _, tt := range []struct {
		in   float64
		want time.Duration
	}{
		{0, 0}, {1.5, 1500 * time.Microsecond}, {-2, -2 * time.Millisecond}, {math.NaN(), 0},
		{1e300, math.MaxInt64}, {-1e300, math.MinInt64}, {math.Inf(1), math.MaxInt64},
		// A budget of math.MaxInt64, as the writer writes it, reads back as itself.
		{9223372036854.776, math.MaxInt64},
	} {
		if got := ms(tt.in); got != tt.want {
			t.Errorf("ms(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestAnalyzeReportedThenEnded: an action the watchdog reported that ended
// later stays in its report's bucket, with its end.
func TestAnalyzeReportedThenEnded(t *testing.T) {
	recs := []Record{
		rStart("a", "", 0, 1), rReport("overdue", "a", 1, 1, "past its budget"), rEnd("a", 3, 3, "ok", false, ""),
		rStart("b", "", 0, 0), rReport("stalled", "b", 2, 2, "no heartbeat"), rEnd("b", 4, 4, "unset", false, ""),
		rStart("c", "", 0, 0), rEnd("c", 1, 1, "ok", false, ""),
	}
	rep := Analyze(recs, minute(5))
	if len(rep.Overdue) != 1 || rep.Overdue[0].SpanID != "a" || !rep.Overdue[0].End.Equal(minute(3)) {
		t.Errorf("overdue = %+v, want a, ended at minute 3", rep.Overdue)
	}
	if len(rep.Stalled) != 1 || rep.Stalled[0].SpanID != "b" || rep.Stalled[0].Duration != 4*time.Minute {
		t.Errorf("stalled = %+v, want b, which ran 4 minutes", rep.Stalled)
	}
	if len(rep.Running) != 0 || rep.Actions != 3 {
		t.Errorf("running = %v, actions = %d; want none running of 3", rep.Running, rep.Actions)
	}
}

// TestAnalyzeDeepChain: a chain of 50,000 nested open actions, which only
// a corrupt or hostile journal holds, is analysed within a stack of 2 MiB:
// a journal of 64 MiB can hold a chain of 500,000, and the runtime ends
// the process, beyond recovery, when a goroutine passes its maximum stack.
func TestAnalyzeDeepChain(t *testing.T) {
	const n = 50_000
	recs := make([]Record, n)
	for i := range recs {
		recs[i] = Record{Kind: "start", Time: t0, SpanID: strconv.Itoa(i)}
		if i > 0 {
			recs[i].ParentID = strconv.Itoa(i - 1)
		}
	}
	// And a cycle of two.
	recs = append(recs, Record{Kind: "start", Time: t0, SpanID: "x", ParentID: "y"}, Record{Kind: "start", Time: t0, SpanID: "y", ParentID: "x"})
	defer debug.SetMaxStack(debug.SetMaxStack(2 << 20))
	rep := Analyze(recs, t0.Add(time.Minute))
	if len(rep.Running) != n+2 {
		t.Fatalf("%d running, want %d", len(rep.Running), n+2)
	}
	for _, e := range rep.Running {
		var want int
		if i, err := strconv.Atoi(e.SpanID); err == nil { // the chain's, by span id
			want = n - 1 - i
		} else {
			want = 1 // one of the cycle: the other is under it
			if e.SpanID == "y" {
				want = 0 // the walk started at x, and cut the cycle at y
			}
		}
		if got := 0; e.Deepest != nil {
			got = e.Deepest.Depth
			if got != want || want > 0 && e.Deepest.SpanID != map[bool]string{true: strconv.Itoa(n - 1), false: "y"}[want > 1 || e.SpanID != "x"] {
				t.Fatalf("%s: deepest %+v, want depth %d", e.SpanID, e.Deepest, want)
			}
		} else if want != 0 {
			t.Fatalf("%s: no deepest, want depth %d", e.SpanID, want)
		}
	}
}

// FuzzAnalyze: any file content, read and analysed, gives a report
// without panic: every action in at most one bucket, no negative
// duration, and records that encode as JSON again.
func FuzzAnalyze(f *testing.F) {
	f.Add(sampleJournal(f, f.TempDir()), int64(0))
	f.Add([]byte(header+"\n"+start+"\n"+end+"\n"), int64(60e9))
	f.Add([]byte(`{"kind":"start","time":"10000-01-01T00:00:00Z","span_id":"a","parent_id":"a"}`+"\n"+
		`{"kind":"end","time":"0000-01-01T00:00:00Z","span_id":"b","duration_ms":1e300,"status":"error"}`+"\n"), int64(math.MaxInt64))
	f.Add([]byte(`{"kind":"dropped","count":9223372036854775807}`+"\n"+`{"kind":"stalled","span_id":"c","elapsed_ms":-1}`+"\n\x00\xff\n"), int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, data []byte, asOfNS int64) {
		recs, err := Read(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		for _, r := range recs {
			if _, err := json.Marshal(r); err != nil {
				t.Fatalf("record %+v cannot be encoded: %v", r, err)
			}
		}
		for _, asOf := range []time.Time{{}, time.Unix(0, asOfNS)} {
			rep := Analyze(recs, asOf)
			n := 0
			for _, b := range [][]Entry{rep.Running, rep.Overdue, rep.Stalled, rep.OverBudget, rep.Abandoned, rep.Cancelled, rep.Errors} {
				for _, e := range b {
					n++
					if e.Duration < 0 || e.Budget < 0 || e.Deepest != nil && e.Deepest.Duration < 0 {
						t.Fatalf("entry %+v has a negative duration", e)
					}
				}
			}
			if n > rep.Actions || rep.Dropped < 0 || rep.Corrupt < 0 {
				t.Fatalf("%d entries of %d actions, dropped %d, corrupt %d", n, rep.Actions, rep.Dropped, rep.Corrupt)
			}
		}
	})
}
