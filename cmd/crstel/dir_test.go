package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestTraceDirSetting: each value of CRSTEL_TRACE_DIR gets a clear answer:
// "off" says the journal is turned off and where the journals would be,
// without reading a folder named off; a folder that is a file or cannot be
// read is an error of exit code 2; a folder that does not exist holds no
// journal.
func TestTraceDirSetting(t *testing.T) {
	state := t.TempDir()
	t.Setenv("XDG_STATE_HOME", state)
	defaultDir := filepath.Join(state, "crstel", "traces")
	if err := os.MkdirAll(defaultDir, 0o700); err != nil {
		t.Fatal(err)
	}
	inDefault := crashedFixture(t, defaultDir)

	// The current folder holds a folder named off, with a journal, and one
	// named traces, with another, and a file.
	cwd := t.TempDir()
	t.Chdir(cwd)
	for _, d := range []string{"off", "traces"} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		crashedFixture(t, filepath.Join(cwd, d))
	}
	file := filepath.Join(cwd, "file")
	if err := os.WriteFile(file, []byte("not a folder"), 0o600); err != nil {
		t.Fatal(err)
	}
	unreadable := filepath.Join(cwd, "unreadable")
	if err := os.Mkdir(unreadable, 0o000); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(cwd, "missing")
	root := os.Geteuid() == 0

	const offMsg = "crstel: the journal is turned off (CRSTEL_TRACE_DIR=off), so no process writes one; unset CRSTEL_TRACE_DIR to read the default folder "
	for _, tt := range []struct {
		name     string
		env      string
		args     []string
		code     int
		inStdout string
		inStderr string
		skip     bool
	}{
		{name: "off: list", env: "off", args: []string{"trace", "list"}, code: 2, inStderr: offMsg + defaultDir + ","},
		{name: "off: list --json", env: "off", args: []string{"trace", "list", "--json"}, code: 2, inStderr: offMsg},
		{name: "off: anomalies", env: "off", args: []string{"trace", "anomalies"}, code: 2, inStderr: offMsg},
		{name: "off: read a name", env: "off", args: []string{"trace", "read", crashedName}, code: 2,
			inStderr: "crstel: " + crashedName + ": no such file; the journal is turned off (CRSTEL_TRACE_DIR=off), so names are not looked up in a journal folder\n"},
		{name: "off: read a path", env: "off", args: []string{"trace", "read", inDefault}, code: 0, inStdout: `"kind":"header"`},
		{name: "off: anomalies of a path", env: "off", args: []string{"trace", "anomalies", "off/" + crashedName}, code: 0, inStdout: "journal  off/" + crashedName},
		{name: "off: help", env: "off", args: []string{"help"}, code: 0,
			inStdout: "The journal is turned off (CRSTEL_TRACE_DIR=off); without that, journals are in " + defaultDir + ".\n"},
		{name: "unset: list", env: "", args: []string{"trace", "list"}, code: 0, inStdout: "Trace journals in " + defaultDir + ", newest first:"},
		{name: "blank: list", env: " \t", args: []string{"trace", "list"}, code: 0, inStdout: "Trace journals in " + defaultDir + ", newest first:"},
		{name: "unset: help", env: "", args: []string{"help"}, code: 0, inStdout: "Journals are in " + defaultDir + " (the default; CRSTEL_TRACE_DIR sets another).\n"},
		{name: "relative: list", env: "traces", args: []string{"trace", "list"}, code: 0, inStdout: "Trace journals in " + filepath.Join(cwd, "traces") + ", newest first:"},
		{name: "relative: read a name", env: "traces", args: []string{"trace", "read", crashedName}, code: 0, inStdout: `"kind":"header"`},
		{name: "relative, missing: list", env: "nothing", args: []string{"trace", "list"}, code: 0,
			inStdout: "No trace journals in " + filepath.Join(cwd, "nothing") + " (CRSTEL_TRACE_DIR=nothing, relative to the current folder): the folder does not exist.\n"},
		{name: "file: list", env: file, args: []string{"trace", "list"}, code: 2, inStderr: "crstel: the journal folder " + file + " (CRSTEL_TRACE_DIR) is not a folder\n"},
		{name: "file: anomalies", env: file, args: []string{"trace", "anomalies"}, code: 2, inStderr: "is not a folder"},
		{name: "under a file: list", env: file + "/traces", args: []string{"trace", "list"}, code: 2,
			inStderr: "crstel: cannot read the journal folder (CRSTEL_TRACE_DIR): stat " + file + "/traces: not a directory\n"},
		{name: "unreadable: list", env: unreadable, args: []string{"trace", "list"}, code: 2, inStderr: "crstel: cannot read the journal folder (CRSTEL_TRACE_DIR): open " + unreadable + ": permission denied\n", skip: root},
		{name: "unreadable: anomalies", env: unreadable, args: []string{"trace", "anomalies"}, code: 2, inStderr: "permission denied", skip: root},
		{name: "missing: list", env: missing, args: []string{"trace", "list"}, code: 0, inStdout: "No trace journals in " + missing + " (CRSTEL_TRACE_DIR): the folder does not exist.\n"},
		{name: "missing: list --json", env: missing, args: []string{"trace", "list", "--json"}, code: 0, inStdout: "[]\n"},
		{name: "missing: anomalies", env: missing, args: []string{"trace", "anomalies"}, code: 1,
			inStderr: "crstel: no trace journals in " + missing + " (CRSTEL_TRACE_DIR): the folder does not exist\n"},
		{name: "escapes: list", env: "\x1b[2J", args: []string{"trace", "list"}, code: 0, inStdout: `No trace journals in ` + cwd + `/\x1b[2J (CRSTEL_TRACE_DIR=\x1b[2J, relative`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if tt.skip {
				t.Skip("root reads any folder")
			}
			var out, errOut bytes.Buffer
			env := map[string]string{"CRSTEL_TRACE_DIR": tt.env, "TZ": "UTC"}
			code := run(tt.args, &out, &errOut, func(k string) string { return env[k] })
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr %q", code, tt.code, errOut.String())
			}
			if !strings.Contains(out.String(), tt.inStdout) || !strings.Contains(errOut.String(), tt.inStderr) {
				t.Errorf("stdout %q\nstderr %q\nwant them to contain %q and %q", out.String(), errOut.String(), tt.inStdout, tt.inStderr)
			}
			if tt.code != 0 && (out.Len() > 0 || strings.Count(errOut.String(), "\n") != 1) {
				t.Errorf("stdout %q, stderr %q; want one error line", out.String(), errOut.String())
			}
			if tt.env == "off" && strings.Contains(out.String()+errOut.String(), filepath.Join(cwd, "off")) {
				t.Errorf("CRSTEL_TRACE_DIR=off read the folder named off:\n%s%s", out.String(), errOut.String())
			}
			checkWidth(t, errOut.String())
		})
	}
}
