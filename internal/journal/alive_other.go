//go:build !unix

package journal

import "os"

// processAlive tells whether a process with this pid exists on this host.
// Without signal 0 it can only tell for this process.
func processAlive(pid int) bool { return pid > 0 && pid == os.Getpid() }
