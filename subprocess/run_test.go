package subprocess_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/internal/otlptest"
	"github.com/crstel/crstel/logs"
	"github.com/crstel/crstel/subprocess"
)

var task1 = crs.Metadata{"round.id": "round-1", "task.id": "task-1", "team.id": "team-1"}

// childCmd returns a command that runs this test binary as a child in mode
// (see child), with args. The test kills it at the end if Run did not wait
// for it.
func childCmd(t *testing.T, mode string, args ...string) *exec.Cmd {
	t.Helper()
	return asChild(t, exec.Command(os.Args[0], args...), mode)
}

// childCmdContext is childCmd with exec.CommandContext(ctx, ...).
func childCmdContext(t *testing.T, ctx context.Context, mode string, args ...string) *exec.Cmd {
	t.Helper()
	return asChild(t, exec.CommandContext(ctx, os.Args[0], args...), mode)
}

// asChild makes cmd, which runs this test binary, the child of mode (see child).
func asChild(t *testing.T, cmd *exec.Cmd, mode string) *exec.Cmd {
	// With -race, a child would sleep a second when it exits 0.
	cmd.Env = append(os.Environ(), childEnv+"="+mode, "GORACE="+os.Getenv("GORACE")+" atexit_sleep_ms=0")
	t.Cleanup(func() {
		if cmd.Process != nil && cmd.ProcessState == nil {
			cmd.Process.Kill() // Run did not wait for it: a test failed
		}
	})
	return cmd
}

// only returns the only ended span, failing the test otherwise.
func only(t *testing.T, spans []sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
	t.Helper()
	if len(spans) != 1 {
		var names []string
		for _, s := range spans {
			names = append(names, s.Name())
		}
		t.Fatalf("got %d spans %v, want 1", len(spans), names)
	}
	return spans[0]
}

func TestSuccess(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	ctx := crstel.WithTask(rec.Context(t.Context()), task1)
	cmd := childCmd(t, "echo", "--password=hunter2", "-v")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := subprocess.Run(ctx, crs.Building, "build", cmd); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if stdout.String() != "compiling png.c\nlinking\n" || stderr.String() != "warning: unused variable\n" {
		t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
	}
	s := only(t, rec.Ended())
	if s.Name() != "build" || s.Status().Code != codes.Unset {
		t.Errorf("span %q, status %v: want build, unset", s.Name(), s.Status())
	}
	a := crsteltest.Attrs(s)
	if got := a[subprocess.CommandArgsKey].AsStringSlice(); !slices.Equal(got, []string{os.Args[0], "--password=" + logs.Redacted, "-v"}) {
		t.Errorf("command args %q: want the password redacted", got)
	}
	if got := a[subprocess.ExecutableNameKey].AsString(); got != filepath.Base(os.Args[0]) {
		t.Errorf("executable name %q, want %q", got, filepath.Base(os.Args[0]))
	}
	if got := a[subprocess.ExecutablePathKey].AsString(); got != cmd.Path {
		t.Errorf("executable path %q, want %q", got, cmd.Path)
	}
	if got := a[subprocess.PIDKey].AsInt64(); got != int64(cmd.Process.Pid) {
		t.Errorf("pid %d, want %d", got, cmd.Process.Pid)
	}
	if v, ok := a[subprocess.ExitCodeKey]; !ok || v.AsInt64() != 0 {
		t.Errorf("exit code %v (set: %v), want 0", v.String(), ok)
	}
	if _, ok := a[subprocess.SignalKey]; ok {
		t.Error("signal set on a child that exited")
	}
	if wall := a[subprocess.WallTimeKey].AsFloat64(); wall <= 0 || wall > 60 {
		t.Errorf("wall time %v s", wall)
	}
	for _, k := range []attribute.Key{subprocess.UserCPUKey, subprocess.SystemCPUKey} {
		if v, ok := a[k]; !ok || v.Type() != attribute.FLOAT64 || v.AsFloat64() < 0 {
			t.Errorf("%s = %v (set: %v), want seconds", k, v.String(), ok)
		}
	}
	crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(task1))
}

// TestMaxRSS: the peak memory of a child bigger than its parent is
// recorded; that of a small one, which Linux reports as its parent's, is
// not.
func TestMaxRSS(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	ctx := rec.Context(t.Context())
	var self syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
		t.Fatal(err)
	}
	n := int(self.Maxrss)*1024 + 64<<20 // Linux: KiB
	if err := subprocess.Run(ctx, crs.Testing, "big", childCmd(t, "alloc", strconv.Itoa(n))); err != nil {
		t.Fatal(err)
	}
	if err := subprocess.Run(ctx, crs.Testing, "small", exec.Command("sh", "-c", "true")); err != nil {
		t.Fatal(err)
	}
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want 2", len(spans))
	}
	if rss, ok := crsteltest.Attrs(spans[0])[subprocess.MaxRSSKey]; !ok || rss.AsInt64() < int64(n) || rss.AsInt64() > int64(n)+1<<30 {
		t.Errorf("peak RSS of a child that touched %d bytes: %v (set: %v)", n, rss.String(), ok)
	}
	if rss, ok := crsteltest.Attrs(spans[1])[subprocess.MaxRSSKey]; ok {
		t.Errorf("peak RSS of sh -c true: %v, want none (it would be this process's)", rss.String())
	}
}

// TestSemconvKeys: the process keys are those of the semantic conventions,
// in the newest semconv package too; crstel's own keys carry no unit in
// their names, as the conventions' rules ask.
func TestSemconvKeys(t *testing.T) {
	for _, tt := range []struct{ got, want attribute.Key }{
		{subprocess.ExecutableNameKey, semconv.ProcessExecutableNameKey},
		{subprocess.ExecutablePathKey, semconv.ProcessExecutablePathKey},
		{subprocess.CommandArgsKey, semconv.ProcessCommandArgsKey},
		{subprocess.WorkingDirectoryKey, semconv.ProcessWorkingDirectoryKey},
		{subprocess.PIDKey, semconv.ProcessPIDKey},
		{subprocess.ExitCodeKey, semconv.ProcessExitCodeKey},
	} {
		if tt.got != tt.want {
			t.Errorf("key %s, want %s", tt.got, tt.want)
		}
	}
	for _, k := range []attribute.Key{
		subprocess.SignalKey, subprocess.KilledKey, subprocess.WallTimeKey, subprocess.UserCPUKey,
		subprocess.SystemCPUKey, subprocess.MaxRSSKey, subprocess.StdoutSizeKey, subprocess.StderrSizeKey,
		subprocess.StdoutUnloggedSizeKey, subprocess.StderrUnloggedSizeKey,
		subprocess.StdoutUnloggedLineCountKey, subprocess.StderrUnloggedLineCountKey,
	} {
		if !strings.HasPrefix(string(k), "crstel.process.") {
			t.Errorf("key %s is not in crstel.process.*", k)
		}
		for _, unit := range []string{"_s", "_ms", "_ns", "_seconds", "_bytes", "_kib", "_lines"} {
			if strings.HasSuffix(string(k), unit) {
				t.Errorf("key %s has a unit in its name", k)
			}
		}
	}
}

func TestFailure(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		cmd      func(t *testing.T) *exec.Cmd
		exitCode int64  // if signal is ""
		signal   string // if the child dies of a signal
	}{
		{name: "exit code", cmd: func(t *testing.T) *exec.Cmd { return childCmd(t, "exit3") }, exitCode: 3},
		{name: "signal", cmd: func(*testing.T) *exec.Cmd { return exec.Command("sh", "-c", "kill -SEGV $$") }, signal: "SIGSEGV"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := crsteltest.NewRecorder(t)
			ctx := crstel.WithTask(rec.Context(t.Context()), task1)
			err := subprocess.Run(ctx, crs.Testing, "run_tests", tt.cmd(t))
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) {
				t.Fatalf("Run: %v, want an *exec.ExitError", err)
			}
			s := only(t, rec.Ended())
			if s.Status().Code != codes.Error || s.Status().Description != err.Error() {
				t.Errorf("status %v, want an error saying %q", s.Status(), err)
			}
			a := crsteltest.Attrs(s)
			code, hasCode := a[subprocess.ExitCodeKey]
			sig, hasSig := a[subprocess.SignalKey]
			if tt.signal == "" {
				if !hasCode || code.AsInt64() != tt.exitCode || hasSig {
					t.Errorf("exit code %v, signal %v: want exit code %d, no signal", code.String(), sig.String(), tt.exitCode)
				}
			} else if hasCode || sig.AsString() != tt.signal {
				t.Errorf("exit code %v, signal %v: want no exit code, signal %s", code.String(), sig.String(), tt.signal)
			}
			if _, ok := a[subprocess.KilledKey]; ok {
				t.Error("killed set on a child Run did not kill")
			}
			crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(task1))
		})
	}
}

func TestNotStarted(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	ctx := rec.Context(t.Context())
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	for _, tt := range []struct {
		name string
		ctx  context.Context
		cmd  *exec.Cmd
		want string
	}{
		{"nil command", ctx, nil, "nil *exec.Cmd"},
		{"no such command", ctx, exec.Command("/nonexistent/crstel-no-such-command"), "no such file"},
		{"cancelled context", cancelled, exec.Command("true"), "context canceled"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec.Reset()
			err := subprocess.Run(tt.ctx, crs.Building, "build", tt.cmd)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run: %v, want an error saying %q", err, tt.want)
			}
			s := only(t, rec.Ended())
			if s.Status().Code != codes.Error {
				t.Errorf("status %v, want an error", s.Status())
			}
			if tt.cmd != nil && tt.cmd.Process != nil {
				t.Error("the command was started")
			}
		})
	}
	if !errors.Is(subprocess.Run(cancelled, crs.Building, "build", exec.Command("true")), context.Canceled) {
		t.Error("the error of Run with a cancelled context is not context.Canceled")
	}
}

// setupWatchdog runs crstel.Setup with an in-memory exporter and a fast
// watchdog, and returns it, its exporter and a channel of the reports.
func setupWatchdog(t *testing.T) (*crstel.Telemetry, *tracetest.InMemoryExporter, <-chan crstel.Report) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	reports := make(chan crstel.Report, 16)
	tel, err := crstel.Setup(context.Background(),
		crstel.WithServiceName("subprocess-test"), crstel.WithExporter(exp),
		crstel.WithMetricReader(sdkmetric.NewManualReader()), crstel.WithoutJournal(),
		crstel.WithWatchdogInterval(10*time.Millisecond), crstel.WithLogger(slog.New(slog.DiscardHandler)),
		crstel.WithOnReport(func(r crstel.Report) {
			select {
			case reports <- r:
			default:
			}
		}))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := tel.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return tel, exp, reports
}

// TestOverdueThenKilled: a child past its budget is reported by the
// watchdog while it runs, and killed at its time limit, the deadline of
// its context.
func TestOverdueThenKilled(t *testing.T) {
	// Serial: crstel.Setup installs the global provider and watchdog.
	tel, exp, reports := setupWatchdog(t)
	ctx := crstel.WithTask(context.Background(), task1)
	const budget, limit = 50 * time.Millisecond, 600 * time.Millisecond
	var ended atomic.Bool
	done := make(chan error, 1)
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	go func() {
		err := subprocess.Run(ctx, crs.Fuzzing, "fuzz", childCmd(t, "hang"), subprocess.WithBudget(budget))
		ended.Store(true)
		done <- err
	}()

	select {
	case r := <-reports:
		if ended.Load() {
			t.Error("the report came after Run returned")
		}
		if r.State != crstel.Overdue || r.Name != "fuzz" || r.Category != crs.Fuzzing {
			t.Errorf("report %v %s/%s, want overdue fuzzing/fuzz", r.State, r.Category, r.Name)
		}
	case err := <-done:
		t.Fatalf("Run returned (%v) before the watchdog reported the child", err)
	case <-time.After(10 * time.Second):
		t.Fatal("no watchdog report within 10 s")
	}

	var err error
	select {
	case err = <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return within 30 s: the child was not killed")
	}
	if d := time.Since(start); d < limit {
		t.Errorf("Run returned after %v, before the time limit of %v", d, limit)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run: %v, want context.DeadlineExceeded", err)
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Errorf("Run: %v, want an *exec.ExitError too", err)
	}

	if err := tel.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	var action *tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == "fuzz" {
			action = &s
		}
	}
	if action == nil {
		t.Fatal("the action's span was not exported")
	}
	a := crsteltest.Attrs(action.Snapshot())
	if a[subprocess.SignalKey].AsString() != "SIGKILL" || a[subprocess.KilledKey].AsString() != "subprocess: stopped: context deadline exceeded" {
		t.Errorf("signal %v, killed %v: want SIGKILL at the deadline", a[subprocess.SignalKey].String(), a[subprocess.KilledKey].String())
	}
	if action.Status.Code != codes.Error {
		t.Errorf("status %v, want an error", action.Status)
	}
}

// TestContextKills: a child is killed when its context is done.
func TestContextKills(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	ctx, cancel := context.WithTimeout(rec.Context(t.Context()), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := subprocess.Run(ctx, crs.Testing, "run_tests", childCmd(t, "hang"))
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run: %v, want context.DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("Run took %v", d)
	}
	if got := crsteltest.Attrs(only(t, rec.Ended()))[subprocess.SignalKey].AsString(); got != "SIGKILL" {
		t.Errorf("signal %q, want SIGKILL", got)
	}
}

// TestCancelAndWaitDelay: Run stops a command made with
// exec.CommandContext with its Cancel, here SIGTERM, and kills it if it
// still runs cmd.WaitDelay later; a child that exits 0 on SIGTERM still
// makes an error, as exec.CommandContext does.
func TestCancelAndWaitDelay(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		mode       string
		waitDelay  time.Duration
		wantSignal string // "" if it exits
		wantOut    string
	}{
		{"hang", 30 * time.Second, "SIGTERM", "ready\n"},
		{"ignore-term", 200 * time.Millisecond, "SIGKILL", "ready\n"},
		{"exit0-on-term", 30 * time.Second, "", "ready\nterminating\n"},
	} {
		t.Run(tt.mode, func(t *testing.T) {
			t.Parallel()
			rec := crsteltest.NewRecorder(t)
			ctx, cancel := context.WithCancel(rec.Context(t.Context()))
			defer cancel()
			cmd := childCmdContext(t, ctx, tt.mode)
			var cancels atomic.Int32
			cmd.Cancel = func() error {
				cancels.Add(1)
				return cmd.Process.Signal(syscall.SIGTERM)
			}
			cmd.WaitDelay = tt.waitDelay
			ready := make(chan struct{})
			var out syncBuffer
			cmd.Stdout = &readyWriter{w: &out, ready: ready}
			go cancelWhenReady(ready, cancel)
			start := time.Now()
			err := subprocess.Run(ctx, crs.Testing, "run_tests", cmd)
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Run: %v, want context.Canceled", err)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("Run took %v: WaitDelay was not cut short", d)
			}
			if n := cancels.Load(); n != 1 {
				t.Errorf("cmd.Cancel called %d times, want once (by Run or by exec)", n)
			}
			a := crsteltest.Attrs(only(t, rec.Ended()))
			if got := a[subprocess.SignalKey].AsString(); got != tt.wantSignal {
				t.Errorf("signal %q, want %q", got, tt.wantSignal)
			}
			if got := a[subprocess.KilledKey].AsString(); got != "subprocess: stopped: context canceled" {
				t.Errorf("killed %q, want it to say the context was canceled", got)
			}
			if out.String() != tt.wantOut {
				t.Errorf("output %q, want %q", out.String(), tt.wantOut)
			}
		})
	}
}

// TestCommandContext: a command made with exec.CommandContext is stopped
// when its own context is done, by exec with its Cancel, and Run says so.
func TestCommandContext(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	cmdCtx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cmd := childCmdContext(t, cmdCtx, "hang")
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	ready := make(chan struct{})
	cmd.Stdout = &readyWriter{w: io.Discard, ready: ready}
	go cancelWhenReady(ready, cancel)
	err := subprocess.Run(rec.Context(t.Context()), crs.Testing, "run_tests", cmd)
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Errorf("Run: %v, want exec's *exec.ExitError", err)
	}
	a := crsteltest.Attrs(only(t, rec.Ended()))
	if got := a[subprocess.SignalKey].AsString(); got != "SIGTERM" {
		t.Errorf("signal %q, want SIGTERM", got)
	}
	if got := a[subprocess.KilledKey].AsString(); got != "subprocess: stopped: the command's context is done" {
		t.Errorf("killed %q, want it to say the command's context is done", got)
	}
	if cmd.Cancel == nil {
		t.Error("Run did not put cmd.Cancel back")
	}
}

// cancelWhenReady calls cancel once ready is closed: the child handles
// signals.
func cancelWhenReady(ready <-chan struct{}, cancel func()) {
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
	}
	cancel()
}

// expiring is a context whose deadline passes when expire is called, so
// that a test reaches the deadline at a point it chooses rather than after
// a guessed time. It has the values of its parent, which must not be
// cancelable: context.Cause would take the parent's cause for its own.
type expiring struct {
	context.Context
	done chan struct{}
	once sync.Once
}

func newExpiring(parent context.Context) *expiring {
	return &expiring{Context: parent, done: make(chan struct{})}
}

func (c *expiring) expire()               { c.once.Do(func() { close(c.done) }) }
func (c *expiring) Done() <-chan struct{} { return c.done }

func (c *expiring) Err() error {
	select {
	case <-c.done:
		return context.DeadlineExceeded
	default:
		return nil
	}
}

// TestProcessGroup: the child's own children are killed with it, whether
// its context is canceled or reaches its deadline, and when the command's
// Cancel stops the child alone.
func TestProcessGroup(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		deadline   bool // the context reaches its deadline, else it is canceled
		cancel     bool // the command has a Cancel that sends SIGTERM to the child alone
		wantErr    error
		wantSignal string
		wantKilled string
	}{
		{name: "canceled", wantErr: context.Canceled, wantSignal: "SIGKILL",
			wantKilled: "subprocess: stopped: context canceled"},
		{name: "deadline", deadline: true, wantErr: context.DeadlineExceeded, wantSignal: "SIGKILL",
			wantKilled: "subprocess: stopped: context deadline exceeded"},
		{name: "Cancel of the child alone", cancel: true, deadline: true, wantErr: context.DeadlineExceeded, wantSignal: "SIGTERM",
			wantKilled: "subprocess: stopped: context deadline exceeded"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := crsteltest.NewRecorder(t)
			var ctx context.Context
			var stop func()
			if tt.deadline {
				e := newExpiring(rec.Context(context.Background()))
				ctx, stop = e, e.expire
			} else {
				ctx, stop = context.WithCancel(rec.Context(t.Context()))
			}
			defer stop()
			cmd := childCmd(t, "spawn")
			if tt.cancel {
				cmd = childCmdContext(t, ctx, "spawn")
				cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
			}
			var out syncBuffer
			ready := make(chan struct{})
			cmd.Stdout = &readyWriter{w: &out, ready: ready}
			go cancelWhenReady(ready, stop)
			err := subprocess.Run(ctx, crs.Testing, "run_tests", cmd, subprocess.WithProcessGroup())
			if !errors.Is(err, tt.wantErr) {
				t.Errorf("Run: %v, want %v", err, tt.wantErr)
			}
			pidText, ok := strings.CutPrefix(strings.TrimSpace(out.String()), "grandchild ")
			pid, perr := strconv.Atoi(pidText)
			if !ok || perr != nil {
				t.Fatalf("the child said %q, want its grandchild's pid", out.String())
			}
			t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
			a := crsteltest.Attrs(only(t, rec.Ended()))
			if got := a[subprocess.SignalKey].AsString(); got != tt.wantSignal {
				t.Errorf("signal %q, want %q", got, tt.wantSignal)
			}
			if got := a[subprocess.KilledKey].AsString(); got != tt.wantKilled {
				t.Errorf("killed %q, want %q", got, tt.wantKilled)
			}
			// Once killed, the grandchild is reaped by init (or a subreaper).
			deadline := time.Now().Add(10 * time.Second)
			for alive(pid) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if alive(pid) {
				t.Errorf("the grandchild %d still runs: the process group was not killed", pid)
			}
		})
	}
}

// alive reports whether process pid runs (and is not a zombie).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true // not Linux: Kill says it exists
	}
	// pid (comm) S ...: the state follows the last ')'.
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// readyWriter closes ready once "ready" or "grandchild" has been written.
type readyWriter struct {
	w     io.Writer
	ready chan struct{}
	once  sync.Once
	seen  bytes.Buffer
}

func (r *readyWriter) Write(p []byte) (int, error) {
	r.seen.Write(p)
	if s := r.seen.String(); strings.Contains(s, "ready\n") || strings.Contains(s, "grandchild ") && strings.HasSuffix(s, "\n") {
		r.once.Do(func() { close(r.ready) })
	}
	return r.w.Write(p)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestOutputLog: the output is logged line by line in the action, up to
// the limit, and still reaches the caller's writer, whole.
func TestOutputLog(t *testing.T) {
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	var logBuf syncBuffer
	logger := slog.New(logs.NewHandler(slog.NewJSONHandler(&logBuf, nil)))
	ctx := crstel.WithTask(rec.Context(t.Context()), task1)
	cmd := childCmd(t, "output")
	var both bytes.Buffer // one writer for both: exec must not write to it at once
	cmd.Stdout, cmd.Stderr = &both, &both
	if err := subprocess.Run(ctx, crs.Building, "build", cmd, subprocess.WithOutputLog(logger, 30)); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if cmd.Stdout != &both || cmd.Stderr != &both {
		t.Error("Run did not put cmd.Stdout and cmd.Stderr back")
	}
	// The streams interleave, write by write.
	for _, want := range []string{"short\r\nexactly-ten\n", strings.Repeat("x", 30) + "\n", "after the limit\n", "partial", " line without newline"} {
		if !strings.Contains(both.String(), want) {
			t.Errorf("the caller's writer got %q, want it to hold %q", both.String(), want)
		}
	}
	if n := both.Len(); n != 19+31+16+28 {
		t.Errorf("the caller's writer got %d bytes, want %d", n, 19+31+16+28)
	}

	span := only(t, rec.Ended())
	type line struct {
		Msg, Level, Stream string
		Truncated          bool
	}
	var stdout, stderr []line
	sc := bufio.NewScanner(strings.NewReader(logBuf.String()))
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatal(err)
		}
		if m["span_id"] != span.SpanContext().SpanID().String() || m["crs.action.name"] != "build" || m["task.id"] != "task-1" {
			t.Errorf("record %v is not correlated with the action", m)
		}
		l := line{Msg: m["msg"].(string), Level: m["level"].(string)}
		l.Stream, _ = m["log.iostream"].(string)
		l.Truncated, _ = m["truncated"].(bool)
		if l.Level == "WARN" {
			// JSON numbers: float64.
			want := map[string]any{"unlogged_size": float64(17 + len("after the limit")), "unlogged_line_count": float64(2), "size_limit": float64(30)}
			for k, v := range want {
				if m[k] != v {
					t.Errorf("last record: %s = %v, want %v", k, m[k], v)
				}
			}
		}
		if l.Stream == "stderr" {
			stderr = append(stderr, l)
		} else {
			stdout = append(stdout, l)
		}
	}
	// 30 bytes: "short\r" (6) and "exactly-ten" (11) fit, 13 of the 30 x's.
	wantOut := []line{
		{"short", "INFO", "stdout", false},
		{"exactly-ten", "INFO", "stdout", false},
		{strings.Repeat("x", 13), "INFO", "stdout", true},
		{"output not logged: over the limit", "WARN", "stdout", false},
	}
	wantErr := []line{{"partial line without newline", "INFO", "stderr", false}}
	if !slices.Equal(stdout, wantOut) {
		t.Errorf("stdout records %+v, want %+v", stdout, wantOut)
	}
	if !slices.Equal(stderr, wantErr) {
		t.Errorf("stderr records %+v, want %+v", stderr, wantErr)
	}
	a := crsteltest.Attrs(span)
	for k, want := range map[attribute.Key]int64{
		subprocess.StdoutSizeKey:              int64(len("short\r\nexactly-ten\n") + 31 + len("after the limit\n")),
		subprocess.StdoutUnloggedSizeKey:      17 + int64(len("after the limit")),
		subprocess.StdoutUnloggedLineCountKey: 2,
		subprocess.StderrSizeKey:              int64(len("partial line without newline")),
		subprocess.StderrUnloggedSizeKey:      0,
		subprocess.StderrUnloggedLineCountKey: 0,
	} {
		if got := a[k].AsInt64(); got != want {
			t.Errorf("%s = %d, want %d", k, got, want)
		}
	}
}

// TestContinueTrace: a Go child that uses crstel continues the parent's
// trace, its action a child of the subprocess action, with the same task
// metadata; its logs too.
func TestContinueTrace(t *testing.T) {
	// Serial: Run puts the trace context in the child's environment with
	// the global propagator (otel.SetTextMapPropagator).
	rec := crsteltest.NewRecorder(t, crsteltest.WithGlobal())
	srv := otlptest.NewServer(t)
	ctx := crstel.WithTask(context.Background(), task1)
	cmd := childCmd(t, "continue")
	cmd.Env = append(cmd.Env,
		"OTEL_EXPORTER_OTLP_ENDPOINT="+srv.URL(), "OTEL_METRICS_EXPORTER=none", "OTEL_SERVICE_NAME=",
		"CRSTEL_TRACE_DIR="+t.TempDir(),
		// A stale trace context that Run must replace.
		"TRACEPARENT=00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "BAGGAGE=task.id=stale")
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	ctx, cancel := context.WithTimeout(ctx, 50*time.Second)
	defer cancel()
	if err := subprocess.Run(ctx, crs.Testing, "run_child", cmd); err != nil {
		t.Fatalf("Run: %v\n%s", err, out.String())
	}
	parent := only(t, rec.Ended()).SpanContext()

	spans := srv.WaitForSpans(1, 10*time.Second)
	if len(spans) != 1 {
		t.Fatalf("the child sent %d spans, want 1\n%s", len(spans), out.String())
	}
	c := spans[0]
	if c.Name != "child_tests" || c.TraceID != parent.TraceID().String() || c.ParentSpanID != parent.SpanID().String() {
		t.Errorf("child span %q in trace %s under %s: want child_tests in trace %s under %s",
			c.Name, c.TraceID, c.ParentSpanID, parent.TraceID(), parent.SpanID())
	}
	crsteltest.AssertConforms(t, otlptest.ToReadOnly(spans), crsteltest.WantMetadata(task1))

	logRecs := srv.WaitForLogs(1, 10*time.Second)
	if len(logRecs) != 1 {
		t.Fatalf("the child sent %d log records, want 1", len(logRecs))
	}
	if l := logRecs[0]; l.TraceID != parent.TraceID().String() || l.SpanID != c.SpanID || l.Attributes["task.id"] != "task-1" {
		t.Errorf("child log record %+v: want it in the child's span with the task", l)
	}
}
