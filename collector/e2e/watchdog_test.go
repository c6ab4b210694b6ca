package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// watchdogExample is the watchdog's example configuration.
var watchdogExample = filepath.Join(moduleDir, "examples", "watchdog.yaml")

// heartbeat returns a span lifecycle record of action n of process
// instance, as OpenTelemetry Python contrib's partial-span processor
// writes it: ids in hex without leading zeros.
func heartbeat(instance string, n int, start time.Time) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "py-fuzzer")
	rl.Resource().Attributes().PutStr("service.instance.id", instance)
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now()))
	lr.Attributes().PutStr("span.state", "heartbeat")
	lr.Attributes().PutStr("log.body.type", "json/v1")
	lr.Body().SetStr(fmt.Sprintf(`{"resourceSpans":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"py-fuzzer"}}]},`+
		`"scopeSpans":[{"scope":{"name":"fuzzer"},"spans":[{"traceId":"%x","spanId":"%x","name":"fuzz_harness","kind":1,`+
		`"startTimeUnixNano":"%d","attributes":[{"key":"crs.action.category","value":{"stringValue":"fuzzing"}},`+
		`{"key":"crs.action.name","value":{"stringValue":"fuzz_harness"}},{"key":"task.id","value":{"stringValue":"task-%d"}}]}]}]}]}`,
		0xabc00+n, 0xd00+n, start.UnixNano(), n))
	return ld
}

// lostCounts reads the collector's file: how many times each span was
// exported with crstel.watchdog.state lost, by name and span id (a
// report's: the action's).
func (c *collector) lostCounts() (map[string]int, error) {
	spans, err := c.watchdogSpans()
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, s := range spans {
		if s.state != "lost" {
			continue
		}
		id := s.span // a report by the action it reports
		if s.name == "crstel.watchdog lost" {
			id = s.parent
		}
		out[s.name+" "+id]++
	}
	return out, nil
}

// waitLost waits up to timeout until the collector's file holds want.
func (c *collector) waitLost(t *testing.T, want map[string]int, timeout time.Duration) map[string]int {
	t.Helper()
	var got map[string]int
	waitFor(t, timeout, func() (bool, string) {
		var err error
		if got, err = c.lostCounts(); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprintf("lost reports: got %v, want %v", got, want)
	})
	return got
}

// TestWatchdogRestart: crstelcol with the watchdog and file_storage is
// killed with SIGKILL and restarted; the actions it tracked are reported
// lost after the restart, each once, and an action reported before the
// kill is not reported again when its heartbeat is retried.
func TestWatchdogRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts crstelcol")
	}
	const lostAfter = 3 * time.Second
	c := startWith(t, []string{
		"CRSTELCOL_STORAGE_DIR=" + filepath.Join(t.TempDir(), "storage"),
		"CRSTELCOL_WATCHDOG_LOST_AFTER=" + lostAfter.String(),
		"CRSTELCOL_WATCHDOG_CHECK_INTERVAL=200ms",
	}, watchdogExample)
	conn, err := grpc.NewClient(c.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	send := func(ld plog.Logs) {
		t.Helper()
		if _, err := plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(ld)); err != nil {
			t.Fatalf("export logs: %v", err)
		}
	}
	start := time.Now()
	// Action 1 of p1 is reported lost before the kill.
	send(heartbeat("p1", 1, start))
	c.waitLost(t, map[string]int{"fuzz_harness 0000000000000d01": 1, "crstel.watchdog lost 0000000000000d01": 1}, 10*lostAfter)

	// Actions 2 and 3 of p2 are tracked, saved (two checks), then the
	// collector is killed.
	send(heartbeat("p2", 2, start))
	send(heartbeat("p2", 3, start))
	time.Sleep(600 * time.Millisecond)
	c.kill()
	c.spansFile = filepath.Join(t.TempDir(), "after.jsonl")
	c.launch(t)
	send(heartbeat("p1", 1, start)) // a retry of action 1's record: reported already
	got := c.waitLost(t, map[string]int{
		"fuzz_harness 0000000000000d02": 1, "fuzz_harness 0000000000000d03": 1,
		"crstel.watchdog lost 0000000000000d02": 1, "crstel.watchdog lost 0000000000000d03": 1,
	}, 10*lostAfter)
	// Nothing more comes: no second report, nothing about action 1.
	time.Sleep(lostAfter + time.Second)
	if again, err := c.lostCounts(); err != nil || fmt.Sprint(again) != fmt.Sprint(got) {
		t.Errorf("after the reports: got %v (%v), want %v", again, err, got)
	}
}

// TestWatchdogScaleOut: an agent crstelcol (examples/agent.yaml, the
// load-balancing exporter routing records by resource) in front of two
// gateways with crs_watchdog, one process each. Sixteen processes send
// lifecycle records as the Python partial-span processor writes them (no
// trace id on the record) and die: each action is reported lost exactly
// once, by one gateway, and the two gateways share the work.
func TestWatchdogScaleOut(t *testing.T) {
	crstelcol(t)
	const lostAfter, processes = 3 * time.Second, 16
	gateways := make([]*collector, 2)
	for i := range gateways {
		gateways[i] = startWith(t, []string{
			"CRSTELCOL_STORAGE_DIR=" + filepath.Join(t.TempDir(), "storage"),
			"CRSTELCOL_WATCHDOG_LOST_AFTER=" + lostAfter.String(),
			"CRSTELCOL_WATCHDOG_CHECK_INTERVAL=200ms",
		}, watchdogExample)
	}
	agent := &collector{grpc: freeAddr(t), metrics: freeAddr(t), spansFile: filepath.Join(t.TempDir(), "agent.jsonl")}
	_, metricsPort, _ := net.SplitHostPort(agent.metrics)
	agent.args = []string{"--config", filepath.Join(moduleDir, "examples", "agent.yaml")}
	agent.env = append(os.Environ(),
		"CRSTELCOL_GRPC_ENDPOINT="+agent.grpc,
		"CRSTELCOL_METRICS_HOST=127.0.0.1",
		"CRSTELCOL_METRICS_PORT="+metricsPort,
		fmt.Sprintf("CRSTELCOL_GATEWAYS=[%s, %s]", gateways[0].grpc, gateways[1].grpc),
	)
	agent.launch(t)

	conn, err := grpc.NewClient(agent.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	start := time.Now()
	want := map[string]int{}
	for beat := range 3 {
		for n := 1; n <= processes; n++ {
			ld := heartbeat(fmt.Sprintf("proc-%d", n), n, start)
			if _, err := plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(ld)); err != nil {
				t.Fatalf("export logs to the agent: %v", err)
			}
			if beat == 0 {
				id := fmt.Sprintf("%016x", 0xd00+n)
				want["fuzz_harness "+id]++
				want["crstel.watchdog lost "+id]++
			}
		}
		time.Sleep(300 * time.Millisecond)
	}

	// Every action once, in one gateway or the other.
	merged := func() (map[string]int, []int) {
		all := map[string]int{}
		var per []int
		for _, g := range gateways {
			got, err := g.lostCounts()
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for k, v := range got {
				all[k] += v
				n += v
			}
			per = append(per, n/2)
		}
		return all, per
	}
	var per []int
	waitFor(t, lostAfter+time.Minute, func() (bool, string) {
		var got map[string]int
		got, per = merged()
		return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprintf("lost reports over both gateways: got %v, want %v", got, want)
	})
	t.Logf("lost actions reported by each gateway: %v", per)
	if per[0] == 0 || per[1] == 0 {
		t.Errorf("one gateway reported every action (%v): the agent did not spread the processes", per)
	}
	time.Sleep(lostAfter + time.Second)
	if got, _ := merged(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after the reports: got %v, want each once: %v", got, want)
	}
}
