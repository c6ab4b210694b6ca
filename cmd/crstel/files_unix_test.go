//go:build unix

package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crstel/crstel/internal/journal/journaltest"
)

// notJournal is a file named *.jsonl that is not a clean journal.
type notJournal struct {
	name string
	// make makes it, and reports whether it did (see journaltest.Make).
	make func(t *testing.T, path string) bool
	// code is the exit code of "trace read" and "trace anomalies" naming
	// it, and inStderr what their error says (one line, "crstel: ...").
	code     int
	inStderr string
}

func special(kind string) func(t *testing.T, path string) bool {
	return func(t *testing.T, path string) bool { return journaltest.Make(t, kind, path) }
}

func content(s string) func(t *testing.T, path string) bool {
	return func(t *testing.T, path string) bool {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return true
	}
}

func mkfifo(t *testing.T, path string) { journaltest.Make(t, journaltest.FIFO, path) }

const header = `{"kind":"header","version":1,"time":"2025-03-01T12:00:00Z","pid":1073741824,"service":"patcher"}` + "\n"

// notJournals are the files that are not clean journals: each defect of
// this class is a row.
var notJournals = []notJournal{
	{journaltest.FIFO, special(journaltest.FIFO), 2, "not a regular file: a named pipe (FIFO)"},
	{journaltest.Socket, special(journaltest.Socket), 2, "not a regular file: a socket"},
	{journaltest.Directory, special(journaltest.Directory), 2, "not a regular file: a directory"},
	{journaltest.LinkToNull, special(journaltest.LinkToNull), 2, "not a regular file: a character device"},
	{journaltest.LinkToZero, special(journaltest.LinkToZero), 2, "not a regular file: a character device"},
	{journaltest.LinkToFIFO, special(journaltest.LinkToFIFO), 2, "not a regular file: a named pipe (FIFO)"},
	{journaltest.LinkToDirectory, special(journaltest.LinkToDirectory), 2, "not a regular file: a directory"},
	{journaltest.DanglingLink, special(journaltest.DanglingLink), 2, "no such file or directory"},
	{journaltest.LinkLoop, special(journaltest.LinkLoop), 2, "too many levels of symbolic links"},
	{journaltest.Unreadable, special(journaltest.Unreadable), 2, "permission denied"},
	{"empty", content(""), 0, ""},
	{"header only", content(header), 0, ""},
	{"partial last line", content(header + `{"kind":"start","time":"2025-03-01T12:00:01Z","span_id":"a1`), 0, ""},
	{"binary garbage", content("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe\n" + header), 0, ""},
	{"NUL bytes", content(header + strings.Repeat("\x00", 10000) + "\n"), 0, ""},
	{"invalid UTF-8 and escapes", content(header + "{\"kind\":\"start\",\"span_id\":\"a\xff\",\"name\":\"\xff\xfe\\u001b[2J\\u009b\"}\n"), 0, ""},
}

// TestNotJournalFiles: "trace read" and "trace anomalies" refuse a FILE
// that is not a regular file at once, with exit code 2 and one line
// saying what it is, and read any regular file without failing; "trace
// list" and "trace anomalies" without FILE skip what is not a regular
// file in the folder. Each runs in a child process killed if it hangs, as
// the FIFO made it.
func TestNotJournalFiles(t *testing.T) {
	for _, tt := range notJournals {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "x.jsonl")
			if !tt.make(t, path) {
				t.Skip("root reads any file")
			}
			for _, args := range [][]string{{"trace", "read", path}, {"trace", "anomalies", path}, {"trace", "anomalies", "--json", "x"}} {
				out, errOut, code := cmdChild(t, dir, args...)
				if code != tt.code {
					t.Errorf("crstel %s: exit %d, want %d; stderr %q", strings.Join(args, " "), code, tt.code, errOut)
				}
				isJSON := args[2] == "--json" || args[1] == "read"
				switch {
				case tt.code == 0 && errOut != "":
					t.Errorf("crstel %s: stderr %q, want none", strings.Join(args, " "), errOut)
				case tt.code == 0 && isJSON && !json.Valid([]byte(out)):
					t.Errorf("crstel %s: stdout is not JSON: %q", strings.Join(args, " "), out)
				case tt.code == 0 && !isJSON:
					checkWidth(t, out)
				case tt.code != 0 && (!strings.HasPrefix(errOut, "crstel: ") || !strings.Contains(errOut, tt.inStderr) || strings.Count(errOut, "\n") != 1 || out != ""):
					t.Errorf("crstel %s: stdout %q, stderr %q; want one line saying %q", strings.Join(args, " "), out, errOut, tt.inStderr)
				}
			}
		})
	}
}

// TestFolderWithNotJournals: a journal folder holding every kind of file
// that is not a journal, named *.jsonl, and one journal: "trace list"
// lists the journal, and the unreadable file as such; "trace anomalies"
// without FILE analyses the journal. Nothing blocks.
func TestFolderWithNotJournals(t *testing.T) {
	dir := t.TempDir()
	journal := crashedFixture(t, dir)
	// Not journals, named as if newer: anomalies must not pick them.
	wantFiles := []string{filepath.Base(journal)}
	for i, nj := range notJournals {
		name := "20991231T000000-" + strconv.Itoa(i+1) + "-" + strings.NewReplacer(" ", "_", "/", "_").Replace(nj.name) + ".jsonl"
		if !nj.make(t, filepath.Join(dir, name)) {
			continue
		}
		if nj.code == 0 || nj.name == journaltest.Unreadable {
			wantFiles = append(wantFiles, name) // regular files
		}
	}

	out, errOut, code := cmdChild(t, dir, "trace", "list", "--json")
	var infos []struct{ File, State, Error string }
	if err := json.Unmarshal([]byte(out), &infos); code != 0 || err != nil {
		t.Fatalf("trace list --json: exit %d, %v; stderr %q", code, err, errOut)
	}
	var files []string
	for _, i := range infos {
		files = append(files, i.File)
		if (i.State == "unreadable") != (i.Error != "") || i.State == "unreadable" && !strings.Contains(i.Error, "permission denied") {
			t.Errorf("%s: state %s, error %q", i.File, i.State, i.Error)
		}
	}
	slices.Sort(files)
	slices.Sort(wantFiles)
	if !slices.Equal(files, wantFiles) {
		t.Errorf("trace list --json: files\n%q\nwant\n%q", files, wantFiles)
	}

	out, errOut, code = cmdChild(t, dir, "trace", "list")
	if code != 0 || errOut != "" {
		t.Errorf("trace list: exit %d, stderr %q", code, errOut)
	}
	checkWidth(t, out)

	// The files named as newer are empty or corrupt: anomalies picks the
	// newest by start time, which is one of them; what matters is that it
	// picks a regular file and does not block.
	out, errOut, code = cmdChild(t, dir, "trace", "anomalies")
	if code != 0 || errOut != "" || !strings.HasPrefix(out, "journal  "+dir+"/") {
		t.Errorf("trace anomalies: exit %d, stderr %q, stdout\n%s", code, errOut, out)
	}
	checkWidth(t, out)
}

// TestManyJournals: "trace list" and "trace anomalies" on a folder of
// 10,000 journals, two of them sparse files of 1 TiB, and FIFOs, read a
// few KiB of each and end within the bound of a child process.
func TestManyJournals(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 files")
	}
	dir := t.TempDir()
	const n = 10_000
	for i := range n {
		name := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*time.Second).Format("20060102T150405") + "-" + strconv.Itoa(100+i) + "-svc.jsonl"
		h := `{"kind":"header","version":1,"time":"` + name[:4] + "-" + name[4:6] + "-" + name[6:8] + "T" + name[9:11] + ":" + name[11:13] + ":" + name[13:15] + `Z","pid":` + strconv.Itoa(1<<30+i) + `,"service":"svc"}` + "\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(h), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2 {
		path := filepath.Join(dir, "20250101T00000"+strconv.Itoa(i)+"-7-huge.jsonl")
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Truncate(path, 1<<40); err != nil {
			t.Skipf("no sparse file of 1 TiB here: %v", err)
		}
		mkfifo(t, filepath.Join(dir, "20991231T00000"+strconv.Itoa(i)+"-8-fifo.jsonl"))
	}

	start := time.Now()
	out, errOut, code := cmdChild(t, dir, "trace", "list", "--json")
	var infos []json.RawMessage
	if err := json.Unmarshal([]byte(out), &infos); code != 0 || err != nil || len(infos) != n+2 {
		t.Errorf("trace list --json: exit %d, %d journals, %v; stderr %q; want %d journals", code, len(infos), err, errOut, n+2)
	}
	t.Logf("trace list --json of %d journals: %v", n+2, time.Since(start))

	start = time.Now()
	out, errOut, code = cmdChild(t, dir, "trace", "anomalies")
	if code != 0 || errOut != "" {
		t.Errorf("trace anomalies: exit %d, stderr %q", code, errOut)
	}
	if want := filepath.Join(dir, "20250301T024639-10099-svc.jsonl"); !strings.HasPrefix(out, "journal  "+want+"\n") {
		t.Errorf("trace anomalies analysed\n%s\nwant the newest journal, %s", out, want)
	}
	t.Logf("trace anomalies among %d journals: %v", n+2, time.Since(start))
}

// TestRotatedSegmentNotJournal: an older segment "<name>.1" that is not a
// regular file does not block "trace anomalies", nor stop it: the newer
// segment is analysed, with a warning.
func TestRotatedSegmentNotJournal(t *testing.T) {
	dir := t.TempDir()
	path := crashedFixture(t, dir)
	mkfifo(t, path+".1")
	out, errOut, code := cmdChild(t, dir, "trace", "anomalies", crashedName)
	if code != 0 || errOut != "" || !strings.Contains(out, "\nwarning  older segment not read: open ") {
		t.Errorf("exit %d, stderr %q, stdout\n%s", code, errOut, out)
	}
	if !strings.Contains(out, "\nRunning (3)") {
		t.Errorf("the newer segment was not analysed:\n%s", out)
	}
	checkWidth(t, out)
	out, _, code = cmdChild(t, dir, "trace", "anomalies", "--json", crashedName)
	var got jsonOutput
	if err := json.Unmarshal([]byte(out), &got); code != 0 || err != nil || len(got.Warnings) != 1 || !strings.Contains(got.Warnings[0], "named pipe") {
		t.Errorf("--json: exit %d, %v, warnings %q", code, err, got.Warnings)
	}
}

// TestNewerJournalUnreadable: "trace anomalies" without FILE passes over a
// newer journal it cannot read, and says so; with none readable, it fails
// with exit code 2.
func TestNewerJournalUnreadable(t *testing.T) {
	dir := t.TempDir()
	newer := filepath.Join(dir, "20991231T000000-7-other_user.jsonl")
	if !journaltest.Make(t, journaltest.Unreadable, newer) {
		t.Skip("root reads any file")
	}
	_, errOut, code := cmd(t, dir, "trace", "anomalies")
	if code != 2 || !strings.HasPrefix(errOut, "crstel: no readable trace journal in "+dir+": open "+newer+": permission denied") {
		t.Errorf("none readable: exit %d, stderr %q; want 2 and why", code, errOut)
	}
	crashedFixture(t, dir)
	out := mustCmd(t, dir, "trace", "anomalies")
	if !strings.Contains(out, "\nwarning  1 newer journals could not be read (trace list says why)\n") || !strings.Contains(out, "\nRunning (3)") {
		t.Errorf("got\n%s\nwant the fixture, with a warning", out)
	}
	var got jsonOutput
	if err := json.Unmarshal([]byte(mustCmd(t, dir, "trace", "anomalies", "--json")), &got); err != nil || len(got.Warnings) != 1 {
		t.Errorf("--json: %v, warnings %q; want one", err, got.Warnings)
	}
}
