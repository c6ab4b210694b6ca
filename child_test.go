package crstel_test

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
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
	childOutputs.Store(cmd, out)
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

var childOutputs sync.Map // *exec.Cmd → *syncBuffer

// childOutput returns what the child wrote so far.
func childOutput(cmd *exec.Cmd) string {
	out, _ := childOutputs.Load(cmd)
	return out.(*syncBuffer).String()
}

// TestChildHangReported: a child process hangs in an action; its overdue
// report reaches a real OTLP gRPC server while the action is still open.
func TestChildHangReported(t *testing.T) {
	srv := otlptest.NewServer(t)
	startChild(t, "hang",
		"OTEL_EXPORTER_OTLP_ENDPOINT="+srv.URL(),
		"CRSTEL_TRACE_DIR="+t.TempDir(), "CRSTEL_AUDIT_DIR="+t.TempDir(),
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

// TestChildSIGTERM: a component gets SIGTERM mid-run: it exits within its
// shutdown timeout, every span that ended was exported, and the action
// still open was exported as abandoned.
func TestChildSIGTERM(t *testing.T) {
	srv := otlptest.NewServer(t)
	cmd := startChild(t, "sigterm",
		"OTEL_EXPORTER_OTLP_ENDPOINT="+srv.URL(),
		"CRSTEL_TRACE_DIR="+t.TempDir(), "CRSTEL_AUDIT_DIR="+t.TempDir(),
		"OTEL_METRICS_EXPORTER=none")
	srv.WaitForSpans(10, 30*time.Second) // it runs, and exports
	time.Sleep(500 * time.Millisecond)
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("child exited with %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("child still running 10 s after SIGTERM (shutdown timeout 5 s)")
	}
	took := time.Since(sent)
	out := childOutput(cmd)
	var ended, exported, lost int
	if _, err := fmt.Sscanf(out[strings.Index(out, "child: ended="):], "child: ended=%d exported=%d lost=%d", &ended, &exported, &lost); err != nil {
		t.Fatalf("child output %q: %v", out, err)
	}
	received := srv.Received()
	var abandoned *otlptest.Span
	for i, s := range received {
		if s.Name == "generate_patch" {
			abandoned = &received[i]
		}
	}
	t.Logf("exited %v after SIGTERM; %d spans ended, %d exported, %d lost; the server received %d",
		took.Round(time.Millisecond), ended, exported, lost, len(received))
	if lost != 0 || exported != ended || len(received) != ended {
		t.Errorf("ended %d, exported %d, lost %d, received %d: want every ended span received", ended, exported, lost, len(received))
	}
	if abandoned == nil || abandoned.StatusCode != 2 || abandoned.Attributes["crstel.watchdog.state"] != "abandoned" {
		t.Errorf("open action at SIGTERM: %+v, want it exported as abandoned with an error status", abandoned)
	}
	crsteltest.AssertConforms(t, otlptest.ToReadOnly(received), crsteltest.WantMetadata(task1))
}
