package journal

import (
	"bytes"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

// TestReadFileChangesWhileRead: a journal that grows or shrinks while it
// is read is read as it was when opened, or until where it ends: no error,
// no torn record, and no endless read of a file that keeps growing.
func TestReadFileChangesWhileRead(t *testing.T) {
	full := header + "\n" + start + "\n" + end + "\n"
	for _, tt := range []struct {
		name   string
		change func(f *os.File) error
		want   string
	}{
		{"grows", func(f *os.File) error { return appendTo(f.Name(), end+"\n"+end+"\n") }, "header start end"},
		{"truncated mid-record", func(f *os.File) error { return os.Truncate(f.Name(), int64(len(header)+10)) }, "header"},
		{"emptied", func(f *os.File) error { return os.Truncate(f.Name(), 0) }, ""},
		{"renamed, as rotation does", func(f *os.File) error { return os.Rename(f.Name(), f.Name()+".1") }, "header start end"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "20250301T120000-7-patcher.jsonl")
			if err := os.WriteFile(path, []byte(full), 0o600); err != nil {
				t.Fatal(err)
			}
			testHookOpened = func(f *os.File) {
				if err := tt.change(f); err != nil {
					t.Error(err)
				}
			}
			defer func() { testHookOpened = nil }()
			recs, err := ReadFile(path)
			if got := strings.Join(kinds(recs), " "); err != nil || got != tt.want {
				t.Errorf("ReadFile: %q, %v; want %q", got, err, tt.want)
			}
			if err := os.WriteFile(path, []byte(full), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := Stat(path); err != nil {
				t.Errorf("Stat: %v", err)
			}
		})
	}
}

func appendTo(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString(s)
	return err
}

// repeatReader yields n bytes of c, without holding them.
type repeatReader struct {
	c     byte
	n     int64
	block []byte
}

func (r *repeatReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, io.EOF
	}
	if r.block == nil {
		r.block = bytes.Repeat([]byte{r.c}, 64<<10)
	}
	n := copy(p[:min(int64(len(p)), r.n)], r.block)
	r.n -= int64(n)
	return n, nil
}

// TestReadHugeLine: a line of 1 GiB is read through, not into memory, and
// the records after it are read.
func TestReadHugeLine(t *testing.T) {
	if testing.Short() {
		t.Skip("reads 1 GiB")
	}
	r := io.MultiReader(strings.NewReader(header+"\n"), &repeatReader{c: 'x', n: 1 << 30}, strings.NewReader("\n"+start+"\n"))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	recs, err := Read(r)
	runtime.ReadMemStats(&after)
	if got := strings.Join(kinds(recs), " "); err != nil || got != "header corrupt start" {
		t.Errorf("Read: %s, %v; want header, corrupt, start", got, err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
		t.Errorf("Read allocated %d MiB for a line of 1 GiB, want at most 16", alloc>>20)
	}
}

// countingReaderAt is a file of size bytes, whose first line is a header
// and all the rest one line of 'x'; it counts the bytes read.
type countingReaderAt struct {
	size, read int64
}

func (r *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	n := int(min(int64(len(p)), r.size-off))
	for i := range n {
		p[i] = 'x'
	}
	r.read += int64(n)
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// TestStatReadsLittle: Stat reads at most 68 KiB of a journal, whatever
// its size and the length of its first line.
func TestStatReadsLittle(t *testing.T) {
	for _, size := range []int64{0, 10, headSize, headSize + 1, maxHeader + 1, 1 << 40} {
		r := &countingReaderAt{size: size}
		readHeader(r, size)
		readClosed(r, size)
		if r.read > headSize+maxHeader+tailSize {
			t.Errorf("a journal of %d bytes: %d bytes read, want at most %d", size, r.read, headSize+maxHeader+tailSize)
		}
	}
}

// TestStatPIDOutOfRange: a pid beyond pid_t in a header is no process:
// kill(2) would take 2^32+1 for init, and 2^32-1 for -1, every process.
func TestStatPIDOutOfRange(t *testing.T) {
	host, _ := os.Hostname()
	for _, pid := range []int64{1<<32 + 1, 1<<32 - 1, 1 << 31, math.MaxInt64, -1, 0} {
		path := filepath.Join(t.TempDir(), "j.jsonl")
		h := `{"kind":"header","version":1,"time":"2025-03-01T12:00:00Z","pid":` + strconv.FormatInt(pid, 10) + `,"host":` + strconv.Quote(host) + "}\n"
		if err := os.WriteFile(path, []byte(h), 0o600); err != nil {
			t.Fatal(err)
		}
		info, err := Stat(path)
		if err != nil || info.Alive || info.State() != StateCrashed {
			t.Errorf("pid %d: alive %v, state %s, %v; want a crashed process", pid, info.Alive, info.State(), err)
		}
	}
}
