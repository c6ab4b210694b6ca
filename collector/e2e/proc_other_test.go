//go:build !linux

package e2e

import "syscall"

// dieWithTest returns nil: only Linux kills a process when the test binary
// that started it dies.
func dieWithTest() *syscall.SysProcAttr {
	return nil
}
