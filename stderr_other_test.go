//go:build !linux

package crstel_test

import "testing"

// envCaptureStderr captures what is written to os.Stderr until the returned
// function is called (see the Linux version, which captures the file
// descriptor).
func envCaptureStderr(t *testing.T) func() string { return captureStderr(t) }
