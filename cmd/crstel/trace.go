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
	"strings"
	"time"

	"github.com/crstel/crstel/internal/envconfig"
	"github.com/crstel/crstel/internal/journal"
)

const usage = `usage: crstel trace list [--json]
       crstel trace read FILE
       crstel trace anomalies [FILE] [--all] [--json] [--filter TEXT] [--stacks]
`

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// usageError is a command line error: exit code 2 and the usage.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// cli is one run of the command.
type cli struct {
	stdout, stderr io.Writer
	dir            string         // the journals' directory
	now            time.Time      // for live processes
	loc            *time.Location // for printed times
}

// run runs the command with args (without the program name) and returns
// its exit code. env reads the environment: CRSTEL_TRACE_DIR, and TZ for
// printed times.
func run(args []string, stdout, stderr io.Writer, env func(string) string) int {
	c := &cli{stdout: stdout, stderr: stderr, now: time.Now(), loc: time.Local}
	if env == nil {
		env = os.Getenv
	}
	// Only CRSTEL_TRACE_DIR matters here: problems with other variables are
	// for the library to report.
	cfg, _ := envconfig.Read(func(name string) (string, bool) {
		v := env(name)
		return v, v != ""
	})
	c.dir = cfg.TraceDir
	if c.dir == "" {
		c.dir = journal.DefaultDir()
	}
	if tz := env("TZ"); tz != "" {
		if loc, err := time.LoadLocation(tz); err == nil {
			c.loc = loc
		}
	}

	err := c.run(args)
	var uerr usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, usage)
		fmt.Fprintf(stdout, "\nJournals are in %s (CRSTEL_TRACE_DIR).\n", c.dir)
		return exitOK
	case errors.As(err, &uerr):
		fmt.Fprintf(stderr, "crstel: %v\n%s", err, usage)
		return exitUsage
	}
	fmt.Fprintf(stderr, "crstel: %v\n", err)
	return exitError
}

func (c *cli) run(args []string) error {
	if len(args) == 0 {
		return usageError{"no command"}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		return flag.ErrHelp
	case "trace":
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
// else the journal of that name in the directory.
func (c *cli) resolve(file string) (string, error) {
	_, err := os.Stat(file)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || strings.ContainsRune(file, filepath.Separator) {
		return file, err
	}
	for _, name := range []string{file, file + ".jsonl"} {
		p := filepath.Join(c.dir, name)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return file, err
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
	infos, err := journal.List(c.dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
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
		}
		out := make([]jsonInfo, 0, len(infos))
		for _, i := range infos {
			out = append(out, jsonInfo{i.Path, filepath.Base(i.Path), i.Service, i.PID, i.Host, i.Started, i.Modified, i.Size, i.State()})
		}
		return writeJSON(c.stdout, out)
	}
	if len(infos) == 0 {
		_, err := fmt.Fprintf(c.stdout, "No trace journals in %s.\n", c.dir)
		return err
	}
	bw := bufio.NewWriter(c.stdout)
	fmt.Fprintf(bw, "Trace journals in %s, newest first:\n\n", c.dir)
	// Each journal's file name goes on a line of its own, so that the
	// table fits in 80 columns.
	rows := [][]string{{"STATE", "SERVICE", "PID", "STARTED", "LAST WRITE", "SIZE"}}
	for _, i := range infos {
		rows = append(rows, []string{
			i.State(), truncate(clean(cmp.Or(i.Service, "?")), 20), itoa(i.PID),
			c.shortTime(i.Started), c.shortTime(i.Modified), size(i.Size),
		})
	}
	lines := strings.SplitAfter(tableString(rows), "\n")
	bw.WriteString(lines[0])
	for n, i := range infos {
		bw.WriteString(lines[n+1])
		bw.WriteString(truncate(indent+clean(filepath.Base(i.Path)), width) + "\n")
	}
	return bw.Flush()
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
		return err
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
		bw.Write(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
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
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
