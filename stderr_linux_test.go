package crstel_test

import (
	"os"
	"sync"
	"syscall"
	"testing"
)

// envCaptureStderr points file descriptor 2 at a temporary file until the
// returned function is called, which puts it back and returns what was
// written: the SDK's default logger and error handler, and the standard
// log package, hold os.Stderr as it was at start, so swapping the variable
// would miss them. The test's cleanup puts it back too.
func envCaptureStderr(t *testing.T) func() string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "stderr")
	if err != nil {
		t.Fatal(err)
	}
	saved, err := syscall.Dup(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Dup3(int(f.Fd()), 2, 0); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	var got string
	stop := func() string {
		once.Do(func() {
			_ = syscall.Dup3(saved, 2, 0)
			_ = syscall.Close(saved)
			b, _ := os.ReadFile(f.Name())
			_ = f.Close()
			got = string(b)
		})
		return got
	}
	t.Cleanup(func() { stop() })
	return stop
}
