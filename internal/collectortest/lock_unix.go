//go:build unix

package collectortest

import (
	"errors"
	"os"
	"syscall"
	"testing"
)

// lock takes an exclusive flock on the file at path, creating it if needed,
// and returns the function releasing it. The kernel releases the lock if the
// process dies, so a crashed build never blocks the next one.
func lock(tb testing.TB, path string) (unlock func(), err error) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	fd := int(f.Fd())
	err = flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		tb.Logf("collectortest: waiting for another process building the OpenTelemetry Collector (%s)", path)
		err = flock(fd, syscall.LOCK_EX)
	}
	if err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		_ = flock(fd, syscall.LOCK_UN)
		_ = f.Close()
	}, nil
}

// flock calls syscall.Flock, retrying when a signal interrupts it.
func flock(fd, how int) error {
	for {
		err := syscall.Flock(fd, how)
		if !errors.Is(err, syscall.EINTR) {
			return err
		}
	}
}
