package audit_test

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

// TestMain runs the tests, checking for leaked goroutines; or, re-executed
// by TestKilledWriter with childDirEnv set, the writer that gets killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv(childDirEnv); dir != "" {
		os.Exit(writeUntilKilled(dir))
	}
	goleak.VerifyTestMain(m)
}
