package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"

	"github.com/crstel/crstel/internal/journal"
)

// TestMetadataLines: the ids of the task metadata stay visible, whole,
// within 80 columns, whatever the other values: each defect of this class
// is a row.
func TestMetadataLines(t *testing.T) {
	uuid := "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
	many := map[string]string{"task.id": "task-1"}
	for i := range 200 {
		many[fmt.Sprintf("k%03d", i)] = "v"
	}
	manyIDs := map[string]string{}
	for c := 'a'; c <= 'j'; c++ {
		manyIDs[string(c)+".id"] = strings.Repeat(string(c), 30)
	}
	for _, tt := range []struct {
		name string
		md   map[string]string
		want []string // the lines
	}{
		{"ids only", map[string]string{"task.id": "task-1", "round.id": "round-3"}, []string{"round.id=round-3 task.id=task-1"}},
		{
			"a long value sorted before the ids",
			map[string]string{"aa": strings.Repeat("y", 300), "task.id": "task-1", "round.id": "r"},
			[]string{"round.id=r task.id=task-1 aa=" + strings.Repeat("y", 34) + "…"},
		},
		{
			"UUIDs",
			map[string]string{"round.id": uuid, "task.id": uuid, "team.id": uuid, "harness": "h"},
			[]string{"round.id=" + uuid, "task.id=" + uuid, "team.id=" + uuid + " harness=h"},
		},
		{
			"many keys",
			many,
			[]string{
				"task.id=task-1 k000=v k001=v k002=v k003=v k004=v k005=v k006=v k007=v",
				"k008=v k009=v k010=v k011=v k012=v k013=v k014=v k015=v k016=v +183 more",
			},
		},
		{
			"many ids",
			manyIDs,
			[]string{
				"a.id=" + strings.Repeat("a", 30) + " b.id=" + strings.Repeat("b", 30),
				"c.id=" + strings.Repeat("c", 30) + " d.id=" + strings.Repeat("d", 30),
				"e.id=" + strings.Repeat("e", 30) + " f.id=" + strings.Repeat("f", 30),
				"g.id=" + strings.Repeat("g", 30) + " h.id=" + strings.Repeat("h", 30),
				"i.id=" + strings.Repeat("i", 30) + " j.id=" + strings.Repeat("j", 30),
			},
		},
		{
			"an id longer than a line",
			map[string]string{"task.id": strings.Repeat("t", 100), "other": "o"},
			[]string{"task.id=" + strings.Repeat("t", 67) + "…", "other=o"},
		},
		{
			"wide characters",
			map[string]string{"task.id": "任务-1", "note": strings.Repeat("漢字", 40)},
			[]string{"task.id=任务-1 note=" + strings.Repeat("漢字", 8) + "…"},
		},
		{
			"escapes",
			map[string]string{"task.id": "t\x1b[31m1", "x\x1b]0;": "\u202eevil\r\n"},
			[]string{`task.id=t\x1b[31m1 x\x1b]0;=\u202eevil  `},
		},
		{"the +N tag replaces what does not fit", map[string]string{
			"task.id": "t", "a": strings.Repeat("a", 40), "b": strings.Repeat("b", 40), "c": strings.Repeat("c", 40), "d": strings.Repeat("d", 40),
		}, []string{"task.id=t a=" + strings.Repeat("a", 35) + "…", "b=" + strings.Repeat("b", 35) + "… +2 more"}},
		{"none", nil, []string{}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := metadataLines(tt.md, width-len(indent))
			if !slices.Equal(got, tt.want) {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
			checkWidth(t, "\n"+indent+strings.Join(got, "\n"+indent))
		})
	}
}

// TestAnomaliesHostileJournal: a journal whose every text is hostile (long,
// wide, with escapes, many metadata keys) prints within 80 columns,
// escaped, with every id visible.
func TestAnomaliesHostileJournal(t *testing.T) {
	dir := t.TempDir()
	w, err := journal.Open(journal.Options{Dir: dir, Service: "svc\x1b]0;pwned\x07" + strings.Repeat("長", 100)})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 2000)
	md := []attribute.KeyValue{
		attribute.String("aaa", long), attribute.String("round.id", "round-7"), attribute.String("task.id", "6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
		attribute.String("team.id", "team-\x1b[41mred"), attribute.String("emoji", strings.Repeat("🙂", 100)),
		attribute.String("bidi", "\u202e\u2066evil\u2069"), attribute.String("crlf", "a\r\nb"),
	}
	for i := range 50 {
		md = append(md, attribute.String("key"+strconv.Itoa(i), long))
	}
	ids := []string{"round.id=round-7", "task.id=6ba7b810-9dad-11d1-80b4-00c04fd430c8", `team.id=team-\x1b[41mred`}
	for i, kind := range []journal.Kind{journal.KindStart, journal.KindOverdue, journal.KindStart, journal.KindAbandoned} {
		e := journal.Event{
			Kind: kind, Time: t0.Add(time.Duration(i) * time.Minute), Span: span(1 + i/2), Metadata: md,
			Category: "cat\x1b[2J" + long, Name: "name\u202e" + strings.Repeat("名", 100), Error: "why\x1b[2J\x07" + long, Stack: "goroutine 1:\n\x1b[2Jmain()",
		}
		if i >= 2 {
			e.Parent = spanID(1)
		}
		w.Write(e)
	}
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"trace", "anomalies", "--json", w.Path()}, {"trace", "read", w.Path()}, {"trace", "list", "--json"}} {
		out := mustCmd(t, dir, args...)
		if !json.Valid([]byte(out)) || hasRawControls(out) || args[1] != "list" && !strings.Contains(out, `\u202e`) {
			t.Errorf("crstel %s: not JSON, or control characters not escaped:\n%s", strings.Join(args, " "), out)
		}
	}
	for _, args := range [][]string{{"trace", "anomalies", w.Path()}, {"trace", "anomalies", "--stacks", "--all", w.Path()}, {"trace", "list"}} {
		out := mustCmd(t, dir, args...)
		t.Logf("crstel %s:\n%s", strings.Join(args, " "), out)
		checkWidth(t, out)
		if args[1] == "anomalies" {
			for _, id := range ids {
				if n := strings.Count(out, id); n != 2 {
					t.Errorf("crstel %s: %q appears %d times, want once for each action", strings.Join(args, " "), id, n)
				}
			}
		}
	}
}

// TestTimesOutOfRange: times and durations at the edges of their types,
// or negative, in a journal: the text shows no negative duration and fits
// 80 columns, and --json prints times clamped to the years 0 to 9999,
// which JSON can represent, instead of failing.
func TestTimesOutOfRange(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "20250301T120000-1073741824-patcher.jsonl")
	lines := []string{
		`{"kind":"header","version":1,"time":"2025-03-01T12:00:00Z","pid":1073741824,"service":"patcher"}`,
		// Ended in the year 0 after 31 years: started in the year -31.
		`{"kind":"end","time":"0000-01-01T00:00:01Z","span_id":"a1","name":"before_0","status":"error","duration_ms":1e12}`,
		// A deadline after 9999, as earlier writers wrote it, and the
		// largest budget.
		`{"kind":"start","time":"2025-03-01T12:00:00Z","span_id":"a2","name":"far_deadline","deadline":"292277026596-12-04T15:30:07Z","budget_ms":9223372036854.776}`,
		// Clock skew: an end before its start, a report with negative
		// elapsed time.
		`{"kind":"start","time":"2025-03-01T12:05:00Z","span_id":"a3","name":"skewed"}`,
		`{"kind":"stalled","time":"2025-03-01T12:00:00Z","span_id":"a3","name":"skewed","elapsed_ms":-300000,"error":"no heartbeat for -1ms"}`,
		`{"kind":"end","time":"2025-03-01T11:00:00Z","span_id":"a4","name":"negative","status":"error","duration_ms":-5000}`,
		// Durations beyond time.Duration, and a time after 9999.
		`{"kind":"overdue","time":"10000-01-01T00:00:00Z","span_id":"a5","name":"after_9999","elapsed_ms":1e300,"budget_ms":1e300}`,
		`{"kind":"abandoned","time":"9999-12-31T23:59:59.999999999-23:59","span_id":"a6","name":"ahead_of_utc","elapsed_ms":1}`,
		`{"kind":"dropped","time":"2025-03-01T12:00:00Z","count":9223372036854775807}`,
		`{"kind":"dropped","time":"2025-03-01T12:00:00Z","count":9223372036854775807}`,
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out := mustCmd(t, dir, "trace", "anomalies", path)
	t.Logf("crstel trace anomalies:\n%s", out)
	checkWidth(t, out)
	for _, want := range []string{"actions  6\n", "warning  9223372036854775807 events dropped", "106751d", "stalled: no heartbeat for -1ms\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 2 && l[0] >= '0' && l[0] <= '9' && (strings.HasPrefix(f[0], "-") || strings.HasPrefix(f[1], "-") && f[1] != "-") {
			t.Errorf("a negative duration: %q", l)
		}
	}

	raw := mustCmd(t, dir, "trace", "anomalies", "--json", path)
	var got jsonOutput
	if err := json.Unmarshal([]byte(raw), &got); err != nil {
		t.Fatalf("--json: %v\n%s", err, raw)
	}
	minT, maxT := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC)
	for _, b := range [][]jsonEntry{got.Running, got.Overdue, got.Stalled, got.Abandoned, got.Cancelled, got.Errors} {
		for _, e := range b {
			if e.Start.Before(minT) || e.Start.After(maxT) || e.End.After(maxT) || e.DurationMS < 0 || e.BudgetMS < 0 {
				t.Errorf("%s: start %v, end %v, duration %vms, budget %vms", e.SpanID, e.Start, e.End, e.DurationMS, e.BudgetMS)
			}
		}
	}
	if got.Errors[len(got.Errors)-1].Start != minT && got.Errors[0].Start != minT {
		t.Errorf("errors %+v: want before_0 started at %v", got.Errors, minT)
	}
	if got.Dropped != math.MaxInt64 {
		t.Errorf("dropped %d, want %d", got.Dropped, int64(math.MaxInt64))
	}
	if raw := mustCmd(t, dir, "trace", "read", path); !json.Valid([]byte(raw)) || !strings.Contains(raw, `"deadline":"9999-12-31T23:59:59.999999999Z"`) {
		t.Errorf("trace read: not JSON, or the far deadline not clamped:\n%s", raw)
	}
	if raw := mustCmd(t, dir, "trace", "list", "--json"); !json.Valid([]byte(raw)) {
		t.Errorf("trace list --json: not JSON:\n%s", raw)
	}
}

// FuzzAnomalies: whatever a journal holds, "trace anomalies" succeeds,
// prints within 80 columns without raw control characters, and --json,
// "trace read" and "trace list --json" print valid JSON.
func FuzzAnomalies(f *testing.F) {
	dir := f.TempDir()
	f.Add(mustReadFile(f, crashedFixture(f, dir)))
	f.Add([]byte(`{"kind":"start","time":"10000-01-01T00:00:00Z","span_id":"a","parent_id":"a","metadata":{"task.id":"t\u001b[2J","x":"` + strings.Repeat("漢", 300) + `"}}` + "\n"))
	f.Add([]byte(`{"kind":"end","time":"0000-01-01T00:00:00Z","span_id":"b","duration_ms":1e300,"status":"error","error":"\u202e\r\n"}` + "\n\x00\xff\n"))
	f.Add([]byte(`{"kind":"header","pid":4294967295,"service":"\u009b31m","time":"2025-03-01T12:00:00Z"}` + "\n" + `{"kind":"dropped","count":-1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		dir := t.TempDir()
		path := filepath.Join(dir, "20250301T120000-7-fuzz.jsonl")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{
			{"trace", "anomalies", path}, {"trace", "anomalies", "--json", path}, {"trace", "read", path},
			{"trace", "list"}, {"trace", "list", "--json"},
		} {
			out, errOut, code := cmd(t, dir, args...)
			if code != 0 || errOut != "" {
				t.Fatalf("crstel %s: exit %d, stderr %q", strings.Join(args, " "), code, errOut)
			}
			if args[len(args)-2] == "--json" || args[len(args)-1] == "--json" || args[1] == "read" {
				if !json.Valid([]byte(out)) || hasRawControls(out) {
					t.Fatalf("crstel %s: not JSON, or raw control characters:\n%q", strings.Join(args, " "), out)
				}
				continue
			}
			checkWidth(t, out)
		}
	})
}

func mustReadFile(tb testing.TB, path string) []byte {
	tb.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return data
}

// TestEscapeJSON: the runes encoding/json writes raw that could drive a
// terminal are escaped, and the JSON means the same.
func TestEscapeJSON(t *testing.T) {
	for _, in := range []string{"plain", "del\x7f", "a\u202eb", "\u0085\u009b31m", "zero\u200bwidth", "tag \U000e0041", "漢字 🙂 é", "\u2028"} {
		b, _ := json.Marshal(map[string]string{"k": in})
		got := escapeJSON(b)
		var back map[string]string
		if err := json.Unmarshal(got, &back); err != nil || back["k"] != in || hasRawControls(string(got)) {
			t.Errorf("escapeJSON(%s) = %s, which decodes to %q, %v; want %q, escaped", b, got, back["k"], err, in)
		}
	}
}
