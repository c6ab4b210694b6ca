package audit_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/crstel/crstel/internal/audit"
)

// write writes n records to a new trail in dir, files of at most maxBytes,
// and closes it; it returns the chain's files.
func write(t *testing.T, dir string, n int, maxBytes int64) []string {
	t.Helper()
	w, err := audit.Open(dir, audit.Options{MaxBytes: maxBytes})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := w.Append(&audit.Record{Time: time.Now().UTC().Format(time.RFC3339Nano), Event: "submission",
			Attrs: map[string]any{"i": i}}); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(time.Now()); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "audit-*.jsonl"))
	slices.Sort(files)
	return files
}

// only returns the one chain of dir.
func only(t *testing.T, dir string) audit.Chain {
	t.Helper()
	cs, err := audit.Chains(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 1 {
		t.Fatalf("got %d chains, want 1", len(cs))
	}
	return cs[0]
}

func TestChainAcrossRotation(t *testing.T) {
	dir := t.TempDir()
	files := write(t, dir, 50, 1024)
	if len(files) < 3 {
		t.Fatalf("got %d files, want several: the bound of 1024 bytes should rotate", len(files))
	}
	c := only(t, dir)
	if c.Tampered != nil || c.Truncated != nil {
		t.Fatalf("got tampered %+v, truncated %+v, want neither", c.Tampered, c.Truncated)
	}
	if c.Records != 51 || !c.Closed {
		t.Errorf("got %d records, closed %v; want 51 (with the closing one), true", c.Records, c.Closed)
	}
	// The first line of each later file links to the last of the one before.
	for i := 1; i < len(files); i++ {
		prev := lines(t, files[i-1])
		first := lines(t, files[i])[0]
		want := fmt.Sprintf(`"prev":"%s"`, sha(prev[len(prev)-1]))
		if !strings.Contains(first, want) {
			t.Errorf("%s: first line %s, want it to hold %s", filepath.Base(files[i]), first, want)
		}
	}
	for _, f := range files {
		fi, _ := os.Stat(f)
		if fi.Size() > 1024 {
			t.Errorf("%s: %d bytes, want at most 1024", filepath.Base(f), fi.Size())
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(f), fi.Mode().Perm())
		}
	}
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func setLines(t *testing.T, path string, ls []string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(ls, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestTampering(t *testing.T) {
	tests := []struct {
		name     string
		tamper   func(t *testing.T, files []string)
		kind     audit.Kind
		file     int // index in files
		line     int
		contains string
	}{
		{name: "edit", kind: audit.Changed, file: 0, line: 3, tamper: func(t *testing.T, files []string) {
			ls := lines(t, files[0])
			ls[2] = strings.Replace(ls[2], `"submission"`, `"submissioN"`, 1)
			setLines(t, files[0], ls)
		}},
		{name: "edit prev", kind: audit.Changed, file: 0, line: 3, tamper: func(t *testing.T, files []string) {
			ls := lines(t, files[0])
			ls[2] = strings.Replace(ls[2], `"prev":"`, `"prev":"0`, 1)
			setLines(t, files[0], ls)
		}},
		{name: "edit seq", kind: audit.Changed, file: 0, line: 3, tamper: func(t *testing.T, files []string) {
			ls := lines(t, files[0])
			ls[2] = strings.Replace(ls[2], `"seq":2,`, `"seq":7,`, 1)
			setLines(t, files[0], ls)
		}},
		{name: "edit first line", kind: audit.Changed, file: 0, line: 1, tamper: func(t *testing.T, files []string) {
			ls := lines(t, files[0])
			ls[0] = strings.Replace(ls[0], `"i":0`, `"i":9`, 1)
			setLines(t, files[0], ls)
		}},
		{name: "not JSON", kind: audit.Changed, file: 1, line: 2, tamper: func(t *testing.T, files []string) {
			ls := lines(t, files[1])
			ls[1] = "garbage"
			setLines(t, files[1], ls)
		}},
		{name: "delete", kind: audit.Removed, file: 0, line: 3, contains: "seq 2 before", tamper: func(t *testing.T, files []string) {
			ls := lines(t, files[0])
			setLines(t, files[0], slices.Delete(ls, 2, 3))
		}},
		{name: "delete first", kind: audit.Removed, file: 0, line: 1, tamper: func(t *testing.T, files []string) {
			ls := lines(t, files[0])
			setLines(t, files[0], ls[1:])
		}},
		{name: "delete two", kind: audit.Removed, file: 0, line: 2, contains: "seq 1 to 2", tamper: func(t *testing.T, files []string) {
			ls := lines(t, files[0])
			setLines(t, files[0], slices.Delete(ls, 1, 3))
		}},
		{name: "insert copy", kind: audit.Inserted, file: 0, line: 3, tamper: func(t *testing.T, files []string) {
			ls := lines(t, files[0])
			setLines(t, files[0], slices.Insert(ls, 2, ls[1]))
		}},
		{name: "insert forged link", kind: audit.Inserted, file: 0, line: 3, tamper: func(t *testing.T, files []string) {
			// A line that links to the one before, with the next seq: the
			// line after it no longer follows.
			ls := lines(t, files[0])
			forged := fmt.Sprintf(`{"seq":2,"prev":"%s","time":"2026-01-01T00:00:00Z","event":"forged"}`, sha(ls[1]))
			setLines(t, files[0], slices.Insert(ls, 2, forged))
		}},
		{name: "insert junk record", kind: audit.Inserted, file: 0, line: 3, tamper: func(t *testing.T, files []string) {
			ls := lines(t, files[0])
			setLines(t, files[0], slices.Insert(ls, 2, `{"seq":40,"prev":"abc","event":"forged"}`))
		}},
		{name: "reorder", kind: audit.Reordered, file: 0, line: 2, tamper: func(t *testing.T, files []string) {
			ls := lines(t, files[0])
			ls[1], ls[2] = ls[2], ls[1]
			setLines(t, files[0], ls)
		}},
		{name: "move back", kind: audit.Reordered, file: 0, line: 2, tamper: func(t *testing.T, files []string) {
			ls := lines(t, files[0])
			ls = append(ls, ls[1]) // now last of the file
			setLines(t, files[0], slices.Delete(ls, 1, 2))
		}},
		{name: "truncate a file others follow", kind: audit.Removed, file: 1, line: 1, tamper: func(t *testing.T, files []string) {
			ls := lines(t, files[0])
			setLines(t, files[0], ls[:len(ls)-2])
		}},
		{name: "cut a line of a file others follow", kind: audit.Changed, file: 0, tamper: func(t *testing.T, files []string) {
			data, _ := os.ReadFile(files[0])
			os.WriteFile(files[0], data[:len(data)-10], 0o600)
		}},
		{name: "remove a file", kind: audit.Missing, file: 2, tamper: func(t *testing.T, files []string) {
			os.Remove(files[1])
		}},
		{name: "remove the first file", kind: audit.Missing, file: 1, tamper: func(t *testing.T, files []string) {
			os.Remove(files[0])
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			files := write(t, dir, 40, 1024)
			tt.tamper(t, files)
			c := only(t, dir)
			got := c.Tampered
			if got == nil {
				t.Fatalf("got no tampering found (truncated %+v), want %s", c.Truncated, tt.kind)
			}
			want := &audit.Problem{Kind: tt.kind, File: files[tt.file], Line: tt.line}
			if tt.line == 0 && tt.kind == audit.Changed {
				want.Line = got.Line // where the cut line is
			}
			if got.Kind != want.Kind || got.File != want.File || got.Line != want.Line {
				t.Errorf("got %s at %s:%d (%s), want %s at %s:%d", got.Kind, filepath.Base(got.File), got.Line, got.Detail,
					want.Kind, filepath.Base(want.File), want.Line)
			}
			if !strings.Contains(got.Detail, tt.contains) {
				t.Errorf("got detail %q, want it to contain %q", got.Detail, tt.contains)
			}
		})
	}
}

func TestCutLastLineIsTruncation(t *testing.T) {
	dir := t.TempDir()
	files := write(t, dir, 40, 1024)
	last := files[len(files)-1]
	data, _ := os.ReadFile(last)
	if err := os.WriteFile(last, data[:len(data)-7], 0o600); err != nil {
		t.Fatal(err)
	}
	c := only(t, dir)
	if c.Tampered != nil {
		t.Fatalf("got tampered %+v, want none", c.Tampered)
	}
	if c.Truncated == nil || c.Truncated.File != last || c.Truncated.Line != len(lines(t, last)) {
		t.Fatalf("got truncated %+v, want the last line of %s", c.Truncated, filepath.Base(last))
	}
	if c.Closed {
		t.Error("got closed, want not: the closing record is cut")
	}
}

func TestOneFile(t *testing.T) {
	dir := t.TempDir()
	files := write(t, dir, 40, 1024)
	for i, f := range files {
		cs, err := audit.Chains(f)
		if err != nil {
			t.Fatal(err)
		}
		if cs[0].Tampered != nil {
			t.Errorf("file %d alone: got tampered %+v, want none", i, cs[0].Tampered)
		}
	}
	ls := lines(t, files[1])
	setLines(t, files[1], slices.Delete(ls, 1, 2))
	cs, _ := audit.Chains(files[1])
	if cs[0].Tampered == nil || cs[0].Tampered.Kind != audit.Removed || cs[0].Tampered.Line != 2 {
		t.Errorf("got %+v, want removed at line 2", cs[0].Tampered)
	}
}

func TestConcurrentWriters(t *testing.T) {
	dir := t.TempDir()
	w, err := audit.Open(dir, audit.Options{MaxBytes: 4096, SyncEvery: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	const writers, each = 8, 100
	var wg sync.WaitGroup
	for g := range writers {
		wg.Go(func() {
			for i := range each {
				if err := w.Append(&audit.Record{Event: "e", Attrs: map[string]any{"g": g, "i": i}}); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := w.Close(time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := w.Append(&audit.Record{Event: "late"}); err != audit.ErrClosed {
		t.Errorf("Append after Close: got %v, want ErrClosed", err)
	}
	c := only(t, dir)
	if c.Tampered != nil || c.Records != writers*each+1 || len(c.Files) < 2 {
		t.Fatalf("got tampered %+v, %d records in %d files; want none, %d, several", c.Tampered, c.Records, len(c.Files), writers*each+1)
	}
}

const childDirEnv = "CRSTEL_AUDIT_TEST_CHILD_DIR"

// writeUntilKilled appends records to a trail in dir as fast as it can,
// printing "synced N" after each sync, until it is killed.
func writeUntilKilled(dir string) int {
	w, err := audit.Open(dir, audit.Options{MaxBytes: 64 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 3
	}
	for i := 0; ; i++ {
		if err := w.Append(&audit.Record{Event: "submission", Attrs: map[string]any{"i": i, "pad": strings.Repeat("x", 100)}}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 3
		}
		if i%100 == 99 {
			if err := w.Sync(); err != nil {
				return 3
			}
			fmt.Printf("synced %d\n", i+1)
		}
	}
}

func TestKilledWriter(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childDirEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	synced := 0
	for sc.Scan() {
		fmt.Sscanf(sc.Text(), "synced %d", &synced)
		if synced >= 2000 { // several files, mid-write
			break
		}
	}
	cmd.Process.Signal(syscall.SIGKILL)
	go func() {
		for sc.Scan() {
		}
	}()
	cmd.Wait()
	if synced < 2000 {
		t.Fatalf("the child synced %d records, want 2000: %s", synced, stderr.String())
	}
	c := only(t, dir)
	if c.Tampered != nil {
		t.Fatalf("got tampered %+v, want none: a kill loses at most the cut tail", c.Tampered)
	}
	if c.Records < synced {
		t.Errorf("got %d records, want at least the %d synced", c.Records, synced)
	}
	if c.Closed || len(c.Files) < 2 {
		t.Errorf("got closed %v in %d files, want not closed, several files", c.Closed, len(c.Files))
	}
	t.Logf("%d records synced, %d found, truncated: %+v", synced, c.Records, c.Truncated)
}

func BenchmarkAppend(b *testing.B) {
	w, err := audit.Open(b.TempDir(), audit.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close(time.Now())
	b.ReportAllocs()
	for b.Loop() {
		w.Append(&audit.Record{Time: "2026-01-01T00:00:00Z", Event: "submission", Service: "patcher", PID: 1, TraceID: "0af7651916cd43dd8448eb211c80319c",
			SpanID: "b7ad6b7169203331", Category: "scoring_submission", Action: "submit_patch", Status: "ok",
			Task: map[string]string{"round.id": "r1", "task.id": "t1"}, Attrs: map[string]any{"patch.id": "p1"}})
	}
}

// TestSyncEvery: a written line is synced by the writer's goroutine within
// SyncEvery, without another write or a Close.
func TestSyncEvery(t *testing.T) {
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		w, err := audit.Open(dir, audit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close(time.Now())
		if err := w.Append(&audit.Record{Event: "submission"}); err != nil {
			t.Fatal(err)
		}
		if !w.Pending() {
			t.Fatal("got nothing pending after a write, want the line")
		}
		time.Sleep(audit.DefaultSyncEvery - time.Millisecond)
		synctest.Wait()
		if !w.Pending() {
			t.Fatal("got the line synced before SyncEvery: the test shows nothing")
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if w.Pending() {
			t.Errorf("got the line still pending after %v, want it synced", audit.DefaultSyncEvery)
		}
	})
}
