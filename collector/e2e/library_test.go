package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/ptrace"
)

// goBuild builds the Go command pkg (a package path, or a folder of this
// module) into the test's temporary folder.
func goBuild(t *testing.T, pkg string) string {
	t.Helper()
	return goBuildIn(t, moduleDir, pkg)
}

// goBuildIn builds the Go command pkg in the module of folder dir (such as
// libraryDir, for a command whose imports this module's go.sum does not
// cover) into the test's temporary folder.
func goBuildIn(t *testing.T, dir, pkg string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(pkg))
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg)
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// component is a crstel process sending to a collector.
type component struct {
	cmd         *exec.Cmd
	done        chan error
	trace, span string // of its action, as it printed them
	lines       *bufio.Scanner
}

// startComponent runs bin with args, sending to c, and waits until it
// prints the ids of its action ("... TRACE SPAN" on a line that starts
// with prefix). The test kills it at its end.
func startComponent(t *testing.T, c *collector, prefix, bin string, args ...string) *component {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(),
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://"+c.grpc,
		"CRSTEL_TRACE_DIR=off",
		"OTEL_METRICS_EXPORTER=none",
	)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr syncBuffer
	cmd.Stderr = &stderr
	cmd.SysProcAttr = dieWithTest()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &component{cmd: cmd, done: make(chan error, 1), lines: bufio.NewScanner(out)}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("%s's stderr:\n%s", filepath.Base(bin), &stderr)
		}
	})
	ids := make(chan []string, 1)
	go func() {
		for p.lines.Scan() {
			if f := strings.Fields(p.lines.Text()); len(f) >= 3 && strings.HasPrefix(p.lines.Text(), prefix) {
				select {
				case ids <- f:
				default:
				}
			}
		}
		p.done <- cmd.Wait()
	}()
	select {
	case f := <-ids:
		// "generate_patch: trace T span S, ..." or "running T S"
		for i, w := range f {
			switch {
			case len(w) == 32 && p.trace == "":
				p.trace = w
			case len(strings.TrimSuffix(w, ",")) == 16 && p.span == "" && i > 0:
				p.span = strings.TrimSuffix(w, ",")
			}
		}
	case <-time.After(time.Minute):
		t.Fatalf("%s printed no ids in a minute:\n%s", bin, &stderr)
	}
	if p.trace == "" || p.span == "" {
		t.Fatalf("%s: no trace and span ids in its first line", bin)
	}
	return p
}

// watchdogSpan is a span that crs_watchdog emitted.
type watchdogSpan struct {
	name, state  string
	trace, span  string
	parent       string
	status       ptrace.StatusCode
	end          time.Time
	attrs        map[string]string
	resourceName string
}

// watchdogSpans reads the spans of the collector's file that carry
// crstel.watchdog.state.
func (c *collector) watchdogSpans() ([]watchdogSpan, error) {
	b, err := os.ReadFile(c.spansFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []watchdogSpan
	for line := range bytes.Lines(b) {
		if !bytes.HasSuffix(line, []byte("\n")) {
			break
		}
		td, err := (&ptrace.JSONUnmarshaler{}).UnmarshalTraces(line)
		if err != nil {
			return nil, err
		}
		for _, rs := range td.ResourceSpans().All() {
			svc, _ := rs.Resource().Attributes().Get("service.name")
			for _, ss := range rs.ScopeSpans().All() {
				for _, s := range ss.Spans().All() {
					state, ok := s.Attributes().Get("crstel.watchdog.state")
					if !ok {
						continue
					}
					ws := watchdogSpan{name: s.Name(), state: state.Str(), trace: s.TraceID().String(), span: s.SpanID().String(),
						parent: s.ParentSpanID().String(), status: s.Status().Code(), end: s.EndTimestamp().AsTime(),
						attrs: map[string]string{}, resourceName: svc.Str()}
					for k, v := range s.Attributes().All() {
						ws.attrs[k] = v.AsString()
					}
					out = append(out, ws)
				}
			}
		}
	}
	return out, nil
}

// waitWatchdog waits up to timeout for a span crs_watchdog emitted with
// state about the action span, and returns them all.
func (c *collector) waitWatchdog(t *testing.T, state, span string, timeout time.Duration) []watchdogSpan {
	t.Helper()
	var got []watchdogSpan
	waitFor(t, timeout, func() (bool, string) {
		var err error
		if got, err = c.watchdogSpans(); err != nil {
			t.Fatal(err)
		}
		found := slices.ContainsFunc(got, func(s watchdogSpan) bool {
			return s.state == state && (s.span == span || s.parent == span)
		})
		return found, fmt.Sprintf("no %s span about %s from crs_watchdog; got %+v", state, span, got)
	})
	return got
}

// waitOpen waits until the collector counts open actions of service.
func (c *collector) waitOpen(t *testing.T, service string, timeout time.Duration) {
	t.Helper()
	waitFor(t, timeout, func() (bool, string) {
		text, err := c.scrape()
		n, ok := metric(text, "otelcol_connector_crs_watchdog_open_actions", `service_name="`+service+`"`)
		return err == nil && ok && n >= 1, "crs_watchdog counts no open action of " + service
	})
}

// TestGoComponentKilled: examples/hang -killed, a crstel process SIGKILLed
// in the middle of generate_patch, as the OOM killer kills a pod. It
// sends nothing at its death; crs_watchdog emits the action's span, with
// its own trace and span ids, its attributes and an error status, within
// lost_after and one check of its last heartbeat.
func TestGoComponentKilled(t *testing.T) {
	crstelcol(t)
	const lostAfter, check = 3 * time.Second, 200 * time.Millisecond
	c := startWith(t, []string{
		"CRSTELCOL_STORAGE_DIR=" + filepath.Join(t.TempDir(), "storage"),
		"CRSTELCOL_WATCHDOG_LOST_AFTER=" + lostAfter.String(),
		"CRSTELCOL_WATCHDOG_CHECK_INTERVAL=" + check.String(),
	}, watchdogExample)
	hang := goBuild(t, "github.com/crstel/crstel/examples/hang")
	p := startComponent(t, c, "generate_patch:", hang, "-killed")
	c.waitOpen(t, "hang-demo", 30*time.Second)
	var died time.Time
	select {
	case err := <-p.done:
		died = time.Now()
		p.done <- err
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("examples/hang -killed ended with %v, want killed by SIGKILL", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("examples/hang -killed did not die")
	}

	got := c.waitWatchdog(t, "lost", p.span, lostAfter+time.Minute)
	// Its last heartbeat came before it died: lost_after after that, and
	// one check, and the batch and the file exporter's write.
	if took := time.Since(died); took > lostAfter+check+2*time.Second {
		t.Errorf("the lost span came %s after the process died, want within lost_after (%s) and a check", took, lostAfter)
	}
	var action, report *watchdogSpan
	for i, s := range got {
		switch {
		case s.span == p.span:
			action = &got[i]
		case s.parent == p.span && s.name == "crstel.watchdog lost":
			report = &got[i]
		}
	}
	if action == nil || report == nil {
		t.Fatalf("got %+v, want the action's span and a report", got)
	}
	if action.trace != p.trace || action.name != "generate_patch" || action.status != ptrace.StatusCodeError || action.resourceName != "hang-demo" {
		t.Errorf("lost span: %+v, want generate_patch in trace %s, status error, of hang-demo", *action, p.trace)
	}
	for k, want := range map[string]string{"crs.action.category": "patch_generation", "crs.action.name": "generate_patch",
		"task.id": "task-1", "round.id": "round-1", "team.id": "team-1", "crstel.watchdog.budget": "60"} {
		if action.attrs[k] != want {
			t.Errorf("lost span %s = %q, want %q", k, action.attrs[k], want)
		}
	}
	if !action.end.Before(died) {
		t.Errorf("lost span ends %s, after the process died at %s: want its last heartbeat", action.end, died)
	}
	if report.trace != p.trace || report.attrs["task.id"] != "task-1" {
		t.Errorf("report: %+v", *report)
	}
}

// TestGoComponentFrozen: a crstel process SIGSTOPped in the middle of an
// action with a 10 s budget cannot report it overdue: its in-process
// watchdog is frozen with it. crs_watchdog does, while the process is
// still stopped and before it counts as lost.
func TestGoComponentFrozen(t *testing.T) {
	crstelcol(t)
	const lostAfter, budget = 30 * time.Second, 10 * time.Second
	c := startWith(t, []string{
		"CRSTELCOL_STORAGE_DIR=" + filepath.Join(t.TempDir(), "storage"),
		"CRSTELCOL_WATCHDOG_LOST_AFTER=" + lostAfter.String(),
		"CRSTELCOL_WATCHDOG_CHECK_INTERVAL=200ms",
	}, watchdogExample)
	bin := goBuild(t, "./e2e/testdata/action")
	p := startComponent(t, c, "running", bin, "-category", "building", "-name", "build_harness", "-budget", budget.String())
	started := time.Now()
	c.waitOpen(t, "go-builder", 30*time.Second)
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	defer func() { _ = p.cmd.Process.Signal(syscall.SIGCONT) }()
	if stopped.Sub(started) >= budget {
		t.Fatalf("the component took %s to be heard of, past its budget: it could not be frozen within it", stopped.Sub(started))
	}

	got := c.waitWatchdog(t, "overdue", p.span, lostAfter)
	if time.Since(stopped) >= lostAfter {
		t.Errorf("the overdue report came %s after SIGSTOP, not before lost_after", time.Since(stopped))
	}
	var report *watchdogSpan
	for i, s := range got {
		if s.parent == p.span && s.state == "overdue" {
			report = &got[i]
		}
		if s.state == "lost" {
			t.Errorf("a lost span before lost_after: %+v", s)
		}
	}
	if report == nil || report.trace != p.trace || report.name != "crstel.watchdog overdue" ||
		report.attrs["crs.action.name"] != "build_harness" || report.attrs["task.id"] != "task-7" || report.attrs["crstel.watchdog.budget"] != fmt.Sprint(budget.Seconds()) {
		t.Errorf("overdue report: %+v, want a child of %s with the action's attributes and budget", report, p.span)
	}
	// The process is still stopped: the report is the collector's.
	if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid)); err == nil && !bytes.Contains(st, []byte(") T ")) {
		t.Errorf("the component is not stopped: %s", st)
	}
}

// TestNodeComponentKilled: a component in Node.js without crstel
// (nodejs/heartbeat.js, the official OpenTelemetry JS SDK and its OTLP log
// exporter) sends span lifecycle records as the Python contrib
// partial-span processor writes them, ids without their leading zeros,
// and dies by SIGKILL. crs_watchdog reports its action lost, with the
// full ids, as it does a Go component's.
func TestNodeComponentKilled(t *testing.T) {
	crstelcol(t)
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not in PATH: the Node.js component needs Node.js 20 or later and npm", tool)
		}
	}
	npmCI(t)
	const lostAfter = 3 * time.Second
	c := startWith(t, []string{
		"CRSTELCOL_STORAGE_DIR=" + filepath.Join(t.TempDir(), "storage"),
		"CRSTELCOL_WATCHDOG_LOST_AFTER=" + lostAfter.String(),
		"CRSTELCOL_WATCHDOG_CHECK_INTERVAL=200ms",
	}, watchdogExample)
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal(err)
	}
	p := startComponent(t, c, "running", node, filepath.Join(moduleDir, "e2e", "nodejs", "heartbeat.js"))
	select {
	case err := <-p.done:
		p.done <- err
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("heartbeat.js ended with %v, want killed by SIGKILL", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("heartbeat.js did not die")
	}
	if p.trace != "000000000000000000000000000a11ce" || p.span != "0000000000000b0b" {
		t.Fatalf("heartbeat.js printed %s %s", p.trace, p.span)
	}
	got := c.waitWatchdog(t, "lost", p.span, lostAfter+time.Minute)
	var lost, reports int
	for _, s := range got {
		switch {
		case s.span == p.span:
			lost++
			if s.trace != p.trace || s.name != "generate_patch" || s.status != ptrace.StatusCodeError ||
				s.resourceName != "py-agent" || s.attrs["task.id"] != "task-9" || s.attrs["crs.action.category"] != "patch_generation" {
				t.Errorf("lost span: %+v", s)
			}
		case s.parent == p.span:
			reports++
		}
	}
	if lost != 1 || reports != 1 {
		t.Errorf("%d lost spans and %d reports of the action, want 1 and 1: %+v", lost, reports, got)
	}
}
