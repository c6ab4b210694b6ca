package crstel_test

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/internal/otlptest"
)

// startChild runs this test binary as a child in mode (see child in
// main_test.go), with env added to its environment. The test kills it at
// the end.
func startChild(t *testing.T, mode string, env ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), append([]string{"CRSTEL_TEST_CHILD=" + mode}, env...)...)
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
		if t.Failed() {
			t.Logf("child output:\n%s", out)
		}
	})
	return cmd
}

// TestChildHangReported: a child process hangs in an action; its overdue
// report reaches a real OTLP gRPC server while the action is still open.
func TestChildHangReported(t *testing.T) {
	srv := otlptest.NewServer(t)
	startChild(t, "hang",
		"OTEL_EXPORTER_OTLP_ENDPOINT="+srv.URL(),
		"CRSTEL_TRACE_DIR="+t.TempDir(),
		"OTEL_METRICS_EXPORTER=none")

	deadline := time.Now().Add(30 * time.Second)
	var report *otlptest.Span
	for report == nil && time.Now().Before(deadline) {
		for _, s := range srv.Received() {
			if s.Name == "crstel.watchdog overdue" {
				report = &s
			}
			if s.Name == "generate_patch" {
				t.Fatal("the hung action itself was exported: it should still be open")
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if report == nil {
		t.Fatal("no overdue report reached the OTLP server within 30 s")
	}
	if report.Resource["service.name"] != "hung-child" || report.Attributes["crs.action.name"] != "generate_patch" ||
		report.Attributes["crstel.watchdog.state"] != "overdue" {
		t.Errorf("report: resource %v, attributes %v", report.Resource, report.Attributes)
	}
	if report.ParentSpanID == "" || report.Attributes["crstel.watchdog.span_id"] != report.ParentSpanID {
		t.Errorf("report parent %q, reported span %v: want the report under the hung span",
			report.ParentSpanID, report.Attributes["crstel.watchdog.span_id"])
	}
	if stack, _ := report.Attributes["crstel.watchdog.stack"].(string); stack == "" {
		t.Error("report has no stack")
	}
	crsteltest.AssertConforms(t, otlptest.ToReadOnly([]otlptest.Span{*report}), crsteltest.WantMetadata(task1))
}
