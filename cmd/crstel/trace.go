package main

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/crstel/crstel/internal/envconfig"
	"github.com/crstel/crstel/internal/journal"
)

const usage = `usage: crstel trace list [--json]
       crstel trace read FILE
       crstel trace anomalies [FILE] [--all] [--json] [--filter TEXT] [--stacks]
       crstel trace costs [FILE...] [--by task|category|model] [--json]
       crstel lint [--json] [--require KEYS] [--trace-metadata KEYS] FILE...
       crstel audit verify [DIR|FILE] [--json]
       crstel audit list [DIR|FILE] [--filter TEXT] [--json]
`

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2 // a usage error
	exitInput = 2 // input that cannot be read
)

// usageError is a command line error: exit code 2 and the usage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// inputError is input that cannot be read: a FILE that does not exist, is
// not a regular file or is not readable, or a journal folder that cannot
// be read or is turned off. Exit code 2, without the usage.
type inputError struct{ err error }

func (e inputError) Error() string { return e.err.Error() }
func (e inputError) Unwrap() error { return e.err }

// cli is one run of the command.
type cli struct {
	stdin          io.Reader // for lint -
	stdout, stderr io.Writer
	dir            string         // the journals' directory, absolute if possible
	dirFrom        string         // where dir comes from, for messages
	off            bool           // CRSTEL_TRACE_DIR=off: dir is where journals would be
	now            time.Time      // for live processes
	loc            *time.Location // for printed times
	auditDir       string         // the audit trail's directory, absolute if possible
	auditFrom      string         // where auditDir comes from, for messages
}

// run runs the command with args (without the program name) and returns
// its exit code. env reads the environment: CRSTEL_TRACE_DIR, and TZ for
// printed times.
func run(args []string, stdout, stderr io.Writer, env func(string) string) int {
	c := &cli{stdin: os.Stdin, stdout: stdout, stderr: stderr, now: time.Now(), loc: time.Local}
	if env == nil {
		env = os.Getenv
	}
	// Only CRSTEL_TRACE_DIR matters here: problems with other variables are
	// for the library to report.
	cfg, _ := envconfig.ReadVars(func(name string) (string, bool) {
		v := env(name)
		return v, v != ""
	}, envconfig.TraceDir, envconfig.AuditDir)
	c.setDir(cfg.TraceDir)
	c.setAuditDir(cfg.AuditDir)
	if tz := env("TZ"); tz != "" {
		if loc, err := time.LoadLocation(tz); err == nil {
			c.loc = loc
		}
	}

	err := c.run(args)
	var uerr usageError
	var ierr inputError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errViolations), errors.Is(err, errTampered):
		return exitError // the report says what they are
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		if c.off {
			fmt.Fprintf(stdout, "\nThe journal is turned off (CRSTEL_TRACE_DIR=off); without that, journals are in %s.\n", clean(c.dir))
		} else {
			fmt.Fprintf(stdout, "\nJournals are in %s (%s).\n", clean(c.dir), c.dirFrom)
		}
		fmt.Fprint(stdout, "Exit status: 0 on success, 2 for a usage error or input that cannot be read or decoded, 1 otherwise;\n"+
			"lint exits with 1 when a span violates the CRS Telemetry Specification, audit verify when a trail was tampered with.\n")
		return exitOK
	case errors.As(err, &uerr):
		fmt.Fprintf(stderr, "crstel: %s\n%s", clean(err.Error()), usage)
		return exitUsage
	case errors.As(err, &ierr):
		fmt.Fprintf(stderr, "crstel: %s\n", clean(err.Error()))
		return exitInput
	}
	fmt.Fprintf(stderr, "crstel: %s\n", clean(err.Error()))
	return exitError
}

// setDir sets the journals' directory from CRSTEL_TRACE_DIR's value: the
// default if it is empty or "off".
func (c *cli) setDir(env string) {
	switch env {
	case "":
		c.dir, c.dirFrom = journal.DefaultDir(), "the default; CRSTEL_TRACE_DIR sets another"
	case envconfig.TraceDirOff:
		c.dir, c.dirFrom, c.off = journal.DefaultDir(), "the default", true
	default:
		c.dir, c.dirFrom = env, "CRSTEL_TRACE_DIR"
		if !filepath.IsAbs(env) {
			c.dirFrom = "CRSTEL_TRACE_DIR=" + clean(env) + ", relative to the current folder"
		}
	}
	if abs, err := filepath.Abs(c.dir); err == nil {
		c.dir = abs
	}
}

// errOff is the error of commands that need the journal folder when the
// journal is turned off.
func (c *cli) errOff() error {
	return inputError{fmt.Errorf("the journal is turned off (CRSTEL_TRACE_DIR=off), so no process writes one; "+
		"unset CRSTEL_TRACE_DIR to read the default folder %s, set it to the folder to read, or name a journal FILE by its path", c.dir)}
}

// journals lists the journals of the directory. A directory that does not
// exist holds none: exists tells which.
func (c *cli) journals() (infos []journal.Info, exists bool, err error) {
	if c.off {
		return nil, false, c.errOff()
	}
	fi, err := os.Stat(c.dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, false, nil
	case err != nil:
		return nil, false, inputError{fmt.Errorf("cannot read the journal folder (%s): %w", c.dirFrom, err)}
	case !fi.IsDir():
		return nil, false, inputError{fmt.Errorf("the journal folder %s (%s) is not a folder", c.dir, c.dirFrom)}
	}
	infos, err = journal.List(c.dir)
	if err != nil {
		return nil, true, inputError{fmt.Errorf("cannot read the journal folder (%s): %w", c.dirFrom, err)}
	}
	return infos, true, nil
}

// newest returns the path of the newest readable journal of the
// directory, and how many newer ones could not be read.
func (c *cli) newest() (path string, unreadable int, err error) {
	infos, exists, err := c.journals()
	if err != nil {
		return "", 0, err
	}
	var first error
	for _, i := range infos {
		if i.Err == nil {
			return i.Path, unreadable, nil
		}
		unreadable++
		first = cmp.Or(first, i.Err)
	}
	switch {
	case first != nil:
		return "", 0, inputError{fmt.Errorf("no readable trace journal in %s: %w", c.dir, first)}
	case !exists:
		return "", 0, fmt.Errorf("no trace journals in %s (%s): the folder does not exist", c.dir, c.dirFrom)
	}
	return "", 0, fmt.Errorf("no trace journals in %s (%s)", c.dir, c.dirFrom)
}

func (c *cli) run(args []string) error {
	if len(args) == 0 {
		return usageError{"no command"}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		return flag.ErrHelp
	case "trace":
	case "lint":
		return c.lint(args[1:])
	case "audit":
		return c.auditCmd(args[1:])
	default:
		return usageError{fmt.Sprintf("unknown command %q", args[0])}
	}
	if len(args) == 1 {
		return usageError{"trace: no subcommand"}
	}
	sub, args := args[1], args[2:]
	switch sub {
	case "-h", "-help", "--help", "help":
		return flag.ErrHelp
	case "list":
		return c.list(args)
	case "read":
		return c.read(args)
	case "anomalies":
		return c.anomalies(args)
	case "costs":
		return c.costs(args)
	}
	return usageError{fmt.Sprintf("trace: unknown subcommand %q", sub)}
}

// parse parses args with flags, allowing flags after positional arguments,
// and returns the positional ones.
func parse(flags *flag.FlagSet, args []string) ([]string, error) {
	flags.SetOutput(io.Discard)
	var pos []string
	for {
		if err := flags.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, usageError{flags.Name() + ": " + err.Error()}
		}
		rest := flags.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// resolve returns the path of the journal file: file itself if it exists,
// else the journal of that name, with or without its .jsonl, in the
// directory. It does not open it: the journal package checks that it is
// a regular file when it does.
func (c *cli) resolve(file string) (string, error) {
	if file == "" {
		return "", usageError{"empty FILE"}
	}
	_, err := os.Stat(file)
	if err == nil {
		return file, nil
	}
	if !errors.Is(err, fs.ErrNotExist) || strings.ContainsRune(file, filepath.Separator) {
		return file, inputError{err}
	}
	if c.off {
		return file, inputError{fmt.Errorf("%s: no such file; the journal is turned off (CRSTEL_TRACE_DIR=off), so names are not looked up in a journal folder", file)}
	}
	for _, name := range []string{file, file + ".jsonl"} {
		p := filepath.Join(c.dir, name)
		if _, err := os.Lstat(p); err == nil {
			return p, nil // even a dangling link: reading it says so
		}
	}
	return file, inputError{fmt.Errorf("%s: no such file, here or in the journal folder %s", file, c.dir)}
}

// list is "crstel trace list".
func (c *cli) list(args []string) error {
	flags := flag.NewFlagSet("trace list", flag.ContinueOnError)
	asJSON := flags.Bool("json", false, "print JSON")
	pos, err := parse(flags, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{fmt.Sprintf("trace list: unexpected argument %q", pos[0])}
	}
	infos, exists, err := c.journals()
	if err != nil {
		return err
	}
	if *asJSON {
		type jsonInfo struct {
			Path      string    `json:"path"`
			File      string    `json:"file"`
			Service   string    `json:"service"`
			PID       int       `json:"pid"`
			Host      string    `json:"host"`
			Started   time.Time `json:"started,omitzero"`
			LastWrite time.Time `json:"last_write"`
			Size      int64     `json:"size"`
			State     string    `json:"state"`
			Error     string    `json:"error,omitempty"`
		}
		out := make([]jsonInfo, 0, len(infos))
		for _, i := range infos {
			ji := jsonInfo{
				i.Path, filepath.Base(i.Path), i.Service, i.PID, i.Host,
				journal.ClampTime(i.Started), journal.ClampTime(i.Modified), i.Size, i.State(), "",
			}
			if i.Err != nil {
				ji.Error = i.Err.Error()
			}
			out = append(out, ji)
		}
		return writeJSON(c.stdout, out)
	}
	if len(infos) == 0 {
		why := ""
		if !exists {
			why = ": the folder does not exist"
		}
		_, err := fmt.Fprintf(c.stdout, "No trace journals in %s (%s)%s.\n", clean(c.dir), c.dirFrom, why)
		return err
	}
	bw := bufio.NewWriter(c.stdout)
	fmt.Fprintf(bw, "Trace journals in %s, newest first:\n\n", clean(c.dir))
	// Each journal's file name goes on a line of its own, so that the
	// table fits in 80 columns; the service gets the room the other
	// columns leave.
	rows := [][]string{{"STATE", "SERVICE", "PID", "STARTED", "LAST WRITE", "SIZE"}}
	for _, i := range infos {
		rows = append(rows, []string{
			i.State(), clean(cmp.Or(i.Service, "?")), itoa(i.PID),
			c.shortTime(i.Started), c.shortTime(i.Modified), size(i.Size),
		})
	}
	others := 2 * (len(rows[0]) - 1)
	for col := range rows[0] {
		if col != 1 {
			others += textWidth(slices.MaxFunc(rows, func(a, b []string) int { return cmp.Compare(textWidth(a[col]), textWidth(b[col])) })[col])
		}
	}
	for _, row := range rows[1:] {
		row[1] = truncate(row[1], min(max(width-others, 8), 32))
	}
	lines := strings.SplitAfter(tableString(rows), "\n")
	bw.WriteString(lines[0])
	for n, i := range infos {
		bw.WriteString(lines[n+1])
		name := clean(filepath.Base(i.Path))
		if i.Err != nil {
			name += ": " + clean(reason(i.Err))
		}
		bw.WriteString(truncate(indent+name, width) + "\n")
	}
	return bw.Flush()
}

// reason returns the reason of err without the operation and path that
// an *fs.PathError adds.
func reason(err error) string {
	if perr, ok := err.(*fs.PathError); ok {
		return perr.Err.Error()
	}
	return err.Error()
}

// read is "crstel trace read".
func (c *cli) read(args []string) error {
	flags := flag.NewFlagSet("trace read", flag.ContinueOnError)
	pos, err := parse(flags, args)
	if err != nil {
		return err
	}
	switch len(pos) {
	case 0:
		return usageError{"trace read: no FILE"}
	case 1:
	default:
		return usageError{fmt.Sprintf("trace read: unexpected argument %q", pos[1])}
	}
	path, err := c.resolve(pos[0])
	if err != nil {
		return err
	}
	recs, err := journal.ReadFile(path)
	if err != nil {
		return inputError{err}
	}
	bw := bufio.NewWriter(c.stdout)
	if len(recs) == 0 {
		bw.WriteString("[]\n")
		return bw.Flush()
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	bw.WriteString("[\n")
	for i, r := range recs {
		buf.Reset()
		if err := enc.Encode(r); err != nil {
			return err
		}
		bw.Write(escapeJSON(bytes.TrimSuffix(buf.Bytes(), []byte("\n"))))
		if i < len(recs)-1 {
			bw.WriteByte(',')
		}
		bw.WriteByte('\n')
	}
	bw.WriteString("]\n")
	return bw.Flush()
}

// writeJSON writes v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return err
	}
	_, err := w.Write(escapeJSON(buf.Bytes()))
	return err
}
