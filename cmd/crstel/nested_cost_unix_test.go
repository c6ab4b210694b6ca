//go:build unix

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/subprocess"
)

// nestedComponent is one process of TestCostsNestedSubprocesses, which the
// test binary runs when CRSTEL_TEST_NESTED is set: "parent" runs "child"
// with subprocess.Run, "child" (a crstel process too, in its parent's
// trace) runs "burn", which uses nestedBurn of CPU time.
func nestedComponent(role string) {
	if role == "burn" {
		start := time.Now()
		for cpuTime() < nestedBurn && time.Since(start) < 20*time.Second {
			for i := 0; i < 1e6; i++ {
				burnSink += i
			}
		}
		return
	}
	tel, err := crstel.Setup(context.Background(), crstel.WithServiceName("nested-"+role))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := crstel.ContextFromEnv(context.Background()) // the parent's trace, for "child"
	ctx = crstel.WithTask(ctx, crs.Metadata{"round.id": "round-1", "task.id": "task-nested"})
	ctx, span := crstel.Action(ctx, crs.Building, "build_"+role, nil)
	next := map[string]string{"parent": "child", "child": "burn"}[role]
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CRSTEL_TEST_NESTED="+next)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := subprocess.Run(ctx, crs.Building, "run_"+next, cmd); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	span.End()
	if err := tel.Shutdown(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
}

// nestedBurn is the CPU time the innermost process of
// TestCostsNestedSubprocesses uses: far more than the others' start-up.
const nestedBurn = 600 * time.Millisecond

var burnSink int

// cpuTime returns the user and system CPU time of this process.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// TestCostsNestedSubprocesses: a crstel process runs, with subprocess.Run,
// a crstel process that runs a subprocess burning CPU. Both journal a
// subprocess cost record, and the outer one's CPU time includes the inner
// one's (the child waited for it). "crstel trace costs" over both journals
// counts that CPU once: its total is at most what the whole tree used, as
// the test measures it, and says what it left out. Over the child's journal
// alone, the burner's CPU is counted.
func TestCostsNestedSubprocesses(t *testing.T) {
	dir := t.TempDir()
	parent := exec.Command(os.Args[0], "-test.run=^$")
	parent.Env = append(os.Environ(), "CRSTEL_TEST_NESTED=parent", "CRSTEL_TRACE_DIR="+dir,
		"OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none", "OTEL_LOGS_EXPORTER=none")
	done := make(chan struct{})
	var out []byte
	var err error
	go func() {
		defer close(done)
		out, err = parent.CombinedOutput()
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		parent.Process.Kill()
		<-done
		t.Fatalf("the processes did not end within 60 s; output:\n%s", out)
	}
	if err != nil {
		t.Fatalf("parent: %v; output:\n%s", err, out)
	}
	tree := parent.ProcessState.UserTime() + parent.ProcessState.SystemTime() // all three processes

	stdout := mustCmd(t, dir, "trace", "costs", "--json")
	var rep struct {
		Journals []string `json:"journals"`
		Total    struct {
			CPUSeconds   float64 `json:"cpu_seconds"`
			Subprocesses int64   `json:"subprocesses"`
		} `json:"total"`
		Warnings []string `json:"warnings"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("%v in:\n%s", err, stdout)
	}
	if len(rep.Journals) != 2 {
		t.Fatalf("journals = %v, want the parent's and the child's", rep.Journals)
	}
	if rep.Total.Subprocesses != 2 {
		t.Errorf("subprocesses = %d, want 2 (the child, and its burner)", rep.Total.Subprocesses)
	}
	got := time.Duration(rep.Total.CPUSeconds * 1e9)
	if got < nestedBurn || got > tree+20*time.Millisecond {
		t.Errorf("total CPU = %v, want at least the burner's %v and at most the whole tree's %v (counted once)", got, nestedBurn, tree)
	}
	if len(rep.Warnings) != 1 {
		t.Errorf("warnings = %q, want one naming the CPU counted in the parent's record", rep.Warnings)
	}

	// The child's journal alone: its burner's CPU is counted there.
	child, _ := filepath.Glob(filepath.Join(dir, "*-nested-child.jsonl"))
	if len(child) != 1 {
		t.Fatalf("the child's journal: %v", child)
	}
	rep.Warnings = nil
	if err := json.Unmarshal([]byte(mustCmd(t, dir, "trace", "costs", "--json", child[0])), &rep); err != nil {
		t.Fatal(err)
	}
	if got := time.Duration(rep.Total.CPUSeconds * 1e9); got < nestedBurn || len(rep.Warnings) != 0 {
		t.Errorf("the child's journal alone: CPU %v, warnings %q; want at least %v, none", got, rep.Warnings, nestedBurn)
	}
}
