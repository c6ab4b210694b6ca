package fuzz_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/crstel/crstel/crs"
	"github.com/crstel/crstel/crsteltest"
	"github.com/crstel/crstel/fuzz"
)

// touch creates the files name in dir.
func touch(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// rm removes the files name from dir.
func rm(t *testing.T, dir string, names ...string) {
	t.Helper()
	for _, n := range names {
		if err := os.Remove(filepath.Join(dir, n)); err != nil {
			t.Fatal(err)
		}
	}
}

// collector keeps the updates a Watcher reports to WithOnUpdate.
type collector struct {
	mu  sync.Mutex
	got []fuzz.CorpusUpdate
}

func (c *collector) add(u fuzz.CorpusUpdate) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.got = append(c.got, u)
}

func (c *collector) all() []fuzz.CorpusUpdate {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// start runs w until the returned stop is called; stop returns Run's error.
func start(ctx context.Context, w *fuzz.Watcher) (stop func() error) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	return func() error {
		cancel()
		return <-done
	}
}

// want is an expected update.
type want struct {
	size      int
	additions []string
	full      bool
}

func (w want) String() string {
	return fmt.Sprintf("{size %d, additions %q, full %v}", w.size, w.additions, w.full)
}

func summary(u fuzz.CorpusUpdate) want {
	return want{size: u.Size, additions: u.Additions, full: u.FullSnapshot}
}

func same(a, b want) bool {
	return a.size == b.size && a.full == b.full && slices.Equal(a.additions, b.additions)
}

// checkSpans checks that each update the watcher reported is a conforming
// span, child of action, with the same values and method.
func checkSpans(t *testing.T, spans []sdktrace.ReadOnlySpan, action trace.Span, got []fuzz.CorpusUpdate, method fuzz.Method) {
	t.Helper()
	us := updates(spans)
	if len(us) != len(got) {
		t.Fatalf("got %d update spans, want %d, one per update", len(us), len(got))
	}
	for i, s := range us {
		a := crsteltest.Attrs(s)
		if p := s.Parent().SpanID(); p != action.SpanContext().SpanID() {
			t.Errorf("span %d: parent %s, want the fuzzing action", i, p)
		}
		if m := a[crs.FuzzCorpusUpdateMethodKey].AsString(); m != string(method) {
			t.Errorf("span %d: method %q, want %q", i, m, method)
		}
		sp := want{
			size:      int(a[crs.FuzzCorpusSizeKey].AsInt64()),
			additions: a[crs.FuzzCorpusAdditionsKey].AsStringSlice(),
			full:      a[crs.FuzzCorpusFullSnapshotKey].AsBool(),
		}
		if !same(sp, summary(got[i])) {
			t.Errorf("span %d: %v, want %v as reported to WithOnUpdate", i, sp, summary(got[i]))
		}
		if ts := a[crs.FuzzCorpusUpdateTimeKey].AsString(); ts != got[i].Time.UTC().Format(time.RFC3339Nano) {
			t.Errorf("span %d: update.time %s, want %v", i, ts, got[i].Time)
		}
	}
	crsteltest.AssertConforms(t, spans, crsteltest.WantMetadata(task))
}

// TestWatcherPolling drives a polling Watcher step by step in fake time.
func TestWatcherPolling(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := crsteltest.NewRecorder(t)
		ctx, action := fuzzing(t, rec)
		dir := t.TempDir()
		touch(t, dir, "seed1", "seed2", ".cur_input")
		if err := os.Mkdir(filepath.Join(dir, ".state"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(filepath.Join(dir, "subdir"), 0o755); err != nil {
			t.Fatal(err)
		}
		const interval = 5 * time.Second
		var c collector
		w := fuzz.NewWatcher(dir, fuzz.WithInterval(interval), fuzz.WithFullSnapshotEvery(3), fuzz.WithOnUpdate(c.add))
		t0 := time.Now()
		stop := start(ctx, w)
		synctest.Wait()

		steps := []struct {
			name string
			do   func()
			want *want // nil: no update
		}{
			{name: "first", do: func() {}, want: &want{2, []string{"seed1", "seed2"}, true}},
			{name: "added", do: func() { touch(t, dir, "a2", "a1") }, want: &want{4, []string{"a1", "a2"}, false}},
			{name: "nothing", do: func() {}},
			{name: "dotfile", do: func() { touch(t, dir, ".tmp-a3") }},
			{name: "renamed and removed", do: func() {
				if err := os.Rename(filepath.Join(dir, ".tmp-a3"), filepath.Join(dir, "a3")); err != nil {
					t.Fatal(err)
				}
				rm(t, dir, "seed1")
			}, want: &want{4, []string{"a3"}, false}},
			{name: "removed only, snapshot due", do: func() { rm(t, dir, "a1") }, want: &want{3, []string{"seed2", "a2", "a3"}, true}},
			{name: "after snapshot", do: func() { touch(t, dir, "b1") }, want: &want{4, []string{"b1"}, false}},
			{name: "removed and added back", do: func() { rm(t, dir, "b1"); touch(t, dir, "b1") }},
		}
		before := 0
		for i, st := range steps {
			if i > 0 {
				st.do()
				time.Sleep(interval)
				synctest.Wait()
			}
			got := c.all()[before:]
			before += len(got)
			switch {
			case st.want == nil && len(got) > 0:
				t.Errorf("%s: got %v, want no update", st.name, summary(got[0]))
			case st.want != nil && len(got) != 1:
				t.Errorf("%s: got %d updates, want 1: %v", st.name, len(got), st.want)
			case st.want != nil && !same(summary(got[0]), *st.want):
				t.Errorf("%s: got %v, want %v", st.name, summary(got[0]), *st.want)
			case st.want != nil:
				if at := got[0].Time.Sub(t0); at != time.Duration(i)*interval {
					t.Errorf("%s: update time %v after the start, want %v", st.name, at, time.Duration(i)*interval)
				}
			}
		}

		// Stopping lists the directory a last time.
		touch(t, dir, "late")
		if err := stop(); err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		all := c.all()
		if last := summary(all[len(all)-1]); !same(last, want{5, []string{"late"}, false}) {
			t.Errorf("last update %v, want the one found on stopping, {5 [late] false}", last)
		}
		action.End()
		checkSpans(t, rec.Ended(), action, all, fuzz.MethodPeriodic)
	})
}

// TestWatcherFakeFuzzer has a fake fuzzer add inputs, some through a
// temporary file, and remove old ones, while a polling Watcher watches.
func TestWatcherFakeFuzzer(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := crsteltest.NewRecorder(t)
		ctx, action := fuzzing(t, rec)
		dir := t.TempDir()
		touch(t, dir, "seed")
		const every = 4
		var c collector
		w := fuzz.NewWatcher(dir, fuzz.WithInterval(time.Second), fuzz.WithFullSnapshotEvery(every), fuzz.WithOnUpdate(c.add))
		stop := start(ctx, w)

		const inputs = 60
		fuzzed := make(chan struct{})
		go func() { // the fuzzer
			defer close(fuzzed)
			for i := range inputs {
				time.Sleep(170 * time.Millisecond)
				name := filepath.Join(dir, fmt.Sprintf("id:%06d", i))
				var err error
				if i%2 == 0 {
					err = os.WriteFile(name, []byte("input"), 0o644)
				} else { // AFL++ style: write aside, then rename
					tmp := filepath.Join(dir, ".tmp")
					if err = os.WriteFile(tmp, []byte("input"), 0o644); err == nil {
						err = os.Rename(tmp, name)
					}
				}
				if i%7 == 6 && i >= 10 { // reduced: an input of about 1.7 s ago replaced
					err = errors.Join(err, os.Remove(filepath.Join(dir, fmt.Sprintf("id:%06d", i-10+(i/7)%3))))
				}
				if err != nil {
					t.Error(err)
				}
			}
		}()
		<-fuzzed
		time.Sleep(3 * time.Second)
		if err := stop(); err != nil {
			t.Errorf("Run = %v, want nil", err)
		}

		all := c.all()
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		var final []string
		for _, e := range entries {
			final = append(final, e.Name())
		}

		// Each input is reported once by a delta update, or first by a
		// full snapshot, which lists the new inputs first.
		reported := make(map[string]bool)
		for i, u := range all {
			if got, want := u.FullSnapshot, i%every == 0; got != want {
				t.Errorf("update %d: full snapshot %v, want %v (every %d)", i, got, want, every)
			}
			if u.FullSnapshot && len(u.Additions) != u.Size {
				t.Errorf("update %d: snapshot of %d names, want all %d", i, len(u.Additions), u.Size)
			}
			old := false
			for _, n := range u.Additions {
				if strings.HasPrefix(n, ".") {
					t.Errorf("update %d: dotfile %q reported", i, n)
				}
				switch {
				case !u.FullSnapshot && reported[n]:
					t.Errorf("update %d: %s reported added again", i, n)
				case u.FullSnapshot && !reported[n] && old:
					t.Errorf("update %d: new %s after old inputs in the snapshot %q, want new ones first", i, n, u.Additions)
				}
				old = old || reported[n]
				reported[n] = true
			}
		}
		for i := range inputs {
			if n := fmt.Sprintf("id:%06d", i); !reported[n] {
				t.Errorf("%s never reported", n)
			}
		}
		if !reported["seed"] {
			t.Error("seed never reported")
		}
		if got := all[len(all)-1].Size; got != len(final) {
			t.Errorf("last update size %d, want %d, the files left", got, len(final))
		}
		if n := len(all); n < 10 || n > inputs {
			t.Errorf("got %d updates, want about one per second of fuzzing", n)
		}
		action.End()
		checkSpans(t, rec.Ended(), action, all, fuzz.MethodPeriodic)
	})
}

// TestWatcherMissingDir: a directory the fuzzer creates late is reported
// once, then watched.
func TestWatcherMissingDir(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		// Serial: the OpenTelemetry error handler is global.
		captured := crsteltest.CaptureErrors(t)
		rec := crsteltest.NewRecorder(t, crsteltest.WithGlobal())
		ctx, action := fuzzing(t, rec)
		dir := filepath.Join(t.TempDir(), "out", "default", "queue")
		var c collector
		w := fuzz.NewWatcher(dir, fuzz.WithInterval(time.Second), fuzz.WithOnUpdate(c.add))
		if w.Dir() != dir {
			t.Errorf("Dir() = %q, want %q", w.Dir(), dir)
		}
		stop := start(ctx, w)
		time.Sleep(10 * time.Second)
		synctest.Wait()
		if errs := captured.Errors(); len(errs) != 1 || !errors.Is(errs[0], os.ErrNotExist) {
			t.Errorf("otel.Handle got %v, want one not-exist error in 10 intervals", errs)
		}
		if got := c.all(); len(got) != 0 {
			t.Errorf("got %d updates, want none while the directory is missing", len(got))
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		touch(t, dir, "id:000000")
		time.Sleep(time.Second)
		synctest.Wait()
		if err := stop(); err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		got := c.all()
		if len(got) != 1 || !same(summary(got[0]), want{1, []string{"id:000000"}, true}) {
			t.Errorf("got %v, want one full snapshot of id:000000", got)
		}
		action.End()
		checkSpans(t, rec.Ended(), action, got, fuzz.MethodPeriodic)
	})
}

func TestWatcherRunTwice(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx, _ := fuzzing(t, crsteltest.NewRecorder(t))
		dir := t.TempDir()
		var c collector
		w := fuzz.NewWatcher(dir, fuzz.WithOnUpdate(c.add), nil)
		stop := start(ctx, w)
		synctest.Wait()
		if err := w.Run(ctx); err == nil {
			t.Error("second Run while running = nil, want an error")
		}
		var nilCtx context.Context
		if err := w.Run(nilCtx); err == nil {
			t.Error("Run(nil) = nil, want an error")
		}
		if err := stop(); err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		// Run again goes on from what it knew: no second first update.
		touch(t, dir, "a")
		stop = start(ctx, w)
		time.Sleep(fuzz.DefaultInterval)
		synctest.Wait()
		if err := stop(); err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		got := c.all()
		if len(got) != 2 || !same(summary(got[1]), want{1, []string{"a"}, false}) {
			t.Errorf("got %v, want the first update and then {1 [a] false}", got)
		}
	})
}

func TestWatcherCapsSnapshot(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rec := crsteltest.NewRecorder(t)
		ctx, action := fuzzing(t, rec)
		dir := t.TempDir()
		touch(t, dir, names(25)...)
		var c collector
		w := fuzz.NewWatcher(dir, fuzz.WithMaxAdditions(10), fuzz.WithOnUpdate(c.add))
		stop := start(ctx, w)
		synctest.Wait()
		stop()
		action.End()
		got := c.all()
		if len(got) != 1 || len(got[0].Additions) != 25 {
			t.Fatalf("got %v, want one update with all 25 names for WithOnUpdate", got)
		}
		a := crsteltest.Attrs(updates(rec.Ended())[0])
		if got := a[crs.FuzzCorpusAdditionsKey].AsStringSlice(); !slices.Equal(got, names(10)) {
			t.Errorf("additions %q, want the first 10 names", got)
		}
		if v := a[fuzz.AdditionsOmittedKey]; v.Type() != attribute.INT64 || v.AsInt64() != 15 {
			t.Errorf("%s = %s, want 15", fuzz.AdditionsOmittedKey, v.String())
		}
		crsteltest.AssertConforms(t, rec.Ended(), crsteltest.WantMetadata(task))
	})
}

// next waits up to 10 s for an update of ch.
func next(t *testing.T, ch <-chan fuzz.CorpusUpdate) fuzz.CorpusUpdate {
	t.Helper()
	select {
	case u := <-ch:
		return u
	case <-time.After(10 * time.Second):
		t.Fatal("no update within 10 s")
		return fuzz.CorpusUpdate{}
	}
}

// TestWatcherOnChange runs inotify in real time, outside synctest (a read
// of inotify is not durably blocking), with deadlines rather than sleeps.
// Its hour-long interval makes sure no update comes from polling.
func TestWatcherOnChange(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("inotify is Linux-only; elsewhere MethodOnChange polls")
	}
	t.Parallel()
	rec := crsteltest.NewRecorder(t)
	ctx, action := fuzzing(t, rec)
	dir := t.TempDir()
	touch(t, dir, "seed")
	ch := make(chan fuzz.CorpusUpdate, 100)
	var c collector
	w := fuzz.NewWatcher(dir, fuzz.WithMethod(fuzz.MethodOnChange), fuzz.WithCoalesce(20*time.Millisecond),
		fuzz.WithInterval(time.Hour), fuzz.WithOnUpdate(func(u fuzz.CorpusUpdate) { c.add(u); ch <- u }))
	stop := start(ctx, w)

	if got := summary(next(t, ch)); !same(got, want{1, []string{"seed"}, true}) {
		t.Errorf("first update %v, want {1 [seed] true}", got)
	}

	touch(t, dir, "a", ".tmp")
	if err := os.Rename(filepath.Join(dir, ".tmp"), filepath.Join(dir, "b")); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for seen["a"] == 0 || seen["b"] == 0 {
		u := next(t, ch)
		for _, n := range u.Additions {
			seen[n]++
		}
	}
	if len(seen) != 2 || seen["a"] != 1 || seen["b"] != 1 {
		t.Errorf("additions %v, want a and b once each", seen)
	}

	rm(t, dir, "seed")
	if got := summary(next(t, ch)); !same(got, want{2, nil, false}) {
		t.Errorf("after a removal: %v, want {2 [] false}", got)
	}

	// Neither a dotfile nor a directory is an input: the next update has c only.
	touch(t, dir, ".cur_input")
	if err := os.Mkdir(filepath.Join(dir, "crashes"), 0o755); err != nil {
		t.Fatal(err)
	}
	touch(t, dir, "c")
	if got := summary(next(t, ch)); !same(got, want{3, []string{"c"}, false}) {
		t.Errorf("after c: %v, want {3 [c] false}", got)
	}

	if err := stop(); err != nil {
		t.Errorf("Run = %v, want nil", err)
	}
	if len(ch) != 0 {
		t.Errorf("got %v on stopping, want no update: nothing changed", <-ch)
	}
	action.End()
	checkSpans(t, rec.Ended(), action, c.all(), fuzz.MethodOnChange)
}

// TestWatcherOnChangeDirRecreated: a corpus directory removed and made again
// is watched again.
func TestWatcherOnChangeDirRecreated(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("inotify is Linux-only")
	}
	t.Parallel()
	// The errors of the directory while it is gone are not checked: they
	// go to OpenTelemetry's error handler, which logs them.
	ctx, _ := fuzzing(t, crsteltest.NewRecorder(t))
	dir := filepath.Join(t.TempDir(), "corpus")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	touch(t, dir, "a", "b")
	ch := make(chan fuzz.CorpusUpdate, 100)
	w := fuzz.NewWatcher(dir, fuzz.WithMethod(fuzz.MethodOnChange), fuzz.WithCoalesce(10*time.Millisecond),
		fuzz.WithInterval(20*time.Millisecond), fuzz.WithOnUpdate(func(u fuzz.CorpusUpdate) { ch <- u }))
	stop := start(ctx, w)
	defer stop()
	if got := next(t, ch); got.Size != 2 {
		t.Fatalf("first update size %d, want 2", got.Size)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	for u := next(t, ch); u.Size != 0; u = next(t, ch) {
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	touch(t, dir, "c")
	u := next(t, ch)
	if !same(summary(u), want{1, []string{"c"}, false}) || u.Method != fuzz.MethodOnChange {
		t.Errorf("after re-creation: %v (%s), want {1 [c] false} on_change", summary(u), u.Method)
	}
}

// TestWithMethod: WithMethod(MethodPeriodic) polls, as the default does;
// an unknown method is ignored, so the Watcher polls, and reported, or
// panics in strict mode.
func TestWithMethod(t *testing.T) {
	for _, tt := range []struct {
		name    string
		method  fuzz.Method
		wantErr string // in the error otel.Handle gets; "" for none
	}{
		{name: "periodic", method: fuzz.MethodPeriodic},
		{name: "unknown", method: "hourly", wantErr: `method "hourly" is unknown`},
		{name: "empty", method: "", wantErr: `method "" is unknown`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				// Serial: the OpenTelemetry error handler is global.
				captured := crsteltest.CaptureErrors(t)
				ctx, _ := fuzzing(t, crsteltest.NewRecorder(t, crsteltest.WithGlobal()))
				dir := t.TempDir()
				touch(t, dir, "seed")
				var c collector
				w := fuzz.NewWatcher(dir, fuzz.WithMethod(tt.method), fuzz.WithInterval(time.Second), fuzz.WithOnUpdate(c.add))
				stop := start(ctx, w)
				synctest.Wait()
				touch(t, dir, "a")
				time.Sleep(time.Second)
				synctest.Wait()
				if err := stop(); err != nil {
					t.Errorf("Run = %v, want nil", err)
				}
				got := c.all()
				if len(got) != 2 || !slices.Equal(got[1].Additions, []string{"a"}) {
					t.Fatalf("updates %v, want the first one, then a found by polling", got)
				}
				for i, u := range got {
					if u.Method != fuzz.MethodPeriodic {
						t.Errorf("update %d: method %q, want %q", i, u.Method, fuzz.MethodPeriodic)
					}
				}
				switch errs := captured.Errors(); {
				case tt.wantErr == "" && len(errs) > 0:
					t.Errorf("otel.Handle got %v, want nothing", errs)
				case tt.wantErr != "" && (len(errs) != 1 || !strings.Contains(errs[0].Error(), tt.wantErr)):
					t.Errorf("otel.Handle got %v, want one error saying %s", errs, tt.wantErr)
				}
			})
		})
	}
	t.Run("strict", func(t *testing.T) {
		// Serial: NewWatcher has no context, so its strict mode is the
		// process's (violation.SetStrict).
		crsteltest.NewRecorder(t, crsteltest.WithGlobal(), crsteltest.WithStrict())
		defer func() {
			if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), `"hourly"`) {
				t.Errorf("recovered %v, want a panic naming \"hourly\"", r)
			}
		}()
		fuzz.NewWatcher(t.TempDir(), fuzz.WithMethod("hourly"))
	})
}
