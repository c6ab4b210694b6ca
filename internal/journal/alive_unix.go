//go:build unix

package journal

import (
	"errors"
	"math"
	"syscall"
)

// processAlive tells whether a process with this pid exists on this host.
// EPERM means it exists but belongs to another user. A pid beyond the
// range of pid_t is no process: the system would truncate it, and
// kill(-1, 0) reaches every process.
func processAlive(pid int) bool {
	if pid <= 0 || pid > math.MaxInt32 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
