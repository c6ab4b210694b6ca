package fuzz

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// past is a directory time old enough for a listing to be trusted.
var past = time.Now().Add(-time.Hour)

func touchAll(t testing.TB, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func setMtime(t testing.TB, dir string, at time.Time) {
	t.Helper()
	if err := os.Chtimes(dir, at, at); err != nil {
		t.Fatal(err)
	}
}

// TestScanSkipsUnchanged: the directory is listed again only when its
// modification time, size or identity changed, and always while its
// modification time is too recent to be trusted.
func TestScanSkipsUnchanged(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	touchAll(t, dir, "a", "b")
	setMtime(t, dir, past)
	var got []CorpusUpdate
	w := NewWatcher(dir, WithOnUpdate(func(u CorpusUpdate) { got = append(got, u) }))

	steps := []struct {
		name         string
		do           func()
		wantListings int
		wantUpdates  int
	}{
		{"first", func() {}, 1, 1},
		{"unchanged", func() {}, 1, 1},
		{"unchanged again", func() {}, 1, 1},
		{"added, old mtime", func() { touchAll(t, dir, "c"); setMtime(t, dir, past.Add(time.Second)) }, 2, 2},
		{"unchanged after", func() {}, 2, 2},
		{"touched, same names", func() { setMtime(t, dir, past.Add(2*time.Second)) }, 3, 2},
		{"recent mtime", func() { touchAll(t, dir, "d") }, 4, 3},
		{"recent mtime is listed again", func() {}, 5, 3},
		{"and again", func() {}, 6, 3},
		{"made old", func() { setMtime(t, dir, past.Add(3*time.Second)) }, 7, 3},
		{"then trusted", func() {}, 7, 3},
	}
	for _, st := range steps {
		st.do()
		w.scan(ctx, MethodPeriodic, false)
		if w.listings != st.wantListings || len(got) != st.wantUpdates {
			t.Errorf("%s: got %d listings, %d updates; want %d, %d", st.name, w.listings, len(got), st.wantListings, st.wantUpdates)
		}
	}
	if want := []string{"d"}; !slices.Equal(got[len(got)-1].Additions, want) {
		t.Errorf("last additions %q, want %q", got[len(got)-1].Additions, want)
	}
}

// TestScanReplacedDir: a directory replaced by another with the same time
// and size is listed again.
func TestScanReplacedDir(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	dir := filepath.Join(root, "queue")
	for _, d := range []string{dir, dir + ".new"} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	touchAll(t, dir, "a")
	touchAll(t, dir+".new", "b")
	setMtime(t, dir, past)
	setMtime(t, dir+".new", past)
	var got []CorpusUpdate
	w := NewWatcher(dir, WithOnUpdate(func(u CorpusUpdate) { got = append(got, u) }))
	w.scan(ctx, MethodPeriodic, false)
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dir+".new", dir); err != nil {
		t.Fatal(err)
	}
	w.scan(ctx, MethodPeriodic, false)
	if w.listings != 2 || len(got) != 2 || !slices.Equal(got[1].Additions, []string{"b"}) || got[1].Size != 1 {
		t.Errorf("got %d listings, updates %v; want 2 listings, the second update adding b", w.listings, got)
	}
}

// TestCorpusCompacts: names removed in bulk are dropped from the order,
// and the index still finds the rest.
func TestCorpusCompacts(t *testing.T) {
	c := newCorpus()
	var all []string
	for i := range 5000 {
		all = append(all, fmt.Sprintf("id:%06d", i))
		c.add(all[i])
	}
	c.updated()
	for _, n := range all[:4000] {
		if !c.remove(n) {
			t.Fatalf("remove(%q) = false, want true", n)
		}
	}
	if c.remove(all[0]) {
		t.Error("removing twice = true, want false")
	}
	if !c.changed() {
		t.Error("changed() = false after removals, want true")
	}
	c.updated()
	if got, want := len(c.names), 1000; got != want {
		t.Errorf("after compaction: %d positions, want %d", got, want)
	}
	if got := c.snapshot(nil, 2000); !slices.Equal(got, all[4000:]) {
		t.Errorf("snapshot has %d names, want the 1000 left in order", len(got))
	}
	for _, n := range all[4000:] {
		if i, ok := c.index[n]; !ok || c.names[i] != n {
			t.Fatalf("index[%q] = %d, %v: wrong after compaction", n, i, ok)
		}
	}
	if c.changed() {
		t.Error("changed() = true after an update, want false")
	}
}

func TestListIgnores(t *testing.T) {
	dir := t.TempDir()
	touchAll(t, dir, "a", ".a", "..b", "b\xff")
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := newCorpus()
	var buf []byte
	if err := c.list(dir, &buf); err != nil {
		t.Fatal(err)
	}
	if got, want := c.additions(), []string{"a", "b\xff"}; !slices.Equal(got, want) {
		t.Errorf("listed %q, want %q", got, want)
	}
}
