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
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"

	"github.com/crstel/crstel"
	"github.com/crstel/crstel/crs"
)

// Attribute keys Run sets on the action's span. The process.* keys are
// those of the OpenTelemetry semantic conventions; the crstel.process.*
// keys are crstel's own.
const (
	// ExecutableNameKey is the base name of the executable (cmd.Path).
	ExecutableNameKey = attribute.Key("process.executable.name")
	// ExecutablePathKey is the path of the executable (cmd.Path).
	ExecutablePathKey = attribute.Key("process.executable.path")
	// CommandArgsKey is the command line (cmd.Args, the command first),
	// redacted: see [WithRedactArgs].
	CommandArgsKey = attribute.Key("process.command_args")
	// WorkingDirectoryKey is cmd.Dir, if set.
	WorkingDirectoryKey = attribute.Key("process.working_directory")
	// PIDKey is the child's process id.
	PIDKey = attribute.Key("process.pid")
	// ExitCodeKey is the child's exit code, if it exited: not if a signal
	// ended it.
	ExitCodeKey = attribute.Key("process.exit.code")

	// SignalKey is the name of the signal that ended the child, such as
	// "SIGKILL" or "SIGSEGV".
	SignalKey = attribute.Key("crstel.process.signal")
	// KilledKey says why Run killed the child: its context was done, or
	// its time limit ([WithKillAfter]) passed.
	KilledKey = attribute.Key("crstel.process.killed")
	// WallTimeKey is the time, in seconds, from the child's start to the
	// end of Wait.
	WallTimeKey = attribute.Key("crstel.process.wall_time_s")
	// UserCPUKey and SystemCPUKey are the CPU seconds the child used in
	// user and in kernel mode (its children waited for included).
	UserCPUKey   = attribute.Key("crstel.process.cpu.user_s")
	SystemCPUKey = attribute.Key("crstel.process.cpu.system_s")
	// MaxRSSKey is the child's peak resident memory, in bytes, from
	// getrusage (Linux reports it in KiB, converted here). Unix only. On
	// Linux a child started by Go counts the memory of its parent in its
	// peak (it is started with vfork and shares the parent's memory until
	// it execs), so the peak is recorded only if it is more than this
	// process's own peak when the child started: a child smaller than its
	// parent has none.
	MaxRSSKey = attribute.Key("crstel.process.memory.max_rss_bytes")

	// StdoutBytesKey and StderrBytesKey count the bytes the child wrote,
	// with [WithOutputLog].
	StdoutBytesKey = attribute.Key("crstel.process.stdout.bytes")
	StderrBytesKey = attribute.Key("crstel.process.stderr.bytes")
	// StdoutUnloggedBytesKey and StderrUnloggedBytesKey count the bytes
	// beyond the limit of [WithOutputLog], which were not logged (they
	// still went to cmd.Stdout and cmd.Stderr).
	StdoutUnloggedBytesKey = attribute.Key("crstel.process.stdout.unlogged_bytes")
	StderrUnloggedBytesKey = attribute.Key("crstel.process.stderr.unlogged_bytes")
	// StdoutUnloggedLinesKey and StderrUnloggedLinesKey count the lines
	// not logged, or logged in part.
	StdoutUnloggedLinesKey = attribute.Key("crstel.process.stdout.unlogged_lines")
	StderrUnloggedLinesKey = attribute.Key("crstel.process.stderr.unlogged_lines")
)

// Defaults of [Run].
const (
	// DefaultOutputLimit is how many bytes of each of stdout and stderr
	// WithOutputLog logs unless told otherwise.
	DefaultOutputLimit = 64 << 10
	// DefaultWaitDelay is what Run sets cmd.WaitDelay to if it is 0: how
	// long Run waits, once the child has exited or been killed, for its
	// output to end, which a grandchild that inherited it can hold open.
	DefaultWaitDelay = 5 * time.Second
)

// ErrTimeLimit is the cause of a child killed because it ran past its
// time limit ([WithKillAfter]). Test it with errors.Is.
var ErrTimeLimit = errors.New("subprocess: killed at its time limit")

// Option configures [Run].
type Option interface{ apply(*config) }

type optionFunc func(*config)

func (f optionFunc) apply(c *config) { f(c) }

type config struct {
	action       []crstel.ActionOption
	killAfter    time.Duration
	grace        time.Duration
	processGroup bool
	logger       *slog.Logger
	limit        int
	redactArgs   func([]string) []string
}

// WithBudget gives the action a budget, as crstel.WithOverdueAfter does:
// if the child still runs after d, the watchdog of crstel.Setup reports the
// action as overdue while it runs. It does not kill the child; see
// [WithKillAfter]. The default is the budget of the category (see
// crstel.DefaultBudgets); the context's deadline counts too.
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

// WithKillAfter kills the child if it still runs d after it started; Run
// then returns an error that wraps [ErrTimeLimit]. 0 means no limit, the
// default. Run also kills the child when its context is done, limit or not.
func WithKillAfter(d time.Duration) Option {
	return optionFunc(func(c *config) { c.killAfter = max(d, 0) })
}

// WithGracePeriod makes a kill send SIGTERM first, and SIGKILL only if the
// child still runs d later, so that it can flush its output and clean up.
// The default is 0: SIGKILL at once. Unix only; elsewhere the child is
// killed at once.
func WithGracePeriod(d time.Duration) Option {
	return optionFunc(func(c *config) { c.grace = max(d, 0) })
}

// WithProcessGroup starts the child in a process group of its own
// (SysProcAttr.Setpgid) and sends the kill signals to the whole group, so
// that a build's or a test runner's own children are killed with it. The
// default is to signal the child only. Unix only; elsewhere it does
// nothing.
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
// a last record at level Warn, and attributes of the span
// ([StdoutUnloggedBytesKey], ...), say how much was left out. Carriage
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
// Run killed it, the error wraps the cause too: [ErrTimeLimit], or the
// context's error (context.Canceled, context.DeadlineExceeded, or its
// cause); it is then an error even if the child exited 0 on SIGTERM.
//
// The action's span records the command (process.executable.name,
// process.command_args, redacted by [RedactArgs] or [WithRedactArgs]), the
// child's pid, its exit code ([ExitCodeKey]) or the signal that ended it
// ([SignalKey]), its wall time, user and system CPU seconds and peak
// resident memory (if bigger than this process's, see [MaxRSSKey]), and an
// error status if it failed or could not start.
//
// The child gets the trace context and the task metadata in its
// environment, as TRACEPARENT, TRACESTATE and BAGGAGE (see
// crstel.ContextToEnv), so that a child that calls crstel.ContextFromEnv
// continues the trace, its actions children of this one. Run sets cmd.Env
// for that, from os.Environ() if it was nil.
//
// A child that hangs is an action that hangs: crstel's watchdog reports it
// when it runs past its budget ([WithBudget]) or its context's deadline.
// Run kills the child when ctx is done, and when its time limit passes
// ([WithKillAfter]), with SIGKILL, or SIGTERM first ([WithGracePeriod]), to
// the child or its process group ([WithProcessGroup]). If cmd.WaitDelay is
// 0, Run sets it to [DefaultWaitDelay]. cmd.Cancel, for a command made
// with exec.CommandContext, still works as it does for cmd.Run.
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

	start := time.Now()
	if err := cmd.Start(); err != nil {
		span.SetStatus(codes.Error, err.Error())
		return err
	}
	span.SetAttributes(PIDKey.Int(cmd.Process.Pid))
	parentRSS := peakRSS() // after the child's exec; see maxRSS

	done := make(chan struct{})
	killed := make(chan error, 1)
	go func() { killed <- supervise(ctx, cmd, cfg, done) }()
	err := cmd.Wait()
	wall := time.Since(start)
	close(done)
	cause := <-killed
	out.finish()

	attrs := exitAttributes(cmd.ProcessState, wall, parentRSS)
	attrs = append(attrs, out.attributes()...)
	if cause != nil {
		// Killed, even if it then exited 0, on SIGTERM: an error, as for
		// exec.CommandContext.
		attrs = append(attrs, KilledKey.String(cause.Error()))
		if err != nil {
			err = fmt.Errorf("%w: %w", cause, err)
		} else {
			err = cause
		}
	}
	span.SetAttributes(attrs...)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
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

// supervise kills cmd's child when ctx is done or its time limit passes,
// unless done is closed first (Wait has returned). It returns why it killed
// the child, or nil if it did not.
func supervise(ctx context.Context, cmd *exec.Cmd, cfg config, done <-chan struct{}) error {
	var limit <-chan time.Time
	if cfg.killAfter > 0 {
		t := time.NewTimer(cfg.killAfter)
		defer t.Stop()
		limit = t.C
	}
	var cause error
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		cause = fmt.Errorf("subprocess: killed: %w", context.Cause(ctx))
	case <-limit:
		cause = fmt.Errorf("%w of %v", ErrTimeLimit, cfg.killAfter)
	}
	if cfg.grace > 0 && canTerminate {
		if terminate(cmd, cfg.processGroup) != nil {
			return nil // it has exited already
		}
		t := time.NewTimer(cfg.grace)
		defer t.Stop()
		select {
		case <-done:
			return cause
		case <-t.C:
		}
	}
	if kill(cmd, cfg.processGroup) != nil && cfg.grace == 0 {
		return nil
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
