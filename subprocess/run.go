package subprocess

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"

	"github.com/crstel/crstel/internal/actionref"
)

// Attribute keys Run sets on the action's span. The process.* keys are
// those of the OpenTelemetry semantic conventions (semconv v1.41.0); the
// crstel.process.* keys are crstel's own, named by the conventions' rules:
// no unit in the name, the unit in the key's documentation.
const (
	// ExecutableNameKey is the base name of the executable (cmd.Path).
	ExecutableNameKey = semconv.ProcessExecutableNameKey
	// ExecutablePathKey is the path of the executable (cmd.Path).
	ExecutablePathKey = semconv.ProcessExecutablePathKey
	// CommandArgsKey is the command line (cmd.Args, the command first),
	// redacted: see [WithRedactArgs].
	CommandArgsKey = semconv.ProcessCommandArgsKey
	// WorkingDirectoryKey is cmd.Dir, if set.
	WorkingDirectoryKey = semconv.ProcessWorkingDirectoryKey
	// PIDKey is the child's process id.
	PIDKey = semconv.ProcessPIDKey
	// ExitCodeKey is the child's exit code, if it exited: not if a signal
	// ended it.
	ExitCodeKey = semconv.ProcessExitCodeKey

	// SignalKey is the name of the signal that ended the child, such as
	// "SIGKILL" or "SIGSEGV".
	SignalKey = attribute.Key("crstel.process.signal")
	// KilledKey says why Run stopped the child (with cmd.Cancel or a
	// kill): its context was done, or the command's own (a command made
	// with exec.CommandContext).
	KilledKey = attribute.Key("crstel.process.killed")
	// WallTimeKey is the time from the child's start to the end of Wait,
	// in seconds (a double).
	WallTimeKey = attribute.Key("crstel.process.wall_time")
	// UserCPUKey and SystemCPUKey are the CPU time the child used in user
	// and in kernel mode (its children waited for included), in seconds (a
	// double): what the conventions' process.cpu.time metric counts with
	// cpu.mode "user" and "system".
	UserCPUKey   = attribute.Key("crstel.process.cpu.user_time")
	SystemCPUKey = attribute.Key("crstel.process.cpu.system_time")
	// MaxRSSKey is the child's peak resident memory, in bytes (an int),
	// from getrusage (Linux reports it in KiB, converted here). Unix only.
	// On Linux a child started by Go counts the memory of its parent in its
	// peak (it is started with vfork and shares the parent's memory until
	// it execs), so the peak is recorded only if it is more than this
	// process's own peak when the child started: a child smaller than its
	// parent has none.
	MaxRSSKey = attribute.Key("crstel.process.memory.max_rss")

	// StdoutSizeKey and StderrSizeKey count the bytes the child wrote,
	// with [WithOutputLog].
	StdoutSizeKey = attribute.Key("crstel.process.stdout.size")
	StderrSizeKey = attribute.Key("crstel.process.stderr.size")
	// StdoutUnloggedSizeKey and StderrUnloggedSizeKey count the bytes
	// beyond the limit of [WithOutputLog], which were not logged (they
	// still went to cmd.Stdout and cmd.Stderr).
	StdoutUnloggedSizeKey = attribute.Key("crstel.process.stdout.unlogged_size")
	StderrUnloggedSizeKey = attribute.Key("crstel.process.stderr.unlogged_size")
	// StdoutUnloggedLineCountKey and StderrUnloggedLineCountKey count the
	// lines not logged, or logged in part.
	StdoutUnloggedLineCountKey = attribute.Key("crstel.process.stdout.unlogged_line_count")
	StderrUnloggedLineCountKey = attribute.Key("crstel.process.stderr.unlogged_line_count")
)

// Defaults of [Run].
const (
	// DefaultOutputLimit is how many bytes of each of stdout and stderr
	// WithOutputLog logs unless told otherwise.
	DefaultOutputLimit = 64 << 10
	// DefaultWaitDelay is what Run sets cmd.WaitDelay to if it is 0: how
	// long Run waits, once it stopped the child, for it to exit before it
	// kills it, and once the child has exited, for its output to end,
	// which a grandchild that inherited it can hold open.
	DefaultWaitDelay = 5 * time.Second
)

// Option configures [Run].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	action       []crstel.ActionOption
	processGroup bool
	logger       *slog.Logger
	limit        int
	redactArgs   func([]string) []string
}

// WithBudget gives the action a budget, as crstel.WithOverdueAfter does:
// if the child still runs after d, the watchdog of crstel.Setup reports the
// action as overdue while it runs. It does not stop the child: give Run a
// context with a deadline (context.WithTimeout) for that. The default is
// the budget of the category (see crstel.DefaultBudgets); the context's
// deadline counts too.
func WithBudget(d time.Duration) Option {
	return WithActionOptions(crstel.WithOverdueAfter(d))
}

// WithActionOptions passes opts to the crstel.Action that Run starts, such
// as crstel.WithAttributes or crstel.WithHeartbeat (with [WithOutputLog],
// each write of the child counts as a heartbeat, so a child silent for the
// heartbeat interval is reported as stalled). Nil options are ignored.
func WithActionOptions(opts ...crstel.ActionOption) Option {
	return optionFunc(func(c *config) {
		for _, o := range opts {
			if o != nil {
				c.action = append(c.action, o)
			}
		}
	})
}

// WithProcessGroup starts the child in a process group of its own
// (SysProcAttr.Setpgid), so that a build's or a test runner's own children
// are stopped with it: when Run stops the child without cmd.Cancel, and
// when cmd.WaitDelay passes, it kills the whole group, and once a child it
// stopped has ended, it kills what is left of the group. A cmd.Cancel of
// one's own can signal the whole group too, with
// syscall.Kill(-cmd.Process.Pid, sig). The default is to kill the child
// only. Unix only; elsewhere it does nothing.
func WithProcessGroup() Option {
	return optionFunc(func(c *config) { c.processGroup = true })
}

// WithOutputLog logs each line the child writes to stdout and stderr
// through logger, with the action's context (so that a logs.Handler puts
// the trace, the action and the task on it) and the attribute log.iostream
// ("stdout" or "stderr"), at level Info. The output still goes to
// cmd.Stdout and cmd.Stderr if they are set.
//
// At most limit bytes of each stream are logged ([DefaultOutputLimit] if
// limit is 0 or less): a line that would pass the limit is logged in part,
// with the attribute truncated=true, and the rest is counted, not logged;
// a last record at level Warn (with unlogged_size and size_limit, in
// bytes, and unlogged_line_count), and attributes of the span
// ([StdoutUnloggedSizeKey], ...), say how much was left out. Carriage
// returns at the ends of lines are dropped; empty lines are not logged.
// A nil logger is ignored. The default is not to log the output.
func WithOutputLog(logger *slog.Logger, limit int) Option {
	return optionFunc(func(c *config) {
		if logger != nil {
			c.logger = logger
			c.limit = limit
			if limit <= 0 {
				c.limit = DefaultOutputLimit
			}
		}
	})
}

// WithRedactArgs sets the function that makes the command line recorded
// as process.command_args from a copy of cmd.Args: command lines hold
// passwords and tokens. If it returns nil, the command line is not
// recorded. It replaces the default, [RedactArgs]; call RedactArgs from f
// to keep it. A nil f is ignored. The environment is never recorded.
func WithRedactArgs(f func(args []string) []string) Option {
	return optionFunc(func(c *config) {
		if f != nil {
			c.redactArgs = f
		}
	})
}

// Run runs cmd, which must not have been started, as a CRS action of
// category and name (see crstel.Action), and waits for it to end. It
// returns the error of cmd.Run: an *exec.ExitError if the child failed. If
// Run stopped it because ctx was done, the error wraps the context's error
// too (context.DeadlineExceeded at its deadline, context.Canceled, or its
// cause); it is then an error even if the child exited 0 on a gentle
// cmd.Cancel.
//
// The action's span records the command (process.executable.name,
// process.command_args, redacted by [RedactArgs] or [WithRedactArgs]), the
// child's pid, its exit code ([ExitCodeKey]) or the signal that ended it
// ([SignalKey]), its wall time, user and system CPU time and peak resident
// memory (if bigger than this process's, see [MaxRSSKey]), why Run stopped
// it ([KilledKey]), and an error status if it failed or could not start.
//
// The child gets the trace context and the task metadata in its
// environment, as TRACEPARENT, TRACESTATE and BAGGAGE (see
// crstel.ContextToEnv), so that a child that calls crstel.ContextFromEnv
// continues the trace, its actions children of this one. Run sets cmd.Env
// for that, from os.Environ() if it was nil.
//
// A child that hangs is an action that hangs: crstel's watchdog reports it
// when it runs past its budget ([WithBudget]) or its context's deadline.
// Its time limit is ctx's deadline (context.WithTimeout): when ctx is done,
// Run stops the child as exec.CommandContext would. It calls cmd.Cancel if
// set (a command made with exec.CommandContext, whose Cancel can send
// SIGTERM rather than kill), else kills the child, or its process group
// ([WithProcessGroup]); if the child still runs cmd.WaitDelay later, Run
// kills it (the group). A command made with exec.CommandContext is also
// stopped when its own context is done, by exec, and its Cancel is called
// once either way. If cmd.WaitDelay is 0, Run sets it to
// [DefaultWaitDelay]; Run puts cmd.Cancel back as it was before it
// returns.
//
// With [WithOutputLog], the child's output lines are logged too.
func Run(ctx context.Context, category crs.Category, name string, cmd *exec.Cmd, opts ...Option) error {
	cfg := config{redactArgs: RedactArgs}
	for _, o := range opts {
		if o != nil {
			o.apply(&cfg)
		}
	}
	ctx, span := crstel.Action(ctx, category, name, nil, cfg.action...)
	defer span.End()
	if cmd == nil {
		err := errors.New("subprocess: Run called with a nil *exec.Cmd")
		span.SetStatus(codes.Error, err.Error())
		return err
	}
	span.SetAttributes(describe(cmd, cfg.redactArgs)...)
	if err := context.Cause(ctx); err != nil {
		err = fmt.Errorf("subprocess: %s not started: %w", cmd.Path, err)
		span.SetStatus(codes.Error, err.Error())
		return err
	}

	env := cmd.Env
	if env == nil {
		env = os.Environ()
		if cmd.Dir != "" {
			// As exec does for an inherited environment.
			if dir, err := filepath.Abs(cmd.Dir); err == nil {
				env = append(env, "PWD="+dir)
			}
		}
	}
	cmd.Env = crstel.ContextToEnv(ctx, env)
	out := teeOutput(ctx, cmd, cfg)
	defer out.restore()
	if cfg.processGroup {
		setProcessGroup(cmd)
	}
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = DefaultWaitDelay
	}
	st := newStopper(cmd, cfg.processGroup)
	defer st.restore()

	start := time.Now()
	if err := cmd.Start(); err != nil {
		span.SetStatus(codes.Error, err.Error())
		return err
	}
	span.SetAttributes(PIDKey.Int(cmd.Process.Pid))
	parentRSS := peakRSS() // after the child's exec; see maxRSS

	done := make(chan struct{})
	stopped := make(chan error, 1)
	go func() { stopped <- st.supervise(ctx, done) }()
	err := cmd.Wait()
	wall := time.Since(start)
	close(done)
	cause := <-stopped
	out.finish()

	attrs := exitAttributes(cmd.ProcessState, wall, parentRSS)
	attrs = append(attrs, out.attributes()...)
	if cause != nil {
		attrs = append(attrs, KilledKey.String(cause.Error()))
		if ctx.Err() != nil {
			// Stopped, even if it then exited 0: an error, as for
			// exec.CommandContext.
			switch {
			case err == nil, errors.Is(err, ctx.Err()):
				err = cause // exec's error is the context's alone
			default:
				err = fmt.Errorf("%w: %w", cause, err)
			}
		}
	}
	span.SetAttributes(attrs...)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
	}
	if ps := cmd.ProcessState; ps != nil {
		// The child's cost, added up by its action and those enclosing it
		// (crstel's roll-up); a cost budget it crosses is reported now.
		ev := actionref.Cost{Subprocesses: 1, CPU: ps.UserTime() + ps.SystemTime(), Wall: wall}
		if rss, ok := maxRSS(ps, parentRSS); ok {
			ev.MaxRSS = rss
		}
		actionref.AddCost(ctx, span, ev)
	}
	return err
}

// describe returns the attributes that describe cmd before it starts.
func describe(cmd *exec.Cmd, redact func([]string) []string) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		ExecutableNameKey.String(filepath.Base(cmd.Path)),
		ExecutablePathKey.String(cmd.Path),
	}
	if args := redact(slices.Clone(cmd.Args)); args != nil {
		attrs = append(attrs, CommandArgsKey.StringSlice(args))
	}
	if cmd.Dir != "" {
		attrs = append(attrs, WorkingDirectoryKey.String(cmd.Dir))
	}
	return attrs
}

// errCommandContext is why the child was stopped when exec called
// cmd.Cancel: the context of exec.CommandContext was done.
var errCommandContext = errors.New("subprocess: stopped: the command's context is done")

// stopper stops a child once, with cmd.Cancel or a kill, whether Run's
// context or the command's own (exec.CommandContext) asks first.
type stopper struct {
	cmd    *exec.Cmd
	group  bool
	cancel func() error // cmd.Cancel as the caller set it
	once   sync.Once
	asked  chan struct{} // closed once the first stop has returned
	err    error         // what the first stop returned; set before asked is closed
}

// newStopper returns the stopper of cmd, and makes exec call it, instead
// of cmd.Cancel, when the command's own context is done.
func newStopper(cmd *exec.Cmd, group bool) *stopper {
	st := &stopper{cmd: cmd, group: group, cancel: cmd.Cancel, asked: make(chan struct{})}
	if cmd.Cancel != nil {
		cmd.Cancel = st.stop
	}
	return st
}

// restore puts cmd.Cancel back as the caller set it.
func (st *stopper) restore() { st.cmd.Cancel = st.cancel }

// stop calls cmd.Cancel, or kills the child (its group), the first time;
// later calls return what the first returned.
func (st *stopper) stop() error {
	st.once.Do(func() {
		if st.cancel != nil {
			st.err = st.cancel()
		} else {
			st.err = kill(st.cmd, st.group)
		}
		close(st.asked)
	})
	return st.err
}

// supervise stops the child when ctx is done, unless done is closed first
// (Wait has returned), and kills it (its group) if it still runs
// cmd.WaitDelay after it was stopped, by Run or by exec. It returns why the
// child was stopped, or nil if it was not, or had exited already.
func (st *stopper) supervise(ctx context.Context, done <-chan struct{}) error {
	var cause error
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		cause = fmt.Errorf("subprocess: stopped: %w", context.Cause(ctx))
		st.stop()
	case <-st.asked: // exec called cmd.Cancel
		cause = errCommandContext
		if ctx.Err() != nil { // the same context, most often
			cause = fmt.Errorf("subprocess: stopped: %w", context.Cause(ctx))
		}
	}
	if errors.Is(st.err, os.ErrProcessDone) {
		<-done
		return nil // it had exited already: as exec, no error of ours
	}
	if st.err != nil {
		cause = fmt.Errorf("%w (stopping it failed: %w)", cause, st.err)
	}
	if d := st.cmd.WaitDelay; d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-done:
		case <-t.C:
			kill(st.cmd, st.group)
			<-done
		}
	} else {
		<-done
	}
	if st.group {
		kill(st.cmd, true) // what is left of the group
	}
	return cause
}

// exitAttributes describes how the child ended. parentRSS is the peak RSS
// of this process when the child had started.
func exitAttributes(ps *os.ProcessState, wall time.Duration, parentRSS int64) []attribute.KeyValue {
	attrs := []attribute.KeyValue{WallTimeKey.Float64(wall.Seconds())}
	if ps == nil {
		return attrs
	}
	if sig, ok := signaled(ps); ok {
		attrs = append(attrs, SignalKey.String(sig))
	} else {
		attrs = append(attrs, ExitCodeKey.Int(ps.ExitCode()))
	}
	attrs = append(attrs,
		UserCPUKey.Float64(ps.UserTime().Seconds()),
		SystemCPUKey.Float64(ps.SystemTime().Seconds()))
	if rss, ok := maxRSS(ps, parentRSS); ok {
		attrs = append(attrs, MaxRSSKey.Int64(rss))
	}
	return attrs
}
