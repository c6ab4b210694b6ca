package subprocess

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os/exec"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	semconv "go.opentelemetry.io/otel/semconv/v1.41.0"

	"github.com/crstel/crstel"
)

// iostreamKey is the OpenTelemetry semantic conventions' key for the
// stream a log record comes from.
const iostreamKey = string(semconv.LogIostreamKey)

// output is the logging of a child's output, for WithOutputLog.
type output struct {
	cmd                 *exec.Cmd
	origStdout, origErr io.Writer
	stdout, stderr      *lineLog
}

// teeOutput makes cmd's output go to the lines' log as well as where it
// went. It returns nil without WithOutputLog; the methods of a nil output
// do nothing.
func teeOutput(ctx context.Context, cmd *exec.Cmd, cfg config) *output {
	if cfg.logger == nil {
		return nil
	}
	o := &output{cmd: cmd, origStdout: cmd.Stdout, origErr: cmd.Stderr}
	stdout, stderr := cmd.Stdout, cmd.Stderr
	if stdout != nil && sameWriter(stdout, stderr) {
		// exec writes to one writer from one goroutine at a time; with a
		// writer of its own for each stream, it would not.
		w := &lockedWriter{w: stdout}
		stdout, stderr = w, w
	}
	o.stdout = newLineLog(ctx, cfg.logger, "stdout", cfg.limit)
	o.stderr = newLineLog(ctx, cfg.logger, "stderr", cfg.limit)
	cmd.Stdout = tee(stdout, o.stdout)
	cmd.Stderr = tee(stderr, o.stderr)
	return o
}

func tee(w io.Writer, l *lineLog) io.Writer {
	if w == nil {
		return l
	}
	return io.MultiWriter(w, l)
}

// sameWriter reports whether a and b are the same writer, as exec tells.
func sameWriter(a, b io.Writer) (same bool) {
	defer func() {
		if recover() != nil {
			same = false // not comparable
		}
	}()
	return a == b
}

// restore puts back cmd.Stdout and cmd.Stderr as the caller set them.
func (o *output) restore() {
	if o == nil {
		return
	}
	o.cmd.Stdout, o.cmd.Stderr = o.origStdout, o.origErr
}

// finish logs what is left once the child's output has ended.
func (o *output) finish() {
	if o == nil {
		return
	}
	o.stdout.finish()
	o.stderr.finish()
}

// attributes returns the counts of the output, for the span.
func (o *output) attributes() []attribute.KeyValue {
	if o == nil {
		return nil
	}
	return []attribute.KeyValue{
		StdoutSizeKey.Int64(o.stdout.total),
		StdoutUnloggedSizeKey.Int64(o.stdout.unloggedBytes),
		StdoutUnloggedLineCountKey.Int64(o.stdout.unloggedLines),
		StderrSizeKey.Int64(o.stderr.total),
		StderrUnloggedSizeKey.Int64(o.stderr.unloggedBytes),
		StderrUnloggedLineCountKey.Int64(o.stderr.unloggedLines),
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// lineLog is an io.Writer that logs each line written to it, up to a
// number of bytes, and counts the rest. exec writes to it from one
// goroutine; finish and the counts are read after that goroutine is done.
type lineLog struct {
	log    func(level slog.Level, msg string, attrs ...slog.Attr)
	beat   func()
	stream string
	limit  int

	budget  int    // bytes that may still be logged
	buf     []byte // the current line, as much of it as fits the budget
	partial bool   // a line is in progress
	cut     bool   // bytes of the current line were not logged

	total, unloggedBytes, unloggedLines int64
}

func newLineLog(ctx context.Context, logger *slog.Logger, stream string, limit int) *lineLog {
	return &lineLog{
		log: func(level slog.Level, msg string, attrs ...slog.Attr) {
			logger.LogAttrs(ctx, level, msg, attrs...)
		},
		beat:   func() { crstel.Heartbeat(ctx) },
		stream: stream,
		limit:  limit,
		budget: limit,
	}
}

// Write logs the complete lines of p, and keeps the last one if it is not
// complete. It never fails.
func (l *lineLog) Write(p []byte) (int, error) {
	n := len(p)
	l.total += int64(n)
	l.beat()
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.add(p)
			break
		}
		l.add(p[:i])
		l.endLine()
		p = p[i+1:]
	}
	return n, nil
}

// add adds a piece of the current line, as much of it as fits the budget.
func (l *lineLog) add(piece []byte) {
	if len(piece) == 0 {
		return
	}
	l.partial = true
	if room := l.budget - len(l.buf); len(piece) > room {
		l.buf = append(l.buf, piece[:room]...)
		l.unloggedBytes += int64(len(piece) - room)
		l.cut = true
		return
	}
	l.buf = append(l.buf, piece...)
}

// endLine logs the current line, as much of it as fitted.
func (l *lineLog) endLine() {
	line := bytes.TrimSuffix(l.buf, []byte("\r"))
	if l.cut {
		l.unloggedLines++
	}
	if len(line) > 0 {
		attrs := []slog.Attr{slog.String(iostreamKey, l.stream)}
		if l.cut {
			attrs = append(attrs, slog.Bool("truncated", true))
		}
		l.log(slog.LevelInfo, string(line), attrs...)
	}
	l.budget -= len(l.buf)
	l.buf = l.buf[:0]
	l.partial, l.cut = false, false
}

// finish logs the last line if it did not end with a newline, and says
// how much was not logged.
func (l *lineLog) finish() {
	if l.partial {
		l.endLine()
	}
	if l.unloggedBytes > 0 {
		l.log(slog.LevelWarn, "output not logged: over the limit",
			slog.String(iostreamKey, l.stream),
			slog.Int64("unlogged_size", l.unloggedBytes),
			slog.Int64("unlogged_line_count", l.unloggedLines),
			slog.Int("size_limit", l.limit))
	}
}
