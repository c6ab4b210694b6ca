package journal

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestList(t *testing.T) {
	dir := t.TempDir()
	host, _ := os.Hostname()
	at := func(d time.Duration) func() time.Time { return func() time.Time { return t0.Add(d) } }

	// exited: closed cleanly.
	exited := mustOpen(t, Options{Dir: dir, Service: "exited", now: at(0), pid: fakePID, host: host})
	mustClose(t, exited)

	// crashed: no close record, and no such process.
	crashed := mustOpen(t, Options{Dir: dir, Service: "crashed", now: at(time.Minute), pid: fakePID, host: host})
	crashed.Write(Event{Kind: KindStart, Time: t0, Span: spanCtx(1), Category: "fuzzing", Name: "fuzz"})
	mustClose(t, crashed)
	removeClose(t, crashed.Path())

	// elsewhere: this pid, but on another host.
	elsewhere := mustOpen(t, Options{Dir: dir, Service: "elsewhere", now: at(2 * time.Minute), pid: os.Getpid(), host: "other-host"})
	mustClose(t, elsewhere)
	removeClose(t, elsewhere.Path())

	// live: this process, still writing.
	live := mustOpen(t, Options{Dir: dir, Service: "live", now: at(3 * time.Minute)})
	defer mustClose(t, live)

	// junk: a file named *.jsonl without a header.
	junk := filepath.Join(dir, "junk.jsonl")
	if err := os.WriteFile(junk, []byte("not a journal\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Not journals: a directory and another extension.
	os.Mkdir(filepath.Join(dir, "dir.jsonl"), 0o700)
	os.WriteFile(filepath.Join(dir, "notes.txt"), nil, 0o600)

	infos, err := List(dir)
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want := []struct {
		path, service, state string
		pid                  int
		started              time.Time
	}{
		{live.Path(), "live", StateLive, os.Getpid(), t0.Add(3 * time.Minute)},
		{elsewhere.Path(), "elsewhere", StateCrashed, os.Getpid(), t0.Add(2 * time.Minute)},
		{crashed.Path(), "crashed", StateCrashed, fakePID, t0.Add(time.Minute)},
		{exited.Path(), "exited", StateExited, fakePID, t0},
		{junk, "", StateCrashed, 0, time.Time{}},
	}
	if len(infos) != len(want) {
		t.Fatalf("List: %d journals %+v, want %d", len(infos), infos, len(want))
	}
	for i, w := range want {
		got := infos[i]
		if got.Path != w.path || got.Service != w.service || got.State() != w.state || got.PID != w.pid || !got.Started.Equal(w.started) {
			t.Errorf("journal %d: got %s %q %s pid %d started %v, want %s %q %s pid %d started %v",
				i, filepath.Base(got.Path), got.Service, got.State(), got.PID, got.Started,
				filepath.Base(w.path), w.service, w.state, w.pid, w.started)
		}
		fi, _ := os.Stat(w.path)
		if got.Size != fi.Size() || !got.Modified.Equal(fi.ModTime()) {
			t.Errorf("journal %d: size %d modified %v, want %d %v", i, got.Size, got.Modified, fi.Size(), fi.ModTime())
		}
	}
	if infos[0].Exe == "" || infos[0].Host != host {
		t.Errorf("live journal: exe %q host %q, want the executable and %q", infos[0].Exe, infos[0].Host, host)
	}

	if _, err := List(filepath.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("List of a missing directory: %v, want %v", err, fs.ErrNotExist)
	}
}

func TestStatTornClose(t *testing.T) {
	w := mustOpen(t, testOptions(t))
	mustClose(t, w)
	data, _ := os.ReadFile(w.Path())
	for _, tt := range []struct {
		name   string
		data   []byte
		closed bool
	}{
		{"closed", data, true},
		{"close record without its newline", data[:len(data)-1], false},
		{"close record torn", data[:len(data)-10], false},
		{"header only", data[:len(data)-len(`{"kind":"close","time":"2025-03-01T12:00:00Z","pid":1073741824}`)-1], false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile(w.Path(), tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			info, err := Stat(w.Path())
			if err != nil {
				t.Fatalf("Stat: %v", err)
			}
			if info.Closed != tt.closed || info.PID != fakePID || info.Service != "patcher" {
				t.Errorf("Stat = %+v, want closed %v, pid %d, service patcher", info, tt.closed, fakePID)
			}
		})
	}
	if _, err := Stat(filepath.Join(t.TempDir(), "missing.jsonl")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Stat of a missing file: %v, want %v", err, fs.ErrNotExist)
	}
}

// removeClose removes the close record of a journal, as if its process
// had been killed.
func removeClose(t *testing.T, path string) {
	t.Helper()
	recs := mustRead(t, path)
	if recs[len(recs)-1].Kind != RecordClose {
		t.Fatalf("%s does not end with a close record", path)
	}
	data, _ := os.ReadFile(path)
	data = data[:len(data)-1]
	for len(data) > 0 && data[len(data)-1] != '\n' {
		data = data[:len(data)-1]
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
