package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
)

// hangingComponent is a CRS component that hangs in a nested action; the
// test binary runs it as a child when CRSTEL_TEST_HANG is set. It exits by
// itself after a minute, so that it cannot outlive a test.
func hangingComponent() {
	ctx := context.Background()
	tel, err := crstel.Setup(ctx, crstel.WithServiceName("hanging-patcher"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx = crstel.WithTask(ctx, crs.Metadata{"round.id": "round-1", "task.id": "task-9"})
	ctx, outer := crstel.Action(ctx, crs.PatchGeneration, "process_task", nil)
	_, inner := crstel.Action(ctx, crs.Building, "compile_with_sanitizers", nil, crstel.WithOverdueAfter(300*time.Millisecond))
	fmt.Println("hanging")
	time.Sleep(time.Minute)
	inner.End()
	outer.End()
	tel.Shutdown(ctx)
}

// TestKilledChildAnomalies: a child process hangs in an action and is
// killed with SIGKILL; "crstel trace anomalies --json" finds the hung
// action in its journal, with the deepest open descendant.
func TestKilledChildAnomalies(t *testing.T) {
	dir := t.TempDir()
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), "CRSTEL_TEST_HANG=1", "CRSTEL_TRACE_DIR="+dir,
		"OTEL_TRACES_EXPORTER=none", "OTEL_METRICS_EXPORTER=none")
	var out strings.Builder
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer child.Process.Kill()

	// Wait until the journal holds both starts and the overdue report: the
	// writer flushes at least every 200 ms.
	deadline := time.Now().Add(30 * time.Second)
	var path string
	for {
		files, _ := filepath.Glob(filepath.Join(dir, "*.jsonl"))
		if len(files) == 1 {
			path = files[0]
			raw, _ := os.ReadFile(path)
			if strings.Count(string(raw), `"kind":"start"`) == 2 && strings.Contains(string(raw), `"kind":"overdue"`) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the journal in %s did not record the hung actions within 30 s; child output:\n%s", dir, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := child.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	child.Wait()

	stdout := mustCmd(t, dir, "trace", "anomalies", "--json", path)
	var rep struct {
		Live      bool              `json:"live"`
		State     string            `json:"state"`
		AsOf      time.Time         `json:"as_of"`
		Running   []json.RawMessage `json:"running"`
		Overdue   []json.RawMessage `json:"overdue"`
		Stalled   []json.RawMessage `json:"stalled"`
		Abandoned []json.RawMessage `json:"abandoned"`
		Cancelled []json.RawMessage `json:"cancelled"`
		Errors    []json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatalf("anomalies --json: %v\n%s", err, stdout)
	}
	if rep.Live || rep.State != "crashed" {
		t.Errorf("live = %v, state = %q; want a crashed process", rep.Live, rep.State)
	}
	type entry struct {
		Name     string            `json:"name"`
		Metadata map[string]string `json:"metadata"`
		Stack    string            `json:"stack"`
		Deepest  *struct {
			Name string `json:"name"`
		} `json:"deepest"`
	}
	decode := func(raw []json.RawMessage) []entry {
		var es []entry
		for _, r := range raw {
			var e entry
			json.Unmarshal(r, &e)
			es = append(es, e)
		}
		return es
	}
	running, overdue := decode(rep.Running), decode(rep.Overdue)
	if len(running) != 1 || running[0].Name != "process_task" || running[0].Deepest == nil ||
		running[0].Deepest.Name != "compile_with_sanitizers" {
		t.Errorf("running = %+v, want process_task with compile_with_sanitizers as deepest open descendant", running)
	}
	if len(overdue) != 1 || overdue[0].Name != "compile_with_sanitizers" || overdue[0].Metadata["task.id"] != "task-9" ||
		!strings.Contains(overdue[0].Stack, "hangingComponent") {
		t.Errorf("overdue = %+v, want compile_with_sanitizers with its metadata and a stack in hangingComponent", overdue)
	}
	if rep.Stalled == nil || rep.Abandoned == nil || rep.Cancelled == nil || rep.Errors == nil {
		t.Error("--json left out an empty bucket")
	}
}
