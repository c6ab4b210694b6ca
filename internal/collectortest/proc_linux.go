package collectortest

import "syscall"

// sysProcAttr makes the kernel kill the collector if the test binary dies
// without running its cleanups (a panic or a test timeout).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
