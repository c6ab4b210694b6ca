package journal

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// TestReadTimesOutOfRange: a time whose year is outside 0–9999, as earlier
// writers wrote for far-off deadlines, does not make its record corrupt:
// it reads as the nearest time RFC 3339 can represent, so that the record
// can be encoded again.
func TestReadTimesOutOfRange(t *testing.T) {
	rec := func(field, value string) string {
		return `{"kind":"start","span_id":"00f067aa0ba90201","` + field + `":"` + value + `"}`
	}
	for _, tt := range []struct {
		name, line string
		time       time.Time // want, of the time field
		deadline   time.Time
		corrupt    bool
	}{
		{"year 10000", rec("time", "10000-01-01T00:00:00Z"), maxTime, time.Time{}, false},
		{"year +10000", rec("time", "+10000-01-01T00:00:00Z"), maxTime, time.Time{}, false},
		{"year 292277026596", rec("deadline", "292277026596-12-04T15:30:07.999999999Z"), time.Time{}, maxTime, false},
		{"year -0001", rec("time", "-0001-12-31T23:59:59Z"), minTime, time.Time{}, false},
		{"year -292277022657", rec("time", "-292277022657-01-27T08:29:52Z"), minTime, time.Time{}, false},
		{"year +2025", rec("time", "+2025-03-01T12:00:00Z"), t0, time.Time{}, false},
		{"year 02025", rec("time", "02025-03-01T12:00:00Z"), t0, time.Time{}, false},
		{"year -0000", rec("time", "-0000-01-01T00:00:00Z"), minTime, time.Time{}, false},
		{"year 9999 ahead of UTC", rec("time", "9999-12-31T23:00:00-02:00"), time.Date(10000, 1, 1, 1, 0, 0, 0, time.UTC), time.Time{}, false},
		{"year 10000, bad month", rec("time", "10000-13-01T00:00:00Z"), time.Time{}, time.Time{}, true},
		{"year 10000, no zone", rec("time", "10000-01-01T00:00:00"), time.Time{}, time.Time{}, true},
		{"year of 3 digits", rec("time", "999-01-01T00:00:00Z"), time.Time{}, time.Time{}, true},
		{"sign alone", rec("time", "+-01-01T00:00:00Z"), time.Time{}, time.Time{}, true},
		{"not a string", `{"kind":"start","time":12}`, time.Time{}, time.Time{}, true},
		{"null", `{"kind":"start","time":null}`, time.Time{}, time.Time{}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := Read(strings.NewReader(tt.line + "\n"))
			if err != nil || len(recs) != 1 {
				t.Fatalf("Read: %d records, %v; want 1", len(recs), err)
			}
			r := recs[0]
			if tt.corrupt {
				if r.Kind != RecordCorrupt {
					t.Errorf("got a %s record, want a corrupt one", r.Kind)
				}
				return
			}
			if r.Kind != "start" || !r.Time.Equal(tt.time) || !r.Deadline.Equal(tt.deadline) {
				t.Errorf("got %s at %v, deadline %v; want start at %v, deadline %v", r.Kind, r.Time, r.Deadline, tt.time, tt.deadline)
			}
			if _, err := json.Marshal(r); err != nil {
				t.Errorf("the record read cannot be encoded again: %v", err)
			}
		})
	}
}

// TestClampTime: times out of RFC 3339's range are clamped; others are
// kept, with their location.
func TestClampTime(t *testing.T) {
	east := time.FixedZone("east", 2*3600)
	for _, tt := range []struct {
		in, want time.Time
	}{
		{t0, t0},
		{time.Time{}, time.Time{}},
		{t0.In(east), t0.In(east)},
		{minTime, minTime},
		{maxTime, maxTime},
		{time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC), maxTime},
		{time.Date(-1, 12, 31, 0, 0, 0, 0, time.UTC), minTime},
		{time.Unix(1<<62, 0), maxTime},
		{time.Unix(-1<<62, 0), minTime},
		{maxTime.In(east), maxTime}, // year 10000 in its location
		{t0.Add(math.MaxInt64), t0.Add(math.MaxInt64)},
	} {
		got := ClampTime(tt.in)
		if !got.Equal(tt.want) || got.Location() != tt.want.Location() {
			t.Errorf("ClampTime(%v) = %v, want %v", tt.in, got, tt.want)
		}
		if _, err := json.Marshal(got); err != nil {
			t.Errorf("ClampTime(%v) = %v, which JSON cannot encode: %v", tt.in, got, err)
		}
	}
}

// TestWriterOutOfRange: events with times, deadlines and durations at the
// edges of their types are written as records that read back whole: none
// is lost as corrupt, times are clamped, and durations keep their value or
// saturate.
func TestWriterOutOfRange(t *testing.T) {
	now := time.Now()
	for _, tt := range []struct {
		name                string
		e                   Event
		time, deadline      time.Time // want
		budgetMS, elapsedMS float64
		budget, heartbeat   time.Duration // want, as Analyze reads them
	}{
		{
			name: "deadline of context.WithTimeout(ctx, math.MaxInt64)",
			e:    Event{Kind: KindStart, Time: t0, Deadline: now.Add(math.MaxInt64), Budget: math.MaxInt64, Heartbeat: math.MaxInt64},
			time: t0, deadline: now.Add(math.MaxInt64).Truncate(0), budgetMS: 9223372036854.776, budget: math.MaxInt64,
		},
		{
			name: "deadline after 9999",
			e:    Event{Kind: KindStart, Time: t0, Deadline: time.Unix(1<<62, 0)},
			time: t0, deadline: maxTime,
		},
		{
			name: "time after 9999",
			e:    Event{Kind: KindOverdue, Time: time.Date(12345, 1, 1, 0, 0, 0, 0, time.UTC), Elapsed: math.MaxInt64},
			time: maxTime, elapsedMS: 9223372036854.776,
		},
		{
			name: "time before year 0",
			e:    Event{Kind: KindStalled, Time: time.Date(-5, 1, 1, 0, 0, 0, 0, time.UTC), Elapsed: -time.Hour},
			time: minTime, elapsedMS: 0,
		},
		{
			name: "negative durations, as clock skew gives",
			e:    Event{Kind: KindStart, Time: t0, Budget: math.MinInt64, Heartbeat: -time.Second},
			time: t0,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := mustOpen(t, testOptions(t))
			tt.e.Span = spanCtx(1)
			w.Write(tt.e)
			mustClose(t, w)
			recs := mustRead(t, w.Path())
			if got := strings.Join(kinds(recs), " "); got != "header "+tt.e.Kind.String()+" close" {
				t.Fatalf("records %s, want header, the event and close", got)
			}
			r := recs[1]
			if !r.Time.Equal(tt.time) || !r.Deadline.Equal(tt.deadline) || r.BudgetMS != tt.budgetMS || r.ElapsedMS != tt.elapsedMS {
				t.Errorf("got time %v deadline %v budget %vms elapsed %vms,\nwant time %v deadline %v budget %vms elapsed %vms",
					r.Time, r.Deadline, r.BudgetMS, r.ElapsedMS, tt.time, tt.deadline, tt.budgetMS, tt.elapsedMS)
			}
			if r.HeartbeatMS < 0 || r.BudgetMS < 0 {
				t.Errorf("negative durations written: heartbeat %vms, budget %vms", r.HeartbeatMS, r.BudgetMS)
			}
			rep := Analyze(recs, time.Time{})
			for _, e := range append(rep.Running, append(rep.Overdue, rep.Stalled...)...) {
				if e.Duration < 0 || e.Budget != tt.budget {
					t.Errorf("entry %s: duration %v, budget %v; want a duration of at least 0 and budget %v", e.SpanID, e.Duration, e.Budget, tt.budget)
				}
			}
		})
	}
}

// TestAnalyzeOutOfRange: records with durations and counts at the edges of
// their types, or negative, give durations of at least 0 and counts that
// do not overflow.
func TestAnalyzeOutOfRange(t *testing.T) {
	recs := []Record{
		{Kind: "header", Time: t0},
		{Kind: "dropped", Time: t0, Count: math.MaxInt64},
		{Kind: "dropped", Time: t0, Count: math.MaxInt64},
		{Kind: "dropped", Time: t0, Count: -5},
		{Kind: "corrupt", Count: math.MaxInt64},
		{Kind: "corrupt", Count: 1},
		rEnd("a", 1, 0, "error", false, "x"),
		{Kind: "end", Time: minute(1), SpanID: "b", DurationMS: 1e300, Status: "error"},
		{Kind: "end", Time: minute(1), SpanID: "c", DurationMS: -1e300, Cancelled: true},
		{Kind: "end", Time: minute(1), SpanID: "d", DurationMS: math.NaN(), Cancelled: true},
		{Kind: "overdue", Time: minute(2), SpanID: "e", ElapsedMS: 1e300, BudgetMS: 1e300},
		{Kind: "stalled", Time: minute(2), SpanID: "f", ElapsedMS: -1e300},
		{Kind: "abandoned", Time: minute(2), SpanID: "g", ElapsedMS: -60000},
		{Kind: "start", Time: minTime, SpanID: "h"},
		{Kind: "start", Time: maxTime, SpanID: "i"}, // a clock far ahead: Last is year 9999
		{Kind: "start", Time: t0.Add(time.Hour), SpanID: "j", BudgetMS: -5},
	}
	for _, asOf := range []time.Time{{}, t0, minTime, maxTime} {
		rep := Analyze(recs, asOf)
		if rep.Dropped != math.MaxInt64 || rep.Corrupt != math.MaxInt64 {
			t.Errorf("as of %v: dropped %d, corrupt %d; want both saturated at %d", asOf, rep.Dropped, rep.Corrupt, int64(math.MaxInt64))
		}
		n := 0
		for _, b := range [][]Entry{rep.Running, rep.Overdue, rep.Stalled, rep.Abandoned, rep.Cancelled, rep.Errors} {
			for _, e := range b {
				n++
				if e.Duration < 0 || e.Budget < 0 {
					t.Errorf("as of %v: %s has duration %v, budget %v; want neither negative", asOf, e.SpanID, e.Duration, e.Budget)
				}
			}
		}
		if n != rep.Actions || n != 10 {
			t.Errorf("as of %v: %d entries of %d actions, want 10", asOf, n, rep.Actions)
		}
	}
}
