package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// TestOTLPLogs: log records sent over OTLP gRPC to crstelcol with its
// default configuration are checked in the logs pipeline: a record in an
// action's span inherits from the action's record, a bad one is marked,
// and the metrics say so with signal="logs".
func TestOTLPLogs(t *testing.T) {
	c := start(t)
	conn, err := grpc.NewClient(c.grpc, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()

	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "py-fuzzer")
	recs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i, attrs := range []map[string]any{
		{"crs.action.category": "fuzzing", "crs.action.name": "fuzz_harness", "round.id": "round-1", "task.id": "task-1"},
		{"message.kind": "progress"},
		{"crs.action.category": "fuzzing", "crs.action.name": "fuzz_harness", "round.id": "round-1", "task.id": "task-1",
			"fuzz.corpus.size": "1500"},
	} {
		r := recs.AppendEmpty()
		r.SetTraceID(pcommon.TraceID{7})
		r.SetSpanID(pcommon.SpanID{7})
		r.Body().SetStr("record " + string(rune('a'+i)))
		if err := r.Attributes().FromRaw(attrs); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := plogotlp.NewGRPCClient(conn).Export(ctx, plogotlp.NewExportRequestFromLogs(ld)); err != nil {
		t.Fatalf("export logs: %v", err)
	}
	// A span after them: once it is in the file, the logs before it went
	// through their pipeline too.
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	rs.Resource().Attributes().PutStr("service.name", "py-fuzzer")
	s := rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty()
	s.SetName("fuzz_harness")
	s.SetTraceID(pcommon.TraceID{7})
	s.SetSpanID(pcommon.SpanID{7})
	_ = s.Attributes().FromRaw(map[string]any{"crs.action.category": "fuzzing", "crs.action.name": "fuzz_harness"})
	if _, err := ptraceotlp.NewGRPCClient(conn).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
		t.Fatalf("export traces: %v", err)
	}
	c.waitSpans(t, 1, 30*time.Second)

	waitFor(t, 30*time.Second, func() (bool, string) {
		text, err := c.scrape()
		if err != nil {
			t.Fatal(err)
		}
		checked, _ := metric(text, "otelcol_processor_crs_conformance_items_checked", `signal="logs"`, `service_name="py-fuzzer"`)
		repaired, _ := metric(text, "otelcol_processor_crs_conformance_items_repaired", `signal="logs"`)
		marked, _ := metric(text, "otelcol_processor_crs_conformance_violations", `signal="logs"`, `rule="type_mismatch"`, `outcome="marked"`)
		return checked == 3 && repaired == 1 && marked == 1,
			fmt.Sprintf("logs checked %v, repaired %v, type_mismatch marked %v; want 3, 1, 1:\n%s", checked, repaired, marked, grep(text, "crs_conformance"))
	})
}
