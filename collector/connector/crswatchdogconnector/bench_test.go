package crswatchdogconnector

import (
	"context"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// batchOf returns n heartbeat records of distinct actions, from first,
// in one export, with an action's usual attributes.
func batchOf(first, n int) plog.Logs {
	recs := make([]rec, n)
	start := time.Now()
	for i := range recs {
		recs[i] = act(first+i, start).with("crs.action.effort.weight", 3).with("team.id", "team-1").
			with(BudgetKey, 600.0).in("p" + string(rune('a'+i%8)))
	}
	return logsOf(recs...)
}

// BenchmarkHeartbeats measures span lifecycle records through the
// connector (decode, snapshot, track), against decoding their bodies alone
// with pdata's JSON unmarshaler (ids already padded).
func BenchmarkHeartbeats(b *testing.B) {
	const n = 100
	ld := batchOf(0, n)
	b.Run("connector", func(b *testing.B) {
		h := newHarness(b, nil, nil)
		b.ReportAllocs()
		for b.Loop() {
			if err := h.logs.ConsumeLogs(context.Background(), ld); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("json_decode_only", func(b *testing.B) {
		var u ptrace.JSONUnmarshaler
		var bodies [][]byte // with the ids padded, as pdata needs them
		for _, rl := range ld.ResourceLogs().All() {
			bodies = append(bodies, normalizeIDs([]byte(rl.ScopeLogs().At(0).LogRecords().At(0).Body().Str())))
		}
		b.ReportAllocs()
		for b.Loop() {
			for _, body := range bodies {
				if _, err := u.UnmarshalTraces(body); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "records/s")
	})
}

// BenchmarkBytesPerAction measures the heap the connector keeps per
// tracked action: 100,000 actions, by runtime.MemStats before and after.
func BenchmarkBytesPerAction(b *testing.B) {
	const actions, batch = 100_000, 1000
	batches := make([]plog.Logs, actions/batch)
	for i := range batches {
		batches[i] = batchOf(i*batch, batch)
	}
	for b.Loop() {
		h := newHarness(b, nil, nil)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		for _, ld := range batches {
			if err := h.logs.ConsumeLogs(context.Background(), ld); err != nil {
				b.Fatal(err)
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		if got := len(h.w().actions); got != actions {
			b.Fatalf("tracked %d actions, want %d", got, actions)
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/actions, "bytes/action")
		runtime.KeepAlive(h)
		h.shutdown(b)
	}
}
