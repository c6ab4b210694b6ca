package fuzz

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"golang.org/x/sys/unix"

	"github.com/crstel/crstel/crsteltest"
)

// TestOnChangeFallsBackToPolling: when inotify fails, the Watcher says so
// once and polls, recording updates as periodic, since that is how it
// finds them.
func TestOnChangeFallsBackToPolling(t *testing.T) {
	// Serial: inotifyInit1 and the OpenTelemetry error handler are global.
	inotifyInit1 = func(int) (int, error) { return -1, unix.EMFILE }
	t.Cleanup(func() { inotifyInit1 = unix.InotifyInit1 })
	captured := crsteltest.CaptureErrors(t)

	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		touchAll(t, dir, "a")
		var got []CorpusUpdate
		w := NewWatcher(dir, WithMethod(MethodOnChange), WithInterval(time.Second), WithOnUpdate(func(u CorpusUpdate) { got = append(got, u) }))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- w.Run(ctx) }()
		synctest.Wait()
		touchAll(t, dir, "b")
		time.Sleep(time.Second)
		synctest.Wait()
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
		if len(got) != 2 || !slices.Equal(got[1].Additions, []string{"b"}) {
			t.Fatalf("got %v, want the first update, then b added", got)
		}
		for i, u := range got {
			if u.Method != MethodPeriodic {
				t.Errorf("update %d: method %q, want %q", i, u.Method, MethodPeriodic)
			}
		}
	})
	if handled := captured.Errors(); len(handled) != 1 || !errors.Is(handled[0], unix.EMFILE) || !strings.Contains(handled[0].Error(), "polling") {
		t.Errorf("otel.Handle got %v, want one error saying inotify failed and it polls", handled)
	}
}

func TestApplyEvents(t *testing.T) {
	tests := []struct {
		name         string
		evs          []inotifyEvent
		wantNames    []string
		wantOverflow bool
		wantGone     bool
	}{
		{name: "created", evs: []inotifyEvent{{unix.IN_CREATE, "b"}, {unix.IN_MOVED_TO, "c"}}, wantNames: []string{"a", "b", "c"}},
		{name: "removed", evs: []inotifyEvent{{unix.IN_DELETE, "a"}, {unix.IN_MOVED_FROM, "x"}}, wantNames: []string{}},
		{name: "created then removed", evs: []inotifyEvent{{unix.IN_CREATE, "b"}, {unix.IN_DELETE, "b"}}, wantNames: []string{"a"}},
		{name: "dotfile and directory", evs: []inotifyEvent{{unix.IN_CREATE, ".tmp"}, {unix.IN_CREATE | unix.IN_ISDIR, "sub"}}, wantNames: []string{"a"}},
		{name: "overflow", evs: []inotifyEvent{{unix.IN_Q_OVERFLOW, ""}, {unix.IN_CREATE, "b"}}, wantNames: []string{"a", "b"}, wantOverflow: true},
		{name: "gone", evs: []inotifyEvent{{unix.IN_DELETE, "a"}, {unix.IN_DELETE_SELF, ""}, {unix.IN_IGNORED, ""}}, wantNames: []string{}, wantGone: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := NewWatcher("")
			w.c.add("a")
			overflow, gone := w.apply(tt.evs)
			got := w.c.additions()
			if !slices.Equal(got, tt.wantNames) || overflow != tt.wantOverflow || gone != tt.wantGone {
				t.Errorf("got %q, overflow %v, gone %v; want %q, %v, %v", got, overflow, gone, tt.wantNames, tt.wantOverflow, tt.wantGone)
			}
		})
	}
}

func TestParseEvents(t *testing.T) {
	var b []byte
	add := func(mask uint32, name string, pad int) {
		hdr := make([]byte, unix.SizeofInotifyEvent)
		n := len(name) + pad
		hdr[4], hdr[5], hdr[6], hdr[7] = byte(mask), byte(mask>>8), byte(mask>>16), byte(mask>>24)
		hdr[12] = byte(n)
		b = append(b, hdr...)
		b = append(b, name...)
		b = append(b, make([]byte, pad)...)
	}
	add(unix.IN_CREATE, "id:000001", 7)
	add(unix.IN_CREATE, ".tmp", 12)
	add(unix.IN_CREATE|unix.IN_ISDIR, "sub", 13)
	add(unix.IN_Q_OVERFLOW, "", 0)
	add(unix.IN_MOVED_TO, "crash-\xff", 9)
	got := parseEvents(b)
	want := []inotifyEvent{{unix.IN_CREATE, "id:000001"}, {unix.IN_Q_OVERFLOW, ""}, {unix.IN_MOVED_TO, "crash-\xff"}}
	if !slices.Equal(got, want) {
		t.Errorf("parseEvents = %+v, want %+v", got, want)
	}
}
