package crstel_test

import (
	"fmt"
	"os"
	"testing"
)

// TestMain keeps the action journals of every test and example in a
// temporary folder, not in the user's state directory.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "crstel-test-journals-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("CRSTEL_TRACE_DIR", dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
