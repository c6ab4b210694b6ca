package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crstel/crstel/internal/audit"
)

// auditFixture writes a closed trail of n records to dir, in files of at
// most 1 KiB, and returns its files.
func auditFixture(t *testing.T, dir string, n int) []string {
	t.Helper()
	w, err := audit.Open(dir, audit.Options{MaxBytes: 1024, Now: func() time.Time { return time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC) }})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		r := &audit.Record{Time: "2026-03-01T12:00:00Z", Event: "submission", Service: "submitter", PID: 42,
			TraceID: "0af7651916cd43dd8448eb211c80319c", SpanID: "b7ad6b7169203331", Category: "scoring_submission",
			Action: "submit_patch", Status: "ok", Task: map[string]string{"task.id": "task-1"}, Attrs: map[string]any{"n": i}}
		if i == 3 {
			r.Event, r.Attrs = "credential_refused", map[string]any{"note": "evil\x1b[31m\nline"}
		}
		if err := w.Append(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(time.Date(2026, 3, 1, 12, 0, 1, 0, time.UTC)); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	return files
}

func TestAuditVerify(t *testing.T) {
	dir := t.TempDir()
	files := auditFixture(t, dir, 30)
	out, errOut, code := cmd(t, dir, "audit", "verify")
	if code != 0 || errOut != "" || !strings.HasPrefix(out, "ok ") || !strings.Contains(out, "31 records in") || !strings.Contains(out, "closed") {
		t.Fatalf("verify: exit %d, stdout %q, stderr %q; want 0 and ok with 31 records, closed", code, out, errOut)
	}

	// An edit of line 2 of the first file.
	data, _ := os.ReadFile(files[0])
	lines := strings.SplitAfter(string(data), "\n")
	lines[1] = strings.Replace(lines[1], `"n":1`, `"n":7`, 1)
	os.WriteFile(files[0], []byte(strings.Join(lines, "")), 0o600)
	for _, arg := range []string{dir, files[0]} {
		out, _, code = cmd(t, "/nonexistent", "audit", "verify", arg)
		want := "TAMPERED  "
		if code != 1 || !strings.HasPrefix(out, want) || !strings.Contains(out, filepath.Base(files[0])+":2: line changed") {
			t.Errorf("verify %s after an edit: exit %d, stdout %q; want 1, TAMPERED at %s:2", arg, code, out, filepath.Base(files[0]))
		}
	}
	out, _, code = cmd(t, dir, "audit", "verify", "--json")
	var rep verifyReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 || !rep.Tampered || len(rep.Chains) != 1 ||
		rep.Chains[0].Tampered == nil || rep.Chains[0].Tampered.Line != 2 || rep.Chains[0].Tampered.Kind != audit.Changed {
		t.Errorf("verify --json: exit %d, %v, %s; want 1 and the change at line 2", code, err, out)
	}
}

func TestAuditVerifyTruncated(t *testing.T) {
	dir := t.TempDir()
	files := auditFixture(t, dir, 30)
	last := files[len(files)-1]
	data, _ := os.ReadFile(last)
	os.WriteFile(last, data[:len(data)-5], 0o600)
	out, _, code := cmd(t, dir, "audit", "verify")
	if code != 0 || !strings.HasPrefix(out, "truncated ") {
		t.Errorf("verify a cut trail: exit %d, stdout %q; want 0, truncated", code, out)
	}
}

func TestAuditVerifyUnreadable(t *testing.T) {
	tests := []struct {
		name string
		args []string
		dir  string
		code int
		want string
	}{
		{name: "missing file", args: []string{"audit", "verify", "/nonexistent/audit.jsonl"}, dir: t.TempDir(), code: 2},
		{name: "no trail yet", args: []string{"audit", "verify"}, dir: filepath.Join(t.TempDir(), "none"), code: 0, want: "no audit trail in"},
		{name: "two args", args: []string{"audit", "verify", "a", "b"}, dir: t.TempDir(), code: 2},
		{name: "no subcommand", args: []string{"audit"}, dir: t.TempDir(), code: 2},
		{name: "unknown subcommand", args: []string{"audit", "check"}, dir: t.TempDir(), code: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, _, code := cmd(t, tt.dir, tt.args...)
			if code != tt.code || !strings.Contains(out, tt.want) {
				t.Errorf("got exit %d, stdout %q; want %d, %q", code, out, tt.code, tt.want)
			}
		})
	}
}

func TestAuditList(t *testing.T) {
	dir := t.TempDir()
	auditFixture(t, dir, 10)
	out, errOut, code := cmd(t, dir, "audit", "list")
	if code != 0 || errOut != "" {
		t.Fatalf("list: exit %d, stderr %q", code, errOut)
	}
	if got := strings.Count(out, "\n"); got != 11 {
		t.Errorf("list: got %d lines, want 11:\n%s", got, out)
	}
	if hasRawControls(out) || !strings.Contains(out, `note=evil\x1b[31m line`) {
		t.Errorf("list: untrusted text not cleaned: %q", out)
	}
	want := "2026-03-01T12:00:00Z  submission  scoring_submission/submit_patch  status=ok  service=submitter pid=42  " +
		"trace=0af7651916cd43dd8448eb211c80319c  span=b7ad6b7169203331  task.id=task-1  n=0\n"
	if !strings.HasPrefix(out, want) {
		t.Errorf("list: got first line %q, want %q", strings.SplitAfter(out, "\n")[0], want)
	}

	out, _, code = cmd(t, dir, "audit", "list", "--filter", "credential_refused", "--json")
	var recs []audit.Record
	if err := json.Unmarshal([]byte(out), &recs); err != nil || code != 0 || len(recs) != 1 || recs[0].Event != "credential_refused" || recs[0].Seq != 3 {
		t.Errorf("list --filter --json: exit %d, %v, %s; want the one credential_refused record", code, err, out)
	}
}
