package fuzz

import (
	"context"
	"crypto/sha1"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// BenchmarkScan100k measures one poll of a libFuzzer corpus of 100,000
// inputs (40-character SHA-1 names): when nothing changed (the directory's
// time is old enough to be trusted, so one stat), when it is listed anyway
// with nothing new (as when its time is too recent to trust), and when
// 100 inputs were added. The baselines list the same directory with the os
// package, as a watcher that lists at every poll would.
func BenchmarkScan100k(b *testing.B) {
	const size = 100_000
	dir := b.TempDir()
	for i := range size {
		name := fmt.Sprintf("%x", sha1.Sum([]byte(fmt.Sprint(i))))
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	ctx := context.Background()

	b.Run("unchanged", func(b *testing.B) {
		setMtime(b, dir, past)
		w := NewWatcher(dir)
		w.scan(ctx, MethodPeriodic, false)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			w.scan(ctx, MethodPeriodic, false)
		}
		b.StopTimer()
		if w.listings != 1 || w.c.live != size {
			b.Fatalf("%d listings of %d names, want 1 of %d", w.listings, w.c.live, size)
		}
	})
	b.Run("unchanged-listed", func(b *testing.B) {
		w := NewWatcher(dir)
		w.scan(ctx, MethodPeriodic, true)
		b.ReportAllocs()
		b.ResetTimer()
		for range b.N {
			w.scan(ctx, MethodPeriodic, true)
		}
		b.StopTimer()
		if w.updates != 1 {
			b.Fatalf("%d updates, want 1", w.updates)
		}
	})
	b.Run("added-100", func(b *testing.B) {
		w := NewWatcher(dir, WithFullSnapshotEvery(0))
		w.scan(ctx, MethodPeriodic, true)
		var added []string
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			b.StopTimer()
			for j := range 100 {
				name := filepath.Join(dir, fmt.Sprintf("new-%06d-%03d", i, j))
				if err := os.WriteFile(name, nil, 0o644); err != nil {
					b.Fatal(err)
				}
				added = append(added, name)
			}
			setMtime(b, dir, past.Add(time.Duration(i+1)*time.Millisecond)) // old enough to trust, and new
			b.StartTimer()
			w.scan(ctx, MethodPeriodic, false)
		}
		b.StopTimer()
		if w.updates != b.N+1 || w.c.live != size+100*b.N {
			b.Fatalf("%d updates, %d names; want %d, %d", w.updates, w.c.live, b.N+1, size+100*b.N)
		}
		for _, name := range added {
			os.Remove(name)
		}
	})
	b.Run("on_change-added-100", func(b *testing.B) { // what MethodOnChange does instead of a listing
		w := NewWatcher(dir, WithFullSnapshotEvery(0))
		w.scan(ctx, MethodOnChange, true)
		names := make([]string, 100)
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			b.StopTimer()
			for j := range names {
				names[j] = fmt.Sprintf("new-%06d-%03d", i, j)
			}
			b.StartTimer()
			for _, n := range names {
				w.c.add(n)
			}
			w.flush(ctx, MethodOnChange, time.Now())
		}
		b.StopTimer()
		if w.updates != b.N+1 {
			b.Fatalf("%d updates, want %d", w.updates, b.N+1)
		}
	})
	b.Run("baseline-os.ReadDir", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := os.ReadDir(dir); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline-Readdirnames", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			f, err := os.Open(dir)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := f.Readdirnames(-1); err != nil {
				b.Fatal(err)
			}
			f.Close()
		}
	})
}
