package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crstel/crstel/internal/collectortest"
)

// lintExamples are the examples that end by themselves, and the spans
// each sends at least (see examples/examples_test.go). They send spans
// only (the test collector has no logs pipeline): OTEL_LOGS_EXPORTER=none
// keeps the audit records of categories' submission local.
var lintExamples = map[string]int{"quickstart": 4, "log_action": 2, "categories": 9, "fuzzing": 4, "llm": 2}

// TestLintExamples: what crstel's examples send, as the real OpenTelemetry
// Collector records it with its file exporter, passes "crstel lint".
func TestLintExamples(t *testing.T) {
	c := collectortest.Start(t) // skips under -short
	bin := t.TempDir()
	args := []string{"build", "-o", bin + string(filepath.Separator)}
	want := 0
	for name, spans := range lintExamples {
		args = append(args, "./examples/"+name)
		want += spans
	}
	build := exec.Command("go", args...)
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the examples: %v\n%s", err, out)
	}
	for name := range lintExamples {
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		example := exec.CommandContext(ctx, filepath.Join(bin, name))
		example.Env = append(os.Environ(), "OTEL_EXPORTER_OTLP_ENDPOINT=http://"+c.Endpoint(), "OTEL_SERVICE_NAME=",
			"CRSTEL_TRACE_DIR="+t.TempDir(), "CRSTEL_AUDIT_DIR="+t.TempDir(), "OTEL_LOGS_EXPORTER=none",
			"OPENAI_API_KEY=", "OPENAI_BASE_URL=")
		example.WaitDelay = time.Second
		out, err := example.CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("%s: %v\n%s", name, err, out)
		}
	}
	// Each example ended after the collector acknowledged its spans, which
	// it writes to the file first; stopping it closes the file.
	got := len(collectortest.Unique(c.WaitForSpans(t, want, 10*time.Second)))
	c.Stop()
	if got < want {
		t.Fatalf("the collector recorded %d spans, want at least %d", got, want)
	}

	out, errOut, code := lintCmd(t, c.SpansPath())
	t.Logf("crstel lint on the collector's spans file:\n%s", out)
	if code != 0 || errOut != "" {
		t.Errorf("exit %d, stderr %q; want 0 and nothing", code, errOut)
	}
	out, _, _ = lintCmd(t, "--json", "--require", "round.id,task.id,team.id", c.SpansPath())
	var rep lintReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	var services []string
	for _, s := range rep.Services {
		services = append(services, s.Service)
	}
	// log_action is the Python example in Go: the LLM service of llm.
	if want := "categories fuzzer mycrsllmservice quickstart"; rep.Spans != got || rep.Violations != 0 || strings.Join(services, " ") != want {
		t.Errorf("--json --require: %d spans, %d violations, services %q; want %d, 0, %q", rep.Spans, rep.Violations, services, got, want)
	}
}
