package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strings"

	"github.com/crstel/crstel/internal/audit"
	"github.com/crstel/crstel/internal/envconfig"
)

// errTampered is the error of an audit verify that found a chain
// tampered with: exit code 1, the report saying where.
var errTampered = errors.New("audit trail tampered with")

// setAuditDir sets the audit trail's directory from CRSTEL_AUDIT_DIR's
// value: the default if it is empty or "off".
func (c *cli) setAuditDir(env string) {
	switch env {
	case "", envconfig.AuditDirOff:
		c.auditDir, c.auditFrom = audit.DefaultDir(), "the default; CRSTEL_AUDIT_DIR sets another"
	default:
		c.auditDir, c.auditFrom = env, "CRSTEL_AUDIT_DIR"
	}
	if abs, err := filepath.Abs(c.auditDir); err == nil {
		c.auditDir = abs
	}
}

// auditCmd is "crstel audit".
func (c *cli) auditCmd(args []string) error {
	if len(args) == 0 {
		return usageError{"audit: no subcommand"}
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		return flag.ErrHelp
	case "verify":
		return c.auditVerify(args[1:])
	case "list":
		return c.auditList(args[1:])
	}
	return usageError{fmt.Sprintf("audit: unknown subcommand %q", args[0])}
}

// auditChains returns the chains of the one positional argument, or of
// the audit directory.
func (c *cli) auditChains(verb string, pos []string) (string, []audit.Chain, error) {
	if len(pos) > 1 {
		return "", nil, usageError{fmt.Sprintf("audit %s: unexpected argument %q", verb, pos[1])}
	}
	path, from := c.auditDir, c.auditFrom
	if len(pos) == 1 {
		path, from = pos[0], "the argument"
	}
	chains, err := audit.Chains(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && len(pos) == 0:
		return path, nil, nil // no trail written yet
	case err != nil:
		return path, nil, inputError{fmt.Errorf("cannot read the audit trail %s (%s): %w", path, from, err)}
	}
	return path, chains, nil
}

// verifyReport is the --json output of audit verify.
type verifyReport struct {
	Path     string        `json:"path"`
	Tampered bool          `json:"tampered"`
	Chains   []audit.Chain `json:"chains"`
}

// auditVerify is "crstel audit verify".
func (c *cli) auditVerify(args []string) error {
	flags := flag.NewFlagSet("audit verify", flag.ContinueOnError)
	asJSON := flags.Bool("json", false, "print JSON")
	pos, err := parse(flags, args)
	if err != nil {
		return err
	}
	path, chains, err := c.auditChains("verify", pos)
	if err != nil {
		return err
	}
	tampered := slices.ContainsFunc(chains, func(ch audit.Chain) bool { return ch.Tampered != nil })
	if *asJSON {
		if chains == nil {
			chains = []audit.Chain{}
		}
		if err := writeJSON(c.stdout, verifyReport{Path: path, Tampered: tampered, Chains: chains}); err != nil {
			return err
		}
	} else {
		bw := bufio.NewWriter(c.stdout)
		if len(chains) == 0 {
			fmt.Fprintf(bw, "no audit trail in %s\n", clean(path))
		}
		for _, ch := range chains {
			files := "file"
			if len(ch.Files) != 1 {
				files = "files"
			}
			switch {
			case ch.Tampered != nil:
				p := ch.Tampered
				fmt.Fprintf(bw, "TAMPERED  %s: %s:%d: line %s: %s\n", clean(ch.Base), clean(p.File), p.Line, p.Kind, clean(p.Detail))
			case ch.Truncated != nil:
				p := ch.Truncated
				fmt.Fprintf(bw, "truncated %s: %d records in %d %s intact; %s:%d: %s (the process died while writing it)\n",
					clean(ch.Base), ch.Records, len(ch.Files), files, clean(p.File), p.Line, clean(p.Detail))
			case ch.Closed:
				fmt.Fprintf(bw, "ok        %s: %d records in %d %s, closed\n", clean(ch.Base), ch.Records, len(ch.Files), files)
			default:
				fmt.Fprintf(bw, "ok        %s: %d records in %d %s, not closed (the process is running or died)\n",
					clean(ch.Base), ch.Records, len(ch.Files), files)
			}
		}
		if err := bw.Flush(); err != nil {
			return err
		}
	}
	if tampered {
		return errTampered
	}
	return nil
}

// auditList is "crstel audit list".
func (c *cli) auditList(args []string) error {
	flags := flag.NewFlagSet("audit list", flag.ContinueOnError)
	asJSON := flags.Bool("json", false, "print JSON")
	filter := flags.String("filter", "", "keep records whose line contains `TEXT`")
	pos, err := parse(flags, args)
	if err != nil {
		return err
	}
	_, chains, err := c.auditChains("list", pos)
	if err != nil {
		return err
	}
	recs := []audit.Record{}
	for _, ch := range chains {
		if p := ch.Tampered; p != nil {
			fmt.Fprintf(c.stderr, "crstel: warning: %s is tampered with at %s:%d (crstel audit verify says more)\n", clean(ch.Base), clean(p.File), p.Line)
		}
		for _, e := range ch.Entries {
			if e.Record == nil || *filter != "" && !bytes.Contains(e.Raw, []byte(*filter)) {
				continue
			}
			recs = append(recs, *e.Record)
		}
	}
	if *asJSON {
		return writeJSON(c.stdout, recs)
	}
	bw := bufio.NewWriter(c.stdout)
	for _, r := range recs {
		fields := []string{r.Time, r.Event}
		if r.Category != "" {
			fields = append(fields, r.Category+"/"+r.Action)
		}
		if r.Status != "" {
			fields = append(fields, "status="+r.Status)
		}
		if r.StatusMessage != "" {
			fields = append(fields, fmt.Sprintf("status_message=%q", r.StatusMessage))
		}
		if r.Service != "" || r.PID != 0 {
			fields = append(fields, fmt.Sprintf("service=%s pid=%d", r.Service, r.PID))
		}
		if r.SpanID != "" {
			fields = append(fields, "trace="+r.TraceID, "span="+r.SpanID)
		}
		for _, k := range slices.Sorted(mapKeys(r.Task)) {
			fields = append(fields, k+"="+r.Task[k])
		}
		for _, k := range slices.Sorted(mapKeys(r.Attrs)) {
			fields = append(fields, fmt.Sprintf("%s=%v", k, r.Attrs[k]))
		}
		fmt.Fprintln(bw, clean(strings.Join(fields, "  ")))
	}
	return bw.Flush()
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
